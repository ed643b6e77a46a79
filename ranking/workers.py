"""Per-worker statistics for the quality report.

Each statistic answers one question about a worker: how much did they do (HITs, screens),
how do they fare on gold (accuracy with a Wilson interval), do they agree with everyone else
(the share of their pairwise votes that the fitted scores order the same way), are they too
fast (median seconds per screen), and do they click by position rather than by photo (the
share of pair choices on the left, 4-up selection rates by position). A careful worker picks
the left photo about half of the time and selects each 4-up position about equally often; a
worker who always keeps, or never keeps, every 4-up photo shows it in ``fourup_selection_rate``.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence

import pandas as pd

from ranking.gold import worker_gold
from ranking.votes import fourup_pairs

JUDGMENT_COLUMNS = ("worker", "assignment", "kind", "shown", "selected", "seconds", "gold_passed")
FOURUP_POSITIONS = 4
STAT_COLUMNS = (
    "worker",
    "hits",
    "screens",
    "gold_seen",
    "gold_passed",
    "gold_accuracy",
    "gold_lower",
    "gold_upper",
    "consensus_votes",
    "agreement",
    "median_seconds",
    "pair_screens",
    "left_rate",
    "no_preference_rate",
    "fourup_screens",
    "fourup_selection_rate",
    *(f"fourup_rate_{k + 1}" for k in range(FOURUP_POSITIONS)),
)


def _agreement(
    shown: Sequence[str], selected: Sequence[str], scores: Mapping[Hashable, float]
) -> tuple[int, int]:
    """Of one answer's pairwise votes, how many the scores order the same way, and how many
    they can judge: votes on unscored images (a made-gold variant) or on equal scores cannot."""
    agree = judged = 0
    for winner, loser in fourup_pairs(shown, selected):
        w, lo = scores.get(winner, math.nan), scores.get(loser, math.nan)
        if math.isnan(w) or math.isnan(lo) or w == lo:
            continue
        judged += 1
        agree += w > lo
    return agree, judged


def _ratio(numerator: pd.Series, denominator: pd.Series) -> pd.Series:
    """Elementwise ratio, NaN where the denominator is zero."""
    return numerator / denominator.where(denominator > 0)


def worker_stats(judgments: pd.DataFrame, scores: pd.Series) -> pd.DataFrame:
    """Statistics of every worker in a judgments table.

    Parameters
    ----------
    judgments : DataFrame
        One row per answered screen, with columns ``worker, assignment, kind`` (``"pair"`` or
        ``"fourup"``), ``shown`` (image ids in shown order), ``selected`` (the chosen ids: a
        pair's winner, nothing for no preference; any number on a 4-up screen), ``seconds`` and
        ``gold_passed`` (bool for a graded gold screen, missing otherwise).
    scores : Series indexed by image
        Fitted scores, the consensus the votes are checked against.

    Returns
    -------
    DataFrame
        One row per worker, sorted by worker, with the columns of ``STAT_COLUMNS``:

        - ``hits`` distinct assignments, ``screens`` answered screens;
        - ``gold_seen, gold_passed, gold_accuracy, gold_lower, gold_upper`` (Wilson 95%);
        - ``consensus_votes`` pairwise votes (4-up answers broken into wins) that the scores can
          judge, and ``agreement`` the share of them ordered as the scores order them;
        - ``median_seconds`` per screen;
        - ``pair_screens``, ``left_rate`` (share of pair choices on the left, no-preference
          answers left out) and ``no_preference_rate``;
        - ``fourup_screens``, ``fourup_selection_rate`` (share of shown photos selected) and
          ``fourup_rate_1`` .. ``fourup_rate_4`` (how often the photo at each position was
          selected).

        A rate is NaN where the worker gave no answer it could be computed from.
    """
    missing = [c for c in JUDGMENT_COLUMNS if c not in judgments.columns]
    if missing:
        raise ValueError(f"judgments lack columns: {', '.join(missing)}")
    kinds = set(judgments["kind"]) - {"pair", "fourup"}
    if kinds:
        raise ValueError(f"unknown screen kinds: {sorted(map(str, kinds))}")
    shown = [tuple(s) for s in judgments["shown"]]
    selected = [tuple(s) for s in judgments["selected"]]
    is_pair = (judgments["kind"] == "pair").to_numpy()
    consensus = scores.astype(float).to_dict()
    agreement = [_agreement(sh, sel, consensus) for sh, sel in zip(shown, selected, strict=True)]

    rows = pd.DataFrame(
        {
            "worker": judgments["worker"].to_numpy(),
            "assignment": judgments["assignment"].to_numpy(),
            "seconds": pd.to_numeric(judgments["seconds"], errors="coerce").to_numpy(),
            "agree": [a for a, _ in agreement],
            "judged": [j for _, j in agreement],
            "pair": is_pair,
            "choice": [p and len(sel) == 1 for p, sel in zip(is_pair, selected, strict=True)],
            "left": [
                p and len(sel) == 1 and sel[0] == sh[0]
                for p, sh, sel in zip(is_pair, shown, selected, strict=True)
            ],
            "tie": [p and not sel for p, sel in zip(is_pair, selected, strict=True)],
            "fourup": ~is_pair,
            "selection": [
                math.nan if p or not sh else len(set(sel)) / len(sh)
                for p, sh, sel in zip(is_pair, shown, selected, strict=True)
            ],
        }
    )
    for k in range(FOURUP_POSITIONS):
        rows[f"fourup_rate_{k + 1}"] = [
            float(sh[k] in sel) if not p and len(sh) > k else math.nan
            for p, sh, sel in zip(is_pair, shown, selected, strict=True)
        ]

    by = rows.groupby("worker", sort=True)
    sums = by[["agree", "judged", "pair", "choice", "left", "tie", "fourup"]].sum()
    means = by[["selection", *(f"fourup_rate_{k + 1}" for k in range(FOURUP_POSITIONS))]].mean()
    stats = pd.DataFrame(
        {
            "hits": by["assignment"].nunique(),
            "screens": by.size(),
            "consensus_votes": sums["judged"],
            "agreement": _ratio(sums["agree"], sums["judged"]),
            "median_seconds": by["seconds"].median(),
            "pair_screens": sums["pair"],
            "left_rate": _ratio(sums["left"], sums["choice"]),
            "no_preference_rate": _ratio(sums["tie"], sums["pair"]),
            "fourup_screens": sums["fourup"],
            "fourup_selection_rate": means["selection"],
        }
    )
    for k in range(FOURUP_POSITIONS):
        stats[f"fourup_rate_{k + 1}"] = means[f"fourup_rate_{k + 1}"]

    gold = worker_gold(
        pd.DataFrame({"worker": judgments["worker"], "passed": judgments["gold_passed"]})
    ).set_index("worker")
    gold = gold.rename(
        columns={"accuracy": "gold_accuracy", "lower": "gold_lower", "upper": "gold_upper"}
    )
    out = stats.join(gold).rename_axis("worker").reset_index()
    return out[list(STAT_COLUMNS)]
