import numpy as np
import pandas as pd
import pytest

from ranking.bradley_terry import BradleyTerry
from ranking.scores import SCORE_COLUMNS, scores_table
from ranking.votes import VOTE_COLUMNS


def test_columns_ranks_percentiles_and_tiers() -> None:
    images = [f"img{i:03d}" for i in range(100)]
    rng = np.random.default_rng(0)
    scores = pd.Series(rng.permutation(np.arange(100.0)) + 7, index=images)
    se = pd.Series(0.3, index=images)
    empty = pd.DataFrame(columns=list(VOTE_COLUMNS))
    table = scores_table(scores, se, empty)
    assert tuple(table.columns) == SCORE_COLUMNS
    assert table["rank"].tolist() == list(range(1, 101))
    assert table["score"].is_monotonic_decreasing
    assert table["score"].mean() == pytest.approx(0)
    assert table["percentile"].iloc[0] == 100 and table["percentile"].iloc[-1] == 0
    # above the 98th percentile: the best 2 of 100; above the 95th: 3 more; above the median: 45
    assert table["tier"].value_counts().sort_index().tolist() == [50, 45, 3, 2]
    assert (table["uri"] == "").all() and (table["comparisons"] == 0).all()


def test_counts_wins_with_ties_as_halves_and_skips_self_comparisons() -> None:
    rows = [("w", "a", "b", "a"), ("w", "b", "c", ""), ("w", "c", "a", "c")]
    rows += [("w", "a", "a", "a"), ("w", "a", "ghost", "ghost")]
    votes = pd.DataFrame(rows, columns=list(VOTE_COLUMNS))
    scores = pd.Series({"a": 0.2, "b": -0.1, "c": 0.5})
    table = scores_table(scores, scores * 0 + 1, votes, uris={"a": "s3://x/a.jpg"}).set_index(
        "image"
    )
    assert table.loc[["a", "b", "c"], "comparisons"].tolist() == [3, 2, 2]
    assert table.loc[["a", "b", "c"], "wins"].tolist() == [1.0, 0.5, 1.5]
    assert table.loc[["c", "a", "b"], "rank"].tolist() == [1, 2, 3]
    assert table.loc["a", "uri"] == "s3://x/a.jpg" and table.loc["b", "uri"] == ""


def test_equal_scores_share_rank_and_percentile() -> None:
    scores = pd.Series({"a": 1.0, "b": 0.0, "c": 0.0, "d": -1.0})
    table = scores_table(scores, scores, pd.DataFrame(columns=list(VOTE_COLUMNS)))
    table = table.set_index("image")
    assert table.loc[["a", "b", "c", "d"], "rank"].tolist() == [1, 2, 2, 4]
    assert table.loc["b", "percentile"] == table.loc["c", "percentile"] == 50


def test_from_a_fit() -> None:
    rows = [("w", "a", "b", "a"), ("w", "b", "c", "b"), ("w", "a", "c", "a")] * 2
    votes = pd.DataFrame(rows, columns=list(VOTE_COLUMNS))
    model = BradleyTerry().fit(votes)
    table = scores_table(model.scores_, model.se_, votes, tiers=(60,))
    assert table["image"].tolist() == ["a", "b", "c"]
    assert table["tier"].tolist() == [1, 0, 0]
    assert (table["se"] > 0).all()


def test_rejects_unsorted_tiers() -> None:
    with pytest.raises(ValueError, match="increasing"):
        scores_table(
            pd.Series({"a": 0.0}),
            pd.Series({"a": 1.0}),
            pd.DataFrame(columns=list(VOTE_COLUMNS)),
            tiers=(95, 50),
        )
