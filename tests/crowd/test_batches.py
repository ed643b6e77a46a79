from __future__ import annotations

import json
import math
from collections import Counter
from decimal import Decimal
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from pydantic import ValidationError

from crowd.batches import BatchSpec, hit_content, list_batches, list_hits
from crowd.gold_items import make_gold
from crowd.tokens import TOKEN_LENGTH
from crowd.votes import import_votes
from infra.errors import BeautyError
from infra.workspace import Workspace
from tests.crowd.tiny_gallery import add_photos, plan


@pytest.fixture
def gallery_ws(ws: Workspace, tmp_path: Path) -> Workspace:
    add_photos(ws, tmp_path / "gallery", n=12)
    make_gold(ws, 5, seed=1, qualification_share=0.0)
    return ws


def _originals(ws: Workspace) -> set[str]:
    return {r[0] for r in ws.ledger.query("SELECT id FROM images WHERE derived_from IS NULL")}


def test_plan_by_appearances_writes_every_hit_screen_and_slot(gallery_ws: Workspace) -> None:
    ws = gallery_ws
    result = plan(ws, design="fourup", screens_per_hit=5, gold_rate=0.2, appearances=4)
    normal = math.ceil(12 * 4 / 4)  # every original shown 4 times, 4 to a screen
    per_hit_normal = 5 - 1  # one gold screen in five
    assert result.hits == math.ceil(normal / per_hit_normal)
    assert result.screens == result.hits * 5
    assert result.gold_screens == result.hits
    ledger = ws.ledger
    assert ledger.scalar("SELECT COUNT(*) FROM hits WHERE batch_id = ?", (result.batch_id,)) == (
        result.hits
    )
    assert ledger.scalar("SELECT COUNT(*) FROM screens") == result.screens
    assert ledger.scalar("SELECT COUNT(*) FROM screen_images") == 4 * result.screens
    assert {r[0] for r in ledger.query("SELECT kind FROM screens")} == {"fourup"}

    originals = _originals(ws)
    shown_normal: Counter[str] = Counter()
    for row in ledger.query("SELECT id, gold_id FROM screens"):
        images = [
            r[0]
            for r in ledger.query(
                "SELECT image_id FROM screen_images WHERE screen_id = ? ORDER BY position",
                (row[0],),
            )
        ]
        assert len(set(images)) == 4
        if row["gold_id"] is None:
            assert set(images) <= originals  # derived images only on gold screens
            shown_normal.update(images)
        else:
            gold = ledger.one("SELECT images, kind FROM gold_items WHERE id = ?", (row["gold_id"],))
            assert gold is not None and gold["kind"] == "fourup"
            assert set(images) == set(json.loads(gold["images"]))
    assert set(shown_normal) == originals
    assert max(shown_normal.values()) - min(shown_normal.values()) <= 1
    assert min(shown_normal.values()) >= 4


def test_plan_hits_n_plans_exactly_n_hits(gallery_ws: Workspace) -> None:
    result = plan(gallery_ws, design="pairwise", screens_per_hit=4, hits=7, gold_rate=0.25)
    assert result.hits == 7
    assert len(list_hits(gallery_ws.ledger, result.batch_id)) == 7
    kinds = {r[0] for r in gallery_ws.ledger.query("SELECT kind FROM screens")}
    assert kinds == {"pair"}


def test_every_token_is_opaque_unique_and_of_one_length(gallery_ws: Workspace) -> None:
    plan(gallery_ws, design="fourup", screens_per_hit=5, gold_rate=0.2, appearances=2)
    ledger = gallery_ws.ledger
    tokens = [r[0] for r in ledger.query("SELECT token FROM hits")]
    tokens += [r[0] for r in ledger.query("SELECT token FROM screens")]
    tokens += [r[0] for r in ledger.query("SELECT token FROM screen_images")]
    assert len(set(tokens)) == len(tokens)
    assert {len(t) for t in tokens} == {TOKEN_LENGTH}
    ids = {r[0] for r in ledger.query("SELECT id FROM images")}
    assert not any(image in token for token in tokens for image in ids)


