"""How many votes any design could save over random pairs on a realistic crowd: bound and test.

Prints :func:`ranking.headroom.headroom` for the crowd of ``bench.active_realistic`` (the most
votes choosing pairs, routing batches to the best workers, or both could save, from the
information one answer carries), then runs the campaign of that bench (100 photos, rounds of
500 pair votes, the first random, Bradley-Terry with ``alpha=1``) with designs that *know the
truth*, the best any planner could do:

- ``oracle pairs``: each round's balanced random pairs rewired (two pairs swap partners, so
  every photo keeps its appearances) toward the pairs most informative under the true merit,
  a pair asked before counting less;
- ``oracle routing``: random pairs, every round after the first answered only by the
  ``--share`` of workers with the highest true discrimination;
- ``learned routing``: the same share chosen by the discriminations Crowd-BT learns from the
  votes so far (what ``beauty hits plan --trusted`` does);
- ``active``: the planner of :mod:`ranking.informative`, alone and with learned routing
  (``beauty hits plan --active --trusted``), for reference.

For each, the votes a photo it needs to reach random's tau at ``--reference`` votes a photo.

    .venv/bin/python -m bench.active_headroom --seeds 8
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Sequence

import numpy as np
import pandas as pd

from bench.active_realistic import CROWD, reach
from ranking.campaign import SimulatedCrowd, run_campaign
from ranking.headroom import answer_information, headroom
from ranking.realistic import CrowdNoise
from ranking.reliability import CrowdBT
from ranking.routing import trusted_workers

SWEEPS = 8  # partner swaps tried per pair in a round


class OraclePairs:
    """Answers a round after rewiring its pairs toward the informative ones of the truth."""

    def __init__(self, crowd: SimulatedCrowd, noise: CrowdNoise):
        self.crowd = crowd
        gap = np.abs(crowd.merit[:, None] - crowd.merit[None, :])
        self.value = np.log(np.maximum(answer_information(gap, noise), 1e-300))
        self.asked = np.zeros_like(gap)
        self.rounds = 0

    def __call__(self, pairs: Sequence[tuple[str, str]], seed: int) -> pd.DataFrame:
        pos = self.crowd.pos
        left = np.array([pos[a] for a, _ in pairs])
        right = np.array([pos[b] for _, b in pairs])
        if self.rounds > 0:
            self._rewire(left, right, np.random.default_rng(seed))
        self.rounds += 1
        np.add.at(self.asked, (left, right), 1)
        np.add.at(self.asked, (right, left), 1)
        ids = self.crowd.ids
        return self.crowd([(ids[a], ids[b]) for a, b in zip(left, right, strict=True)], seed)

    def _rewire(self, left: np.ndarray, right: np.ndarray, rng: np.random.Generator) -> None:
        count = self.asked.copy()
        np.add.at(count, (left, right), 1)
        np.add.at(count, (right, left), 1)

        def worth(a: int, b: int, extra: int) -> float:
            # The pair effect is shared by a pair's answers: each repeat is worth less.
            return -np.inf if a == b else self.value[a, b] - 2 * np.log(count[a, b] + extra)

        n = left.size
        for p, q in rng.integers(n, size=(SWEEPS * n, 2)):
            a, b, c, d = left[p], right[p], left[q], right[q]
            if p == q or len({a, b, c, d}) < 4:
                continue
            if worth(a, d, 1) + worth(c, b, 1) > worth(a, b, 0) + worth(c, d, 0):
                for x, y, k in ((a, b, -1), (c, d, -1), (a, d, 1), (c, b, 1)):
                    count[x, y] += k
                    count[y, x] += k
                right[p], right[q] = d, b

    def available(self) -> None:
        return None


class Routed:
    """Answers every round after the first by the best ``share`` of the workers: by true
    discrimination (``learned=False``) or by Crowd-BT's from the votes so far."""

    def __init__(self, crowd: SimulatedCrowd, share: float, learned: bool):
        self.crowd, self.share, self.learned = crowd, share, learned
        self.votes: list[pd.DataFrame] = []

    def __call__(self, pairs: Sequence[tuple[str, str]], seed: int) -> pd.DataFrame:
        got = self.crowd(pairs, seed)
        self.votes.append(got)
        if self.learned:
            table = pd.concat(self.votes, ignore_index=True)
            fit = CrowdBT(alpha=1.0, se="diagonal").fit(table, items=self.crowd.ids)
            reliability = fit.discrimination_
        else:
            reliability = pd.Series(self.crowd.s, index=self.crowd.workers)
        self.crowd.offer(trusted_workers(reliability, self.share))
        return got

    def available(self) -> None:
        return None


