"""Images into tensors: parallel read and decode, resize, optional augmentation.

Decoding goes through Pillow (EXIF orientation applied, alpha on white, as everywhere in the
project) inside a parallel ``tf.data`` map; a file that cannot be read or decoded becomes a
reported skip and leaves the stream, instead of an error deep inside TensorFlow.
Augmentation never changes what makes a photo beautiful: horizontal flips and small crops,
no colour or exposure change.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf
from PIL import Image, UnidentifiedImageError
from tensorflow.python.framework import config as tf_config

from infra.errors import BeautyError
from infra.images import load_rgb

Reader = Callable[[str], bytes]
CROP_MARGIN = 0.08  # crops keep at least ~93% of each side


@dataclass(frozen=True)
class Skip:
    """An image left out, and why."""

    uri: str
    reason: str


class ImageLoader:
    """Reads and decodes the images of a list of URIs, by row number; failures become skips."""

    def __init__(self, uris: Sequence[str], read: Reader) -> None:
        self.uris = list(uris)
        self.read = read
        self.skips: dict[int, Skip] = {}

    def load(self, row: int) -> np.ndarray:
        """RGB ``uint8`` pixels of one image, or an empty array when it cannot be used."""
        uri = self.uris[int(row)]
        try:
            return np.asarray(load_rgb(self.read(uri)), dtype=np.uint8)
        except Exception as exc:  # one bad file must not stop a run: it is reported instead
            self.skips[int(row)] = Skip(uri, _reason(exc))
            return np.zeros((0, 0, 3), dtype=np.uint8)

    def decode(
        self,
        rows: tf.data.Dataset,
        size: tuple[int, int],
        *,
        augment: bool = False,
        seed: int = 0,
    ) -> tf.data.Dataset:
        """``rows`` (int64 scalars) -> ``(row, pixels)``, pixels float32 RGB in [0, 255].

        Unusable images are dropped from the stream and listed in :attr:`skips`.
        """

        def load(row: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            pixels = tf.numpy_function(self.load, [row], tf.uint8)
            pixels.set_shape([None, None, 3])
            return row, pixels

        def usable(row: tf.Tensor, pixels: tf.Tensor) -> tf.Tensor:
            return tf.size(pixels) > 0

        generator = tf.random.Generator.from_seed(seed) if augment else None

        def shape(row: tf.Tensor, pixels: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            if generator is None:
                return row, resize(pixels, size)
            return row, augmented(pixels, size, generator.make_seeds(2))

        # Under op determinism (a training run) TensorFlow would rewrite parallel reads into
        # sequential ones and log an error line about it each time: ask for sequential reads.
        parallel = not _op_determinism()
        # One call at a time with a random generator: its draws follow the rows' order.
        shaping = _calls(parallel and generator is None)
        return rows.map(load, **_calls(parallel)).filter(usable).map(shape, **shaping)


def _op_determinism() -> bool:
    # TensorFlow has no public reader of this switch; its config module has had one since 2.9.
    check = getattr(tf_config, "is_op_determinism_enabled", None)
    return bool(check()) if check is not None else False


def _calls(parallel: bool) -> dict[str, Any]:
    """``Dataset.map`` arguments: in parallel keeping the order, or one call at a time."""
    return {"num_parallel_calls": tf.data.AUTOTUNE, "deterministic": True} if parallel else {}


def photo_aspect(uris: list[str], read: Callable[[str], bytes], sample: int = 16) -> float | None:
    """Median width / height of up to ``sample`` photos spread over ``uris`` (header reads)."""
    picks = uris[:: max(1, len(uris) // sample)][:sample]
    ratios = []
    for uri in picks:
        try:
            with Image.open(io.BytesIO(read(uri))) as image:
                width, height = image.size
        except Exception:  # unreadable images are reported where they are decoded
            continue
        if height:
            ratios.append(width / height)
    return float(np.median(ratios)) if ratios else None


def check_aspect(
    uris: list[str],
    read: Callable[[str], bytes],
    input_size: str,
    progress: Callable[[str], None],
    limit: float = 1.5,
) -> None:
    """Refuse an input size that would stretch the photos more than ``limit`` times one way.

    Raises
    ------
    BeautyError
        Naming the photos' shape and an input size that keeps it.
    """
    from training.options import parse_size

    height, width = parse_size(input_size)
    aspect = photo_aspect(uris, read)
    if aspect is None:
        return
    stretch = (width / height) / aspect
    factor = max(stretch, 1 / stretch)
    if factor > limit:
        keep = f"{height}x{max(1, round(height * aspect))}"
        way = "sideways" if stretch > 1 else "upwards"
        raise BeautyError(
            f"input {input_size} would stretch these photos (about {aspect:.2f}:1, width to "
            f"height) {factor:.1f}x {way}; use an input size of their shape, e.g. "
            f"--input-size {keep}"
        )
    if factor > 1.1:
        progress(
            f"note: input {input_size} stretches the photos {factor:.2f}x (about {aspect:.2f}:1)"
        )


def resize(pixels: tf.Tensor, size: tuple[int, int]) -> tf.Tensor:
    """To ``size`` (height, width), antialiased; float32 in [0, 255]."""
    out = tf.image.resize(tf.cast(pixels, tf.float32), size, antialias=True)
    return tf.clip_by_value(out, 0.0, 255.0)


def augmented(pixels: tf.Tensor, size: tuple[int, int], seeds: tf.Tensor) -> tf.Tensor:
    """A random small crop and a random horizontal flip, at ``size``."""
    height, width = size
    larger = (math.ceil(height * (1 + CROP_MARGIN)), math.ceil(width * (1 + CROP_MARGIN)))
    out = tf.image.stateless_random_crop(resize(pixels, larger), (height, width, 3), seeds[:, 0])
    return tf.image.stateless_random_flip_left_right(out, seeds[:, 1])


def _reason(exc: Exception) -> str:
    if isinstance(exc, UnidentifiedImageError):
        return "not an image (unrecognised content)"
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, Image.DecompressionBombError):
        return "too many pixels (decompression bomb)"
    first = (str(exc).strip().splitlines() or [""])[0][:160]
    if isinstance(exc, OSError | SyntaxError | ValueError):
        return f"corrupt or truncated ({first or type(exc).__name__})"
    return f"{type(exc).__name__}: {first}"
