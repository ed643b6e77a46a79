from collections import Counter

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse.csgraph import connected_components

from ranking.design import (
    PlannedScreen,
    balanced_screens,
    gold_per_hit,
    hits_needed,
    pack_hits,
    plan_screens,
    screens_needed,
)


def ids(n: int) -> list[str]:
    return [f"img{i:03d}" for i in range(n)]


def n_components(images: list[str], screens: list[tuple[str, ...]]) -> int:
    index = {image: i for i, image in enumerate(images)}
    rows = [index[s[0]] for s in screens for _ in s[1:]]
    cols = [index[x] for s in screens for x in s[1:]]
    graph = sp.coo_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(images),) * 2)
    return int(connected_components(graph, directed=False)[0])


@st.composite
def designs(draw: st.DrawFn) -> tuple[list[str], int, int, int]:
    size = draw(st.sampled_from([2, 3, 4]))
    n = draw(st.integers(size, 40))
    n_screens = draw(st.integers(0, 3 * n))
    seed = draw(st.integers(0, 2**32 - 1))
    return ids(n), size, n_screens, seed


class TestScreensNeeded:
    @pytest.mark.parametrize(
        ("n", "size", "appearances", "expected"),
        [(10, 4, 4, 10), (10, 2, 4, 20), (7, 4, 3, 6), (1000, 2, 20, 10_000), (0, 4, 4, 0)],
    )
    def test_hand_computed(self, n: int, size: int, appearances: int, expected: int) -> None:
        assert screens_needed(n, size, appearances) == expected

    def test_invalid(self) -> None:
        with pytest.raises(ValueError):
            screens_needed(10, 0, 4)


