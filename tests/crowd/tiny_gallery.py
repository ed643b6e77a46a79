"""A tiny registered gallery, made gold and planned batches for the HIT-planning tests."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from crowd.batches import BatchPlan, BatchSpec, plan_batch
from infra import gallery
from infra.workspace import Workspace
from tests.conftest import jpeg_bytes


def add_photos(ws: Workspace, folder: Path, n: int = 10, size: tuple[int, int] = (96, 24)) -> Path:
    """Write ``n`` distinct JPEGs into ``folder`` and register them."""
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        (folder / f"photo{i:02d}.jpg").write_bytes(jpeg_bytes(500 + i, size=size))
    gallery.add_images(ws, str(folder))
    return folder


def plan(ws: Workspace, **changes: Any) -> BatchPlan:
    """Plan a batch from the workspace defaults with ``changes``."""
    changes.setdefault("reward", Decimal("0.10"))
    return plan_batch(ws, BatchSpec.from_settings(ws.settings, **changes))
