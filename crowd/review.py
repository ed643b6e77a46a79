"""Verdicts on submitted work: one policy for every market, weighing every signal's evidence.

Every worker's answers give a row of signals (:func:`ranking.signals.worker_signals`): gold
with its Wilson interval, position bias, speed against the crowd's, keep-all and keep-none
rates on 4-up screens, agreement with the crowd's fitted scores on non-gold screens, and the
learned reliability where a fit gave one. :func:`crowd.evidence.assess` turns the row into
findings in plain words, and :func:`crowd.evidence.judge` into an action per assignment:

- any finding excludes the worker from further HITs;
- an assignment is rejected only on strong evidence that touches it: gold failed in this very
  HIT together with a strong gold finding or a second strong finding, or three strong
  findings at once; everything weaker approves (excluded or not);
- no finding and a gold lower bound over ``bonus_above``: approve with a bonus.

Verdicts are plain data: each market carries them out its own way (:mod:`crowd.decisions`);
their reasons become the worker's feedback.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pandas as pd

from crowd.evidence import Action, Assessment, assess, judge
from crowd.judgments import judgments_table, votes_from_judgments
from infra.gallery import derived_images
from infra.ledger import Ledger, utcnow
from infra.settings import ReviewSettings
from ranking.signals import cross_fitted_scores, worker_signals

__all__ = ["Action", "Verdict", "bonus_dollars", "decide", "record_verdicts", "review_signals"]


@dataclass(frozen=True)
class Verdict:
    """What to do with one submitted assignment, and why (the worker's feedback)."""

    assignment_id: int
    worker_id: str
    action: Action
    bonus_cents: int
    exclude: bool
    reason: str

    @property
    def flagged(self) -> bool:
        return self.action == "reject" or self.exclude


def consensus_votes(judged: pd.DataFrame, derived: set[str]) -> pd.DataFrame:
    """Every non-gold answer as pairwise votes, made-gold variants left out: the consensus."""
    normal = judged[judged["gold_passed"].isna()]
    if normal.empty:
        return pd.DataFrame(columns=["worker", "left", "right", "label"])
    votes = votes_from_judgments(normal)
    if not votes.empty and derived:
        votes = votes[~votes["left"].isin(derived) & ~votes["right"].isin(derived)]
    return votes[["worker", "left", "right", "label"]]


def review_signals(
    ledger: Ledger, settings: ReviewSettings, reliability: Mapping[str, float] | None = None
) -> tuple[pd.DataFrame, dict[str, Assessment]]:
    """Every worker's signals (one row each) and their assessment under ``settings``."""
    judged = judgments_table(ledger)
    if judged.empty:
        return pd.DataFrame(), {}
    return _signals(ledger, judged, settings, reliability)


def _signals(
    ledger: Ledger,
    judged: pd.DataFrame,
    settings: ReviewSettings,
    reliability: Mapping[str, float] | None,
) -> tuple[pd.DataFrame, dict[str, Assessment]]:
    scores = cross_fitted_scores(consensus_votes(judged, set(derived_images(ledger))))
    table = worker_signals(
        judged,
        scores,
        reliability,
        all_none_base=settings.all_none_base,
        fast_ratio=settings.fast_ratio,
        fast_base=settings.fast_base,
    ).merge(_unloaded(ledger), on="worker", how="outer")
    return table, {str(r["worker"]): assess(r, settings) for r in table.to_dict("records")}


def _unloaded(ledger: Ledger) -> pd.DataFrame:
    """Per worker: screens marked as not loading, screens answered either way, and the rate of
    the first among the second for everyone else (the judgments table leaves those screens
    out; the worker's own marks do not raise the line they are held to)."""
    rows = ledger.query(
        "SELECT a.worker_id AS worker, SUM(j.could_not_load) AS unloaded, COUNT(*) AS handed "
        "FROM judgments j JOIN assignments a ON a.id = j.assignment_id "
        "WHERE a.parse_state = 'ok' GROUP BY a.worker_id"
    )
    table = pd.DataFrame([dict(r) for r in rows], columns=["worker", "unloaded", "handed"])
    others = table["handed"].sum() - table["handed"]
    table["crowd_unloaded"] = (table["unloaded"].sum() - table["unloaded"]) / others.where(
        others > 0
    )
    return table


def decide(
    ledger: Ledger,
    settings: ReviewSettings,
    batch_id: int | None = None,
    reliability: Mapping[str, float] | None = None,
) -> list[Verdict]:
    """Verdicts for submitted assignments that no decision covers yet, flagged workers first.

    Parameters
    ----------
    ledger : Ledger
        Read only.
    settings : ReviewSettings
        The policy's thresholds.
    batch_id : int, optional
        Only assignments of this batch; the evidence always uses all of a worker's answers.
    reliability : mapping of worker to float, optional
        Learned reliability from the last fit (``tables/reliability.csv``).
    """
    pending = _undecided(ledger, batch_id)
    if not pending:
        return []
    judged = judgments_table(ledger)
    assessments = {} if judged.empty else _signals(ledger, judged, settings, reliability)[1]
    failed_in = _failed_gold(judged)
    bonus_cents = int((settings.bonus * 100).to_integral_value())
    verdicts = []
    for assignment_id, worker, parse_error in pending:
        assessment = assessments.get(worker)
        if parse_error is not None or assessment is None:
            why = f"answer could not be read ({parse_error})" if parse_error else "no answers"
            reason = why if assessment is None else f"{why}; {assessment.gold}"
            exclude = assessment is not None and assessment.exclude
            verdicts.append(Verdict(assignment_id, worker, "approve", 0, exclude, reason))
            continue
        action, reason = judge(assessment, failed_in.get(assignment_id, 0), settings)
        bonus = bonus_cents if action == "approve" and assessment.bonus else 0
        if bonus:
            reason = f"{reason}; thank you for careful work: bonus"
        elif not assessment.findings and assessment.gold_seen < settings.min_gold_for_verdict:
            reason = f"{reason}; too few for a verdict (need {settings.min_gold_for_verdict})"
        verdicts.append(Verdict(assignment_id, worker, action, bonus, assessment.exclude, reason))
    verdicts.sort(key=lambda v: (not v.flagged, v.bonus_cents == 0, v.worker_id, v.assignment_id))
    return verdicts


def _failed_gold(judged: pd.DataFrame) -> dict[int, int]:
    """The failed gold count of each assignment."""
    if judged.empty:
        return {}
    graded = judged[judged["gold_passed"].notna()]
    failed = graded[~graded["gold_passed"].astype(bool)]
    out: dict[int, int] = {}
    for assignment in failed["assignment"].astype(int):
        out[assignment] = out.get(assignment, 0) + 1
    return out


def _undecided(ledger: Ledger, batch_id: int | None) -> list[tuple[int, str, str | None]]:
    """Submitted, parsed (or unreadable) assignments without an approve/reject decision."""
    where = "" if batch_id is None else "AND h.batch_id = ?"
    rows = ledger.query(
        "SELECT a.id, a.worker_id, a.parse_state, a.parse_error FROM assignments a "
        "JOIN hits h ON h.id = a.hit_id "
        "WHERE a.state = 'submitted' AND a.parse_state != 'pending' "
        "AND NOT EXISTS (SELECT 1 FROM decisions d WHERE d.subject_kind = 'assignment' "
        "  AND d.subject_id = CAST(a.id AS TEXT) AND d.decision IN ('approve', 'reject')) "
        f"{where} ORDER BY a.id",
        () if batch_id is None else (batch_id,),
    )
    return [
        (
            int(r["id"]),
            str(r["worker_id"]),
            (r["parse_error"] or "unparsed") if r["parse_state"] == "failed" else None,
        )
        for r in rows
    ]


def record_verdicts(
    ledger: Ledger, verdicts: list[Verdict], actor: str = "policy", *, apply: bool = False
) -> int:
    """Log each verdict (and each first exclusion) in the decision log, in one transaction.

    With ``apply`` the verdicts also take effect in the ledger: assignments still submitted
    become approved or rejected, excluded workers are marked. A market that carries verdicts
    out remotely (with money) records them without ``apply`` and sets states once its calls
    succeed.

    Returns the number of verdicts recorded. A verdict on an assignment that already has one
    (another review ran at the same time) is skipped: the ledger holds one approve/reject
    decision per assignment by constraint, and the check runs under the write lock.
    """
    if not verdicts:
        return 0
    recorded = 0
    now = utcnow()
    with ledger.transaction() as conn:
        excluded = {
            str(r[0])
            for r in conn.execute(
                "SELECT subject_id FROM decisions WHERE subject_kind = 'worker' "
                "AND decision = 'exclude'"
            )
        }
        for v in verdicts:
            if _has_verdict(conn, v.assignment_id):
                continue
            recorded += 1
            conn.execute(
                "INSERT INTO decisions (at, actor, subject_kind, subject_id, decision, reason) "
                "VALUES (?, ?, 'assignment', ?, ?, ?)",
                (now, actor, str(v.assignment_id), v.action, v.reason),
            )
            if v.bonus_cents:
                conn.execute(
                    "INSERT OR IGNORE INTO decisions (at, actor, subject_kind, subject_id, "
                    "decision, reason) VALUES (?, ?, 'assignment', ?, ?, ?)",
                    (now, actor, str(v.assignment_id), f"bonus {v.bonus_cents}c", v.reason),
                )
            if apply:
                conn.execute(
                    "UPDATE assignments SET state = ? WHERE id = ? AND state = 'submitted'",
                    ("approved" if v.action == "approve" else "rejected", v.assignment_id),
                )
            if v.exclude and v.worker_id not in excluded:
                excluded.add(v.worker_id)
                conn.execute(
                    "INSERT INTO decisions (at, actor, subject_kind, subject_id, decision, reason) "
                    "VALUES (?, ?, 'worker', ?, 'exclude', ?)",
                    (now, actor, v.worker_id, v.reason),
                )
                if apply:
                    conn.execute("UPDATE workers SET excluded = 1 WHERE id = ?", (v.worker_id,))
    return recorded


def _has_verdict(conn: Any, assignment_id: int) -> bool:
    """Whether an approve/reject decision for the assignment is in the log already."""
    row = conn.execute(
        "SELECT 1 FROM decisions WHERE subject_kind = 'assignment' AND subject_id = ? "
        "AND decision IN ('approve', 'reject')",
        (str(assignment_id),),
    ).fetchone()
    return row is not None


def bonus_dollars(verdict: Verdict) -> Decimal:
    """A verdict's bonus as dollars, the unit money is shown in."""
    return Decimal(verdict.bonus_cents) / 100
