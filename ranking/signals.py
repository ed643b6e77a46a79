"""Per-worker evidence for review: one row of signals per worker, each with its own test.

:func:`worker_signals` reads a tidy judgments table (one row per answered screen, as
``crowd.judgments.judgments_table`` or a simulation writes it) and returns, per worker, the
counts behind every signal and the statistic that says how surprising they are for a careful
worker. It decides nothing: the review policy (``crowd/review.py``) weighs them.

The signals and their tests:

- **Gold**: screens with a known answer passed, with a Wilson score interval (Wilson 1927,
  :func:`ranking.gold.wilson_interval`).
- **Position bias**: how often the photo shown first was chosen. Positions are shuffled per
  answer, so for a careful worker a pair's left photo wins half of the time and a kept 4-up photo
  stood first a quarter of the time. The count of first-position picks is then a sum of
  Bernoulli trials with known probabilities (a Poisson binomial); ``position_p`` is its exact
  one-sided tail, by convolving the pair and 4-up binomials.
- **Speed**: the worker's median seconds per screen against the crowd's (the median of the
  workers' medians, which stands while fewer than half the workers rush), and the screens
  rushed (under ``fast_ratio`` of the crowd's median) with an exact binomial tail against the
  rate ``fast_base`` a careful worker stays under.
- **Keep all / keep none** (4-up): screens where every photo, or none, was kept; one-sided
  exact binomial tests (``scipy.stats.binom.sf``) against a
  baseline rate that a careful worker does not exceed.
- **Agreement with the consensus**: on non-gold screens, the share of the worker's decisions
  the crowd's fitted scores agree with (a pair's winner scored higher; a 4-up photo kept when
  scored above the screen's mean, left otherwise), with its Wilson 95% interval. The consensus is
  cross-fitted (:func:`cross_fitted_scores`): nobody is judged by scores their own answers
  made. A random clicker agrees half of the time; ``crowd_agreement`` (the median worker's
  rate) says how far above chance a looking worker gets with the consensus as it stands, which
  is little while few answers are in.
- **Learned reliability** (optional): the Crowd-BT discrimination fitted per worker (mean 1,
  about 0 for noise), passed in where a fit is available.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Hashable, Mapping

import numpy as np
import pandas as pd
from scipy.stats import binom

from ranking.bradley_terry import BradleyTerry
from ranking.gold import wilson_interval

INPUT_COLUMNS = ("worker", "assignment", "kind", "shown", "selected", "seconds", "gold_passed")
SIGNAL_COLUMNS = (
    "worker",
    "hits",
    "screens",
    "gold_seen",
    "gold_passed",
    "gold_lower",
    "gold_upper",
    "first_picks",
    "first_trials",
    "first_expected",
    "position_p",
    "median_seconds",
    "crowd_seconds",
    "speed_ratio",
    "fast_screens",
    "fast_p",
    "fourup_screens",
    "all_kept",
    "none_kept",
    "all_p",
    "none_p",
    "agreement_decisions",
    "agreement",
    "agreement_lower",
    "agreement_upper",
    "crowd_agreement",
    "reliability",
)


def poisson_binomial_sf(k: int, n_half: int, n_quarter: int) -> float:
    """P(X >= k) for X = Binomial(n_half, 1/2) + Binomial(n_quarter, 1/4), exactly."""
    if k <= 0:
        return 1.0
    pmf = np.convolve(
        binom.pmf(np.arange(n_half + 1), n_half, 0.5),
        binom.pmf(np.arange(n_quarter + 1), n_quarter, 0.25),
    )
    return float(min(1.0, pmf[k:].sum())) if k < len(pmf) else 0.0


def binomial_sf(k: int, n: int, p: float) -> float:
    """One-sided exact binomial p-value, P(X >= k) for X ~ Binomial(n, p); 1.0 when n = 0."""
    if n == 0 or k <= 0:
        return 1.0
    return float(binom.sf(k - 1, n, p))


def _position(shown: tuple[str, ...], selected: tuple[str, ...], pair: bool) -> tuple[int, int]:
    """(first-position picks, trials) of one answer; a pair's no-preference is no trial."""
    if pair:
        return (int(selected[0] == shown[0]), 1) if len(selected) == 1 else (0, 0)
    kept = set(selected)
    return int(bool(shown) and shown[0] in kept), len(kept)


