"""Campaigns of pair votes in rounds, simulated or replayed, measured against a reference.

A campaign asks rounds of pairs, fits Bradley-Terry after each round, and chooses the next
round's pairs at random (balanced) or actively (:func:`ranking.informative.informative_pairs`).
Answers come from a :class:`SimulatedCrowd` (a :class:`ranking.realistic.CrowdNoise` crowd with
a known merit) or from :class:`RecordedAnswers`, a replay of a recorded campaign that draws
each pair's recorded answers *without replacement*: once a pair's answers are used up, the pair
cannot be asked again (it counts as unavailable and the designs skip it). Answering unrecorded
pairs from a fit, as :class:`ranking.crowd.ReplayCrowd` does, is an explicit option
(``fill="fit"``), since it hands every design answers no real crowd gave.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal, Protocol

import numpy as np
import pandas as pd
from scipy.special import expit
from scipy.stats import kendalltau

from ranking.active import thompson_neighbours
from ranking.bradley_terry import BradleyTerry
from ranking.informative import MIN_ADVANTAGE, current_fit, informative_pairs, random_pairs
from ranking.methods import Fitted
from ranking.realistic import CrowdNoise, answer_pairs, pair_effects, worker_discriminations
from ranking.votes import VOTE_COLUMNS, validate_votes

__all__ = ["Answerer", "RecordedAnswers", "SimulatedCrowd", "run_campaign"]


def _key(a: str, b: str) -> tuple[str, str]:
    return (a, b) if a < b else (b, a)


class Answerer(Protocol):
    def __call__(self, pairs: Sequence[tuple[str, str]], seed: int) -> pd.DataFrame:
        """Votes (``worker, left, right, label``) for the pairs that can be answered."""
        ...

    def available(self) -> dict[tuple[str, str], int] | None:
        """Answers left by pair ``(a, b)``, ``a < b``; None when any pair can be asked."""
        ...


class SimulatedCrowd:
    """A :class:`CrowdNoise` crowd of ``n_workers`` on images of known ``merit``."""

    def __init__(self, merit: pd.Series, noise: CrowdNoise, n_workers: int = 30, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.ids = [str(x) for x in merit.index]
        self.pos = {x: i for i, x in enumerate(self.ids)}
        self.merit = merit.to_numpy(dtype=float)
        self.noise = noise
        self.effects = pair_effects(len(self.ids), noise.pair_sd, rng)
        self.s = worker_discriminations(n_workers, noise.worker_sd, rng)
        self.workers = [f"w{w:03d}" for w in range(n_workers)]
        self._pool = np.arange(n_workers)

    def offer(self, workers: Sequence[str] | None) -> None:
        """Offer the next batches only to ``workers`` (names as in the votes), or to all."""
        if workers is None:
            self._pool = np.arange(self.s.size)
            return
        index = {w: k for k, w in enumerate(self.workers)}
        unknown = [w for w in workers if w not in index]
        if unknown or not workers:
            raise ValueError(f"not workers of this crowd: {unknown or 'none given'}")
        self._pool = np.array(sorted(index[w] for w in workers))

    def __call__(self, pairs: Sequence[tuple[str, str]], seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        left = np.array([self.pos[a] for a, _ in pairs], dtype=int)
        right = np.array([self.pos[b] for _, b in pairs], dtype=int)
        worker = self._pool[rng.integers(self._pool.size, size=left.size)]
        out = answer_pairs(self.merit, left, right, self.s[worker], self.effects, self.noise, rng)
        names = np.array(self.ids, dtype=object)
        label = np.where(out == 0, names[left], np.where(out == 1, names[right], None))
        return pd.DataFrame(
            {"worker": [self.workers[w] for w in worker], "left": names[left],
             "right": names[right], "label": label},
            columns=list(VOTE_COLUMNS),
        )  # fmt: skip

    def available(self) -> dict[tuple[str, str], int] | None:
        return None


class RecordedAnswers:
    """A replay of recorded votes, each pair's answers drawn without replacement.

    ``fill="none"`` (the default): a pair with no recorded answer left is not answered.
    ``fill="fit"``: it is answered from a Bradley-Terry fit of all recorded votes instead,
    as by :class:`ranking.crowd.ReplayCrowd`.
    """

    def __init__(self, votes: pd.DataFrame, seed: int = 0, fill: Literal["none", "fit"] = "none"):
        v = validate_votes(votes)
        v = v[v["left"] != v["right"]].reset_index(drop=True)
        rng = np.random.default_rng(seed)
        v = v.iloc[rng.permutation(len(v))].reset_index(drop=True)
        self._left: dict[tuple[str, str], list[tuple[str, str, str, object]]] = {}
        for w, a, b, lab in zip(v["worker"], v["left"], v["right"], v["label"], strict=True):
            self._left.setdefault(_key(a, b), []).append((str(w), a, b, lab))
        self.fill = fill
        self.images = sorted(set(v["left"]) | set(v["right"]))
        self._scores = (
            BradleyTerry(alpha=0.01, se="diagonal").fit_predict(v) if fill == "fit" else None
        )
        self.unavailable = 0  # pairs asked with no answer left

    def __call__(self, pairs: Sequence[tuple[str, str]], seed: int) -> pd.DataFrame:
        rng = np.random.default_rng(seed)
        rows = []
        for a, b in pairs:
            stack = self._left.get(_key(a, b))
            if stack:
                rows.append(stack.pop())
            elif self._scores is not None:
                p = expit(self._scores.get(a, 0.0) - self._scores.get(b, 0.0))
                rows.append(("fit", a, b, a if rng.random() < p else b))
            else:
                self.unavailable += 1
        return pd.DataFrame(rows, columns=list(VOTE_COLUMNS))

    def available(self) -> dict[tuple[str, str], int] | None:
        if self._scores is not None:
            return None
        return {k: len(s) for k, s in self._left.items() if s}


def _tau(reference: pd.Series, scores: pd.Series, top: int | None = None) -> float:
    ref = reference
    if top is not None:
        ref = reference.sort_values(ascending=False).iloc[:top]
    est = scores.reindex(ref.index).fillna(0.0)
    return float(kendalltau(ref.to_numpy(), est.to_numpy())[0])


def run_campaign(
    images: Sequence[str],
    reference: pd.Series,
    answer: Answerer,
    design: Literal["random", "active", "thompson"],
    rounds: Sequence[int],
    noise: CrowdNoise,
    seed: int,
    *,
    focus: int | None = None,
    alpha: float = 1.0,
    explore: float = 0.15,
    min_advantage: float | None = None,
    method: str = "bt",
) -> pd.DataFrame:
    """Ask ``rounds[r]`` pairs in round ``r`` (the first always random) and measure each fit.

    Rounds are planned from, and tau measured on, the aggregation ``method``
    (:mod:`ranking.methods`; ``bt`` by default, ``thurstone`` reads the votes under ``noise``).

    Returns one row per round: ``round, votes`` (cumulative answers), ``tau`` (Kendall's tau of
    the fit with ``reference`` over all images), ``tau_top`` (over the reference's top
    ``focus`` images, NaN without ``focus``), ``active`` (whether the round was an active
    choice rather than random pairs), ``gain_active, gain_random`` (the planner's predictions).
    """
    ids = list(images)
    rng = np.random.default_rng(seed)
    votes: list[pd.DataFrame] = []
    asked: dict[tuple[str, str], int] = {}
    fit: Fitted | None = None
    rows = []
    for r, n_pairs in enumerate(rounds):
        plan_seed, crowd_seed = (int(x) for x in rng.integers(2**31, size=2))
        available = answer.available()
        chosen, g_act, g_rand = False, np.nan, np.nan
        if fit is None or design == "random":
            pairs = random_pairs(ids, n_pairs, plan_seed, available)
        elif design == "thompson":
            screens = thompson_neighbours(ids, 2, n_pairs, fit.scores, fit.se, plan_seed)
            pairs = [(s[0], s[1]) for s in screens]
        else:
            batch = informative_pairs(
                ids, n_pairs, fit.scores, fit.se, noise, plan_seed, asked=asked,
                focus=focus, explore=explore, available=available,
                min_advantage=MIN_ADVANTAGE if min_advantage is None else min_advantage,
            )  # fmt: skip
            pairs, chosen = batch.pairs, batch.active
            g_act, g_rand = batch.gain_active, batch.gain_random
        got = answer(pairs, crowd_seed)
        votes.append(got)
        for a, b in zip(got["left"], got["right"], strict=True):
            asked[_key(a, b)] = asked.get(_key(a, b), 0) + 1
        table = pd.concat(votes, ignore_index=True)
        fit = current_fit(table, ids, alpha, method, noise)
        rows.append(
            {
                "round": r,
                "votes": len(table),
                "tau": _tau(reference, fit.scores),
                "tau_top": _tau(reference, fit.scores, focus) if focus else np.nan,
                "active": chosen,
                "gain_active": g_act,
                "gain_random": g_rand,
            }
        )
    return pd.DataFrame(rows)
