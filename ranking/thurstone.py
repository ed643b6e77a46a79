"""Scores that read votes the way a real crowd gives them: Thurstone's model with its noise.

Bradley-Terry reads every vote as a clean logistic draw on the score gap, so a lapse on a
clear pair pulls hard on both photos, "no preference" counts as half a win each way, and a
pair answered five times counts as five independent pairs. Real crowds lapse, answer "no
preference" mostly near ties, and share a pair effect across a pair's answers
(:class:`ranking.realistic.CrowdNoise`). :class:`Thurstone` takes the maximum a posteriori
merits under that model, the same likelihood :func:`ranking.realistic.calibrate` fits the
crowd by: for each pair of images with ``k`` answers,

    L_ab = E_e[ prod over answers of P(answer | m_a - m_b + e) ],  e ~ N(0, pair_sd^2),

the expectation by Gauss-Hermite quadrature, each answer's probability at its worker's
discrimination (learned by Crowd-BT, :class:`ranking.reliability.CrowdBT`, so that a spammer's
answers weigh about nothing), and a Gaussian prior on the merits. Without a crowd it
calibrates one on the votes themselves.

Thurstone, L. L. (1927). A law of comparative judgment. *Psychological Review*, 34(4), 273-286.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from ranking.realistic import CrowdNoise, calibrate
from ranking.reliability import CrowdBT
from ranking.votes import validate_votes

__all__ = ["Thurstone"]

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(16)
_LOG_WEIGHTS = np.log(_WEIGHTS / _WEIGHTS.sum())


class Thurstone:
    """Merit scores under the realistic crowd model, with standard errors.

    Parameters
    ----------
    noise : CrowdNoise, optional
        The crowd; calibrated on the votes being fitted when not given (which needs at least
        50 votes; pairs asked more than once identify the pair effect).
    alpha : float
        Prior precision of the scores, in score units as for
        :class:`ranking.bradley_terry.BradleyTerry`.
    weigh_workers : bool
        Read each answer at its worker's discrimination as Crowd-BT learns it (mean 1, about
        0 for a spammer); otherwise every worker's is 1.
    tol : float
        Convergence tolerance on the largest gradient component.
    max_iter : int
        Most L-BFGS iterations.

    Attributes
    ----------
    scores_, se_ : pd.Series
        Centred merits divided by the crowd's ``scale`` (so on the scale of a Bradley-Terry fit
        of the same votes), and their standard errors, by image.
    discrimination_ : pd.Series or None
        Each worker's discrimination the answers were read at (None without
        ``weigh_workers``).
    noise_ : CrowdNoise
        The crowd the scores were fitted under.
    converged_ : bool
        Whether the optimiser met ``tol``.
    """

    def __init__(
        self,
        noise: CrowdNoise | None = None,
        alpha: float = 1.0,
        weigh_workers: bool = True,
        tol: float = 1e-6,
        max_iter: int = 1000,
    ):
        self.noise = noise
        self.alpha = alpha
        self.weigh_workers = weigh_workers
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, votes: pd.DataFrame, items: Sequence[str] | None = None) -> Thurstone:
        v = validate_votes(votes)
        v = v[v["left"] != v["right"]].reset_index(drop=True)
        index = (
            pd.Index(items)
            if items is not None
            else pd.Index(pd.unique(pd.concat([v["left"], v["right"]]))).sort_values()
        )
        if not index.is_unique:
            raise ValueError("items must be unique")
        left = index.get_indexer(pd.Index(v["left"]))
        right = index.get_indexer(pd.Index(v["right"]))
        if ((left < 0) | (right < 0)).any():
            raise ValueError("votes name images outside items")
        noise = self.noise if self.noise is not None else calibrate(v).noise
        self.discrimination_: pd.Series | None = None
        s = np.ones(len(v))
        if self.weigh_workers and len(v):
            crowd = CrowdBT(alpha=self.alpha, se="diagonal").fit(v, items=list(index))
            self.discrimination_ = crowd.discrimination_
            s = crowd.discrimination_.reindex(v["worker"]).fillna(1.0).to_numpy().clip(0, None)
        answers = _Answers.of(left, right, v["label"], v["left"], s)
        n = len(index)
        prior = self.alpha / noise.scale**2  # alpha is on scores; merit = scale * score

        def objective(m: np.ndarray) -> tuple[float, np.ndarray]:
            value, slope = answers.loglik(m, noise)
            grad = np.bincount(answers.a, slope, n) - np.bincount(answers.b, slope, n)
            return -value + 0.5 * prior * float(m @ m), -grad + prior * m

        result = minimize(
            objective,
            np.zeros(n),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": self.max_iter, "gtol": self.tol},
        )
        merit = result.x - result.x.mean()
        a, b, count = answers.a, answers.b, answers.count
        gap = merit[a] - merit[b]
        # A pair's answers share its pair effect: together they tell at most 1 / pair_sd^2.
        info = 1 / (noise.pair_sd**2 + 1 / np.maximum(count * noise.vote_information(gap), 1e-12))
        precision = prior + np.bincount(a, info, n) + np.bincount(b, info, n)
        self.scores_ = pd.Series(merit / noise.scale, index=index, name="score")
        self.se_ = pd.Series(1 / np.sqrt(precision) / noise.scale, index=index, name="se")
        self.noise_ = noise
        self.converged_ = bool(result.success)
        return self

    def fit_predict(self, votes: pd.DataFrame, items: Sequence[str] | None = None) -> pd.Series:
        return self.fit(votes, items).scores_


class _Answers:
    """Answers grouped by unordered pair ``a < b``: each answer's pair, outcome and worker
    discrimination."""

    def __init__(
        self, a: np.ndarray, b: np.ndarray, pair: np.ndarray, first_won: np.ndarray,
        tie: np.ndarray, s: np.ndarray,
    ):  # fmt: skip
        self.a, self.b, self.pair = a, b, pair
        self.first_won, self.tie, self.s = first_won, tie, s
        self.count = np.bincount(pair, minlength=a.size).astype(float)

    @classmethod
    def of(
        cls, left: np.ndarray, right: np.ndarray, label: pd.Series, left_name: pd.Series,
        s: np.ndarray,
    ) -> _Answers:  # fmt: skip
        tie = label.isna().to_numpy()
        left_won = (label == left_name).to_numpy()
        a, b = np.minimum(left, right), np.maximum(left, right)
        first_won = ~tie & (left_won == (left == a))
        keys, pair = np.unique(np.stack([a, b]), axis=1, return_inverse=True)
        return cls(keys[0], keys[1], pair.ravel(), first_won, tie, s)

    def loglik(self, merit: np.ndarray, noise: CrowdNoise) -> tuple[float, np.ndarray]:
        """The pairs' log-likelihood and its slope in each pair's gap ``m_a - m_b``."""
        gap = (merit[self.a] - merit[self.b])[self.pair]
        d = gap[:, None] + noise.pair_sd * _NODES[None, :]  # answers x nodes
        s = self.s[:, None]
        tie = noise.tie_rate(d)
        p = np.clip(noise.win_rate(d, s), 1e-300, 1 - 1e-16)
        dp = noise.win_slope(d, s)
        first, decided = self.first_won[:, None], ~self.tie[:, None]
        log_p = np.where(
            decided,
            np.log1p(-tie) + np.where(first, np.log(p), np.log1p(-p)),
            np.log(np.maximum(tie, 1e-300)),
        )
        slope = np.where(
            decided,
            -noise.tie_slope(d) / (1 - tie) + np.where(first, dp / p, -dp / (1 - p)),
            -d / noise.tie_width**2,  # the slope of log tie_rate
        )
        pairs, nodes = self.a.size, _NODES.size
        ll = _LOG_WEIGHTS + np.stack(
            [np.bincount(self.pair, log_p[:, k], pairs) for k in range(nodes)], axis=1
        )
        top = ll.max(axis=1, keepdims=True)
        weight = np.exp(ll - top)
        total = weight.sum(axis=1, keepdims=True)
        pulls = np.stack([np.bincount(self.pair, slope[:, k], pairs) for k in range(nodes)], 1)
        per_pair = top[:, 0] + np.log(total[:, 0])
        return float(per_pair.sum()), ((weight / total) * pulls).sum(axis=1)
