"""Gold screens: grading one answer, and a worker's gold record.

Every kind of gold is graded by one rule: an answer passes when every *must-keep* photo is
among the selected and no *must-drop* photo is.

- Pair gold: ``must_keep=[expected winner]``, ``must_drop=[loser]``. A "no preference" answer
  selects nothing, so it fails.
- Made gold (:func:`made_gold_screens`): a degraded variant is shown beside *other* good
  photos, never beside its own original. Pair: the other photo must win. 4-up: the variant must
  be dropped; a photo must be kept only when it is known to be among the best, otherwise the
  others may go either way (an honest person may keep or leave a merely good photo).
- Expert 4-up gold: the expert's own must-keep and must-drop photos.

A worker's record is an accuracy with a Wilson score interval rather than a bare ratio, so
that 2 of 2 passed is not read as better than 48 of 50.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

GOLD_COLUMNS = ("worker", "gold_seen", "gold_passed", "accuracy", "lower", "upper")


def grade(
    selected: Collection[str], must_keep: Collection[str], must_drop: Collection[str]
) -> bool:
    """Grade one answer to a gold screen.

    Parameters
    ----------
    selected : collection of str
        The photos the worker selected (for a pair: the winner, or nothing for no preference).
    must_keep, must_drop : collection of str
        Photos that must be, and must not be, among the selected.

    Returns
    -------
    bool
        True when every must-keep photo is selected and no must-drop photo is.

    Raises
    ------
    ValueError
        When the gold cannot be failed (both lists empty) or contradicts itself (a photo in both).
    """
    keep, drop = set(must_keep), set(must_drop)
    if not keep and not drop:
        raise ValueError("a gold screen needs at least one must-keep or must-drop photo")
    if keep & drop:
        raise ValueError(f"photos both must be kept and dropped: {sorted(keep & drop)}")
    chosen = set(selected)
    return keep <= chosen and not (drop & chosen)


@dataclass(frozen=True)
class GoldScreen:
    """A gold screen's photos (the one to drop first) and its must-keep and must-drop lists."""

    images: tuple[str, ...]
    must_keep: tuple[str, ...]
    must_drop: tuple[str, ...]


def made_gold_screens(
    variant: str,
    original: str,
    good: Sequence[str],
    rng: np.random.Generator,
    best: Collection[str] = (),
    partner: tuple[str, str] | None = None,
) -> tuple[GoldScreen, GoldScreen | None]:
    """The pair and 4-up gold screens for one degraded variant.

    Parameters
    ----------
    variant, original : str
        The degraded photo and the photo it was made from. The original never shares a screen
        with its variant: side by side they are a tell, and a judgment of the original's own
        flaws rather than of the damage.
    good : sequence of str
        Photos known to be good enough (above a quantile of the scores, or passing the exposure
        and detail checks); the variant's companions are drawn from them.
    rng : numpy Generator
    best : collection of str
        Photos known to be among the best: the only ones a 4-up gold screen requires kept.
    partner : (variant, original), optional
        A second degraded variant (of another photo) for the 4-up screen: both must be dropped,
        so that clicking at random passes one 4-up gold screen in four rather than one in two.

    Returns
    -------
    (pair, fourup)
        The pair screen (``variant`` against one good photo, which must win) and the 4-up screen
        (``variant``, the partner if any, and good photos up to four; every variant must be
        dropped), or None for the 4-up screen when too few companions exist. Images list
        ``variant`` first, so that a planner can balance where it is shown.
    """
    banned = {variant, original, *(partner or ())}
    pool = [x for x in dict.fromkeys(good) if x not in banned]
    if not pool:
        raise ValueError("made gold needs at least one good photo besides the original")
    drop = (variant,) if partner is None else (variant, partner[0])
    need = 4 - len(drop)
    picks = [pool[i] for i in rng.choice(len(pool), size=min(need, len(pool)), replace=False)]
    pair = GoldScreen((variant, picks[0]), (picks[0],), (variant,))
    if len(picks) < need:
        return pair, None
    keep = tuple(x for x in picks if x in set(best))
    return pair, GoldScreen((*drop, *picks), keep, drop)


def wilson_interval(passed: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion.

    Wilson, E. B. (1927). Probable inference, the law of succession, and statistical
    inference. *JASA* 22(158), 209-212.

    Parameters
    ----------
    passed : int
        Successes.
    n : int
        Trials; with no trials the interval is the uninformative ``(0.0, 1.0)``.
    z : float
        Normal quantile (1.96 for 95%).

    Returns
    -------
    (lower, upper) : tuple of float
    """
    if n < 0 or not 0 <= passed <= n:
        raise ValueError(f"need 0 <= passed <= n, got passed={passed}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = passed / n
    z2 = z * z
    denom = 1.0 + z2 / n
    center = (p + z2 / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / denom
    # At p = 0 or 1 the bound is exactly 0 or 1; computing it would leave rounding error.
    lower = 0.0 if passed == 0 else center - half
    upper = 1.0 if passed == n else center + half
    return lower, upper


def worker_gold(graded: pd.DataFrame, z: float = 1.96) -> pd.DataFrame:
    """Each worker's gold record.

    Parameters
    ----------
    graded : DataFrame
        Columns ``worker`` and ``passed`` (bool), one row per graded gold screen. Rows whose
        ``passed`` is missing (screens that were not gold) still list their worker, with
        ``gold_seen == 0``, so every worker of a judgments table gets a row.
    z : float
        Normal quantile of the Wilson interval.

    Returns
    -------
    DataFrame
        Columns ``worker, gold_seen, gold_passed, accuracy, lower, upper``, one row per worker,
        sorted by worker; ``accuracy`` is NaN and the interval ``(0, 1)`` for a worker who saw
        no gold.
    """
    missing = {"worker", "passed"} - set(graded.columns)
    if missing:
        raise ValueError(f"graded gold lacks columns: {sorted(missing)}")
    passed = graded["passed"]
    known = passed.notna()
    frame = pd.DataFrame(
        {
            "worker": graded["worker"],
            "seen": known.astype(int),
            "ok": (passed.where(known, False).astype(bool) & known).astype(int),
        }
    )
    counts = frame.groupby("worker", sort=True)[["seen", "ok"]].sum()
    rows = []
    for worker, seen, ok in zip(counts.index, counts["seen"], counts["ok"], strict=True):
        lower, upper = wilson_interval(int(ok), int(seen), z)
        rows.append((worker, int(seen), int(ok), ok / seen if seen else math.nan, lower, upper))
    return pd.DataFrame(rows, columns=list(GOLD_COLUMNS))
