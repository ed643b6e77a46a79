"""The clear sky: its colours for a sun elevation, the sun itself, and the light it casts.

All colours are linear RGB in units where the overcast noon sky of the city plate is about 0.5.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from sample.plate import AZIMUTH_AT_LEFT, DEGREES_PER_PIXEL, HORIZON, WIDTH, srgb_to_linear

Float = NDArray[np.float32]

# Keyframes over sun elevation (degrees). Colours are sRGB (0..255) for readability, each paired
# with a brightness; they are converted to linear light once.
_ELEVATIONS = np.array([-14.0, -9.0, -5.0, -2.0, 0.0, 3.0, 8.0, 20.0, 45.0])
_ZENITH = [(12, 16, 38), (28, 40, 88), (52, 78, 140), (72, 104, 168), (84, 122, 186),
           (92, 136, 200), (98, 146, 214), (92, 146, 222), (84, 138, 222)]  # fmt: skip
_HORIZON = [(26, 24, 36), (58, 56, 92), (122, 110, 150), (168, 152, 172), (196, 182, 192),
            (206, 200, 206), (208, 214, 222), (204, 216, 232), (196, 212, 234)]  # fmt: skip
_GLOW = [(0, 0, 0), (70, 26, 16), (214, 86, 34), (255, 118, 40), (255, 146, 58),
         (255, 178, 96), (252, 214, 160), (244, 236, 222), (236, 238, 242)]  # fmt: skip
_SKY_LEVEL = [0.003, 0.012, 0.06, 0.2, 0.42, 0.62, 0.82, 0.95, 1.0]
_GLOW_LEVEL = [0.0, 0.03, 0.35, 0.9, 1.5, 1.6, 1.2, 0.55, 0.3]
_SUN = [(255, 70, 20), (255, 70, 20), (255, 90, 30), (255, 110, 40), (255, 130, 60),
        (255, 165, 95), (255, 205, 150), (255, 236, 214), (255, 248, 240)]  # fmt: skip


def _curve(keys: list[tuple[int, int, int]], level: list[float], elevation: float) -> Float:
    """Interpolate a keyframed colour at ``elevation`` and scale it to linear radiance."""
    rgb = np.array([np.interp(elevation, _ELEVATIONS, [k[i] for k in keys]) for i in range(3)])
    return (srgb_to_linear(rgb / 255.0) * np.interp(elevation, _ELEVATIONS, level)).astype(
        np.float32
    )


@dataclass(frozen=True)
class Daylight:
    """The light of one moment.

    Attributes
    ----------
    elevation, azimuth : the sun, degrees.
    sun_x, sun_row : where the sun sits in the frame (the row may lie below the horizon).
    zenith, horizon, glow : sky colours high up, low down, and the twilight glow on the sun's side.
    sun : colour and strength of direct sunlight on the city (0 below the horizon).
    cloud_sun : sunlight on the clouds, which are higher and stay lit after sunset.
    ambient : skylight on the city.
    night : 0 by day, 1 in full darkness (street lights, light pollution).
    """

    elevation: float
    azimuth: float
    sun_x: float
    sun_row: float
    zenith: Float
    horizon: Float
    glow: Float
    sun: Float
    cloud_sun: Float
    ambient: Float
    night: float


def daylight(elevation: float, azimuth: float, colour: float) -> Daylight:
    """Sky colours and lighting for a sun position; ``colour`` (0..1) is how vivid twilight is."""
    twilight = float(np.exp(-(((elevation - 0.5) / 6.0) ** 2)))
    # A vivid evening saturates and brightens the glow, and the light it throws on clouds.
    boost = np.float32(twilight * (0.9 * colour - 0.45))
    glow = _curve(_GLOW, _GLOW_LEVEL, elevation)
    grey = glow.mean()
    glow = (grey + (glow - grey) * (1.0 + 0.5 * boost)) * (1.0 + boost)
    sun_colour = _curve(_SUN, [1.0] * len(_ELEVATIONS), elevation)
    direct = float(np.clip(np.sin(np.radians(elevation)) / np.sin(np.radians(35.0)), 0.0, 1.0))
    direct = direct**0.7 * float(np.clip((elevation + 0.5) / 1.5, 0.0, 1.0))
    # Clouds float a few kilometres up: they see the sun some 3 degrees after the city loses it.
    cloud_elevation = elevation + 3.0
    cloud_direct = float(np.clip((cloud_elevation + 1.0) / 4.0, 0.0, 1.0)) * (
        0.7 + 0.6 * float(np.clip(cloud_elevation / 20.0, 0.0, 1.0))
    )
    cloud_sun = _curve(_SUN, [1.0] * len(_ELEVATIONS), max(elevation, -14.0) + 1.0)
    cloud_sun = cloud_sun * np.float32(cloud_direct * (1.0 + 0.6 * boost))
    sky_level = float(np.interp(elevation, _ELEVATIONS, _SKY_LEVEL))
    ambient = np.array([0.42, 0.46, 0.55], dtype=np.float32) * np.float32(sky_level)
    x = ((azimuth - AZIMUTH_AT_LEFT) % 360.0) / DEGREES_PER_PIXEL
    return Daylight(
        elevation=elevation,
        azimuth=azimuth,
        sun_x=float(x),
        sun_row=HORIZON - elevation / DEGREES_PER_PIXEL,
        zenith=_curve(_ZENITH, _SKY_LEVEL, elevation),
        horizon=_curve(_HORIZON, _SKY_LEVEL, elevation),
        glow=glow.astype(np.float32),
        sun=(sun_colour * np.float32(1.1 * direct)).astype(np.float32),
        cloud_sun=cloud_sun.astype(np.float32),
        ambient=ambient,
        night=float(np.clip((-elevation - 1.0) / 8.0, 0.0, 1.0)),
    )


def altitude(rows: int, step: int = 1) -> Float:
    """Degrees above the horizon (0 at and below it) of the top ``rows`` rows.

    With ``step`` > 1, of the centres of each block of ``step`` rows (a coarser grid).
    """
    r = np.arange(0, rows, step, dtype=np.float32) + np.float32((step - 1) / 2)
    return np.clip((HORIZON - r - 0.5) * np.float32(DEGREES_PER_PIXEL), 0.0, None)


def bearing_offset(light: Daylight, *, signed: bool = False) -> Float:
    """Degrees from each column's bearing to the sun's: 0..180, or -180..180 if ``signed``
    (positive where the sun lies to the right)."""
    x = np.arange(WIDTH, dtype=np.float32)
    delta = (np.float32(light.sun_x) - x) * np.float32(DEGREES_PER_PIXEL)
    delta = (delta + 180.0) % 360.0 - 180.0
    return (delta if signed else np.abs(delta)).astype(np.float32)


def clear_sky(light: Daylight, rows: int) -> Float:
    """The cloudless sky over the top ``rows`` rows: gradient, twilight glow, pink belt."""
    alt = altitude(rows)[:, None, None]
    t = np.clip(alt / 18.0, 0.0, 1.0) ** 0.55
    sky = light.horizon + (light.zenith - light.horizon) * t
    off = bearing_offset(light)[None, :, None]
    toward = 0.75 * np.exp(-((off / 48.0) ** 2)) + 0.25 * np.exp(-((off / 120.0) ** 2))
    spread = 3.0 + 9.0 * np.exp(-((off / 40.0) ** 2))
    sky = sky + light.glow * (toward * np.exp(-alt / spread))
    # The belt of Venus: a pink band over the dark earth shadow, opposite the setting sun.
    belt = float(np.exp(-(((light.elevation + 1.5) / 3.0) ** 2)))
    if belt > 0.02:
        away = np.exp(-(((180.0 - off) / 70.0) ** 2))
        band = np.exp(-(((alt - 7.0) / 4.0) ** 2))
        pink = np.array([0.07, 0.035, 0.045], dtype=np.float32) * np.float32(belt)
        sky = sky + pink * (away * band)
    # Light pollution: the city's glow low in the night sky.
    if light.night > 0.0:
        city = np.array([0.004, 0.003, 0.002], dtype=np.float32) * np.float32(light.night)
        sky = sky + city * np.exp(-alt / 6.0)
    return np.asarray(sky, dtype=np.float32)


def sun_distance(light: Daylight, rows: int) -> Float:
    """Distance in pixels from the sun's centre for every pixel of the top ``rows`` rows."""
    x = np.arange(WIDTH, dtype=np.float32)
    dx = np.abs(x - np.float32(light.sun_x))
    dx = np.minimum(dx, WIDTH - dx)
    dy = np.arange(rows, dtype=np.float32)[:, None] - np.float32(light.sun_row)
    return np.asarray(np.sqrt(dx[None, :] ** 2 + dy**2), dtype=np.float32)


def sun_glow(light: Daylight, distance: Float, haze: float) -> Float:
    """The sun's disc and halo as added radiance (zero when the sun is down).

    Haze dims and reddens the disc but widens the halo, as smoke and mist do.
    """
    if light.elevation < -1.0:
        return np.zeros((*distance.shape, 3), dtype=np.float32)
    colour = light.sun / max(float(light.sun.max()), 1e-6)
    colour = colour * np.array([1.0, 1.0 - 0.35 * haze, 1.0 - 0.6 * haze], dtype=np.float32)
    rise = float(np.clip((light.elevation + 1.0) / 2.0, 0.0, 1.0))
    # A low sun is dimmed by the long path through the air, enough to keep its colour.
    strength = 3.0 + 27.0 * float(np.clip(light.elevation / 20.0, 0.0, 1.0))
    disc = np.clip(2.2 - distance, 0.0, 1.0) * (strength * (1.0 - 0.9 * haze))
    halo = 1.6 * np.exp(-distance / (5.0 + 6.0 * haze)) + 0.5 * np.exp(-distance / 45.0)
    aureole = 0.25 * np.exp(-distance / 220.0)
    return np.asarray((disc + halo + aureole)[..., None] * colour * rise, dtype=np.float32)
