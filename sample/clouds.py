"""A cloud layer seen in perspective, lit by the sun and the sky around it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy import ndimage

from sample.noise import fbm
from sample.plate import DEGREES_PER_PIXEL, WIDTH
from sample.sky import Daylight, altitude, bearing_offset

Float = NDArray[np.float32]

_CURVATURE = 0.045
"""Caps how far the layer reaches: past ~20 layer heights it sinks below the horizon."""
_ASPECT_TOP, _ASPECT_HORIZON = 1.2, 3.5
"""Most a cloud is flattened by perspective, overhead and at the horizon: real clouds have
depth as well as extent, so they look rounder than marks on a plane would."""
_STEP = 2
"""The density field is computed on every second pixel and interpolated: clouds are soft."""


@dataclass(frozen=True)
class CloudLayer:
    """Coverage and shading of the clouds over the sky rows.

    Attributes
    ----------
    alpha : (rows, W) opacity, 0 clear .. 1 solid.
    colour : (rows, W, 3) linear radiance of the clouds where they are.
    distance : (rows,) distance to the layer in layer heights (aerial perspective).
    """

    alpha: Float
    colour: Float
    distance: Float


def _distance(alt_degrees: Float) -> Float:
    """Distance along the line of sight to the layer, in layer heights."""
    alt = np.radians(np.maximum(alt_degrees, 0.2))
    return (1.0 / (np.tan(alt) + _CURVATURE)).astype(np.float32)


def _radius(alt: Float) -> Float:
    """Radius on the layer's plane for each grid row, with perspective flattening capped.

    A flat layer seen from below is foreshortened without limit towards the horizon; real
    clouds have depth, so each row may advance at most a capped multiple of its own width.
    """
    natural = _distance(alt)
    across = np.radians(DEGREES_PER_PIXEL) * _STEP
    low = np.clip(1.0 - alt / 18.0, 0.0, 1.0)
    aspect = _ASPECT_TOP + (_ASPECT_HORIZON - _ASPECT_TOP) * low**2
    radius = np.empty_like(natural)
    radius[0] = natural[0]
    for i in range(1, len(natural)):
        step = min(float(natural[i] - natural[i - 1]), float(aspect[i]) * radius[i - 1] * across)
        radius[i] = radius[i - 1] + step
    return radius


def _density(rows: int, scale: float, texture: float, rng: np.random.Generator) -> Float:
    """Fractal cloud density over the top ``rows`` rows, mapped onto the layer's plane."""
    alt = altitude(rows, _STEP)
    radius = _radius(alt) * np.float32(scale)
    bearing = (np.arange(0, WIDTH, _STEP, dtype=np.float32) + 0.5) * np.float32(
        np.radians(DEGREES_PER_PIXEL)
    )
    u = radius[:, None] * np.cos(bearing)[None, :]
    v = radius[:, None] * np.sin(bearing)[None, :]
    # Layer units one grid cell spans, across (the wider, up high) or down (near the horizon).
    across = radius * np.float32(np.radians(DEGREES_PER_PIXEL) * _STEP)
    down = np.abs(np.gradient(radius))
    footprint = np.maximum(across, down)[:, None].astype(np.float32)
    # Warping the domain by a coarser field turns lattice-like blobs into billows and wisps.
    warp_u = fbm(u * 0.35, v * 0.35, rng, octaves=3) - 0.5
    warp_v = fbm(u * 0.35, v * 0.35, rng, octaves=3) - 0.5
    strength = np.float32(0.7 + 0.6 * texture)
    density = fbm(
        u + strength * warp_u,
        v + strength * warp_v,
        rng,
        octaves=6,
        gain=0.56 + 0.06 * texture,
        footprint=footprint,
    )
    size = (WIDTH, density.shape[0] * _STEP)
    full = Image.fromarray(density, "F").resize(size, Image.Resampling.BILINEAR)
    return np.asarray(full, dtype=np.float32)[:rows]


