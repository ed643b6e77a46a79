"""Rank a workspace: its votes -> Bradley-Terry scores with worker reliability -> scores table.

The math is an aggregation method from :mod:`ranking.methods` (Crowd-BT by default); this module
only gathers the votes, 4-up answers and gold record from the ledger and writes the table the
trainer reads (``tables/scores.parquet`` and ``.csv``).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from crowd.judgments import fourup_answers, gold_record, judgments_table
from crowd.votes import ledger_votes, write_table
from infra.errors import BeautyError
from infra.gallery import derived_images, gallery_ids, image_records
from infra.text import from_csv_cell
from infra.workspace import Workspace
from ranking import methods
from ranking.gold import worker_gold
from ranking.methods import FitData
from ranking.scores import scores_table

RELIABILITY_TABLE = "reliability.csv"


@dataclass
class Fit:
    """Scores for every original image, and what went into them."""

    table: pd.DataFrame
    votes: int
    self_comparisons: int
    worker_reliability: pd.Series | None
    warnings: list[str] = field(default_factory=list)


def fit_scores(ws: Workspace, *, method: str = "crowdbt") -> Fit:
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
    items = gallery_ids(ledger)
    uris = {image: record["uri"] for image, record in image_records(ledger, items).items()}
    alpha = ws.settings.ranking.prior
    chosen = methods.get(method)
    answers = None
    if chosen.needs_answers:
        kept = judgments_table(ledger, include_rejected=False)
        answers = fourup_answers(kept, set(derived_images(ledger)))
        if answers.empty:
            raise BeautyError(f"no 4-up answers to fit: --method {method} needs 4-up batches")
    gold = worker_gold(gold_record(judgments_table(ledger)))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            fitted = chosen.fit(FitData(usable, items, gold=gold, answers=answers), alpha)
        except ValueError as exc:
            raise BeautyError(
                f"--method {method}: {exc}; collect more votes or choose another --method"
            ) from None
    scores, se, reliability = fitted.scores, fitted.se, fitted.reliability
    table = scores_table(scores, se, usable, uris=uris, tiers=ws.settings.ranking.tiers)
    return Fit(
        table=table,
        votes=len(usable),
        self_comparisons=int(same.sum()),
        worker_reliability=reliability,
        warnings=[str(w.message) for w in caught],
    )


def rank_workspace(
    ws: Workspace, *, out_dir: Path | None = None, method: str = "crowdbt"
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


def read_reliability(ws: Workspace) -> pd.Series | None:
    """Each worker's learned reliability from the last ``beauty rank`` (None when it wrote
    none), worker names restored from the CSV's formula-safe form."""
    path = ws.tables_dir / RELIABILITY_TABLE
    if not path.exists():
        return None
    table = pd.read_csv(path, dtype={"worker": str})
    if not {"worker", "reliability"} <= set(table.columns):
        raise BeautyError(f"{path} lacks columns worker, reliability: run `beauty rank` again")
    workers = table["worker"].map(from_csv_cell)
    return pd.Series(table["reliability"].to_numpy(dtype=float), index=workers, name="reliability")


def kendall_vs_truth(ws: Workspace, table: pd.DataFrame, truth_path: Path) -> float:
    """Kendall's tau between fitted scores and a hidden truth (``truth.csv``: image, beauty)."""
    from scipy.stats import kendalltau

    from crowd.truth import load_truth

    truth = load_truth(ws.ledger, truth_path)
    known = table[table["image"].isin(truth)]
    tau = kendalltau(known["score"], known["image"].map(truth)).statistic
    return float(tau)
