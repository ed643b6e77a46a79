"""MTurk event notifications through SQS: a queue MTurk may write to, and draining it.

MTurk sends a message per event (an assignment submitted, returned, abandoned; a HIT
reviewable or expired) for every HIT type registered with UpdateNotificationSettings. Sync
drains the queue, fetches the HITs the events name, and deletes the messages only once their
answers are in the ledger; a message lost or never sent costs nothing, because sync also polls.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pydantic import BaseModel, ConfigDict, ValidationError

from infra import aws
from infra.errors import BeautyError
from infra.ledger import Ledger, utcnow
from infra.workspace import Workspace
from mturk.client import Environment, environment_of, make_client, market_error

EVENTS = [
    "AssignmentSubmitted",
    "AssignmentReturned",
    "AssignmentAbandoned",
    "HITReviewable",
    "HITExpired",
]
NOTIFICATION_VERSION = "2014-08-15"
MTURK_PRINCIPAL = "mturk-requester.amazonaws.com"
RECEIVE_ROUNDS = 50  # at most 500 messages per sync; the rest wait for the next one


class Event(BaseModel):
    model_config = ConfigDict(extra="ignore")

    EventType: str
    HITId: str | None = None
    AssignmentId: str | None = None


class EventDocument(BaseModel):
    """One SQS message body: MTurk's event document."""

    model_config = ConfigDict(extra="ignore")

    Events: list[Event]


@dataclass
class Drained:
    """What the queue said: the HITs with news, and the receipts to delete once stored."""

    queue_url: str
    hits: set[str] = field(default_factory=set)
    receipts: list[str] = field(default_factory=list)
    unreadable: int = 0


@dataclass
class QueueSetup:
    queue_url: str
    queue_arn: str
    hit_types: int


def queue_policy(queue_arn: str) -> str:
    """Allow MTurk (and only over TLS) to send messages to the queue."""
    return json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {
                    "Sid": "MTurkNotifications",
                    "Effect": "Allow",
                    "Principal": {"Service": MTURK_PRINCIPAL},
                    "Action": "sqs:SendMessage",
                    "Resource": queue_arn,
                    "Condition": {"Bool": {"aws:SecureTransport": "true"}},
                }
            ],
        }
    )


def notification(queue_url: str) -> dict[str, Any]:
    return {
        "Destination": queue_url,
        "Transport": "SQS",
        "Version": NOTIFICATION_VERSION,
        "EventTypes": EVENTS,
    }


def setup_notifications(
    ws: Workspace,
    queue_name: str,
    *,
    live: bool = False,
    client: Any = None,
    sqs_client: Any = None,
) -> QueueSetup:
    """Create the SQS queue MTurk may write to and register it for every HIT type we made.

    Idempotent: the queue and its policy are made or updated, and HIT types posted later are
    registered as they are created.
    """
    environment = environment_of(ws.settings.mturk, live)
    sqs = sqs_client or sqs_client_for(ws)
    try:
        url = str(sqs.create_queue(QueueName=queue_name)["QueueUrl"])
        arn = str(
            sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
                "QueueArn"
            ]
        )
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": queue_policy(arn)})
    except ClientError as exc:
        raise BeautyError(f"SQS refused to set up queue {queue_name!r}: {exc}") from exc
    with ws.ledger.transaction() as conn:
        conn.execute(
            "INSERT INTO mturk_queues (environment, queue_url, created_at) VALUES (?, ?, ?) "
            "ON CONFLICT (environment) DO UPDATE SET queue_url = excluded.queue_url",
            (environment, url, utcnow()),
        )
    client = client or make_client(ws.settings.mturk, environment)
    types = ws.ledger.query(
        "SELECT remote_id FROM mturk_hit_types WHERE environment = ?", (environment,)
    )
    for row in types:
        subscribe_hit_type(ws.ledger, client, environment, str(row["remote_id"]))
    return QueueSetup(queue_url=url, queue_arn=arn, hit_types=len(types))


def queue_url(ledger: Ledger, environment: Environment) -> str | None:
    value = ledger.scalar(
        "SELECT queue_url FROM mturk_queues WHERE environment = ?", (environment,)
    )
    return None if value is None else str(value)


def subscribe_hit_type(
    ledger: Ledger, client: Any, environment: Environment, hit_type_id: str
) -> bool:
    """Send the HIT type's events to the environment's queue, if it has one."""
    url = queue_url(ledger, environment)
    if url is None:
        return False
    try:
        client.update_notification_settings(
            HITTypeId=hit_type_id, Notification=notification(url), Active=True
        )
    except (BotoCoreError, ClientError) as exc:
        raise market_error(exc, f"send HIT type {hit_type_id}'s events to {url}") from exc
    return True


def drain(sqs: Any, url: str) -> Drained:
    """Read what the queue holds (without deleting it): the HIT ids its events name.

    A message seen again (its visibility timeout ran out while draining) counts once, and only
    its latest receipt can delete it.
    """
    out = Drained(queue_url=url)
    receipts: dict[str, str] = {}
    for _ in range(RECEIVE_ROUNDS):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
        messages = [m for m in got.get("Messages", []) if m["MessageId"] not in receipts]
        for m in got.get("Messages", []):
            receipts[m["MessageId"]] = m["ReceiptHandle"]
        if not messages:
            break
        for message in messages:
            try:
                doc = EventDocument.model_validate_json(message["Body"])
            except ValidationError:
                out.unreadable += 1  # not MTurk's: deleted like the rest, it can never be read
                continue
            out.hits.update(e.HITId for e in doc.Events if e.HITId)
    out.receipts = list(receipts.values())
    return out


def delete(sqs: Any, url: str, receipts: Sequence[str]) -> None:
    """Delete handled messages, ten to a call."""
    for start in range(0, len(receipts), 10):
        chunk = receipts[start : start + 10]
        sqs.delete_message_batch(
            QueueUrl=url,
            Entries=[{"Id": str(k), "ReceiptHandle": r} for k, r in enumerate(chunk)],
        )


def sqs_client_for(ws: Workspace) -> Any:
    """An SQS client in MTurk's region (MTurk sends notifications within its region)."""
    return aws.client("sqs", region=ws.settings.mturk.region)