def test_hit_content_follows_shown_order(gallery_ws: Workspace) -> None:
    result = plan(gallery_ws, design="pairwise", screens_per_hit=3, hits=2, gold_rate=0.3)
    hit_id = list_hits(gallery_ws.ledger, result.batch_id)[1]["id"]
    content = hit_content(gallery_ws.ledger, hit_id)
    rows = gallery_ws.ledger.query(
        "SELECT s.token, s.gold_id, i.token, i.image_id FROM screens s "
        "JOIN screen_images i ON i.screen_id = s.id WHERE s.hit_id = ? "
        "ORDER BY s.position, i.position",
        (hit_id,),
    )
    flat = [(s.token, s.gold_id, t, image) for s in content.screens for t, image in s.images]
    assert flat == [tuple(r) for r in rows]
    assert sum(s.gold_id is not None for s in content.screens) == 1
    with pytest.raises(BeautyError, match="beauty hits list"):
        hit_content(gallery_ws.ledger, 999)


@pytest.mark.parametrize(("assignments", "fee_rate"), [(3, Decimal("0.20")), (10, Decimal("0.40"))])
def test_cost_is_reward_plus_mturk_fee_on_mturk_and_rewards_only_locally(
    gallery_ws: Workspace, assignments: int, fee_rate: Decimal
) -> None:
    reward = Decimal("0.25")
    mturk = plan(
        gallery_ws, market="mturk", reward=reward, assignments=assignments, hits=4, gold_rate=0.2
    )
    local = plan(
        gallery_ws, market="local", reward=reward, assignments=assignments, hits=4, gold_rate=0.2
    )
    rewards = reward * assignments * 4
    with_fee = rewards + (reward * fee_rate).quantize(Decimal("0.01")) * assignments * 4
    assert mturk.cost == mturk.costs["mturk"] == with_fee
    assert local.cost == rewards and local.costs == {"local": rewards, "mturk": with_fee}
    listed = {b["id"]: b for b in list_batches(gallery_ws.ledger)}
    assert listed[mturk.batch_id]["cost"] == with_fee
    assert listed[local.batch_id]["cost"] == rewards
    assert listed[local.batch_id]["reward"] == reward


def test_fee_has_a_one_cent_minimum_and_masters_pay_more(gallery_ws: Workspace) -> None:
    cheap = plan(gallery_ws, market="mturk", reward=Decimal("0.02"), assignments=1, hits=3)
    assert cheap.cost == Decimal("0.03") * 3
    masters = plan(
        gallery_ws, market="mturk", reward=Decimal("1.00"), assignments=1, hits=1, masters=True
    )
    assert masters.cost == Decimal("1.25")


def test_minutes_and_page_size_are_reported(gallery_ws: Workspace) -> None:
    result = plan(gallery_ws, design="fourup", screens_per_hit=10, hits=2, gold_rate=0.2)
    seconds = gallery_ws.settings.hits.seconds_per_screen
    assert result.minutes_per_hit == pytest.approx(10 * seconds / 60)
    assert result.notes == []  # the local market has no page limit to report
    on_mturk = plan(gallery_ws, market="mturk", screens_per_hit=10, hits=2, gold_rate=0.2)
    (note,) = on_mturk.notes
    size = int(note.split()[2].replace(",", ""))
    assert 10_000 < size < 65_535 and note.endswith("of 65,535 bytes")


def test_gold_is_required_when_the_rate_is_positive(ws: Workspace, tmp_path: Path) -> None:
    add_photos(ws, tmp_path / "gallery", n=6)
    with pytest.raises(BeautyError, match="beauty gold make"):
        plan(ws, design="pairwise", hits=2, gold_rate=0.2)
    assert ws.ledger.scalar("SELECT COUNT(*) FROM batches") == 0
    result = plan(ws, design="pairwise", hits=2, gold_rate=0.0, screens_per_hit=3)
    assert result.gold_screens == 0


