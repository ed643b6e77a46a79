"""What MTurk does on its own, through our commands: the clock, money, workers who give up.

The fake runs on a clock of its own (auto-approval, the 24 hours a request token is
remembered, assignment deadlines, the lag of ListHITs) and holds a balance that CreateHIT and
SendBonus draw on; each test checks what post, sync, review and status make of it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pytest
from click.testing import CliRunner

from beauty.cli import cli
from crowd.review import Verdict
from infra.errors import BeautyError
from mturk.money import carry_out
from mturk.post import post_batches
from mturk.status import market_status
from mturk.sync import sync
from tests.crowd.market_fixtures import FakeClock
from tests.mturk.fake_mturk import FakeMTurk, TurkError
from tests.mturk.mturk_campaign import Campaign, Crash, age_actions, dummy_aws, make_campaign

EACH = Decimal("0.12")  # $0.10 reward + MTurk's 20% fee, per assignment


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(now=datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, clock: FakeClock) -> Iterator[Campaign]:
    """3 HITs of 2 assignments, planned, pushed to S3, not posted; the fake on ``clock``."""
    dummy_aws(monkeypatch)
    with FakeMTurk(now=clock) as fake:
        campaign = make_campaign(tmp_path, fake, hits=3, assignments=2)
        monkeypatch.setenv("AWS_ENDPOINT_URL_MTURK", fake.url)
        yield campaign


def post(world: Campaign) -> None:
    post_batches(world.ws, client=world.client, s3_client=world.s3)


def beauty(world: Campaign, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["--workspace", str(world.ws.root), *args])
    return result.exit_code, result.stdout, result.stderr


def test_mturk_approves_on_its_own_after_the_delay(world: Campaign, clock: FakeClock) -> None:
    post(world)
    first = world.hits()[0]
    for worker in ("AW1", "AW2"):
        world.fake.submit(first["remote_id"], worker, world.answer(first["id"]))
    sync(world.ws, client=world.client)
    delay = world.ws.settings.mturk.auto_approval_delay_seconds
    soon = market_status(world.ws, now=clock.now + timedelta(seconds=delay - 3600)).warnings
    assert any("2 submitted assignment(s) auto-approve" in w for w in soon), soon
    assert not market_status(world.ws, now=clock.now).warnings
    clock.advance(delay + 60)
    late = market_status(world.ws, now=clock.now).warnings
    assert any("has passed for 2 submitted" in w for w in late), late
    report = sync(world.ws, client=world.client)
    assert report.changed_on_mturk == 2
    (batch,) = market_status(world.ws, now=clock.now).batches
    assert (batch.submitted, batch.approved) == (0, 2)
    assert not market_status(world.ws, now=clock.now).warnings
    actors = world.ws.ledger.query("SELECT DISTINCT actor FROM decisions")
    assert [r["actor"] for r in actors] == ["mturk"]


def test_a_bonus_token_older_than_24_hours_is_new_to_mturk(
    world: Campaign, clock: FakeClock
) -> None:
    """After 24 hours MTurk would pay the same token again: the payment list must be asked."""
    post(world)
    first = world.hits()[0]
    world.fake.submit(first["remote_id"], "AW1", world.answer(first["id"]))
    sync(world.ws, client=world.client)
    assignment = int(world.ws.ledger.scalar("SELECT id FROM assignments"))
    world.crash("after", "SendBonus")
    with pytest.raises(Crash):
        carry_out(
            world.ws, [Verdict(assignment, "AW1", "approve", 5, False, "ok")], client=world.client
        )
    clock.advance(25 * 3600)
    age_actions(world.ws, hours=25)
    carry_out(world.ws, [], client=world.client)
    assert len(world.fake.bonuses) == 1
    state = world.ws.ledger.scalar("SELECT state FROM money_actions WHERE kind = 'bonus'")
    assert state == "done"


def test_a_short_balance_stops_the_post_and_funds_let_it_go_on(world: Campaign) -> None:
    world.fake.balance = EACH * 2 + Decimal("0.05")  # one HIT of two assignments, not two
    code, out, err = beauty(world, "hits", "post")
    assert code == 1 and "funds" in err and "run the same command again" in err, err
    assert [h["post_state"] for h in world.hits()] == ["posted", "failed", "planned"]
    assert len(world.fake.hits) == 1 and world.fake.balance == Decimal("0.05")
    world.fake.balance += Decimal("10")
    code, out, err = beauty(world, "hits", "post")
    assert code == 0, err
    assert "2 HIT(s) posted, 1 posted before" in out
    assert len(world.fake.hits) == 3
    assert world.fake.balance == Decimal("10.05") - 4 * EACH


def test_a_bonus_refused_for_funds_stays_pending_and_status_counts_it(world: Campaign) -> None:
    post(world)
    first = world.hits()[0]
    world.fake.submit(first["remote_id"], "AW1", world.answer(first["id"]))
    sync(world.ws, client=world.client)
    assignment = int(world.ws.ledger.scalar("SELECT id FROM assignments"))
    world.fake.balance = Decimal("0")
    verdict = Verdict(assignment, "AW1", "approve", 5, False, "ok")
    with pytest.raises(BeautyError, match=r"funds.*stays pending"):
        carry_out(world.ws, [verdict], client=world.client)
    kinds = world.ws.ledger.query("SELECT kind, state FROM money_actions ORDER BY id")
    assert [(r["kind"], r["state"]) for r in kinds] == [("approve", "done"), ("bonus", "pending")]
    code, out, err = beauty(world, "hits", "status", "--json")
    assert code == 0, err
    (row,) = json.loads(out)
    assert (row["pending_actions"], row["pending_pay"]) == (1, "0.06")
    assert "1 money action(s) written but not carried out" in err and "1 bonus ($0.06)" in err
    code, out, err = beauty(world, "hits", "status")
    assert "pending bonus: 1 ($0.06)" in out
    world.fake.balance = Decimal("1.00")
    carry_out(world.ws, [], client=world.client)
    assert len(world.fake.bonuses) == 1 and world.fake.balance == Decimal("0.94")
    assert market_status(world.ws).pending == []


def test_returned_and_abandoned_work_frees_its_slot(world: Campaign, clock: FakeClock) -> None:
    post(world)
    first = world.hits()[0]
    hit = first["remote_id"]
    world.fake.return_assignment(world.fake.accept(hit, "AW1"))
    late = world.fake.accept(hit, "AW2")
    world.fake.accept(hit, "AW3")
    with pytest.raises(TurkError, match="no assignment left"):
        world.fake.accept(hit, "AW4")
    seen = world.client.get_hit(HITId=hit)["HIT"]
    assert (seen["HITStatus"], seen["NumberOfAssignmentsPending"]) == ("Unassignable", 2)
    assert sync(world.ws, client=world.client).stored == 0  # work in progress is not listed
    clock.advance(world.ws.settings.mturk.assignment_duration_seconds + 1)
    with pytest.raises(TurkError, match="Abandoned"):
        world.fake.submit(hit, "AW2", world.answer(first["id"]), assignment_id=late)
    assert world.client.get_hit(HITId=hit)["HIT"]["NumberOfAssignmentsAvailable"] == 2
    for worker in ("AW4", "AW5"):
        world.fake.submit(hit, worker, world.answer(first["id"]))
    report = sync(world.ws, client=world.client)
    assert (report.stored, report.parse_failed) == (2, 0)
    workers = world.ws.ledger.query("SELECT worker_id FROM assignments ORDER BY worker_id")
    assert [r["worker_id"] for r in workers] == ["AW4", "AW5"]
    (batch,) = market_status(world.ws, now=clock.now).batches
    assert (batch.submitted, batch.open) == (2, 4)


def test_a_lost_create_is_found_once_mturk_lists_it(world: Campaign, clock: FakeClock) -> None:
    world.fake.list_lag = timedelta(minutes=5)
    world.fake.fault("CreateHITWithHITType", "lost-after")
    with pytest.raises(BeautyError, match="does not list it yet"):
        post(world)
    with pytest.raises(BeautyError, match="does not list it yet"):
        post(world)  # too soon: still not listed, and nothing made twice
    assert len(world.fake.hits) == 1
    clock.advance(6 * 60)
    post(world)
    assert [h["post_state"] for h in world.hits()] == ["posted"] * 3
    assert len(world.fake.hits) == 3
    annotations = {h["RequesterAnnotation"] for h in world.fake.hits.values()}
    assert len(annotations) == 3
