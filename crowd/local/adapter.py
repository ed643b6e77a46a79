"""The embedded labeling server behind the market protocol.

Its batches are open from the moment they are planned: `beauty label serve` hands their HITs to
labelers, and answers arrive as labelers submit, so opening and collecting only report.
Verdicts take effect in the ledger at once; nobody is paid through it.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from crowd.batches import batch_filter
from crowd.content import HitContent
from crowd.local.market import NAME
from crowd.local.status import market_status
from crowd.market import Confirm, MarketReport
from crowd.review import Verdict, record_verdicts
from infra.ledger import utcnow
from infra.workspace import Workspace
from ranking.fees import batch_cost


class LocalLabeling:
    """In-house labelers working the embedded server (`beauty label serve`)."""

    name = NAME
    label = "the local labeling server"
    charges_fee = False

    def cost(self, hits: int, reward: Decimal, assignments: int, masters: bool) -> Decimal:
        return batch_cost(hits, reward, assignments, masters).rewards

    def check_hit(self, content: HitContent) -> str | None:
        return None

    def open(
        self, ws: Workspace, batch_ids: Sequence[int], *, live: bool, confirm: Confirm | None
    ) -> MarketReport:
        ids = ", ".join(map(str, batch_ids))
        return MarketReport(
            [f"batch(es) {ids}: open on the local market; `beauty label serve` hands them out"]
        )

    def collect(
        self, ws: Workspace, batch_ids: Sequence[int] | None, *, full: bool
    ) -> MarketReport:
        where, params = batch_filter(batch_ids)
        submitted = ws.ledger.scalar(
            "SELECT COUNT(*) FROM assignments a JOIN hits h ON h.id = a.hit_id "
            "JOIN batches b ON b.id = h.batch_id "
            f"WHERE b.market = ? AND a.state IN ('submitted', 'approved', 'rejected') {where}",
            (NAME, *params),
        )
        return MarketReport(
            [f"local: {submitted} assignment(s) in; labelers' answers arrive as they submit"]
        )

    def carry_out(self, ws: Workspace, verdicts: Sequence[Verdict]) -> MarketReport:
        recorded = record_verdicts(ws.ledger, list(verdicts), apply=True)
        if not verdicts:
            return MarketReport()
        lines = [f"local: {recorded} verdict(s) recorded"]
        if recorded < len(verdicts):
            lines.append(
                f"local: {len(verdicts) - recorded} already decided by a review that ran at the "
                "same time; left as it decided"
            )
        return MarketReport(lines, changed=recorded)

    def close(self, ws: Workspace, batch_ids: Sequence[int] | None) -> MarketReport:
        where, params = batch_filter(batch_ids, "id")
        with ws.ledger.transaction() as conn:
            chosen = f"FROM batches WHERE market = ? AND state = 'open' {where}"
            closed = [int(r[0]) for r in conn.execute(f"SELECT id {chosen}", (NAME, *params))]
            conn.execute(
                f"UPDATE batches SET state = 'closed' WHERE id IN (SELECT id {chosen})",
                (NAME, *params),
            )
        asked = set(closed if batch_ids is None else batch_ids)
        lines = []
        for row in market_status(ws.ledger, utcnow()).batches:
            if row["batch"] not in asked:
                continue
            figures = f"{row['submitted']} of {row['wanted']} assignments in"
            if row["batch"] not in closed:
                lines.append(f"batch {row['batch']}: already {row['state']} ({figures})")
                continue
            held = f"; {row['handed']} in hand may still be submitted" if row["handed"] else ""
            lines.append(
                f"batch {row['batch']} closed: no more hand-outs; {figures}, all kept{held}"
            )
        return MarketReport(lines, changed=len(closed))
