"""How much of a gallery can any model let a photographer skip? The best case on the sample.

The sample gallery's hidden beauty is what its pixels show (scene and fault) plus a taste term
no image carries (:func:`sample.taste.visible_beauty`). A model that read every factor from the
pixels would predict the visible part exactly: no model of the images can do better. This
bench scores held-out galleries of the demo's kind (the same seeds `beauty demo --holdout`
uses, 1007 upward) with that ideal model, and with the ideal model blurred by noise to the
Spearman of real ones, and reports what `beauty evaluate` reports: the share of the gallery
skipped keeping every one of the top 5% (and 95% of them) with its 95% bootstrap interval.
No images are rendered: the truth table is planned exactly as `beauty images sample` plans it.

Usage: python -m bench.reduction_ceiling [--sizes 1000 3000] [--seeds 10] [--noise 0 0.5]
"""

from __future__ import annotations

import argparse

import numpy as np

from sample.schedule import plan_frames
from sample.taste import beauty, visible_beauty
from training.metrics import bootstrap_interval, metric_set, spearman

FIRST_SEED = 1007  # `beauty demo`'s held-out gallery: its seed (7) + 1000


def _half_width(row: dict[str, float]) -> float:
    return (row["reduction_100_high"] - row["reduction_100_low"]) / 2


def one_gallery(size: int, seed: int, noise: float, reps: int) -> dict[str, float]:
    """The ideal model (plus noise of sd ``noise``) on the held-out gallery of ``seed``."""
    rng = np.random.default_rng(seed)
    frames = plan_frames(size, rng)
    truth = beauty(frames, rng)  # the same draws, in the same order, as the generator makes
    pred = visible_beauty(frames) + np.random.default_rng(0).normal(0.0, noise, size)
    row = {"spearman": spearman(truth, pred)}
    metrics = metric_set(positive_line=0.0)  # the reductions `beauty evaluate` reports
    for key in ("reduction_100", "reduction_95"):
        low, high = bootstrap_interval(metrics[key], truth, pred, reps=reps, seed=0)
        row |= {key: metrics[key](truth, pred), f"{key}_low": low, f"{key}_high": high}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 3000])
    parser.add_argument("--seeds", type=int, default=10, help="galleries per size")
    parser.add_argument("--noise", type=float, nargs="+", default=[0.0, 0.5])
    parser.add_argument("--reps", type=int, default=1000, help="bootstrap resamples")
    args = parser.parse_args()
    print("size  noise  seed  spearman  skip keeping all top 5% [95% CI]  half-width  keeping 95%")
    for size in args.sizes:
        for noise in args.noise:
            rows = []
            for seed in range(FIRST_SEED, FIRST_SEED + args.seeds):
                row = one_gallery(size, seed, noise, args.reps)
                rows.append(row)
                half = _half_width(row)
                print(
                    f"{size:5d}  {noise:4.2f}  {seed}  {row['spearman']:8.3f}  "
                    f"{row['reduction_100']:6.1%} [{row['reduction_100_low']:6.1%}, "
                    f"{row['reduction_100_high']:6.1%}]       {half:6.3f}      "
                    f"{row['reduction_95']:6.1%}"
                )
            point = np.array([r["reduction_100"] for r in rows])
            halves = np.array([_half_width(r) for r in rows])
            print(
                f"{size:5d}  {noise:4.2f}  all   {np.mean([r['spearman'] for r in rows]):8.3f}  "
                f"mean {point.mean():.1%}, sd across galleries {point.std(ddof=1):.3f}, "
                f"median half-width {np.median(halves):.3f}, "
                f"half-width <= 0.10 in {(halves <= 0.10).sum()} of {len(rows)}, "
                f">= 60% in {(point >= 0.60).sum()} of {len(rows)}"
            )


if __name__ == "__main__":
    main()
