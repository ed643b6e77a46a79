"""The 64/16/20 split: reproducible, stratified by tier, days never on two sides."""

from __future__ import annotations

import numpy as np
import pytest

from infra.errors import BeautyError
from training.split import split_parts


def _data(n: int = 600, days: int = 60, seed: int = 0) -> tuple[np.ndarray, list[str | None]]:
    rng = np.random.default_rng(seed)
    tiers = rng.choice([0, 1, 2, 3], size=n, p=[0.5, 0.45, 0.03, 0.02])
    day = [f"2016-{1 + d // 28:02d}-{1 + d % 28:02d}" for d in rng.integers(0, days, n)]
    return tiers, list(day)


def test_a_day_never_straddles_parts() -> None:
    tiers, days = _data()
    parts = split_parts(tiers, days, seed=4)
    for day in set(days):
        assert len({parts[i] for i, d in enumerate(days) if d == day}) == 1


def test_shares_and_tiers_are_close_to_64_16_20() -> None:
    tiers, days = _data(n=1000, days=200)
    parts = split_parts(tiers, days)
    for part, share in (("train", 0.64), ("val", 0.16), ("test", 0.20)):
        assert np.mean(parts == part) == pytest.approx(share, abs=0.03)
    top = tiers >= 2
    for part, share in (("train", 0.64), ("val", 0.16), ("test", 0.20)):
        assert np.mean(parts[top] == part) == pytest.approx(share, abs=0.08)


def test_unknown_days_split_image_by_image_stratified() -> None:
    tiers = np.array([0] * 50 + [3] * 10)
    parts = split_parts(tiers, [None] * 60)
    assert (parts[tiers == 3] == "train").sum() in (6, 7)
    assert (parts[tiers == 3] == "test").sum() == 2
    assert (parts == "val").sum() in (9, 10)


def test_the_split_is_reproducible_and_follows_the_seed() -> None:
    tiers, days = _data()
    assert (split_parts(tiers, days, seed=1) == split_parts(tiers, days, seed=1)).all()
    assert (split_parts(tiers, days, seed=1) != split_parts(tiers, days, seed=2)).any()


def test_too_few_days_is_a_clear_error() -> None:
    with pytest.raises(BeautyError, match="2 capture day"):
        split_parts([0, 1, 2, 0], ["2016-01-01", "2016-01-01", "2016-01-02", "2016-01-02"])
