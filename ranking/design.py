"""Choosing the comparisons of a batch, and packing them into HITs with gold mixed in.

A *screen* is a tuple of image ids in shown order: two for a pair, four for a 4-up set.
"Appearances per image" counts how often an image is shown, for pairs and 4-up alike.

The random balanced design deals images from back-to-back random permutations, so every
image appears the same number of times give or take one, then swaps images between screens
until the comparison graph is connected, which a Bradley-Terry fit needs for all scores to
share one scale.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from ranking.active import thompson_neighbours
from ranking.screens import checked_ids

Design = Literal["pairwise", "fourup"]
SCREEN_SIZE: dict[str, int] = {"pairwise": 2, "fourup": 4}


def screens_needed(n_images: int, size: int, appearances: int) -> int:
    """Screens of ``size`` images so that each of ``n_images`` appears ``appearances`` times.

    Rounded up: some images then appear once more than the others.
    """
    if n_images < 0 or size < 1 or appearances < 0:
        raise ValueError("need n_images >= 0, size >= 1 and appearances >= 0")
    return math.ceil(n_images * appearances / size)


def _cycle_fill(n_items: int, sizes: Sequence[int], rng: np.random.Generator) -> list[list[int]]:
    """Fill groups of the given sizes from back-to-back random permutations of ``range(n_items)``.

    Every item is used a number of times within one of every other's (each permutation is used
    up before the next starts), and no group holds an item twice: where a group straddles two
    permutations, the new permutation's head is swapped with later items.
    """
    if any(size > n_items for size in sizes):
        raise ValueError(f"a group of more than {n_items} distinct items cannot be filled")
    groups: list[list[int]] = []
    perm: list[int] = []
    pos = 0
    for size in sizes:
        group: list[int] = []
        while len(group) < size:
            if pos == len(perm):
                perm = rng.permutation(n_items).tolist()
                pos = 0
                _clear_head(perm, size - len(group), set(group))
            take = min(size - len(group), len(perm) - pos)
            group.extend(perm[pos : pos + take])
            pos += take
        groups.append(group)
    return groups


def _clear_head(perm: list[int], head: int, taken: set[int]) -> None:
    """Swap items of ``taken`` out of ``perm[:head]`` with later items not in ``taken``."""
    later = head
    for i in range(head):
        if perm[i] in taken:
            while perm[later] in taken:
                later += 1
            perm[i], perm[later] = perm[later], perm[i]
            later += 1


def balanced_screens(
    images: Sequence[str], size: int, n_screens: int, seed: int
) -> list[tuple[str, ...]]:
    """A random balanced design.

    Parameters
    ----------
    images : sequence of str
        Distinct image ids.
    size : int
        Images per screen (2 for pairs, 4 for 4-up); at most ``len(images)``.
    n_screens : int
        Screens to make; see :func:`screens_needed`.
    seed : int
        The same seed gives the same design.

    Returns
    -------
    list of tuple of str
        Screens in random order, each in random shown order, no image twice on a screen. Every
        image appears within one of the same count. When screens suffice for it
        (``n_screens * (size - 1) >= len(images) - 1``) the comparison graph is connected.
    """
    ids = checked_ids(images, size, n_screens)
    n = len(ids)
    rng = np.random.default_rng(seed)
    screens = _cycle_fill(n, [size] * n_screens, rng)
    if n_screens * (size - 1) >= n - 1:
        _connect(screens, n, rng)
    for screen in screens:
        rng.shuffle(screen)
    return [tuple(ids[i] for i in screen) for screen in screens]


def _connect(screens: list[list[int]], n: int, rng: np.random.Generator) -> None:
    """Swap images between screens, in place, until every image is in one component.

    A swap keeps every image's count. It takes a *redundant* slot of component A (one whose
    removal leaves A connected; union-find meets it as a slot whose image is already joined to
    its screen's first image) and any slot of another component B: the screen that gains B's
    image joins B to A, and the image leaving A still reaches A through its other screens. So
    each swap merges two components. Redundant slots exist while there are two or more
    components, because the screens hold more links than a spanning forest needs.
    """
    while True:
        parent = list(range(n))
        redundant: list[tuple[int, int]] = []
        for s in rng.permutation(len(screens)).tolist():
            screen = screens[s]
            for k in range(1, len(screen)):
                a, b = _find(parent, screen[0]), _find(parent, screen[k])
                if a == b:
                    redundant.append((s, k))
                else:
                    parent[b] = a
        if len({_find(parent, i) for i in range(n)}) == 1:
            return
        roots = [_find(parent, screen[0]) for screen in screens]
        s1, k1 = redundant[int(rng.integers(len(redundant)))]
        others = [s for s, root in enumerate(roots) if root != roots[s1]]
        s2 = others[int(rng.integers(len(others)))]
        k2 = int(rng.integers(len(screens[s2])))
        screens[s1][k1], screens[s2][k2] = screens[s2][k2], screens[s1][k1]


def _find(parent: list[int], i: int) -> int:
    """Union-find root of ``i``, halving the path on the way."""
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


def plan_screens(
    images: Sequence[str],
    design: Design,
    n_screens: int,
    seed: int,
    scores: pd.Series | None = None,
    se: pd.Series | None = None,
    active: bool = False,
) -> list[tuple[str, ...]]:
    """The screens of a batch: random balanced, or active from the current scores.

    Parameters
    ----------
    images : sequence of str
        Distinct image ids.
    design : {"pairwise", "fourup"}
        Pairs or 4-up sets.
    n_screens : int
        Screens to make.
    seed : int
        Random seed.
    scores, se : Series indexed by image, optional
        Current Bradley-Terry scores and standard errors; required when ``active``.
    active : bool
        Use :func:`ranking.active.thompson_neighbours` instead of the balanced design.
    """
    if design not in SCREEN_SIZE:
        raise ValueError(f"design must be one of {sorted(SCREEN_SIZE)}, got {design!r}")
    size = SCREEN_SIZE[design]
    if not active:
        return balanced_screens(images, size, n_screens, seed)
    if scores is None or se is None:
        raise ValueError("an active design needs the current scores and standard errors")
    return thompson_neighbours(images, size, n_screens, scores, se, seed)


@dataclass(frozen=True)
class PlannedScreen:
    """One screen of a HIT: images in shown order; ``gold`` indexes the gold list, else None."""

    images: tuple[str, ...]
    gold: int | None = None


def gold_per_hit(screens_per_hit: int, gold_rate: float, n_gold_items: int) -> int:
    """Gold screens in a full HIT: ``gold_rate`` of it, rounded, at least one when the rate is
    positive, leaving room for one normal screen, and no gold item twice in a HIT."""
    if not 0.0 <= gold_rate < 1.0:
        raise ValueError(f"gold_rate must be in [0, 1), got {gold_rate}")
    if screens_per_hit < 1:
        raise ValueError("screens_per_hit must be >= 1")
    if gold_rate == 0.0:
        return 0
    if n_gold_items == 0:
        raise ValueError("gold_rate > 0 needs at least one gold screen")
    if screens_per_hit < 2:
        raise ValueError("a HIT with gold needs room for at least two screens")
    wanted = max(1, round(gold_rate * screens_per_hit))
    return min(wanted, screens_per_hit - 1, n_gold_items)


def hits_needed(n_screens: int, screens_per_hit: int, gold_rate: float, n_gold_items: int) -> int:
    """HITs that :func:`pack_hits` makes for ``n_screens`` normal screens."""
    normal = screens_per_hit - gold_per_hit(screens_per_hit, gold_rate, n_gold_items)
    return math.ceil(n_screens / normal)


def pack_hits(
    screens: Sequence[tuple[str, ...]],
    gold: Sequence[tuple[str, ...]],
    screens_per_hit: int,
    gold_rate: float = 0.2,
    seed: int = 0,
) -> list[list[PlannedScreen]]:
    """Pack screens into HITs, mixing in gold screens.

    Parameters
    ----------
    screens : sequence of tuple of str
        Normal screens; they are dealt to HITs in random order, so that an active design's
        neighbouring screens do not land in one HIT.
    gold : sequence of tuple of str
        Gold screens to reuse, cycling through them in random order; no gold screen appears
        twice in one HIT.
    screens_per_hit : int
        Screens per HIT, gold included.
    gold_rate : float
        Share of each HIT that is gold (default one screen in five), rounded per HIT to at least
        one, see :func:`gold_per_hit`.
    seed : int
        Random seed.

    Returns
    -------
    list of list of PlannedScreen
        One list per HIT in shown order. Every HIT holds ``screens_per_hit`` screens except the
        last, which holds the remaining normal screens and gold at the same rate (at least one),
        so it may be shorter. Gold sits at random positions. A gold screen's first listed image
        (the one to drop, for made gold) takes each slot in turn over the batch, so that it is
        shown equally often in every position; the other images fill the rest in random order.
    """
    n_gold = gold_per_hit(screens_per_hit, gold_rate, len(gold))
    normal = screens_per_hit - n_gold
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(screens)).tolist()
    chunks = [order[i : i + normal] for i in range(0, len(order), normal)]
    gold_counts = [_gold_in_hit(len(chunk), n_gold, normal) for chunk in chunks]
    gold_picks = _cycle_fill(len(gold), gold_counts, rng) if n_gold else [[] for _ in chunks]
    hits: list[list[PlannedScreen]] = []
    used = 0
    for chunk, picks in zip(chunks, gold_picks, strict=True):
        hit = [PlannedScreen(tuple(screens[i])) for i in chunk]
        for g in picks:
            hit.append(PlannedScreen(_balanced(gold[g], used, rng), g))
            used += 1
        hits.append([hit[j] for j in rng.permutation(len(hit)).tolist()])
    return hits


def _balanced(images: Sequence[str], k: int, rng: np.random.Generator) -> tuple[str, ...]:
    """The ``k``-th gold screen of a batch: its first image at slot ``k mod len``, the others
    shuffled around it."""
    first, rest = images[0], [images[j] for j in rng.permutation(range(1, len(images))).tolist()]
    slot = k % len(images)
    return (*rest[:slot], first, *rest[slot:])


def _gold_in_hit(n_normal: int, n_gold: int, normal: int) -> int:
    """Gold screens for a HIT of ``n_normal`` normal screens: ``n_gold`` in a full one, and in a
    short last HIT the same ratio, rounded, at least one."""
    return 0 if n_gold == 0 else max(1, round(n_normal * n_gold / normal))