class TestBalancedScreens:
    @settings(deadline=None)
    @given(designs())
    def test_design_properties(self, case: tuple[list[str], int, int, int]) -> None:
        images, size, n_screens, seed = case
        screens = balanced_screens(images, size, n_screens, seed)
        assert len(screens) == n_screens
        assert all(len(s) == size and len(set(s)) == size for s in screens)
        counts = Counter(x for s in screens for x in s)
        assert set(counts) <= set(images)
        per_image = [counts[x] for x in images]
        assert max(per_image) - min(per_image) <= 1
        if n_screens * (size - 1) >= len(images) - 1:
            assert n_components(images, screens) == 1
        assert balanced_screens(images, size, n_screens, seed) == screens

    @pytest.mark.parametrize("seed", range(5))
    def test_connected_with_the_fewest_screens(self, seed: int) -> None:
        # A spanning tree exactly: random dealing alone is almost never connected here.
        images = ids(60)
        for size in (2, 4):
            n_screens = -(-(len(images) - 1) // (size - 1))
            screens = balanced_screens(images, size, n_screens, seed)
            assert n_components(images, screens) == 1

    def test_seed_changes_the_design(self) -> None:
        assert balanced_screens(ids(20), 4, 10, 1) != balanced_screens(ids(20), 4, 10, 2)

    def test_positions_are_randomised(self) -> None:
        images = ids(8)
        screens = balanced_screens(images, 4, 2000, seed=3)
        by_position = Counter((x, k) for s in screens for k, x in enumerate(s))
        # Each image is shown 1000 times, so 250 per position; binomial sd is about 14.
        assert all(abs(by_position[x, k] - 250) < 70 for x in images for k in range(4))

    def test_pairs_are_not_in_input_order(self) -> None:
        images = ids(50)
        screens = balanced_screens(images, 2, 1000, seed=4)
        left_first = np.mean([images.index(a) < images.index(b) for a, b in screens])
        assert 0.45 < left_first < 0.55

    @pytest.mark.parametrize(
        ("images", "size", "n_screens", "match"),
        [
            (["a", "a", "b"], 2, 1, "distinct"),
            (["a", "b", "c"], 4, 1, "between"),
            (["a", "b", "c"], 1, 1, "between"),
            (["a", "b", "c"], 2, -1, "n_screens"),
        ],
    )
    def test_invalid(self, images: list[str], size: int, n_screens: int, match: str) -> None:
        with pytest.raises(ValueError, match=match):
            balanced_screens(images, size, n_screens, 0)


class TestPlanScreens:
    def test_design_sets_the_screen_size(self) -> None:
        images = ids(12)
        assert {len(s) for s in plan_screens(images, "pairwise", 6, seed=0)} == {2}
        assert {len(s) for s in plan_screens(images, "fourup", 6, seed=0)} == {4}

    def test_random_is_the_balanced_design(self) -> None:
        images = ids(12)
        assert plan_screens(images, "fourup", 6, seed=5) == balanced_screens(images, 4, 6, 5)

    def test_active_uses_the_scores(self) -> None:
        images = ids(40)
        scores = pd.Series(np.arange(40.0), index=images)
        se = pd.Series(0.01, index=images)
        screens = plan_screens(images, "fourup", 10, 0, scores=scores, se=se, active=True)
        assert len(screens) == 10
        assert Counter(x for s in screens for x in s) == Counter(images)
        # Certain, well-separated scores: every screen holds four adjacent images.
        spans = [max(scores[list(s)]) - min(scores[list(s)]) for s in screens]
        assert max(spans) == 3

    def test_active_needs_scores(self) -> None:
        with pytest.raises(ValueError, match="scores"):
            plan_screens(ids(8), "pairwise", 4, 0, active=True)

    def test_unknown_design(self) -> None:
        with pytest.raises(ValueError, match="design"):
            plan_screens(ids(8), "triples", 4, 0)  # type: ignore[arg-type]


@st.composite
def packings(draw: st.DrawFn) -> tuple[list[tuple[str, ...]], list[tuple[str, ...]], int, float]:
    size = draw(st.sampled_from([2, 4]))
    n_screens = draw(st.integers(0, 60))
    screens = [tuple(f"s{i}_{k}" for k in range(size)) for i in range(n_screens)]
    n_gold = draw(st.integers(1, 8))
    gold = [tuple(f"g{i}_{k}" for k in range(size)) for i in range(n_gold)]
    per_hit = draw(st.integers(2, 15))
    rate = draw(st.sampled_from([0.05, 0.1, 0.2, 0.25, 0.5]))
    return screens, gold, per_hit, rate


class TestPackHits:
    @settings(deadline=None)
    @given(packings(), st.integers(0, 1000))
    def test_packing_properties(
        self,
        case: tuple[list[tuple[str, ...]], list[tuple[str, ...]], int, float],
        seed: int,
    ) -> None:
        screens, gold, per_hit, rate = case
        hits = pack_hits(screens, gold, per_hit, rate, seed)
        assert len(hits) == hits_needed(len(screens), per_hit, rate, len(gold))
        normal = [p.images for hit in hits for p in hit if p.gold is None]
        assert Counter(normal) == Counter(screens)
        assert all(len(hit) == per_hit for hit in hits[:-1])
        if hits:
            assert 2 <= len(hits[-1]) <= per_hit
        n_gold = gold_per_hit(per_hit, rate, len(gold))
        uses: Counter[int] = Counter()
        for hit in hits:
            picks = [p.gold for p in hit if p.gold is not None]
            assert len(picks) >= 1
            assert len(picks) == len(set(picks)), "a gold screen twice in one HIT"
            if len(hit) == per_hit:
                assert len(picks) == n_gold
            for p in hit:
                if p.gold is not None:
                    assert sorted(p.images) == sorted(gold[p.gold])
            uses.update(g for g in picks if g is not None)
        if uses:
            # Cycling through the gold list: every gold screen used within one of the others.
            per_gold = [uses[g] for g in range(len(gold))]
            assert max(per_gold) - min(per_gold) <= 1
        assert pack_hits(screens, gold, per_hit, rate, seed) == hits

    def test_default_rate_is_one_in_five(self) -> None:
        screens = balanced_screens(ids(40), 2, 80, seed=0)
        gold = [("ga", "gb"), ("gc", "gd"), ("ge", "gf")]
        hits = pack_hits(screens, gold, screens_per_hit=10, seed=1)
        assert len(hits) == 10
        assert all(sum(p.gold is not None for p in hit) == 2 for hit in hits)

    def test_gold_positions_and_order_are_random(self) -> None:
        screens = [(f"a{i}", f"b{i}") for i in range(800)]
        gold = [("winner", "loser")]
        hits = pack_hits(screens, gold, screens_per_hit=5, gold_rate=0.2, seed=7)
        positions = Counter(k for hit in hits for k, p in enumerate(hit) if p.gold is not None)
        assert set(positions) == set(range(5))
        assert all(abs(c - 40) < 25 for c in positions.values())
        first = [p.images[0] for hit in hits for p in hit if p.gold is not None]
        assert 0.35 < first.count("winner") / len(first) < 0.65

    def test_normal_screens_are_spread_over_hits(self) -> None:
        screens = [(f"a{i}", f"b{i}") for i in range(40)]
        hits = pack_hits(screens, [("g", "h")], screens_per_hit=5, gold_rate=0.2, seed=0)
        first_hit = [p.images for p in hits[0] if p.gold is None]
        assert first_hit != screens[:4]

    def test_short_last_hit(self) -> None:
        screens = [(f"a{i}", f"b{i}") for i in range(10)]
        hits = pack_hits(screens, [("g", "h"), ("i", "j")], 5, 0.2, 0)
        assert [len(h) for h in hits] == [5, 5, 3]
        assert [sum(p.gold is not None for p in h) for h in hits] == [1, 1, 1]

    def test_no_gold(self) -> None:
        screens = [(f"a{i}", f"b{i}") for i in range(7)]
        hits = pack_hits(screens, [], 3, gold_rate=0.0, seed=0)
        assert [len(h) for h in hits] == [3, 3, 1]
        assert all(p.gold is None for h in hits for p in h)

    def test_planned_screen_defaults_to_normal(self) -> None:
        assert PlannedScreen(("a", "b")).gold is None

    @pytest.mark.parametrize(
        ("gold", "per_hit", "rate", "match"),
        [
            ([], 5, 0.2, "gold"),
            ([("g", "h")], 1, 0.2, "two"),
            ([("g", "h")], 5, 1.0, "gold_rate"),
            ([("g", "h")], 5, -0.1, "gold_rate"),
        ],
    )
    def test_invalid(
        self, gold: list[tuple[str, ...]], per_hit: int, rate: float, match: str
    ) -> None:
        with pytest.raises(ValueError, match=match):
            pack_hits([("a", "b")], gold, per_hit, rate, 0)
