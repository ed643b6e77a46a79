"""Haze and rain: what the air between the camera and the view does to it."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy import ndimage

Float = NDArray[np.float32]

SMOKE_TINT = np.array([1.0, 0.9, 0.72], dtype=np.float32)
"""Thick haze on a Seattle summer day is mostly wildfire smoke: yellow-brown, not white."""


def airlight(horizon_row: Float, haze: float, cover: float) -> Float:
    """Colour of the air per column: the sky at the horizon, yellowed by heavy haze.

    Under a deck the light is diffuse, so the air is nearly the same colour all round.
    """
    tint = 1.0 + (SMOKE_TINT - 1.0) * np.float32(np.clip((haze - 0.3) / 0.5, 0.0, 1.0))
    # The sun's disc on the horizon would smear into a bright slab: cap it before blurring.
    capped = np.minimum(horizon_row, 3.0 * np.median(horizon_row, axis=0))
    smooth = ndimage.gaussian_filter1d(capped, sigma=40.0, axis=0, mode="wrap")
    even = np.float32(np.clip((cover - 0.6) / 0.35, 0.0, 1.0))
    smooth = smooth + (smooth.mean(axis=0) - smooth) * even
    return np.asarray(smooth * tint, dtype=np.float32)


def aerial_perspective(
    ground: Float, depth: Float, air: Float, *, haze: float, rain: float
) -> Float:
    """Fade distant parts of the city into the air's colour.

    Parameters
    ----------
    ground : (H, W, 3) lit city.
    depth : (H, W) 0 near .. 1 at the horizon.
    air : (W, 3) colour of the air per column.
    haze, rain : 0..1; even clean air veils the far shore a little.
    """
    density = 0.35 + 4.0 * haze + 3.0 * rain
    veil = (1.0 - np.exp(-density * depth))[..., None]
    return np.asarray(ground + (air[None, :, :] - ground) * veil, dtype=np.float32)


def hazy_sky(sky: Float, air: Float, altitude: Float, haze: float) -> Float:
    """Wash the sky towards the air's colour, most strongly near the horizon."""
    low = np.exp(-altitude / 10.0)[:, None, None]
    amount = np.clip(haze * (0.45 + 0.55 * low) * 1.3, 0.0, 0.92)
    return np.asarray(sky + (air[None, :, :] - sky) * amount, dtype=np.float32)


def rain_streaks(shape: tuple[int, int], rain: float, rng: np.random.Generator) -> Float:
    """Falling drops as faint slanted streaks; returns an (H, W) opacity map."""
    height, width = shape
    count = int(3500 * rain)
    streaks = np.zeros(shape, dtype=np.float32)
    if count == 0:
        return streaks
    slant = rng.normal(0.18, 0.06)
    length = rng.integers(5, 16, size=count)
    row0 = rng.integers(-15, height, size=count)
    col0 = rng.uniform(0.0, width, size=count)
    strength = rng.uniform(0.05, 0.16, size=count).astype(np.float32)
    steps = np.arange(16)
    along = steps[None, :] < length[:, None]
    rows = row0[:, None] + steps[None, :]
    cols = (col0[:, None] + slant * steps[None, :]).astype(np.int64)
    inside = along & (rows >= 0) & (rows < height) & (cols >= 0) & (cols < width)
    weights = np.broadcast_to(strength[:, None], inside.shape)[inside]
    np.add.at(streaks, (rows[inside], cols[inside]), weights)
    return np.clip(ndimage.gaussian_filter(streaks, (0.6, 0.5)) * 1.6, 0.0, 0.35)
