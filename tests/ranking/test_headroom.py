from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.stats import norm

from ranking.headroom import answer_information, headroom
from ranking.realistic import CrowdNoise

PROBIT = CrowdNoise(pair_sd=0.0, worker_sd=0.0, lapse=0.0, tie_max=0.0)
REALISTIC = CrowdNoise(pair_sd=0.8, worker_sd=0.5, lapse=0.3, tie_max=0.3, tie_width=0.5)
GAPS = np.array([0.0, 0.3, 0.9, 1.7, 3.0])


def test_a_probit_crowd_has_the_textbook_information() -> None:
    p = norm.cdf(GAPS)
    expected = norm.pdf(GAPS) ** 2 / (p * (1 - p))
    np.testing.assert_allclose(answer_information(GAPS, PROBIT), expected, rtol=1e-6)


def test_a_pair_effect_widens_the_link_and_lapses_flatten_it() -> None:
    r = np.sqrt(1 + 0.8**2)  # the marginal of Phi(g + e), e ~ N(0, 0.8^2), is Phi(g / r)
    p = norm.cdf(GAPS / r)
    blurred = CrowdNoise(pair_sd=0.8, worker_sd=0.0, lapse=0.0, tie_max=0.0)
    expected = (norm.pdf(GAPS / r) / r) ** 2 / (p * (1 - p))
    np.testing.assert_allclose(answer_information(GAPS, blurred), expected, rtol=1e-5)
    lapsing = CrowdNoise(pair_sd=0.0, worker_sd=0.0, lapse=0.3, tie_max=0.0)
    np.testing.assert_allclose(
        answer_information(GAPS, lapsing), lapsing.vote_information(GAPS), rtol=1e-6
    )


def test_information_with_ties_matches_derivatives_of_the_outcome_probabilities() -> None:
    """Outcome probabilities by direct integration over the pair effect, differentiated
    numerically: the closed-form slopes must agree."""
    noise, s = REALISTIC, 1.7

    def outcomes(g: float) -> np.ndarray:
        def at(e: float, k: int) -> float:
            d = g + e
            tie = float(noise.tie_rate(np.array(d)))
            win = float(noise.win_rate(np.array(d), s))
            value = [(1 - tie) * win, (1 - tie) * (1 - win), tie][k]
            return value * norm.pdf(e, scale=noise.pair_sd)

        return np.array([quad(at, -8, 8, args=(k,), epsabs=1e-12)[0] for k in range(3)])

    h = 1e-4
    for g in (0.0, 0.6, 1.5):
        p = outcomes(g)
        slope = (outcomes(g + h) - outcomes(g - h)) / (2 * h)
        expected = float((slope**2 / p).sum())
        assert answer_information(np.array([g]), noise, s)[0] == pytest.approx(expected, rel=1e-4)


def test_headroom_of_a_clean_crowd_is_larger_than_of_a_realistic_one() -> None:
    merit = np.random.default_rng(0).normal(0.0, 1.0, 300)
    clean, real = headroom(merit, PROBIT), headroom(merit, REALISTIC)
    # A clean crowd informs most at a tie; the realistic one away from ties (no preference
    # and pair effects blur near ties).
    assert clean.best_gap == 0.0 and real.best_gap > 0.5
    assert 0 < real.pairs < clean.pairs < 1
    # Equal workers leave nothing to routing; unequal ones do, the more the fewer are kept.
    assert clean.routing == pytest.approx(0.0, abs=1e-12)
    assert 0 < headroom(merit, REALISTIC, share=0.6).routing < real.routing
    assert headroom(merit, REALISTIC, share=1.0).routing == pytest.approx(0.0, abs=1e-12)
    assert real.both > max(real.pairs, real.routing)


def test_headroom_grows_with_the_spread_of_the_gallery() -> None:
    """Random pairs of a widely spread gallery are mostly far apart, and far pairs tell
    little: there is more to gain by choosing."""
    rng = np.random.default_rng(1)
    narrow = headroom(rng.normal(0.0, 0.5, 200), REALISTIC).pairs
    wide = headroom(rng.normal(0.0, 3.0, 200), REALISTIC).pairs
    assert narrow < wide


def test_headroom_rejects_what_it_cannot_bound() -> None:
    with pytest.raises(ValueError, match="share"):
        headroom(np.zeros(5), REALISTIC, share=0.0)
    with pytest.raises(ValueError, match="two images"):
        headroom(np.zeros(1), REALISTIC)
