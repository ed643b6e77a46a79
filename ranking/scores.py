"""The scores table: one row per image, the hand-off from ranking to training and curation."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from ranking.votes import validate_votes

SCORE_COLUMNS = ("image", "uri", "score", "se", "comparisons", "wins", "rank", "percentile", "tier")


def scores_table(
    scores: pd.Series,
    se: pd.Series,
    votes: pd.DataFrame,
    uris: Mapping[str, str] | None = None,
    tiers: Sequence[float] = (50, 95, 98),
) -> pd.DataFrame:
    """Tabulate fitted scores with their evidence, rank and tier.

    Parameters
    ----------
    scores, se : pd.Series
        Log-strengths and standard errors indexed by image (e.g. ``BradleyTerry().scores_``).
    votes : pd.DataFrame
        The votes behind the fit, for the counts: an image's counts take every vote it is part
        of, except votes whose two sides are the same image (those are no comparison).
    uris : mapping, optional
        Image to URI; images it lacks get an empty URI.
    tiers : sequence of float
        Increasing percentile thresholds: an image's tier is how many of them its percentile
        exceeds (0..3 for the default: above the median, the 95th and the 98th percentile).

    Returns
    -------
    pd.DataFrame
        Columns :data:`SCORE_COLUMNS`, best image first. ``score`` is re-centred to mean 0;
        ``comparisons`` counts the votes an image took part in and ``wins`` the ones it won, a
        tie counting half; ``rank`` is 1 for the best, equal scores sharing the better rank;
        ``percentile`` runs from 0 (worst) to 100 (best), equal scores sharing their mean.
    """
    if not scores.index.is_unique:
        raise ValueError("scores must have one entry per image")
    if list(tiers) != sorted(tiers):
        raise ValueError("tiers must be increasing percentiles")
    images = scores.index
    v = validate_votes(votes)
    v = v[v["left"] != v["right"]]
    both = pd.concat([v["left"], v["right"]], ignore_index=True)
    comparisons = both.value_counts().reindex(images, fill_value=0)
    tie = v["label"].isna()
    won = v.loc[~tie, "label"].value_counts().reindex(images, fill_value=0).astype(float)
    halves = pd.concat([v.loc[tie, "left"], v.loc[tie, "right"]]).value_counts()
    wins = won + 0.5 * halves.reindex(images, fill_value=0)
    centred = scores.astype(float) - float(scores.mean()) if len(scores) else scores.astype(float)
    n = len(images)
    ascending = centred.rank(method="average").to_numpy()
    percentile = 100.0 * (ascending - 1) / (n - 1) if n > 1 else np.full(n, 100.0)
    table = pd.DataFrame(
        {
            "image": images,
            "uri": [(uris or {}).get(i, "") for i in images],
            "score": centred.to_numpy(),
            "se": se.reindex(images).astype(float).to_numpy(),
            "comparisons": comparisons.to_numpy().astype(int),
            "wins": wins.to_numpy(),
            "rank": centred.rank(method="min", ascending=False).to_numpy().astype(int),
            "percentile": percentile,
            "tier": (percentile[:, None] > np.asarray(tiers, dtype=float)[None, :]).sum(axis=1),
        }
    )
    return table.sort_values(["rank", "image"], kind="stable").reset_index(drop=True)
