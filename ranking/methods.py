"""The registry of aggregation methods: how votes become scores, by name.

``beauty rank --method``, budget simulations and active planning all choose a fit here. Adding
a method is one module with its estimator (``fit`` returning an object with ``scores_`` and
``se_``) and one :class:`Method` line in :data:`METHODS`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import pandas as pd

from ranking.bradley_terry import BradleyTerry, SEMethod
from ranking.fourup import FourUp
from ranking.realistic import CrowdNoise
from ranking.reliability import CrowdBT
from ranking.thurstone import Thurstone

__all__ = ["METHODS", "FitData", "Fitted", "Method", "get", "names"]


@dataclass(frozen=True)
class FitData:
    """What a method may fit: pair votes over ``items``, and where known the workers' gold
    record (:func:`ranking.gold.worker_gold`), 4-up answers (``screen, worker, image,
    kept``) and the crowd's calibrated model; ``se``, the standard-error approximation of the
    methods that offer one (``diagonal`` keeps a fit linear in the gallery's size)."""

    votes: pd.DataFrame
    items: Sequence[str]
    gold: pd.DataFrame | None = None
    answers: pd.DataFrame | None = None
    noise: CrowdNoise | None = None
    se: SEMethod = "auto"


@dataclass(frozen=True)
class Fitted:
    """Scores with standard errors by image; each worker's learned reliability where the
    method learns one (mean 1, about 0 for random clickers)."""

    scores: pd.Series
    se: pd.Series
    reliability: pd.Series | None


@dataclass(frozen=True)
class Method:
    """An aggregation method.

    Attributes
    ----------
    name : str
        As ``beauty rank --method`` takes it.
    summary : str
        One line for help texts.
    needs_answers : bool
        Fits 4-up answers as screens rather than pair votes.
    fit : callable
        ``fit(data, alpha) -> Fitted``; ``alpha`` is the strength of the prior.
    """

    name: str
    summary: str
    needs_answers: bool
    fit: Callable[[FitData, float], Fitted]


def _bt(data: FitData, alpha: float) -> Fitted:
    model = BradleyTerry(alpha=alpha, se=data.se).fit(data.votes, items=data.items)
    return Fitted(model.scores_, model.se_, None)


def _crowdbt(data: FitData, alpha: float) -> Fitted:
    model = CrowdBT(alpha=alpha, se=data.se).fit(data.votes, gold=data.gold, items=data.items)
    return Fitted(model.scores_, model.se_, model.discrimination_)


def _thurstone(data: FitData, alpha: float) -> Fitted:
    model = Thurstone(data.noise, alpha=alpha).fit(data.votes, items=data.items)
    return Fitted(model.scores_, model.se_, model.discrimination_)


def _fourup(data: FitData, alpha: float) -> Fitted:
    if data.answers is None or data.answers.empty:
        raise ValueError("no 4-up answers to fit: use the crowdbt method for pair votes")
    model = FourUp(alpha=alpha, se=data.se).fit(data.answers, items=data.items)
    return Fitted(model.scores_, model.se_, model.discrimination_)


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method(
            "crowdbt",
            "learns each worker's reliability jointly (Chen et al. 2013)",
            False,
            _crowdbt,
        ),
        Method("bt", "weighs every vote alike (Bradley-Terry, MAP)", False, _bt),
        Method(
            "thurstone",
            "reads lapses, no-preference answers, pair effects and each worker's reliability "
            "as a real crowd gives them",
            False,
            _thurstone,
        ),
        Method(
            "fourup", "fits 4-up answers as screens, with each worker's reliability", True, _fourup
        ),
    )
}


def names() -> list[str]:
    """Every method's name; the first is the default."""
    return list(METHODS)


def get(name: str) -> Method:
    """The method called ``name``."""
    if name not in METHODS:
        raise ValueError(f"no aggregation method {name!r}: choose one of {', '.join(METHODS)}")
    return METHODS[name]