def _agreement(
    shown: tuple[str, ...], selected: tuple[str, ...], scores: Mapping[Hashable, float]
) -> tuple[int, int]:
    """(decisions the consensus agrees with, decisions it can judge) of one answer.

    A pair is one decision: the winner should have the higher score. On a 4-up screen every
    scored photo is one keep-or-leave decision: the consensus keeps the photos scored above the
    mean of the screen's scores. Unscored photos (made-gold variants) are not judged.
    """
    if len(shown) == 2:
        if len(selected) != 1:
            return 0, 0
        loser = shown[1] if selected[0] == shown[0] else shown[0]
        w, lo = scores.get(selected[0], math.nan), scores.get(loser, math.nan)
        if math.isnan(w) or math.isnan(lo) or w == lo:
            return 0, 0
        return int(w > lo), 1
    known = {x: scores[x] for x in shown if x in scores and not math.isnan(scores[x])}
    if len(known) < 2:
        return 0, 0
    mean = sum(known.values()) / len(known)
    kept = set(selected)
    agree = judged = 0
    for image, score in known.items():
        if score == mean:
            continue
        judged += 1
        agree += (image in kept) == (score > mean)
    return agree, judged


def cross_fitted_scores(
    votes: pd.DataFrame, folds: int = 5, alpha: float = 0.1
) -> dict[str, pd.Series]:
    """Consensus scores for each worker from everyone else's votes (cross-fitting).

    Workers are dealt into ``folds`` groups (in sorted order); each group's scores are a
    Bradley-Terry fit of the other groups' votes, so that no worker is checked against a
    consensus their own answers shaped (with three answers a screen, a worker's own votes would
    pull a random clicker's agreement well above one half).

    Parameters
    ----------
    votes : DataFrame
        ``worker, left, right, label`` (non-gold votes; ties and self-pairs are dropped).
    folds : int
        Groups; at least 2.
    alpha : float
        The fit's L2 prior.

    Returns
    -------
    dict of worker to Series
        The consensus each worker is judged against (empty Series where nothing is left).
    """
    if folds < 2:
        raise ValueError("cross-fitting needs at least 2 folds")
    v = votes[votes["label"].notna() & (votes["left"] != votes["right"])]
    workers = sorted(map(str, v["worker"].unique()))
    fold_of = {w: i % folds for i, w in enumerate(workers)}
    fold = v["worker"].astype(str).map(fold_of)
    fitted: dict[int, pd.Series] = {}
    for k in range(folds):
        others = v[fold != k][["worker", "left", "right", "label"]]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # a sparse fold may split into components
            fitted[k] = (
                BradleyTerry(alpha=alpha, se="diagonal").fit_predict(others)
                if not others.empty
                else pd.Series(dtype=float)
            )
    return {w: fitted[fold_of[w]] for w in workers}


