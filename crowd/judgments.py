"""The ledger's answers as tidy tables: one row per judged screen, or one per pairwise vote.

These are the bridge from what workers did (``judgments``) to the pure math in ``ranking/``:
gold grading, worker statistics and Bradley-Terry all read these frames.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from infra.ledger import Ledger
from ranking.gold import grade
from ranking.votes import fourup_pairs

JUDGMENT_COLUMNS = (
    "worker",
    "assignment",
    "hit",
    "batch",
    "screen",
    "kind",
    "shown",
    "selected",
    "seconds",
    "gold_id",
    "gold_passed",
    "state",
)


def judgments_table(
    ledger: Ledger, *, batch_id: int | None = None, include_rejected: bool = True
) -> pd.DataFrame:
    """One row per answered screen of every parsed submission.

    Screens that could not load in the worker's browser are left out: they were not judged, so
    they are neither graded as gold, nor votes, nor counted for or against the worker.

    ``shown`` and ``selected`` are tuples of image ids (shown order); ``gold_passed`` is a bool
    for gold screens and ``None`` elsewhere, graded by :func:`ranking.gold.grade`.
    """
    where = ["a.parse_state = 'ok'", "j.could_not_load = 0"]
    params: list[object] = []
    if batch_id is not None:
        where.append("h.batch_id = ?")
        params.append(batch_id)
    if not include_rejected:
        where.append("a.state != 'rejected'")
    rows = ledger.query(
        "SELECT a.worker_id, a.id AS assignment, h.id AS hit, h.batch_id, s.id AS screen, s.kind, "
        "  j.selected, j.seconds, s.gold_id, g.must_keep, g.must_drop, a.state, "
        "  (SELECT json_group_array(image_id) FROM "
        "     (SELECT image_id FROM screen_images si WHERE si.screen_id = s.id "
        "      ORDER BY si.position)) AS shown "
        "FROM judgments j JOIN assignments a ON a.id = j.assignment_id "
        "JOIN screens s ON s.id = j.screen_id JOIN hits h ON h.id = s.hit_id "
        "LEFT JOIN gold_items g ON g.id = s.gold_id "
        f"WHERE {' AND '.join(where)} ORDER BY a.id, s.position",
        params,
    )
    records = []
    for r in rows:
        selected = tuple(json.loads(r["selected"]))
        passed = None
        if r["gold_id"] is not None:
            passed = grade(selected, json.loads(r["must_keep"]), json.loads(r["must_drop"]))
        records.append(
            (
                r["worker_id"],
                r["assignment"],
                r["hit"],
                r["batch_id"],
                r["screen"],
                r["kind"],
                tuple(json.loads(r["shown"])),
                selected,
                r["seconds"],
                r["gold_id"],
                passed,
                r["state"],
            )
        )
    return pd.DataFrame.from_records(records, columns=list(JUDGMENT_COLUMNS))


def votes_from_judgments(judgments: pd.DataFrame) -> pd.DataFrame:
    """Pairwise votes (crowd-kit columns plus screen, assignment, gold, seconds).

    A pair screen is one vote (``label`` empty for "no preference"); a 4-up screen breaks into
    every selected-beats-unselected pair, and none or all selected gives no vote.
    """
    out: list[tuple[object, ...]] = []
    for r in judgments.to_dict("records"):
        shown: tuple[str, ...] = r["shown"]
        gold = r["gold_id"] is not None and not pd.isna(r["gold_id"])
        common = (r["screen"], r["assignment"], gold, r["seconds"])
        if r["kind"] == "pair":
            label = r["selected"][0] if r["selected"] else np.nan
            out.append((r["worker"], shown[0], shown[1], label, *common))
            continue
        for winner, loser in fourup_pairs(shown, r["selected"]):
            left, right = sorted((winner, loser), key=shown.index)
            out.append((r["worker"], left, right, winner, *common))
    columns = ["worker", "left", "right", "label", "screen", "assignment", "gold", "seconds"]
    return pd.DataFrame.from_records(out, columns=columns)


def gold_record(judgments: pd.DataFrame) -> pd.DataFrame:
    """Graded gold screens only: ``worker, passed`` (the input of ranking.gold.worker_gold)."""
    graded = judgments[judgments["gold_passed"].notna()]
    return pd.DataFrame(
        {"worker": graded["worker"].to_numpy(), "passed": graded["gold_passed"].astype(bool)}
    )


def fourup_answers(judgments: pd.DataFrame, exclude: set[str] | None = None) -> pd.DataFrame:
    """4-up answers as :class:`ranking.fourup.FourUp` reads them: one row per photo shown,
    ``screen, worker, image, kept``. Screens showing an ``exclude``d image are left out whole,
    since a photo is kept relative to everything on its screen."""
    rows: list[tuple[object, ...]] = []
    for r in judgments[judgments["kind"] == "fourup"].to_dict("records"):
        if exclude and exclude.intersection(r["shown"]):
            continue
        kept = set(r["selected"])
        rows.extend((r["screen"], r["worker"], image, image in kept) for image in r["shown"])
    return pd.DataFrame.from_records(rows, columns=["screen", "worker", "image", "kept"])
