"""Money on MTurk: verdicts and QA decisions turned into approvals, rejections, bonuses and
exclusions, each paid or refused exactly once.

Every action is written as intent first (a ``money_actions`` row, ``pending``, with a token
derived from its id), in the same transaction as the decision it carries out; then MTurk is
called (:mod:`mturk.settle`); then the outcome is recorded. Before anything new, actions left
pending by an earlier run are settled.

A rejection needs gold evidence: the assignment itself failed known-answer screens, and the
feedback the worker reads quotes it. Exclusion goes through our own qualification (the HIT
type requires that workers do not hold it); blocks are for abuse only, and only by hand.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from crowd.judgments import judgments_table
from crowd.review import Verdict, record_verdicts
from infra.errors import BeautyError
from infra.ledger import Ledger, utcnow
from infra.workspace import Workspace
from mturk.client import Clients
from mturk.reconcile import action_token, namespace
from mturk.settle import ActionResult, settle_pending

WorkerDecision = Literal["approve", "reject", "exclude", "include", "block"]
OVERRIDE_WINDOW = timedelta(days=30)


@dataclass(frozen=True)
class Intent:
    """A money action to write: kind, whom, how much, why."""

    kind: str
    worker: str
    assignment_id: int | None
    remote_assignment: str | None
    amount_cents: int
    reason: str

    def planned(self, state: str = "planned", detail: str = "") -> ActionResult:
        return ActionResult(
            None,
            self.kind,
            self.worker,
            self.remote_assignment,
            Decimal(self.amount_cents) / 100,
            state,
            detail or self.reason,
        )


def carry_out(
    ws: Workspace,
    verdicts: Sequence[Verdict],
    *,
    client: Any = None,
    dry_run: bool = False,
    actor: str = "policy",
) -> list[ActionResult]:
    """Carry out review verdicts on MTurk assignments, with money.

    The verdicts are recorded in the decision log (unless an approve/reject decision for the
    assignment is already there) in the same transaction as their money intents, so a crash
    can never leave a decision without the action that carries it out. Verdicts on other
    markets' assignments are left alone.

    Parameters
    ----------
    ws : Workspace
    verdicts : sequence of Verdict
        From :func:`crowd.review.decide`.
    client : optional
        A boto3 MTurk client (by default one per environment, made from the settings).
    dry_run : bool
        Return what would happen; write nothing, call nothing.

    Returns
    -------
    list of ActionResult
        Actions left pending by an earlier run first, then one per new action; a rejection
        without gold evidence in its own HIT comes back ``skipped``.
    """
    ledger = ws.ledger
    if dry_run:
        intents, skipped, _ = _verdict_plan(ledger, verdicts)
        return [i.planned() for i in intents] + skipped
    clients = Clients(ws.settings.mturk, client)
    earlier = settle_pending(ledger, clients, ws.settings.mturk)
    # Decided and written under the write lock: two runs at once cannot both pay a bonus.
    with ledger.transaction():
        intents, skipped, ours = _verdict_plan(ledger, verdicts)
        record_verdicts(ledger, [v for v in ours if not _decided(ledger, v.assignment_id)], actor)
        _write(ledger, intents)
    return earlier + settle_pending(ledger, clients, ws.settings.mturk) + skipped


def decide_worker(
    ws: Workspace,
    worker_id: str,
    decision: WorkerDecision,
    reason: str,
    *,
    client: Any = None,
    dry_run: bool = False,
) -> list[ActionResult]:
    """A QA decision on one MTurk worker, carried out on MTurk.

    - ``approve``: approve their submitted work and override their rejections (MTurk allows
      that within 30 days);
    - ``reject``: reject their submitted work that failed gold in its own HIT;
    - ``exclude`` / ``include``: set or lift our exclusion qualification;
    - ``block``: block the worker on MTurk (abuse only; hurts their standing).

    Raises
    ------
    BeautyError
        An unknown worker, a block without a reason, or nothing to do.
    """
    ledger = ws.ledger
    if ledger.one("SELECT 1 FROM workers WHERE id = ? AND market = 'mturk'", (worker_id,)) is None:
        raise BeautyError(f"no MTurk worker {worker_id} in the ledger: run `beauty hits sync`")
    if decision == "block" and not reason.strip():
        raise BeautyError("a block needs --reason: say what abuse it answers")
    note = f"QA: {reason}" if reason else "QA decision"
    intents, skipped = _worker_intents(ledger, worker_id, decision, note)
    if not intents and not skipped:
        raise BeautyError(f"nothing to {decision} for worker {worker_id}")
    if dry_run:
        return [i.planned() for i in intents] + skipped
    clients = Clients(ws.settings.mturk, client)
    earlier = settle_pending(ledger, clients, ws.settings.mturk)
    now = utcnow()
    with ledger.transaction() as conn:
        intents, skipped = _worker_intents(ledger, worker_id, decision, note)
        for i in intents:
            subject = (
                ("worker", worker_id)
                if i.assignment_id is None
                else ("assignment", str(i.assignment_id))
            )
            conn.execute(
                "INSERT INTO decisions (at, actor, subject_kind, subject_id, decision, reason) "
                "VALUES (?, 'qa', ?, ?, ?, ?)",
                (now, *subject, i.kind, i.reason),
            )
        _write(ledger, intents)
    return earlier + settle_pending(ledger, clients, ws.settings.mturk) + skipped


def _mturk_assignments(ledger: Ledger, ids: Iterable[int]) -> dict[int, sqlite3.Row]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = ledger.query(
        "SELECT a.id, a.remote_id, a.worker_id, a.state, a.submitted_at FROM assignments a "
        "JOIN hits h ON h.id = a.hit_id JOIN batches b ON b.id = h.batch_id "
        f"WHERE b.market = 'mturk' AND a.remote_id IS NOT NULL "
        f"AND a.id IN ({','.join('?' * len(wanted))})",
        wanted,
    )
    return {int(r["id"]): r for r in rows}


def _verdict_plan(
    ledger: Ledger, verdicts: Sequence[Verdict]
) -> tuple[list[Intent], list[ActionResult], list[Verdict]]:
    """The intents for the verdicts on MTurk work, the rejections skipped, those verdicts."""
    rows = _mturk_assignments(ledger, [v.assignment_id for v in verdicts])
    ours = [v for v in verdicts if v.assignment_id in rows]
    intents, skipped = _verdict_intents(ledger, ours, rows)
    return intents, skipped, ours


def _verdict_intents(
    ledger: Ledger, verdicts: Sequence[Verdict], rows: dict[int, sqlite3.Row]
) -> tuple[list[Intent], list[ActionResult]]:
    intents: list[Intent] = []
    skipped: list[ActionResult] = []
    excluding: set[str] = set()
    for v in verdicts:
        row = rows[v.assignment_id]
        remote = str(row["remote_id"])
        if row["state"] == "submitted" and not _has_action(ledger, v.assignment_id, DECIDING):
            intent = Intent(v.action, v.worker_id, v.assignment_id, remote, 0, v.reason)
            if v.action == "reject":
                evidence = gold_evidence(ledger, v.assignment_id)
                if evidence is None:
                    skipped.append(intent.planned("skipped", "no failed gold in this HIT"))
                else:
                    intents.append(_quoted(intent, evidence))
            else:
                intents.append(intent)
        if v.bonus_cents > 0 and not _has_action(ledger, v.assignment_id, ("bonus",)):
            reason = f"Bonus for careful work: {v.reason}"
            intents.append(
                Intent("bonus", v.worker_id, v.assignment_id, remote, v.bonus_cents, reason)
            )
        if v.exclude and v.worker_id not in excluding and not _excluded(ledger, v.worker_id):
            excluding.add(v.worker_id)
            intents.append(Intent("exclude", v.worker_id, None, None, 0, v.reason))
    return intents, skipped


DECIDING = ("approve", "reject", "override")


def _worker_intents(
    ledger: Ledger, worker: str, decision: WorkerDecision, note: str
) -> tuple[list[Intent], list[ActionResult]]:
    if decision in ("exclude", "include"):
        if _excluded(ledger, worker) == (decision == "exclude"):
            state = "excluded" if decision == "exclude" else "not excluded"
            raise BeautyError(f"worker {worker} is already {state}")
        return [Intent(decision, worker, None, None, 0, note)], []
    if decision == "block":
        return [Intent("block", worker, None, None, 0, note)], []
    rows = ledger.query(
        "SELECT a.id, a.remote_id, a.state, a.submitted_at FROM assignments a "
        "JOIN hits h ON h.id = a.hit_id JOIN batches b ON b.id = h.batch_id "
        "WHERE a.worker_id = ? AND b.market = 'mturk' AND a.remote_id IS NOT NULL "
        "ORDER BY a.id",
        (worker,),
    )
    intents: list[Intent] = []
    skipped: list[ActionResult] = []
    cutoff = datetime.now(UTC) - OVERRIDE_WINDOW
    for r in rows:
        if _has_action(ledger, int(r["id"]), DECIDING, pending_only=True):
            continue
        intent = Intent(decision, worker, int(r["id"]), str(r["remote_id"]), 0, note)
        if decision == "approve" and r["state"] == "submitted":
            intents.append(intent)
        elif decision == "approve" and r["state"] == "rejected":
            submitted = r["submitted_at"] or ""
            if submitted and datetime.fromisoformat(submitted.replace("Z", "+00:00")) < cutoff:
                skipped.append(intent.planned("skipped", "rejected over 30 days ago: final"))
            else:
                intents.append(replace(intent, kind="override"))
        elif decision == "reject" and r["state"] == "submitted":
            evidence = gold_evidence(ledger, int(r["id"]))
            if evidence is None:
                skipped.append(intent.planned("skipped", "no failed gold in this HIT"))
            else:
                intents.append(_quoted(intent, evidence))
    return intents, skipped


def gold_evidence(ledger: Ledger, assignment_id: int) -> str | None:
    """What the assignment got wrong on gold, in words a worker can check; None if nothing."""
    judged = judgments_table(ledger)
    mine = judged[(judged["assignment"] == assignment_id) & judged["gold_passed"].notna()]
    failed = int((~mine["gold_passed"].astype(bool)).sum())
    if failed == 0:
        return None
    return (
        f"{failed} of the {len(mine)} check screens in this HIT, whose answer is known "
        "(an original photo against a visibly degraded copy of it, or a comparison agreed by "
        "an expert), were answered against the known answer"
    )


def _quoted(intent: Intent, evidence: str) -> Intent:
    return replace(intent, reason=f"Rejected: {evidence}. {intent.reason}")


def _has_action(
    ledger: Ledger, assignment_id: int, kinds: Sequence[str], *, pending_only: bool = False
) -> bool:
    states = ("pending",) if pending_only else ("pending", "done")
    return (
        ledger.one(
            f"SELECT 1 FROM money_actions WHERE assignment_id = ? "
            f"AND kind IN ({','.join('?' * len(kinds))}) "
            f"AND state IN ({','.join('?' * len(states))})",
            (assignment_id, *kinds, *states),
        )
        is not None
    )


def _excluded(ledger: Ledger, worker: str) -> bool:
    """Excluded now, or about to be (an exclude still pending)."""
    row = ledger.one(
        "SELECT kind FROM money_actions WHERE worker_id = ? AND kind IN ('exclude', 'include') "
        "AND state IN ('pending', 'done') ORDER BY id DESC LIMIT 1",
        (worker,),
    )
    if row is not None:
        return row["kind"] == "exclude"
    return bool(ledger.scalar("SELECT excluded FROM workers WHERE id = ?", (worker,)))


def _decided(ledger: Ledger, assignment_id: int) -> bool:
    return (
        ledger.one(
            "SELECT 1 FROM decisions WHERE subject_kind = 'assignment' AND subject_id = ? "
            "AND decision IN ('approve', 'reject')",
            (str(assignment_id),),
        )
        is not None
    )


def _write(ledger: Ledger, intents: Sequence[Intent]) -> None:
    """Intents as pending rows; the token derives from the row's own id."""
    ns = namespace(ledger)
    now = utcnow()
    with ledger.transaction() as conn:
        for i in intents:
            cursor = conn.execute(
                "INSERT INTO money_actions (kind, assignment_id, worker_id, amount_cents, "
                "reason, token, created_at) VALUES (?, ?, ?, ?, ?, "
                "'new-' || lower(hex(randomblob(8))), ?)",
                (i.kind, i.assignment_id, i.worker, i.amount_cents, i.reason, now),
            )
            action_id = int(cursor.lastrowid or 0)
            conn.execute(
                "UPDATE money_actions SET token = ? WHERE id = ?",
                (action_token(ns, i.kind, action_id), action_id),
            )
