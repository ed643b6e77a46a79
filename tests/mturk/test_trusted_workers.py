"""A batch offered only to chosen workers: on MTurk, no one else finds or accepts its HITs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from infra.errors import BeautyError
from mturk.client import make_client
from mturk.post import PostReport, post_batches
from mturk.reconcile import hit_annotation, hit_request_token, namespace
from tests.mturk.fake_mturk import FakeMTurk, TurkError
from tests.mturk.mturk_campaign import Campaign, Crash, dummy_aws, make_campaign

CHOSEN = ["A1CHOSEN", "A2CHOSEN"]
NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Campaign]:
    dummy_aws(monkeypatch)
    with FakeMTurk() as fake:
        yield make_campaign(tmp_path, fake, hits=2, assignments=2)


def choose(world: Campaign, workers: list[str]) -> None:
    """Offer the batch only to ``workers``, as planning with chosen workers records it."""
    with world.ws.ledger.transaction() as conn:
        conn.executemany(
            "INSERT INTO batch_workers (batch_id, worker_id) VALUES (?, ?)",
            [(world.batch, w) for w in workers],
        )


def post(world: Campaign, client: Any = None) -> PostReport:
    return post_batches(world.ws, client=client or world.client, s3_client=world.s3)


def invitations(world: Campaign) -> list[dict[str, Any]]:
    """The ``Exists`` requirements of the batch's HIT type."""
    (params,) = world.fake.hit_types.values()
    return [r for r in params["QualificationRequirements"] if r["Comparator"] == "Exists"]


def test_only_the_chosen_workers_may_work_on_a_restricted_batch(world: Campaign) -> None:
    choose(world, CHOSEN)
    post(world)
    (invited,) = invitations(world)
    type_id = invited["QualificationTypeId"]
    assert invited["ActionsGuarded"] == "DiscoverPreviewAndAccept"
    qualification = world.fake.qualification_types[type_id]
    assert qualification["Name"] == f"Beauty Crowd batch {world.batch} {namespace(world.ws.ledger)}"
    assert qualification["QualificationTypeStatus"] == "Active"
    assert all(world.fake.worker_qualifications[(type_id, w)] == 1 for w in CHOSEN)
    assert not world.fake.qualified(type_id, "A3STRANGER")
    hit = world.hits()[0]
    world.fake.submit(hit["remote_id"], CHOSEN[0], world.answer(hit["id"]))
    with pytest.raises(TurkError, match="qualification requirements"):
        world.fake.submit(hit["remote_id"], "A3STRANGER", world.answer(hit["id"]))


def test_an_open_batch_invites_no_one(world: Campaign) -> None:
    post(world)
    assert invitations(world) == []
    assert len(world.fake.qualification_types) == 1  # the exclusion qualification alone
    assert world.fake.received["AssociateQualificationWithWorker"] == 0
    assert world.submit_all(["A3STRANGER"])


@pytest.mark.parametrize(
    ("when", "operation", "on_call"),
    [
        (None, None, 0),  # no crash: the second post finds everything done
        ("after", "CreateQualificationType", 2),  # made on MTurk, not in the ledger
        ("after", "AssociateQualificationWithWorker", 1),  # one worker invited of two
        ("before", "CreateHITType", 1),  # every worker invited, no HIT type yet
    ],
)
def test_a_rerun_makes_the_qualification_and_the_hits_once(
    world: Campaign, when: str | None, operation: str | None, on_call: int
) -> None:
    choose(world, CHOSEN)
    if when is not None and operation is not None:
        world.crash(when, operation, on_call)  # the exclusion qualification is made first
        with pytest.raises(Crash):
            post(world)
    post(world)
    post(world)
    (invited,) = invitations(world)
    type_id = invited["QualificationTypeId"]
    assert world.fake.applied["CreateQualificationType"] == 2  # exclusion, then the batch's
    recorded = world.ws.ledger.query(
        "SELECT environment, remote_id FROM mturk_batch_qualifications"
    )
    assert [tuple(r) for r in recorded] == [("sandbox", type_id)]
    assert all(world.fake.qualified(type_id, w) for w in CHOSEN)
    assert world.fake.applied["CreateHITType"] == 1
    hits = world.hits()
    assert all(h["post_state"] == "posted" for h in hits)
    assert len(world.fake.hits) == len(hits) == 2


