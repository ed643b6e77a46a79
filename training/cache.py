"""The frozen trunk's output, computed once per image and kept in a memory-mapped file.

Phase 2 fine-tunes only the top blocks, so the frozen trunk below them gives the same output for
an image at every epoch: computing it once turns each training step into a pass through the top
alone. With augmentation the cache holds both orientations (the trunk of a flipped image is not
the flipped trunk); crops would need one entry per crop, so with the cache, flips are the only
augmentation. Rows of skipped images stay zero and are never fed.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from training.images import ImageLoader, Skip

Progress = Callable[[str], None]


@dataclass
class TrunkCache:
    """``array[row, orientation]``: the trunk's output for an image (orientation 1: flipped)."""

    array: np.ndarray  # a read-only memmap, (rows, orientations, h, w, c)
    path: Path
    skips: dict[int, Skip]

    @property
    def orientations(self) -> int:
        return int(self.array.shape[1])


def build_trunk_cache(
    trunk: keras.Model,
    loader: ImageLoader,
    size: tuple[int, int],
    path: Path,
    *,
    key: dict[str, Any],
    flips: bool,
    dtype: str = "float16",
    batch_size: int = 8,
    progress: Progress | None = None,
) -> TrunkCache:
    """Compute (or reuse, when ``key`` matches a finished one) the trunk cache at ``path``.

    ``key`` names what the cache depends on (images, input size, weights, cut layer); any change
    rebuilds it.
    """
    meta_path = path.with_suffix(".json")
    orientations = 2 if flips else 1
    key = {**key, "dtype": dtype, "orientations": orientations}
    if path.exists() and meta_path.exists():
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("key") == key and meta.get("complete"):
            skips = {int(r): Skip(**s) for r, s in meta["skips"].items()}
            loader.skips.update(skips)
            return TrunkCache(np.load(path, mmap_mode="r"), path, skips)
    meta_path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    shape = (len(loader.uris), orientations, *tuple(int(d) for d in trunk.output.shape[1:]))
    out = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)

    @tf.function(reduce_retracing=True)
    def run(pixels: tf.Tensor) -> tf.Tensor:
        # A compiled call: far faster than model.predict for batch-by-batch use.
        views = [pixels, tf.image.flip_left_right(pixels)] if flips else [pixels]
        return tf.stack([trunk(v, training=False) for v in views], axis=1)

    rows = tf.data.Dataset.range(len(loader.uris))
    stream = loader.decode(rows, size).batch(batch_size).prefetch(2)
    total, done, reported = len(loader.uris), 0, 0
    for batch_rows, pixels in stream:
        out[batch_rows.numpy()] = run(pixels).numpy().astype(dtype)
        done += int(batch_rows.shape[0])
        if progress and done * 10 // total > reported:  # a line per tenth
            reported = done * 10 // total
            progress(f"trunk cache: {done}/{total} images")
    out.flush()
    del out
    skips = dict(loader.skips)
    meta = {"key": key, "complete": True, "skips": {r: vars(s) for r, s in skips.items()}}
    meta_path.write_text(json.dumps(meta, indent=1), encoding="utf-8")
    return TrunkCache(np.load(path, mmap_mode="r"), path, skips)


Compiled = Callable[[tf.Tensor], tf.Tensor]


def compiled(model: keras.Model) -> Compiled:
    """``model`` in inference mode as one compiled function: far faster than ``predict`` for
    batch-by-batch use; made once and reused, as every new one traces the model again."""

    @tf.function(reduce_retracing=True)
    def run(x: tf.Tensor) -> tf.Tensor:
        return model(x, training=False)

    return run


def pooled_from_cache(
    top_pooled: Compiled, cache: TrunkCache, rows: np.ndarray, batch_size: int = 32
) -> np.ndarray:
    """Pooled features ``(len(rows), orientations, width)`` through the frozen top
    (:func:`compiled`)."""
    parts = []
    for start in range(0, len(rows), batch_size):
        block = np.asarray(cache.array[rows[start : start + batch_size]], dtype="float32")
        flat = block.reshape(-1, *block.shape[2:])
        parts.append(top_pooled(flat).numpy().reshape(block.shape[0], block.shape[1], -1))
    return np.concatenate(parts) if parts else np.zeros((0, cache.orientations, 0), "float32")


def pooled_from_images(
    pooled: Compiled,
    loader: ImageLoader,
    rows: np.ndarray,
    size: tuple[int, int],
    *,
    flips: bool,
    batch_size: int = 8,
) -> np.ndarray:
    """Pooled features ``(len(rows), orientations, width)`` straight from the images, through
    pixels -> pooled features (:func:`compiled`).

    Rows of skipped images stay zero (they are in ``loader.skips``).
    """
    out: np.ndarray | None = None
    position = {int(r): i for i, r in enumerate(rows)}
    stream = loader.decode(tf.data.Dataset.from_tensor_slices(rows.astype("int64")), size)
    for batch_rows, pixels in stream.batch(batch_size).prefetch(2):
        views = [pixels, tf.image.flip_left_right(pixels)] if flips else [pixels]
        features = np.stack([pooled(v).numpy() for v in views], axis=1)
        if out is None:
            out = np.zeros((len(rows), *features.shape[1:]), dtype="float32")
        out[[position[int(r)] for r in batch_rows.numpy()]] = features
    return out if out is not None else np.zeros((len(rows), 2 if flips else 1, 0), "float32")
