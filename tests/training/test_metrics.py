"""Metrics on cases worked out by hand (and rank correlations against scipy's)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from training import metrics as m

# Ten images, 0 the best. The model puts image 0 fourth: behind 1, 2 and 3.
TRUTH = np.array([10, 9, 8, 7, 6, 5, 4, 3, 2, 1], dtype=float)
PRED = np.array([7, 10, 9, 8, 6, 5, 4, 3, 2, 1], dtype=float)
# With share 0.2 the true top is {0, 1}.


def test_top_count_counts_shares_without_float_surprises() -> None:
    assert m.top_count(20, 0.05) == 1  # 0.05 * 20 is 1.0000000000000002 in floats
    assert m.top_count(100, 0.05) == 5
    assert m.top_count(10, 0.05) == 1
    assert m.top_count(30, 0.10) == 3


def test_rank_correlations_by_hand() -> None:
    # Rank differences -3, 1, 1, 1: rho = 1 - 6 * 12 / (10 * 99).
    assert m.spearman(TRUTH, PRED) == pytest.approx(1 - 72 / 990)
    # Image 0 is discordant with 1, 2 and 3: (42 - 3) / 45.
    assert m.kendall(TRUTH, PRED) == pytest.approx(39 / 45)
    assert m.spearman(TRUTH, TRUTH) == pytest.approx(1.0)
    assert m.kendall(TRUTH, -TRUTH) == pytest.approx(-1.0)


def test_rank_correlations_match_scipy_with_ties() -> None:
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 5, 200), rng.integers(0, 5, 200) + rng.integers(0, 2, 200)
    assert m.spearman(x, y) == pytest.approx(stats.spearmanr(x, y).statistic)
    assert m.kendall(x, y, chunk=37) == pytest.approx(stats.kendalltau(x, y).statistic)
    assert math.isnan(m.spearman(x, np.ones(200)))


def test_gallery_reduction_by_hand() -> None:
    # Keeping both top images means keeping everything predicted >= 7: four images of ten.
    assert m.kept_for_recall(TRUTH, PRED, 0.2, 1.0) == 4
    assert m.gallery_reduction(TRUTH, PRED, 0.2, 1.0) == pytest.approx(0.6)
    # Half of the top (image 1) is the first prediction: skip nine tenths.
    assert m.gallery_reduction(TRUTH, PRED, 0.2, 0.5) == pytest.approx(0.9)
    recall, reduction = m.reduction_curve(TRUTH, PRED, 0.2)
    assert recall.tolist() == [0.0, 0.5, 1.0]
    assert reduction == pytest.approx([1.0, 0.9, 0.6])


def test_gallery_reduction_of_a_constant_prediction_is_zero() -> None:
    # Ties are kept together: no order, no saving.
    assert m.gallery_reduction(TRUTH, np.zeros(10), 0.2, 1.0) == 0.0
    assert m.gallery_reduction(TRUTH, TRUTH, 0.2, 1.0) == pytest.approx(0.8)


def test_precision_recall_and_ndcg_at_the_top_by_hand() -> None:
    # Predicted top two: {1, 2}; true top two: {0, 1}.
    assert m.precision_recall_at(TRUTH, PRED, 0.2) == pytest.approx((0.5, 0.5))
    # One hit in position 1: DCG 1; ideal 1 + 1/log2(3).
    assert m.ndcg_at(TRUTH, PRED, 0.2) == pytest.approx(1 / (1 + 1 / math.log2(3)))
    assert m.ndcg_at(TRUTH, TRUTH, 0.2) == pytest.approx(1.0)
    # A constant prediction "chooses" everything.
    assert m.precision_recall_at(TRUTH, np.zeros(10), 0.2) == pytest.approx((0.2, 1.0))


def test_f2_by_hand() -> None:
    positive = m.top_mask(TRUTH, 0.2)
    # Line 8.5: {1, 2} chosen, P = R = 0.5, F2 = 0.5.
    assert m.f_beta(positive, PRED >= 8.5) == pytest.approx(0.5)
    # Line 6.5: {0, 1, 2, 3}, P = 0.5, R = 1: F2 = 5 * 0.5 / (4 * 0.5 + 1).
    assert m.f_beta(positive, PRED >= 6.5) == pytest.approx(2.5 / 3)
    assert m.f_beta(positive, PRED > 100) == 0.0


def test_bootstrap_interval_brackets_the_value() -> None:
    rng = np.random.default_rng(0)
    truth = rng.normal(size=60)
    pred = truth + rng.normal(scale=0.5, size=60)
    low, high = m.bootstrap_interval(m.spearman, truth, pred, reps=200, seed=1)
    assert low < m.spearman(truth, pred) < high
    assert (low, high) == m.bootstrap_interval(m.spearman, truth, pred, reps=200, seed=1)
    assert all(math.isnan(v) for v in m.bootstrap_interval(m.spearman, truth, pred, reps=0))


def test_summarise_reports_every_metric_with_an_interval() -> None:
    truth = np.arange(40, dtype=float)
    out = m.summarise(truth, truth, positive_line=37.5, reps=20)
    assert set(out) == {
        "spearman", "kendall", "reduction_100", "reduction_95", "f2_top5",
        "recall_top5", "precision_top5", "ndcg_top5",
        "recall_top10", "precision_top10", "ndcg_top10",
    }  # fmt: skip
    assert out["spearman"] == {"value": 1.0, "low": 1.0, "high": 1.0}
    assert out["reduction_100"]["value"] == pytest.approx(1 - 2 / 40)
    assert out["f2_top5"]["value"] == pytest.approx(1.0)  # chosen: 38, 39 = the top 2