def _answerer(
    design: str, crowd: SimulatedCrowd, share: float
) -> SimulatedCrowd | OraclePairs | Routed:
    if design == "oracle pairs":
        return OraclePairs(crowd, CROWD)
    if design.endswith("routing"):
        return Routed(crowd, share, learned=design != "oracle routing")
    return crowd


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--round-votes", type=int, default=500)
    parser.add_argument("--workers", type=int, default=30)
    parser.add_argument("--share", type=float, default=0.3)
    parser.add_argument("--reference", type=float, default=50, help="votes a photo of random")
    args = parser.parse_args()
    start = time.perf_counter()
    rng = np.random.default_rng(0)
    bound = headroom(rng.normal(0.0, 1.0, 2000), CROWD, args.share)
    print(f"crowd {CROWD}")
    print(
        f"bound: one answer informs most at a merit gap of {bound.best_gap:.2f}; a random "
        f"pair's answer carries {bound.random_share:.0%} of that, so choosing pairs saves at "
        f"most {bound.pairs:.0%} of the votes; routing to the best {bound.share:.0%} of "
        f"workers at most {bound.routing:.0%}; both at most {bound.both:.0%}"
    )
    designs = [
        "random",
        "oracle pairs",
        "oracle routing",
        "learned routing",
        "active",
        "active, learned routing",
    ]
    taus: dict[str, list[np.ndarray]] = {d: [] for d in designs}
    per_photo = np.array([])
    for seed in range(args.seeds):
        truth_rng = np.random.default_rng(1000 + seed)
        ids = [f"p{i:03d}" for i in range(args.images)]
        merit = pd.Series(truth_rng.normal(0.0, 1.0, args.images), index=ids)
        for design in designs:
            answer = _answerer(design, SimulatedCrowd(merit, CROWD, args.workers, seed), args.share)
            out = run_campaign(
                ids,
                merit,
                answer,
                "active" if design.startswith("active") else "random",
                [args.round_votes] * args.rounds,
                CROWD,
                seed,
            )
            taus[design].append(out["tau"].to_numpy())
            per_photo = 2 * out["votes"].to_numpy() / args.images
    curves = {d: np.mean(t, axis=0) for d, t in taus.items()}
    table = pd.DataFrame(curves, index=np.round(per_photo).astype(int)).T
    print(f"{args.seeds} seeds; tau with the true merit by votes a photo:")
    print(table.round(3).to_string())
    base = float(np.interp(args.reference, per_photo, curves["random"]))
    for design in designs:
        need = reach(per_photo, curves[design], base)
        diff = np.array(taus[design]) - np.array(taus["random"])
        at = int(np.argmin(np.abs(per_photo - args.reference)))
        se = diff[:, at].std(ddof=1) / np.sqrt(args.seeds) if args.seeds > 1 else float("nan")
        print(
            f"{design:23} reaches random's {base:.3f} at {need:5.1f} votes a photo "
            f"({1 - need / args.reference:+.0%} fewer); minus random at "
            f"{per_photo[at]:.0f}: {diff[:, at].mean():+.3f} (se {se:.3f})"
        )
    print(f"({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
