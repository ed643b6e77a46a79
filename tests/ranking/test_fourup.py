import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from ranking.bradley_terry import BradleyTerry
from ranking.crowd import HonestWorker, RandomClicker, WorkerModel, make_crowd, simulate_votes
from ranking.design import balanced_screens, screens_needed
from ranking.fourup import FourUp, answers_from_votes
from ranking.planning import simulate_design


def simulate(
    n: int, appearances: int, crowd: dict[str, WorkerModel], seed: int
) -> tuple[pd.Series, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    truth = pd.Series(rng.normal(0.0, 1.5, n), index=[f"img{i:03d}" for i in range(n)])
    screens = balanced_screens(list(truth.index), 4, screens_needed(n, 4, appearances), seed)
    return truth, simulate_votes(truth, crowd, screens, "fourup", 3, seed)


def tau(truth: pd.Series, scores: pd.Series) -> float:
    return float(kendalltau(truth.to_numpy(), scores.reindex(truth.index).to_numpy())[0])


def test_answers_from_votes_recovers_the_keeps() -> None:
    votes = pd.DataFrame(
        {
            "worker": ["w1", "w1", "w1", "w2", "w2", "w2"],
            "left": ["a", "a", "c", "b", "b", "b"],
            "right": ["c", "d", "b", "a", "c", "d"],
            "label": ["a", "a", "b", "b", "b", "b"],
            "screen": [0, 0, 0, 0, 0, 0],
        }
    )
    answers = answers_from_votes(votes)
    kept = set(map(tuple, answers.loc[answers["kept"], ["worker", "image"]].to_numpy()))
    assert kept == {("w1", "a"), ("w1", "b"), ("w2", "b")}
    assert len(answers) == 8


def test_ranks_better_than_pairs_and_learns_who_discriminates() -> None:
    rng = np.random.default_rng(0)
    crowd: dict[str, WorkerModel] = {
        f"h{i:02d}": HonestWorker(rng.uniform(0.2, 2.0)) for i in range(20)
    }
    crowd.update({f"r{i}": RandomClicker() for i in range(4)})
    gains = []
    for seed in range(3):
        truth, votes = simulate(300, 8, crowd, seed)
        fit = FourUp().fit(answers_from_votes(votes), list(truth.index))
        pairs = BradleyTerry(alpha=1.0).fit(votes, list(truth.index))
        gains.append(tau(truth, fit.scores_) - tau(truth, pairs.scores_))
        a = fit.discrimination_
        honest = [w for w in a.index if w.startswith("h")]
        s = pd.Series({w: crowd[w].s for w in honest})  # type: ignore[attr-defined]
        assert a[[w for w in a.index if w.startswith("r")]].max() < 0.5
        assert float(np.corrcoef(s, a[honest])[0, 1]) > 0.7
    assert np.mean(gains) > 0.02


def test_scores_and_errors() -> None:
    crowd: dict[str, WorkerModel] = {f"w{i}": HonestWorker(1.0) for i in range(5)}
    truth, votes = simulate(80, 12, crowd, 1)
    answers = answers_from_votes(votes)
    with pytest.warns(UserWarning, match="2 groups"):  # "unseen" is a group of its own
        fit = FourUp(n_rounds=1).fit(answers, [*truth.index, "unseen"])
    assert abs(fit.scores_.drop("unseen").sum()) < 1e-8
    assert np.isnan(fit.se_["unseen"]) and fit.scores_["unseen"] == 0.0
    se = fit.se_.drop("unseen")
    assert se.between(0.05, 2.0).all()
    # Errors are honest: about as large as the actual errors of the rescaled scores.
    slope = np.polyfit(truth, fit.scores_.drop("unseen"), 1)[0]
    error = fit.scores_.drop("unseen") / slope - truth
    assert 0.5 < float(np.sqrt((error**2).mean()) / np.sqrt(((se / slope) ** 2).mean())) < 1.5
    assert (fit.discrimination_ == 1.0).all()


def test_answers_keeping_all_or_none_are_left_out() -> None:
    crowd: dict[str, WorkerModel] = {f"w{i}": HonestWorker(1.0) for i in range(5)}
    truth, votes = simulate(40, 8, crowd, 2)
    answers = answers_from_votes(votes)
    blank = pd.DataFrame(
        {
            "screen": [-1] * 8,
            "worker": ["w0"] * 4 + ["w1"] * 4,
            "image": list(truth.index[:4]) * 2,
            "kept": [True] * 4 + [False] * 4,
        }
    )
    items = list(truth.index)
    plain = FourUp().fit(answers, items)
    padded = FourUp().fit(pd.concat([answers, blank], ignore_index=True), items)
    pd.testing.assert_series_equal(plain.scores_, padded.scores_, atol=1e-6)


def test_separate_groups_warn() -> None:
    answers = pd.DataFrame(
        {
            "screen": [0, 0, 1, 1],
            "worker": ["w"] * 4,
            "image": ["a", "b", "c", "d"],
            "kept": [True, False, False, True],
        }
    )
    with pytest.warns(UserWarning, match="2 groups"):
        fit = FourUp().fit(answers)
    assert fit.n_components_ == 2
    assert fit.scores_["a"] > fit.scores_["b"] and fit.scores_["d"] > fit.scores_["c"]
    assert fit.scores_["a"] + fit.scores_["b"] == pytest.approx(0.0)


def test_invalid_input() -> None:
    answers = pd.DataFrame({"screen": [0], "worker": ["w"], "image": ["a"], "kept": [True]})
    with pytest.raises(ValueError, match="missing columns: kept"):
        FourUp().fit(answers.drop(columns="kept"))
    with pytest.raises(ValueError, match="outside items"):
        FourUp().fit(answers, ["b"])
    with pytest.raises(ValueError, match="alpha"):
        FourUp(alpha=0.0)


def test_simulation_fits_fourup_as_screens_when_asked() -> None:
    rng = np.random.default_rng(3)
    truth = pd.Series(rng.normal(0.0, 1.5, 200), index=[f"img{i:03d}" for i in range(200)])
    crowd = make_crowd(20, 0.0, seed=3)
    gains = [
        simulate_design(
            truth, "fourup", 8, 3, 0.2, active, 0.1, 20, crowd, seed, rounds=4, method="fourup"
        )["tau"]
        - simulate_design(truth, "fourup", 8, 3, 0.2, active, 0.1, 20, crowd, seed, rounds=4)["tau"]
        for seed in range(2)
        for active in (False, True)
    ]
    assert np.mean(gains) > 0.01
