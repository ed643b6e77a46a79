"""Review carried out: verdicts decided by the one policy, then handed to each market.

Every registered market is asked on every run, with or without new verdicts, so an approval,
rejection or bonus an earlier run left pending (a crash mid-call) is always settled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from crowd import markets
from crowd.market import MarketReport
from crowd.rank import read_reliability
from crowd.review import Verdict, decide
from infra.workspace import Workspace


@dataclass
class ReviewOutcome:
    """The verdicts of one review and what each market reported doing with them."""

    verdicts: list[Verdict]
    reports: dict[str, MarketReport] = field(default_factory=dict)


def carry_out(ws: Workspace, verdicts: Sequence[Verdict]) -> dict[str, MarketReport]:
    """Hand each market its assignments' verdicts; every market settles what it left pending."""
    market_of = _markets_of(ws, [v.assignment_id for v in verdicts])
    reports: dict[str, MarketReport] = {}
    for name in markets.names():
        mine = [v for v in verdicts if market_of.get(v.assignment_id) == name]
        reports[name] = markets.get(name).carry_out(ws, mine)
    return reports


def review(ws: Workspace, batch_id: int | None = None, dry_run: bool = False) -> ReviewOutcome:
    """Decide verdicts for the workspace's submitted work and, unless ``dry_run``, carry them
    out on their markets."""
    reliability = read_reliability(ws)
    learned = None if reliability is None else {str(w): float(r) for w, r in reliability.items()}
    verdicts = decide(ws.ledger, ws.settings.review, batch_id, learned)
    if dry_run:
        return ReviewOutcome(verdicts)
    return ReviewOutcome(verdicts, carry_out(ws, verdicts))


def _markets_of(ws: Workspace, assignment_ids: Sequence[int]) -> dict[int, str]:
    wanted = sorted(set(assignment_ids))
    found: dict[int, str] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        rows = ws.ledger.query(
            "SELECT a.id, b.market FROM assignments a JOIN hits h ON h.id = a.hit_id "
            f"JOIN batches b ON b.id = h.batch_id WHERE a.id IN ({','.join('?' * len(chunk))})",
            chunk,
        )
        found.update({int(r[0]): str(r[1]) for r in rows})
    return found
