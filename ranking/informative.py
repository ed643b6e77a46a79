"""Active pairs chosen by expected information about the ranking, under a calibrated crowd.

For a candidate pair ``(i, j)`` the current fit gives the merit gap's posterior
``N(mu, v)`` (``mu = scale (score_i - score_j)``, ``v = scale^2 (se_i^2 + se_j^2)``), and the
pair is misordered with probability ``Phi(-|mu| / sqrt v)``. The batch's answers to the pair
add information ``J`` about the gap, and the *gain* of asking is the expected fall in that
probability once they are in (a preposterior average over the answers' outcomes). Under
:class:`ranking.realistic.CrowdNoise`, ``n`` answers to one pair tell about its consensus
``n I(mu)`` (``I``: one answer's information, which lapses and no-preference answers shrink)
but about the merit gap only ``1 / (pair_sd^2 + 1 / (n I))``: the pair effect is shared by
every answer, so a pair asked before gains less, and a pair the crowd cannot resolve (large
``pair_sd``, mostly ties, mostly lapses) gains about nothing however often it is asked.

With ``focus=k`` each pair's gain is weighted by the chance that either image is in the top
``k`` (normal approximation), so the batch goes to ordering the top tier.

A batch takes the pairs of largest gain greedily, no pair twice and no image more than
``cap`` times, and mixes in a share ``explore`` of random pairs. **Fallback rule**: the batch
is random balanced pairs instead when the chosen pairs' predicted gain is at most
``min_advantage`` (1.25) times the predicted gain of as many random pairs (the mean gain over
the candidates), or below ``min_gain`` (0.001) misordered pairs put right per pair asked. The
model then sees no pay-off in choosing (a crowd whose answers are mostly lapses or no
preference, pairs asked so often that their pair effects dominate), and random pairs keep the
design exactly at the random baseline.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

from ranking import methods
from ranking.active import _beliefs
from ranking.design import balanced_screens
from ranking.methods import FitData, Fitted
from ranking.realistic import CrowdNoise

__all__ = ["BatchChoice", "current_fit", "informative_pairs", "pair_gain", "random_pairs"]

_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(12)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()
MIN_ADVANTAGE = 1.25
MIN_GAIN = 0.001
CAP = 1.1  # most appearances of one image in a batch, as a multiple of the even share


@dataclass(frozen=True)
class BatchChoice:
    """A batch of pairs, whether it is the active choice or the random fallback, and the
    predicted gains (expected misordered pairs put right) of the active and a random batch."""

    pairs: list[tuple[str, str]]
    active: bool
    gain_active: float
    gain_random: float


def current_fit(
    votes: pd.DataFrame,
    images: Sequence[str],
    alpha: float = 1.0,
    method: str = "bt",
    noise: CrowdNoise | None = None,
) -> Fitted:
    """The fit a batch is planned from, scores and standard errors for every image, by the
    aggregation ``method`` (``noise``: the crowd, for methods that read it), with diagonal
    standard errors, linear in the gallery's size at any size. Between rounds some images are
    still apart from the rest; the planner's gain already prices that uncertainty, so the
    fit's warnings about it are left unsaid."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "the comparison graph has")
        warnings.filterwarnings("ignore", "the images fall into")
        data = FitData(votes, list(images), noise=noise, se="diagonal")
        return methods.get(method).fit(data, alpha)


def pair_gain(
    mu: np.ndarray, v: np.ndarray, asked: np.ndarray, new: int, noise: CrowdNoise
) -> np.ndarray:
    """Expected fall in the misordering probability of pairs with gap posterior ``N(mu, v)``,
    asked ``asked`` times before, from ``new`` more answers (in merit units)."""
    info = noise.vote_information(mu)
    p2 = noise.pair_sd**2
    with np.errstate(divide="ignore"):
        before = np.where(asked > 0, 1 / (p2 + 1 / np.maximum(asked * info, 1e-300)), 0.0)
        after = 1 / (p2 + 1 / np.maximum((asked + new) * info, 1e-300))
    extra = np.maximum(after - before, 0.0)
    v = np.maximum(v, 1e-12)
    v_post = 1 / (1 / v + extra)
    spread = np.sqrt(np.maximum(v - v_post, 0.0))
    err = ndtr(-np.abs(mu) / np.sqrt(v))
    shifted = np.abs(mu[:, None] + spread[:, None] * _NODES[None, :])
    err_after = ndtr(-shifted / np.sqrt(v_post)[:, None]) @ _WEIGHTS
    return np.maximum(err - err_after, 0.0)


def random_pairs(
    images: Sequence[str],
    n_pairs: int,
    seed: int,
    available: Mapping[tuple[str, str], int] | None = None,
) -> list[tuple[str, str]]:
    """Random balanced pairs; with ``available`` (answers left by ``(a, b)``, ``a < b``), a pair
    without answers left is swapped for a random pair that has some, distinct in the batch."""
    screens = [(s[0], s[1]) for s in balanced_screens(list(images), 2, n_pairs, seed)]
    if available is None:
        return screens
    rng = np.random.default_rng(seed + 1)
    left = dict(available)
    spare = [p for p, k in left.items() if k > 0]
    rng.shuffle(spare)
    out: list[tuple[str, str]] = []
    for a, b in screens:
        key = (a, b) if a < b else (b, a)
        if left.get(key, 0) > 0:
            left[key] -= 1
            out.append((a, b))
            continue
        while spare and left.get(spare[-1], 0) <= 0:
            spare.pop()
        if not spare:
            continue
        key = spare[-1]
        left[key] -= 1
        out.append(key)
    return out


