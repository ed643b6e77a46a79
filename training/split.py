"""Reproducible splits, stratified by tier and grouped by capture day: train/validation/test
parts, or K folds for cross-validation.

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


def shares(val_share: float, test_share: float) -> tuple[float, float, float]:
    """``(train, val, test)`` shares from the validation and test shares."""
    train = 1.0 - val_share - test_share
    if train <= 0.05:
        raise BeautyError(
            f"validation share {val_share} and test share {test_share} leave "
            f"{max(train, 0):.0%} of the images to train on; lower them"
        )
    return train, val_share, test_share


def split_parts(
    tiers: Sequence[int] | np.ndarray,
    days: Sequence[str | None],
    seed: int = 0,
    fractions: Sequence[float] = FRACTIONS,
    parts: Sequence[str] = PARTS,
) -> np.ndarray:
    """Part name (``train``, ``val`` and ``test`` by default) per image.

    Raises
    ------
    BeautyError
        When there are fewer groups than parts, so some part would be empty.
    """
    return np.asarray(parts, dtype=object)[_deal(tiers, days, fractions, seed, "parts")]


def fold_of(
    tiers: Sequence[int] | np.ndarray, days: Sequence[str | None], folds: int, seed: int = 0
) -> np.ndarray:
    """Fold number (0..folds-1) per image, folds of about equal size, days kept whole."""
    return _deal(tiers, days, [1.0] * folds, seed, "folds")


def _deal(
    tiers: Sequence[int] | np.ndarray,
    days: Sequence[str | None],
    fractions: Sequence[float],
    seed: int,
    what: str,
) -> np.ndarray:
    tier_arr = np.asarray(tiers, dtype=int)
    keys = [day if day is not None else f"\0{i}" for i, day in enumerate(days)]
    names, group_of = np.unique(np.asarray(keys, dtype=object), return_inverse=True)
    if len(names) < len(fractions):
        raise BeautyError(
            f"{len(names)} capture day(s): a split into {len(fractions)} {what} needs at "
            "least as many days so that no day is on two sides; score images from more days"
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
    return part_of_group[group_of]
