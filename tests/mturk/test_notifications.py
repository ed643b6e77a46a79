"""MTurk notifications through SQS (moto): the queue, its policy, and sync draining it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner
from moto import mock_aws

import mturk.sync
from beauty.cli import cli
from mturk.notifications import EVENTS, MTURK_PRINCIPAL, setup_notifications
from mturk.post import post_batches
from mturk.sync import sync
from tests.mturk.fake_mturk import FakeMTurk
from tests.mturk.mturk_campaign import Campaign, Crash, dummy_aws, make_campaign

QUEUE = "beauty-events"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Campaign, Any]]:
    dummy_aws(monkeypatch)
    with FakeMTurk() as fake, mock_aws():
        campaign = make_campaign(tmp_path, fake, hits=3, assignments=2)
        post_batches(campaign.ws, client=campaign.client, s3_client=campaign.s3)
        sqs = boto3.client("sqs", region_name="us-east-1")
        setup_notifications(campaign.ws, QUEUE, client=campaign.client, sqs_client=sqs)
        fake.sqs = sqs
        yield campaign, sqs


def queue(sqs: Any) -> str:
    return str(sqs.get_queue_url(QueueName=QUEUE)["QueueUrl"])


def waiting(sqs: Any) -> int:
    attrs = sqs.get_queue_attributes(
        QueueUrl=queue(sqs),
        AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return sum(int(v) for v in attrs.values())


def test_queue_lets_mturk_send_and_hit_types_point_at_it(world: tuple[Campaign, Any]) -> None:
    campaign, sqs = world
    policy = json.loads(
        sqs.get_queue_attributes(QueueUrl=queue(sqs), AttributeNames=["Policy"])["Attributes"][
            "Policy"
        ]
    )
    (statement,) = policy["Statement"]
    assert statement["Principal"] == {"Service": MTURK_PRINCIPAL}
    assert statement["Action"] == "sqs:SendMessage" and statement["Effect"] == "Allow"
    assert statement["Resource"].endswith(f":{QUEUE}")
    (spec,) = campaign.fake.notifications.values()
    assert spec["Active"] and spec["Notification"]["Destination"] == queue(sqs)
    assert spec["Notification"]["Transport"] == "SQS"
    assert set(spec["Notification"]["EventTypes"]) == set(EVENTS)


def test_sync_fetches_only_the_hits_with_news_and_then_deletes_the_messages(
    world: tuple[Campaign, Any],
) -> None:
    campaign, sqs = world
    first = campaign.hits()[0]
    for worker in ("AW1", "AW2"):
        campaign.fake.submit(first["remote_id"], worker, campaign.answer(first["id"]))
    assert waiting(sqs) == 2
    report = sync(campaign.ws, client=campaign.client, sqs_client=sqs)
    assert (report.from_queue, report.hits, report.stored) == (1, 1, 2)
    assert campaign.fake.received["ListAssignmentsForHIT"] == 1
    assert report.messages_deleted == 2 and waiting(sqs) == 0


def test_messages_stay_until_their_answers_are_stored(
    world: tuple[Campaign, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign, sqs = world
    sqs.set_queue_attributes(QueueUrl=queue(sqs), Attributes={"VisibilityTimeout": "0"})
    second = campaign.hits()[1]
    campaign.fake.submit(second["remote_id"], "AW1", campaign.answer(second["id"]))

    def crash(*args: Any) -> None:
        raise Crash("before deleting messages")

    monkeypatch.setattr(mturk.sync, "delete", crash)
    with pytest.raises(Crash):
        sync(campaign.ws, client=campaign.client, sqs_client=sqs)
    assert campaign.rows("assignments") == 1 and waiting(sqs) == 1
    monkeypatch.undo()
    dummy_aws(monkeypatch)
    report = sync(campaign.ws, client=campaign.client, sqs_client=sqs)
    assert (report.stored, report.known, report.messages_deleted) == (0, 1, 1)
    assert campaign.rows("assignments") == 1 and waiting(sqs) == 0


def test_an_unreadable_queue_falls_back_to_polling(world: tuple[Campaign, Any]) -> None:
    campaign, sqs = world
    campaign.fake.sqs = None  # events lost
    campaign.submit_all(["AW1"])
    assert sync(campaign.ws, client=campaign.client, sqs_client=sqs).stored == 0
    sqs.delete_queue(QueueUrl=queue(sqs))
    report = sync(campaign.ws, client=campaign.client, sqs_client=sqs)
    assert report.queue_error is not None and report.stored == 3
    assert sync(campaign.ws, client=campaign.client, full=True).stored == 0


def test_infra_notifications_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dummy_aws(monkeypatch)
    with FakeMTurk() as fake, mock_aws():
        campaign = make_campaign(tmp_path, fake)
        post_batches(campaign.ws, client=campaign.client, s3_client=campaign.s3)
        monkeypatch.setenv("AWS_ENDPOINT_URL_MTURK", fake.url)
        args = ["--workspace", str(campaign.ws.root), "infra", "notifications", "--queue", QUEUE]
        result = CliRunner().invoke(cli, args)
        assert result.exit_code == 0, result.output
        assert "1 HIT type(s) registered" in result.output
        assert len(fake.notifications) == 1
