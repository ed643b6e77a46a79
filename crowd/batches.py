"""Planning a batch: from the registered gallery to HITs, screens and tokens in the ledger.

A batch belongs to one market (the local labeling server or MTurk) and one design (pairs or
4-up sets). Its screens come from :mod:`ranking.design`; gold screens are mixed in at the
batch's gold rate from the gold items of the matching kind; active pairs come from
:mod:`crowd.active`. Every HIT, screen and image slot
gets an opaque token, so the page a worker sees names nothing it could tell gold by.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from crowd import markets
from crowd.active import active_pairs
from crowd.content import HitContent, ScreenContent, ScreenKind, hit_content
from crowd.rank import RELIABILITY_TABLE, read_reliability
from crowd.tokens import new_token
from infra.errors import BeautyError
from infra.ledger import Ledger, utcnow
from infra.settings import Settings
from infra.workspace import Workspace
from ranking.design import SCREEN_SIZE, gold_per_hit, pack_hits, plan_screens, screens_needed
from ranking.routing import trusted_workers

__all__ = [
    "BatchPlan",
    "BatchSpec",
    "HitContent",
    "ScreenContent",
    "hit_content",
    "list_batches",
    "list_hits",
    "plan_batch",
]

Design = Literal["pairwise", "fourup"]
KIND: dict[str, ScreenKind] = {"pairwise": "pair", "fourup": "fourup"}
CENT = Decimal("0.01")


class BatchSpec(BaseModel):
    """What to plan. ``hits`` plans that many HITs; otherwise enough HITs for every image to
    appear ``appearances`` times (pairs and 4-up alike). ``trusted`` offers the batch only to
    that share of the market's workers, the most reliable by the last ``beauty rank``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    design: Design
    screens_per_hit: int = Field(ge=1, le=50)
    assignments: int = Field(ge=1)
    reward: Decimal = Field(ge=0)
    market: str
    gold_rate: float = Field(ge=0, lt=1)
    hits: int | None = Field(default=None, ge=1)
    appearances: int | None = Field(default=None, ge=1)
    seed: int
    active: bool = False
    focus: int | None = Field(default=None, ge=1)
    crowd_model: Path | None = None
    masters: bool = False
    trusted: float | None = Field(default=None, gt=0, le=1)

    @field_validator("reward")
    @classmethod
    def _whole_cents(cls, reward: Decimal) -> Decimal:
        if reward != reward.quantize(CENT):
            raise ValueError(f"reward {reward} is not a whole number of cents")
        return reward.quantize(CENT)

    @field_validator("market")
    @classmethod
    def _registered(cls, market: str) -> str:
        if market not in markets.names():
            raise ValueError(f"no market {market!r}: choose one of {', '.join(markets.names())}")
        return market

    @model_validator(mode="after")
    def _hits_or_appearances(self) -> BatchSpec:
        if self.hits is not None and self.appearances is not None:
            raise ValueError("give the number of HITs or the appearances per image, not both")
        if self.hits is None and self.appearances is None:
            raise ValueError("give the number of HITs or the appearances per image")
        if self.gold_rate > 0 and self.screens_per_hit < 2:
            raise ValueError("a HIT with gold needs at least two screens")
        if (self.focus is not None or self.crowd_model is not None) and not (
            self.active and self.design == "pairwise"
        ):
            raise ValueError("--focus and --crowd-model choose active pairs: add --active")
        return self

    @classmethod
    def from_settings(cls, settings: Settings, **changes: Any) -> BatchSpec:
        """A spec from the workspace's ``[hits]`` defaults, with ``changes`` applied.

        Giving ``hits`` drops the default appearances; ``None`` values keep the default.
        """
        hits = settings.hits
        values: dict[str, Any] = {
            "design": hits.design,
            "screens_per_hit": hits.screens_per_hit,
            "assignments": hits.assignments,
            "reward": hits.reward,
            "market": hits.market,
            "gold_rate": hits.gold_rate,
            "appearances": hits.appearances,
            "seed": 0,
            "masters": settings.mturk.masters,
        }
        changes = {k: v for k, v in changes.items() if v is not None}
        if "hits" in changes:
            values["appearances"] = None
        return cls.model_validate(values | changes)


