"""The review policy's pure rules, and the policy against a simulated crowd of every kind."""

from __future__ import annotations

import argparse
import itertools
import math
import re

import numpy as np
import pytest

from bench.accountability import run_seed
from crowd.evidence import assess, judge
from infra.settings import ReviewSettings
from ranking.crowd import SPAM_KINDS

SETTINGS = ReviewSettings()
CLEAN = {
    "worker": "w",
    "screens": 40,
    "gold_seen": 40,
    "gold_passed": 40,
    "gold_lower": 0.91,
    "gold_upper": 1.0,
    "first_picks": 15,
    "first_trials": 60,
    "first_expected": 15.0,
    "position_p": 0.5,
    "median_seconds": 6.0,
    "crowd_seconds": 6.0,
    "speed_ratio": 1.0,
    "fast_screens": 0,
    "fast_p": 1.0,
    "fourup_screens": 40,
    "all_kept": 0,
    "none_kept": 0,
    "all_p": 1.0,
    "none_p": 1.0,
    "agreement_decisions": 120,
    "agreement": 0.8,
    "agreement_lower": 0.72,
    "agreement_upper": 0.86,
    "crowd_agreement": 0.8,
    "reliability": math.nan,
}
MIDDLING_GOLD = {"gold_seen": 8, "gold_passed": 6, "gold_lower": 0.41, "gold_upper": 0.93}
# One strong and one weak variant of every signal.
BAD = {
    "gold": (
        {"gold_passed": 0, "gold_lower": 0.0, "gold_upper": 0.32},
        {"gold_passed": 22, "gold_lower": 0.4, "gold_upper": 0.69},
    ),
    "position": ({"position_p": 1e-12}, {"position_p": 1e-5}),
    "keep-all": ({"all_kept": 40, "all_p": 1e-20}, {"all_kept": 20, "all_p": 1e-5}),
    "keep-none": ({"none_kept": 40, "none_p": 1e-20}, {"none_kept": 20, "none_p": 1e-5}),
    # with gold that does not show the worker looks (6 of 8: lower bound 41%)
    "agreement": (
        {"agreement": 0.45, "agreement_upper": 0.53, **MIDDLING_GOLD},
        {"agreement": 0.55, "agreement_upper": 0.62, **MIDDLING_GOLD},
    ),
    "speed": (
        None,
        {"speed_ratio": 0.2, "median_seconds": 1.2, "fast_screens": 40, "fast_p": 1e-20},
    ),
    "reliability": (None, {"reliability": 0.05}),
}


def test_a_clean_record_is_approved_with_a_bonus_and_readable_words() -> None:
    a = assess(CLEAN, SETTINGS)
    assert not a.findings and a.bonus
    action, reason = judge(a, 0, SETTINGS)
    assert action == "approve" and reason.startswith("passed 40 of 40 check screens")


@pytest.mark.parametrize("signal", sorted(BAD))
def test_each_signal_alone_excludes_but_never_rejects(signal: str) -> None:
    strong, weak = BAD[signal]
    for change, is_strong in ((strong, True), (weak, False)):
        if change is None:
            continue
        a = assess({**CLEAN, **change}, SETTINGS)
        assert [f.signal for f in a.findings] == [signal], a.findings
        assert a.findings[0].strong is is_strong and a.exclude
        if signal == "gold" and is_strong:
            continue  # strong gold with gold failed in this HIT is the one lone reject
        for failed_here in (0, 2):
            action, reason = judge(a, failed_here, SETTINGS)
            assert action == "approve", f"{signal} alone rejected: {reason}"
            assert "excluded from further HITs" in reason


def test_rejection_needs_strong_evidence_that_touches_the_assignment() -> None:
    strong = {k: v[0] for k, v in BAD.items() if v[0] is not None}
    weak = {k: v[1] for k, v in BAD.items()}
    for a_name, b_name in itertools.combinations(sorted(strong), 2):
        if {a_name, b_name} == {"keep-all", "keep-none"}:
            continue
        a = assess({**CLEAN, **strong[a_name], **strong[b_name]}, SETTINGS)
        assert judge(a, 0, SETTINGS)[0] == "approve", "two strong findings, no failed gold here"
        assert judge(a, 1, SETTINGS)[0] == "reject"
    everything_weak = {k: v for change in weak.values() for k, v in change.items()}
    del everything_weak["all_kept"], everything_weak["all_p"]  # keep-none and keep-all clash
    a = assess({**CLEAN, **everything_weak}, SETTINGS)
    assert a.strong == 0 and len(a.findings) >= 5
    assert judge(a, 3, SETTINGS)[0] == "approve", "weak evidence alone must never reject"
    gold = assess({**CLEAN, **strong["gold"]}, SETTINGS)
    assert judge(gold, 0, SETTINGS)[0] == "approve" and judge(gold, 1, SETTINGS)[0] == "reject"


def test_reasons_speak_to_the_worker() -> None:
    for strong, weak in BAD.values():
        for change in (strong, weak):
            if change is None:
                continue
            for f in assess({**CLEAN, **change}, SETTINGS).findings:
                assert not re.search(r"\bp=|Wilson|nan|_", f.text), f.text
                assert re.search(r"\d", f.text) and len(f.text) < 200, f.text


def test_the_policy_catches_every_spammer_kind_and_spares_honest_workers() -> None:
    args = argparse.Namespace(
        images=400,
        workers=36,
        spammers=1 / 3,
        appearances=6,
        gold=40,
        screens_per_hit=10,
        gold_rate=0.2,
        assignments=3,
    )
    out = run_seed(args, 3, SETTINGS)
    kinds = {k.__name__ for k in SPAM_KINDS}
    assert set(out.kind_of.values()) == kinds | {"HonestWorker"}
    honest_excluded = []
    for worker, kind in sorted(out.kind_of.items()):
        if kind == "HonestWorker":
            assert out.rejected[worker] == 0, f"honest {worker} rejected"
            honest_excluded += [worker] if worker in out.excluded_after else []
        else:
            after = out.excluded_after.get(worker)
            assert after is not None and after <= 3, f"{kind} {worker} not excluded in 3 HITs"
    # 24 honest workers of skill down to 0.5: one unlucky exclusion is within the 2% target's
    # noise at this size; two are not.
    assert len(honest_excluded) <= 1, f"honest workers excluded: {honest_excluded}"
    honest = [np.mean(g) for w, g in out.gold.items() if out.kind_of[w] == "HonestWorker"]
    assert np.median(honest) >= 0.9, f"honest median gold pass {np.median(honest):.0%}"
