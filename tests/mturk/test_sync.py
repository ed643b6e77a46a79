"""Syncing answers from MTurk: every answer stored once, raw before parsed, whatever happens."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

import mturk.sync
from crowd.submissions import store_submission
from mturk.post import post_batches
from mturk.sync import sync
from tests.mturk.fake_mturk import FakeMTurk
from tests.mturk.mturk_campaign import Campaign, Crash, dummy_aws, make_campaign

WORKERS = ["AWORKERONE", "AWORKERTWO"]


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Campaign]:
    dummy_aws(monkeypatch)
    with FakeMTurk() as fake:
        campaign = make_campaign(tmp_path, fake, hits=3, assignments=2)
        post_batches(campaign.ws, client=campaign.client, s3_client=campaign.s3)
        yield campaign


def run(world: Campaign, **options: Any) -> mturk.sync.SyncReport:
    return sync(world.ws, client=world.client, **options)


def stored(world: Campaign) -> list[dict[str, Any]]:
    return [
        dict(r)
        for r in world.ws.ledger.query(
            "SELECT remote_id, worker_id, state, raw_answer, parse_state, parse_error, "
            "(SELECT COUNT(*) FROM judgments j WHERE j.assignment_id = a.id) AS judged "
            "FROM assignments a ORDER BY remote_id"
        )
    ]


def assert_each_answer_once(world: Campaign, screens_per_hit: int = 2) -> None:
    rows = stored(world)
    assert sorted(r["remote_id"] for r in rows) == sorted(world.fake.assignments)
    for row in rows:
        assert row["raw_answer"] == world.fake.assignments[row["remote_id"]]["Answer"]
        assert row["parse_state"] == "ok" and row["judged"] == screens_per_hit
    assert world.rows("judgments") == len(rows) * screens_per_hit


def test_sync_stores_every_answer_once_and_again_is_a_no_op(world: Campaign) -> None:
    world.submit_all(WORKERS)
    report = run(world)
    assert (report.hits, report.stored, report.parse_failed) == (3, 6, 0)
    assert_each_answer_once(world)
    workers = world.ws.ledger.query("SELECT id, market FROM workers ORDER BY id")
    assert [(w["id"], w["market"]) for w in workers] == sorted((w, "mturk") for w in WORKERS)
    deadline = world.ws.ledger.scalar("SELECT MIN(deadline) FROM assignments")
    assert deadline is not None and deadline > datetime.now(UTC).isoformat()[:19]
    again = run(world)
    assert again.stored == 0
    assert_each_answer_once(world)


def test_finished_hits_are_not_polled_again(world: Campaign) -> None:
    world.submit_all(WORKERS)
    run(world)
    with world.ws.ledger.transaction() as conn:
        conn.execute("UPDATE assignments SET state = 'approved'")
    calls = world.fake.received["ListAssignmentsForHIT"]
    assert run(world).hits == 0
    assert world.fake.received["ListAssignmentsForHIT"] == calls


def test_250_assignments_come_in_pages_of_100(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dummy_aws(monkeypatch)
    with FakeMTurk() as fake:
        world = make_campaign(tmp_path, fake, hits=1, assignments=250)
        post_batches(world.ws, client=world.client, s3_client=world.s3)
        world.submit_all([f"AWORKER{k:03d}" for k in range(250)])
        report = run(world)
        assert report.stored == 250
        assert fake.received["ListAssignmentsForHIT"] == 3
        assert_each_answer_once(world)


def test_malformed_answer_is_kept_raw_and_recorded_as_failed(world: Campaign) -> None:
    hit = world.hits()[0]
    broken = "<QuestionFormAnswers><Answer>cut off"
    world.fake.submit(hit["remote_id"], "AWORKERBAD", broken)
    good = world.fake.submit(hit["remote_id"], "AWORKERONE", world.answer(hit["id"]))
    report = run(world)
    assert (report.stored, report.parse_failed) == (2, 1)
    rows = {r["remote_id"]: r for r in stored(world)}
    bad = next(r for k, r in rows.items() if k != good)
    assert bad["raw_answer"] == broken
    assert bad["parse_state"] == "failed" and "malformed" in bad["parse_error"]
    assert rows[good]["parse_state"] == "ok"
    run(world)
    assert len(stored(world)) == 2


@pytest.mark.parametrize("crash_on", [1, 4, 6])
def test_a_crash_while_parsing_loses_nothing(
    world: Campaign, monkeypatch: pytest.MonkeyPatch, crash_on: int
) -> None:
    world.submit_all(WORKERS)
    calls = {"n": 0}

    def dying(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == crash_on:
            raise Crash("while parsing")
        return store_submission(*args, **kwargs)

    monkeypatch.setattr(mturk.sync, "store_submission", dying)
    with pytest.raises(Crash):
        run(world)
    rows = stored(world)
    assert len(rows) == crash_on  # stored raw, then died before (or while) parsing the last
    assert rows and all(r["raw_answer"] for r in rows)
    monkeypatch.setattr(mturk.sync, "store_submission", store_submission)
    run(world)
    assert_each_answer_once(world)


def test_a_crash_while_listing_resumes(world: Campaign) -> None:
    world.submit_all(WORKERS)
    world.crash("before", "ListAssignmentsForHIT", on_call=2)
    with pytest.raises(Crash):
        run(world)
    assert len(stored(world)) == 2
    run(world)
    assert_each_answer_once(world)


def test_throttling_and_lost_answers_while_listing(world: Campaign) -> None:
    world.submit_all(WORKERS)
    world.fake.fault("ListAssignmentsForHIT", "throttle", times=3)
    world.fake.fault("ListAssignmentsForHIT", "lost-after", times=1)
    world.fake.fault("ListAssignmentsForHIT", "503", times=2)
    run(world)
    assert_each_answer_once(world)
    assert len(world.sleeps) == 6


def test_auto_approval_on_mturk_is_followed_and_logged(world: Campaign) -> None:
    world.submit_all(WORKERS[:1])
    run(world)
    later = datetime.now(UTC) + timedelta(days=4)
    world.fake.now = lambda: later
    assert world.fake.auto_approve() == 3
    report = run(world)
    assert report.changed_on_mturk == 3
    states = {r["state"] for r in stored(world)}
    assert states == {"approved"}
    logged = world.ws.ledger.query("SELECT actor, decision FROM decisions")
    assert [(r["actor"], r["decision"]) for r in logged] == [("mturk", "approve")] * 3


def test_answers_with_mturk_own_fields_are_parsed_and_kept_raw(world: Campaign) -> None:
    """MTurk may echo the form's assignmentId into the answer: it is kept raw, never refused."""
    hit = world.hits()[0]
    xml = world.answer(hit["id"])
    echoed = xml.replace(
        "<Answer>",
        "<Answer><QuestionIdentifier>assignmentId</QuestionIdentifier>"
        "<FreeText>3EXAMPLEASSIGNMENT</FreeText></Answer><Answer>",
        1,
    )
    assert echoed.count("assignmentId") == 1
    world.fake.submit(hit["remote_id"], WORKERS[0], echoed)
    report = run(world)
    assert (report.stored, report.parse_failed) == (1, 0)
    (row,) = stored(world)
    assert row["parse_state"] == "ok" and row["judged"] == 2
    assert "3EXAMPLEASSIGNMENT" in row["raw_answer"]


def test_a_batch_is_done_when_sync_brings_its_last_assignment(world: Campaign) -> None:
    def state() -> str:
        return str(world.ws.ledger.scalar("SELECT state FROM batches"))

    world.submit_all(WORKERS[:1])
    run(world)
    assert state() == "open", "half the assignments are in, yet the batch is not open"
    world.submit_all(WORKERS[1:])
    run(world)
    assert state() == "done", "every assignment is in, yet the batch is not done"