@dataclass(frozen=True)
class BatchPlan:
    """A planned batch and what it costs.

    ``cost`` is rewards plus the market's fees for every assignment; ``costs`` is what the
    same batch would cost on each registered market. ``notes`` are the market's words on the
    largest HIT (an MTurk page's size). ``workers`` is how many workers the batch is offered
    to, None for everyone.
    """

    batch_id: int
    market: str
    hits: int
    screens: int
    gold_screens: int
    images: int
    cost: Decimal
    costs: dict[str, Decimal]
    minutes_per_hit: float
    notes: list[str]
    workers: int | None = None


@dataclass(frozen=True)
class _Gold:
    id: int
    images: tuple[str, ...]


def plan_batch(ws: Workspace, spec: BatchSpec, *, scores: pd.DataFrame | None = None) -> BatchPlan:
    """Plan a batch and write it (batch, HITs, screens, image slots) in one transaction.

    Parameters
    ----------
    ws : Workspace
        Its gallery's original images are planned; derived images (made-gold variants) appear
        only on gold screens.
    spec : BatchSpec
        The design, sizes, market and money.
    scores : DataFrame, optional
        Columns ``image, score, se`` for an active 4-up design; by default the scores table
        that ``beauty rank`` writes (``tables/scores.csv``). Active pairs are chosen from the
        workspace's votes instead (:func:`crowd.active.active_pairs`), and ``notes`` say
        whether they are the active choice or the random fallback.

    Raises
    ------
    BeautyError
        Too few images, no gold of the batch's kind while ``gold_rate > 0``, no scores for an
        active design, no learned reliability (or too few workers) for a trusted one, or a
        HIT the market cannot host (an MTurk page over its size limit).
    """
    ledger = ws.ledger
    images = [r[0] for r in ledger.query("SELECT id FROM images WHERE derived_from IS NULL")]
    images.sort()
    size = SCREEN_SIZE[spec.design]
    if len(images) < size:
        raise BeautyError(
            f"a {spec.design} batch needs at least {size} gallery images, found {len(images)}: "
            "run `beauty images add DIR`"
        )
    kind = KIND[spec.design]
    gold = _gold_items(ledger, kind) if spec.gold_rate > 0 else []
    if spec.gold_rate > 0 and not gold:
        raise BeautyError(
            f"no {kind} gold for a {spec.design} batch with gold rate {spec.gold_rate:g}: "
            "run `beauty gold make --count N` or `beauty gold add FILE.csv` (or --gold-rate 0)"
        )
    if spec.hits is not None:
        normal = spec.screens_per_hit - gold_per_hit(
            spec.screens_per_hit, spec.gold_rate, len(gold)
        )
        n_screens = spec.hits * normal
    else:
        n_screens = screens_needed(len(images), size, spec.appearances or 0)
    offered = None if spec.trusted is None else _trusted(ws, spec, spec.trusted)
    notes: list[str] = []
    if spec.active and spec.design == "pairwise":
        chosen = active_pairs(
            ws, images, n_screens, assignments=spec.assignments, seed=spec.seed,
            focus=spec.focus, crowd_model=spec.crowd_model,
        )  # fmt: skip
        screens: list[tuple[str, ...]] = list(chosen.pairs)
        notes.append(chosen.note)
    else:
        beliefs = _scores(ws, scores) if spec.active else None
        screens = plan_screens(
            images,
            spec.design,
            n_screens,
            spec.seed,
            scores=None if beliefs is None else beliefs["score"],
            se=None if beliefs is None else beliefs["se"],
            active=spec.active,
        )
    packed = pack_hits(
        screens, [g.images for g in gold], spec.screens_per_hit, spec.gold_rate, spec.seed
    )
    contents = [
        HitContent(
            hit_id=0,
            hit_token=new_token(),
            screens=[
                ScreenContent(
                    screen_id=0,
                    token=new_token(),
                    kind=kind,
                    images=[(new_token(), image) for image in planned.images],
                    gold_id=None if planned.gold is None else gold[planned.gold].id,
                )
                for planned in hit
            ],
        )
        for hit in packed
    ]
    largest = max(contents, key=lambda c: sum(len(s.images) for s in c.screens))
    note = markets.get(spec.market).check_hit(largest)
    batch_id = _write(ledger, spec, contents, offered)
    costs = _costs(spec.reward, spec.assignments, len(contents), spec.masters)
    gold_screens = sum(s.gold_id is not None for c in contents for s in c.screens)
    most_screens = max(len(c.screens) for c in contents)
    return BatchPlan(
        batch_id=batch_id,
        market=spec.market,
        hits=len(contents),
        screens=sum(len(c.screens) for c in contents),
        gold_screens=gold_screens,
        images=len(images),
        cost=costs[spec.market],
        costs=costs,
        minutes_per_hit=most_screens * ws.settings.hits.seconds_per_screen / 60.0,
        notes=notes if note is None else [note, *notes],
        workers=None if offered is None else len(offered),
    )


