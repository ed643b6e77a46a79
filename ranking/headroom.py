"""Headroom: the most votes any design could save over random pairs, under a calibrated crowd.

An active design saves votes only by asking answers that carry more information than random
pairs do. Under :class:`ranking.realistic.CrowdNoise` one answer's Fisher information about the
merit gap ``g`` of its pair is

    I(g, s) = sum over outcomes o of (dP_o / dg)^2 / P_o,

with the outcomes "left", "right" and "no preference", their probabilities averaged over the
pair effect (Gauss-Hermite quadrature) and ``s`` the worker's discrimination. Random pairs
carry the mean of ``I`` over the gallery's gaps; no choice of pairs carries more than the
maximum over ``g``, so ``1 - mean / max`` bounds the share of votes a pair design can save
(a bound, since no ranking's comparison graph can put every pair at the best gap, and a
graph of near neighbours only orders images along a chain). Offering batches to the most
discriminating share of the workers raises ``I`` through ``s``; :func:`headroom` bounds that
lever the same way, with the workers' discriminations known exactly.

This is the optimal-design argument of

Pukelsheim, F. (2006). *Optimal Design of Experiments*. SIAM Classics in Applied Mathematics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ranking.realistic import CrowdNoise, discrimination_quantiles

__all__ = ["Headroom", "answer_information", "headroom"]

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(32)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
_GRID = 1201  # merit gaps tabulated, from 0 to the widest gap of the gallery or _WIDEST
_WIDEST = 6.0
_MAX_PAIRS = 1_000_000  # random pairs the mean is taken over
_QUANTILES = 64  # points of the workers' discrimination distribution
_TINY = 1e-12


@dataclass(frozen=True)
class Headroom:
    """What designs could save at most, as shares of the votes random pairs need.

    Attributes
    ----------
    best_gap : float
        The merit gap where one answer informs most.
    random_share : float
        Information of an answer to a random pair, as a share of one at ``best_gap``.
    pairs : float
        Most votes saved by choosing pairs: ``1 - random_share``.
    routing : float
        Most votes saved by offering random pairs only to the ``share`` most discriminating
        workers.
    both : float
        Most votes saved by both together.
    share : float
        The share of workers ``routing`` offers batches to.
    """

    best_gap: float
    random_share: float
    pairs: float
    routing: float
    both: float
    share: float


def answer_information(gap: np.ndarray, noise: CrowdNoise, s: float = 1.0) -> np.ndarray:
    """Fisher information about the merit gap of one answer by a worker of discrimination
    ``s``, at each merit gap in ``gap`` (the pair effect averaged out)."""
    g = np.asarray(gap, dtype=float)
    d = g[..., None] + noise.pair_sd * _NODES
    tie, dtie = noise.tie_rate(d), noise.tie_slope(d)
    win, dwin = noise.win_rate(d, s), noise.win_slope(d, s)
    p_left = ((1 - tie) * win) @ _WEIGHTS
    p_tie = tie @ _WEIGHTS
    d_left = ((1 - tie) * dwin - dtie * win) @ _WEIGHTS
    d_tie = dtie @ _WEIGHTS
    d_right = -d_left - d_tie
    p_right = 1 - p_left - p_tie
    # An outcome that never happens carries no information (its slope vanishes with it).
    terms = [
        np.where(p > _TINY, dp**2 / np.maximum(p, _TINY), 0.0)
        for p, dp in ((p_left, d_left), (p_right, d_right), (p_tie, d_tie))
    ]
    return np.sum(terms, axis=0)


def headroom(merit: np.ndarray, noise: CrowdNoise, share: float = 0.3, seed: int = 0) -> Headroom:
    """Bounds on the votes an active design could save over random pairs.

    Parameters
    ----------
    merit : array
        The gallery's merits (e.g. ``noise.scale`` times Bradley-Terry scores); random pairs
        are drawn from it.
    noise : CrowdNoise
        The crowd.
    share : float
        Share of the workers a routed batch is offered to, in (0, 1].
    seed : int
        Seed of the random pairs the mean is taken over when the gallery has more than
        ``_MAX_PAIRS`` pairs (otherwise it is taken over all of them).
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], not {share}")
    m = np.asarray(merit, dtype=float)
    if m.size < 2:
        raise ValueError("need at least two images")
    if m.size * (m.size - 1) // 2 <= _MAX_PAIRS:
        i, j = np.triu_indices(m.size, 1)
    else:
        rng = np.random.default_rng(seed)
        i, j = rng.integers(m.size, size=(2, _MAX_PAIRS))
        i, j = i[i != j], j[i != j]
    gaps = np.abs(m[i] - m[j])
    # Information is smooth in the gap: tabulate it once per crowd, read the pairs off it.
    grid = np.linspace(0.0, max(_WIDEST, float(gaps.max())), _GRID)
    every = discrimination_quantiles(noise.worker_sd, _QUANTILES)
    top = discrimination_quantiles(noise.worker_sd, _QUANTILES, share)
    curves = [
        np.mean([answer_information(grid, noise, float(s)) for s in workers], axis=0)
        for workers in (every, top)
    ]
    random, routed = (float(np.interp(gaps, grid, c).mean()) for c in curves)
    k = int(np.argmax(curves[0]))
    best, both = float(curves[0][k]), float(curves[1].max())
    return Headroom(
        best_gap=float(grid[k]),
        random_share=random / best,
        pairs=1 - random / best,
        routing=1 - random / routed,
        both=1 - random / both,
        share=share,
    )
