"""The votes table: one row per pairwise comparison, and its integer encoding for the solvers.

A votes table has the columns crowd-kit uses for pairwise data, ``worker, left, right, label``,
where ``label`` is the winning image and an empty label (``""``, ``None`` or ``NaN``) is a tie
("no preference"). Optional columns ``screen, assignment, gold, seconds`` are carried along
untouched. A 4-up screen ("select the photos worth keeping") enters the table through
:func:`fourup_pairs`: every selected photo beats every unselected one.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

VOTE_COLUMNS = ("worker", "left", "right", "label")
OPTIONAL_COLUMNS = ("screen", "assignment", "gold", "seconds")


def fourup_pairs(shown: Sequence[str], selected: Collection[str]) -> list[tuple[str, str]]:
    """Break one 4-up answer into pairwise wins.

    Parameters
    ----------
    shown : sequence of str
        The photos on the screen, in shown order.
    selected : collection of str
        The photos the worker kept; any number, none or all.

    Returns
    -------
    list of (winner, loser)
        Every selected photo beats every unselected one, in shown order. Selecting none or all
        says nothing about the photos' relative merit and gives an empty list.

    Raises
    ------
    ValueError
        If a photo is shown twice or a selected photo was not shown.
    """
    if len(set(shown)) != len(shown):
        raise ValueError(f"a 4-up screen shows a photo twice: {list(shown)}")
    extra = set(selected) - set(shown)
    if extra:
        raise ValueError(f"selected photos not on the screen: {sorted(extra)}")
    chosen = set(selected)
    winners = [s for s in shown if s in chosen]
    losers = [s for s in shown if s not in chosen]
    return [(w, loser) for w in winners for loser in losers]


def _is_tie(label: pd.Series) -> pd.Series:
    """Empty labels: missing values and empty strings (CSV round trips turn one into the other)."""
    return label.isna() | label.isin([""])


def validate_votes(votes: pd.DataFrame) -> pd.DataFrame:
    """Check a votes table and return a copy whose ties are ``NaN`` labels.

    Raises
    ------
    ValueError
        One line naming the missing columns, or counting the rows without a worker or image, or
        whose label is neither their left nor their right image.
    """
    missing = [c for c in VOTE_COLUMNS if c not in votes.columns]
    if missing:
        raise ValueError(f"votes table is missing columns: {', '.join(missing)}")
    out = votes.copy()
    blank = out[["worker", "left", "right"]].isna().any(axis=1)
    if blank.any():
        raise ValueError(
            f"{int(blank.sum())} votes lack a worker, left or right image "
            f"(first at row {out.index[blank.to_numpy()][:1].tolist()[0]!r})"
        )
    tie = _is_tie(out["label"])
    out["label"] = out["label"].where(~tie)
    bad = ~tie & (out["label"] != out["left"]) & (out["label"] != out["right"])
    if bad.any():
        first = out.index[bad.to_numpy()][:1].tolist()[0]
        raise ValueError(
            f"{int(bad.sum())} votes have a label that is neither their left nor their right "
            f"image (first at row {first!r}: label {out.at[first, 'label']!r})"
        )
    return out


@dataclass
class EncodedVotes:
    """Votes as integer arrays, one row per (possibly half-weight) win.

    Attributes
    ----------
    items : pd.Index
        Image names; ``winner`` and ``loser`` index into it.
    winner, loser : np.ndarray of intp
        The two images of each row.
    weight : np.ndarray of float
        1 for a decided vote, 0.5 for each half of a tie.
    worker : np.ndarray of intp
        Index into ``workers`` of each row's worker.
    workers : pd.Index
        Worker names, in order of first appearance.
    self_comparisons : int
        Votes whose two sides are the same image; they carry no information and are left out.
    """

    items: pd.Index
    winner: np.ndarray
    loser: np.ndarray
    weight: np.ndarray
    worker: np.ndarray
    workers: pd.Index
    self_comparisons: int


def encode_votes(votes: pd.DataFrame, items: Sequence[str] | None = None) -> EncodedVotes:
    """Encode a votes table for the solvers.

    A tie becomes two half-weight wins, one each way. Under Bradley-Terry this adds exactly the
    log-likelihood ``0.5 log p + 0.5 log(1 - p)``, which is largest when the two images are equal:
    a tie pulls the pair together, as a tie should, and counts as half a comparison's evidence.
    (Rao-Kupper or Davidson models add a tie parameter instead; crowd data rarely has enough ties
    to estimate it.)

    Parameters
    ----------
    votes : pd.DataFrame
        A votes table, see :func:`validate_votes`.
    items : sequence of str, optional
        Image names, fixing the order of the encoding and admitting images without votes.
        By default the sorted images that appear in ``votes``.

    Raises
    ------
    ValueError
        If the table is invalid, or names an image outside ``items``.
    """
    v = validate_votes(votes)
    if items is None:
        names = pd.unique(pd.concat([v["left"], v["right"]], ignore_index=True))
        index = pd.Index(names).sort_values()
    else:
        index = pd.Index(items)
    if not index.is_unique:
        raise ValueError("items must be unique")
    left = index.get_indexer(v["left"])
    right = index.get_indexer(v["right"])
    unknown = (left < 0) | (right < 0)
    if unknown.any():
        row = v[unknown].iloc[0]
        name = row["left"] if left[unknown][0] < 0 else row["right"]
        raise ValueError(f"{int(unknown.sum())} votes name images outside items, e.g. {name!r}")
    worker_codes, workers = pd.factorize(v["worker"])
    same = left == right
    tie = v["label"].isna().to_numpy()
    left_won = (v["label"] == v["left"]).to_numpy()
    decided = ~same & ~tie
    halves = ~same & tie
    winner = np.concatenate(
        [np.where(left_won, left, right)[decided], left[halves], right[halves]]
    ).astype(np.intp)
    loser = np.concatenate(
        [np.where(left_won, right, left)[decided], right[halves], left[halves]]
    ).astype(np.intp)
    n_decided, n_halves = int(decided.sum()), int(halves.sum())
    weight = np.concatenate([np.ones(n_decided), np.full(2 * n_halves, 0.5)])
    worker = np.concatenate(
        [worker_codes[decided], worker_codes[halves], worker_codes[halves]]
    ).astype(np.intp)
    return EncodedVotes(
        items=index,
        winner=winner,
        loser=loser,
        weight=weight,
        worker=worker,
        workers=pd.Index(workers),
        self_comparisons=int(same.sum()),
    )
