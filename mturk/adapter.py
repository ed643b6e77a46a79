"""MTurk behind the market protocol: posting, syncing, paying and expiring, in sentences.

The work itself lives in the modules named for it (:mod:`mturk.post`, :mod:`mturk.sync`,
:mod:`mturk.money`, :mod:`mturk.manage`); this adapter is what the campaign sees.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

from crowd.content import HitContent
from crowd.market import Confirm, MarketReport
from crowd.review import Verdict
from infra.errors import BeautyError
from infra.workspace import Workspace
from mturk.client import NAME
from mturk.manage import expire_hits
from mturk.money import carry_out
from mturk.post import post_batches
from mturk.question import MAX_QUESTION_BYTES, measure_mturk_page
from mturk.sync import sync
from ranking.fees import batch_cost


class MTurk:
    """Amazon Mechanical Turk: the sandbox by default, live money only when asked."""

    name = NAME
    label = "MTurk"
    charges_fee = True

    def cost(self, hits: int, reward: Decimal, assignments: int, masters: bool) -> Decimal:
        return batch_cost(hits, reward, assignments, masters).total

    def check_hit(self, content: HitContent) -> str:
        size = measure_mturk_page(content)
        if size > MAX_QUESTION_BYTES:
            raise BeautyError(
                f"a HIT of {len(content.screens)} {content.screens[0].kind} screens makes an "
                f"MTurk page of {size:,} bytes, over MTurk's {MAX_QUESTION_BYTES:,}: plan fewer "
                "screens per HIT (--screens-per-hit), or serve images from short public URLs"
            )
        return f"MTurk page {size:,} of {MAX_QUESTION_BYTES:,} bytes"

    def open(
        self, ws: Workspace, batch_ids: Sequence[int], *, live: bool, confirm: Confirm | None
    ) -> MarketReport:
        report = post_batches(ws, list(batch_ids), live=live, confirm=confirm)
        out = MarketReport(changed=report.created)
        if report.cancelled:
            out.lines.append("nothing posted")
            return out
        if report.recovered:
            out.lines.append(f"{report.recovered} HIT(s) from an interrupted post found on MTurk")
        out.lines.append(f"{report.created} HIT(s) posted, {report.already_posted} posted before")
        return out

    def collect(
        self, ws: Workspace, batch_ids: Sequence[int] | None, *, full: bool
    ) -> MarketReport:
        report = sync(ws, None if batch_ids is None else list(batch_ids), full=full)
        out = MarketReport(changed=report.stored)
        if report.queue_error:
            out.warnings.append(report.queue_error)
        out.lines.append(
            f"{report.hits} HIT(s) synced: {report.stored} new answer(s), {report.known} known; "
            f"{report.parsed} parsed ({report.parse_failed} unreadable, kept raw); "
            f"{report.changed_on_mturk} approved or rejected on MTurk itself"
        )
        if report.messages_deleted:
            out.lines.append(f"{report.messages_deleted} notification(s) handled")
        return out

    def carry_out(self, ws: Workspace, verdicts: Sequence[Verdict]) -> MarketReport:
        results = carry_out(ws, verdicts)
        out = MarketReport()
        for state in ("done", "failed", "pending", "skipped"):
            ended = [r for r in results if r.state == state]
            if ended:
                kinds = ", ".join(sorted({r.kind for r in ended}))
                out.lines.append(f"MTurk: {len(ended)} money action(s) {state} ({kinds})")
        out.changed = sum(r.state == "done" for r in results)
        out.warnings += [
            f"{r.kind} for {r.worker} failed: {r.detail}" for r in results if r.state == "failed"
        ]
        return out

    def close(self, ws: Workspace, batch_ids: Sequence[int] | None) -> MarketReport:
        changed = expire_hits(ws, None if batch_ids is None else list(batch_ids))
        out = MarketReport(changed=changed.done)
        out.lines.append(f"{changed.done} MTurk HIT(s) expired, {len(changed.refused)} left")
        out.warnings += [f"HIT {hit} not expired: {why}" for hit, why in changed.refused]
        return out