@pytest.fixture
def stubbed(world: Campaign) -> Iterator[tuple[Any, Stubber]]:
    world.ws.settings.mturk.exclusion_qualification = "QEXCLUDED"
    client = make_client(world.ws.settings.mturk, "sandbox")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def stub_invitation(stub: Stubber, world: Campaign) -> None:
    stub.add_response("get_account_balance", {"AvailableBalance": "10000.00"}, {})
    stub.add_response(
        "create_qualification_type",
        {"QualificationType": {"QualificationTypeId": "QBATCH"}},
        {
            "Name": f"Beauty Crowd batch {world.batch} {namespace(world.ws.ledger)}",
            "Description": ANY,
            "QualificationTypeStatus": "Active",
        },
    )


def test_post_calls_invite_each_chosen_worker_before_the_hit_type(
    world: Campaign, stubbed: tuple[Any, Stubber]
) -> None:
    client, stub = stubbed
    choose(world, CHOSEN)
    stub_invitation(stub, world)
    for worker in CHOSEN:
        stub.add_response(
            "associate_qualification_with_worker",
            {},
            {
                "QualificationTypeId": "QBATCH",
                "WorkerId": worker,
                "IntegerValue": 1,
                "SendNotification": False,
            },
        )
    excluded = {
        "QualificationTypeId": "QEXCLUDED",
        "Comparator": "DoesNotExist",
        "ActionsGuarded": "DiscoverPreviewAndAccept",
    }
    invited = {
        "QualificationTypeId": "QBATCH",
        "Comparator": "Exists",
        "ActionsGuarded": "DiscoverPreviewAndAccept",
    }
    stub.add_response(
        "create_hit_type",
        {"HITTypeId": "TYPE1"},
        {
            "Title": ANY,
            "Description": ANY,
            "Keywords": ANY,
            "Reward": "0.10",
            "AssignmentDurationInSeconds": ANY,
            "AutoApprovalDelayInSeconds": ANY,
            # approval rate, approved HITs and locale between them, as for every batch
            "QualificationRequirements": [excluded, ANY, ANY, ANY, invited],
        },
    )
    ns = namespace(world.ws.ledger)
    for hit_id in (1, 2):
        remote = {
            "HITId": f"HIT{hit_id}",
            "HITTypeId": "TYPE1",
            "CreationTime": NOW,
            "Expiration": NOW + timedelta(days=3),
        }
        stub.add_response(
            "create_hit_with_hit_type",
            {"HIT": remote},
            {
                "HITTypeId": "TYPE1",
                "MaxAssignments": 2,
                "LifetimeInSeconds": ANY,
                "Question": ANY,
                "RequesterAnnotation": hit_annotation(ns, hit_id),
                "UniqueRequestToken": hit_request_token(ns, hit_id),
            },
        )
    assert post(world, client).created == 2


def test_a_worker_mturk_does_not_know_stops_the_post_in_one_line(
    world: Campaign, stubbed: tuple[Any, Stubber]
) -> None:
    client, stub = stubbed
    choose(world, ["A0UNKNOWN"])
    stub_invitation(stub, world)
    stub.add_client_error(
        "associate_qualification_with_worker",
        service_error_code="RequestError",
        service_message="Worker A0UNKNOWN does not exist.",
        http_status_code=400,
    )
    with pytest.raises(BeautyError, match="A0UNKNOWN") as caught:
        post(world, client)
    message = str(caught.value)
    assert "\n" not in message and "plan it again without A0UNKNOWN" in message
    assert world.hits()[0]["post_state"] == "planned"  # no HIT type, no HIT
