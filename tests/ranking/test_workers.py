import numpy as np
import pandas as pd
import pytest

from ranking.gold import wilson_interval
from ranking.workers import STAT_COLUMNS, worker_stats

SCORES = pd.Series({"a": 3.0, "b": 2.0, "c": 1.0, "d": 0.0, "e": -1.0})


def judgment(
    worker: str,
    assignment: str,
    shown: tuple[str, ...],
    selected: tuple[str, ...],
    seconds: float = 5.0,
    gold_passed: bool | None = None,
) -> dict[str, object]:
    return {
        "worker": worker,
        "assignment": assignment,
        "screen": f"{assignment}-{shown}",
        "kind": "pair" if len(shown) == 2 else "fourup",
        "shown": shown,
        "selected": selected,
        "seconds": seconds,
        "gold_passed": gold_passed,
    }


def stats_of(rows: list[dict[str, object]]) -> pd.DataFrame:
    return worker_stats(pd.DataFrame(rows), SCORES).set_index("worker")


def test_columns_and_one_row_per_worker() -> None:
    out = worker_stats(
        pd.DataFrame(
            [judgment("w2", "x", ("a", "b"), ("a",)), judgment("w1", "y", ("a", "b"), ("b",))]
        ),
        SCORES,
    )
    assert tuple(out.columns) == STAT_COLUMNS
    assert list(out["worker"]) == ["w1", "w2"]


def test_hits_screens_and_median_seconds() -> None:
    out = stats_of(
        [
            judgment("w", "h1", ("a", "b"), ("a",), seconds=2),
            judgment("w", "h1", ("c", "d"), ("c",), seconds=4),
            judgment("w", "h2", ("a", "c"), ("a",), seconds=30),
        ]
    )
    assert out.loc["w", "hits"] == 2
    assert out.loc["w", "screens"] == 3
    assert out.loc["w", "median_seconds"] == 4


def test_gold_record_uses_wilson() -> None:
    rows = [judgment("w", "h", ("a", "b"), ("a",), gold_passed=True) for _ in range(8)]
    rows += [judgment("w", "h", ("a", "b"), ("b",), gold_passed=False) for _ in range(2)]
    rows += [judgment("w", "h", ("c", "d"), ("c",))]  # not gold
    rows += [judgment("v", "g", ("c", "d"), ("c",))]
    out = stats_of(rows)
    assert (out.loc["w", "gold_seen"], out.loc["w", "gold_passed"]) == (10, 8)
    assert out.loc["w", "gold_accuracy"] == pytest.approx(0.8)
    lower, upper = wilson_interval(8, 10)
    assert out.loc["w", "gold_lower"] == pytest.approx(lower)
    assert out.loc["w", "gold_upper"] == pytest.approx(upper)
    assert out.loc["v", "gold_seen"] == 0 and pd.isna(out.loc["v", "gold_accuracy"])


def test_agreement_with_consensus_counts_broken_fourup_votes() -> None:
    out = stats_of(
        [
            judgment("w", "h", ("a", "b"), ("a",)),  # agrees
            judgment("w", "h", ("c", "b"), ("c",)),  # disagrees
            # a and b beat c and d: four votes, all agreeing
            judgment("w", "h", ("d", "a", "c", "b"), ("a", "b")),
            # e beats a, b and d: three votes, all disagreeing
            judgment("w", "h", ("a", "b", "e", "d"), ("e",)),
            judgment("w", "h", ("a", "b", "c", "d"), ()),  # no information
            judgment("w", "h", ("a", "b"), ()),  # a tie: no vote
        ]
    )
    assert out.loc["w", "consensus_votes"] == 9
    assert out.loc["w", "agreement"] == pytest.approx(5 / 9)


def test_agreement_skips_unscored_images() -> None:
    out = stats_of(
        [
            judgment("w", "h", ("a", "variant"), ("a",)),
            judgment("w", "h", ("a", "b", "variant", "x"), ("a", "b")),
        ]
    )
    # Every vote here has an unscored side: the consensus cannot judge it.
    assert out.loc["w", "consensus_votes"] == 0
    assert pd.isna(out.loc["w", "agreement"])


def test_pair_position_bias() -> None:
    rows = [judgment("lefty", "h", ("a", "b"), ("a",)), judgment("lefty", "h", ("b", "a"), ("b",))]
    rows += [judgment("lefty", "h", ("c", "d"), ("c",)), judgment("lefty", "h", ("c", "d"), ())]
    rows += [judgment("fair", "h", ("a", "b"), ("a",)), judgment("fair", "h", ("b", "a"), ("a",))]
    out = stats_of(rows)
    assert out.loc["lefty", "pair_screens"] == 4
    assert out.loc["lefty", "left_rate"] == 1.0
    assert out.loc["lefty", "no_preference_rate"] == 0.25
    assert out.loc["fair", "left_rate"] == 0.5
    assert out.loc["fair", "no_preference_rate"] == 0.0
    assert pd.isna(out.loc["fair", "fourup_selection_rate"])


def test_fourup_selection_rates_by_position() -> None:
    rows = [
        judgment("w", "h", ("a", "b", "c", "d"), ("a",)),
        judgment("w", "h", ("d", "c", "b", "a"), ("d", "b")),
        judgment("w", "h", ("a", "c", "e", "b"), ("a", "c", "e", "b")),
        judgment("w", "h", ("e", "d", "c", "b"), ()),
    ]
    out = stats_of(rows)
    assert out.loc["w", "fourup_screens"] == 4
    assert out.loc["w", "fourup_selection_rate"] == pytest.approx((1 + 2 + 4 + 0) / 16)
    rates = [out.loc["w", f"fourup_rate_{k}"] for k in range(1, 5)]
    assert rates == pytest.approx([0.75, 0.25, 0.5, 0.25])
    assert pd.isna(out.loc["w", "left_rate"])


def test_select_all_worker_stands_out() -> None:
    rng = np.random.default_rng(0)
    images = list(SCORES.index)
    rows = []
    for i in range(40):
        shown = tuple(rng.permutation(images)[:4])
        rows.append(judgment("all", f"h{i}", shown, shown))
        top = sorted(shown, key=lambda x: -SCORES[x])[:2]
        rows.append(judgment("honest", f"h{i}", shown, tuple(top)))
    out = stats_of(rows)
    assert out.loc["all", "fourup_selection_rate"] == 1.0
    assert out.loc["all", "consensus_votes"] == 0
    assert out.loc["honest", "fourup_selection_rate"] == 0.5
    assert out.loc["honest", "agreement"] == 1.0


def test_empty_judgments() -> None:
    empty = pd.DataFrame({c: [] for c in ("worker", "assignment", "kind", "shown")})
    empty["selected"] = []
    empty["seconds"] = []
    empty["gold_passed"] = []
    out = worker_stats(empty, SCORES)
    assert out.empty and tuple(out.columns) == STAT_COLUMNS


def test_missing_column() -> None:
    with pytest.raises(ValueError, match="seconds"):
        worker_stats(
            pd.DataFrame([judgment("w", "h", ("a", "b"), ("a",))]).drop(columns="seconds"),
            SCORES,
        )


def test_unknown_kind() -> None:
    rows = pd.DataFrame([judgment("w", "h", ("a", "b"), ("a",))])
    rows["kind"] = "triple"
    with pytest.raises(ValueError, match="triple"):
        worker_stats(rows, SCORES)
