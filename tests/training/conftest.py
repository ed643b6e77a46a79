"""Shared fixtures: tiny generated photos, scores tables and workspaces; no network needed.

Networks are Xception at 71x284 (the smallest its design accepts, the panorama's 1:4 aspect).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from infra.workspace import Workspace

SIZE = (71, 284)


def write_photo(path: Path, brightness: float, seed: int, size: tuple[int, int] = SIZE) -> None:
    """A JPEG: a horizontal gradient around ``brightness`` (0..1) with a little noise."""
    rng = np.random.default_rng(seed)
    height, width = size
    ramp = np.linspace(-30, 30, width)[None, :, None]
    pixels = brightness * 200 + 25 + ramp + rng.normal(0, 6, (height, width, 3))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels.clip(0, 255).astype("uint8")).save(path, quality=90)


def make_gallery(folder: Path, n: int, days: int = 4, seed: int = 0) -> pd.DataFrame:
    """``n`` photos over ``days`` days (time-stamped names) and their scores table.

    The score is the photo's brightness: a target a network can learn.
    """
    rng = np.random.default_rng(seed)
    rows = []
    for i in range(n):
        brightness = float(rng.uniform(0.05, 0.95))
        name = f"2016-07-{10 + i % days:02d}_{1000 + 10 * i:04d}.jpg"
        write_photo(folder / name, brightness, seed * 1000 + i)
        rows.append({"image": f"{i:016x}", "uri": str(folder / name), "score": brightness * 4 - 2})
    frame = pd.DataFrame(rows)
    frame["se"] = 0.3
    frame["tier"] = np.searchsorted(np.percentile(frame["score"], [50, 95, 98]), frame["score"])
    return frame


@pytest.fixture
def workspace(tmp_path: Path) -> Workspace:
    return Workspace.init(tmp_path / "ws")


@pytest.fixture
def gallery(workspace: Workspace) -> Callable[..., Path]:
    """Writes a gallery and ``tables/scores.parquet``; returns the table's path."""

    def make(n: int = 12, days: int = 4, seed: int = 0) -> Path:
        frame = make_gallery(workspace.root / "gallery", n, days, seed)
        path = workspace.tables_dir / "scores.parquet"
        frame.to_parquet(path)
        return path

    return make


@pytest.fixture(scope="session")
def calibrated_weights(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random Xception weights with BatchNorm statistics measured on photos like the tests'.

    A random network's stored statistics (mean 0, variance 1) shrink activations layer after
    layer; measured ones keep them on scale, as pretrained weights do, so a head can learn.
    """
    import keras

    from training.backbones import get_backbone

    keras.utils.set_random_seed(0)  # the same network in every session
    backbone = get_backbone("xception")
    base = backbone.build((*SIZE, 3), "none")
    folder = tmp_path_factory.mktemp("calibration")
    pixels = []
    for i, b in enumerate(np.linspace(0.05, 0.95, 16)):
        write_photo(folder / f"{i}.jpg", float(b), i)
        pixels.append(np.asarray(Image.open(folder / f"{i}.jpg"), dtype="float32"))
    norms = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0  # one training-mode pass stores this batch's statistics
    base(backbone.preprocess(np.stack(pixels)), training=True)
    path = folder / "xception-calibrated.weights.h5"
    base.save_weights(path)
    return path


@pytest.fixture(scope="session")
def calibrated_mobilenet(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Random MobileNetV2 weights at 32x128 with BatchNorm statistics measured on test photos:
    pooled features that vary with the photo, as pretrained ones do."""
    import keras

    from training.backbones import get_backbone
    from training.backbones.mobilenet_v2_graph import classifier_model

    keras.utils.set_random_seed(0)
    backbone = get_backbone("mobilenetv2")
    base = classifier_model((32, 128, 3))  # a weights file holds the whole classifier
    folder = tmp_path_factory.mktemp("calibration-mobilenet")
    pixels = []
    for i, b in enumerate(np.linspace(0.05, 0.95, 16)):
        write_photo(folder / f"{i}.jpg", float(b), i, size=(32, 128))
        pixels.append(np.asarray(Image.open(folder / f"{i}.jpg"), dtype="float32"))
    norms = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    for layer in norms:
        layer.momentum = 0.0
    base(backbone.preprocess(np.stack(pixels)), training=True)
    path = folder / "mobilenetv2-calibrated.weights.h5"
    base.save_weights(path)
    return path
