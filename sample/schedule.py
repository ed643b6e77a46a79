"""Which frames the camera took, and the weather and camera state in each.

The camera shoots every 10 minutes from nautical dawn to nautical dusk. A gallery samples a few
frames from each of many days; weather is drawn per day (a Seattle season's odds) and drifts
within the day, so frames of one day resemble each other the way real ones do.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from sample.sun import sun_position

LOCAL = ZoneInfo("America/Los_Angeles")
FIRST_DAY = date(2015, 1, 1)
YEARS = 5
SLOT_MINUTES = 10
LOWEST_SUN = -12.0
"""The camera runs while the sun is above this elevation (nautical twilight)."""

REGIMES = ("clear", "fair", "mixed", "overcast", "rain")
_WINTER_ODDS = np.array([0.08, 0.14, 0.22, 0.34, 0.22])
_SUMMER_ODDS = np.array([0.42, 0.30, 0.15, 0.09, 0.04])
# Cloud cover range and its drift within a day, per regime.
_COVER = {
    "clear": (0.0, 0.12, 0.06),
    "fair": (0.18, 0.5, 0.18),
    "mixed": (0.45, 0.82, 0.18),
    "overcast": (0.88, 1.0, 0.05),
    "rain": (0.97, 1.0, 0.0),
}
FAULT_ODDS = {"dead": 0.012, "overexposed": 0.012}
"""Per-frame odds; a smeared lens and a lost focus last a whole day (``DAY_FAULT_ODDS``)."""
DAY_FAULT_ODDS = {"smear": 0.02, "blur": 0.015}

# One row per frame: its file name, capture time and the factors that make its beauty.
PLAN_COLUMNS = [
    "image",
    "taken_at",
    "day",
    "time_of_day",
    "sun_elevation",
    "sun_azimuth",
    "weather",
    "clouds",
    "texture",
    "colour",
    "haze",
    "rain",
    "fault",
]


def time_of_day(elevation: float, local_hour: float) -> str:
    """Name the light: night, dawn, day or sunset (evening twilight included)."""
    if elevation < -6.0:
        return "night"
    if elevation >= 6.0:
        return "day"
    return "dawn" if local_hour < 12.0 else "sunset"


def _frames_per_day(count: int, rng: np.random.Generator) -> list[int]:
    """Split ``count`` frames into days of 2..12 frames each."""
    if count <= 0:
        return []
    sizes = 2 + np.minimum(rng.poisson(4.0, size=count), 10)
    total = np.cumsum(sizes)
    days = int(np.searchsorted(total, count)) + 1
    sizes = sizes[:days].copy()
    sizes[-1] -= int(total[days - 1]) - count
    return [int(k) for k in sizes]


def _day_slots(day: date) -> tuple[list[datetime], NDArray[np.float64], NDArray[np.float64]]:
    """Local capture times of one day while the sun is above ``LOWEST_SUN``, with its position."""
    # DST switches at 2 am, long before the first frame: the noon offset holds for the day.
    offset = datetime.combine(day, time(12), LOCAL).utcoffset() or timedelta(0)
    local = [
        datetime.combine(day, time()) + timedelta(minutes=m) for m in range(0, 1440, SLOT_MINUTES)
    ]
    utc = [t - offset for t in local]
    doy = np.array([t.timetuple().tm_yday for t in utc], dtype=np.float64)
    hour = np.array([t.hour + t.minute / 60.0 for t in utc], dtype=np.float64)
    elevation, azimuth = sun_position(doy, hour)
    up = elevation > LOWEST_SUN
    return [t for t, u in zip(local, up, strict=True) if u], elevation[up], azimuth[up]


def plan_frames(count: int, rng: np.random.Generator) -> pd.DataFrame:
    """Draw ``count`` frames and the factors that will shape each one.

    Returns
    -------
    One row per frame in time order: ``image`` (file name, local capture time), ``taken_at``
    (ISO 8601 UTC), ``day`` (local date), ``time_of_day``, ``sun_elevation``, ``sun_azimuth``
    (degrees), ``weather`` (the day's regime), ``clouds`` (cover 0..1), ``texture`` (0 = big
    heaps, 1 = fine ripples), ``colour`` (how vivid twilight is, 0..1), ``haze``, ``rain``
    (0..1) and ``fault``.
    """
    sizes = _frames_per_day(count, rng)
    span = max(YEARS * 365, len(sizes))
    offsets = np.sort(rng.choice(span, size=len(sizes), replace=False))
    rows: list[dict[str, object]] = []
    for size, offset in zip(sizes, offsets, strict=True):
        day = FIRST_DAY + timedelta(days=int(offset))
        rows.extend(_plan_day(day, size, rng))
    return pd.DataFrame(rows, columns=PLAN_COLUMNS)


@dataclass(frozen=True)
class _DayWeather:
    """What a day brings: its regime, base cover and drift, air and rain, a lasting fault."""

    regime: str
    cover: float
    drift: float
    phases: NDArray[np.float64]
    texture: float
    colour: float
    haze: float
    mist: float
    wet: float
    fault: str


def _day_weather(day: date, rng: np.random.Generator) -> _DayWeather:
    """Draw a day's weather with the season's odds (clear summers, grey and wet winters)."""
    summer = 0.5 + 0.5 * np.cos(2.0 * np.pi * (day.timetuple().tm_yday - 200) / 365.0)
    odds = (1.0 - summer) * _WINTER_ODDS + summer * _SUMMER_ODDS
    regime = REGIMES[int(rng.choice(len(REGIMES), p=odds / odds.sum()))]
    low, high, drift = _COVER[regime]
    cover = rng.uniform(low, high)
    phases = rng.uniform(0.0, 2.0 * np.pi, size=3)
    texture = rng.uniform(0.0, 1.0)
    colour = rng.beta(2.0, 2.2)
    haze = rng.beta(1.3, 9.0)
    if rng.random() < 0.08 * summer:
        haze = rng.uniform(0.45, 0.85)  # wildfire smoke
    mist = rng.uniform(0.0, 0.3) if rng.random() < 0.3 else 0.0
    wet = 0.0
    if regime == "rain":
        wet = rng.uniform(0.3, 1.0)
    elif regime == "mixed" and rng.random() < 0.25:
        wet = rng.uniform(0.2, 0.7)  # passing showers
    fault = "none"
    for name, p in DAY_FAULT_ODDS.items():
        if rng.random() < p:
            fault = name
    return _DayWeather(regime, cover, drift, phases, texture, colour, haze, mist, wet, fault)


def _plan_day(day: date, size: int, rng: np.random.Generator) -> list[dict[str, object]]:
    """The frames of one day: pick capture slots, then let the day's weather drift."""
    local, elevation, azimuth = _day_slots(day)
    # Even the shortest December day leaves some 60 slots to choose from.
    picks = np.sort(rng.choice(len(local), size=size, replace=False))
    w = _day_weather(day, rng)
    frames = []
    for i in picks:
        t = local[i]
        hours = t.hour + t.minute / 60.0
        wave = 0.6 * np.sin(2 * np.pi * hours / 10.0 + w.phases[0])
        wave += 0.4 * np.sin(2 * np.pi * hours / 4.3 + w.phases[1])
        clouds = float(np.clip(w.cover + w.drift * wave + rng.normal(0.0, 0.03), 0.0, 1.0))
        shower = np.clip(0.55 + 0.8 * np.sin(2 * np.pi * hours / 3.1 + w.phases[2]), 0.0, 1.0)
        rain = w.wet * float(shower)
        if rain > 0.05:
            clouds = max(clouds, 0.93)
        else:
            rain = 0.0
        morning = hours < 12.0 and elevation[i] < 10.0
        haze = w.haze + (w.mist if morning else 0.0) + rng.normal(0.0, 0.02)
        fault = w.fault
        for name, p in FAULT_ODDS.items():
            if rng.random() < p:
                fault = name
        utc = t.replace(tzinfo=LOCAL).astimezone(UTC)
        frames.append(
            {
                "image": t.strftime("%Y-%m-%d_%H%M.jpg"),
                "taken_at": utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "day": day.isoformat(),
                "time_of_day": time_of_day(float(elevation[i]), hours),
                "sun_elevation": round(float(elevation[i]), 2),
                "sun_azimuth": round(float(azimuth[i]), 2),
                "weather": w.regime,
                "clouds": round(clouds, 3),
                "texture": round(w.texture, 3),
                "colour": round(float(np.clip(w.colour + rng.normal(0.0, 0.05), 0, 1)), 3),
                "haze": round(float(np.clip(haze, 0.0, 1.0)), 3),
                "rain": round(rain, 3),
                "fault": fault,
            }
        )
    return frames
