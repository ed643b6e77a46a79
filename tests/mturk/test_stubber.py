"""Every MTurk call checked against the real service model (botocore's Stubber).

The Stubber fails a test on a call out of order, a parameter the model does not know or of
the wrong type, a missing required one, or a stubbed answer that MTurk could not send.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from botocore.stub import ANY, Stubber

from crowd.review import Verdict
from mturk.client import make_client
from mturk.hit_type import APPROVAL_RATE, APPROVED_HITS, LOCALE
from mturk.money import carry_out
from mturk.post import post_batches
from mturk.reconcile import hit_annotation, hit_request_token, namespace
from mturk.sync import sync
from tests.crowd.market_fixtures import gold_chooser
from tests.mturk.fake_mturk import FakeMTurk
from tests.mturk.mturk_campaign import Campaign, dummy_aws, make_campaign

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Campaign]:
    dummy_aws(monkeypatch)
    with FakeMTurk() as fake:
        yield make_campaign(tmp_path, fake, hits=2, assignments=3, gold=2)


@pytest.fixture
def stubbed(world: Campaign) -> Iterator[tuple[Any, Stubber]]:
    client = make_client(world.ws.settings.mturk, "sandbox")
    with Stubber(client) as stubber:
        yield client, stubber
        stubber.assert_no_pending_responses()


def remote_hit(hit_id: str, type_id: str) -> dict[str, Any]:
    return {
        "HITId": hit_id,
        "HITTypeId": type_id,
        "CreationTime": NOW,
        "Expiration": NOW + timedelta(days=3),
        "HITStatus": "Assignable",
        "MaxAssignments": 3,
    }


def test_post_calls(world: Campaign, stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    ns = namespace(world.ws.ledger)
    stub.add_response("get_account_balance", {"AvailableBalance": "10000.00"}, {})
    stub.add_response(
        "create_qualification_type",
        {"QualificationType": {"QualificationTypeId": "QEXCLUDED"}},
        {
            "Name": f"Beauty Crowd exclusion {ns}",
            "Description": ANY,
            "QualificationTypeStatus": "Active",
        },
    )
    requirements = [
        {
            "QualificationTypeId": "QEXCLUDED",
            "Comparator": "DoesNotExist",
            "ActionsGuarded": "DiscoverPreviewAndAccept",
        },
        {
            "QualificationTypeId": APPROVAL_RATE,
            "Comparator": "GreaterThanOrEqualTo",
            "IntegerValues": [95],
            "ActionsGuarded": "Accept",
        },
        {
            "QualificationTypeId": APPROVED_HITS,
            "Comparator": "GreaterThanOrEqualTo",
            "IntegerValues": [1000],
            "ActionsGuarded": "Accept",
        },
        {
            "QualificationTypeId": LOCALE,
            "Comparator": "EqualTo",
            "LocaleValues": [{"Country": "US"}],
            "ActionsGuarded": "Accept",
        },
    ]
    m = world.ws.settings.mturk
    stub.add_response(
        "create_hit_type",
        {"HITTypeId": "TYPE1"},
        {
            "Title": m.title,
            "Description": m.description,
            "Keywords": m.keywords,
            "Reward": "0.10",
            "AssignmentDurationInSeconds": m.assignment_duration_seconds,
            "AutoApprovalDelayInSeconds": m.auto_approval_delay_seconds,
            "QualificationRequirements": requirements,
        },
    )
    for hit_id in (1, 2):
        stub.add_response(
            "create_hit_with_hit_type",
            {"HIT": remote_hit(f"HIT{hit_id}", "TYPE1")},
            {
                "HITTypeId": "TYPE1",
                "MaxAssignments": 3,
                "LifetimeInSeconds": m.lifetime_seconds,
                "Question": ANY,
                "RequesterAnnotation": hit_annotation(ns, hit_id),
                "UniqueRequestToken": hit_request_token(ns, hit_id),
            },
        )
    report = post_batches(world.ws, client=client, s3_client=world.s3)
    assert report.created == 2
    assert [h["remote_id"] for h in world.hits()] == ["HIT1", "HIT2"]


def test_recovery_lists_hits(world: Campaign, stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    post_batches(world.ws, client=world.client, s3_client=world.s3)
    with world.ws.ledger.transaction() as conn:
        conn.execute("UPDATE hits SET post_state = 'pending', remote_id = NULL WHERE id = 2")
    annotation = hit_annotation(namespace(world.ws.ledger), 2)
    first = dict(remote_hit("OTHER", "T"), RequesterAnnotation="someone else's")
    stub.add_response("list_hits", {"HITs": [first], "NextToken": "p2"}, {"MaxResults": 100})
    mine = dict(remote_hit("HITTWO", "T"), RequesterAnnotation=annotation)
    stub.add_response("list_hits", {"HITs": [mine]}, {"MaxResults": 100, "NextToken": "p2"})
    report = post_batches(world.ws, client=client, s3_client=world.s3)
    assert report.recovered == 1 and report.created == 0
    assert world.hits()[1]["remote_id"] == "HITTWO"


def test_sync_calls_page_through_every_status(
    world: Campaign, stubbed: tuple[Any, Stubber]
) -> None:
    client, stub = stubbed
    post_batches(world.ws, client=world.client, s3_client=world.s3)
    hits = world.hits()
    answer = world.answer(hits[0]["id"])
    for n, hit in enumerate(hits):
        page = {
            "HITId": hit["remote_id"],
            "AssignmentStatuses": ["Submitted", "Approved", "Rejected"],
        }
        first = {
            "AssignmentId": f"A{n}1",
            "WorkerId": "AW1",
            "HITId": hit["remote_id"],
            "AssignmentStatus": "Submitted",
            "AcceptTime": NOW,
            "SubmitTime": NOW,
            "AutoApprovalTime": NOW + timedelta(days=3),
            "Answer": answer if n == 0 else "<broken",
        }
        stub.add_response(
            "list_assignments_for_hit",
            {"Assignments": [first], "NextToken": "next"},
            dict(page, MaxResults=100),
        )
        second = dict(first, AssignmentId=f"A{n}2", WorkerId="AW2", AssignmentStatus="Approved")
        stub.add_response(
            "list_assignments_for_hit",
            {"Assignments": [second]},
            dict(page, MaxResults=100, NextToken="next"),
        )
    report = sync(world.ws, client=client)
    assert (report.stored, report.parse_failed) == (4, 2)


def test_money_calls(world: Campaign, stubbed: tuple[Any, Stubber]) -> None:
    client, stub = stubbed
    post_batches(world.ws, client=world.client, s3_client=world.s3)
    world.submit_all(["AGOOD"], gold_chooser(world.ws.ledger, passes=True))
    world.submit_all(["ABAD"], gold_chooser(world.ws.ledger, passes=False))
    sync(world.ws, client=world.client)
    rows = world.ws.ledger.query(
        "SELECT id, remote_id, worker_id FROM assignments WHERE hit_id = 1 ORDER BY worker_id"
    )
    bad, good = rows  # ABAD sorts first
    exclusion = world.ws.ledger.scalar("SELECT remote_id FROM mturk_qualifications")
    ns = namespace(world.ws.ledger)
    stub.add_response(
        "approve_assignment",
        {},
        {"AssignmentId": good["remote_id"], "RequesterFeedback": "gold 2/2 passed"},
    )
    stub.add_response(
        "send_bonus",
        {},
        {
            "WorkerId": "AGOOD",
            "BonusAmount": "0.05",
            "AssignmentId": good["remote_id"],
            "Reason": "Bonus for careful work: gold 2/2 passed",
            "UniqueRequestToken": f"bc-{ns}-bonus-2",
        },
    )
    stub.add_response(
        "reject_assignment",
        {},
        {"AssignmentId": bad["remote_id"], "RequesterFeedback": ANY},
    )
    stub.add_response(
        "associate_qualification_with_worker",
        {},
        {
            "QualificationTypeId": exclusion,
            "WorkerId": "ABAD",
            "IntegerValue": 1,
            "SendNotification": False,
        },
    )
    verdicts = [
        Verdict(int(good["id"]), "AGOOD", "approve", 5, False, "gold 2/2 passed"),
        Verdict(int(bad["id"]), "ABAD", "reject", 0, True, "gold 0/2 passed"),
    ]
    results = carry_out(world.ws, verdicts, client=client)
    assert [(r.kind, r.state) for r in results] == [
        ("approve", "done"),
        ("bonus", "done"),
        ("reject", "done"),
        ("exclude", "done"),
    ]
