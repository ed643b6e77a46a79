import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from ranking.votes import VOTE_COLUMNS, encode_votes, fourup_pairs, validate_votes


def votes(rows: list[tuple[str, str, str, object]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(VOTE_COLUMNS))


def test_fourup_every_selected_beats_every_unselected() -> None:
    pairs = fourup_pairs(["a", "b", "c", "d"], {"c", "a"})
    assert pairs == [("a", "b"), ("a", "d"), ("c", "b"), ("c", "d")]


@pytest.mark.parametrize("selected", [set(), {"a", "b", "c", "d"}])
def test_fourup_none_or_all_selected_says_nothing(selected: set[str]) -> None:
    assert fourup_pairs(["a", "b", "c", "d"], selected) == []


def test_fourup_rejects_unknown_or_repeated_photos() -> None:
    with pytest.raises(ValueError, match="not on the screen"):
        fourup_pairs(["a", "b", "c", "d"], {"e"})
    with pytest.raises(ValueError, match="twice"):
        fourup_pairs(["a", "a", "c", "d"], {"a"})


@given(st.lists(st.booleans(), min_size=2, max_size=6))
def test_fourup_pair_count_and_direction(mask: list[bool]) -> None:
    shown = [f"p{i}" for i in range(len(mask))]
    selected = {s for s, keep in zip(shown, mask, strict=True) if keep}
    pairs = fourup_pairs(shown, selected)
    k = len(selected)
    assert len(pairs) == k * (len(shown) - k)
    assert all(w in selected and loser not in selected for w, loser in pairs)


def test_validate_names_missing_columns() -> None:
    with pytest.raises(ValueError, match="missing columns: worker, label"):
        validate_votes(pd.DataFrame({"left": ["a"], "right": ["b"]}))


def test_validate_rejects_label_outside_the_pair() -> None:
    table = votes([("w1", "a", "b", "a"), ("w1", "a", "b", "c"), ("w2", "b", "c", "x")])
    with pytest.raises(ValueError, match=r"^2 votes have a label .* row 1: label 'c'\)$"):
        validate_votes(table)


def test_validate_rejects_missing_worker() -> None:
    with pytest.raises(ValueError, match="lack a worker"):
        validate_votes(votes([(None, "a", "b", "a")]))  # type: ignore[list-item]


def test_validate_turns_empty_labels_into_ties() -> None:
    out = validate_votes(votes([("w", "a", "b", ""), ("w", "a", "b", None), ("w", "a", "b", "b")]))
    assert out["label"].isna().tolist() == [True, True, False]


def test_encode_ties_become_two_half_wins() -> None:
    enc = encode_votes(votes([("w1", "a", "b", "b"), ("w2", "a", "c", np.nan)]))
    assert list(enc.items) == ["a", "b", "c"]
    rows = sorted(zip(enc.winner.tolist(), enc.loser.tolist(), enc.weight.tolist(), strict=True))
    assert rows == [(0, 2, 0.5), (1, 0, 1.0), (2, 0, 0.5)]
    assert [enc.workers[i] for i in enc.worker[np.argsort(enc.weight)]] == ["w2", "w2", "w1"]


def test_encode_counts_and_drops_self_comparisons() -> None:
    enc = encode_votes(votes([("w", "a", "a", "a"), ("w", "a", "b", "a"), ("w", "b", "b", "")]))
    assert enc.self_comparisons == 2
    assert len(enc.winner) == 1


def test_encode_uses_given_items_and_rejects_unknown_ones() -> None:
    table = votes([("w", "a", "b", "a")])
    enc = encode_votes(table, items=["z", "b", "a"])
    assert list(enc.items) == ["z", "b", "a"]
    assert (enc.winner[0], enc.loser[0]) == (2, 1)
    with pytest.raises(ValueError, match=r"outside items, e\.g\. 'a'"):
        encode_votes(table, items=["b"])


@given(
    st.lists(
        st.tuples(st.sampled_from("abcd"), st.sampled_from("abcd"), st.integers(0, 2)),
        min_size=1,
        max_size=30,
    )
)
def test_encode_conserves_wins(raw: list[tuple[str, str, int]]) -> None:
    # outcome 0: left wins, 1: right wins, 2: tie
    table = votes([("w", a, b, [a, b, None][o]) for a, b, o in raw])
    enc = encode_votes(table)
    real = [(a, b, o) for a, b, o in raw if a != b]
    assert enc.self_comparisons == len(raw) - len(real)
    assert enc.weight.sum() == pytest.approx(len(real))
    for i, name in enumerate(enc.items):
        expected = sum(
            1.0 if (o == 0 and a == name) or (o == 1 and b == name) else 0.5 * (o == 2)
            for a, b, o in real
            if name in (a, b)
        )
        assert enc.weight[enc.winner == i].sum() == pytest.approx(expected)
