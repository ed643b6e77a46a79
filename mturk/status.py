"""Where MTurk batches stand, from the ledger: work counts, money spent and committed, and the
auto-approval deadline review must beat.

``spent`` is what approved work and paid bonuses cost, fees included; ``committed`` is what
may still be paid: submitted work not yet decided, open slots, bonuses not yet settled. Run
``beauty hits sync`` first for fresh counts.

Money actions written as intent but not carried out (a run that stopped: MTurk unreachable,
funds short) are shown apart, with what carrying them out would pay: until the next review
settles them, an approval not sent lets MTurk's auto-approval decide instead.
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
PAYING = ("approve", "override", "bonus")  # kinds whose carrying out pays a worker


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
    pending_actions: int = 0
    pending_pay: Decimal = Decimal(0)

    def row(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class PendingMoney:
    """Money actions of one kind written as intent but not carried out yet."""

    kind: str
    count: int
    dollars: Decimal  # what carrying them out pays, fees included (0 for rejections)


@dataclass
class MarketStatus:
    batches: list[BatchStatus]
    pending: list[PendingMoney] = field(default_factory=list)
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
    pending: dict[str, list[Decimal]] = {}
    for b in ledger.query(
        "SELECT b.*, t.environment FROM batches b "
        "LEFT JOIN mturk_hit_types t ON t.batch_id = b.id WHERE b.market = 'mturk' ORDER BY b.id"
    ):
        masters = batch_masters(b, ws.settings.mturk)
        out.batches.append(_batch(ledger, b, stamp, masters, pending))
    for row in ledger.query(  # exclusions, inclusions and blocks belong to no batch
        "SELECT kind FROM money_actions WHERE state = 'pending' AND assignment_id IS NULL"
    ):
        pending.setdefault(str(row["kind"]), []).append(Decimal(0))
    out.pending = [PendingMoney(k, len(v), sum(v, Decimal(0))) for k, v in sorted(pending.items())]
    if out.pending:
        out.warnings.append(_pending_warning(out.pending))
    delay = timedelta(seconds=ws.settings.mturk.auto_approval_delay_seconds)
    out.warnings += _deadline_warnings(ledger, stamp, iso(moment + min(NEAR, delay / 2)))
    return out


def _pending_warning(pending: list[PendingMoney]) -> str:
    parts = [
        f"{p.count} {p.kind}" + (f" (${p.dollars:.2f})" if p.kind in PAYING else "")
        for p in pending
    ]
    total = sum((p.dollars for p in pending), Decimal(0))
    return (
        f"{sum(p.count for p in pending)} money action(s) written but not carried out on MTurk: "
        f"{', '.join(parts)}; ${total:.2f} in all. `beauty hits review` carries them out first"
    )


def _deadline_warnings(ledger: Ledger, stamp: str, near: str) -> list[str]:
    """Submitted MTurk work past, or nearing, the time MTurk approves it on its own."""
    row = ledger.one(
        "SELECT COUNT(*) FILTER (WHERE a.deadline <= ?) AS passed, "
        "  MIN(a.deadline) FILTER (WHERE a.deadline <= ?) AS first_passed, "
        "  COUNT(*) FILTER (WHERE a.deadline > ? AND a.deadline <= ?) AS near, "
        "  MIN(a.deadline) FILTER (WHERE a.deadline > ?) AS first_near "
        "FROM assignments a JOIN hits h ON h.id = a.hit_id JOIN batches b ON b.id = h.batch_id "
        "WHERE b.market = 'mturk' AND a.state = 'submitted' AND a.deadline IS NOT NULL",
        (stamp, stamp, stamp, near, stamp),
    )
    out = []
    if row is not None and row["passed"]:
        out.append(
            f"auto-approval deadline {row['first_passed']} has passed for {row['passed']} "
            "submitted assignment(s): MTurk approved them on its own; run `beauty hits sync` "
            "to record it"
        )
    if row is not None and row["near"]:
        out.append(
            f"{row['near']} submitted assignment(s) auto-approve from {row['first_near']}: run "
            "`beauty hits sync` and `beauty hits review` before then"
        )
    return out


def _batch(
    ledger: Ledger, b: Any, stamp: str, masters: bool, pending: dict[str, list[Decimal]]
) -> BatchStatus:
    """One batch's counts and money; its pending money actions are added to ``pending``."""
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
    paid = unpaid = Decimal(0)
    for bonus in bonuses:
        amount = Decimal(int(bonus["amount_cents"])) / 100
        with_fee = amount + bonus_fee(amount)
        if bonus["state"] == "done":
            paid += with_fee
        else:
            unpaid += with_fee
    waiting = ledger.query(
        "SELECT m.kind, m.amount_cents FROM money_actions m "
        "JOIN assignments a ON a.id = m.assignment_id JOIN hits h ON h.id = a.hit_id "
        "WHERE m.state = 'pending' AND h.batch_id = ?",
        (b["id"],),
    )
    pays = Decimal(0)
    for action in waiting:
        kind = str(action["kind"])
        amount = Decimal(int(action["amount_cents"])) / 100
        dollars = {"approve": per_assignment, "override": per_assignment}.get(kind, Decimal(0))
        if kind == "bonus":
            dollars = amount + bonus_fee(amount)
        pending.setdefault(kind, []).append(dollars)
        pays += dollars
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
        committed=(submitted + open_slots) * per_assignment + unpaid,
        next_auto_approval=min(deadlines) if deadlines else None,
        pending_actions=len(waiting),
        pending_pay=pays.quantize(Decimal("0.01")),
    )
