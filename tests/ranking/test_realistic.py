"""The realistic crowd, its calibration, replays without replacement and the fallback rule."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from ranking.campaign import RecordedAnswers, SimulatedCrowd, run_campaign
from ranking.informative import informative_pairs, pair_gain, random_pairs
from ranking.realistic import CrowdNoise, calibrate, make_realistic_crowd, simulate_campaign_votes


def _merit(n: int, seed: int = 0) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(rng.normal(0.0, 1.0, n), index=[f"p{i:03d}" for i in range(n)])


@pytest.fixture(scope="module")
def campaign() -> tuple[pd.Series, CrowdNoise, pd.DataFrame]:
    merit = _merit(45)
    noise = CrowdNoise(scale=1.0, pair_sd=0.6, worker_sd=0.5, lapse=0.15, tie_max=0.25,
                       tie_width=0.5)  # fmt: skip
    pairs = list(itertools.combinations(merit.index, 2)) * 5
    return merit, noise, simulate_campaign_votes(merit, noise, pairs, 30, seed=1)


def test_calibration_recovers_the_crowd_it_was_simulated_from(campaign):
    merit, true, votes = campaign
    fitted = calibrate(votes)
    got = fitted.noise
    # Tolerances: about three standard errors on a campaign of 45 photos, 5 answers a pair.
    assert got.pair_sd == pytest.approx(true.pair_sd, abs=0.15)
    assert got.lapse == pytest.approx(true.lapse, abs=0.07)
    assert got.tie_max == pytest.approx(true.tie_max, abs=0.07)
    assert got.tie_width == pytest.approx(true.tie_width, rel=0.35)
    assert got.worker_sd == pytest.approx(true.worker_sd, abs=0.25)
    fitted_merit = got.scale * fitted.scores.reindex(merit.index)
    assert fitted_merit.std() == pytest.approx(merit.std(), rel=0.15)
    assert fitted.repeated_pairs == fitted.pairs == 45 * 44 // 2


def test_calibration_finds_no_pair_effect_where_there_is_none(campaign):
    merit, true, _ = campaign
    clean = CrowdNoise(**{**true.as_dict(), "pair_sd": 0.0})
    pairs = list(itertools.combinations(merit.index, 2)) * 5
    votes = simulate_campaign_votes(merit, clean, pairs, 30, seed=2)
    assert calibrate(votes).noise.pair_sd < 0.25


def test_a_pairs_answers_lean_together_across_workers():
    """The pair effect is shared: one pair's answers agree more than the merit gap says."""
    noise = CrowdNoise(pair_sd=2.0, worker_sd=0.0, lapse=0.0, tie_max=0.0)
    crowd = make_realistic_crowd(40, noise, seed=3)
    truth = {"a": 0.0, "b": 0.0}
    rng = np.random.default_rng(0)
    wins = sum(crowd[w].choose(["a", "b"], "pair", truth, rng) == ["a"] for w in crowd)
    assert wins <= 8 or wins >= 32  # independent coin flips would land near 20


def test_a_replay_draws_each_recorded_answer_once_then_runs_dry():
    votes = pd.DataFrame(
        {
            "worker": ["w1", "w2", "w3", "w4"],
            "left": ["a", "b", "a", "a"],
            "right": ["b", "a", "b", "c"],
            "label": ["a", "b", "", "c"],
        }
    )
    replay = RecordedAnswers(votes, seed=0)
    assert replay.available() == {("a", "b"): 3, ("a", "c"): 1}
    got = replay([("a", "b")] * 5 + [("b", "c")], seed=0)
    assert sorted(got["worker"]) == ["w1", "w2", "w3"]
    assert replay.unavailable == 3  # two more asks of (a, b), and (b, c) was never recorded
    assert replay.available() == {("a", "c"): 1}
    assert [tuple(sorted(p)) for p in random_pairs(["a", "b", "c"], 3, 0, replay.available())] == [
        ("a", "c")
    ]
    filled = RecordedAnswers(votes, seed=0, fill="fit")
    assert len(filled([("a", "b")] * 5, seed=0)) == 5


def test_asking_a_pair_again_gains_less_and_unresolvable_pairs_gain_nothing():
    noise = CrowdNoise(pair_sd=0.8)
    mu, v = np.array([0.3, 0.3]), np.array([0.5, 0.5])
    fresh, again = pair_gain(mu, v, np.array([0.0, 6.0]), 1, noise)
    assert fresh > 2 * again > 0
    hopeless = CrowdNoise(pair_sd=5.0, lapse=0.9, tie_max=0.9, tie_width=3.0)
    assert pair_gain(mu, v, np.zeros(2), 1, hopeless).max() < 0.05 * fresh


def test_active_choice_on_a_crowd_that_resolves_pairs():
    merit = _merit(60)
    se = pd.Series(0.3, index=merit.index)
    batch = informative_pairs(list(merit.index), 100, merit, se, CrowdNoise(), seed=0)
    assert batch.active and len(batch.pairs) == 100
    assert batch.gain_active > 1.25 * batch.gain_random


def test_the_fallback_is_random_pairs_where_the_crowd_cannot_resolve_pairs():
    """A crowd whose answers are nearly all lapses or no preference: the rule falls back, and
    the active campaign is then exactly the random one, never worse."""
    merit = _merit(60, seed=4)
    noise = CrowdNoise(pair_sd=3.0, worker_sd=0.5, lapse=0.97, tie_max=0.9, tie_width=3.0)
    results = {}
    for design in ("random", "active"):
        crowd = SimulatedCrowd(merit, noise, 20, seed=5)
        results[design] = run_campaign(
            list(merit.index), merit, crowd, design, [150] * 4, noise, seed=6
        )
    assert not results["active"]["active"].any()
    assert (results["active"]["tau"] == results["random"]["tau"]).all()


def test_active_is_not_below_random_on_a_crowd_that_cannot_resolve_near_ties():
    """Near ties are coin flips (pair effects, lapses, ties): active must not fall below random
    by more than the seeds' noise at any budget."""
    noise = CrowdNoise(pair_sd=0.8, worker_sd=0.5, lapse=0.3, tie_max=0.3, tie_width=0.5)
    diffs = []
    for seed in range(6):
        merit = _merit(60, seed=100 + seed)
        taus = {
            design: run_campaign(
                list(merit.index), merit, SimulatedCrowd(merit, noise, 20, seed), design,
                [300] * 5, noise, seed,
            )["tau"].to_numpy()
            for design in ("random", "active")
        }  # fmt: skip
        diffs.append(taus["active"] - taus["random"])
    d = np.array(diffs)
    se = d.std(axis=0, ddof=1) / np.sqrt(len(d))
    assert (d.mean(axis=0) >= -2 * se - 1e-12).all()


def test_a_simulated_crowd_answers_only_the_workers_a_batch_is_offered_to():
    merit = _merit(20, seed=2)
    crowd = SimulatedCrowd(merit, CrowdNoise(), 10, seed=0)
    pairs = [(a, b) for a, b in zip(merit.index[:-1], merit.index[1:], strict=True)] * 5
    assert crowd(pairs, seed=1)["worker"].nunique() > 3
    crowd.offer(["w003", "w007"])
    assert set(crowd(pairs, seed=1)["worker"]) == {"w003", "w007"}
    crowd.offer(None)
    assert crowd(pairs, seed=1)["worker"].nunique() > 3
    with pytest.raises(ValueError, match="w099"):
        crowd.offer(["w001", "w099"])
