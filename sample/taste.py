"""The hidden beauty of a frame, judged from its factors the way a photographer would."""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

FAULT_BASE = {"overexposed": -3.8, "blur": -3.1, "smear": -2.3}
"""Where a faulted frame lands before its scene is considered."""
FAULT_KEEPS = {"overexposed": 0.1, "blur": 0.15, "smear": 0.3}
"""How much of the scene still shows through each fault."""
TASTE = 0.35
"""Spread of the idiosyncratic part: what factors do not explain."""
CENTRE = -0.37
"""Mean scene score over many galleries, removed so beauty centres on 0."""
FLOOR = -4.9
"""No working frame scores below this; dead frames sit under it."""


def _smoothstep(lo: float, hi: float, x: NDArray[np.float64]) -> NDArray[np.float64]:
    t = np.clip((x - lo) / (hi - lo), 0.0, 1.0)
    return np.asarray(t * t * (3.0 - 2.0 * t))


def scene_score(frames: pd.DataFrame) -> NDArray[np.float64]:
    """Raw appeal of the scene alone (no fault, no taste), higher is more beautiful.

    Low sun with broken, colourful clouds in clean air scores highest; a flat grey deck, haze
    and rain pull down. Night with the city lit is middling.
    """
    e = frames["sun_elevation"].to_numpy(np.float64)
    c = frames["clouds"].to_numpy(np.float64)
    haze = frames["haze"].to_numpy(np.float64)
    rain = frames["rain"].to_numpy(np.float64)
    colour = frames["colour"].to_numpy(np.float64)
    texture = frames["texture"].to_numpy(np.float64)
    golden = np.exp(-(((e - 0.5) / 4.5) ** 2))
    daylight = _smoothstep(3.0, 12.0, e)
    dark = 1.0 - _smoothstep(-9.0, -5.0, e)
    overcast = _smoothstep(0.78, 0.97, c)
    broken = np.sin(np.pi * np.clip(c / 0.9, 0.0, 1.0))
    clean = (1.0 - haze) ** 1.5
    twilight = (
        golden
        * (0.45 + 0.9 * colour)
        * (0.35 + (1.0 + 0.4 * texture) * broken)
        * (1.0 - overcast)
        * (1.0 - rain)
        * clean
    )
    # Appeal saturates: the best sunsets are not unboundedly better than good ones.
    score = 4.6 * twilight / (1.0 + 0.35 * twilight)
    score += daylight * (0.7 * broken + 0.3 * (1.0 - overcast))
    score += dark * (-0.9 + 0.5 * (1.0 - overcast))
    score -= 0.8 * overcast + 1.8 * haze + 1.2 * rain
    return np.asarray(score - CENTRE)


def _faulted(raw: NDArray[np.float64], fault: NDArray[np.object_]) -> NDArray[np.float64]:
    """Where each fault puts a frame of appeal ``raw``, floored (dead frames not yet placed)."""
    raw = raw.copy()
    for name, base in FAULT_BASE.items():
        hit = fault == name
        raw[hit] = base + FAULT_KEEPS[name] * raw[hit]
    return np.maximum(raw, FLOOR)


def beauty(frames: pd.DataFrame, rng: np.random.Generator) -> NDArray[np.float64]:
    """Hidden beauty per frame: scene, fault and a little taste, on a N(0, 1.5²)-like scale.

    A dead frame is the worst of all; other faults sit well below any working frame of the
    same scene. The distribution keeps reality's skew: many ordinary frames, few spectacular.
    """
    fault = frames["fault"].to_numpy()
    value = _faulted(scene_score(frames) + rng.normal(0.0, TASTE, size=len(frames)), fault)
    dead = fault == "dead"
    value[dead] = FLOOR - 0.4 - 0.2 * rng.random(int(dead.sum()))
    return np.asarray(np.round(value, 4), dtype=np.float64)


def visible_beauty(frames: pd.DataFrame) -> NDArray[np.float64]:
    """The part of :func:`beauty` a frame's pixels can show: scene and fault, without the
    taste term (dead frames at their mean). The best any model of the images can predict."""
    fault = frames["fault"].to_numpy()
    value = _faulted(scene_score(frames), fault)
    value[fault == "dead"] = FLOOR - 0.5
    return value
