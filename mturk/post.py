"""Posting batches to MTurk: each HIT exactly once, whatever crashes or retries happen.

For every HIT the intent (``post_state = 'pending'`` with its request token) is committed before
CreateHITWithHITType is called, and the outcome after. A restart first looks for pending HITs on
MTurk by their RequesterAnnotation (MTurk forgets request tokens after 24 hours; annotations
stay), and only then creates anything. A call whose answer was lost is retried by botocore with
the same token; MTurk then answers "already processed", and the HIT is found by annotation.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from crowd.content import hit_content
from crowd.page import render_hit_page
from infra.errors import BeautyError
from infra.ledger import Ledger
from infra.progress import bar
from infra.settings import Settings
from infra.workspace import Workspace
from mturk.client import (
    NAME,
    Environment,
    already_done,
    environment_of,
    make_client,
    market_error,
    unanswered,
)
from mturk.hit_type import batch_masters, ensure_hit_type
from mturk.links import ImageLinks
from mturk.notifications import subscribe_hit_type
from mturk.question import LIVE_SUBMIT_URL, SANDBOX_SUBMIT_URL, mturk_question_xml
from mturk.reconcile import find_hits, hit_annotation, hit_request_token, namespace, record_posted
from ranking.fees import batch_cost

MINIMUM_WAGE = Decimal("7.25")  # US federal, dollars per hour
CENT = Decimal("0.01")


@dataclass
class PostPlan:
    """What a post will do and cost, shown before anything is created."""

    environment: Environment
    batches: list[int]
    hits: int
    assignments: int
    rewards: Decimal
    fees: Decimal
    balance: Decimal | None
    hourly_pay: Decimal | None
    warnings: list[str] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return self.rewards + self.fees


@dataclass
class PostReport:
    plan: PostPlan | None
    created: int = 0
    recovered: int = 0
    already_posted: int = 0
    cancelled: bool = False


Confirm = Callable[[Any], bool]  # shown the PostPlan (a crowd.market.Quote)


def post_batches(
    ws: Workspace,
    batch_id: int | Sequence[int] | None = None,
    *,
    live: bool = False,
    confirm: Confirm | None = None,
    client: Any = None,
    s3_client: Any = None,
) -> PostReport:
    """Post the HITs of one MTurk batch (or of every open one) that are not on MTurk yet.

    Parameters
    ----------
    ws : Workspace
    batch_id : int or sequence of int, optional
        One batch or several; by default every open batch planned for the MTurk market.
    live : bool
        Post to production MTurk (real money). Without it, the sandbox.
    confirm : callable, optional
        Shown the plan (cost, balance, warnings); posting goes on only when it returns true.
        Required for live posts.
    client, s3_client : optional
        boto3 clients (by default made from the settings).

    Raises
    ------
    BeautyError
        Live without ``live``, a local batch, local-file images, image links that die before
        the HITs do, a live post over the spend cap or the balance, or MTurk failing for good.
    """
    settings = ws.settings
    environment = environment_of(settings.mturk, live)
    ledger = ws.ledger
    batches = _batches(ledger, batch_id)
    _check_environment(ledger, batches, environment)
    client = client or make_client(settings.mturk, environment)
    ids = [int(b["id"]) for b in batches]
    posted = int(
        ledger.scalar(
            f"SELECT COUNT(*) FROM hits WHERE post_state = 'posted' "
            f"AND batch_id IN ({','.join('?' * len(ids))})",
            ids,
        )
    )
    report = PostReport(plan=None, already_posted=posted)
    report.recovered = _recover_pending(ledger, client, ids)
    todo = _unposted(ledger, ids)
    if not todo:
        return report
    links = ImageLinks.for_hits(ws, [hit_id for hit_id, _ in todo], s3_client=s3_client)
    plan = _plan(ws, client, environment, batches, todo)
    report.plan = plan
    if environment == "live":
        _check_money(ws, plan)
        if confirm is None:
            raise BeautyError("a live post needs confirmation: run it interactively or add --yes")
    if confirm is not None and not confirm(plan):
        report.cancelled = True
        return report
    by_id = {int(b["id"]): b for b in batches}
    types: dict[int, str] = {}
    ns = namespace(ledger)
    progress = bar(len(todo), desc="posting", unit="HIT")
    for hit_id, batch in todo:
        if batch not in types:
            types[batch] = _hit_type(ws, client, by_id[batch], environment)
        question = _question(ledger, hit_id, links, environment)
        _post_one(ledger, client, ns, hit_id, by_id[batch], types[batch], question, settings)
        report.created += 1
        progress.update(1)
    progress.close()
    return report


def _batches(ledger: Ledger, batch_id: int | Sequence[int] | None) -> list[sqlite3.Row]:
    if batch_id is None:
        rows = ledger.query(
            "SELECT * FROM batches WHERE market = ? AND state = 'open' ORDER BY id", (NAME,)
        )
        if not rows and not ledger.scalar("SELECT 1 FROM batches WHERE market = ?", (NAME,)):
            raise BeautyError(
                "no open MTurk batch: plan one with `beauty hits plan --market mturk`"
            )
        return rows  # every batch done or closed: nothing to post
    out = []
    for one in [batch_id] if isinstance(batch_id, int) else batch_id:
        row = ledger.one("SELECT * FROM batches WHERE id = ?", (one,))
        if row is None:
            raise BeautyError(f"no batch {one}: see `beauty hits list`")
        if row["market"] != NAME:
            raise BeautyError(
                f"batch {one} is planned for the {row['market']} market: plan an MTurk batch "
                "with `beauty hits plan --market mturk`"
            )
        out.append(row)
    return out


def _check_environment(
    ledger: Ledger, batches: list[sqlite3.Row], environment: Environment
) -> None:
    """A batch lives in one environment: half sandbox, half live would mix fake and real work."""
    for b in batches:
        there = ledger.scalar(
            "SELECT environment FROM mturk_hit_types WHERE batch_id = ?", (b["id"],)
        )
        if there is not None and there != environment:
            flag = "with --live" if there == "live" else "without --live"
            place = {"live": "live MTurk", "sandbox": "the sandbox"}
            raise BeautyError(
                f"batch {b['id']} was posted to {place[there]}: post it {flag}, "
                f"or plan a new batch for {place[environment]}"
            )


def _recover_pending(ledger: Ledger, client: Any, batch_ids: list[int]) -> int:
    """Pending HITs (intent written, outcome unknown) that MTurk has: record them as posted."""
    pending = ledger.query(
        f"SELECT id FROM hits WHERE post_state = 'pending' "
        f"AND batch_id IN ({','.join('?' * len(batch_ids))})",
        batch_ids,
    )
    if not pending:
        return 0
    ns = namespace(ledger)
    wanted = {hit_annotation(ns, int(r["id"])): int(r["id"]) for r in pending}
    try:
        found = find_hits(client, wanted)
    except (BotoCoreError, ClientError) as exc:
        raise market_error(exc, "list HITs to find those posted before a crash") from exc
    for annotation, remote in found.items():
        record_posted(ledger, wanted[annotation], remote)
    return len(found)


def _unposted(ledger: Ledger, batch_ids: list[int]) -> list[tuple[int, int]]:
    rows = ledger.query(
        f"SELECT id, batch_id FROM hits WHERE post_state != 'posted' "
        f"AND batch_id IN ({','.join('?' * len(batch_ids))}) ORDER BY batch_id, position",
        batch_ids,
    )
    return [(int(r["id"]), int(r["batch_id"])) for r in rows]


def _plan(
    ws: Workspace,
    client: Any,
    environment: Environment,
    batches: list[sqlite3.Row],
    todo: list[tuple[int, int]],
) -> PostPlan:
    per_batch: dict[int, int] = {}
    for _, batch in todo:
        per_batch[batch] = per_batch.get(batch, 0) + 1
    rewards = fees = Decimal(0)
    assignments = 0
    hourly: list[Decimal] = []
    warnings = []
    seconds_per_screen = Decimal(str(ws.settings.hits.seconds_per_screen))
    for b in batches:
        n = per_batch.get(int(b["id"]), 0)
        if not n:
            continue
        reward = Decimal(int(b["reward_cents"])) / 100
        cost = batch_cost(n, reward, int(b["assignments"]), batch_masters(b, ws.settings.mturk))
        assignments += n * int(b["assignments"])
        rewards += cost.rewards
        fees += cost.fees
        pay = (reward * 3600 / (int(b["screens_per_hit"]) * seconds_per_screen)).quantize(CENT)
        hourly.append(pay)
        if pay < MINIMUM_WAGE:
            warnings.append(
                f"batch {b['id']}: expected pay ${pay}/h is under the US federal minimum wage "
                f"(${MINIMUM_WAGE}/h) at {seconds_per_screen}s a screen: raise the reward "
                "(--reward when planning) or plan fewer screens per HIT"
            )
    try:
        balance = Decimal(client.get_account_balance()["AvailableBalance"])
    except (BotoCoreError, ClientError) as exc:
        raise market_error(exc, "read the account balance") from exc
    return PostPlan(
        environment=environment,
        batches=sorted(per_batch),
        hits=len(todo),
        assignments=assignments,
        rewards=rewards,
        fees=fees,
        balance=balance,
        hourly_pay=min(hourly) if hourly else None,
        warnings=warnings,
    )


def _check_money(ws: Workspace, plan: PostPlan) -> None:
    cap = ws.settings.mturk.spend_cap
    if plan.total > cap:
        raise BeautyError(
            f"this post would commit ${plan.total:.2f}, over the spend cap of ${cap:.2f}: raise "
            "[mturk] spend_cap in beauty.toml, or post one batch at a time"
        )
    if plan.balance is not None and plan.total > plan.balance:
        raise BeautyError(
            f"this post would commit ${plan.total:.2f} but the MTurk balance is "
            f"${plan.balance:.2f}: add funds at https://requester.mturk.com/account"
        )


def _hit_type(ws: Workspace, client: Any, batch: sqlite3.Row, environment: Environment) -> str:
    type_id, created = ensure_hit_type(ws.ledger, client, ws.settings.mturk, batch, environment)
    if created:
        subscribe_hit_type(ws.ledger, client, environment, type_id)
    return type_id


def _question(ledger: Ledger, hit_id: int, links: ImageLinks, environment: Environment) -> str:
    content = hit_content(ledger, hit_id)
    ids = content.image_ids()
    links.copy_hit(hit_id, sorted(set(ids.values())))
    html = render_hit_page(
        content,
        mode="mturk",
        image_url=lambda token: links.url(hit_id, ids[token]),
        submit_url=LIVE_SUBMIT_URL if environment == "live" else SANDBOX_SUBMIT_URL,
    )
    return mturk_question_xml(html)


def _post_one(
    ledger: Ledger,
    client: Any,
    ns: str,
    hit_id: int,
    batch: sqlite3.Row,
    hit_type_id: str,
    question: str,
    settings: Settings,
) -> None:
    token = hit_request_token(ns, hit_id)
    annotation = hit_annotation(ns, hit_id)
    with ledger.transaction() as conn:
        conn.execute(
            "UPDATE hits SET post_state = 'pending', request_token = ? WHERE id = ?",
            (token, hit_id),
        )
    try:
        remote = client.create_hit_with_hit_type(
            HITTypeId=hit_type_id,
            MaxAssignments=int(batch["assignments"]),
            LifetimeInSeconds=settings.mturk.lifetime_seconds,
            Question=question,
            RequesterAnnotation=annotation,
            UniqueRequestToken=token,
        )["HIT"]
    except ClientError as exc:
        if not already_done(exc):
            if not unanswered(exc):  # refused outright: nothing was created
                _mark_failed(ledger, hit_id)
            raise market_error(exc, f"create HIT {hit_id}") from exc
        found = find_hits(client, [annotation]).get(annotation)
        if found is None:
            raise BeautyError(
                f"MTurk says HIT {hit_id} was created but does not list it yet: "
                "run the same command again in a minute"
            ) from exc
        remote = found
    except BotoCoreError as exc:
        raise market_error(exc, f"create HIT {hit_id}") from exc
    record_posted(ledger, hit_id, remote)


def _mark_failed(ledger: Ledger, hit_id: int) -> None:
    """A HIT MTurk refused to create; the next post tries it again."""
    with ledger.transaction() as conn:
        conn.execute("UPDATE hits SET post_state = 'failed' WHERE id = ?", (hit_id,))