def _candidates(
    mu: np.ndarray, ids: list[str], window: int, available: Mapping[tuple[str, str], int] | None
) -> tuple[np.ndarray, np.ndarray]:
    n = len(ids)
    if n <= 2 * window:
        i, j = np.triu_indices(n, 1)
    else:  # only images near each other in the current order can trade places
        order = np.argsort(mu)
        rows = [(order[k], order[k + d]) for d in range(1, window + 1) for k in range(n - d)]
        i, j = (np.array(x) for x in zip(*rows, strict=True))
    if available is not None:
        keep = np.array(
            [available.get((ids[a], ids[b]) if ids[a] < ids[b] else (ids[b], ids[a]), 0) > 0
             for a, b in zip(i, j, strict=True)],
            dtype=bool,
        )  # fmt: skip
        i, j = i[keep], j[keep]
    return i, j


def informative_pairs(
    images: Sequence[str],
    n_pairs: int,
    scores: pd.Series,
    se: pd.Series,
    noise: CrowdNoise,
    seed: int,
    *,
    asked: Mapping[tuple[str, str], int] | None = None,
    assignments: int = 1,
    focus: int | None = None,
    explore: float = 0.15,
    min_advantage: float = MIN_ADVANTAGE,
    min_gain: float = MIN_GAIN,
    cap: int | None = None,
    window: int = 50,
    available: Mapping[tuple[str, str], int] | None = None,
) -> BatchChoice:
    """The next batch's pairs by expected gain in ranking, or random pairs by the fallback rule.

    Parameters
    ----------
    images : sequence of str
        Image ids.
    n_pairs : int
        Pairs (screens) in the batch; each is answered ``assignments`` times.
    scores, se : Series indexed by image
        The current fit (Bradley-Terry scores and standard errors).
    noise : CrowdNoise
        The crowd, as calibrated; ``noise.scale`` turns scores into merit.
    seed : int
        Random seed.
    asked : mapping, optional
        Answers so far by pair ``(a, b)`` with ``a < b``.
    focus : int, optional
        Order the top ``focus`` images first.
    explore : float
        Share of the batch that is random pairs.
    min_advantage, min_gain : float
        The fallback rule's thresholds (see the module docstring).
    cap : int, optional
        Most appearances of one image in the batch; by default 1.1 times the even share
        (rounded up), at least 2.
    window : int
        With more than ``2 window`` images, candidates are pairs within ``window`` places of
        each other in the current order.
    available : mapping, optional
        Answers that can still be had by pair (a replay's recorded answers left); pairs with
        none are never chosen.
    """
    ids = list(images)
    n = len(ids)
    rng = np.random.default_rng(seed)
    mu0, sd0 = _beliefs(ids, scores, se)
    mu, sd = noise.scale * mu0, noise.scale * sd0
    i, j = _candidates(mu, ids, window, available)
    if n_pairs <= 0 or i.size == 0:
        return BatchChoice([], False, 0.0, 0.0)
    asked = asked or {}
    prior = np.array(
        [asked.get((ids[a], ids[b]) if ids[a] < ids[b] else (ids[b], ids[a]), 0)
         for a, b in zip(i, j, strict=True)],
        dtype=float,
    )  # fmt: skip
    gain = pair_gain(mu[i] - mu[j], sd[i] ** 2 + sd[j] ** 2, prior, assignments, noise)
    if focus is not None and 0 < focus < n:
        cut = np.sort(mu)[::-1][focus - 1]
        top = ndtr((mu - cut) / np.maximum(sd, 1e-9))
        gain = gain * np.maximum(top[i], top[j])
    n_random = round(explore * n_pairs)
    n_active = n_pairs - n_random
    limit = cap if cap is not None else max(2, math.ceil(CAP * 2 * n_pairs / n))
    # Ties in gain are broken at random so that equal pairs do not always go to the same images.
    order = np.lexsort((rng.random(gain.size), -gain))
    used = np.zeros(n, dtype=int)
    chosen: list[int] = []
    for k in order:
        if len(chosen) == n_active:
            break
        a, b = i[k], j[k]
        if used[a] < limit and used[b] < limit:
            chosen.append(int(k))
            used[a] += 1
            used[b] += 1
    gain_active = float(gain[chosen].sum())
    gain_random = float(gain.mean() * len(chosen))
    if gain_active <= min_advantage * gain_random or gain_active < min_gain * max(len(chosen), 1):
        pairs = random_pairs(ids, n_pairs, seed, available)
        return BatchChoice(pairs, False, gain_active, gain_random)
    picked = {(i[k], j[k]) for k in chosen}
    rest = [k for k in rng.permutation(i.size) if (i[k], j[k]) not in picked][:n_random]
    pairs = []
    for k in [*chosen, *rest]:
        a, b = ids[i[k]], ids[j[k]]
        pairs.append((a, b) if rng.random() < 0.5 else (b, a))
    return BatchChoice(pairs, True, gain_active, gain_random)
