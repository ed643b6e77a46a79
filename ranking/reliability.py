"""Worker reliability learned jointly with the scores (CrowdBT).

Vote model (after Chen, Bennett, Collins-Thompson & Horvitz 2013, "Pairwise ranking aggregation
in a crowdsourced setting", with a discrimination in place of their flip probability): worker
``w`` prefers image ``i`` to ``j`` with probability ``sigmoid(a_w (theta_i - theta_j))``, where
``a_w >= 0`` is the worker's discrimination. ``a_w = 0`` is a coin flip, so a spammer's votes
weigh nothing; a sharp worker's votes weigh more than a plain Bradley-Terry fit would give them.

Fitting alternates two convex steps:

1. scores given discriminations: a Bradley-Terry MAP fit with per-vote scale ``a_w``
   (:func:`ranking.bradley_terry.fit_bt`, same ``alpha`` prior);
2. discriminations given scores: a one-dimensional logistic regression per worker on the score
   differences of the pairs they judged, plus their gold record (below), under a normal prior
   ``a_w ~ N(mu, tau^2)``, clipped at 0, whose mean and spread are re-estimated from all
   workers each round (empirical Bayes by EM: the MAP estimates and their posterior variances),
   so a worker whose few votes all happen to agree is pulled towards the crowd, not to infinity.

Two details keep step 2 honest. The differences are leave-one-out: a worker's own vote has
pulled the pair's scores towards their answer, and left in, agreement feeds on itself until sharp
workers look sharper than they are. One Newton step removes a vote's pull, ``d_k - a_w r_k v_k``
(``r_k`` the vote's gradient term, ``v_k`` the diagonal approximation of the pair difference's
variance). And the scale is a gauge: ``a`` and ``theta`` trade a common factor, so after each
round ``a`` is rescaled to a vote-weighted mean of 1 and ``theta`` inversely; scores are then in
the units of an average vote.

Gold: a worker's record ``gold_seen, gold_passed`` is treated as that many comparisons of a common
unknown score gap ``delta`` (estimated with the discriminations), so passing gold raises ``a_w``
the way agreeing with the crowd does. Gold also starts the fit: a worker's initial ``a_w`` is the
log-odds of their Wilson-shrunk gold accuracy ``(passed + z^2/2) / (seen + z^2)``, floored at 0.

Standard errors are the Laplace ones of the final Bradley-Terry step, taking the
discriminations as known.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.special import expit, logit

from ranking.bradley_terry import SEMethod, fit_bt
from ranking.votes import EncodedVotes, encode_votes

WILSON_Z = 1.96
# Smallest prior variance for the discriminations: keeps the prior from freezing them when the
# workers happen to look alike.
MIN_TAU2 = 1e-2


def _gold_record(gold: pd.DataFrame | None, workers: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    if gold is None:
        return np.zeros(len(workers)), np.zeros(len(workers))
    missing = {"worker", "gold_seen", "gold_passed"} - set(gold.columns)
    if missing:
        raise ValueError(f"gold table is missing columns: {', '.join(sorted(missing))}")
    record = gold.groupby("worker")[["gold_seen", "gold_passed"]].sum()
    record = record.reindex(workers, fill_value=0)  # no NaN to fill: pandas deprecates that
    seen = record["gold_seen"].to_numpy(float)
    passed = record["gold_passed"].to_numpy(float)
    if (passed > seen).any() or (passed < 0).any():
        raise ValueError("gold_passed must lie between 0 and gold_seen")
    return seen, passed


def _initial_discrimination(seen: np.ndarray, passed: np.ndarray) -> np.ndarray:
    shrunk = (passed + WILSON_Z**2 / 2) / (seen + WILSON_Z**2)
    start = np.maximum(logit(shrunk), 0.0)
    has_gold = seen > 0
    if not start[has_gold].any():
        return np.ones(len(seen))
    # Workers without gold start as the average worker with gold.
    start[~has_gold] = start[has_gold].mean()
    return start


def _discrimination(
    x: np.ndarray,
    enc: EncodedVotes,
    start: np.ndarray,
    mean: np.ndarray | float,
    precision: float,
    seen: np.ndarray,
    passed: np.ndarray,
    delta: float,
    steps: int = 25,
) -> tuple[np.ndarray, np.ndarray]:
    """Per-worker MAP of ``a`` by projected Newton; returns ``a`` and the likelihood curvature."""
    n_workers = len(start)
    a = start.copy()
    for _ in range(steps):
        p = expit(a[enc.worker] * x)
        grad = np.bincount(enc.worker, enc.weight * x * (1 - p), n_workers)
        curv = np.bincount(enc.worker, enc.weight * x * x * p * (1 - p), n_workers)
        pg = expit(a * delta)
        grad += delta * (passed - seen * pg)
        curv += seen * delta**2 * pg * (1 - pg)
        a = np.maximum(a + (grad - precision * (a - mean)) / (curv + precision), 0.0)
    return a, curv


def _vote_mean(load: np.ndarray, a: np.ndarray) -> float:
    """Mean discrimination over votes; 0 without votes."""
    total = float(load.sum())
    return float(load @ a) / total if total > 0 else 0.0


def _gold_gap(a: np.ndarray, seen: np.ndarray, passed: np.ndarray, delta: float) -> float:
    """MLE of the common score gap of gold pairs given the discriminations (Newton, floored)."""
    for _ in range(25):
        p = expit(a * delta)
        grad = float(a @ (passed - seen * p))
        curv = float((seen * a * a) @ (p * (1 - p)))
        if curv <= 0:
            break
        delta = max(delta + grad / curv, 1e-3)
    return delta


class CrowdBT:
    """Bradley-Terry scores with per-worker discrimination, learned jointly (see module notes).

    Parameters
    ----------
    alpha : float
        Prior precision of the scores, as in :func:`ranking.bradley_terry.fit_bt`.
    n_rounds : int
        Most alternations of the two steps.
    tol : float
        Stop when no discrimination moves more than this in a round.
    se : {"auto", "exact", "diagonal"}
        Standard-error approximation of the final Bradley-Terry step.

    Attributes
    ----------
    scores_, se_ : pd.Series
        Centred log-strengths (in units of an average vote) and standard errors, by image.
    discrimination_ : pd.Series
        ``a_w`` by worker, vote-weighted mean 1; about 0 for spammers. Workers who appear only
        in the gold table are left out.
    worker_accuracy_ : pd.Series
        Share of each worker's votes that agree with the fitted ranking (a tie counts half).
    gold_gap_ : float
        Estimated score gap of a gold pair (NaN without gold).
    n_rounds_ : int
        Rounds run.
    converged_ : bool
        Whether the discriminations settled within ``tol``.
    """

    def __init__(
        self, alpha: float = 0.01, n_rounds: int = 50, tol: float = 1e-4, se: SEMethod = "auto"
    ):
        self.alpha = alpha
        self.n_rounds = n_rounds
        self.tol = tol
        self.se = se

    def fit(
        self,
        votes: pd.DataFrame,
        gold: pd.DataFrame | None = None,
        items: Sequence[str] | None = None,
    ) -> CrowdBT:
        enc = encode_votes(votes, items)
        n = len(enc.items)
        seen, passed = _gold_record(gold, enc.workers)
        has_gold = bool(seen.any())
        load = np.bincount(enc.worker, enc.weight, len(enc.workers))
        a = _initial_discrimination(seen, passed)
        a /= _vote_mean(load, a) or 1.0
        theta: np.ndarray | None = None
        delta = 1.0
        prior_mean, tau2 = 1.0, 1.0
        self.converged_ = False
        self.n_rounds_ = 0
        for _ in range(self.n_rounds):
            self.n_rounds_ += 1
            scale = a[enc.worker]
            with warnings.catch_warnings():
                # The final fit below reports components and convergence once.
                warnings.simplefilter("ignore")
                fit = fit_bt(
                    n, enc.winner, enc.loser, enc.weight,
                    alpha=self.alpha, scale=scale, init=theta, se="diagonal",
                )  # fmt: skip
            theta = fit.scores
            x = self._loo_differences(theta, enc, scale)
            if has_gold:
                delta = _gold_gap(a, seen, passed, delta)
            new, curv = _discrimination(x, enc, a, prior_mean, 1.0 / tau2, seen, passed, delta)
            prior_mean = float(new.mean())
            spread = (new - prior_mean) ** 2 + 1.0 / (curv + 1.0 / tau2)
            tau2 = max(float(spread.mean()), MIN_TAU2)
            mean = _vote_mean(load, new)
            if mean > 0:
                new /= mean
                theta = theta * mean
                delta /= mean
                prior_mean /= mean
                tau2 /= mean**2
            moved = float(np.abs(new - a).max()) if len(a) else 0.0
            a = new
            if moved < self.tol:
                self.converged_ = True
                break
        final = fit_bt(
            n, enc.winner, enc.loser, enc.weight,
            alpha=self.alpha, scale=a[enc.worker], init=theta, se=self.se,
        )  # fmt: skip
        self.scores_ = pd.Series(final.scores, index=enc.items, name="score")
        self.se_ = pd.Series(final.se, index=enc.items, name="se")
        self.discrimination_ = pd.Series(a, index=enc.workers, name="discrimination")
        diff = final.scores[enc.winner] - final.scores[enc.loser]
        agree = np.where(diff > 0, 1.0, np.where(diff == 0, 0.5, 0.0))
        with np.errstate(invalid="ignore"):
            accuracy = np.bincount(enc.worker, enc.weight * agree, len(enc.workers)) / load
        self.worker_accuracy_ = pd.Series(accuracy, index=enc.workers, name="accuracy")
        self.gold_gap_ = delta if has_gold else float("nan")
        return self

    def _loo_differences(
        self, theta: np.ndarray, enc: EncodedVotes, scale: np.ndarray
    ) -> np.ndarray:
        """Winner-minus-loser score differences with each vote's own pull removed."""
        n = len(theta)
        diff = theta[enc.winner] - theta[enc.loser]
        p = expit(scale * diff)
        info = enc.weight * scale**2 * p * (1 - p)
        precision = self.alpha + np.bincount(enc.winner, info, n) + np.bincount(enc.loser, info, n)
        variance = 1.0 / precision[enc.winner] + 1.0 / precision[enc.loser]
        return diff - scale * enc.weight * (1 - p) * variance

    def fit_predict(
        self,
        votes: pd.DataFrame,
        gold: pd.DataFrame | None = None,
        items: Sequence[str] | None = None,
    ) -> pd.Series:
        return self.fit(votes, gold, items).scores_
