"""Could better screens alone lift active 4-up at 8 appearances? Screens chosen from the truth.

The same simulation as ``bench.active_design`` (truth ~ N(0, 1.5^2), honest workers with
s ~ U(0.2, 2.0), 3 workers a screen, 4-up answers fitted as screens), but after a random
first round of 2 appearances the remaining ones are Thompson neighbours drawn around the TRUE
scores with a fixed spread: the best an active planner could hope to know. Prints Kendall's
tau for each spread; compare with random and active 4-up in ``bench.active_design``.

    .venv/bin/python -m bench.active_oracle --images 1000 --seeds 3 --spreads 0.3 0.5 0.8 1.5
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from ranking.active import thompson_neighbours
from ranking.crowd import make_crowd, simulate_votes
from ranking.design import balanced_screens, screens_needed
from ranking.fourup import FourUp, answers_from_votes


def oracle_tau(
    truth: pd.Series, appearances: int, spread: float, seed: int, args: argparse.Namespace
) -> float:
    images = list(truth.index)
    first = balanced_screens(images, 4, screens_needed(len(images), 4, 2), seed)
    rest = thompson_neighbours(
        images,
        4,
        screens_needed(len(images), 4, appearances - 2),
        truth,
        pd.Series(spread, index=truth.index),
        seed + 1,
    )
    crowd = make_crowd(args.workers, spammers=0, seed=seed)
    votes = simulate_votes(truth, crowd, first + rest, "fourup", args.assignments, seed + 2)
    fit = FourUp(alpha=args.alpha).fit(answers_from_votes(votes), images)
    return float(kendalltau(truth.to_numpy(), fit.scores_.reindex(images).to_numpy())[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--assignments", type=int, default=3)
    parser.add_argument("--appearances", type=int, default=8)
    parser.add_argument("--alpha", type=float, default=0.1, help="prior precision of the fit")
    parser.add_argument("--spreads", type=float, nargs="+", default=[0.3, 0.5, 0.8, 1.5])
    args = parser.parse_args()

    rng = np.random.default_rng(12345)
    truth = pd.Series(
        rng.normal(0.0, 1.5, args.images), index=[f"img{i:05d}" for i in range(args.images)]
    )
    print(
        f"{args.images} images, {args.workers} workers, {args.assignments} assignments per "
        f"screen, {args.appearances} appearances, {args.seeds} seeds"
    )
    for spread in args.spreads:
        start = time.perf_counter()
        taus = [
            oracle_tau(truth, args.appearances, spread, seed, args) for seed in range(args.seeds)
        ]
        print(
            f"screens around the truth, spread {spread:.2f}: tau {np.mean(taus):.3f} "
            f"+- {np.std(taus, ddof=1):.3f}  ({time.perf_counter() - start:.0f} s)"
        )


if __name__ == "__main__":
    main()
