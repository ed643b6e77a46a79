"""Syncing answers from MTurk: every assignment stored exactly once, raw before parsed.

Each assignment is written in one transaction with its raw answer, then parsed by
:func:`crowd.submissions.store_submission` (idempotent). MTurk keeps every answer, so a crash at
any point costs nothing: the next sync lists the same assignments, skips those stored, and
parses those stored but not yet parsed. Approvals and rejections made on MTurk itself (the
auto-approval after AutoApprovalDelay, another tool) are recorded as decisions by ``mturk``.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from crowd.batches import batch_filter
from crowd.submissions import store_submission
from infra.ledger import Ledger, iso, utcnow
from infra.progress import bar
from infra.workspace import Workspace
from mturk.client import Clients, Environment, each, market_error
from mturk.notifications import Drained, delete, drain, queue_url, sqs_client_for

STATUSES = ["Submitted", "Approved", "Rejected"]
STATE = {"Submitted": "submitted", "Approved": "approved", "Rejected": "rejected"}
# What MTurk may change on its own: our submitted work approved, a rejection overridden.
MOVES = {("submitted", "approved"), ("submitted", "rejected"), ("rejected", "approved")}


@dataclass
class SyncReport:
    hits: int = 0
    stored: int = 0
    known: int = 0
    parsed: int = 0
    parse_failed: int = 0
    changed_on_mturk: int = 0
    from_queue: int = 0
    messages_deleted: int = 0
    queue_error: str | None = None


def sync(
    ws: Workspace,
    batch_id: int | Sequence[int] | None = None,
    *,
    full: bool = False,
    client: Any = None,
    sqs_client: Any = None,
) -> SyncReport:
    """Fetch submitted work of posted MTurk HITs into the ledger.

    Parameters
    ----------
    ws : Workspace
    batch_id : int, optional
        Only this batch's HITs.
    full : bool
        Poll every unfinished HIT even when a notification queue says which HITs have news.
    client, sqs_client : optional
        boto3 clients (by default made from the settings, per environment).
    """
    ledger = ws.ledger
    clients = Clients(ws.settings.mturk, client)
    report = SyncReport()
    for environment, hits in _unfinished(ledger, batch_id, ws).items():
        drained = None if full else _drain(ws, environment, sqs_client, report)
        if drained is not None:
            named = [h for h in hits if h["remote_id"] in drained.hits]
            report.from_queue += len(named)
            hits = named
        _sync_hits(ledger, clients(environment), hits, report)
        if drained is not None and drained.receipts:
            delete(sqs_client or sqs_client_for(ws), drained.queue_url, drained.receipts)
            report.messages_deleted += len(drained.receipts)
    _parse_leftovers(ledger, report)
    return report


def _unfinished(
    ledger: Ledger, batch_id: int | Sequence[int] | None, ws: Workspace
) -> dict[Environment, list[sqlite3.Row]]:
    """Posted HITs that may still change: slots left, or still able to take submissions.

    A HIT is finished once every slot is decided, or once it expired longer ago than an
    assignment may last and every assignment it got is decided.
    """
    settle = timedelta(seconds=ws.settings.mturk.assignment_duration_seconds)
    cutoff = iso(datetime.now(UTC) - settle)
    where, chosen = batch_filter(batch_id)
    rows = ledger.query(
        "SELECT h.id, h.remote_id, h.expires_at, t.environment, b.assignments, "
        "  (SELECT COUNT(*) FROM assignments a WHERE a.hit_id = h.id "
        "   AND a.state IN ('approved', 'rejected')) AS decided, "
        "  (SELECT COUNT(*) FROM assignments a WHERE a.hit_id = h.id) AS got "
        "FROM hits h JOIN batches b ON b.id = h.batch_id "
        "JOIN mturk_hit_types t ON t.batch_id = b.id "
        "WHERE h.post_state = 'posted' AND b.market = 'mturk' " + where + "ORDER BY h.id",
        chosen,
    )
    out: dict[Environment, list[sqlite3.Row]] = {}
    for r in rows:
        all_decided = r["decided"] >= r["assignments"]
        settled = r["expires_at"] is not None and r["expires_at"] < cutoff
        if all_decided or (settled and r["decided"] == r["got"]):
            continue
        out.setdefault(r["environment"], []).append(r)
    return out


def _drain(
    ws: Workspace, environment: Environment, sqs_client: Any, report: SyncReport
) -> Drained | None:
    """The queue's news, or None (poll everything) without a queue or when it fails."""
    url = queue_url(ws.ledger, environment)
    if url is None:
        return None
    try:
        return drain(sqs_client or sqs_client_for(ws), url)
    except (BotoCoreError, ClientError) as exc:
        report.queue_error = f"notification queue {url} unreadable ({exc}); polled every HIT"
        return None


