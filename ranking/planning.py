"""Planning a budget: what a design costs on MTurk, and how well it ranks for the money.

:func:`simulate_design` runs one design on a simulated crowd (or a replay of recorded votes)
and measures the ranking against the truth; :func:`plan_budget` finds, for each design and
budget, the most appearances per image the budget buys and simulates them over several seeds;
:func:`plot_plan` draws rank correlation against money.
Money follows MTurk's fee rule in :mod:`ranking.fees`.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ranking import methods
from ranking.crowd import WorkerModel, simulate_votes
from ranking.design import SCREEN_SIZE, Design, hits_needed, plan_screens, screens_needed
from ranking.fees import BatchCost, batch_cost, money
from ranking.fourup import answers_from_votes
from ranking.informative import informative_pairs
from ranking.methods import FitData, Fitted
from ranking.realistic import CrowdNoise
from ranking.routing import trusted_workers

if TYPE_CHECKING:
    from matplotlib.figure import Figure

KIND = {"pairwise": "pair", "fourup": "fourup"}


def round_appearances(appearances: int, rounds: int) -> list[int]:
    """Appearances per image in each round of an active design.

    The first round is random and takes two appearances where it can, which makes the
    comparison graph connected for pairs and 4-up alike; the rest are spread evenly over the
    remaining rounds, earlier rounds taking the odd ones, and no round is empty.
    """
    if appearances < 0 or rounds < 1:
        raise ValueError("need appearances >= 0 and rounds >= 1")
    if appearances == 0:
        return []
    if rounds == 1 or appearances <= 2:
        return [appearances]
    rest = appearances - 2
    later = min(rounds - 1, rest)
    return [2] + [rest // later + (r < rest % later) for r in range(later)]


@dataclass(frozen=True)
class DesignSpec:
    """One way of collecting comparisons, as priced and simulated by :func:`plan_budget`.

    Attributes
    ----------
    design : {"pairwise", "fourup"}
        Pairs or 4-up sets.
    active : bool
        Random balanced in one batch, or active in ``rounds`` batches (the first random).
    assignments : int
        Workers per HIT; every screen is answered that many times.
    reward : Decimal
        Reward per assignment, in dollars.
    screens_per_hit : int
        Screens per HIT, gold included.
    gold_rate : float
        Share of gold screens per HIT (paid for like the others).
    rounds : int
        Batches of an active design.
    masters : bool
        Whether the HITs require Masters (a higher fee).
    trusted : float
        Share of the crowd each batch after the first is offered to: the most reliable
        workers by the fit so far (:func:`ranking.routing.trusted_workers`); 1 offers every
        batch to everyone.
    name : str
        What plots and tables call the design; by default one made from the fields above.
    noise : CrowdNoise, optional
        The crowd as calibrated: active pair designs then choose pairs by expected information
        under it (:func:`ranking.informative.informative_pairs`, with its fallback to random
        pairs) rather than as Thompson neighbours.
    """

    design: Design
    active: bool = False
    assignments: int = 3
    reward: Decimal = Decimal("0.10")
    screens_per_hit: int = 20
    gold_rate: float = 0.2
    rounds: int = 4
    masters: bool = False
    trusted: float = 1.0
    name: str = ""
    noise: CrowdNoise | None = None

    def __post_init__(self) -> None:
        if not 0 < self.trusted <= 1:
            raise ValueError(f"trusted is a share in (0, 1], not {self.trusted}")

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        mode = "active" if self.active else "random"
        routed = f", trusted {self.trusted:.0%}" if self.trusted < 1 and self.active else ""
        return f"{self.design} {mode}{routed}, {self.assignments} per HIT, ${self.reward}"

    def round_screens(self, n_images: int, appearances: int) -> list[int]:
        """Screens in each batch for ``appearances`` per image."""
        size = SCREEN_SIZE[self.design]
        if not self.active:
            return [screens_needed(n_images, size, appearances)] if appearances else []
        per_round = round_appearances(appearances, self.rounds)
        return [screens_needed(n_images, size, a) for a in per_round]

    def hits(self, n_images: int, appearances: int) -> int:
        """HITs in all batches; gold is drawn from a list long enough not to repeat in a HIT."""
        return sum(
            hits_needed(n, self.screens_per_hit, self.gold_rate, self.screens_per_hit)
            for n in self.round_screens(n_images, appearances)
        )

    def cost(self, n_images: int, appearances: int) -> BatchCost:
        """What ``appearances`` per image cost, MTurk fees included."""
        return batch_cost(
            self.hits(n_images, appearances), self.reward, self.assignments, self.masters
        )


def _run(
    spec: DesignSpec,
    truth: pd.Series,
    appearances: int,
    crowd: Mapping[str, WorkerModel],
    seed: int,
    alpha: float,
    method: str = "bt",
) -> dict[str, Any]:
    """Simulate one design once; see :func:`simulate_design`."""
    images = list(truth.index)
    rng = np.random.default_rng(seed)
    kind = KIND[spec.design]
    batches: list[pd.DataFrame] = []
    fit: Fitted | None = None
    offered = dict(crowd)
    shown = 0
    for n_screens in spec.round_screens(len(images), appearances):
        plan_seed, crowd_seed = (int(x) for x in rng.integers(2**31, size=2))
        if fit is None:
            screens = plan_screens(images, spec.design, n_screens, plan_seed)
        elif spec.noise is not None and spec.design == "pairwise":
            picked = informative_pairs(
                images, n_screens, fit.scores, fit.se, spec.noise, plan_seed,
                assignments=spec.assignments,
            )  # fmt: skip
            screens = list(picked.pairs)
        else:
            screens = plan_screens(
                images, spec.design, n_screens, plan_seed, fit.scores, fit.se, active=True
            )
        batch = simulate_votes(truth, offered, screens, kind, spec.assignments, crowd_seed)
        batches.append(batch.assign(screen=batch["screen"] + shown))
        shown += n_screens
        fit = _fit(pd.concat(batches, ignore_index=True), images, spec, alpha, method)
        if spec.trusted < 1 and fit.reliability is not None:
            chosen = trusted_workers(fit.reliability, spec.trusted, spec.assignments)
            offered = {w: crowd[w] for w in chosen if w in crowd}
    votes = sum(len(b) for b in batches)
    tau = math.nan
    if fit is not None:
        from scipy.stats import kendalltau  # scipy.stats takes a second to import

        tau = float(kendalltau(truth.to_numpy(), fit.scores.reindex(images).to_numpy())[0])
    cost = spec.cost(len(images), appearances)
    return {
        "design": spec.design,
        "active": spec.active,
        "appearances": appearances,
        "assignments": spec.assignments,
        "rounds": len(spec.round_screens(len(images), appearances)),
        "screens": sum(spec.round_screens(len(images), appearances)),
        "hits": spec.hits(len(images), appearances),
        "votes": votes,
        "rewards": cost.rewards,
        "fees": cost.fees,
        "cost": cost.total,
        "tau": tau,
    }


def _fit(
    table: pd.DataFrame,
    images: list[str],
    spec: DesignSpec,
    alpha: float,
    method: str,
) -> Fitted:
    """The fit that rounds plan from and the rank correlation is measured on.

    ``fourup`` fits 4-up answers as screens and pairs with Crowd-BT, its pairwise counterpart;
    routing by reliability (``trusted < 1``) needs a fit that learns it, so there plain ``bt``
    becomes Crowd-BT too.
    """
    with warnings.catch_warnings():
        # Sparse early rounds and spammers leave images apart from the rest; the rank
        # correlation already pays for that, so the fit's warning is noise here.
        warnings.filterwarnings("ignore", "the comparison graph has")
        warnings.filterwarnings("ignore", "the images fall into")
        chosen = methods.get(method)
        if chosen.needs_answers and spec.design != "fourup":
            chosen = methods.get("crowdbt")  # pairs have no screens to fit as such
        if not chosen.needs_answers and method == "bt" and spec.trusted < 1:
            chosen = methods.get("crowdbt")
        answers = answers_from_votes(table) if chosen.needs_answers else None
        return chosen.fit(FitData(table, images, answers=answers), alpha)


def simulate_design(
    truth: pd.Series,
    design: Design,
    appearances: int,
    assignments: int,
    gold_rate: float,
    active: bool,
    reward: Decimal | float,
    screens_per_hit: int,
    crowd: Mapping[str, WorkerModel],
    seed: int,
    *,
    rounds: int = 4,
    masters: bool = False,
    alpha: float = 1.0,
    method: str = "bt",
    trusted: float = 1.0,
) -> dict[str, Any]:
    """Simulate one design on a crowd and measure its ranking.

    Parameters
    ----------
    truth : Series indexed by image
        True scores. With a replay crowd, pass the scores of a fit of all recorded votes: the
        rank correlation then measures agreement with the full replay.
    design, appearances, assignments, gold_rate, active, reward, screens_per_hit, rounds, masters
    trusted
        The design, see :class:`DesignSpec`; ``appearances`` per image in all rounds together.
    crowd : mapping of worker id to WorkerModel
        Who answers.
    seed : int
        Random seed for the designs and the crowd.
    alpha : float
        Prior precision of the Bradley-Terry fits. The default, a standard normal prior, keeps
        the early rounds' scores from running away on images that won or lost every
        comparison, which would make an active design's draws no better than random ones.
    method : {"bt", "crowdbt", "fourup"}
        The fit, as ``beauty rank --method``: plain Bradley-Terry, Crowd-BT (per-worker
        reliability), or 4-up answers as whole screens (:class:`ranking.fourup.FourUp`; pairs
        then get Crowd-BT). With ``trusted < 1``, ``bt`` becomes Crowd-BT: routing needs the
        reliability it learns.

    Returns
    -------
    dict
        ``design, active, appearances, assignments, rounds, screens, hits, votes`` (pairwise
        votes, 4-up answers broken into wins), ``rewards, fees, cost`` (Decimal dollars) and
        ``tau``, Kendall's rank correlation of the fitted scores with the truth. Gold screens
        are paid for but not simulated: they guard against spammers, which the plain
        Bradley-Terry fit does not model.
    """
    spec = DesignSpec(
        design=design,
        active=active,
        assignments=assignments,
        reward=money(reward),
        screens_per_hit=screens_per_hit,
        gold_rate=gold_rate,
        rounds=rounds,
        masters=masters,
        trusted=trusted,
    )
    return _run(spec, truth, appearances, crowd, seed, alpha, method)


def plan_budget(
    truth: pd.Series,
    designs: Sequence[DesignSpec],
    budgets: Sequence[Decimal | float],
    crowd: Mapping[str, WorkerModel],
    seeds: Sequence[int] = (0, 1, 2),
    max_appearances: int = 100,
    alpha: float = 1.0,
    noise: CrowdNoise | None = None,
) -> pd.DataFrame:
    """Rank correlation for the money: each design at each budget.

    For each design and budget, the most appearances per image (up to ``max_appearances``)
    whose cost fits the budget are simulated once per seed. With ``noise`` (a calibrated
    crowd), active designs plan under it (see :class:`DesignSpec`).

    Returns
    -------
    DataFrame
        One row per design and budget: ``design`` (the spec's label), ``budget``,
        ``appearances`` (0 where the budget buys none), ``hits``, ``votes`` (mean), ``cost``
        (Decimal dollars, fees included), ``tau_mean`` and ``tau_sd`` over seeds. Both are NaN
        where nothing was bought, and ``tau_sd`` is with a single seed.
    """
    n = len(truth)
    rows = []
    for spec in designs:
        if noise is not None and spec.active and spec.noise is None:
            spec = replace(spec, noise=noise)
        for budget in budgets:
            limit = money(budget)
            appearances = 0
            while appearances < max_appearances and spec.cost(n, appearances + 1).total <= limit:
                appearances += 1
            runs = [_run(spec, truth, appearances, crowd, s, alpha) for s in seeds if appearances]
            taus = np.array([r["tau"] for r in runs])
            rows.append(
                {
                    "design": spec.label,
                    "budget": limit,
                    "appearances": appearances,
                    "hits": spec.hits(n, appearances),
                    "votes": float(np.mean([r["votes"] for r in runs])) if runs else 0.0,
                    "cost": spec.cost(n, appearances).total,
                    "tau_mean": float(taus.mean()) if taus.size else math.nan,
                    "tau_sd": float(taus.std(ddof=1)) if taus.size > 1 else math.nan,
                }
            )
    return pd.DataFrame(rows)


def plot_plan(plan: pd.DataFrame) -> Figure:
    """Rank correlation against money, one line per design, from :func:`plan_budget`.

    Returns a Figure (not drawn through pyplot's global state); the caller saves or shows it.
    """
    from matplotlib.figure import Figure

    fig = Figure(figsize=(7, 4.5), layout="constrained")
    ax = fig.subplots()
    bought = plan[plan["appearances"] > 0].assign(dollars=lambda d: d["cost"].map(float))
    for design, rows in bought.groupby("design", sort=False):
        rows = rows.sort_values("dollars")
        ax.errorbar(
            rows["dollars"],
            rows["tau_mean"],
            yerr=rows["tau_sd"].fillna(0.0),
            marker="o",
            capsize=3,
            label=str(design),
        )
    ax.set_xlabel("cost, MTurk fees included (USD)")
    ax.set_ylabel("Kendall's tau with the truth")
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    return fig
