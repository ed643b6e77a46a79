"""The camera's own part: metering, the tone curve to 8-bit sRGB, and sensor noise."""

from __future__ import annotations

from functools import lru_cache

import numpy as np
from numpy.typing import NDArray

Float = NDArray[np.float32]

EXPOSURE_TARGET = 0.2
"""Linear level the meter aims for; the overcast photo of the plate meters about here."""
MAX_GAIN = 7.0
"""The most the camera amplifies a dark scene: nights stay dark."""
_LUT_SIZE = 4096
_LUT_RANGE = 4.0
_GRAIN_TILE = 512


def meter(image: Float, sky_rows: int) -> float:
    """Exposure gain that brings the scene to the target, weighted towards the city."""
    level = 0.35 * float(image[:sky_rows].mean()) + 0.65 * float(image[sky_rows:].mean())
    return float(np.clip(EXPOSURE_TARGET / max(level, 1e-5), 0.3, MAX_GAIN))


@lru_cache(maxsize=1)
def _tone_curve() -> NDArray[np.uint8]:
    """Linear light -> 8-bit sRGB, with a soft shoulder instead of a hard clip.

    Indexed by the square root of the value, which spends the table's resolution on the
    shadows where 8-bit sRGB is finest.
    """
    x = (np.linspace(0.0, 1.0, _LUT_SIZE) ** 2) * _LUT_RANGE
    knee = 0.75
    y = np.where(x < knee, x, knee + (1.0 - knee) * (1.0 - np.exp(-(x - knee) / (1.0 - knee))))
    srgb = np.where(y <= 0.0031308, 12.92 * y, 1.055 * np.power(y, 1.0 / 2.4) - 0.055)
    return np.asarray(np.clip(np.round(srgb * 255.0), 0, 255), dtype=np.uint8)


@lru_cache(maxsize=1)
def _grain() -> Float:
    """A tile of unit Gaussian sensor noise; each frame reads a window at its own offset."""
    rng = np.random.default_rng(1991)
    return rng.standard_normal((_GRAIN_TILE, _GRAIN_TILE * 4), dtype=np.float32)


def develop(image: Float, gain: float, rng: np.random.Generator) -> NDArray[np.uint8]:
    """Expose, tone-map and add sensor noise, stronger when a dark scene is amplified."""
    height, width = image.shape[:2]
    level = image * np.float32(gain / _LUT_RANGE)
    np.clip(level, 0.0, 1.0, out=level)
    np.sqrt(level, out=level)
    level *= np.float32(_LUT_SIZE - 1)
    pixels = _tone_curve().take(level.astype(np.int32)).astype(np.float32)
    sigma = np.float32(0.8 + 2.2 * float(np.clip((gain - 2.0) / 5.0, 0.0, 1.0)))
    tile = _grain()
    top = int(rng.integers(0, tile.shape[0] - height))
    left = int(rng.integers(0, tile.shape[1] - width))
    pixels += (tile[top : top + height, left : left + width] * sigma)[..., None]
    np.clip(pixels, 0, 255, out=pixels)
    return pixels.astype(np.uint8)
