"""Money on MTurk: approvals, rejections, bonuses and exclusions, each exactly once."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

import mturk.sync
from crowd.review import Verdict, decide
from infra.errors import BeautyError
from mturk.money import carry_out, decide_worker
from mturk.post import post_batches
from mturk.settle import ActionResult
from mturk.sync import sync
from tests.crowd.market_fixtures import gold_chooser
from tests.mturk.fake_mturk import FakeMTurk, TurkError
from tests.mturk.mturk_campaign import Campaign, Crash, age_actions, dummy_aws, make_campaign

GOOD, BAD = "AGOODWORKER", "ABADWORKER"


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Campaign]:
    """Three posted HITs with a gold screen each; GOOD passes every gold, BAD fails every one."""
    dummy_aws(monkeypatch)
    with FakeMTurk() as fake:
        campaign = make_campaign(tmp_path, fake, hits=3, assignments=2, gold=3)
        post_batches(campaign.ws, client=campaign.client, s3_client=campaign.s3)
        ledger = campaign.ws.ledger
        campaign.submit_all([GOOD], gold_chooser(ledger, passes=True))
        campaign.submit_all([BAD], gold_chooser(ledger, passes=False))
        sync(campaign.ws, client=campaign.client)
        yield campaign


def assignments(world: Campaign, worker: str) -> list[tuple[int, str]]:
    rows = world.ws.ledger.query(
        "SELECT id, remote_id FROM assignments WHERE worker_id = ? ORDER BY id", (worker,)
    )
    return [(int(r["id"]), str(r["remote_id"])) for r in rows]


def verdicts(world: Campaign) -> list[Verdict]:
    good = [
        Verdict(a, GOOD, "approve", 5, False, "gold 3/3 passed")
        for a, _ in assignments(world, GOOD)
    ]
    bad = [
        Verdict(a, BAD, "reject", 0, True, "gold 0/3 passed") for a, _ in assignments(world, BAD)
    ]
    return good + bad


def run(world: Campaign, items: list[Verdict], **options: Any) -> list[ActionResult]:
    return carry_out(world.ws, items, client=world.client, **options)


def status(world: Campaign, remote: str) -> str:
    return str(world.fake.assignments[remote]["AssignmentStatus"])


def actions(world: Campaign) -> list[tuple[str, str]]:
    rows = world.ws.ledger.query("SELECT kind, state FROM money_actions ORDER BY id")
    return [(r["kind"], r["state"]) for r in rows]


def exclusion(world: Campaign) -> str:
    return str(
        world.ws.ledger.scalar(
            "SELECT remote_id FROM mturk_qualifications WHERE purpose = 'exclusion'"
        )
    )


def assert_paid_once(world: Campaign) -> None:
    assert {status(world, r) for _, r in assignments(world, GOOD)} == {"Approved"}
    assert {status(world, r) for _, r in assignments(world, BAD)} == {"Rejected"}
    assert world.fake.applied["ApproveAssignment"] == 3
    assert world.fake.applied["RejectAssignment"] == 3
    paid = sorted(b["AssignmentId"] for b in world.fake.bonuses)
    assert paid == sorted(r for _, r in assignments(world, GOOD))
    assert {b["BonusAmount"] for b in world.fake.bonuses} == {"0.05"}
    assert world.fake.qualified(exclusion(world), BAD)
    assert not world.fake.qualified(exclusion(world), GOOD)
    assert {s for _, s in actions(world)} == {"done"}
    kinds = [k for k, _ in actions(world)]
    assert sorted(kinds) == sorted(["approve"] * 3 + ["bonus"] * 3 + ["reject"] * 3 + ["exclude"])


def test_verdicts_are_paid_once_and_again_is_a_no_op(world: Campaign) -> None:
    results = run(world, verdicts(world))
    assert all(r.state == "done" for r in results)
    assert_paid_once(world)
    states = world.ws.ledger.query("SELECT worker_id, state FROM assignments")
    assert {(r["worker_id"], r["state"]) for r in states} == {(GOOD, "approved"), (BAD, "rejected")}
    assert world.ws.ledger.scalar("SELECT excluded FROM workers WHERE id = ?", (BAD,)) == 1
    assert run(world, verdicts(world)) == []
    assert_paid_once(world)
    logged = world.ws.ledger.scalar(
        "SELECT COUNT(*) FROM decisions WHERE decision IN ('approve', 'reject')"
    )
    assert logged == 6


def test_rejection_feedback_quotes_the_gold_evidence(world: Campaign) -> None:
    run(world, verdicts(world))
    for _, remote in assignments(world, BAD):
        feedback = world.fake.assignments[remote]["RequesterFeedback"]
        assert "1 of the 1 check screens in this HIT" in feedback and "gold 0/3" in feedback


def test_no_rejection_without_failed_gold_in_the_hit(world: Campaign) -> None:
    unfair = [
        Verdict(a, GOOD, "reject", 0, False, "looks odd") for a, _ in assignments(world, GOOD)
    ]
    results = run(world, unfair)
    assert [r.state for r in results] == ["skipped"] * 3
    assert world.fake.applied["RejectAssignment"] == 0
    assert world.rows("money_actions") == 0


def test_a_crash_between_approve_and_ledger_write(world: Campaign) -> None:
    world.crash("after", "ApproveAssignment", on_call=2)
    with pytest.raises(Crash):
        run(world, verdicts(world))
    assert ("approve", "pending") in actions(world)
    results = run(world, [])  # the restart settles what was pending, before anything new
    assert any("already approved" in r.detail for r in results)
    assert_paid_once(world)


def test_a_crash_after_a_bonus_is_retried_with_its_token(world: Campaign) -> None:
    world.crash("after", "SendBonus", on_call=1)
    with pytest.raises(Crash):
        run(world, verdicts(world))
    assert len(world.fake.bonuses) == 1
    results = run(world, verdicts(world))
    assert any("same request token" in r.detail for r in results)
    assert world.fake.received["SendBonus"] == 4
    assert_paid_once(world)


@pytest.mark.parametrize("paid_before_crash", [True, False])
def test_a_bonus_pending_beyond_24_hours_is_looked_up_first(
    world: Campaign, paid_before_crash: bool
) -> None:
    world.crash("after" if paid_before_crash else "before", "SendBonus", on_call=1)
    with pytest.raises(Crash):
        run(world, verdicts(world))
    world.fake.forget_tokens()
    age_actions(world.ws, hours=30)
    run(world, [])
    assert world.fake.received["ListBonusPayments"] == 3  # one look per pending bonus
    assert_paid_once(world)


def test_lost_answers_and_throttling_on_money_calls(world: Campaign) -> None:
    world.fake.fault("ApproveAssignment", "lost-after")
    world.fake.fault("SendBonus", "lost-after")
    world.fake.fault("RejectAssignment", "throttle", times=3)
    world.fake.fault("AssociateQualificationWithWorker", "503", times=2)
    results = run(world, verdicts(world))
    assert all(r.state == "done" for r in results)
    assert_paid_once(world)


def test_policy_verdicts_from_review_are_carried_out(world: Campaign) -> None:
    review = world.ws.settings.review
    review.min_gold_for_verdict, review.reject_below, review.exclude_below = 3, 0.6, 0.7
    review.bonus_above = 0.4
    run(world, decide(world.ws.ledger, review))
    assert_paid_once(world)
    assert decide(world.ws.ledger, review) == []


def test_dry_run_writes_and_calls_nothing(world: Campaign) -> None:
    planned = run(world, verdicts(world), dry_run=True)
    assert {r.state for r in planned} == {"planned"}
    assert sorted(r.kind for r in planned).count("bonus") == 3
    assert world.rows("money_actions") == 0 and world.rows("decisions") == 0
    assert world.fake.applied["ApproveAssignment"] == 0


def test_qa_override_approves_a_rejection(world: Campaign) -> None:
    run(world, verdicts(world))
    results = decide_worker(world.ws, BAD, "approve", "appeal upheld", client=world.client)
    assert [r.kind for r in results] == ["override"] * 3
    assert {status(world, r) for _, r in assignments(world, BAD)} == {"Approved"}
    states = world.ws.ledger.query(
        "SELECT DISTINCT state FROM assignments WHERE worker_id = ?", (BAD,)
    )
    assert [r["state"] for r in states] == ["approved"]
    qa = world.ws.ledger.scalar("SELECT COUNT(*) FROM decisions WHERE actor = 'qa'")
    assert qa == 3


def test_qa_exclude_keeps_a_worker_off_new_work_and_include_lets_them_back(
    world: Campaign,
) -> None:
    decide_worker(world.ws, GOOD, "exclude", "test", client=world.client)
    assert world.fake.qualified(exclusion(world), GOOD)
    with pytest.raises(TurkError, match="qualification"):  # the HIT type requires its absence
        world.fake.submit(world.hits()[0]["remote_id"], GOOD, "another answer")
    with pytest.raises(BeautyError, match="already excluded"):
        decide_worker(world.ws, GOOD, "exclude", "", client=world.client)
    decide_worker(world.ws, GOOD, "include", "", client=world.client)
    assert not world.fake.qualified(exclusion(world), GOOD)
    assert world.ws.ledger.scalar("SELECT excluded FROM workers WHERE id = ?", (GOOD,)) == 0


def test_qa_reject_needs_gold_evidence_and_block_needs_a_reason(world: Campaign) -> None:
    results = decide_worker(world.ws, GOOD, "reject", "", client=world.client)
    assert {r.state for r in results} == {"skipped"}
    results = decide_worker(world.ws, BAD, "reject", "many wrong", client=world.client)
    assert {r.state for r in results} == {"done"}
    with pytest.raises(BeautyError, match="--reason"):
        decide_worker(world.ws, BAD, "block", " ", client=world.client)
    decide_worker(world.ws, BAD, "block", "scripted answers", client=world.client)
    assert world.fake.blocks == {BAD: "QA: scripted answers"}
    with pytest.raises(BeautyError, match="no MTurk worker"):
        decide_worker(world.ws, "ANOBODY", "approve", "", client=world.client)


def test_failed_calls_are_recorded_not_retried_blindly(world: Campaign) -> None:
    (first, remote), *_ = assignments(world, GOOD)
    world.fake.assignments[remote]["AssignmentStatus"] = "Rejected"  # decided elsewhere
    results = run(world, [Verdict(first, GOOD, "approve", 0, False, "fine")])
    assert [r.state for r in results] == ["failed"]
    assert "Rejected" in results[0].detail
    assert actions(world) == [("approve", "failed")]
    assert world.ws.ledger.scalar("SELECT error FROM money_actions") is not None
    assert Decimal(0) == results[0].amount


def test_a_crash_after_include_settles_on_restart(world: Campaign) -> None:
    decide_worker(world.ws, BAD, "exclude", "test", client=world.client)
    world.crash("after", "DisassociateQualificationFromWorker")
    with pytest.raises(Crash):
        decide_worker(world.ws, BAD, "include", "appeal", client=world.client)
    assert actions(world)[-1] == ("include", "pending")
    (result,) = run(world, [])
    assert (result.kind, result.state) == ("include", "done")
    assert "already free" in result.detail
    assert not world.fake.qualified(exclusion(world), BAD)
    assert world.ws.ledger.scalar("SELECT excluded FROM workers WHERE id = ?", (BAD,)) == 0


# The whole campaign (post, answers, sync, pay) under one fault at a time, run again after a
# crash: HITs created, answers stored, approvals and bonuses paid must each happen exactly once.
FAULT_POINTS = [
    ("crash", "before", "CreateHITWithHITType"),
    ("crash", "after", "CreateHITWithHITType"),
    ("lost-after", "", "CreateHITWithHITType"),
    ("throttle", "", "CreateHITWithHITType"),
    ("503", "", "CreateHITWithHITType"),
    ("crash", "after", "ListAssignmentsForHIT"),
    ("lost-after", "", "ListAssignmentsForHIT"),
    ("503", "", "ListAssignmentsForHIT"),
    ("crash", "parse", "store_submission"),
    ("crash", "after", "ApproveAssignment"),
    ("lost-after", "", "ApproveAssignment"),
    ("throttle", "", "ApproveAssignment"),
    ("crash", "before", "SendBonus"),
    ("crash", "after", "SendBonus"),
    ("lost-after", "", "SendBonus"),
    ("503", "", "SendBonus"),
]


def campaign_run(world: Campaign) -> None:
    """What a requester runs: post, (workers answer), sync, approve everything with a bonus."""
    post_batches(world.ws, client=world.client, s3_client=world.s3)
    answered = {a["HITId"] for a in world.fake.assignments.values()}
    for hit in world.hits():
        if hit["remote_id"] not in answered:
            for worker in ("AW1", "AW2"):
                world.fake.submit(hit["remote_id"], worker, world.answer(hit["id"]))
    sync(world.ws, client=world.client)
    rows = world.ws.ledger.query("SELECT id, worker_id FROM assignments ORDER BY id")
    carry_out(
        world.ws,
        [Verdict(int(r["id"]), r["worker_id"], "approve", 5, False, "ok") for r in rows],
        client=world.client,
    )


@pytest.mark.parametrize("fault", FAULT_POINTS, ids=lambda f: "-".join(p for p in f if p))
def test_exactly_once_whatever_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fault: tuple[str, str, str]
) -> None:
    dummy_aws(monkeypatch)
    kind, when, operation = fault
    with FakeMTurk() as fake:
        world = make_campaign(tmp_path, fake, hits=3, assignments=2)
        if kind == "crash" and when == "parse":
            real = mturk.sync.store_submission

            def dying(*args: Any) -> Any:
                monkeypatch.setattr(mturk.sync, "store_submission", real)
                raise Crash("while parsing")

            monkeypatch.setattr(mturk.sync, "store_submission", dying)
        elif kind == "crash":
            world.crash(when, operation, on_call=2)
        else:
            fake.fault(operation, kind, times=1 if kind == "lost-after" else 3)
        crashes = 0
        for _ in range(3):
            try:
                campaign_run(world)
                break
            except Crash:
                crashes += 1
        assert crashes == (kind == "crash")
        assert fake.faults_left == 0 and (kind == "crash" or world.sleeps)  # it did go wrong
        campaign_run(world)  # and once more, for good measure: a no-op
        assert sorted(Counter(h["RequesterAnnotation"] for h in fake.hits.values()).values()) == [
            1,
            1,
            1,
        ]
        stored = world.ws.ledger.query("SELECT remote_id FROM assignments")
        assert sorted(r["remote_id"] for r in stored) == sorted(fake.assignments)
        assert world.rows("judgments") == 6 * 2
        assert fake.applied["ApproveAssignment"] == 6
        assert {a["AssignmentStatus"] for a in fake.assignments.values()} == {"Approved"}
        assert sorted(b["AssignmentId"] for b in fake.bonuses) == sorted(fake.assignments)
        assert {s for _, s in actions(world)} == {"done"}


def test_hits_review_killed_mid_payment_settles_on_the_next_run_without_new_verdicts(
    world: Campaign, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    import mturk.client
    from beauty.cli import cli

    monkeypatch.setattr(mturk.client, "make_client", lambda *args, **kwargs: world.client)
    world.crash("after", "ApproveAssignment", on_call=2)
    review = ["-w", str(world.ws.root), "hits", "review"]
    with pytest.raises(Crash):
        CliRunner().invoke(cli, review, catch_exceptions=False)
    assert ("approve", "pending") in actions(world)
    again = CliRunner().invoke(cli, review, catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert again.stdout.splitlines()[-1].startswith("MTurk:")  # the market said what it settled
    assert {s for _, s in actions(world)} == {"done"}
    approvals = sum(k == "approve" for k, _ in actions(world))
    assert approvals >= 2 and world.fake.applied["ApproveAssignment"] == approvals
