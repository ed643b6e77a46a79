"""One small trained run shared by the scoring, curating, similarity, serving and taste tests.

The run is trained once per test session through the training API (MobileNetV2 at 64x256 with
the calibrated random weights, the head fitted to the photos' brightness) and kept under the
session's base temporary folder, so each test module reuses it. Scoring is the same code for
every backbone, and the smaller network keeps the many scoring passes cheap.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from infra import gallery
from infra.workspace import Workspace
from tests.training.conftest import SIZE, make_gallery

RUN = "tiny"
PHOTOS = 24
INPUT = (64, 256)  # the network's input, height x width
WIDTH = 1280  # MobileNetV2's pooled features


@dataclass(frozen=True)
class TinyRun:
    """A workspace whose registered gallery trained ``runs/tiny``."""

    root: Path
    run_dir: Path
    gallery: Path
    truth: pd.DataFrame  # the gallery's scores table (score: brightness)

    @property
    def ws(self) -> Workspace:
        return Workspace.open(self.root)

    @property
    def uris(self) -> list[str]:
        """The gallery's photos in listing order."""
        return [str(p) for p in sorted(self.gallery.glob("*.jpg"))]


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory: pytest.TempPathFactory, calibrated_mobilenet: Path) -> TinyRun:
    root = tmp_path_factory.getbasetemp() / "scoring-workspace"
    run_dir = root / "runs" / RUN
    if not (run_dir / "model_card.json").is_file():
        from training.run import train

        ws = Workspace.init(root)
        truth = make_gallery(root / "gallery", PHOTOS, days=4, seed=3)
        truth.to_parquet(ws.tables_dir / "scores.parquet")
        gallery.add_images(ws, str(root / "gallery"))
        train(
            ws, None, RUN, backbone="mobilenetv2", weights=str(calibrated_mobilenet),
            input_size=f"{INPUT[0]}x{INPUT[1]}",
            epochs=0, head_epochs=4, head_learning_rate=0.01, batch_size=8, bootstrap=20,
            progress=lambda line: None,
        )  # fmt: skip
    truth = pd.read_parquet(root / "tables" / "scores.parquet")
    return TinyRun(root, run_dir, root / "gallery", truth)


def write_coloured(path: Path, brightness: float, redness: float, seed: int) -> None:
    """A JPEG at the test size: a gradient of ``brightness`` tinted red (+) or blue (-)."""
    rng = np.random.default_rng(seed)
    height, width = SIZE
    ramp = np.linspace(-30, 30, width)[None, :, None]
    pixels = brightness * 160 + 45 + ramp + rng.normal(0, 6, (height, width, 3))
    pixels[..., 0] += redness * 60
    pixels[..., 2] -= redness * 60
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.clip(0, 255).astype("uint8")).save(path, quality=90)
