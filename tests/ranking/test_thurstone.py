"""Thurstone scores under the realistic crowd model."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kendalltau

from ranking.bradley_terry import BradleyTerry
from ranking.realistic import CrowdNoise, simulate_campaign_votes
from ranking.thurstone import Thurstone

REALISTIC = CrowdNoise(pair_sd=0.8, worker_sd=0.5, lapse=0.3, tie_max=0.3, tie_width=0.5)


def _campaign(
    n: int, per_photo: int, noise: CrowdNoise, seed: int
) -> tuple[pd.Series, pd.DataFrame]:
    """Merit ~ N(0, 1) and ``per_photo`` answers a photo on random pairs (repeats allowed)."""
    rng = np.random.default_rng(seed)
    ids = [f"p{i:03d}" for i in range(n)]
    merit = pd.Series(rng.normal(0.0, 1.0, n), index=ids)
    every = list(itertools.combinations(ids, 2))
    pick = rng.choice(len(every), size=n * per_photo // 2)
    votes = simulate_campaign_votes(merit, noise, [every[k] for k in pick], 20, seed)
    return merit, votes


def _tau(merit: pd.Series, scores: pd.Series) -> float:
    return float(kendalltau(merit, scores.reindex(merit.index))[0])


def test_a_clean_crowd_gives_back_its_merits_with_honest_standard_errors() -> None:
    noise = CrowdNoise(scale=1.0, pair_sd=0.0, worker_sd=0.0, lapse=0.0, tie_max=0.0)
    merit, votes = _campaign(40, 200, noise, seed=1)
    fit = Thurstone(noise, alpha=0.01).fit(votes, items=list(merit.index))
    assert fit.converged_
    truth = merit - merit.mean()
    assert np.corrcoef(truth, fit.scores_)[0, 1] > 0.98
    z = (fit.scores_ - truth) / fit.se_
    assert 0.7 < z.std() < 1.4, z.describe()


def test_it_ranks_a_realistic_crowd_better_than_bradley_terry() -> None:
    """Lapses, no-preference answers and shared pair effects: read as such, the same votes
    order the photos better, with the crowd known and with it calibrated on the votes."""
    known, calibrated = [], []
    for seed in range(4):
        merit, votes = _campaign(60, 30, REALISTIC, seed)
        bt = _tau(merit, BradleyTerry(alpha=1.0).fit_predict(votes, items=list(merit.index)))
        known.append(_tau(merit, Thurstone(REALISTIC).fit_predict(votes, list(merit.index))) - bt)
        fitted = Thurstone().fit(votes, items=list(merit.index))
        calibrated.append(_tau(merit, fitted.scores_) - bt)
        assert isinstance(fitted.noise_, CrowdNoise)
    assert np.mean(known) > 0.02, known
    assert np.mean(calibrated) > 0.01, calibrated


def test_the_answer_order_and_the_pair_order_do_not_matter() -> None:
    merit, votes = _campaign(20, 20, REALISTIC, seed=3)
    swapped = votes.rename(columns={"left": "right", "right": "left"})
    a = Thurstone(REALISTIC).fit_predict(votes, list(merit.index))
    b = Thurstone(REALISTIC).fit_predict(swapped.iloc[::-1], list(merit.index))
    np.testing.assert_allclose(a, b, atol=1e-4)


def test_no_preference_pulls_a_pair_together() -> None:
    votes = pd.DataFrame(
        {
            "worker": ["w1", "w2", "w3", "w1", "w2"],
            "left": ["a", "a", "a", "b", "b"],
            "right": ["b", "b", "b", "c", "c"],
            "label": ["a", "a", "a", "b", "b"],
        }
    )

    def gap(labels: list[str | None]) -> float:
        scores = Thurstone(REALISTIC, alpha=0.1).fit_predict(votes.assign(label=labels))
        assert scores["b"] > scores["c"]
        return float(scores["a"] - scores["b"])

    won = gap(["a", "a", "a", "b", "b"])
    assert won > 1.0
    assert abs(gap(["a", None, "", "b", "b"])) < won / 2  # one win, two "no preference"
    assert abs(gap([None, None, None, "b", "b"])) < won / 2


def test_without_a_crowd_it_needs_enough_votes_to_calibrate_one() -> None:
    merit, votes = _campaign(10, 6, REALISTIC, seed=0)
    with pytest.raises(ValueError, match="too few to calibrate"):
        Thurstone().fit(votes.iloc[:30])
    with pytest.raises(ValueError, match="outside items"):
        Thurstone(REALISTIC).fit(votes, items=list(merit.index[:5]))


def test_spammers_answers_weigh_about_nothing() -> None:
    """A quarter of the workers click at random: read at each worker's learned
    discrimination, the votes rank better than with every worker alike."""
    gains = []
    for seed in range(3):
        merit, votes = _campaign(60, 30, REALISTIC, seed)
        spam = votes["worker"].isin(sorted(votes["worker"].unique())[:5])
        coin = np.random.default_rng(seed).random(len(votes)) < 0.5
        votes.loc[spam, "label"] = np.where(coin[spam], votes["left"][spam], votes["right"][spam])
        items = list(merit.index)
        weighed = Thurstone(REALISTIC).fit(votes, items)
        alike = Thurstone(REALISTIC, weigh_workers=False).fit(votes, items)
        assert alike.discrimination_ is None and weighed.discrimination_ is not None
        spammers = weighed.discrimination_[votes.loc[spam, "worker"].unique()]
        assert spammers.max() < weighed.discrimination_.drop(spammers.index).median()
        gains.append(_tau(merit, weighed.scores_) - _tau(merit, alike.scores_))
    assert np.mean(gains) > 0.01, gains
