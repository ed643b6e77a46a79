"""Carrying out pending money actions on MTurk, each exactly once.

An action is a ``money_actions`` row written as intent (``pending``, with its token) before any
call. Settling one calls MTurk and records ``done`` or ``failed``. A row still pending after a
crash is settled the same way, and MTurk's own state tells what already happened:

- approve, reject, override: MTurk moves an assignment out of Submitted once, and refuses the
  second call; the refusal is checked with GetAssignment, whose status decides;
- bonus: retried with the same UniqueRequestToken, which MTurk dedups for 24 hours; an older
  intent first looks for its payment with ListBonusPayments;
- exclude, include, block: setting a qualification or a block twice changes nothing.

A call that never got an answer (the network, retries exhausted) leaves the row pending and
stops the run: the next run settles it before anything new. So does MTurk refusing for want of
funds: the bonus is still owed, and is paid once the account is funded.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any, cast

from botocore.exceptions import BotoCoreError, ClientError

from infra.errors import BeautyError
from infra.ledger import Ledger, utcnow
from infra.settings import MTurkSettings
from mturk.client import (
    Clients,
    Environment,
    already_done,
    each,
    error_message,
    insufficient_funds,
    market_error,
    unanswered,
)
from mturk.hit_type import exclusion_qualification

FUNDS_URL = "https://requester.mturk.com/account"
TOKEN_MEMORY = timedelta(hours=23)  # MTurk remembers a token 24 hours; keep a margin
FEEDBACK_CHARS = 1024


@dataclass(frozen=True)
class ActionResult:
    """One money action: what, for whom, how much, and how it ended."""

    action_id: int | None
    kind: str
    worker: str
    assignment: str | None
    amount: Decimal
    state: str  # done | failed | pending | planned (dry run) | skipped
    detail: str


class _Outcome(Exception):
    """How an action ended when the call alone does not say: ``done`` or ``failed``."""

    def __init__(self, state: str, detail: str) -> None:
        super().__init__(detail)
        self.state = state
        self.detail = detail


def settle_pending(ledger: Ledger, clients: Clients, settings: MTurkSettings) -> list[ActionResult]:
    """Carry out every pending action, oldest first; returns how each ended.

    Raises
    ------
    BeautyError
        MTurk did not answer; what is settled stays settled, the rest stays pending.
    """
    rows = ledger.query(
        "SELECT m.*, a.remote_id AS remote_assignment, "
        "  COALESCE(a.worker_id, m.worker_id) AS worker, "
        "  COALESCE(ta.environment, (SELECT t.environment FROM assignments w "
        "    JOIN hits h ON h.id = w.hit_id JOIN mturk_hit_types t ON t.batch_id = h.batch_id "
        "    WHERE w.worker_id = m.worker_id ORDER BY w.id DESC LIMIT 1)) AS environment "
        "FROM money_actions m LEFT JOIN assignments a ON a.id = m.assignment_id "
        "LEFT JOIN hits ha ON ha.id = a.hit_id "
        "LEFT JOIN mturk_hit_types ta ON ta.batch_id = ha.batch_id "
        "WHERE m.state = 'pending' ORDER BY m.id"
    )
    return [_settle(ledger, clients, settings, row) for row in rows]


def _settle(
    ledger: Ledger, clients: Clients, settings: MTurkSettings, row: sqlite3.Row
) -> ActionResult:
    kind = str(row["kind"])
    if row["environment"] is None:
        return _finish(ledger, row, "failed", "no MTurk work of this worker in the ledger")
    environment = cast(Environment, row["environment"])
    client = clients(environment)
    try:
        detail = CALLS[kind](ledger, client, settings, environment, row)
        state = "done"
    except _Outcome as outcome:
        state, detail = outcome.state, outcome.detail
    except ClientError as exc:
        if unanswered(exc):
            raise market_error(exc, f"{kind} ({row['token']})") from exc
        if insufficient_funds(exc):
            raise BeautyError(
                f"MTurk refused a {kind} for want of funds ({error_message(exc)}): add funds at "
                f"{FUNDS_URL}, then run the same command again; the {kind} stays pending"
            ) from exc
        state, detail = "failed", error_message(exc)
    except BotoCoreError as exc:
        raise market_error(exc, f"{kind} ({row['token']})") from exc
    return _finish(ledger, row, state, detail)


def _finish(ledger: Ledger, row: sqlite3.Row, state: str, detail: str) -> ActionResult:
    kind = str(row["kind"])
    with ledger.transaction() as conn:
        conn.execute(
            "UPDATE money_actions SET state = ?, error = ?, done_at = ? WHERE id = ?",
            (state, None if state == "done" else detail, utcnow(), row["id"]),
        )
        if state == "done":
            _apply(conn, kind, row)
    return ActionResult(
        action_id=int(row["id"]),
        kind=kind,
        worker=str(row["worker"]),
        assignment=row["remote_assignment"],
        amount=Decimal(int(row["amount_cents"])) / 100,
        state=state,
        detail=detail,
    )


def _apply(conn: sqlite3.Connection, kind: str, row: sqlite3.Row) -> None:
    """What a done action means in the ledger."""
    state = {"approve": "approved", "override": "approved", "reject": "rejected"}.get(kind)
    if state is not None:
        conn.execute("UPDATE assignments SET state = ? WHERE id = ?", (state, row["assignment_id"]))
    elif kind in ("exclude", "include"):
        conn.execute(
            "UPDATE workers SET excluded = ? WHERE id = ?",
            (int(kind == "exclude"), row["worker"]),
        )


def _feedback(row: sqlite3.Row) -> str:
    return str(row["reason"])[:FEEDBACK_CHARS]


def _status(client: Any, row: sqlite3.Row) -> str:
    got = client.get_assignment(AssignmentId=row["remote_assignment"])
    return str(got["Assignment"]["AssignmentStatus"])


def _decide_assignment(client: Any, row: sqlite3.Row, call: Any, want: str, **params: Any) -> str:
    """Move an assignment to ``want``; a refusal is checked against its status on MTurk."""
    try:
        call(AssignmentId=row["remote_assignment"], **params)
        return f"{want.lower()} on MTurk"
    except ClientError as exc:
        if unanswered(exc):
            raise
        status = _status(client, row)
        if status == want:
            return f"already {want.lower()} on MTurk"
        raise _Outcome("failed", f"{error_message(exc)} (MTurk status: {status})") from exc


def _approve(
    ledger: Ledger, client: Any, settings: MTurkSettings, env: Environment, row: sqlite3.Row
) -> str:
    return _decide_assignment(
        client, row, client.approve_assignment, "Approved", RequesterFeedback=_feedback(row)
    )


def _override(
    ledger: Ledger, client: Any, settings: MTurkSettings, env: Environment, row: sqlite3.Row
) -> str:
    return _decide_assignment(
        client,
        row,
        client.approve_assignment,
        "Approved",
        RequesterFeedback=_feedback(row),
        OverrideRejection=True,
    )


def _reject(
    ledger: Ledger, client: Any, settings: MTurkSettings, env: Environment, row: sqlite3.Row
) -> str:
    return _decide_assignment(
        client, row, client.reject_assignment, "Rejected", RequesterFeedback=_feedback(row)
    )


def _bonus(
    ledger: Ledger, client: Any, settings: MTurkSettings, env: Environment, row: sqlite3.Row
) -> str:
    amount = f"{Decimal(int(row['amount_cents'])) / 100:.2f}"
    created = datetime.fromisoformat(str(row["created_at"]).replace("Z", "+00:00"))
    if datetime.now(UTC) - created > TOKEN_MEMORY and _bonus_paid(client, row, amount):
        return f"${amount} bonus found already paid"
    try:
        client.send_bonus(
            WorkerId=row["worker"],
            BonusAmount=amount,
            AssignmentId=row["remote_assignment"],
            Reason=_feedback(row),
            UniqueRequestToken=row["token"],
        )
    except ClientError as exc:
        if already_done(exc):
            return f"${amount} bonus already paid (same request token)"
        raise
    return f"${amount} bonus paid"


def _bonus_paid(client: Any, row: sqlite3.Row, amount: str) -> bool:
    """Whether this assignment already got this bonus (after MTurk forgot the token)."""
    return any(
        Decimal(p["BonusAmount"]) == Decimal(amount) and p.get("Reason") == _feedback(row)
        for p in each(
            client, "list_bonus_payments", "BonusPayments", AssignmentId=row["remote_assignment"]
        )
    )


def _exclude(
    ledger: Ledger, client: Any, settings: MTurkSettings, env: Environment, row: sqlite3.Row
) -> str:
    qualification = exclusion_qualification(ledger, client, settings, env)
    client.associate_qualification_with_worker(
        QualificationTypeId=qualification,
        WorkerId=row["worker"],
        IntegerValue=1,
        SendNotification=False,
    )
    return "excluded from further HITs"


def _include(
    ledger: Ledger, client: Any, settings: MTurkSettings, env: Environment, row: sqlite3.Row
) -> str:
    qualification = exclusion_qualification(ledger, client, settings, env)
    try:
        client.disassociate_qualification_from_worker(
            QualificationTypeId=qualification, WorkerId=row["worker"], Reason=_feedback(row)
        )
    except ClientError:
        if _holds(client, qualification, str(row["worker"])):
            raise
        return "already free to work on our HITs"
    return "may work on our HITs again"


def _holds(client: Any, qualification: str, worker: str) -> bool:
    """Whether the worker holds the qualification (MTurk refuses the score of one who does not)."""
    try:
        client.get_qualification_score(QualificationTypeId=qualification, WorkerId=worker)
    except ClientError:
        return False
    return True


def _block(
    ledger: Ledger, client: Any, settings: MTurkSettings, env: Environment, row: sqlite3.Row
) -> str:
    client.create_worker_block(WorkerId=row["worker"], Reason=_feedback(row))
    return "blocked"


CALLS = {
    "approve": _approve,
    "override": _override,
    "reject": _reject,
    "bonus": _bonus,
    "exclude": _exclude,
    "include": _include,
    "block": _block,
}
