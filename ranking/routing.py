"""Routing: which workers the next batch is offered to.

An answer informs in proportion to its worker's discrimination squared: under the crowd model of
:mod:`ranking.crowd` a worker with ``s = 2`` carries a hundred times the information of one with
``s = 0.2`` per screen, for the same money. Once a fit has learned each worker's reliability,
offering the next batch to the most reliable share of the crowd buys more ranking per dollar.
Crowd-BT's active learning chooses the annotator together with the pair for the same reason:

Chen, X., Bennett, P. N., Collins-Thompson, K., & Horvitz, E. (2013). Pairwise ranking
aggregation in a crowdsourced setting. *WSDM '13*, 193-202.

This is not exclusion: a worker left out of one batch keeps their pay and standing and may be
offered the next; the gold record (:mod:`ranking.gold`) decides exclusion.
"""

from __future__ import annotations

import math

import pandas as pd


def trusted_workers(reliability: pd.Series, share: float, at_least: int = 1) -> list[str]:
    """The most reliable ``share`` of the workers.

    Parameters
    ----------
    reliability : Series indexed by worker
        A learned reliability, larger is better (e.g. ``CrowdBT.discrimination_`` or
        ``FourUp.discrimination_``); missing values rank last.
    share : float
        Share of the workers to keep, in (0, 1]; rounded up, so a share never keeps nobody.
    at_least : int
        Fewest workers to keep (e.g. the assignments per HIT, which must go to distinct workers),
        while there are that many.

    Returns
    -------
    list of str
        Worker ids, most reliable first; ties in order of id.
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1], not {share}")
    values = pd.to_numeric(reliability, errors="coerce")
    ordered = (
        pd.DataFrame({"worker": reliability.index.astype(str), "value": values.to_numpy()})
        .sort_values(["value", "worker"], ascending=[False, True], na_position="last")["worker"]
        .tolist()
    )
    keep = max(math.ceil(share * len(ordered)), at_least)
    return ordered[:keep]
