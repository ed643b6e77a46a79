"""Scores that read votes the way a real crowd gives them: Thurstone's model with its noise.

Bradley-Terry reads every vote as a clean logistic draw on the score gap, so a lapse on a
clear pair pulls hard on both photos, "no preference" counts as half a win each way, and a
pair answered five times counts as five independent pairs. Real crowds lapse, answer "no
preference" mostly near ties, and share a pair effect across a pair's answers
(:class:`ranking.realistic.CrowdNoise`). :class:`Thurstone` takes the maximum a posteriori
merits under that model, the same likelihood :func:`ranking.realistic.calibrate` fits the
crowd by: for each pair of images with ``k`` answers,

    L_ab = E_e[ prod over answers of P(answer | m_a - m_b + e) ],  e ~ N(0, pair_sd^2),

the expectation by Gauss-Hermite quadrature, each answer's probability averaged over the
crowd's discriminations, and a Gaussian prior on the merits. Without a crowd it calibrates one
on the votes themselves.

Thurstone, L. L. (1927). A law of comparative judgment. *Psychological Review*, 34(4), 273-286.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy.optimize import minimize

from ranking.realistic import CrowdNoise, calibrate, discrimination_quantiles
from ranking.votes import validate_votes

__all__ = ["Thurstone"]

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(16)
_LOG_WEIGHTS = np.log(_WEIGHTS / _WEIGHTS.sum())
_QUANTILES = 32  # discriminations a crowd's answer probability is averaged over
_STEP = 0.01  # grid step of the tabulated answer probabilities, in merit units


def _answer_tables(noise: CrowdNoise, reach: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``log P(outcome | d)`` and its slope on a grid of consensus ``d``, for the outcomes
    (first image won, second won, no preference), averaged over the crowd's workers."""
    grid = np.arange(-reach, reach + _STEP / 2, _STEP)
    s = discrimination_quantiles(noise.worker_sd, _QUANTILES)
    tie = noise.tie_rate(grid)
    first = (1 - tie) * np.mean(noise.win_rate(grid[None, :], s[:, None]), axis=0)
    probs = np.stack([first, 1 - first - tie, tie])
    log_p = np.log(np.clip(probs, 1e-300, None))
    return grid, log_p, np.gradient(log_p, grid, axis=1)


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
    tol : float
        Convergence tolerance on the largest gradient component.
    max_iter : int
        Most L-BFGS iterations.

    Attributes
    ----------
    scores_, se_ : pd.Series
        Centred merits divided by the crowd's ``scale`` (so on the scale of a Bradley-Terry fit
        of the same votes), and their standard errors, by image.
    noise_ : CrowdNoise
        The crowd the scores were fitted under.
    converged_ : bool
        Whether the optimiser met ``tol``.
    """

    def __init__(
        self,
        noise: CrowdNoise | None = None,
        alpha: float = 1.0,
        tol: float = 1e-6,
        max_iter: int = 1000,
    ):
        self.noise = noise
        self.alpha = alpha
        self.tol = tol
        self.max_iter = max_iter

    def fit(self, votes: pd.DataFrame, items: Sequence[str] | None = None) -> Thurstone:
        v = validate_votes(votes)
        v = v[v["left"] != v["right"]]
        index = (
            pd.Index(items)
            if items is not None
            else pd.Index(pd.unique(pd.concat([v["left"], v["right"]]))).sort_values()
        )
        if not index.is_unique:
            raise ValueError("items must be unique")
        noise = self.noise if self.noise is not None else calibrate(v).noise
        left = index.get_indexer(pd.Index(v["left"]))
        right = index.get_indexer(pd.Index(v["right"]))
        if ((left < 0) | (right < 0)).any():
            raise ValueError("votes name images outside items")
        a, b, counts = _pairs(left, right, v["label"], v["left"])
        n = len(index)
        prior = self.alpha / noise.scale**2  # alpha is on scores; merit = scale * score
        reach = 12.0 + 8 * noise.pair_sd
        grid, log_p, slope = _answer_tables(noise, reach)
        offsets = noise.pair_sd * _NODES

        def objective(m: np.ndarray) -> tuple[float, np.ndarray]:
            d = np.clip((m[a] - m[b])[:, None] + offsets[None, :], -reach, reach)
            values, slopes = _interpolate(d, grid, log_p, slope)
            ll = _LOG_WEIGHTS[None, :] + np.einsum("pk,kpn->pn", counts, values)
            top = ll.max(axis=1, keepdims=True)
            w = np.exp(ll - top)
            total = w.sum(axis=1, keepdims=True)
            per_pair = top[:, 0] + np.log(total[:, 0])
            pull = np.einsum("pk,kpn->pn", counts, slopes)
            g = ((w / total) * pull).sum(axis=1)
            grad = np.bincount(a, g, n) - np.bincount(b, g, n)
            value = -per_pair.sum() + 0.5 * prior * float(m @ m)
            return float(value), -grad + prior * m

        result = minimize(
            objective,
            np.zeros(n),
            jac=True,
            method="L-BFGS-B",
            options={"maxiter": self.max_iter, "gtol": self.tol},
        )
        merit = result.x - result.x.mean()
        gap = merit[a] - merit[b]
        answers = counts.sum(axis=1)
        # A pair's answers share its pair effect: together they tell at most 1 / pair_sd^2.
        info = 1 / (noise.pair_sd**2 + 1 / np.maximum(answers * noise.vote_information(gap), 1e-12))
        precision = prior + np.bincount(a, info, n) + np.bincount(b, info, n)
        self.scores_ = pd.Series(merit / noise.scale, index=index, name="score")
        self.se_ = pd.Series(1 / np.sqrt(precision) / noise.scale, index=index, name="se")
        self.noise_ = noise
        self.converged_ = bool(result.success)
        return self

    def fit_predict(self, votes: pd.DataFrame, items: Sequence[str] | None = None) -> pd.Series:
        return self.fit(votes, items).scores_


def _interpolate(
    d: np.ndarray, grid: np.ndarray, y: np.ndarray, dy: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Cubic Hermite interpolation of each row of ``y`` (slopes ``dy``) on ``grid`` at ``d``,
    with its exact derivative: an optimiser's line search needs the two to agree."""
    h = grid[1] - grid[0]
    x = (d - grid[0]) / h
    i = np.clip(np.floor(x).astype(np.intp), 0, grid.size - 2)
    t = x - i
    t2, t3 = t * t, t * t * t
    y0, y1, m0, m1 = y[:, i], y[:, i + 1], h * dy[:, i], h * dy[:, i + 1]
    value = (2 * t3 - 3 * t2 + 1) * y0 + (t3 - 2 * t2 + t) * m0 + (3 * t2 - 2 * t3) * y1
    value += (t3 - t2) * m1
    slope = (6 * t2 - 6 * t) * (y0 - y1) + (3 * t2 - 4 * t + 1) * m0 + (3 * t2 - 2 * t) * m1
    return value, slope / h


def _pairs(
    left: np.ndarray, right: np.ndarray, label: pd.Series, left_name: pd.Series
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Unordered pairs ``a < b`` and their answer counts (a won, b won, no preference)."""
    tie = label.isna().to_numpy()
    left_won = (label == left_name).to_numpy()
    a, b = np.minimum(left, right), np.maximum(left, right)
    a_won = ~tie & (left_won == (left == a))
    outcome = np.where(tie, 2, np.where(a_won, 0, 1))
    keys, inverse = np.unique(np.stack([a, b]), axis=1, return_inverse=True)
    counts = np.zeros((keys.shape[1], 3))
    np.add.at(counts, (inverse.ravel(), outcome), 1)
    return keys[0], keys[1], counts
