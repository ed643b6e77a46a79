"""Verdicts on submitted work: one policy for every market, decided from gold evidence alone.

A worker's gold record (accuracy with a Wilson 95% interval over every gold screen they answered)
decides what happens to each of their submitted, undecided assignments:

- fewer gold answers than ``min_gold_for_verdict``: approve; there is no evidence either way;
- upper bound under ``reject_below``: reject, but only an assignment that itself failed gold;
  the worker's other assignments are approved;
- upper bound under ``exclude_below``: the worker is excluded from further HITs;
- lower bound over ``bonus_above``: approve with a bonus;
- otherwise: approve.

Verdicts are plain data: each market carries them out its own way (:mod:`crowd.decisions`).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

from crowd.judgments import gold_record, judgments_table
from infra.ledger import Ledger, utcnow
from infra.settings import ReviewSettings
from ranking.gold import worker_gold

Action = Literal["approve", "reject"]


@dataclass(frozen=True)
class Verdict:
    """What to do with one submitted assignment, and why."""

    assignment_id: int
    worker_id: str
    action: Action
    bonus_cents: int
    exclude: bool
    reason: str

    @property
    def flagged(self) -> bool:
        return self.action == "reject" or self.exclude


@dataclass(frozen=True)
class GoldRecord:
    seen: int
    passed: int
    lower: float
    upper: float

    def evidence(self) -> str:
        return (
            f"gold {self.passed}/{self.seen} passed (Wilson 95%: {self.lower:.0%}-{self.upper:.0%})"
        )


def decide(ledger: Ledger, settings: ReviewSettings, batch_id: int | None = None) -> list[Verdict]:
    """Verdicts for submitted assignments that no decision covers yet, flagged workers first.

    Parameters
    ----------
    ledger : Ledger
        Read only.
    settings : ReviewSettings
        Thresholds on the Wilson bounds, the minimum gold for a verdict, the bonus.
    batch_id : int, optional
        Only assignments of this batch; gold records always use all of a worker's gold.
    """
    pending = _undecided(ledger, batch_id)
    if not pending:
        return []
    records, failed_in = _gold_records(ledger)
    bonus_cents = int((settings.bonus * 100).to_integral_value())
    verdicts = [
        _verdict(
            assignment_id,
            worker,
            records.get(worker),
            failed_in.get(assignment_id, 0),
            parse_error,
            settings,
            bonus_cents,
        )
        for assignment_id, worker, parse_error in pending
    ]
    verdicts.sort(key=lambda v: (not v.flagged, v.bonus_cents == 0, v.worker_id, v.assignment_id))
    return verdicts


def _verdict(
    assignment_id: int,
    worker: str,
    record: GoldRecord | None,
    failed_here: int,
    parse_error: str | None,
    settings: ReviewSettings,
    bonus_cents: int,
) -> Verdict:
    def verdict(action: Action, reason: str, bonus: int = 0, exclude: bool = False) -> Verdict:
        return Verdict(assignment_id, worker, action, bonus, exclude, reason)

    if parse_error is not None:
        return verdict("approve", f"answer could not be read ({parse_error}); no gold evidence")
    if record is None or record.seen < settings.min_gold_for_verdict:
        seen = "no gold" if record is None else record.evidence()
        return verdict(
            "approve", f"{seen}: too few for a verdict (need {settings.min_gold_for_verdict})"
        )
    evidence = record.evidence()
    exclude = record.upper < settings.exclude_below
    excluded = f"; excluded (upper bound under {settings.exclude_below:.0%})" if exclude else ""
    if record.upper < settings.reject_below:
        if failed_here:
            return verdict(
                "reject",
                f"{evidence}, under {settings.reject_below:.0%}; "
                f"failed {failed_here} gold in this HIT{excluded}",
                exclude=exclude,
            )
        return verdict(
            "approve", f"{evidence}, but no gold failed in this HIT{excluded}", exclude=exclude
        )
    if exclude:
        return verdict("approve", evidence + excluded, exclude=True)
    if record.lower > settings.bonus_above and bonus_cents > 0:
        return verdict(
            "approve", f"{evidence}, over {settings.bonus_above:.0%}: bonus", bonus=bonus_cents
        )
    return verdict("approve", evidence)


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


def _gold_records(ledger: Ledger) -> tuple[dict[str, GoldRecord], dict[int, int]]:
    """Every worker's gold record, and the failed gold count of each assignment."""
    judged = judgments_table(ledger)
    graded = judged[judged["gold_passed"].notna()]
    if graded.empty:
        return {}, {}
    failed = graded[~graded["gold_passed"].astype(bool)]
    failed_in: dict[int, int] = {}
    for assignment in failed["assignment"].astype(int):
        failed_in[assignment] = failed_in.get(assignment, 0) + 1
    table = worker_gold(gold_record(judged))
    records = {
        str(r["worker"]): GoldRecord(
            int(r["gold_seen"]), int(r["gold_passed"]), float(r["lower"]), float(r["upper"])
        )
        for r in table.to_dict("records")
    }
    return records, failed_in


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
