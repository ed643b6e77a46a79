import warnings

import choix
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ranking.bradley_terry import BradleyTerry, fit_bt
from ranking.votes import VOTE_COLUMNS


def simulate(n: int, m: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """m comparisons between random distinct items with truth ~ N(0, 1.5^2)."""
    rng = np.random.default_rng(seed)
    truth = rng.normal(0, 1.5, n)
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    a_wins = rng.random(m) < 1 / (1 + np.exp(truth[b] - truth[a]))
    return np.where(a_wins, a, b), np.where(a_wins, b, a)


def neg_log_posterior(theta: np.ndarray, win: np.ndarray, lose: np.ndarray, alpha: float) -> float:
    return float(np.sum(np.log1p(np.exp(-(theta[win] - theta[lose])))) + alpha / 2 * theta @ theta)


@pytest.mark.parametrize(("n", "m"), [(30, 200), (1000, 5000)])
def test_map_equals_choix_with_half_alpha(n: int, m: int) -> None:
    win, lose = simulate(n, m, seed=n)
    alpha = 0.05
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a few of the 1000 images may be isolated
        ours = fit_bt(n, win, lose, alpha=alpha)
    # choix penalises alpha * ||theta||^2, we alpha/2 * ||theta||^2.
    ref = choix.opt_pairwise(
        n, list(zip(win.tolist(), lose.tolist(), strict=True)), alpha=alpha / 2, tol=1e-9
    )
    assert ours.converged
    np.testing.assert_allclose(ours.scores, ref - ref.mean(), atol=1e-4)


def test_a_tie_is_half_a_win_each_way() -> None:
    rows = [("w", "a", "b", "a"), ("w", "a", "b", None), ("w", "b", "c", ""), ("w", "c", "a", "c")]
    ours = BradleyTerry(alpha=0.1).fit_predict(pd.DataFrame(rows, columns=list(VOTE_COLUMNS)))
    # choix has no weights: doubling every vote (and so the penalty) makes each tie one win
    # each way.
    data = [(0, 1), (0, 1), (0, 1), (1, 0), (1, 2), (2, 1), (2, 0), (2, 0)]
    ref = choix.opt_pairwise(3, data, alpha=0.05 * 2, tol=1e-10)
    np.testing.assert_allclose(ours.to_numpy(), ref - ref.mean(), atol=1e-6)


def test_ties_pull_scores_together() -> None:
    rows = [("w", "a", "b", "a")] * 3
    apart = BradleyTerry().fit_predict(pd.DataFrame(rows, columns=list(VOTE_COLUMNS)))
    tied = BradleyTerry().fit_predict(
        pd.DataFrame(rows + [("w", "a", "b", "")] * 3, columns=list(VOTE_COLUMNS))
    )
    assert 0 < tied["a"] - tied["b"] < apart["a"] - apart["b"]


def test_self_comparisons_are_counted_and_ignored() -> None:
    rows = [("w", "a", "b", "a"), ("w", "b", "c", "b"), ("w", "c", "a", "a")]
    clean = BradleyTerry().fit(pd.DataFrame(rows, columns=list(VOTE_COLUMNS)))
    noisy = BradleyTerry().fit(
        pd.DataFrame([*rows, ("w", "a", "a", "a"), ("w", "c", "c", "")], columns=list(VOTE_COLUMNS))
    )
    assert noisy.self_comparisons_ == 2
    pd.testing.assert_series_equal(noisy.scores_, clean.scores_)


def test_se_equals_inverse_numeric_hessian_of_the_centred_scores() -> None:
    n, alpha = 6, 0.1
    win, lose = simulate(n, 40, seed=3)
    fit = fit_bt(n, win, lose, alpha=alpha, se="exact")
    theta, h = fit.scores, 1e-4
    hessian = np.empty((n, n))
    for i in range(n):
        for j in range(n):
            e_i, e_j = np.eye(n)[i] * h, np.eye(n)[j] * h
            f = [neg_log_posterior(theta + si * e_i + sj * e_j, win, lose, alpha) for si, sj in
                 [(1, 1), (1, -1), (-1, 1), (-1, -1)]]  # fmt: skip
            hessian[i, j] = (f[0] - f[1] - f[2] + f[3]) / (4 * h * h)
    centre = np.eye(n) - 1 / n
    expected = np.sqrt(np.diag(centre @ np.linalg.inv(hessian) @ centre))
    np.testing.assert_allclose(fit.se, expected, rtol=1e-4)


def test_diagonal_se_is_close_to_exact_on_a_random_design() -> None:
    win, lose = simulate(400, 4000, seed=5)
    exact = fit_bt(400, win, lose, se="exact").se
    approx = fit_bt(400, win, lose, se="diagonal").se
    np.testing.assert_allclose(approx, exact, rtol=0.05)


def test_se_shrinks_with_more_data() -> None:
    n = 200
    few = fit_bt(n, *simulate(n, 10 * n, seed=1)).se
    many = fit_bt(n, *simulate(n, 40 * n, seed=1)).se
    # Four times the comparisons per image: about half the standard error.
    assert 1.7 < np.median(few) / np.median(many) < 2.4


def test_disconnected_components_are_centred_and_reported() -> None:
    rows = [("w", "a", "b", "a"), ("w", "b", "c", "b"), ("w", "x", "y", "y"), ("w", "y", "z", "")]
    table = pd.DataFrame(rows * 3, columns=list(VOTE_COLUMNS))
    with pytest.warns(UserWarning, match="3 connected components"):
        model = BradleyTerry().fit(table, items=["a", "b", "c", "x", "y", "z", "lonely"])
    s = model.scores_
    assert model.n_components_ == 3
    assert s[["a", "b", "c"]].sum() == pytest.approx(0, abs=1e-12)
    assert s[["x", "y", "z"]].sum() == pytest.approx(0, abs=1e-12)
    assert s["a"] > s["b"] > s["c"] and s["y"] > s["z"] > s["x"]
    assert s["lonely"] == 0 and np.isnan(model.se_["lonely"])
    assert model.se_.drop("lonely").notna().all()


def test_connected_fit_does_not_warn() -> None:
    win, lose = simulate(50, 500, seed=2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fit = fit_bt(50, win, lose)
    assert fit.converged and fit.n_components == 1 and fit.n_iter < 20


def test_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="alpha must be > 0"):
        fit_bt(3, np.array([0]), np.array([1]), alpha=0)
    with pytest.raises(ValueError, match=r"outside 0\.\.2"):
        fit_bt(3, np.array([0]), np.array([3]))
    with pytest.raises(ValueError, match="compared with itself"):
        fit_bt(3, np.array([0, 1]), np.array([0, 2]))


def test_no_votes_no_scores() -> None:
    model = BradleyTerry().fit(pd.DataFrame(columns=list(VOTE_COLUMNS)))
    assert model.scores_.empty and model.converged_


@settings(max_examples=40, deadline=None)
@given(st.data())
def test_round_robin_ranks_by_wins(data: st.DataObject) -> None:
    # In a complete round robin the Bradley-Terry scores are ordered like the win counts.
    n = data.draw(st.integers(3, 6))
    pairs = [(i, j) for i in range(n) for j in range(i + 1, n)]
    outcomes = data.draw(st.lists(st.booleans(), min_size=len(pairs), max_size=len(pairs)))
    win = np.array([i if o else j for (i, j), o in zip(pairs, outcomes, strict=True)])
    lose = np.array([j if o else i for (i, j), o in zip(pairs, outcomes, strict=True)])
    scores = fit_bt(n, win, lose).scores
    wins = np.bincount(win, minlength=n)
    for i in range(n):
        for j in range(n):
            if wins[i] > wins[j]:
                assert scores[i] > scores[j]
            if wins[i] == wins[j]:
                assert scores[i] == pytest.approx(scores[j], abs=1e-7)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 10_000))
def test_relabelling_and_reversal(seed: int) -> None:
    n = 12
    win, lose = simulate(n, 60, seed)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        base = fit_bt(n, win, lose).scores
        perm = np.random.default_rng(seed).permutation(n)
        relabelled = fit_bt(n, perm[win], perm[lose]).scores
        reversed_ = fit_bt(n, lose, win).scores
    np.testing.assert_allclose(relabelled[perm], base, atol=1e-7)
    np.testing.assert_allclose(reversed_, -base, atol=1e-7)
