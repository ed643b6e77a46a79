"""Thurstone against Bradley-Terry on one simulated realistic campaign: time and Kendall tau.

``--images`` photos with merit ~ N(0, 1), ``--per-photo`` answers a photo on random pairs from
the crowd of ``bench.active_realistic``; fits Bradley-Terry, Thurstone given the crowd, and
Thurstone calibrating the crowd on the votes (what ``beauty rank --method thurstone`` does).

    .venv/bin/python -m bench.thurstone --images 2000 20000
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from bench.active_realistic import CROWD
from ranking.bradley_terry import BradleyTerry
from ranking.realistic import simulate_campaign_votes
from ranking.thurstone import Thurstone


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, nargs="+", default=[2000])
    parser.add_argument("--per-photo", type=int, default=20)
    parser.add_argument("--workers", type=int, default=200)
    args = parser.parse_args()
    print("images  votes  fit                      seconds  tau")
    for n in args.images:
        rng = np.random.default_rng(0)
        ids = np.array([f"p{i:06d}" for i in range(n)])
        merit = pd.Series(rng.normal(0.0, 1.0, n), index=ids)
        a, b = rng.integers(n, size=(2, n * args.per_photo // 2))
        keep = a != b
        pairs = list(zip(ids[a[keep]], ids[b[keep]], strict=True))
        votes = simulate_campaign_votes(merit, CROWD, pairs, args.workers, seed=0)
        fits: dict[str, BradleyTerry | Thurstone] = {
            "Bradley-Terry": BradleyTerry(alpha=1.0),
            "Thurstone, crowd given": Thurstone(CROWD),
            "Thurstone, calibrated": Thurstone(),
        }
        for name, model in fits.items():
            start = time.perf_counter()
            scores = model.fit_predict(votes, items=list(ids))
            seconds = time.perf_counter() - start
            tau = kendalltau(merit, scores.reindex(ids))[0]
            print(f"{n:6d} {len(votes):6d}  {name:23} {seconds:7.1f}  {tau:.3f}")


if __name__ == "__main__":
    main()
