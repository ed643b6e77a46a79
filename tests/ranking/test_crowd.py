import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.special import expit

from ranking.crowd import (
    AlwaysLeft,
    HonestWorker,
    RandomClicker,
    ReplayCrowd,
    SelectAll,
    SelectNone,
    make_crowd,
    simulate_votes,
)
from ranking.votes import VOTE_COLUMNS

TRUTH = {"a": 2.0, "b": 1.0, "c": -0.5, "d": -1.5}


def test_honest_pair_win_rate_matches_the_sigmoid() -> None:
    rng = np.random.default_rng(0)
    worker, draws = HonestWorker(0.8), 20_000
    wins = sum(worker.choose(["a", "c"], "pair", TRUTH, rng) == ["a"] for _ in range(draws))
    p = expit(0.8 * 2.5)
    assert abs(wins / draws - p) < 4 * np.sqrt(p * (1 - p) / draws)


def test_honest_fourup_selects_above_the_mean_perception() -> None:
    rng = np.random.default_rng(1)
    # Nearly noiseless: a and b are above the mean merit 0.25.
    assert HonestWorker(100.0).choose(list("abcd"), "fourup", TRUTH, rng) == ["a", "b"]
    worker, draws = HonestWorker(1.0), 4000
    counts = dict.fromkeys("abcd", 0)
    for _ in range(draws):
        picked = worker.choose(list("dcba"), "fourup", TRUTH, rng)
        assert 0 < len(picked) < 4  # someone is always above and someone below the mean
        for x in picked:
            counts[x] += 1
    assert counts["a"] > counts["b"] > counts["c"] > counts["d"]


@given(st.floats(0, 5), st.integers(0, 2**32 - 1))
def test_honest_fourup_choice_is_a_proper_subset_in_shown_order(s: float, seed: int) -> None:
    shown = list("cadb")
    picked = HonestWorker(s).choose(shown, "fourup", TRUTH, np.random.default_rng(seed))
    assert 0 < len(picked) < 4 and picked == [x for x in shown if x in picked]


def test_spammers() -> None:
    rng = np.random.default_rng(2)
    shown = list("abcd")
    assert AlwaysLeft().choose(["c", "a"], "pair", TRUTH, rng) == ["c"]
    assert AlwaysLeft().choose(shown, "fourup", TRUTH, rng) == ["a"]
    assert SelectAll().choose(shown, "fourup", TRUTH, rng) == shown
    assert SelectAll().choose(["a", "b"], "pair", TRUTH, rng) == []
    assert SelectNone().choose(shown, "fourup", TRUTH, rng) == []
    clicks = [RandomClicker().choose(["a", "d"], "pair", TRUTH, rng) for _ in range(4000)]
    assert abs(sum(c == ["d"] for c in clicks) / 4000 - 0.5) < 0.04
    kept = sum(len(RandomClicker().choose(shown, "fourup", TRUTH, rng)) for _ in range(1000))
    assert abs(kept / 4000 - 0.5) < 0.04


def recorded() -> pd.DataFrame:
    rows: list[tuple[str, str, str, str | None]]
    rows = [("w1", "a", "b", "a"), ("w2", "b", "a", "b"), ("w3", "a", "b", "a")]
    rows += [("w1", "c", "d", None), ("w1", "a", "c", "a"), ("w2", "b", "d", "b")]
    rows += [("w3", "a", "d", "a"), ("w3", "c", "b", "b")]
    return pd.DataFrame(rows, columns=list(VOTE_COLUMNS))


def test_replay_answers_recorded_pairs_with_recorded_labels() -> None:
    crowd, rng = ReplayCrowd(recorded()), np.random.default_rng(3)
    answers = [crowd.choose(["b", "a"], "pair", {}, rng) for _ in range(600)]
    assert {tuple(x) for x in answers} == {("a",), ("b",)}
    assert abs(sum(x == ["a"] for x in answers) / 600 - 2 / 3) < 0.07
    assert all(crowd.choose(["d", "c"], "pair", {}, rng) == [] for _ in range(20))


def test_replay_answers_unrecorded_pairs_from_the_fit() -> None:
    crowd, rng = ReplayCrowd(recorded()), np.random.default_rng(4)
    # a won 4 of its 5 votes; an image never recorded counts as average, so a mostly wins.
    wins = sum(crowd.choose(["new", "a"], "pair", {}, rng) == ["a"] for _ in range(1000))
    assert wins > 600
    assert crowd.choose(["x", "y"], "pair", {}, rng) in (["x"], ["y"])


def test_replay_fourup_keeps_the_majority_winners() -> None:
    crowd = ReplayCrowd(recorded())
    assert crowd.choose(list("dcba"), "fourup", {}, np.random.default_rng(5)) == ["b", "a"]


def test_make_crowd_mixes_spammers_deterministically() -> None:
    crowd = make_crowd(50, 0.2, s_range=(0.5, 1.5), seed=7)
    assert len(crowd) == 50 and list(crowd)[:2] == ["w000", "w001"]
    honest = [w for w in crowd.values() if isinstance(w, HonestWorker)]
    assert len(honest) == 40
    assert all(0.5 <= w.s <= 1.5 for w in honest)
    again = make_crowd(50, 0.2, s_range=(0.5, 1.5), seed=7)
    assert [type(w) for w in again.values()] == [type(w) for w in crowd.values()]
    with pytest.raises(ValueError):
        make_crowd(10, 1.5)


def test_simulate_pairs_and_fourups() -> None:
    truth = pd.Series(TRUTH)
    crowd = make_crowd(6, 0.0, seed=1)
    pairs = simulate_votes(truth, crowd, [("a", "b"), ("c", "d")], "pair", 3, seed=0)
    assert list(pairs.columns) == [*VOTE_COLUMNS, "screen"]
    assert len(pairs) == 6
    assert pairs.groupby("screen")["worker"].nunique().tolist() == [3, 3]
    assert pairs.groupby("worker").size().max() == 1  # an even load
    fourups = simulate_votes(truth, crowd, [list("abcd")] * 5, "fourup", 2, seed=0)
    assert (fourups["label"] == fourups["left"]).any() and (
        fourups["label"] == fourups["right"]
    ).any()
    # each answer keeps k of 4 photos: k * (4 - k) pairs, 3 or 4 for honest workers
    sizes = fourups.groupby(["screen", "worker"]).size()
    assert set(sizes) <= {3, 4} and len(sizes) == 10
    with pytest.raises(ValueError):
        simulate_votes(truth, crowd, [("a", "b")], "pair", 7, seed=0)


def test_simulated_honest_votes_recover_the_order() -> None:
    rng = np.random.default_rng(8)
    items = [f"i{k}" for k in range(20)]
    truth = pd.Series(np.linspace(-2, 2, 20), index=items)
    screens = [tuple(rng.choice(items, 2, replace=False)) for _ in range(2000)]
    votes = simulate_votes(truth, {"w": HonestWorker(1.0)}, screens, "pair", 1, seed=1)
    higher = votes["label"] == np.where(
        truth[votes["left"]].to_numpy() > truth[votes["right"]].to_numpy(),
        votes["left"],
        votes["right"],
    )
    gap = np.abs(truth[votes["left"]].to_numpy() - truth[votes["right"]].to_numpy())
    assert abs(higher.mean() - expit(gap).mean()) < 0.03
