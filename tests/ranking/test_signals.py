"""Per-worker review signals: each test says what a careful worker and a spammer look like."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from ranking.crowd import AlwaysLeft, HonestWorker, RandomClicker, SelectNone, WorkerModel
from ranking.signals import cross_fitted_scores, poisson_binomial_sf, worker_signals
from ranking.votes import fourup_pairs


def _judgments(crowd: dict[str, WorkerModel], screens: int = 120, seed: int = 0) -> pd.DataFrame:
    """Every worker answers the same random 4-up screens (shuffled per screen), no gold."""
    rng = np.random.default_rng(seed)
    truth = {f"i{k}": float(v) for k, v in enumerate(rng.normal(0, 1.5, 200))}
    images = list(truth)
    rows = []
    for s in range(screens):
        shown = [images[i] for i in rng.choice(len(images), 4, replace=False)]
        for worker, model in crowd.items():
            chosen = model.choose(shown, "fourup", truth, rng)
            rows.append((worker, s // 10, "fourup", tuple(shown), tuple(chosen), 5.0, None))
    return pd.DataFrame(
        rows,
        columns=["worker", "assignment", "kind", "shown", "selected", "seconds", "gold_passed"],
    )


def _votes(judged: pd.DataFrame) -> pd.DataFrame:
    votes = [
        (w, win, lose, win)
        for w, sh, sel in zip(judged["worker"], judged["shown"], judged["selected"], strict=True)
        for win, lose in fourup_pairs(sh, sel)
    ]
    return pd.DataFrame(votes, columns=["worker", "left", "right", "label"])


def test_poisson_binomial_tail_matches_the_binomials() -> None:
    assert poisson_binomial_sf(0, 5, 5) == 1.0
    assert poisson_binomial_sf(10, 10, 0) == pytest.approx(0.5**10)
    assert poisson_binomial_sf(4, 0, 4) == pytest.approx(0.25**4)
    assert poisson_binomial_sf(30, 10, 10) == 0.0


def test_position_bias_and_keep_none_stand_out_only_for_spammers() -> None:
    crowd: dict[str, WorkerModel] = {
        "careful": HonestWorker(2.0),
        "first": AlwaysLeft(),
        "none": SelectNone(),
    }
    table = worker_signals(_judgments(crowd)).set_index("worker")
    assert table.loc["first", "position_p"] < 1e-20, "always-first not caught by position"
    assert table.loc["careful", "position_p"] > 1e-3, "a careful worker looks position-biased"
    assert table.loc["none", "none_p"] < 1e-20 and table.loc["careful", "none_p"] == 1.0
    assert table.loc["careful", "all_p"] == 1.0


def test_cross_fitted_agreement_puts_a_random_clicker_at_chance() -> None:
    crowd: dict[str, WorkerModel] = {f"h{k}": HonestWorker(1.5) for k in range(6)}
    crowd["random"] = RandomClicker()
    judged = _judgments(crowd, screens=150)
    table = worker_signals(judged, cross_fitted_scores(_votes(judged))).set_index("worker")
    random, honest = table.loc["random"], table.drop(index="random")
    assert 0.4 < random["agreement"] < 0.58, f"random clicker agrees {random['agreement']:.2f}"
    assert honest["agreement"].min() > 0.7
    assert random["agreement_upper"] < honest["agreement_lower"].min()


def test_signals_refuse_tables_that_lack_columns() -> None:
    with pytest.raises(ValueError, match="lack columns"):
        worker_signals(pd.DataFrame({"worker": ["a"]}))