def _gold_items(ledger: Ledger, kind: ScreenKind) -> list[_Gold]:
    rows = ledger.query(
        "SELECT id, images FROM gold_items WHERE kind = ? AND pool = 'hits' ORDER BY id", (kind,)
    )
    return [_Gold(row["id"], tuple(json.loads(row["images"]))) for row in rows]


def _scores(ws: Workspace, scores: pd.DataFrame | None) -> pd.DataFrame:
    """Scores and standard errors indexed by image, for an active design."""
    if scores is None:
        path = ws.tables_dir / "scores.csv"
        if not path.exists():
            raise BeautyError(
                f"an active design needs scores, and {path} is missing: run `beauty rank`"
            )
        scores = pd.read_csv(path, dtype={"image": str})
    missing = {"image", "score", "se"} - set(scores.columns)
    if missing:
        raise BeautyError(f"the scores table lacks columns {sorted(missing)}: run `beauty rank`")
    return scores.set_index("image")[["score", "se"]]


def _trusted(ws: Workspace, spec: BatchSpec, share: float) -> list[str]:
    """The most reliable workers of the batch's market not excluded, by the table ``beauty rank``
    wrote."""
    reliability = read_reliability(ws)
    if reliability is None:
        raise BeautyError(
            "a trusted batch needs each worker's learned reliability, and "
            f"{ws.tables_dir / RELIABILITY_TABLE} is missing: run `beauty rank` "
            "(method crowdbt or fourup)"
        )
    # Excluded workers could not take the batch anyway; they must not use up its places.
    known = {
        r[0]
        for r in ws.ledger.query(
            "SELECT id FROM workers WHERE market = ? AND excluded = 0", (spec.market,)
        )
    }
    reliability = reliability[reliability.index.isin(known)]
    if len(reliability) < spec.assignments:
        raise BeautyError(
            f"{len(reliability)} {spec.market} workers have a learned reliability, fewer than the "
            f"{spec.assignments} assignments a HIT needs: collect a batch open to everyone first"
        )
    return trusted_workers(reliability, share, spec.assignments)


def _write(
    ledger: Ledger,
    spec: BatchSpec,
    contents: list[HitContent],
    offered: list[str] | None,
) -> int:
    record = spec.model_dump(mode="json")
    with ledger.transaction() as conn:
        batch_id = conn.execute(
            "INSERT INTO batches (market, design, screens_per_hit, assignments, reward_cents, "
            "gold_rate, settings, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                spec.market,
                spec.design,
                spec.screens_per_hit,
                spec.assignments,
                int(spec.reward * 100),
                spec.gold_rate,
                json.dumps(record, sort_keys=True),
                utcnow(),
            ),
        ).lastrowid
        for position, content in enumerate(contents):
            hit_id = conn.execute(
                "INSERT INTO hits (batch_id, position, token) VALUES (?, ?, ?)",
                (batch_id, position, content.hit_token),
            ).lastrowid
            for order, screen in enumerate(content.screens):
                screen_id = conn.execute(
                    "INSERT INTO screens (hit_id, position, token, kind, gold_id) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (hit_id, order, screen.token, screen.kind, screen.gold_id),
                ).lastrowid
                conn.executemany(
                    "INSERT INTO screen_images (screen_id, position, image_id, token) "
                    "VALUES (?, ?, ?, ?)",
                    [
                        (screen_id, k, image, token)
                        for k, (token, image) in enumerate(screen.images)
                    ],
                )
        conn.executemany(
            "INSERT INTO batch_workers (batch_id, worker_id) VALUES (?, ?)",
            [(batch_id, worker) for worker in offered or []],
        )
    assert batch_id is not None
    return batch_id


def _costs(reward: Decimal, assignments: int, hits: int, masters: bool) -> dict[str, Decimal]:
    """What the batch costs on each registered market: rewards plus that market's fees."""
    return {
        name: markets.get(name).cost(hits, reward, assignments, masters) for name in markets.names()
    }


