"""Accountability bench: does review catch every kind of spammer and spare honest workers?

A simulated 4-up campaign over ``--images`` photos with hidden beauty ~ N(0, 1.5²), gold made
as ``crowd.gold_items`` makes it (a destroyed variant of a photo above the median beside another
variant and two other good photos), packed into HITs by ``ranking.design``. A crowd of honest
workers of varied skill and pace, and a ``--spammers`` share split evenly over the spammer kinds of
``ranking.crowd``, work it in rounds: each active worker takes one HIT a round, then review
runs the policy's pure functions (``ranking.signals.worker_signals`` ->
``crowd.evidence.assess`` -> ``crowd.evidence.judge``) on everything answered so far and
decides the round's assignments. Excluded workers get no more HITs. No server, no ledger.

    .venv/bin/python -m bench.accountability [--seeds 5] [--images 1000] [--workers 100]

Per seed and in all: per spammer kind, the HITs a worker submitted before exclusion and the
share excluded within 3 HITs (recall); honest workers' gold pass rate, the share rejected
(any assignment) and excluded; the share of the paid budget that went to spammers; Kendall's
tau of the final scores (approved answers, excluded workers' answers left out) with the truth.
"""

from __future__ import annotations

import argparse
import time
import warnings
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy.stats import kendalltau

from crowd.evidence import assess, judge
from crowd.truth import variant_truth
from infra.settings import ReviewSettings
from ranking.bradley_terry import BradleyTerry
from ranking.crowd import HONEST_SKILL, SPAM_KINDS, HonestWorker, WorkerModel, answer_seconds
from ranking.design import pack_hits, plan_screens, screens_needed
from ranking.gold import grade, made_gold_screens
from ranking.signals import cross_fitted_scores, worker_signals
from ranking.votes import fourup_pairs

SECONDS_PER_SCREEN = 6.0
WITHIN = 3  # spammers must be excluded within this many HITs


@dataclass
class Outcome:
    """One seed's results."""

    kind_of: dict[str, str]
    hits_done: dict[str, int]
    excluded_after: dict[str, int] = field(default_factory=dict)
    rejected: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    paid: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    gold: dict[str, list[bool]] = field(default_factory=lambda: defaultdict(list))
    tau: float = float("nan")


def make_bench_crowd(n: int, spammers: float, rng: np.random.Generator) -> dict[str, WorkerModel]:
    """Honest workers with skill s ~ U(HONEST_SKILL) and pace ~ U(0.6, 1.6); spammers split evenly
    over the kinds (the first kinds get one more when the split is uneven)."""
    n_spam = round(spammers * n)
    kinds: list[WorkerModel] = [SPAM_KINDS[i % len(SPAM_KINDS)]() for i in range(n_spam)]
    honest: list[WorkerModel] = [
        HonestWorker(float(rng.uniform(*HONEST_SKILL)), float(rng.uniform(0.6, 1.6)))
        for _ in range(n - n_spam)
    ]
    models = kinds + honest
    order = rng.permutation(n)
    return {f"w{i:03d}": models[j] for i, j in enumerate(order.tolist())}


def run_seed(args: argparse.Namespace, seed: int, settings: ReviewSettings) -> Outcome:
    rng = np.random.default_rng(seed)
    images = [f"i{k:04d}" for k in range(args.images)]
    truth = dict(zip(images, rng.normal(0.0, 1.5, args.images).tolist(), strict=True))
    median = float(np.median(list(truth.values())))
    # What the campaign knows of the photos: a pilot's scores, noisy (se about 0.5).
    known = pd.Series({k: v + rng.normal(0.0, 0.5) for k, v in truth.items()})
    good = known[known >= known.quantile(0.5)].index.tolist()
    best = set(known[known >= known.quantile(0.95)].index)
    gold_screens = []
    originals = rng.choice(good, size=args.gold, replace=False).tolist()
    for k, original in enumerate(originals):
        truth[f"v{k:03d}"] = variant_truth(truth[original], median)
    for k, original in enumerate(originals):
        j = (k + 1) % len(originals)
        partner = (f"v{j:03d}", originals[j])
        _, fourup = made_gold_screens(f"v{k:03d}", original, good, rng, best, partner)
        assert fourup is not None
        gold_screens.append(fourup)
    screens = plan_screens(images, "fourup", screens_needed(len(images), 4, args.appearances), seed)
    hits = pack_hits(
        screens, [g.images for g in gold_screens], args.screens_per_hit, args.gold_rate, seed
    )
    crowd = make_bench_crowd(args.workers, args.spammers, rng)
    kind_of = {w: type(m).__name__ for w, m in crowd.items()}
    out = Outcome(kind_of, dict.fromkeys(crowd, 0))
    slots = [args.assignments] * len(hits)
    done: dict[str, set[int]] = defaultdict(set)
    rows: list[tuple[object, ...]] = []
    active = list(crowd)
    assignment = 0
    while active and any(slots):
        this_round: list[tuple[int, str]] = []
        for worker in [active[i] for i in rng.permutation(len(active)).tolist()]:
            hit = next((h for h, left in enumerate(slots) if left and h not in done[worker]), None)
            if hit is None:
                continue
            slots[hit] -= 1
            done[worker].add(hit)
            assignment += 1
            this_round.append((assignment, worker))
            out.hits_done[worker] += 1
            model = crowd[worker]
            for screen in hits[hit]:
                shown = list(screen.images)
                chosen = model.choose(shown, "fourup", truth, rng)
                passed = None
                if screen.gold is not None:
                    g = gold_screens[screen.gold]
                    passed = grade(chosen, g.must_keep, g.must_drop)
                    out.gold[worker].append(passed)
                seconds = answer_seconds(model, shown, "fourup", truth, rng) * SECONDS_PER_SCREEN
                rows.append(
                    (worker, assignment, "fourup", tuple(shown), tuple(chosen), seconds, passed)
                )
        if not this_round:
            break
        judged = pd.DataFrame(
            rows,
            columns=["worker", "assignment", "kind", "shown", "selected", "seconds", "gold_passed"],
        )
        scores = cross_fitted_scores(_votes(judged, set(out.excluded_after)))
        table = worker_signals(
            judged,
            scores,
            all_none_base=settings.all_none_base,
            fast_ratio=settings.fast_ratio,
            fast_base=settings.fast_base,
        )
        assessments = {r["worker"]: assess(r, settings) for r in table.to_dict("records")}
        failed = judged[judged["gold_passed"].eq(False)].groupby("assignment").size().to_dict()
        for a, worker in this_round:
            action, _ = judge(assessments[worker], int(failed.get(a, 0)), settings)
            if action == "reject":
                out.rejected[worker] += 1
            else:
                out.paid[worker] += 1
        for worker in list(active):
            if assessments[worker].exclude:
                out.excluded_after[worker] = out.hits_done[worker]
                active.remove(worker)
    judged = pd.DataFrame(
        rows,
        columns=["worker", "assignment", "kind", "shown", "selected", "seconds", "gold_passed"],
    )
    final = _scores(judged, set(out.excluded_after))
    common = [i for i in images if i in final.index]
    out.tau = float(kendalltau([truth[i] for i in common], final[common].to_numpy())[0])
    return out


