"""A workspace: ``beauty.toml``, the ``beauty.db`` ledger, folders for reports, tables and runs."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from infra.errors import WorkspaceError
from infra.ledger import Ledger
from infra.settings import Settings, default_toml, load_settings

CONFIG_NAME = "beauty.toml"
LEDGER_NAME = "beauty.db"
FOLDERS = ("reports", "tables", "runs", "previews")


@dataclass
class Workspace:
    root: Path
    settings: Settings = field(repr=False)

    @classmethod
    def init(cls, root: str | Path) -> Workspace:
        """Create a workspace (idempotent: an existing one is opened, never overwritten)."""
        root = Path(root).expanduser().resolve()
        root.mkdir(parents=True, exist_ok=True)
        config = root / CONFIG_NAME
        if not config.exists():
            config.write_text(default_toml(), encoding="utf-8")
        for name in FOLDERS:
            (root / name).mkdir(exist_ok=True)
        ws = cls(root=root, settings=load_settings(config))
        Ledger(ws.ledger_path, create=True).close()
        return ws

    @classmethod
    def open(cls, root: str | Path | None = None) -> Workspace:
        """Open the workspace at ``root``, or the one in the current folder or a parent of it."""
        if root is None:
            env = os.environ.get("BEAUTY_WORKSPACE")
            root = Path(env) if env else _find(Path.cwd())
        root = Path(root).expanduser().resolve()
        if not (root / CONFIG_NAME).exists():
            raise WorkspaceError(
                f"{root} is not a workspace (no {CONFIG_NAME}): run `beauty init {root}` "
                "or pass --workspace DIR"
            )
        return cls(root=root, settings=load_settings(root / CONFIG_NAME))

    @property
    def ledger_path(self) -> Path:
        return self.root / LEDGER_NAME

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.ledger_path)

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def tables_dir(self) -> Path:
        return self.root / "tables"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def previews_dir(self) -> Path:
        return self.root / "previews"


def _find(start: Path) -> Path:
    for folder in (start, *start.parents):
        if (folder / CONFIG_NAME).exists():
            return folder
    return start
