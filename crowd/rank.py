"""Rank a workspace: its votes -> Bradley-Terry scores with worker reliability -> scores table.

The math is :class:`ranking.reliability.CrowdBT` (or plain :class:`ranking.bradley_terry.
BradleyTerry`); this module only gathers the votes and the gold record from the ledger and writes
the table the trainer reads (``tables/scores.parquet`` and ``.csv``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pandas as pd

from crowd.judgments import fourup_answers, gold_record, judgments_table
from crowd.votes import ledger_votes, write_table
from infra.errors import BeautyError
from infra.workspace import Workspace
from ranking.bradley_terry import BradleyTerry
from ranking.fourup import FourUp
from ranking.gold import worker_gold
from ranking.reliability import CrowdBT
from ranking.scores import scores_table

Method = Literal["crowdbt", "bt", "fourup"]
RELIABILITY_TABLE = "reliability.csv"


@dataclass
class Fit:
    """Scores for every original image, and what went into them."""

    table: pd.DataFrame
    votes: int
    self_comparisons: int
    worker_reliability: pd.Series | None
    warnings: list[str] = field(default_factory=list)


def fit_scores(ws: Workspace, *, method: Method = "crowdbt") -> Fit:
    """Fit scores to every vote in the workspace (nothing written).

    Only original gallery images are ranked: derived images (made-gold variants) never are.
    """
    ledger = ws.ledger
    votes = ledger_votes(ledger)
    if votes.empty:
        raise BeautyError(
            "no votes yet: collect answers (beauty label serve, beauty crowd simulate, "
            "beauty hits sync) or run `beauty votes import FILE`"
        )
    same = votes["left"] == votes["right"]
    usable = votes[~same]
    images = ledger.query("SELECT id, uri FROM images WHERE derived_from IS NULL ORDER BY id")
    items = [r["id"] for r in images]
    uris = {r["id"]: r["uri"] for r in images}
    alpha = ws.settings.ranking.prior
    reliability: pd.Series | None = None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        if method == "fourup":
            derived = {
                r[0] for r in ledger.query("SELECT id FROM images WHERE derived_from IS NOT NULL")
            }
            answers = fourup_answers(judgments_table(ledger, include_rejected=False), derived)
            if answers.empty:
                raise BeautyError("no 4-up answers to fit: use --method crowdbt for pair votes")
            screens = FourUp(alpha=alpha).fit(answers, items=items)
            reliability = screens.discrimination_
            scores, se = screens.scores_, screens.se_
        elif method == "crowdbt":
            gold = worker_gold(gold_record(judgments_table(ledger)))
            model = CrowdBT(alpha=alpha).fit(usable, gold=gold, items=items)
            reliability = model.discrimination_
            scores, se = model.scores_, model.se_
        else:
            bt = BradleyTerry(alpha=alpha).fit(usable, items=items)
            scores, se = bt.scores_, bt.se_
    table = scores_table(scores, se, usable, uris=uris, tiers=ws.settings.ranking.tiers)
    return Fit(
        table=table,
        votes=len(usable),
        self_comparisons=int(same.sum()),
        worker_reliability=reliability,
        warnings=[str(w.message) for w in caught],
    )


def rank_workspace(
    ws: Workspace, *, out_dir: Path | None = None, method: Method = "crowdbt"
) -> tuple[Fit, list[Path]]:
    """Fit scores and write the scores table (``tables/scores.parquet`` and ``.csv``).

    Methods that learn each worker's reliability also write it (``tables/reliability.csv``:
    ``worker, reliability``), which ``beauty hits plan --trusted`` offers batches by.
    """
    fit = fit_scores(ws, method=method)
    out = out_dir or ws.tables_dir
    paths = [out / "scores.parquet", out / "scores.csv"]
    for path in paths:
        write_table(fit.table, path)
    if fit.worker_reliability is not None:
        paths.append(out / RELIABILITY_TABLE)
        table = fit.worker_reliability.rename("reliability").rename_axis("worker").reset_index()
        write_table(table, paths[-1])
    return fit, paths


def kendall_vs_truth(ws: Workspace, table: pd.DataFrame, truth_path: Path) -> float:
    """Kendall's tau between fitted scores and a hidden truth (``truth.csv``: image, beauty)."""
    from scipy.stats import kendalltau

    from crowd.truth import load_truth

    truth = load_truth(ws.ledger, truth_path)
    known = table[table["image"].isin(truth)]
    tau = kendalltau(known["score"], known["image"].map(truth)).statistic
    return float(tau)