def _votes(judged: pd.DataFrame, excluded: set[str]) -> pd.DataFrame:
    """Pairwise votes of the non-gold answers of workers not excluded."""
    keep = judged[judged["gold_passed"].isna() & ~judged["worker"].isin(excluded)]
    votes = []
    answers = zip(keep["worker"], keep["shown"], keep["selected"], strict=True)
    for worker, shown, selected in answers:
        for win, lose in fourup_pairs(shown, selected):
            votes.append((worker, win, lose, win))
    return pd.DataFrame(votes, columns=["worker", "left", "right", "label"])


def _scores(judged: pd.DataFrame, excluded: set[str]) -> pd.Series:
    """Bradley-Terry scores from non-gold answers of workers not excluded."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return BradleyTerry(alpha=0.1, se="diagonal").fit_predict(_votes(judged, excluded))


def summarize(outcomes: Sequence[Outcome]) -> list[str]:
    lines = []
    per_kind: dict[str, list[int | None]] = defaultdict(list)
    honest_pass: list[float] = []
    honest_rejected = honest_excluded = honest_n = 0
    honest_assignments = honest_rejected_assignments = 0
    paid_spam = paid_all = 0
    for o in outcomes:
        for worker, kind in o.kind_of.items():
            paid_all += o.paid[worker]
            if kind == "HonestWorker":
                honest_n += 1
                g = o.gold[worker]
                if g:
                    honest_pass.append(float(np.mean(g)))
                honest_rejected += o.rejected[worker] > 0
                honest_excluded += worker in o.excluded_after
                honest_assignments += o.hits_done[worker]
                honest_rejected_assignments += o.rejected[worker]
            else:
                paid_spam += o.paid[worker]
                per_kind[kind].append(o.excluded_after.get(worker))
    lines.append(f"{'kind':<14}{'workers':>8}{'median HITs':>12}{'max HITs':>9}{'recall':>8}")
    for kind, after in sorted(per_kind.items()):
        caught = [a for a in after if a is not None]
        within = sum(a is not None and a <= WITHIN for a in after) / len(after)
        med = f"{np.median(caught):.0f}" if caught else "-"
        worst = "never" if len(caught) < len(after) else f"{max(caught)}"
        lines.append(f"{kind:<14}{len(after):>8}{med:>12}{worst:>9}{within:>8.0%}")
    lines.append(
        f"honest workers: {honest_n}; median gold pass rate {np.median(honest_pass):.1%} "
        f"(10th percentile {np.percentile(honest_pass, 10):.1%}); "
        f"rejected {honest_rejected / honest_n:.2%} of workers "
        f"({honest_rejected_assignments}/{honest_assignments} assignments); "
        f"excluded {honest_excluded / honest_n:.2%}"
    )
    lines.append(f"budget paid to spammers: {paid_spam / max(paid_all, 1):.2%} of {paid_all} HITs")
    taus = [o.tau for o in outcomes]
    each = ", ".join(f"{t:.3f}" for t in taus)
    lines.append(f"Kendall tau of final scores: {np.mean(taus):.3f} (per seed {each})")
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=100)
    parser.add_argument("--spammers", type=float, default=0.3)
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--appearances", type=int, default=8)
    parser.add_argument("--gold", type=int, default=100, help="made gold variants")
    parser.add_argument("--screens-per-hit", type=int, default=10)
    parser.add_argument("--gold-rate", type=float, default=0.2)
    parser.add_argument("--assignments", type=int, default=3)
    args = parser.parse_args(argv)
    settings = ReviewSettings()
    started = time.monotonic()
    outcomes = [run_seed(args, seed, settings) for seed in range(args.seeds)]
    for line in summarize(outcomes):
        print(line)
    print(f"({time.monotonic() - started:.0f} s, {args.seeds} seeds)")


if __name__ == "__main__":
    main()
