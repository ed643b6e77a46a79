"""Managing posted HITs and workers: expire HITs early, delete finished ones, message workers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from crowd.batches import batch_filter
from infra.errors import BeautyError
from infra.ledger import Ledger, utcnow
from infra.progress import bar
from infra.workspace import Workspace
from mturk.client import (
    Clients,
    Environment,
    error_message,
    market_error,
)

PAST = datetime(2015, 1, 1, tzinfo=UTC)  # MTurk expires a HIT at once when told a past time
NOTIFY_BATCH = 100  # NotifyWorkers takes at most 100 workers a call
SUBJECT_CHARS = 200
MESSAGE_CHARS = 4096


@dataclass
class HitsChanged:
    done: int = 0
    refused: list[tuple[str, str]] = field(default_factory=list)  # (HIT id, why)


@dataclass
class Notified:
    sent: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (worker, why)


def expire_hits(
    ws: Workspace, batch_id: int | Sequence[int] | None = None, *, client: Any = None
) -> HitsChanged:
    """Stop posted HITs taking new workers now (work in progress may still be submitted)."""
    ledger = ws.ledger
    clients = Clients(ws.settings.mturk, client)
    now = utcnow()
    hits = _posted(ledger, batch_id, "AND (h.expires_at IS NULL OR h.expires_at > ?)", (now,))
    out = HitsChanged()
    progress = bar(len(hits), desc="expiring", unit="HIT")
    for hit in hits:
        try:
            clients(hit["environment"]).update_expiration_for_hit(
                HITId=hit["remote_id"], ExpireAt=PAST
            )
        except ClientError as exc:
            out.refused.append((hit["remote_id"], error_message(exc)))
            continue
        except BotoCoreError as exc:
            raise market_error(exc, f"expire HIT {hit['remote_id']}") from exc
        finally:
            progress.update(1)
        with ledger.transaction() as conn:
            conn.execute(
                "UPDATE hits SET expires_at = ?, remote_status = 'Reviewable' WHERE id = ?",
                (now, hit["id"]),
            )
        out.done += 1
    progress.close()
    return out


def delete_hits(ws: Workspace, batch_id: int | None = None, *, client: Any = None) -> HitsChanged:
    """Delete posted HITs that are over: reviewable on MTurk and every answer decided.

    A HIT still open, or with submitted work not yet approved or rejected, is left alone and
    reported, with what to run first.
    """
    ledger = ws.ledger
    clients = Clients(ws.settings.mturk, client)
    hits = _posted(ledger, batch_id, "AND h.remote_status IS NOT 'Disposed'", ())
    out = HitsChanged()
    progress = bar(len(hits), desc="deleting", unit="HIT")
    for hit in hits:
        progress.update(1)
        if hit["undecided"]:
            out.refused.append(
                (
                    hit["remote_id"],
                    f"{hit['undecided']} answer(s) undecided: run `beauty hits "
                    "sync` and `beauty hits review` first",
                )
            )
            continue
        client_ = clients(hit["environment"])
        try:
            status = client_.get_hit(HITId=hit["remote_id"])["HIT"]["HITStatus"]
            if status != "Reviewable":
                out.refused.append(
                    (hit["remote_id"], f"{status} on MTurk: run `beauty hits expire` first")
                )
                continue
            client_.delete_hit(HITId=hit["remote_id"])
        except ClientError as exc:
            out.refused.append((hit["remote_id"], error_message(exc)))
            continue
        except BotoCoreError as exc:
            raise market_error(exc, f"delete HIT {hit['remote_id']}") from exc
        with ledger.transaction() as conn:
            conn.execute("UPDATE hits SET remote_status = 'Disposed' WHERE id = ?", (hit["id"],))
        out.done += 1
    progress.close()
    return out


def _posted(
    ledger: Ledger, batch_id: int | Sequence[int] | None, extra: str, params: tuple[Any, ...]
) -> list[Any]:
    where, chosen = batch_filter(batch_id)
    return ledger.query(
        "SELECT h.id, h.remote_id, t.environment, "
        "  (SELECT COUNT(*) FROM assignments a WHERE a.hit_id = h.id AND a.state = 'submitted') "
        "  AS undecided "
        "FROM hits h JOIN batches b ON b.id = h.batch_id "
        "JOIN mturk_hit_types t ON t.batch_id = b.id "
        f"WHERE h.post_state = 'posted' {extra} {where}ORDER BY h.id",
        (*params, *chosen),
    )


def notify_workers(
    ws: Workspace,
    worker_ids: Sequence[str],
    subject: str,
    message: str,
    *,
    client: Any = None,
) -> Notified:
    """Email workers through MTurk (NotifyWorkers, 100 to a call), per environment they work in.

    Raises
    ------
    BeautyError
        A subject or message too long, or workers the ledger does not know.
    """
    if not subject.strip() or len(subject) > SUBJECT_CHARS:
        raise BeautyError(f"--subject must be 1 to {SUBJECT_CHARS} characters")
    if not message.strip() or len(message) > MESSAGE_CHARS:
        raise BeautyError(f"--message must be 1 to {MESSAGE_CHARS} characters")
    where = _environments(ws.ledger, worker_ids)
    clients = Clients(ws.settings.mturk, client)
    out = Notified()
    for environment, workers in where.items():
        for start in range(0, len(workers), NOTIFY_BATCH):
            chunk = workers[start : start + NOTIFY_BATCH]
            try:
                got = clients(environment).notify_workers(
                    Subject=subject, MessageText=message, WorkerIds=chunk
                )
            except (BotoCoreError, ClientError) as exc:
                raise market_error(exc, f"notify {len(chunk)} worker(s)") from exc
            failed = {
                f["WorkerId"]: f.get("NotifyWorkersFailureMessage", f["NotifyWorkersFailureCode"])
                for f in got.get("NotifyWorkersFailureStatuses", [])
            }
            out.failed.extend(failed.items())
            out.sent += len(chunk) - len(failed)
    return out


def _environments(ledger: Ledger, worker_ids: Sequence[str]) -> dict[Environment, list[str]]:
    """Each worker under the environment of their latest MTurk assignment."""
    out: dict[Environment, list[str]] = {}
    unknown = []
    for worker in dict.fromkeys(worker_ids):
        env = ledger.scalar(
            "SELECT t.environment FROM assignments a JOIN hits h ON h.id = a.hit_id "
            "JOIN mturk_hit_types t ON t.batch_id = h.batch_id WHERE a.worker_id = ? "
            "ORDER BY a.id DESC LIMIT 1",
            (worker,),
        )
        if env is None:
            unknown.append(worker)
        else:
            out.setdefault(env, []).append(worker)
    if unknown:
        raise BeautyError(
            f"{len(unknown)} worker(s) never worked on our MTurk HITs (e.g. {unknown[0]}): "
            "MTurk only delivers messages to workers who did; check the ids"
        )
    return out
