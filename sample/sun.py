"""Where the sun stands over the camera: elevation and compass bearing from UTC time."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

LATITUDE = 47.6205
LONGITUDE = -122.3493
"""The camera on top of the Space Needle, Seattle (degrees; east positive)."""


def sun_position(
    day_of_year: NDArray[np.floating], hour_utc: NDArray[np.floating]
) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """Solar elevation and azimuth in degrees (azimuth clockwise from north).

    Uses the NOAA low-precision series (good to a fraction of a degree), which is plenty for
    deciding how a sky looks.

    Parameters
    ----------
    day_of_year : 1 .. 366.
    hour_utc : fractional hour of the UTC day.
    """
    doy = np.asarray(day_of_year, dtype=np.float64)
    hour = np.asarray(hour_utc, dtype=np.float64)
    gamma = 2.0 * np.pi / 365.0 * (doy - 1.0 + (hour - 12.0) / 24.0)
    eq_time = 229.18 * (
        0.000075
        + 0.001868 * np.cos(gamma)
        - 0.032077 * np.sin(gamma)
        - 0.014615 * np.cos(2 * gamma)
        - 0.040849 * np.sin(2 * gamma)
    )
    decl = (
        0.006918
        - 0.399912 * np.cos(gamma)
        + 0.070257 * np.sin(gamma)
        - 0.006758 * np.cos(2 * gamma)
        + 0.000907 * np.sin(2 * gamma)
        - 0.002697 * np.cos(3 * gamma)
        + 0.00148 * np.sin(3 * gamma)
    )
    solar_minutes = hour * 60.0 + eq_time + 4.0 * LONGITUDE
    hour_angle = np.radians(solar_minutes / 4.0 - 180.0)
    lat = np.radians(LATITUDE)
    sin_elev = np.sin(lat) * np.sin(decl) + np.cos(lat) * np.cos(decl) * np.cos(hour_angle)
    elevation = np.degrees(np.arcsin(np.clip(sin_elev, -1.0, 1.0)))
    azimuth = np.degrees(
        np.arctan2(
            np.sin(hour_angle),
            np.cos(hour_angle) * np.sin(lat) - np.tan(decl) * np.cos(lat),
        )
    )
    return elevation, (azimuth + 180.0) % 360.0