def list_batches(ledger: Ledger) -> list[dict[str, Any]]:
    """Every batch with its size, money, progress and ``offered_to`` (how many chosen workers
    it is offered to; None for everyone), oldest first."""
    rows = ledger.query(
        "SELECT b.id, b.market, b.design, b.state, b.screens_per_hit, b.assignments, "
        "b.reward_cents, b.gold_rate, b.settings, b.created_at, "
        "(SELECT COUNT(*) FROM hits h WHERE h.batch_id = b.id) AS hits, "
        "(SELECT COUNT(*) FROM hits h WHERE h.batch_id = b.id AND h.post_state = 'posted') "
        "AS posted, "
        "(SELECT COUNT(*) FROM screens s JOIN hits h ON h.id = s.hit_id WHERE h.batch_id = b.id) "
        "AS screens, "
        "(SELECT COUNT(*) FROM screens s JOIN hits h ON h.id = s.hit_id "
        " WHERE h.batch_id = b.id AND s.gold_id IS NOT NULL) AS gold_screens, "
        "(SELECT COUNT(*) FROM assignments a JOIN hits h ON h.id = a.hit_id "
        " WHERE h.batch_id = b.id AND a.state IN ('submitted', 'approved', 'rejected')) "
        "AS submitted, "
        "(SELECT COUNT(*) FROM batch_workers bw WHERE bw.batch_id = b.id) AS offered_to "
        "FROM batches b ORDER BY b.id"
    )
    out = []
    for row in rows:
        record = dict(row)
        reward = Decimal(record.pop("reward_cents")) / 100
        masters = bool(json.loads(record.pop("settings")).get("masters", False))
        cost = markets.get(record["market"]).cost(
            record["hits"], reward, record["assignments"], masters
        )
        # None: open to every worker of the market.
        record["offered_to"] = record["offered_to"] or None
        out.append(record | {"reward": reward, "cost": cost})
    return out


def batch_filter(
    batch_id: int | Sequence[int] | None, column: str = "b.id"
) -> tuple[str, tuple[int, ...]]:
    """SQL that keeps one batch, several, or (None) every batch, ``AND b.id IN (...)``, and its
    parameters."""
    if batch_id is None:
        return "", ()
    ids = (batch_id,) if isinstance(batch_id, int) else tuple(batch_id)
    return f"AND {column} IN ({','.join('?' * len(ids))}) ", ids


def open_batches(ledger: Ledger, batch_id: int | None = None) -> dict[str, list[int]]:
    """Open batches by market (one batch when ``batch_id`` is given, open or not)."""
    if batch_id is not None:
        row = ledger.one("SELECT market FROM batches WHERE id = ?", (batch_id,))
        if row is None:
            raise BeautyError(f"no batch {batch_id}: see `beauty hits list`")
        return {str(row["market"]): [batch_id]}
    out: dict[str, list[int]] = {}
    for row in ledger.query("SELECT id, market FROM batches WHERE state = 'open' ORDER BY id"):
        out.setdefault(str(row["market"]), []).append(int(row["id"]))
    if not out:
        if ledger.scalar("SELECT 1 FROM batches"):
            raise BeautyError(
                "no open batch: every batch is done or closed (see `beauty hits list`); plan "
                "another with `beauty hits plan`"
            )
        raise BeautyError("no open batch: plan one with `beauty hits plan`")
    return out


def list_hits(ledger: Ledger, batch_id: int | None = None) -> list[dict[str, Any]]:
    """HITs (of one batch, or all) with their screens and submitted assignments."""
    where, params = ("WHERE h.batch_id = ?", (batch_id,)) if batch_id is not None else ("", ())
    rows = ledger.query(
        "SELECT h.id, h.batch_id, h.position, h.token, h.post_state, h.remote_id, "
        "h.remote_status, h.posted_at, h.expires_at, "
        "(SELECT COUNT(*) FROM screens s WHERE s.hit_id = h.id) AS screens, "
        "(SELECT COUNT(*) FROM screens s WHERE s.hit_id = h.id AND s.gold_id IS NOT NULL) "
        "AS gold_screens, "
        "(SELECT COUNT(*) FROM assignments a WHERE a.hit_id = h.id "
        " AND a.state IN ('submitted', 'approved', 'rejected')) AS submitted "
        f"FROM hits h {where} ORDER BY h.batch_id, h.position",
        params,
    )
    return [dict(row) for row in rows]
