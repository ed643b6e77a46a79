"""What every screen planner checks first: distinct images, a screen size that fits, a count."""

from __future__ import annotations

from collections.abc import Sequence


def checked_ids(images: Sequence[str], size: int, n_screens: int) -> list[str]:
    """The image ids as a list, once the planner's arguments are known to make sense.

    Raises
    ------
    ValueError
        Repeated ids, a screen size outside 2..len(images), or a negative screen count.
    """
    ids = list(images)
    n = len(ids)
    if len(set(ids)) != n:
        raise ValueError("image ids must be distinct")
    if size < 2 or size > n:
        raise ValueError(f"screen size must be between 2 and the {n} images, got {size}")
    if n_screens < 0:
        raise ValueError("n_screens must be >= 0")
    return ids
