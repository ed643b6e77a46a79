"""Where MTurk batches stand, from the ledger: work counts, money spent and committed, and the
auto-approval deadline review must beat.

``spent`` is what approved work and paid bonuses cost, fees included; ``committed`` is what
may still be paid: submitted work not yet decided, open slots, bonuses not yet settled. Run
``beauty hits sync`` first for fresh counts.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from infra.ledger import Ledger, iso
from infra.workspace import Workspace
from mturk.hit_type import batch_masters
from ranking.fees import bonus_fee, mturk_fee

NEAR = timedelta(days=1)


@dataclass
class BatchStatus:
    batch: int
    environment: str | None
    hits: int
    posted: int
    open: int
    submitted: int
    approved: int
    rejected: int
    expired: int
    spent: Decimal
    committed: Decimal
    next_auto_approval: str | None

    def row(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class MarketStatus:
    batches: list[BatchStatus]
    warnings: list[str] = field(default_factory=list)

    @property
    def spent(self) -> Decimal:
        return sum((b.spent for b in self.batches), Decimal(0))

    @property
    def committed(self) -> Decimal:
        return sum((b.committed for b in self.batches), Decimal(0))


def market_status(ws: Workspace, *, now: datetime | None = None) -> MarketStatus:
    """Per MTurk batch: slots open, submitted, approved, rejected, expired; spent, committed."""
    ledger = ws.ledger
    moment = now or datetime.now(UTC)
    stamp = iso(moment)
    out = MarketStatus(batches=[])
    for b in ledger.query(
        "SELECT b.*, t.environment FROM batches b "
        "LEFT JOIN mturk_hit_types t ON t.batch_id = b.id WHERE b.market = 'mturk' ORDER BY b.id"
    ):
        out.batches.append(_batch(ledger, b, stamp, batch_masters(b, ws.settings.mturk)))
    deadlines = [b.next_auto_approval for b in out.batches if b.next_auto_approval]
    delay = timedelta(seconds=ws.settings.mturk.auto_approval_delay_seconds)
    near = min(NEAR, delay / 2)
    if deadlines:
        first = min(deadlines)
        if first <= stamp:
            out.warnings.append(
                f"auto-approval deadline {first} has passed for some work: run `beauty hits "
                "sync` to see what MTurk approved on its own"
            )
        elif first <= iso(moment + near):
            out.warnings.append(
                f"submitted work auto-approves from {first}: run `beauty hits sync` and "
                "`beauty hits review` before then"
            )
    return out


def _batch(ledger: Ledger, b: Any, stamp: str, masters: bool) -> BatchStatus:
    slots = int(b["assignments"])
    reward = Decimal(int(b["reward_cents"])) / 100
    per_assignment = reward + (mturk_fee(reward, slots, masters) / slots if slots else 0)
    hits = ledger.query(
        "SELECT h.post_state, h.expires_at, "
        "  COUNT(a.id) AS got, "
        "  COUNT(a.id) FILTER (WHERE a.state = 'submitted') AS submitted, "
        "  COUNT(a.id) FILTER (WHERE a.state = 'approved') AS approved, "
        "  COUNT(a.id) FILTER (WHERE a.state = 'rejected') AS rejected, "
        "  MIN(a.deadline) FILTER (WHERE a.state = 'submitted') AS deadline "
        "FROM hits h LEFT JOIN assignments a ON a.hit_id = h.id "
        "WHERE h.batch_id = ? GROUP BY h.id",
        (b["id"],),
    )
    posted = [h for h in hits if h["post_state"] == "posted"]
    live = [h for h in posted if h["expires_at"] is None or h["expires_at"] > stamp]
    gone = [h for h in posted if h not in live]
    open_slots = sum(max(0, slots - h["got"]) for h in live)
    submitted = sum(h["submitted"] for h in hits)
    approved = sum(h["approved"] for h in hits)
    bonuses = ledger.query(
        "SELECT m.state, m.amount_cents FROM money_actions m "
        "JOIN assignments a ON a.id = m.assignment_id JOIN hits h ON h.id = a.hit_id "
        "WHERE m.kind = 'bonus' AND h.batch_id = ? AND m.state IN ('pending', 'done')",
        (b["id"],),
    )
    paid = pending = Decimal(0)
    for bonus in bonuses:
        amount = Decimal(int(bonus["amount_cents"])) / 100
        with_fee = amount + bonus_fee(amount)
        if bonus["state"] == "done":
            paid += with_fee
        else:
            pending += with_fee
    deadlines = [h["deadline"] for h in hits if h["deadline"]]
    return BatchStatus(
        batch=int(b["id"]),
        environment=b["environment"],
        hits=len(hits),
        posted=len(posted),
        open=open_slots,
        submitted=submitted,
        approved=approved,
        rejected=sum(h["rejected"] for h in hits),
        expired=sum(max(0, slots - h["got"]) for h in gone),
        spent=approved * per_assignment + paid,
        committed=(submitted + open_slots) * per_assignment + pending,
        next_auto_approval=min(deadlines) if deadlines else None,
    )
