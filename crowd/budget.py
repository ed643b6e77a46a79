"""Plan a campaign's budget before money is spent: simulate designs on a simulated crowd (from a
hidden truth) or a replayed one (from recorded votes), and chart rank quality against cost.

The simulation is :func:`ranking.planning.plan_budget`; this module brings the truth or the
recorded votes in from files, and writes the table and the chart to the workspace's reports.
"""

from __future__ import annotations

import json
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
from ranking.campaign import RecordedAnswers, run_campaign
from ranking.crowd import HonestWorker, ReplayCrowd, make_crowd
from ranking.informative import current_fit
from ranking.planning import DesignSpec, plan_budget, plot_plan
from ranking.realistic import Calibration, CrowdNoise, calibrate, make_realistic_crowd


@dataclass
class BudgetPlan:
    table: pd.DataFrame
    csv: Path
    png: Path
    measure: str  # what tau is measured against
    replaced: bool = False  # an earlier plan's files were there


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
    noise: CrowdNoise | None = None,
    out_dir: Path | None = None,
) -> BudgetPlan:
    """Simulate every design at every budget; write ``plan.csv`` and ``plan.png`` in
    ``out_dir`` (default ``reports/``), replacing an earlier plan there.

    With ``truth_path`` (``image, beauty``) honest workers perceive that truth and tau is
    measured against it. With ``replay_path`` (recorded votes) honest workers replay them and
    tau is measured against the Bradley-Terry fit of all recorded votes (answering unrecorded
    pairs from that fit: :func:`replay_designs` replays without that). With ``noise`` the
    honest workers of a ``truth_path`` crowd are a :class:`ranking.realistic.CrowdNoise` crowd
    perceiving the truth as merit, and active pair designs choose by expected information
    under it.
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
        if noise is not None:
            real = make_realistic_crowd(workers, noise, seeds[0] if seeds else 0)
            crowd = {k: real[k] if isinstance(m, HonestWorker) else m for k, m in crowd.items()}
    else:
        votes = load_votes(ws.ledger, Path(str(replay_path)))
        replay = ReplayCrowd(votes)
        crowd = {k: replay if isinstance(m, HonestWorker) else m for k, m in crowd.items()}
        truth = BradleyTerry(alpha=1.0).fit(votes).scores_
        measure = f"the full replay of {Path(str(replay_path)).name}"
    plan = plan_budget(truth, designs, budgets, crowd, seeds=seeds, noise=noise)
    out = out_dir or ws.reports_dir
    out.mkdir(parents=True, exist_ok=True)
    csv, png = out / "plan.csv", out / "plan.png"
    replaced = csv.exists() or png.exists()
    with atomic_path(csv) as tmp:
        plan.to_csv(tmp, index=False)
    fig = plot_plan(plan)
    fig.suptitle(f"Kendall's tau against {measure}")
    with atomic_path(png) as tmp:
        fig.savefig(tmp, dpi=110)
    return BudgetPlan(table=plan, csv=csv, png=png, measure=measure, replaced=replaced)


def calibrate_crowd(ws: Workspace, votes_path: Path) -> Calibration:
    """Fit the realistic crowd model to a recorded votes table (see :func:`calibrate`)."""
    votes = load_votes(ws.ledger, votes_path)
    try:
        return calibrate(votes)
    except ValueError as exc:
        raise BeautyError(f"{votes_path}: {exc}") from None


def write_crowd_model(path: Path, noise: CrowdNoise) -> None:
    path.write_text(json.dumps(noise.as_dict(), indent=1) + "\n")


def read_crowd_model(path: Path) -> CrowdNoise:
    try:
        return CrowdNoise.from_dict(json.loads(path.read_text()))
    except (OSError, ValueError, TypeError) as exc:
        raise BeautyError(f"{path}: not a crowd model ({exc})") from None


@dataclass
class ReplayPlan:
    table: pd.DataFrame
    csv: Path
    unavailable: dict[str, float]  # asks with no recorded answer left, per run, by design
    replaced: bool = False  # an earlier replay's table was there


def replay_designs(
    ws: Workspace,
    votes_path: Path,
    noise: CrowdNoise,
    rounds: Sequence[int],
    *,
    seeds: Sequence[int] = (0, 1, 2),
    focus: int | None = None,
    fill: str = "none",
    out_dir: Path | None = None,
    method: str = "bt",
) -> ReplayPlan:
    """Random against active pairs on a replay of a recorded campaign; ``replay.csv`` in
    ``out_dir`` (default ``reports/``).

    Each design asks ``rounds[r]`` pairs in round ``r`` (the first random) and is answered by
    the recorded answers of each pair, drawn without replacement: a pair whose answers are used
    up cannot be asked again (``fill="fit"`` answers it from a fit of all votes instead). Tau
    is measured against the fit of all recorded votes by the same aggregation ``method``
    (``bt``, or ``thurstone`` under ``noise``), after each round; mean over ``seeds``.
    """
    votes = load_votes(ws.ledger, votes_path)
    images = sorted(set(votes["left"]) | set(votes["right"]))
    reference = current_fit(votes, images, 1.0, method, noise).scores
    rows = []
    unavailable: dict[str, float] = {}
    for design in ("random", "active"):
        runs = []
        lost = []
        for seed in seeds:
            answers = RecordedAnswers(votes, seed, fill="fit" if fill == "fit" else "none")
            out = run_campaign(
                images, reference, answers, design, rounds, noise, seed, focus=focus,
                method=method,
            )  # fmt: skip
            runs.append(out.assign(seed=seed))
            lost.append(answers.unavailable)
        table = pd.concat(runs)
        unavailable[design] = float(sum(lost) / len(lost))
        for r, g in table.groupby("round"):
            rows.append(
                {
                    "design": design,
                    "round": int(str(r)),
                    "votes": float(g["votes"].mean()),
                    "votes_per_photo": float(2 * g["votes"].mean() / len(images)),
                    "tau_mean": float(g["tau"].mean()),
                    "tau_sd": float(g["tau"].std(ddof=1)) if len(g) > 1 else float("nan"),
                    "tau_top": float(g["tau_top"].mean()),
                    "active_share": float(g["active"].mean()),
                }
            )
    result = pd.DataFrame(rows)
    folder = out_dir or ws.reports_dir
    folder.mkdir(parents=True, exist_ok=True)
    csv = folder / "replay.csv"
    replaced = csv.exists()
    with atomic_path(csv) as tmp:
        result.to_csv(tmp, index=False)
    return ReplayPlan(result, csv, unavailable, replaced)