def cloud_layer(
    light: Daylight,
    sky: Float,
    rng: np.random.Generator,
    *,
    cover: float,
    texture: float,
    rain: float,
) -> CloudLayer:
    """Draw the clouds for one frame.

    Parameters
    ----------
    light : the moment's light.
    sky : (rows, W, 3) the clear sky behind, which also lights the clouds' shadowed sides.
    rng : this frame's generator.
    cover : fraction of sky covered, 0..1; near 1 a continuous deck.
    texture : 0 big rounded heaps, 1 fine rippled fields.
    rain : darkens and flattens the deck.
    """
    rows = sky.shape[0]
    density = _density(rows, 0.55 + 3.5 * texture**2, texture, rng)
    # Cover drifts across the panorama: clearer to one side, heavier to the other.
    drift = fbm(
        np.arange(WIDTH, dtype=np.float32) * np.float32(3.0 / WIDTH),
        np.zeros(WIDTH, dtype=np.float32),
        rng,
        octaves=2,
    )
    density = density + (drift[None, :] - 0.5) * np.float32(0.25 * (1.0 - cover))
    sample = density[::3, ::7].ravel()
    threshold = float(np.quantile(sample, 1.0 - cover)) if cover < 1.0 else float(sample.min())
    # A near-complete deck still shows its texture: its thinnest parts thin out, not open.
    deck = float(np.clip((cover - 0.85) / 0.15, 0.0, 1.0))
    threshold -= 0.06 * deck
    # Edges blur in the dark, where the camera sees only a dull glow.
    softness = 0.04 + 0.06 * (1.0 - texture) + 0.04 * deck + 0.06 * light.night
    excess = density - np.float32(threshold)
    alpha = np.clip(excess / np.float32(softness), 0.0, 1.0)
    alpha = alpha * alpha * (3.0 - 2.0 * alpha)
    # A deck is shaded in broad, gentle undulations rather than sharp billows.
    thickness = np.clip(excess / np.float32(0.2 + 0.35 * deck), 0.0, 1.0)

    # Edges facing the sun catch its light: where density falls off towards the sun (from
    # below when it is low, from above when it is high, sideways by its bearing).
    body = ndimage.uniform_filter(density, 7)
    towards_x = np.sin(np.radians(bearing_offset(light, signed=True)))[None, :]
    towards_y = 1.0 - 2.0 * float(np.clip((light.elevation - 5.0) / 25.0, 0.0, 1.0))
    slope = np.gradient(body, axis=1) * towards_x + np.gradient(body, axis=0) * towards_y
    edge = np.clip(0.5 - 60.0 * slope, 0.0, 1.0)
    off = bearing_offset(light)[None, :]
    forward = 0.55 + 1.3 * np.exp(-((off / 35.0) ** 2)) + 0.25 * np.exp(-((off / 90.0) ** 2))

    grey = sky.mean(axis=2, keepdims=True)
    ambient = grey + (sky - grey) * np.float32(0.45)
    shade = (1.0 - (0.3 + 0.3 * deck + 0.2 * rain) * thickness)[..., None]
    colour = ambient * shade * np.float32(0.95 + 0.25 * (1.0 - deck))
    # Under a full deck the sun lights its top, not the base we see.
    shadowed = 1.0 - 0.85 * deck
    lit = (0.3 + 0.7 * edge) * forward * (1.0 - 0.6 * thickness) * shadowed
    colour = colour + light.cloud_sun * lit[..., None] * np.float32(1.0 - 0.7 * rain)
    # The city lights the cloud base from below at night, a dull orange.
    glow = np.array([0.003, 0.0022, 0.0015], dtype=np.float32) * np.float32(light.night)
    colour = colour + glow * (0.5 + 0.5 * thickness[..., None])
    colour = colour * np.float32(1.0 - 0.45 * rain)
    return CloudLayer(
        alpha=alpha.astype(np.float32),
        colour=colour.astype(np.float32),
        distance=_distance(altitude(rows)),
    )