def test_too_few_images_is_a_clear_error(ws: Workspace, tmp_path: Path) -> None:
    add_photos(ws, tmp_path / "gallery", n=3)
    with pytest.raises(BeautyError, match="at least 4"):
        plan(ws, design="fourup", hits=1, gold_rate=0.0)


def _screens(ws: Workspace, batch_id: int) -> list[list[str]]:
    return [
        [
            r[0]
            for r in ws.ledger.query(
                "SELECT image_id FROM screen_images WHERE screen_id = ? ORDER BY position",
                (row[0],),
            )
        ]
        for row in ws.ledger.query(
            "SELECT s.id FROM screens s JOIN hits h ON h.id = s.hit_id WHERE h.batch_id = ?",
            (batch_id,),
        )
    ]


def test_active_fourup_needs_scores_and_uses_them(gallery_ws: Workspace) -> None:
    with pytest.raises(BeautyError, match="beauty rank"):
        plan(gallery_ws, design="fourup", hits=2, gold_rate=0.0, active=True)
    images = sorted(_originals(gallery_ws))
    table = pd.DataFrame({"image": images, "score": range(len(images)), "se": 0.01})
    table.to_csv(gallery_ws.tables_dir / "scores.csv", index=False)
    result = plan(
        gallery_ws, design="fourup", hits=3, screens_per_hit=4, gold_rate=0.0, active=True
    )
    rank = {image: i for i, image in enumerate(images)}
    spans = [
        max(rank[i] for i in s) - min(rank[i] for i in s)
        for s in _screens(gallery_ws, result.batch_id)
    ]
    # neighbours in score: random sets of 4 of 12 span about 7.8 places
    assert sum(spans) / len(spans) < 5, spans


def _import_votes(ws: Workspace, tmp_path: Path, coin_flips: bool) -> list[str]:
    """120 recorded votes over the gallery: by a true order (photo00 worst), or coin flips."""
    images = sorted(_originals(ws))
    rng = np.random.default_rng(3)
    rows = []
    for k in range(120):
        a, b = rng.choice(len(images), 2, replace=False)
        p_a = 0.5 if coin_flips else 1 / (1 + math.exp(-(a - b) / 1.5))
        rows.append(
            (f"w{k % 6}", images[a], images[b], images[a] if rng.random() < p_a else images[b])
        )
    path = tmp_path / "votes.csv"
    pd.DataFrame(rows, columns=["worker", "left", "right", "label"]).to_csv(path, index=False)
    import_votes(ws, path)
    return images


def test_active_pairs_come_from_the_votes_so_far(gallery_ws: Workspace, tmp_path: Path) -> None:
    with pytest.raises(BeautyError, match="plan a random batch first"):
        plan(gallery_ws, design="pairwise", hits=2, gold_rate=0.0, active=True)
    images = _import_votes(gallery_ws, tmp_path, coin_flips=False)
    result = plan(
        gallery_ws, design="pairwise", hits=4, screens_per_hit=5, gold_rate=0.0, active=True
    )
    assert any(n.startswith("active pairs: predicted") for n in result.notes), result.notes
    rank = {image: i for i, image in enumerate(images)}
    gaps = [abs(rank[a] - rank[b]) for a, b in _screens(gallery_ws, result.batch_id)]
    # close calls, with a few random pairs to explore: random pairs of 12 are about 4.3 apart
    assert sum(gaps) / len(gaps) < 3, gaps


def test_active_pairs_fall_back_to_random_when_the_crowd_cannot_tell(
    gallery_ws: Workspace, tmp_path: Path
) -> None:
    _import_votes(gallery_ws, tmp_path, coin_flips=True)
    result = plan(
        gallery_ws, design="pairwise", hits=4, screens_per_hit=5, gold_rate=0.0, active=True
    )
    assert any(n.startswith("random pairs: active ones predicted") for n in result.notes), (
        result.notes
    )
    with pytest.raises(ValidationError, match="add --active"):
        BatchSpec.from_settings(gallery_ws.settings, design="pairwise", hits=1, focus=3)


