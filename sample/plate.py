"""The city plate: a real overcast panorama from the Space Needle camera, split into its parts.

The plate supplies the city, the water and the distant hills; every frame puts its own sky,
light and weather around it. Masks and night lights are derived from the photo once per process.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy import ndimage

from sample.noise import ridge

HEIGHT = 237
WIDTH = 1820
HORIZON = 92
"""Row of the true horizon: the plate's far shore and the bottom of the cloud deck."""
DEGREES_PER_PIXEL = 360.0 / WIDTH
AZIMUTH_AT_LEFT = -25.0
"""Compass bearing (degrees) at the left edge; the panorama turns clockwise, downtown to the
south-east near the middle, Elliott Bay and the Olympics to the west on the right."""

Float = NDArray[np.float32]


@dataclass(frozen=True)
class Plate:
    """The city in linear RGB and what each pixel of it is.

    Attributes
    ----------
    albedo : (H, W, 3) linear RGB of the overcast photo, the reference lighting.
    sunlit : the same with the contrast of direct sunlight.
    sky : (H, W) float mask, 1 where the frame's own sky shows (feathered edge).
    water : (H, W) float mask of the bay and the lake.
    depth : (H, W) 0 near the camera, 1 at the horizon: drives haze and reflections.
    baseline : (W,) row where the land meets the sky, towers ignored (mountains stand on it).
    mountains : (W,) height in pixels of the distant ranges above the baseline.
    sky_rows : rows 0 .. sky_rows-1 hold every sky pixel.
    lights : (N, 2) row, column of places that light up at night.
    light_colour : (N, 3) linear colour of each light.
    light_steady : (N,) True for street lights (always on), False for windows.
    """

    albedo: Float
    sunlit: Float
    sky: Float
    water: Float
    depth: Float
    baseline: NDArray[np.int64]
    mountains: Float
    sky_rows: int
    lights: NDArray[np.int64]
    light_colour: Float
    light_steady: NDArray[np.bool_]


def srgb_to_linear(x: NDArray[np.floating]) -> Float:
    """Decode sRGB values in [0, 1] to linear light."""
    x = np.asarray(x, dtype=np.float32)
    out = np.where(x <= 0.04045, x / 12.92, ((x + 0.055) / 1.055) ** 2.4)
    return out.astype(np.float32)


def _sky_mask(rgb: Float) -> NDArray[np.bool_]:
    """Pixels of the overcast sky: bright, grey, smooth, and connected to the top edge."""
    lum = rgb.mean(axis=2)
    smooth = ndimage.uniform_filter(lum, 3)
    vertical_edge = np.abs(ndimage.sobel(ndimage.gaussian_filter(lum, 1.0), axis=0))
    grey = rgb.max(axis=2) - rgb.min(axis=2) < 0.15
    skyish = (smooth > 0.45) & grey & (vertical_edge < 0.12)
    labels, _ = ndimage.label(skyish)
    top = np.unique(labels[0][labels[0] > 0])
    sky = np.isin(labels, top)
    rows = np.arange(HEIGHT)[:, None]
    lowest = np.where(sky.any(axis=0), (sky * rows).max(axis=0), -1)
    # A pale tower can pass for sky and cut a notch into the city; towers only rise above
    # their neighbours, so clip downward excursions against a running median.
    median = ndimage.median_filter(lowest, size=41, mode="nearest")
    lowest = np.minimum(lowest, median + 2)
    return np.asarray(rows <= lowest[None, :])


def _water_mask(rgb: Float, sky: NDArray[np.bool_]) -> NDArray[np.bool_]:
    """Large, flat, low-texture regions just below the horizon: Elliott Bay and Lake Union."""
    lum = rgb.mean(axis=2)
    mean = ndimage.uniform_filter(lum, 5)
    var = ndimage.uniform_filter(lum * lum, 5) - mean * mean
    flat = (np.sqrt(np.maximum(var, 0.0)) < 0.02) & ~sky
    flat[: HORIZON + 1] = False
    flat[HORIZON + 70 :] = False
    labels, count = ndimage.label(flat)
    sizes = ndimage.sum(flat, labels, np.arange(1, count + 1))
    slices = ndimage.find_objects(labels)
    keep = [
        i + 1
        for i, (size, box) in enumerate(zip(sizes, slices, strict=True))
        if size > 800
        and box is not None
        and box[1].stop - box[1].start > 3 * (box[0].stop - box[0].start)
    ]
    water = np.isin(labels, keep)
    # Ships and wakes are water too, for reflections.
    water = ndimage.binary_closing(water, structure=np.ones((5, 9)))
    return np.asarray(ndimage.binary_fill_holes(water))


