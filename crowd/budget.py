"""Plan a campaign's budget before money is spent: simulate designs on a simulated crowd (from a
hidden truth) or a replayed one (from recorded votes), and chart rank quality against cost.

The simulation is :func:`ranking.planning.plan_budget`; this module brings the truth or the
recorded votes in from files, and writes the table and the chart to the workspace's reports.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd

from crowd.truth import load_votes
from crowd.votes import read_table
from infra.atomic import atomic_path
from infra.errors import BeautyError
from infra.workspace import Workspace
from ranking.bradley_terry import BradleyTerry
from ranking.crowd import HonestWorker, ReplayCrowd, make_crowd
from ranking.planning import DesignSpec, plan_budget, plot_plan


@dataclass
class BudgetPlan:
    table: pd.DataFrame
    csv: Path
    png: Path
    measure: str  # what tau is measured against


def plan_campaign(
    ws: Workspace,
    designs: Sequence[DesignSpec],
    budgets: Sequence[Decimal],
    *,
    truth_path: Path | None = None,
    replay_path: Path | None = None,
    workers: int = 30,
    spammers: float = 0.2,
    seeds: Sequence[int] = (0, 1, 2),
) -> BudgetPlan:
    """Simulate every design at every budget; write ``reports/plan.csv`` and ``plan.png``.

    With ``truth_path`` (``image, beauty``) honest workers perceive that truth and tau is
    measured against it. With ``replay_path`` (recorded votes) honest workers replay them and
    tau is measured against the Bradley-Terry fit of all recorded votes.
    """
    if (truth_path is None) == (replay_path is None):
        raise BeautyError("give the plan a crowd: --truth truth.csv or --replay votes.csv")
    crowd = make_crowd(workers, spammers, seed=seeds[0] if seeds else 0)
    if truth_path is not None:
        table = read_table(truth_path)
        if not {"image", "beauty"} <= set(table.columns):
            raise BeautyError(f"{truth_path}: needs columns image, beauty")
        beauty = pd.to_numeric(table["beauty"], errors="coerce")
        if not np.isfinite(beauty.to_numpy(dtype=float)).all():
            raise BeautyError(f"{truth_path}: column beauty must hold finite numbers on every row")
        truth = pd.Series(beauty.to_numpy(dtype=float), index=table["image"])
        measure = f"truth in {truth_path.name}"
    else:
        votes = load_votes(ws.ledger, Path(str(replay_path)))
        replay = ReplayCrowd(votes)
        crowd = {k: replay if isinstance(m, HonestWorker) else m for k, m in crowd.items()}
        truth = BradleyTerry(alpha=1.0).fit(votes).scores_
        measure = f"the full replay of {Path(str(replay_path)).name}"
    plan = plan_budget(truth, designs, budgets, crowd, seeds=seeds)
    ws.reports_dir.mkdir(exist_ok=True)
    csv, png = ws.reports_dir / "plan.csv", ws.reports_dir / "plan.png"
    with atomic_path(csv) as tmp:
        plan.to_csv(tmp, index=False)
    fig = plot_plan(plan)
    fig.suptitle(f"Kendall's tau against {measure}")
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=110)
    return BudgetPlan(table=plan, csv=csv, png=png, measure=measure)
