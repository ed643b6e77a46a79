import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ranking.gold import grade, wilson_interval, worker_gold


class TestGrade:
    def test_pair_gold_passes_when_expected_winner_wins(self) -> None:
        assert grade(["a"], must_keep=["a"], must_drop=["b"])

    def test_pair_gold_fails_on_the_loser(self) -> None:
        assert not grade(["b"], must_keep=["a"], must_drop=["b"])

    def test_pair_gold_fails_on_no_preference(self) -> None:
        assert not grade([], must_keep=["a"], must_drop=["b"])

    @pytest.mark.parametrize(
        ("selected", "passed"),
        [
            ({"orig"}, True),
            ({"orig", "x"}, True),
            ({"orig", "x", "y"}, True),
            ({"x"}, False),  # the original was dropped
            ({"orig", "variant"}, False),  # the degraded variant was kept
            ({"orig", "variant", "x", "y"}, False),  # select-all fails
            (set(), False),  # select-none fails
        ],
    )
    def test_made_fourup_gold(self, selected: set[str], passed: bool) -> None:
        assert grade(selected, must_keep=["orig"], must_drop=["variant"]) is passed

    def test_expert_fourup_needs_every_must_keep(self) -> None:
        keep, drop = ["a", "b"], ["d"]
        assert grade(["a", "b", "c"], keep, drop)
        assert not grade(["a", "c"], keep, drop)
        assert not grade(["a", "b", "d"], keep, drop)

    def test_drop_only_gold(self) -> None:
        assert grade([], must_keep=[], must_drop=["d"])
        assert not grade(["d"], must_keep=[], must_drop=["d"])

    def test_gold_that_cannot_fail_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="at least one"):
            grade(["a"], must_keep=[], must_drop=[])

    def test_contradictory_gold_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="both"):
            grade(["a"], must_keep=["a"], must_drop=["a"])


class TestWilson:
    @pytest.mark.parametrize(
        ("passed", "n", "lower", "upper"),
        [
            # Hand-computed: centre (p + z^2/2n) / (1 + z^2/n), half-width
            # z sqrt(p(1-p)/n + z^2/4n^2) / (1 + z^2/n) with z = 1.96.
            (8, 10, 0.4902, 0.9433),
            (50, 100, 0.4038, 0.5962),
            (0, 10, 0.0, 0.2775),
            (10, 10, 0.7225, 1.0),
            (1, 1, 0.2065, 1.0),
        ],
    )
    def test_hand_computed(self, passed: int, n: int, lower: float, upper: float) -> None:
        lo, hi = wilson_interval(passed, n)
        assert lo == pytest.approx(lower, abs=5e-4)
        assert hi == pytest.approx(upper, abs=5e-4)

    def test_no_trials_is_uninformative(self) -> None:
        assert wilson_interval(0, 0) == (0.0, 1.0)

    def test_wider_for_higher_confidence(self) -> None:
        lo95, hi95 = wilson_interval(8, 10)
        lo99, hi99 = wilson_interval(8, 10, z=2.576)
        assert lo99 < lo95 and hi99 > hi95

    @pytest.mark.parametrize(("passed", "n"), [(-1, 3), (4, 3), (0, -1)])
    def test_invalid_counts(self, passed: int, n: int) -> None:
        with pytest.raises(ValueError):
            wilson_interval(passed, n)

    @given(st.integers(1, 10_000).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))))
    def test_contains_the_ratio_and_stays_in_unit_interval(self, case: tuple[int, int]) -> None:
        passed, n = case
        lo, hi = wilson_interval(passed, n)
        assert 0.0 <= lo <= passed / n <= hi <= 1.0
        assert lo < hi

    @given(st.integers(1, 500), st.integers(0, 100))
    def test_narrows_with_more_trials(self, n: int, pct: int) -> None:
        passed = n * pct // 100
        lo1, hi1 = wilson_interval(passed, n)
        lo4, hi4 = wilson_interval(4 * passed, 4 * n)
        assert hi4 - lo4 < hi1 - lo1


class TestWorkerGold:
    def test_counts_accuracy_and_interval(self) -> None:
        graded = pd.DataFrame(
            {
                "worker": ["w2"] * 10 + ["w1"] * 3,
                "passed": [True] * 8 + [False] * 2 + [True, True, False],
            }
        )
        out = worker_gold(graded)
        assert list(out.columns) == [
            "worker",
            "gold_seen",
            "gold_passed",
            "accuracy",
            "lower",
            "upper",
        ]
        assert list(out["worker"]) == ["w1", "w2"]
        w2 = out.set_index("worker").loc["w2"]
        assert (w2["gold_seen"], w2["gold_passed"]) == (10, 8)
        assert w2["accuracy"] == pytest.approx(0.8)
        assert (w2["lower"], w2["upper"]) == pytest.approx(wilson_interval(8, 10))

    def test_missing_grades_keep_the_worker_without_gold(self) -> None:
        graded = pd.DataFrame(
            {
                "worker": ["a", "a", "b"],
                "passed": pd.array([True, pd.NA, pd.NA], dtype="boolean"),
            }
        )
        out = worker_gold(graded).set_index("worker")
        assert out.loc["a", "gold_seen"] == 1 and out.loc["a", "gold_passed"] == 1
        assert out.loc["b", "gold_seen"] == 0
        assert pd.isna(out.loc["b", "accuracy"])
        assert (out.loc["b", "lower"], out.loc["b", "upper"]) == (0.0, 1.0)

    def test_object_column_with_none(self) -> None:
        graded = pd.DataFrame({"worker": ["a", "a", "a"], "passed": [False, None, True]})
        out = worker_gold(graded)
        assert out.loc[0, "gold_seen"] == 2 and out.loc[0, "gold_passed"] == 1

    def test_empty_table(self) -> None:
        out = worker_gold(pd.DataFrame({"worker": [], "passed": []}))
        assert out.empty and "accuracy" in out.columns

    def test_missing_columns(self) -> None:
        with pytest.raises(ValueError, match="passed"):
            worker_gold(pd.DataFrame({"worker": ["a"]}))
