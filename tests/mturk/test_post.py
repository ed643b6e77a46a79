"""Posting to MTurk through a real boto3 client and a fault-injecting fake: each HIT once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from botocore.credentials import CredentialProvider, RefreshableCredentials
from botocore.session import Session as BotocoreSession

from infra.errors import BeautyError
from mturk.hit_type import APPROVAL_RATE, APPROVED_HITS, LOCALE, MASTERS, post_gold_test
from mturk.post import Confirm, PostPlan, PostReport, post_batches
from mturk.qualification import QualificationTest
from ranking.fees import batch_cost
from tests.mturk.fake_mturk import FakeMTurk
from tests.mturk.mturk_campaign import BUCKET, Campaign, Crash, dummy_aws, make_campaign


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Campaign]:
    dummy_aws(monkeypatch)
    with FakeMTurk() as fake:
        yield make_campaign(tmp_path, fake, hits=3, assignments=2)


def post(
    world: Campaign,
    batch_id: int | None = None,
    *,
    live: bool = False,
    confirm: Confirm | None = None,
) -> PostReport:
    return post_batches(
        world.ws, batch_id, live=live, confirm=confirm, client=world.client, s3_client=world.s3
    )


def annotation_counts(world: Campaign) -> Counter[str]:
    return Counter(h["RequesterAnnotation"] for h in world.fake.hits.values())


def assert_each_hit_once(world: Campaign) -> None:
    hits = world.hits()
    assert all(h["post_state"] == "posted" for h in hits)
    assert len(world.fake.hits) == len(hits)
    assert set(annotation_counts(world).values()) == {1}
    assert {h["remote_id"] for h in hits} == set(world.fake.hits)


def test_post_creates_every_hit_once_then_does_nothing(world: Campaign) -> None:
    report = post(world)
    assert report.created == 3
    assert_each_hit_once(world)
    assert world.fake.applied["CreateHITType"] == 1
    question = next(iter(world.fake.hits.values()))["Question"]
    assert "HTMLQuestion" in question and "workersandbox.mturk.com" in question
    assert BUCKET in question and "Signature=" in question  # presigned S3 links
    again = post(world)
    assert again.created == 0 and again.already_posted == 3
    assert world.fake.received["CreateHITWithHITType"] == 3


def test_crash_after_create_before_ledger_write(world: Campaign) -> None:
    world.crash("after", "CreateHITWithHITType", on_call=2)
    with pytest.raises(Crash):
        post(world)
    states = [h["post_state"] for h in world.hits()]
    assert states == ["posted", "pending", "planned"]
    assert len(world.fake.hits) == 2  # MTurk made the second HIT; the ledger never heard
    report = post(world)
    assert report.recovered == 1 and report.created == 1
    assert_each_hit_once(world)


def test_crash_recovered_after_mturk_forgot_the_token(world: Campaign) -> None:
    world.crash("after", "CreateHITWithHITType", on_call=1)
    with pytest.raises(Crash):
        post(world)
    world.fake.forget_tokens()  # 24 hours later: only the annotation can find the HIT
    post(world)
    assert_each_hit_once(world)


def test_crash_before_the_call_creates_it_on_rerun(world: Campaign) -> None:
    world.crash("before", "CreateHITWithHITType", on_call=1)
    with pytest.raises(Crash):
        post(world)
    assert world.hits()[0]["post_state"] == "pending" and not world.fake.hits
    post(world)
    assert_each_hit_once(world)


def test_lost_response_is_retried_and_recognised(world: Campaign) -> None:
    world.fake.fault("CreateHITWithHITType", "lost-after")
    post(world)
    assert_each_hit_once(world)
    assert world.fake.received["CreateHITWithHITType"] == 4  # one retry, answered "already"
    assert world.fake.applied["CreateHITWithHITType"] == 3


def test_throttling_and_503_bursts_back_off_and_go_on(world: Campaign) -> None:
    world.fake.fault("CreateHITType", "throttle", times=2)
    world.fake.fault("CreateHITWithHITType", "throttle", times=4)
    world.fake.fault("CreateHITWithHITType", "503", times=3)
    world.fake.fault("ListHITs", "503", times=1)
    post(world)
    assert_each_hit_once(world)
    assert len(world.sleeps) >= 9  # every retry waited, through the injected sleep
    assert all(s > 0 for s in world.sleeps)


@pytest.mark.parametrize(
    ("faults", "made_before_rerun"),
    [
        ([("503", 3)], 0),  # never got through
        ([("lost-after", 1), ("lost-before", 2)], 1),  # got through, every answer lost
    ],
)
def test_retries_exhausted_stop_and_the_rerun_goes_on(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    faults: list[tuple[str, int]],
    made_before_rerun: int,
) -> None:
    dummy_aws(monkeypatch)
    with FakeMTurk() as fake:
        world = make_campaign(tmp_path, fake, hits=3, max_attempts=3)
        for kind, times in faults:
            fake.fault("CreateHITWithHITType", kind, times=times)
        with pytest.raises(BeautyError, match="run the same command again"):
            post(world)
        assert [h["post_state"] for h in world.hits()] == ["pending", "planned", "planned"]
        assert len(fake.hits) == made_before_rerun
        report = post(world)
        assert report.recovered == made_before_rerun
        assert_each_hit_once(world)


def test_hit_type_asks_for_qualified_workers_and_honours_exclusion(world: Campaign) -> None:
    with world.ws.ledger.transaction() as conn:  # planned with --masters
        conn.execute("UPDATE batches SET settings = json_set(settings, '$.masters', json('true'))")
    post(world)
    (params,) = world.fake.hit_types.values()
    reqs = {r["QualificationTypeId"]: r for r in params["QualificationRequirements"]}
    assert reqs[APPROVAL_RATE]["IntegerValues"] == [95]
    assert reqs[APPROVED_HITS]["IntegerValues"] == [1000]
    assert reqs[LOCALE]["LocaleValues"] == [{"Country": "US"}]
    assert reqs[MASTERS["sandbox"]]["Comparator"] == "Exists"
    exclusion = [r for r in reqs.values() if r["Comparator"] == "DoesNotExist"]
    assert (
        len(exclusion) == 1
        and exclusion[0]["QualificationTypeId"] in world.fake.qualification_types
    )
    assert params["Reward"] == "0.10"


def test_live_needs_the_flag_when_settings_say_live(world: Campaign) -> None:
    world.ws.settings.mturk.sandbox = False
    with pytest.raises(BeautyError, match="--live"):
        post(world)
    assert not world.fake.hits


def test_live_shows_cost_and_balance_and_asks(world: Campaign) -> None:
    seen: list[PostPlan] = []

    def decline(plan: PostPlan) -> bool:
        seen.append(plan)
        return False

    report = post(world, live=True, confirm=decline)
    assert report.cancelled and not world.fake.hits
    (plan,) = seen
    cost = batch_cost(3, Decimal("0.10"), 2)
    assert (plan.rewards, plan.fees, plan.total) == (cost.rewards, cost.fees, cost.total)
    assert plan.balance == world.fake.balance
    with pytest.raises(BeautyError, match="confirmation"):
        post(world, live=True)
    post(world, live=True, confirm=lambda plan: True)
    assert_each_hit_once(world)


def test_live_refuses_a_post_over_the_spend_cap_or_the_balance(world: Campaign) -> None:
    world.ws.settings.mturk.spend_cap = Decimal("0.50")
    with pytest.raises(BeautyError, match="spend cap"):
        post(world, live=True, confirm=lambda plan: True)
    world.ws.settings.mturk.spend_cap = Decimal("50")
    world.fake.balance = Decimal("0.20")
    with pytest.raises(BeautyError, match="balance"):
        post(world, live=True, confirm=lambda plan: True)
    assert not world.fake.hits


def test_low_pay_is_warned(world: Campaign) -> None:
    world.ws.settings.hits.seconds_per_screen = 60.0
    seen: list[PostPlan] = []

    def look(plan: PostPlan) -> bool:
        seen.append(plan)
        return True

    post(world, confirm=look)
    assert seen[0].hourly_pay is not None and seen[0].hourly_pay < Decimal("7.25")
    assert any("minimum wage" in w for w in seen[0].warnings)


def test_local_images_are_refused_with_the_push_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dummy_aws(monkeypatch)
    with FakeMTurk() as fake:
        world = make_campaign(tmp_path, fake, pushed=False)
        with pytest.raises(BeautyError, match=r"beauty images push s3://"):
            post(world)
        assert not fake.hits


def test_links_that_die_before_the_hits_are_refused(world: Campaign) -> None:
    world.ws.settings.mturk.lifetime_seconds = 7 * 24 * 3600
    with pytest.raises(BeautyError, match="lifetime_seconds"):
        post(world)
    assert not world.fake.hits


class _Expiring(CredentialProvider):
    METHOD = "test-expiring"

    def load(self) -> RefreshableCredentials:
        expiry = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
        meta = {"access_key": "a", "secret_key": "b", "token": "c", "expiry_time": expiry}
        return RefreshableCredentials.create_from_metadata(meta, lambda: meta, self.METHOD)


def test_links_signed_with_expiring_credentials_are_refused(world: Campaign) -> None:
    session = BotocoreSession()
    session.get_component("credential_provider").insert_before("env", _Expiring())
    s3 = boto3.session.Session(botocore_session=session).client("s3", region_name="us-east-1")
    with pytest.raises(BeautyError, match="temporary AWS credentials"):
        post_batches(world.ws, client=world.client, s3_client=s3)
    assert not world.fake.hits


def test_only_mturk_batches_are_posted(world: Campaign) -> None:
    with world.ws.ledger.transaction() as conn:
        conn.execute("UPDATE batches SET market = 'local'")
    with pytest.raises(BeautyError, match="--market mturk"):
        post(world, batch_id=world.batch)
    with pytest.raises(BeautyError, match="--market mturk"):
        post(world)


def test_a_batch_stays_in_its_environment(world: Campaign) -> None:
    post(world)
    with world.ws.ledger.transaction() as conn:
        conn.execute("UPDATE hits SET post_state = 'planned' WHERE id = 3")
    with pytest.raises(BeautyError, match="sandbox"):
        post(world, live=True, confirm=lambda plan: True)


def test_gold_qualification_test_is_posted_once_and_required(world: Campaign) -> None:
    test = QualificationTest(
        question_form_xml="<QuestionForm>the test</QuestionForm>",
        answer_key_xml="<AnswerKey>its key</AnswerKey>",
        test_duration=600,
        passing_score=80,
        gold_ids=[],
    )
    type_id = post_gold_test(world.ws, test, client=world.client)
    assert post_gold_test(world.ws, test, client=world.client) == type_id
    assert world.fake.applied["CreateQualificationType"] == 1
    posted = world.fake.qualification_types[type_id]
    assert (posted["Test"], posted["AnswerKey"]) == (test.question_form_xml, test.answer_key_xml)
    assert posted["TestDurationInSeconds"] == 600
    post(world)
    (params,) = world.fake.hit_types.values()
    gold = [r for r in params["QualificationRequirements"] if r["QualificationTypeId"] == type_id]
    assert gold == [
        {
            "QualificationTypeId": type_id,
            "Comparator": "GreaterThanOrEqualTo",
            "IntegerValues": [80],
            "ActionsGuarded": "Accept",
        }
    ]


def test_a_lost_qualification_type_answer_is_found_by_name(world: Campaign) -> None:
    world.fake.fault("CreateQualificationType", "lost-after")
    post(world)
    assert world.fake.applied["CreateQualificationType"] == 1
    assert len(world.fake.qualification_types) == 1
    (params,) = world.fake.hit_types.values()
    (exclusion,) = world.fake.qualification_types
    assert exclusion in {r["QualificationTypeId"] for r in params["QualificationRequirements"]}
