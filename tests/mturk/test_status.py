"""Where MTurk batches stand (counts, money, deadlines); expiring, deleting, messaging; the CLI."""

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
from infra.ledger import utcnow
from mturk.manage import delete_hits, expire_hits, notify_workers
from mturk.money import carry_out
from mturk.post import post_batches
from mturk.status import market_status
from mturk.sync import sync
from ranking.fees import bonus_fee, mturk_fee
from tests.mturk.fake_mturk import FakeMTurk
from tests.mturk.mturk_campaign import Campaign, dummy_aws, make_campaign

REWARD = Decimal("0.10")


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Campaign]:
    """3 HITs x 2 slots: HIT 1 answered twice, HIT 2 once; one answer approved with a bonus."""
    dummy_aws(monkeypatch)
    with FakeMTurk() as fake:
        campaign = make_campaign(tmp_path, fake, hits=3, assignments=2)
        post_batches(campaign.ws, client=campaign.client, s3_client=campaign.s3)
        first, second, _ = campaign.hits()
        for worker in ("AW1", "AW2"):
            fake.submit(first["remote_id"], worker, campaign.answer(first["id"]))
        fake.submit(second["remote_id"], "AW1", campaign.answer(second["id"]))
        sync(campaign.ws, client=campaign.client)
        approved = int(campaign.ws.ledger.scalar("SELECT MIN(id) FROM assignments"))
        carry_out(
            campaign.ws,
            [Verdict(approved, "AW1", "approve", 5, False, "ok")],
            client=campaign.client,
        )
        yield campaign


def test_counts_and_money(world: Campaign) -> None:
    (batch,) = market_status(world.ws).batches
    assert (batch.hits, batch.posted, batch.open, batch.submitted, batch.approved) == (
        3,
        3,
        3,
        2,
        1,
    )
    assert (batch.rejected, batch.expired, batch.environment) == (0, 0, "sandbox")
    each = REWARD + mturk_fee(REWARD, 2) / 2
    bonus = Decimal("0.05")
    assert batch.spent == each + bonus + bonus_fee(bonus)
    assert batch.committed == (2 + 3) * each


def test_expired_slots_are_no_longer_committed(world: Campaign) -> None:
    changed = expire_hits(world.ws, client=world.client)
    assert changed.done == 3 and not changed.refused
    (batch,) = market_status(world.ws).batches
    assert (batch.open, batch.expired) == (0, 3)
    assert batch.committed == 2 * (REWARD + mturk_fee(REWARD, 2) / 2)
    assert all(h["Expiration"] <= datetime.now(UTC) for h in world.fake.hits.values())
    assert expire_hits(world.ws, client=world.client).done == 0  # nothing left open


def test_auto_approval_deadline_warnings(world: Campaign) -> None:
    (batch,) = market_status(world.ws).batches
    assert batch.next_auto_approval is not None
    deadline = datetime.fromisoformat(batch.next_auto_approval.replace("Z", "+00:00"))
    assert not market_status(world.ws, now=deadline - timedelta(days=2)).warnings
    (near,) = market_status(world.ws, now=deadline - timedelta(hours=2)).warnings
    assert "2 submitted assignment(s) auto-approve" in near and "beauty hits review" in near
    after = market_status(world.ws, now=deadline + timedelta(hours=2)).warnings
    assert any("has passed for 2 submitted assignment(s)" in w for w in after), after


def test_delete_only_what_is_over(world: Campaign) -> None:
    refused = delete_hits(world.ws, client=world.client)
    assert refused.done == 0 and len(refused.refused) == 3
    reasons = " ".join(why for _, why in refused.refused)
    assert "undecided" in reasons and "beauty hits expire" in reasons
    expire_hits(world.ws, client=world.client)
    rest = world.ws.ledger.query("SELECT id, worker_id FROM assignments WHERE state = 'submitted'")
    verdicts = [Verdict(int(r["id"]), r["worker_id"], "approve", 0, False, "ok") for r in rest]
    carry_out(world.ws, verdicts, client=world.client)
    deleted = delete_hits(world.ws, client=world.client)
    assert deleted.done == 3 and world.fake.applied["DeleteHIT"] == 3
    assert delete_hits(world.ws, client=world.client).done == 0


def test_notify_goes_100_workers_a_call(world: Campaign) -> None:
    many = [f"AMANY{k:03d}" for k in range(150)]
    with world.ws.ledger.transaction() as conn:
        for k, worker in enumerate(many):
            conn.execute(
                "INSERT INTO workers (id, market, first_seen) VALUES (?, 'mturk', ?)",
                (worker, utcnow()),
            )
            conn.execute(
                "INSERT INTO assignments (hit_id, worker_id, remote_id, state) "
                "VALUES (3, ?, ?, 'abandoned')",
                (worker, f"AREMOTE{k:03d}"),
            )
    result = notify_workers(
        world.ws, [*many, "AW1"], "Thanks", "More HITs soon.", client=world.client
    )
    sent = [len(m["WorkerIds"]) for m in world.fake.messages]
    assert sent == [100, 51]
    assert result.sent == 1 and len(result.failed) == 150  # the fake knows only who submitted


def test_cli_status_post_sync_decide(world: Campaign, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_MTURK", world.fake.url)
    ws = ["--workspace", str(world.ws.root)]
    runner = CliRunner()
    status = runner.invoke(cli, [*ws, "hits", "status", "--json"])
    assert status.exit_code == 0, status.output
    (row,) = json.loads(status.stdout)
    each = REWARD + mturk_fee(REWARD, 2) / 2
    assert row["committed"] == f"{5 * each:.2f}" and row["submitted"] == 2
    posted = runner.invoke(cli, [*ws, "hits", "post"])
    assert posted.exit_code == 0, posted.output
    assert "0 HIT(s) posted, 3 posted before" in posted.output
    synced = runner.invoke(cli, [*ws, "hits", "sync"])
    assert synced.exit_code == 0 and "0 new answer(s)" in synced.output
    dry = runner.invoke(cli, [*ws, "workers", "decide", "AW2", "--approve", "--dry-run"])
    assert dry.exit_code == 0 and "planned" in dry.output
    done = runner.invoke(cli, [*ws, "workers", "decide", "AW2", "--approve", "--reason", "fine"])
    assert done.exit_code == 0 and "done" in done.output
    live = runner.invoke(cli, [*ws, "hits", "post"], env={"BEAUTY_MTURK__SANDBOX": "false"})
    assert live.exit_code == 1 and "--live" in live.output
    usage = runner.invoke(cli, [*ws, "workers", "decide", "AW2"])
    assert usage.exit_code == 2
