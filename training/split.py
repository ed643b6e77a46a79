"""A reproducible train/validation/test split, stratified by tier and grouped by capture day.

Groups (capture days; an image of unknown day is a group of its own) are dealt out largest first,
each to the part whose per-tier counts it brings closest to that part's share. Nearby frames of one
day are near-duplicates: a day on both sides would leak the test set into training.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from infra.errors import BeautyError

PARTS = ("train", "val", "test")
FRACTIONS = (0.64, 0.16, 0.20)


def split_parts(
    tiers: Sequence[int] | np.ndarray,
    days: Sequence[str | None],
    seed: int = 0,
    fractions: Sequence[float] = FRACTIONS,
) -> np.ndarray:
    """Part name (``train``, ``val`` or ``test``) per image.

    Raises
    ------
    BeautyError
        When there are fewer groups than parts, so some part would be empty.
    """
    tier_arr = np.asarray(tiers, dtype=int)
    keys = [day if day is not None else f"\0{i}" for i, day in enumerate(days)]
    names, group_of = np.unique(np.asarray(keys, dtype=object), return_inverse=True)
    if len(names) < len(PARTS):
        raise BeautyError(
            f"{len(names)} capture day(s): a split into train, validation and test needs at "
            "least 3 so that no day is on two sides; score images from more days"
        )
    levels, tier_idx = np.unique(tier_arr, return_inverse=True)
    counts = np.zeros((len(names), len(levels)))
    np.add.at(counts, (group_of, tier_idx), 1)
    totals = counts.sum(axis=0)
    share = np.asarray(fractions, dtype=float) / np.sum(fractions)
    target = share[:, None] * totals[None, :]
    current = np.zeros_like(target)

    rng = np.random.default_rng(seed)
    order = rng.permutation(len(names))
    order = order[np.argsort(-counts[order].sum(axis=1), kind="stable")]
    part_of_group = np.empty(len(names), dtype=int)
    for g in order:
        before = ((current - target) ** 2 / totals).sum(axis=1)
        after = ((current + counts[g] - target) ** 2 / totals).sum(axis=1)
        # Any empty part takes the next group first, so every part holds images.
        empty = current.sum(axis=1) == 0
        cost = np.where(empty, -np.inf, after - before) if empty.any() else after - before
        part = int(np.argmin(cost))
        part_of_group[g] = part
        current[part] += counts[g]
    return np.asarray(PARTS, dtype=object)[part_of_group[group_of]]
