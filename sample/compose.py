"""Compose one panorama: sky, clouds, mountains, the lit city, water, weather, camera."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray
from PIL import Image
from scipy import ndimage

from sample import faults
from sample.camera import develop, meter
from sample.clouds import cloud_layer
from sample.plate import HEIGHT, HORIZON, WIDTH, Plate, load_plate
from sample.sky import Daylight, altitude, clear_sky, daylight, sun_distance, sun_glow
from sample.weather import aerial_perspective, airlight, hazy_sky, rain_streaks

Float = NDArray[np.float32]


@dataclass(frozen=True)
class Scene:
    """The factors one frame is drawn from (see ``schedule.plan_frames``)."""

    sun_elevation: float
    sun_azimuth: float
    clouds: float
    texture: float
    colour: float
    haze: float
    rain: float
    fault: str

    @classmethod
    def from_row(cls, row: Mapping[Any, Any]) -> Scene:
        """Pick the factors out of a row of the plan."""
        return cls(**{f.name: row[f.name] for f in fields(cls)})


def _sky(scene: Scene, light: Daylight, plate: Plate, rng: np.random.Generator) -> Float:
    """Clear sky, clouds and the sun, for the rows above the city."""
    rows = plate.sky_rows
    cover = scene.clouds
    sky = clear_sky(light, rows)
    layer = cloud_layer(light, sky, rng, cover=cover, texture=scene.texture, rain=scene.rain)
    # Far clouds melt into the colour of the air at the horizon, which under a deck is the
    # deck's own grey rather than the clear sky's glow.
    low = layer.colour[max(HORIZON - 12, 0) : HORIZON].mean(axis=0)
    deck = ndimage.uniform_filter1d(low, 81, axis=0, mode="wrap")
    horizon = sky[min(HORIZON - 2, rows - 1)] * np.float32(1.0 - cover) + deck * np.float32(cover)
    far = (1.0 - np.exp(-layer.distance * (0.035 + 0.12 * scene.haze)))[:, None, None]
    clouds = layer.colour + (horizon[None] - layer.colour) * (far * 0.7)
    alpha = layer.alpha[..., None]
    sun = sun_glow(light, sun_distance(light, rows), scene.haze)
    return np.asarray(sky * (1.0 - alpha) + clouds * alpha + sun * (1.0 - alpha) ** 2)


def _mountains(sky: Float, plate: Plate, light: Daylight, air: Float, clarity: float) -> Float:
    """Distant ranges on the horizon: blue-grey rock, snow lit by the sun, faded by the air."""
    first = max(int((plate.baseline - plate.mountains).min()) - 1, 0)
    rows = np.arange(first, sky.shape[0], dtype=np.float32)[:, None]
    top = plate.baseline[None, :].astype(np.float32) - plate.mountains[None, :]
    inside = np.clip(rows - top + 0.5, 0.0, 1.0) * (rows <= plate.baseline[None, :] + 1)
    height = np.maximum(plate.mountains[None, :], 1.0)
    snow = np.clip(1.0 - (rows - top) / (0.45 * height), 0.0, 1.0) * (plate.mountains > 3.0)
    rock = air * np.float32(0.55) + light.ambient * np.float32(0.25)
    lit_snow = air * np.float32(0.8) + light.sun * np.float32(0.55) + light.ambient * 0.4
    colour = rock[None] + (lit_snow - rock)[None] * snow[..., None]
    amount = (inside * clarity)[..., None]
    out = sky.copy()
    out[first:] += (colour - sky[first:]) * amount
    return out


def _city(plate: Plate, light: Daylight, cover: float, rain: float) -> Float:
    """The plate relit: skylight everywhere, direct sun through the gaps in the clouds."""
    through = float(np.clip(1.0 - (cover - 0.25) / 0.65, 0.0, 1.0)) ** 1.3 * (1.0 - rain)
    diffuse = light.ambient * np.float32(1.0 + 1.1 * cover) + light.cloud_sun * np.float32(
        0.25 * cover * (1.0 - 0.7 * rain)
    )
    # Under cloud the deck, not the blue sky, lights the city: grey light.
    grey = diffuse.mean()
    diffuse = diffuse + (grey - diffuse) * np.float32(cover)
    # Scaled so an overcast noon gives back the photo's own exposure.
    return np.asarray(
        plate.albedo * (diffuse * np.float32(1.35))
        + plate.sunlit * (light.sun * np.float32(through)),
        dtype=np.float32,
    )


def _night_lights(plate: Plate, light: Daylight, rng: np.random.Generator) -> Float:
    """Street lights and windows, switched on as the light fails."""
    on_level = float(np.clip((2.0 - light.elevation) / 6.0, 0.0, 1.0))
    layer = np.zeros((HEIGHT, WIDTH, 3), dtype=np.float32)
    if on_level == 0.0:
        return layer
    count = len(plate.lights)
    on = plate.light_steady | (rng.random(count) < 0.55)
    strength = rng.lognormal(np.log(0.05), 0.7, size=count).astype(np.float32) * on_level
    rows, cols = plate.lights[on, 0], plate.lights[on, 1]
    np.add.at(layer, (rows, cols), plate.light_colour[on] * strength[on, None])
    bloom = ndimage.gaussian_filter(layer, (1.2, 1.2, 0))
    return np.asarray(layer + 1.5 * bloom, dtype=np.float32)


def _water(
    city: Float, sky: Float, plate: Plate, light: Daylight, cover: float, rng: np.random.Generator
) -> Float:
    """Water mirrors the sky (blurred by waves) and shows a glitter path under a low sun."""
    top, bottom = HORIZON, min(HEIGHT, HORIZON + 70)
    r = np.arange(top, bottom)
    mirror = np.clip(HORIZON - (r - HORIZON) * 1.3, 0, sky.shape[0] - 1).astype(np.int64)
    # Waves blur the reflection so much that a quarter of the columns carry all of it.
    coarse = ndimage.uniform_filter1d(sky[:, ::4], size=7, axis=1, mode="wrap")[mirror]
    coarse = ndimage.uniform_filter1d(coarse, size=5, axis=0)
    reflected = np.repeat(coarse, 4, axis=1)[:, :WIDTH]
    reflect = (0.08 + 0.22 * plate.depth[top:bottom])[..., None]
    band = city[top:bottom] * np.float32(0.7) + reflected * reflect
    if -1.0 < light.elevation < 25.0 and cover < 0.9:
        dx = np.abs(np.arange(WIDTH, dtype=np.float32) - np.float32(light.sun_x))
        dx = np.minimum(dx, WIDTH - dx)
        width = 4.0 + 0.35 * (r - HORIZON)[:, None]
        path = np.exp(-((dx[None, :] / width) ** 2))
        sparkle = rng.random(path.shape, dtype=np.float32) ** 6
        gain = (1.0 - cover) * float(np.exp(-light.elevation / 10.0))
        band = band + light.sun * (path * (0.3 + 2.5 * sparkle) * gain)[..., None]
    out = city.copy()
    mask = plate.water[top:bottom, :, None]
    out[top:bottom] = city[top:bottom] + (band - city[top:bottom]) * mask
    return out


def render(scene: Scene, rng: np.random.Generator, day_seed: int) -> Image.Image:
    """Draw one panorama.

    Parameters
    ----------
    scene : the frame's factors.
    rng : this frame's own generator (clouds, lights, noise).
    day_seed : the day's seed, so a lens smear stays put all day.
    """
    if scene.fault == "dead":
        return faults.dead_frame((WIDTH, HEIGHT), rng)
    plate = load_plate()
    rows = plate.sky_rows
    cover, haze, rain = scene.clouds, scene.haze, scene.rain
    light = daylight(scene.sun_elevation, scene.sun_azimuth, scene.colour)

    sky = _sky(scene, light, plate, rng)
    air = airlight(sky[min(HORIZON - 1, rows - 1)], haze, cover)
    clarity = float(np.exp(-(0.6 + 7.0 * haze + 4.0 * rain))) * (1.0 - 0.7 * cover**3)
    sky = _mountains(sky, plate, light, air, clarity)
    # Rain curtains hide the horizon as haze does.
    sky = hazy_sky(sky, air, altitude(rows), min(haze + 0.6 * rain, 1.0))

    city = _city(plate, light, cover, rain) + _night_lights(plate, light, rng)
    city = _water(city, sky, plate, light, cover, rng)
    image = aerial_perspective(city, plate.depth, air, haze=haze, rain=rain)
    image[:rows] += (sky - image[:rows]) * plate.sky[:rows, :, None]
    if rain > 0.0:
        streaks = rain_streaks((HEIGHT, WIDTH), rain, rng)[..., None]
        image += (air[None] * np.float32(1.4) - image) * streaks

    gain = meter(image, rows) * faults.exposure_boost(scene.fault, rng)
    picture = Image.fromarray(develop(image, gain, rng), "RGB")
    if scene.fault == "blur":
        return faults.blurred(picture, rng)
    if scene.fault == "smear":
        return faults.smeared(picture, day_seed)
    return picture
