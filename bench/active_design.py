"""How far does an active 4-up design stretch the appearances per image?

Runs, on the simulation without spammers (truth ~ N(0, 1.5^2), honest workers with
s ~ U(0.2, 2.0)), random pairs at 20 appearances per image as the reference, random 4-up and
active 4-up at a range of appearances, and prints Kendall's tau with the truth for each
(mean and sd over seeds), then the fewest active 4-up appearances that reach the reference.

    .venv/bin/python -m bench.active_design --images 1000 --seeds 3 --assignments 3
    .venv/bin/python -m bench.active_design --images 1000 --seeds 3 --method fourup
    .venv/bin/python -m bench.active_design --images 1000 --seeds 5 --workers 100 \
        --method fourup --alpha 0.1 --appearances 8 --trusted 0.3
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from ranking.crowd import make_crowd
from ranking.design import Design
from ranking.methods import names
from ranking.planning import simulate_design


def measure(
    truth: pd.Series,
    design: Design,
    appearances: int,
    active: bool,
    method: str,
    args: argparse.Namespace,
) -> tuple[float, float]:
    taus = []
    for seed in range(args.seeds):
        crowd = make_crowd(args.workers, spammers=0, seed=seed)
        out = simulate_design(
            truth,
            design,
            appearances,
            args.assignments,
            0.2,
            active,
            0.1,
            20,
            crowd,
            seed,
            rounds=args.rounds,
            method=method,
            alpha=args.alpha,
            trusted=args.trusted if active else 1.0,
        )
        taus.append(out["tau"])
    return float(np.mean(taus)), float(np.std(taus, ddof=1)) if len(taus) > 1 else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--assignments", type=int, default=3)
    parser.add_argument("--workers", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--reference", type=int, default=20, help="appearances of random pairs")
    parser.add_argument("--appearances", type=int, nargs="+", default=[8, 10, 12, 14, 16])
    methods = names()
    parser.add_argument(
        "--method",
        choices=methods,
        default="bt",
        help="fit of the 4-up designs (fourup: answers as whole screens, ranking.fourup)",
    )
    parser.add_argument(
        "--reference-method", choices=methods, default="bt", help="fit of the random pairs"
    )
    parser.add_argument("--alpha", type=float, default=1.0, help="prior precision of the fits")
    parser.add_argument(
        "--trusted",
        type=float,
        default=1.0,
        help="share of the crowd each active round after the first is offered to",
    )
    args = parser.parse_args()

    rng = np.random.default_rng(12345)
    truth = pd.Series(
        rng.normal(0.0, 1.5, args.images), index=[f"img{i:05d}" for i in range(args.images)]
    )

    def run(design: Design, appearances: int, active: bool) -> float:
        start = time.perf_counter()
        method = args.method if design == "fourup" else args.reference_method
        mean, sd = measure(truth, design, appearances, active, method, args)
        mode = "active" if active else "random"
        seconds = time.perf_counter() - start
        print(
            f"{design:8} {mode:6} {appearances:3d}  tau {mean:.3f} +- {sd:.3f}  ({seconds:.0f} s)"
        )
        return mean

    print(
        f"{args.images} images, {args.workers} workers, {args.assignments} assignments per "
        f"screen, {args.seeds} seeds, active in {args.rounds} rounds offered to "
        f"{args.trusted:.0%} of the crowd; fits: pairs {args.reference_method}, "
        f"4-up {args.method}"
    )
    reference = run("pairwise", args.reference, False)
    reached = None
    for appearances in sorted(args.appearances):
        run("fourup", appearances, False)
        if run("fourup", appearances, True) >= reference and reached is None:
            reached = appearances
    if reached is None:
        print(f"active 4-up did not reach random pairs at {args.reference} ({reference:.3f})")
    else:
        print(f"active 4-up reaches random pairs at {args.reference} with {reached} appearances")


if __name__ == "__main__":
    main()
