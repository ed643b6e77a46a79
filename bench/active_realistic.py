"""Random against active pairs on a crowd that behaves like real people, or on a replay.

Simulation (default): 100 photos with merit ~ N(0, 1), a :class:`ranking.realistic.CrowdNoise`
crowd (defaults below: about as noisy as the recorded MTurk campaign, where random pairs reach
tau 0.75 at 50 votes a photo), rounds of 500 pair votes (10 a photo), the first random; each
design over ``--seeds`` seeds. Prints mean Kendall tau with the true merit per budget, the
votes a photo each design needs to reach random's tau at ``--reference`` votes a photo and to
reach ``--target``, and the share of active rounds the fallback rule turned random.

Replay (``--replay votes.csv``, columns ``worker, left, right, label`` with image ids): the
crowd is calibrated on the file, and each design replays its recorded answers without
replacement; tau is measured against the fit of all recorded votes (by ``--method``).

    .venv/bin/python -m bench.active_realistic --seeds 5
    .venv/bin/python -m bench.active_realistic --seeds 5 --replay votes.csv --rounds 5

``--write-votes FILE`` writes a sample campaign of the simulated crowd instead (every pair of
photos answered ``--per-pair`` times, as the recorded MTurk campaign), to calibrate or replay.
"""

from __future__ import annotations

import argparse
import itertools
import time

import numpy as np
import pandas as pd

from ranking.campaign import RecordedAnswers, SimulatedCrowd, run_campaign
from ranking.informative import current_fit
from ranking.realistic import CrowdNoise, calibrate, simulate_campaign_votes

CROWD = CrowdNoise(scale=1.0, pair_sd=0.8, worker_sd=0.5, lapse=0.3, tie_max=0.3, tie_width=0.5)


def reach(per_photo: np.ndarray, tau: np.ndarray, level: float) -> float:
    """Votes a photo where the tau curve first reaches ``level`` (linear between rounds)."""
    above = np.flatnonzero(tau >= level)
    if above.size == 0:
        return float("nan")
    k = int(above[0])
    if k == 0:
        return float(per_photo[0])
    x0, x1, y0, y1 = per_photo[k - 1], per_photo[k], tau[k - 1], tau[k]
    return float(x0 + (level - y0) / (y1 - y0) * (x1 - x0))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--round-votes", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--workers", type=int, default=30)
    parser.add_argument("--reference", type=float, default=50, help="votes a photo of random")
    parser.add_argument("--target", type=float, default=0.84)
    parser.add_argument("--focus", type=int, default=None, help="top tier to order first")
    parser.add_argument("--designs", nargs="+", default=["random", "thompson", "active"])
    parser.add_argument("--method", default="bt", help="aggregation method the rounds fit")
    parser.add_argument("--replay", help="a votes CSV to replay instead of simulating")
    parser.add_argument("--write-votes", help="write a sample campaign here and stop")
    parser.add_argument("--per-pair", type=int, default=5)
    for name, value in CROWD.as_dict().items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=float, default=value)
    args = parser.parse_args()
    noise = CrowdNoise(**{k: getattr(args, k) for k in CROWD.as_dict()})
    recorded = None
    if args.write_votes:
        rng = np.random.default_rng(999)
        ids = [f"p{i:03d}" for i in range(args.images)]
        merit = pd.Series(rng.normal(0.0, 1.0, args.images), index=ids)
        pairs = list(itertools.combinations(ids, 2)) * args.per_pair
        votes = simulate_campaign_votes(merit, noise, pairs, args.workers, seed=999)
        votes.to_csv(args.write_votes, index=False)
        print(f"{len(votes)} votes written to {args.write_votes}; crowd {noise}")
        return
    if args.replay:
        recorded = pd.read_csv(args.replay, dtype=str, keep_default_na=False)
        calibration = calibrate(recorded)
        noise = calibration.noise
        print(f"calibrated on {calibration.votes} votes, {calibration.pairs} pairs: {noise}")
        images = sorted(set(recorded["left"]) | set(recorded["right"]))
        reference = current_fit(recorded, images, 1.0, args.method, noise).scores
    rounds = [args.round_votes] * args.rounds
    start = time.perf_counter()
    curves: dict[str, np.ndarray] = {}
    fallback: dict[str, float] = {}
    per_photo = np.array([])
    per_seed: dict[str, np.ndarray] = {}
    for design in args.designs:
        taus, actives = [], []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            if recorded is None:
                rng = np.random.default_rng(1000 + seed)
                ids = [f"p{i:03d}" for i in range(args.images)]
                reference = pd.Series(rng.normal(0.0, 1.0, args.images), index=ids)
                answer = SimulatedCrowd(reference, noise, args.workers, seed)
            else:
                answer = RecordedAnswers(recorded, seed)  # type: ignore[assignment]
            images = list(reference.index)
            out = run_campaign(
                images, reference, answer, design, rounds, noise, seed, focus=args.focus,
                method=args.method,
            )  # fmt: skip
            taus.append(out["tau_top" if args.focus else "tau"].to_numpy())
            actives.append(out["active"].to_numpy()[1:])
            per_photo = 2 * out["votes"].to_numpy() / len(images)
        per_seed[design] = np.array(taus)
        curves[design] = np.mean(taus, axis=0)
        sd = np.std(taus, axis=0, ddof=1) if args.seeds > 1 else np.zeros(len(rounds))
        curves[design + " sd"] = sd
        if design == "active":
            fallback[design] = 1 - float(np.mean(actives))
    table = pd.DataFrame(curves, index=np.round(per_photo).astype(int)).T
    print(
        f"{args.images if recorded is None else len(reference)} photos, {args.seeds} seeds, "
        f"rounds of {args.round_votes} votes, {args.method} fits, crowd {noise}"
    )
    print("tau" + (f" over the top {args.focus}" if args.focus else "") + " by votes a photo:")
    print(table.round(3).to_string())
    if "random" not in curves:
        print(f"({time.perf_counter() - start:.0f} s; add random to --designs to compare)")
        return
    base = float(np.interp(args.reference, per_photo, curves["random"]))
    print(f"random at {args.reference:g} votes a photo: tau {base:.3f}")
    for design in args.designs:
        need = reach(per_photo, curves[design], base)
        target = reach(per_photo, curves[design], args.target)
        print(
            f"{design:9} reaches {base:.3f} at {need:.1f} votes a photo "
            f"({1 - need / args.reference:+.0%} fewer), {args.target} at {target:.1f}"
        )
    if "random" in per_seed and "active" in per_seed and args.seeds > 1:
        diff = per_seed["active"] - per_seed["random"]
        se = diff.std(axis=0, ddof=1) / np.sqrt(args.seeds)
        below = [int(x) for x, m, e in zip(per_photo, diff.mean(0), se, strict=True) if m < -2 * e]
        print("active - random, paired by seed: " + " ".join(f"{m:+.3f}" for m in diff.mean(0)))
        print(f"  budgets where active is below random by more than 2 se: {below or 'none'}")
    for design, share in fallback.items():
        print(f"{design}: the fallback rule made {share:.0%} of the later rounds random")
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
