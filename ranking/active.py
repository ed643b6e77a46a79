"""Active design: the next batch's screens, where comparisons inform the ranking most.

Thompson-sampled neighbours. Each image's score is drawn from its posterior,
``N(score, se^2)``; the images are sorted by the draws and cut into windows of adjacent
images, one window per screen. An image thus meets the images it could still trade places
with: a window spans about the current uncertainty. That is where a comparison pays for a
rank correlation. Images far apart in score are already ordered, and images whose true
scores nearly tie cannot be ordered by any budget: windows of truly adjacent images (the
limit of certainty) rank worse than random screens in simulation, so the draws' spread is
what makes the design work. As the standard errors shrink, the windows narrow with them.

Thompson, W. R. (1933). On the likelihood that one unknown probability exceeds another in
view of the evidence of two samples. *Biometrika* 25(3/4), 285-294.

Coverage stays balanced: every image still appears the same number of times give or take
one, and the extra appearances go to the images with the largest standard errors.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from ranking.screens import checked_ids


def thompson_neighbours(
    images: Sequence[str],
    size: int,
    n_screens: int,
    scores: pd.Series,
    se: pd.Series,
    seed: int,
) -> list[tuple[str, ...]]:
    """Screens of adjacent images in a Thompson draw of the scores.

    Parameters
    ----------
    images : sequence of str
        Distinct image ids to show.
    size : int
        Images per screen (2 for pairs, 4 for 4-up).
    n_screens : int
        Screens to make.
    scores, se : Series indexed by image
        Current scores and their standard errors, best from a fit with a real prior (such as
        ``BradleyTerry(alpha=1)``): under a vague one, images that won or lost every comparison
        of a sparse first round get huge scores and errors, and the draws turn nearly random
        (in simulation, half the gain over random screens is lost). An image missing from
        them, or with a missing or infinite standard error, is drawn around the mean score with
        the largest known standard error (1 when none is known).
    seed : int
        Random seed.

    Returns
    -------
    list of tuple of str
        Screens in plan order (neighbouring screens hold neighbouring images), each in random
        shown order, no image twice on a screen.
    """
    ids = checked_ids(images, size, n_screens)
    n = len(ids)
    rng = np.random.default_rng(seed)
    mu, sd = _beliefs(ids, scores, se)

    full, extra = divmod(n_screens * size, n)
    by_doubt = np.lexsort((rng.random(n), -sd))
    counts = np.full(n, full)
    counts[by_doubt[:extra]] += 1

    # One layer per appearance, each a fresh draw; layers alternate direction so that where
    # one layer's last screen runs into the next layer, it still joins images of like scores.
    stream: list[int] = []
    for layer in range(full + (extra > 0)):
        members = np.flatnonzero(counts > layer)
        order = members[np.argsort(rng.normal(mu[members], sd[members]))]
        stream.extend((order if layer % 2 == 0 else order[::-1]).tolist())
    screens = [stream[i : i + size] for i in range(0, len(stream), size)]
    _separate_repeats(screens)
    for screen in screens:
        rng.shuffle(screen)
    return [tuple(ids[i] for i in screen) for screen in screens]


def _beliefs(ids: list[str], scores: pd.Series, se: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Posterior means and standard deviations, filling unknown images with a vague prior."""
    mu = pd.to_numeric(scores.reindex(ids), errors="coerce").to_numpy(dtype=float)
    sd = pd.to_numeric(se.reindex(ids), errors="coerce").to_numpy(dtype=float)
    known_mu = np.isfinite(mu)
    mu[~known_mu] = mu[known_mu].mean() if known_mu.any() else 0.0
    known_sd = np.isfinite(sd) & (sd >= 0)
    sd[~known_sd] = sd[known_sd].max() if known_sd.any() else 1.0
    return mu, sd


def _separate_repeats(screens: list[list[int]]) -> None:
    """Where a screen holds an image twice, swap one copy with an image of the nearest screen
    that lacks it, in place; every image keeps its count."""
    for s, screen in enumerate(screens):
        while len(set(screen)) < len(screen):
            twice = next(x for i, x in enumerate(screen) if x in screen[:i])
            if not _swap_nearby(screens, s, twice):
                raise ValueError("too few images to keep repeats off a screen")


def _swap_nearby(screens: list[list[int]], s: int, image: int) -> bool:
    """Swap one copy of ``image`` on screen ``s`` with an image of the nearest screen that can
    take it; False when no screen can."""
    screen = screens[s]
    for d in range(1, len(screens)):
        for t in (s + d, s - d):
            if not 0 <= t < len(screens) or image in screens[t]:
                continue
            other = screens[t]
            for j, candidate in enumerate(other):
                if candidate not in screen:
                    k = len(screen) - 1 - screen[::-1].index(image)
                    screen[k], other[j] = candidate, image
                    return True
    return False
