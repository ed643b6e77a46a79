"""Building blocks for local market tests: a gallery workspace, batches, gold, answers, a clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pandas as pd

from crowd.batches import BatchSpec, plan_batch
from crowd.content import HitContent, ScreenContent
from infra import gallery
from infra.ledger import Ledger, utcnow
from infra.workspace import Workspace
from tests.conftest import jpeg_bytes


def gallery_workspace(root: Path, n_images: int = 8) -> Workspace:
    """A workspace with ``n_images`` registered photos and ``gallery/truth.csv``.

    Truth grows with the file index in large steps, so honest workers rarely disagree.
    """
    ws = Workspace.init(root / "ws")
    folder = root / "gallery"
    folder.mkdir()
    for i in range(n_images):
        (folder / f"photo{i:02d}.jpg").write_bytes(jpeg_bytes(100 + i))
    pd.DataFrame(
        {"image": [f"photo{i:02d}.jpg" for i in range(n_images)], "beauty": range(n_images)}
    ).assign(beauty=lambda t: t["beauty"] * 3.0).to_csv(folder / "truth.csv", index=False)
    gallery.add_images(ws, str(folder))
    return ws


def plan(
    ws: Workspace,
    *,
    hits: int,
    assignments: int,
    design: str = "pairwise",
    screens_per_hit: int = 2,
    gold_rate: float = 0.0,
    market: str = "local",
    seed: int = 0,
) -> int:
    """Plan a batch; its id."""
    spec = BatchSpec(
        design=design,
        screens_per_hit=screens_per_hit,
        assignments=assignments,
        reward=Decimal("0.10"),
        market=market,
        gold_rate=gold_rate,
        hits=hits,
        seed=seed,
    )
    return plan_batch(ws, spec).batch_id


def add_pair_gold(ledger: Ledger, count: int) -> None:
    """Pair gold over the gallery's images: of two neighbours, the later file must win."""
    ids = [r[0] for r in ledger.query("SELECT id FROM images ORDER BY file_name")]
    rows = []
    for k in range(count):
        loser, winner = ids[k % len(ids)], ids[(k + 1) % len(ids)]
        rows.append((json.dumps([loser, winner]), json.dumps([winner]), json.dumps([loser])))
    with ledger.transaction() as conn:
        conn.executemany(
            "INSERT INTO gold_items (kind, source, images, must_keep, must_drop, created_at) "
            f"VALUES ('pair', 'made', ?, ?, ?, '{utcnow()}')",
            rows,
        )


Chooser = Callable[[ScreenContent], list[str]]


def first_image(screen: ScreenContent) -> list[str]:
    return [screen.images[0][0]]


def answer_json(content: HitContent, choose: Chooser = first_image) -> str:
    """The JSON a HIT page posts, with ``choose`` picking each screen's image tokens."""
    return json.dumps(
        {
            "hit": content.hit_token,
            "screens": [
                {"screen": s.token, "selected": choose(s), "seconds": 2.5} for s in content.screens
            ],
        }
    )


def gold_chooser(ledger: Ledger, passes: bool) -> Chooser:
    """Answers gold screens right (or wrong) and other screens with the first image."""
    keep = {
        int(r["id"]): (json.loads(r["must_keep"]), json.loads(r["must_drop"]))
        for r in ledger.query("SELECT id, must_keep, must_drop FROM gold_items")
    }

    def choose(screen: ScreenContent) -> list[str]:
        if screen.gold_id is None:
            return first_image(screen)
        wanted = keep[screen.gold_id][0 if passes else 1]
        return [token for token, image in screen.images if image in wanted]

    return choose


@dataclass
class FakeClock:
    """A clock that only moves when told."""

    now: datetime = field(default_factory=lambda: datetime(2024, 5, 1, 12, 0, tzinfo=UTC))

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)
