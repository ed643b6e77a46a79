"""Reading images for training: bad files become reported skips, never errors inside TF."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import tensorflow as tf

from training.images import ImageLoader, augmented
from training.images import resize as resize_to

from .conftest import write_photo


def _read(uri: str) -> bytes:
    return Path(uri).read_bytes()


def test_unusable_images_are_skipped_and_reported(tmp_path: Path) -> None:
    write_photo(tmp_path / "good.jpg", 0.5, 0, size=(90, 300))
    (tmp_path / "text.jpg").write_text("not a photo")
    data = (tmp_path / "good.jpg").read_bytes()
    (tmp_path / "cut.jpg").write_bytes(data[: len(data) // 3])
    write_photo(tmp_path / "good2.jpg", 0.2, 1, size=(120, 200))
    names = ["good.jpg", "text.jpg", "cut.jpg", "missing.jpg", "good2.jpg"]
    loader = ImageLoader([str(tmp_path / n) for n in names], _read)
    stream = loader.decode(tf.data.Dataset.range(len(names)), (71, 284))
    out = [(int(row), pixels.numpy()) for row, pixels in stream]
    assert [row for row, _ in out] == [0, 4]
    assert all(p.shape == (71, 284, 3) and p.dtype == np.float32 for _, p in out)
    assert out[0][1].min() >= 0 and out[0][1].max() <= 255
    reasons = {loader.uris[row].rsplit("/", 1)[-1]: s.reason for row, s in loader.skips.items()}
    assert reasons["text.jpg"] == "not an image (unrecognised content)"
    assert reasons["cut.jpg"].startswith("corrupt or truncated")
    assert reasons["missing.jpg"] == "file not found"


def test_augmentation_only_flips_and_crops_a_little() -> None:
    ramp = np.broadcast_to(np.linspace(0, 255, 400)[None, :, None], (100, 400, 3))
    pixels = tf.constant(ramp.astype("uint8"))
    plain = resize_to(pixels, (71, 284)).numpy()
    flips = 0
    for seed in range(16):
        out = augmented(
            pixels, (71, 284), tf.constant([[seed, seed + 99], [1, 2]], tf.int64)
        ).numpy()
        assert out.shape == (71, 284, 3)
        flipped = out[:, :10].mean() > out[:, -10:].mean()
        flips += flipped
        view = out[:, ::-1] if flipped else out
        # A small crop: the picture moves by a few pixels at most, colours are untouched.
        assert np.abs(view - plain).mean() < 0.1 * 255
        assert np.allclose(view.mean(axis=(0, 1)), view.mean(), atol=1e-3)
    assert 0 < flips < 16