def test_spec_rejects_contradictions() -> None:
    base = dict(
        design="pairwise", screens_per_hit=4, assignments=1, market="local", gold_rate=0.0, seed=0
    )
    with pytest.raises(ValidationError, match="not both"):
        BatchSpec(**base, reward=Decimal("0.1"), hits=2, appearances=3)
    with pytest.raises(ValidationError, match="cents"):
        BatchSpec(**base, reward=Decimal("0.105"), hits=2)
    with pytest.raises(ValidationError, match="two screens"):
        BatchSpec(**{**base, "screens_per_hit": 1, "gold_rate": 0.2}, reward=Decimal("0.1"), hits=2)


def test_an_mturk_batch_whose_page_is_too_large_is_refused_at_plan_time(
    gallery_ws: Workspace, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mturk.adapter

    monkeypatch.setattr(mturk.adapter, "measure_mturk_page", lambda content: 70_000)
    with pytest.raises(BeautyError, match="fewer screens per HIT"):
        plan(gallery_ws, market="mturk", hits=2)
    assert gallery_ws.ledger.scalar("SELECT COUNT(*) FROM batches") == 0
    assert plan(gallery_ws, market="local", hits=2).batch_id == 1  # no limit on the local page


def _reliability(ws: Workspace, markets: dict[str, str], values: dict[str, float]) -> None:
    """Workers seen on ``markets`` and the reliability table `beauty rank` writes."""
    with ws.ledger.transaction() as conn:
        conn.executemany(
            "INSERT INTO workers (id, market, first_seen) VALUES (?, ?, '2026-01-01')",
            list(markets.items()),
        )
    pd.DataFrame({"worker": list(values), "reliability": list(values.values())}).to_csv(
        ws.tables_dir / "reliability.csv", index=False
    )


def test_a_trusted_batch_is_offered_to_the_markets_most_reliable_workers(
    gallery_ws: Workspace,
) -> None:
    ws = gallery_ws
    with pytest.raises(BeautyError, match="beauty rank"):
        plan(ws, design="fourup", hits=2, gold_rate=0.0, trusted=0.5)
    _reliability(
        ws,
        {"ann": "local", "bob": "local", "cy": "local", "dee": "local", "turker": "mturk"},
        {"ann": 0.3, "bob": 1.6, "cy": 1.2, "dee": 0.1, "turker": 3.0, "imported": 2.5, "ex": 9.0},
    )
    with ws.ledger.transaction() as conn:
        conn.execute(
            "INSERT INTO workers (id, market, first_seen, excluded) "
            "VALUES ('ex', 'local', '2026-01-01', 1)"
        )
    result = plan(ws, design="fourup", hits=2, gold_rate=0.0, assignments=2, trusted=0.5)
    offered = ws.ledger.query(
        "SELECT worker_id FROM batch_workers WHERE batch_id = ? ORDER BY worker_id",
        (result.batch_id,),
    )
    # Local workers not excluded, the better half of them.
    assert [r[0] for r in offered] == ["bob", "cy"]
    assert result.workers == 2
    everyone = plan(ws, design="fourup", hits=2, gold_rate=0.0)
    assert everyone.workers is None
    listed = {b["id"]: b["offered_to"] for b in list_batches(ws.ledger)}
    assert listed == {result.batch_id: 2, everyone.batch_id: None}
    assert (
        ws.ledger.scalar(
            "SELECT COUNT(*) FROM batch_workers WHERE batch_id = ?", (everyone.batch_id,)
        )
        == 0
    )
    with pytest.raises(BeautyError, match="fewer than the 5 assignments"):
        plan(ws, design="fourup", hits=2, gold_rate=0.0, assignments=5, trusted=0.5)
