"""Progress of the local market: per open batch and per labeler."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from infra.ledger import Ledger

DONE = "('submitted', 'approved', 'rejected')"
HELD = "a.state = 'handed' AND a.deadline >= :now"
LAPSED = "(a.state = 'abandoned' OR (a.state = 'handed' AND a.deadline < :now))"


@dataclass(frozen=True)
class MarketStatus:
    batches: list[dict[str, Any]]
    labelers: list[dict[str, Any]]


def market_status(ledger: Ledger, now: str, labeler: str | None = None) -> MarketStatus:
    """Counts of assignments wanted, submitted, in hand and lapsed, per local batch and labeler.

    A hand-out past its deadline counts as lapsed at ``now`` (ISO 8601 UTC), even before the
    next hand-out marks it so. With ``labeler``, only that labeler's row: a labeler sees their
    own figures, the requester everyone's.
    """
    batches = ledger.query(
        "SELECT b.id AS batch, b.design, b.state, b.assignments, COUNT(DISTINCT h.id) AS hits, "
        "  COUNT(DISTINCT h.id) * b.assignments AS wanted, "
        f"  COUNT(a.id) FILTER (WHERE a.state IN {DONE}) AS submitted, "
        f"  COUNT(a.id) FILTER (WHERE {HELD}) AS handed, "
        f"  COUNT(a.id) FILTER (WHERE {LAPSED}) AS abandoned "
        "FROM batches b JOIN hits h ON h.batch_id = b.id "
        "LEFT JOIN assignments a ON a.hit_id = h.id "
        "WHERE b.market = 'local' GROUP BY b.id ORDER BY b.id",
        {"now": now},
    )
    labelers = ledger.query(
        "SELECT w.id AS labeler, w.expert, w.excluded, "
        f"  COUNT(a.id) FILTER (WHERE a.state IN {DONE}) AS submitted, "
        f"  COUNT(a.id) FILTER (WHERE {HELD}) AS handed, "
        f"  COUNT(a.id) FILTER (WHERE {LAPSED}) AS abandoned, "
        "  MAX(a.submitted_at) AS last_submitted "
        "FROM workers w LEFT JOIN assignments a ON a.worker_id = w.id "
        "WHERE w.market = 'local' AND (:labeler IS NULL OR w.id = :labeler) "
        "GROUP BY w.id ORDER BY submitted DESC, w.id",
        {"now": now, "labeler": labeler},
    )
    rows = [dict(r) for r in batches]
    for row in rows:
        row["percent"] = round(100 * row["submitted"] / row["wanted"]) if row["wanted"] else 100
    return MarketStatus(batches=rows, labelers=[dict(r) for r in labelers])
