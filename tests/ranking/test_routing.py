import numpy as np
import pandas as pd
import pytest

from ranking.routing import trusted_workers


def test_keeps_the_most_reliable_share_rounded_up() -> None:
    reliability = pd.Series({"a": 0.2, "b": 1.8, "c": 1.1, "d": 0.9, "e": 1.5})
    assert trusted_workers(reliability, 0.4) == ["b", "e"]
    assert trusted_workers(reliability, 0.5) == ["b", "e", "c"]  # 2.5 workers: three
    assert trusted_workers(reliability, 1.0) == ["b", "e", "c", "d", "a"]


def test_keeps_at_least_the_assignments_a_hit_needs() -> None:
    reliability = pd.Series({"a": 0.2, "b": 1.8, "c": 1.1, "d": 0.9})
    assert trusted_workers(reliability, 0.25, at_least=3) == ["b", "c", "d"]
    assert trusted_workers(reliability, 0.25, at_least=9) == ["b", "c", "d", "a"]


def test_ties_go_by_id_and_unknown_reliability_ranks_last() -> None:
    reliability = pd.Series({"z": 1.0, "y": np.nan, "x": 1.0, "w": 0.5})
    assert trusted_workers(reliability, 1.0) == ["x", "z", "w", "y"]


@pytest.mark.parametrize("share", [0.0, -0.5, 1.5])
def test_refuses_a_share_outside_zero_to_one(share: float) -> None:
    with pytest.raises(ValueError, match="share"):
        trusted_workers(pd.Series({"a": 1.0}), share)
