"""The one protocol every market implements: what the campaign asks of a place where work is done.

A market is where HITs meet workers: MTurk, the embedded labeling server, and later others
(Prolific, Toloka, a lab's own people). The campaign (planning, the page, answers, review, votes)
never names one: it looks markets up in :mod:`crowd.markets` and calls this protocol.

Each operation returns a :class:`MarketReport` of plain sentences, so the CLI and a notebook
show what happened without knowing which market did it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Protocol, runtime_checkable

from crowd.content import HitContent
from crowd.review import Verdict
from infra.workspace import Workspace


class Quote(Protocol):
    """What opening batches will cost, shown before money is committed."""

    environment: str
    batches: list[int]
    hits: int
    assignments: int
    rewards: Decimal
    fees: Decimal
    balance: Decimal | None
    hourly_pay: Decimal | None
    warnings: list[str]

    @property
    def total(self) -> Decimal: ...


Confirm = Callable[[Quote], bool]


@dataclass
class MarketReport:
    """What a market did, in sentences; ``warnings`` go to stderr."""

    lines: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    changed: int = 0


@runtime_checkable
class Market(Protocol):
    """A place where workers answer HITs.

    Attributes
    ----------
    name : str
        The registry key, stored with every batch (``batches.market``).
    label : str
        How sentences name it ("MTurk", "the local labeling server").
    charges_fee : bool
        Whether :meth:`cost` adds a platform fee to the rewards.
    """

    name: str
    label: str
    charges_fee: bool

    def cost(self, hits: int, reward: Decimal, assignments: int, masters: bool) -> Decimal:
        """Rewards plus the market's fees for a batch."""
        ...

    def check_hit(self, content: HitContent) -> str | None:
        """A note on hosting this HIT (e.g. its page size), or None; raises
        :class:`~infra.errors.BeautyError` when the market cannot host it."""
        ...

    def open(
        self, ws: Workspace, batch_ids: Sequence[int], *, live: bool, confirm: Confirm | None
    ) -> MarketReport:
        """Put the batches before workers (post them, or say where they are served)."""
        ...

    def collect(
        self, ws: Workspace, batch_ids: Sequence[int] | None, *, full: bool
    ) -> MarketReport:
        """Bring submitted answers into the ledger (raw first); idempotent and resumable."""
        ...

    def carry_out(self, ws: Workspace, verdicts: Sequence[Verdict]) -> MarketReport:
        """Carry out review verdicts on this market's assignments, and settle anything an
        earlier run left pending. Called on every review, with or without new verdicts."""
        ...

    def close(self, ws: Workspace, batch_ids: Sequence[int] | None) -> MarketReport:
        """Stop the batches taking new workers; work in progress may still come in."""
        ...