def _sync_hits(ledger: Ledger, client: Any, hits: list[sqlite3.Row], report: SyncReport) -> None:
    progress = bar(len(hits), desc="syncing", unit="HIT")
    for hit in hits:
        try:
            for remote in each(
                client,
                "list_assignments_for_hit",
                "Assignments",
                HITId=hit["remote_id"],
                AssignmentStatuses=STATUSES,
            ):
                _store(ledger, int(hit["id"]), remote, report)
        except (BotoCoreError, ClientError) as exc:
            progress.close()
            raise market_error(exc, f"list the assignments of HIT {hit['remote_id']}") from exc
        report.hits += 1
        progress.update(1)
    progress.close()


def _store(ledger: Ledger, hit_id: int, remote: dict[str, Any], report: SyncReport) -> None:
    """One assignment: stored with its raw answer if new, parsed if not yet, state followed."""
    remote_id = remote["AssignmentId"]
    state = STATE[remote["AssignmentStatus"]]
    with ledger.transaction() as conn:
        row = conn.execute(
            "SELECT id, state, parse_state FROM assignments WHERE remote_id = ?", (remote_id,)
        ).fetchone()
        if row is None:
            assignment_id = _insert(conn, hit_id, remote, state)
            report.stored += 1
            parse = True
        else:
            assignment_id = int(row["id"])
            report.known += 1
            parse = row["parse_state"] == "pending"
            # A pending money action of ours explains the change; settling it records it.
            ours = conn.execute(
                "SELECT 1 FROM money_actions WHERE assignment_id = ? AND state = 'pending'",
                (assignment_id,),
            ).fetchone()
            if (row["state"], state) in MOVES and ours is None:
                _follow(conn, assignment_id, row["state"], state)
                report.changed_on_mturk += 1
    if parse:
        outcome = store_submission(ledger, assignment_id, remote.get("Answer") or "", "mturk-xml")
        report.parsed += 1
        report.parse_failed += not outcome.ok


def _insert(conn: sqlite3.Connection, hit_id: int, remote: dict[str, Any], state: str) -> int:
    worker = remote["WorkerId"]
    conn.execute(
        "INSERT OR IGNORE INTO workers (id, market, first_seen) VALUES (?, 'mturk', ?)",
        (worker, utcnow()),
    )
    cursor = conn.execute(
        "INSERT INTO assignments (hit_id, worker_id, remote_id, state, handed_at, submitted_at, "
        "deadline, raw_answer, raw_format) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'mturk-xml')",
        (
            hit_id,
            worker,
            remote["AssignmentId"],
            state,
            _when(remote.get("AcceptTime")),
            _when(remote.get("SubmitTime")),
            _when(remote.get("AutoApprovalTime")),
            remote.get("Answer") or "",
        ),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _follow(conn: sqlite3.Connection, assignment_id: int, was: str, now: str) -> None:
    conn.execute("UPDATE assignments SET state = ? WHERE id = ?", (now, assignment_id))
    decision = "approve" if now == "approved" else "reject"
    conn.execute(
        "INSERT INTO decisions (at, actor, subject_kind, subject_id, decision, reason) "
        "VALUES (?, 'mturk', 'assignment', ?, ?, ?)",
        (
            utcnow(),
            str(assignment_id),
            decision,
            f"{now} on MTurk while {was} here (auto-approval, or a decision made outside)",
        ),
    )


def _parse_leftovers(ledger: Ledger, report: SyncReport) -> None:
    """Answers stored by an earlier run that stopped before parsing them."""
    rows = ledger.query(
        "SELECT id FROM assignments WHERE remote_id IS NOT NULL AND parse_state = 'pending' "
        "AND raw_answer IS NOT NULL"
    )
    for row in rows:
        outcome = store_submission(ledger, int(row["id"]), "", "mturk-xml")
        report.parsed += 1
        report.parse_failed += not outcome.ok


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else iso(moment)