def _mountains() -> Float:
    """Olympics across the bay, Mount Rainier to the south-east, low Cascades to the east."""
    x = np.arange(WIDTH, dtype=np.float32)
    rng = np.random.default_rng(1792)

    def bump(centre: float, half: float) -> Float:
        return np.clip(1.0 - ((x - centre) / half) ** 2, 0.0, None).astype(np.float32)

    olympics = bump(1585, 150) ** 0.5 * (4.0 + 6.0 * ridge(WIDTH, 24, rng))
    cascades = bump(390, 330) ** 0.7 * (1.5 + 3.5 * ridge(WIDTH, 40, rng))
    rainier = 10.0 * np.exp(-np.abs(x - 926) / 13.0) * (1.0 + 0.08 * ridge(WIDTH, 6, rng))
    height = np.maximum(np.maximum(olympics, cascades), rainier)
    return np.asarray(height, dtype=np.float32)


def _lights(
    rgb: Float, sky: NDArray[np.bool_], water: NDArray[np.bool_], mast: NDArray[np.bool_]
) -> tuple[NDArray[np.int64], Float, NDArray[np.bool_]]:
    """Places that glow at night, denser where the photo shows built-up, contrasty texture."""
    rng = np.random.default_rng(2016)
    lum = rgb.mean(axis=2)
    detail = np.abs(lum - ndimage.uniform_filter(lum, 5))
    # Far rows hold more city per pixel, so more lights.
    rows = np.arange(HEIGHT, dtype=np.float32)[:, None]
    far = np.clip((HEIGHT - rows) / (HEIGHT - HORIZON), 0.0, 1.0) ** 1.5
    weight = (detail + 0.01) * (0.4 + far) * ~sky * ~water * ~mast[None, :]
    weight[: HORIZON - 20] = 0.0
    weight /= weight.sum()
    count = 5200
    picks = rng.choice(weight.size, size=count, replace=False, p=weight.ravel())
    where = np.stack(np.unravel_index(picks, weight.shape), axis=1).astype(np.int64)
    palette = srgb_to_linear(
        np.array(
            [[1.0, 0.72, 0.38], [1.0, 0.85, 0.6], [0.95, 0.95, 1.0], [1.0, 0.62, 0.3]],
            dtype=np.float32,
        )
    )
    colour = palette[rng.choice(len(palette), size=count, p=[0.35, 0.3, 0.2, 0.15])]
    steady = rng.random(count) < 0.45
    return where, colour.astype(np.float32), steady


@lru_cache(maxsize=1)
def load_plate() -> Plate:
    """Read the packaged photo and derive its masks (cached for the process)."""
    with resources.files("sample").joinpath("assets/needle-cloudy.jpg").open("rb") as fh:
        image = Image.open(fh).convert("RGB")
        srgb = np.asarray(image, dtype=np.float32) / 255.0
    if srgb.shape != (HEIGHT, WIDTH, 3):
        raise ValueError(
            f"city plate must be {WIDTH}x{HEIGHT}, got {srgb.shape[1]}x{srgb.shape[0]}"
        )
    sky = _sky_mask(srgb)
    water = _water_mask(srgb, sky)
    albedo = srgb_to_linear(srgb)
    # Sunlight deepens shadows relative to highlights; a power curve on the overcast photo
    # stands in for the shadows the plate does not have.
    sunlit = (albedo ** np.float32(1.3) * np.float32(1.6)).astype(np.float32)
    rows = np.arange(HEIGHT, dtype=np.float32)[:, None]
    depth = np.clip((HEIGHT - rows) / (HEIGHT - HORIZON), 0.0, 1.0) ** 2.2
    ground_top = np.argmin(sky, axis=0).astype(np.int64)
    # Columns with no sky at the top are the mast beside the camera: near, never hazed, unlit.
    mast = ndimage.binary_dilation(ground_top < HORIZON - 30, iterations=3)
    depth = np.where(mast[None, :], 0.0, depth)
    baseline = ndimage.median_filter(ground_top, size=61, mode="nearest").astype(np.int64)
    feather = ndimage.gaussian_filter(sky.astype(np.float32), 0.6)
    lights, colour, steady = _lights(srgb, sky, water, mast)
    return Plate(
        albedo=albedo,
        sunlit=sunlit,
        sky=np.maximum(feather, sky).astype(np.float32),
        water=ndimage.gaussian_filter(water.astype(np.float32), 0.8),
        depth=depth.astype(np.float32),
        baseline=baseline,
        mountains=_mountains(),
        sky_rows=int(np.nonzero(sky.any(axis=1))[0].max()) + 1,
        lights=lights,
        light_colour=colour,
        light_steady=steady,
    )
