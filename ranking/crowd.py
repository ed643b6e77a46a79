"""Simulated workers: honest ones with a known discrimination, spammers, and a replay of real votes.

Each model answers one screen at a time through :meth:`WorkerModel.choose`, knowing the true
merit of the photos (``truth``, log-strengths) as an oracle. They are pure: the simulated crowd
that answers over the local market's API and the budget planner both drive them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import numpy as np
import pandas as pd
from scipy.special import expit

from ranking.bradley_terry import BradleyTerry
from ranking.votes import VOTE_COLUMNS, fourup_pairs, validate_votes

Kind = Literal["pair", "fourup"]
# Honest workers' discrimination in the simulated crowd and the accountability bench: from a
# careless-but-looking 0.5 (a pair one standard deviation of beauty apart is called right two
# times in three) to a keen 3.
HONEST_SKILL = (0.5, 3.0)


class WorkerModel(Protocol):
    def choose(
        self,
        shown: Sequence[str],
        kind: Kind,
        truth: Mapping[str, float],
        rng: np.random.Generator,
    ) -> list[str]:
        """Answer one screen.

        For a pair: ``[winner]``, or ``[]`` for no preference. For a 4-up screen: the photos
        selected, in shown order.
        """
        ...


@dataclass(frozen=True)
class HonestWorker:
    """A worker who judges merit with discrimination ``s >= 0``.

    Pair: ``P(i beats j) = sigmoid(s (t_i - t_j))``. 4-up: perceives ``t + noise`` with logistic
    noise of scale ``1/s`` and selects the photos perceived above the screen's mean (at ``s = 0``
    the choice is pure noise).
    """

    s: float
    pace: float = 1.0

    def seconds(
        self, shown: Sequence[str], kind: Kind, truth: Mapping[str, float], rng: np.random.Generator
    ) -> float:
        """Time spent on a screen, as a multiple of the expected seconds per screen."""
        return float(self.pace * rng.uniform(0.5, 1.5))

    def choose(
        self, shown: Sequence[str], kind: Kind, truth: Mapping[str, float], rng: np.random.Generator
    ) -> list[str]:
        merit = np.array([truth[x] for x in shown])
        if kind == "pair":
            left, right = shown
            return [left] if rng.random() < expit(self.s * (merit[0] - merit[1])) else [right]
        # Scaling by s keeps the order of t + Logistic(1/s) and stays finite at s = 0.
        perceived = self.s * merit + rng.logistic(0.0, 1.0, len(shown))
        return [x for x, v in zip(shown, perceived, strict=True) if v > perceived.mean()]


class RandomClicker:
    """Picks a side of a pair at random; keeps each 4-up photo with probability 1/2.

    It takes as long over a screen as a careful worker does, so speed alone does not give it
    away.
    """

    def seconds(
        self, shown: Sequence[str], kind: Kind, truth: Mapping[str, float], rng: np.random.Generator
    ) -> float:
        return float(rng.uniform(0.5, 1.5))

    def choose(
        self, shown: Sequence[str], kind: Kind, truth: Mapping[str, float], rng: np.random.Generator
    ) -> list[str]:
        if kind == "pair":
            return [shown[int(rng.integers(2))]]
        return [x for x in shown if rng.random() < 0.5]


class AlwaysLeft:
    """Picks the first photo shown: the left of a pair, the first of a 4-up screen."""

    def choose(
        self, shown: Sequence[str], kind: Kind, truth: Mapping[str, float], rng: np.random.Generator
    ) -> list[str]:
        return [shown[0]]


class SelectAll:
    """Keeps every 4-up photo; a pair has no "all", so it answers no preference."""

    def choose(
        self, shown: Sequence[str], kind: Kind, truth: Mapping[str, float], rng: np.random.Generator
    ) -> list[str]:
        return [] if kind == "pair" else list(shown)


class SelectNone:
    """Keeps no 4-up photo and answers no preference on pairs."""

    def choose(
        self, shown: Sequence[str], kind: Kind, truth: Mapping[str, float], rng: np.random.Generator
    ) -> list[str]:
        return []


class FastClicker(RandomClicker):
    """Clicks at random without looking: a few tenths of the time a careful worker takes."""

    def seconds(
        self, shown: Sequence[str], kind: Kind, truth: Mapping[str, float], rng: np.random.Generator
    ) -> float:
        return float(rng.uniform(0.08, 0.25))


@dataclass(frozen=True)
class HalfEffort:
    """Answers obvious screens well and the rest at random, quickly.

    A screen is obvious when its photos' merits span more than ``gap`` (a destroyed photo beside
    good ones, as on made gold). There the worker looks (an honest worker with discrimination
    ``s``, at a careful pace); elsewhere it clicks at random in a fifth of the time.
    """

    s: float = 2.0
    gap: float = 4.0

    def _obvious(self, shown: Sequence[str], truth: Mapping[str, float]) -> bool:
        merit = [truth.get(x, 0.0) for x in shown]
        return max(merit) - min(merit) > self.gap

    def seconds(
        self, shown: Sequence[str], kind: Kind, truth: Mapping[str, float], rng: np.random.Generator
    ) -> float:
        if self._obvious(shown, truth):
            return float(rng.uniform(0.5, 1.5))
        return float(rng.uniform(0.1, 0.3))

    def choose(
        self, shown: Sequence[str], kind: Kind, truth: Mapping[str, float], rng: np.random.Generator
    ) -> list[str]:
        if self._obvious(shown, truth):
            return HonestWorker(self.s).choose(shown, kind, truth, rng)
        return RandomClicker().choose(shown, kind, truth, rng)


SPAM_KINDS: tuple[type[WorkerModel], ...] = (
    RandomClicker,
    AlwaysLeft,
    SelectAll,
    SelectNone,
    FastClicker,
    HalfEffort,
)


def answer_seconds(
    model: WorkerModel,
    shown: Sequence[str],
    kind: Kind,
    truth: Mapping[str, float],
    rng: np.random.Generator,
) -> float:
    """How long ``model`` spends on a screen, as a multiple of the expected seconds per screen.

    A model may say with a ``seconds`` method; otherwise careful models (an honest worker, a
    replayed crowd) take 0.5-1.5 times the expected time and spammers 0.1-0.4 times.
    """
    own = getattr(model, "seconds", None)
    if own is not None:
        return float(own(shown, kind, truth, rng))
    if isinstance(model, ReplayCrowd):
        return float(rng.uniform(0.5, 1.5))
    return float(rng.uniform(0.1, 0.4))


class ReplayCrowd:
    """Answers from recorded votes, ignoring ``truth``.

    A recorded pair is answered with one of its recorded votes, drawn at random (a recorded tie
    gives no preference). Any other pair is answered from a Bradley-Terry fit of all recorded
    votes; images never recorded count as average. A 4-up screen selects the photos whose share
    of wins against the others on the screen, each opponent weighing the same, is above one half:
    the recorded share against an opponent where there is one, else the fit's probability.
    """

    def __init__(self, votes: pd.DataFrame, alpha: float = 0.01):
        v = validate_votes(votes)
        v = v[v["left"] != v["right"]]
        self._labels: dict[frozenset[str], list[str | None]] = defaultdict(list)
        for left, right, label in zip(v["left"], v["right"], v["label"], strict=True):
            self._labels[frozenset((left, right))].append(None if pd.isna(label) else label)
        self._scores = BradleyTerry(alpha=alpha, se="diagonal").fit_predict(v)

    def _win_share(self, x: str, y: str) -> float:
        labels = self._labels.get(frozenset((x, y)))
        if labels:
            return float(np.mean([0.5 if lab is None else float(lab == x) for lab in labels]))
        return float(expit(self._scores.get(x, 0.0) - self._scores.get(y, 0.0)))

    def choose(
        self, shown: Sequence[str], kind: Kind, truth: Mapping[str, float], rng: np.random.Generator
    ) -> list[str]:
        if kind == "pair":
            left, right = shown
            labels = self._labels.get(frozenset((left, right)))
            if labels:
                label = labels[int(rng.integers(len(labels)))]
                return [] if label is None else [label]
            return [left] if rng.random() < self._win_share(left, right) else [right]
        return [x for x in shown if np.mean([self._win_share(x, y) for y in shown if y != x]) > 0.5]


def make_crowd(
    n_workers: int,
    spammers: float,
    s_range: tuple[float, float] = (0.2, 2.0),
    seed: int = 0,
    kinds: Sequence[type[WorkerModel]] = SPAM_KINDS,
) -> dict[str, WorkerModel]:
    """A crowd of honest workers with ``s ~ U(s_range)`` and a share of spammers.

    ``round(spammers * n_workers)`` workers, chosen at random, are spammers, each of a kind drawn
    uniformly from ``kinds`` (default :data:`SPAM_KINDS`). Workers are named ``w000``, ``w001``,
    ...
    """
    if not 0 <= spammers <= 1:
        raise ValueError("spammers is a share between 0 and 1")
    rng = np.random.default_rng(seed)
    spam = set(rng.choice(n_workers, round(spammers * n_workers), replace=False).tolist())
    width = max(3, len(str(n_workers - 1)))
    crowd: dict[str, WorkerModel] = {}
    for i in range(n_workers):
        name = f"w{i:0{width}d}"
        if i in spam:
            crowd[name] = kinds[int(rng.integers(len(kinds)))]()
        else:
            crowd[name] = HonestWorker(float(rng.uniform(*s_range)))
    return crowd


def simulate_votes(
    truth: pd.Series,
    crowd: dict[str, WorkerModel],
    screens: Sequence[Sequence[str]],
    kind: str,
    assignments_per_screen: int,
    seed: int,
) -> pd.DataFrame:
    """Have the crowd answer every screen ``assignments_per_screen`` times.

    Workers take screens in turn from a shuffled roster, so each screen's assignments go to
    distinct workers and the load is even. Each assignment sees the screen's photos in its own
    random order, as the HIT page shuffles positions. 4-up answers are broken into pairs with
    :func:`fourup_pairs` (left is the photo shown first); a pair without preference is a tie.

    Returns
    -------
    pd.DataFrame
        Votes with columns ``worker, left, right, label, screen`` (``screen``: position in
        ``screens``).
    """
    if kind not in ("pair", "fourup"):
        raise ValueError(f"kind must be 'pair' or 'fourup', not {kind!r}")
    mode: Kind = "pair" if kind == "pair" else "fourup"
    names = list(crowd)
    if not 0 < assignments_per_screen <= len(names):
        raise ValueError(f"assignments_per_screen must be between 1 and {len(names)}")
    rng = np.random.default_rng(seed)
    merit = {str(k): float(v) for k, v in truth.items()}
    roster = [names[i] for i in rng.permutation(len(names))]
    turn = 0
    rows: list[tuple[str, str, str, str | None, int]] = []
    for index, screen in enumerate(screens):
        for _ in range(assignments_per_screen):
            worker = roster[turn % len(roster)]
            turn += 1
            shown = [screen[i] for i in rng.permutation(len(screen))]
            picked = crowd[worker].choose(shown, mode, merit, rng)
            if mode == "pair":
                rows.append((worker, shown[0], shown[1], picked[0] if picked else None, index))
                continue
            position = {x: i for i, x in enumerate(shown)}
            for win, lose in fourup_pairs(shown, picked):
                left, right = (win, lose) if position[win] < position[lose] else (lose, win)
                rows.append((worker, left, right, win, index))
    return pd.DataFrame(rows, columns=[*VOTE_COLUMNS, "screen"])