def worker_signals(
    judgments: pd.DataFrame,
    scores: pd.Series | Mapping[str, pd.Series] | None = None,
    reliability: Mapping[str, float] | None = None,
    *,
    all_none_base: float = 0.25,
    fast_ratio: float = 0.35,
    fast_base: float = 0.2,
) -> pd.DataFrame:
    """Every worker's review signals.

    Parameters
    ----------
    judgments : DataFrame
        One row per answered screen: ``worker, assignment, kind`` (``"pair"`` or ``"fourup"``),
        ``shown`` (image ids in shown order), ``selected``, ``seconds`` and ``gold_passed``
        (bool on a graded gold screen, missing elsewhere).
    scores : Series indexed by image, or mapping of worker to Series, optional
        The crowd's fitted scores, the consensus for ``agreement`` (NaN without them); a
        mapping gives each worker their own (see :func:`cross_fitted_scores`). Images without a
        score (made-gold variants) are not judged.
    reliability : mapping of worker to float, optional
        Learned reliability (Crowd-BT discrimination) where a fit is available.
    all_none_base : float
        The rate of keep-all and of keep-none 4-up answers a careful worker stays under; the
        tails ``all_p`` and ``none_p`` are taken against it.
    fast_ratio, fast_base : float
        A screen answered in under ``fast_ratio`` times the crowd's median seconds per screen
        is rushed; ``fast_p`` is the tail of the worker's rushed screens against a careful
        worker's rate ``fast_base``.

    Returns
    -------
    DataFrame
        One row per worker (sorted) with the columns of :data:`SIGNAL_COLUMNS`: counts, the
        Wilson bounds of gold and agreement, the exact tails ``position_p``, ``all_p``,
        ``none_p``, and ``speed_ratio`` (worker median / crowd median seconds). A statistic the
        worker gave no answer for is NaN (a tail is 1.0).
    """
    missing = [c for c in INPUT_COLUMNS if c not in judgments.columns]
    if missing:
        raise ValueError(f"judgments lack columns: {', '.join(missing)}")
    for name, rate in (("all_none_base", all_none_base), ("fast_base", fast_base)):
        if not 0 < rate < 1:
            raise ValueError(f"{name} is a rate strictly between 0 and 1")
    if scores is None:
        shared: dict[Hashable, float] | None = {}
        own: dict[str, dict[Hashable, float]] = {}
    elif isinstance(scores, pd.Series):
        shared, own = scores.astype(float).to_dict(), {}
    else:
        shared, own = None, {str(w): s.astype(float).to_dict() for w, s in scores.items()}
    per: dict[str, dict[str, float]] = {}
    seconds: dict[str, list[float]] = {}
    hits: dict[str, set[object]] = {}
    columns = [judgments[c].tolist() for c in INPUT_COLUMNS]
    for name, assignment, kind, shown_in, selected_in, secs, passed in zip(*columns, strict=True):
        worker = str(name)
        row = per.setdefault(worker, dict.fromkeys(_COUNTS, 0))
        hits.setdefault(worker, set()).add(assignment)
        shown = tuple(str(x) for x in shown_in)
        selected = tuple(str(x) for x in selected_in)
        pair = kind == "pair"
        row["screens"] += 1
        sec = pd.to_numeric(secs, errors="coerce")
        if not pd.isna(sec):
            seconds.setdefault(worker, []).append(float(sec))
        first, trials = _position(shown, selected, pair)
        row["first_picks"] += first
        row["half_trials" if pair else "quarter_trials"] += trials
        gold = passed is not None and not pd.isna(passed)
        if gold:
            row["gold_seen"] += 1
            row["gold_passed"] += bool(passed)
        if not pair:
            row["fourup_screens"] += 1
            kept = len(set(selected))
            row["all_kept"] += kept == len(shown)
            row["none_kept"] += kept == 0
        consensus = shared if shared is not None else own.get(worker, {})
        if not gold and consensus:
            agree, judged = _agreement(shown, selected, consensus)
            row["agree"] += agree
            row["judged"] += judged
    rates = [c["agree"] / c["judged"] for c in per.values() if c["judged"]]
    crowd_agreement = float(np.median(rates)) if rates else math.nan
    medians = {w: float(np.median(s)) for w, s in seconds.items() if s}
    crowd_seconds = float(np.median(list(medians.values()))) if medians else math.nan
    rushed = {w: int(sum(x < fast_ratio * crowd_seconds for x in s)) for w, s in seconds.items()}
    rows = []
    for worker in sorted(per):
        c = per[worker]
        gold_lower, gold_upper = wilson_interval(int(c["gold_passed"]), int(c["gold_seen"]))
        agr_lower, agr_upper = wilson_interval(int(c["agree"]), int(c["judged"]))
        trials = int(c["half_trials"] + c["quarter_trials"])
        median = medians.get(worker, math.nan)
        n4 = int(c["fourup_screens"])
        rows.append(
            (
                worker,
                len(hits[worker]),
                int(c["screens"]),
                int(c["gold_seen"]),
                int(c["gold_passed"]),
                gold_lower,
                gold_upper,
                int(c["first_picks"]),
                trials,
                0.5 * c["half_trials"] + 0.25 * c["quarter_trials"],
                poisson_binomial_sf(
                    int(c["first_picks"]), int(c["half_trials"]), int(c["quarter_trials"])
                ),
                median,
                crowd_seconds,
                median / crowd_seconds if crowd_seconds > 0 else math.nan,
                rushed.get(worker, 0),
                binomial_sf(rushed.get(worker, 0), len(seconds.get(worker, [])), fast_base),
                n4,
                int(c["all_kept"]),
                int(c["none_kept"]),
                binomial_sf(int(c["all_kept"]), n4, all_none_base),
                binomial_sf(int(c["none_kept"]), n4, all_none_base),
                int(c["judged"]),
                c["agree"] / c["judged"] if c["judged"] else math.nan,
                agr_lower,
                agr_upper,
                crowd_agreement,
                math.nan if reliability is None else float(reliability.get(worker, math.nan)),
            )
        )
    return pd.DataFrame(rows, columns=list(SIGNAL_COLUMNS))


_COUNTS = (
    "screens",
    "gold_seen",
    "gold_passed",
    "first_picks",
    "half_trials",
    "quarter_trials",
    "fourup_screens",
    "all_kept",
    "none_kept",
    "agree",
    "judged",
)
