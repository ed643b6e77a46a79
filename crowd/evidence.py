"""Weighing one worker's review signals: findings in plain words, and what they warrant.

Pure functions of one row of :func:`ranking.signals.worker_signals` and the
:class:`~infra.settings.ReviewSettings`; the review policy (:mod:`crowd.review`), the QA report
and the accountability bench all call them, so one set of rules decides everywhere.

Each signal gives at most one :class:`Finding`. A finding is *strong* when the evidence would
be very unlikely from anyone looking at the photos:

- gold: Wilson upper bound under ``exclude_below`` (strong under ``reject_below``);
- position: first-position picks with an exact tail under ``alpha`` (strong under
  ``strong_alpha``);
- keep all / keep none on 4-up screens: exact binomial tail against ``all_none_base`` under
  ``alpha`` (strong under ``strong_alpha``);
- agreement with the consensus: Wilson upper bound under chance plus ``agreement_share`` of
  the median worker's lead over chance (strong under ``strong_agreement_share`` of it), so the
  line follows how well anyone can agree with the consensus as it stands; not counted against a
  worker whose gold lower bound is over ``looking_above`` (gold shows they look: a low-skill
  honest worker, not a clicker);
- speed: a median time per screen under ``fast_ratio`` of the crowd's, or screens answered in
  under that time with an exact tail against ``fast_base`` under ``speed_alpha``; never strong
  (some careful people are quick, so it only excludes);
- learned reliability under ``reliability_below``; never strong (a model's estimate);
- screens marked "could not load": exact binomial tail against the larger of
  ``unloaded_base`` and the crowd's own rate under ``alpha``; never strong (connections do
  fail), but a worker who skips every screen that way is excluded like any other who does not
  look.

Non-gold signals count only after ``min_screens`` answers, gold after ``min_gold_for_verdict``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from scipy.stats import binom

from infra.settings import ReviewSettings

Action = Literal["approve", "reject"]


@dataclass(frozen=True)
class Finding:
    """One signal that crossed its line, in words a worker understands."""

    signal: str
    strong: bool
    text: str


@dataclass(frozen=True)
class Assessment:
    """A worker's findings, their gold record in words, and the lines they are close to."""

    worker: str
    findings: tuple[Finding, ...]
    gold: str
    near: tuple[str, ...]
    bonus: bool
    gold_seen: int = 0

    @property
    def exclude(self) -> bool:
        return bool(self.findings)

    @property
    def strong(self) -> int:
        return sum(f.strong for f in self.findings)

    def has(self, signal: str, *, strong: bool = False) -> bool:
        return any(f.signal == signal and (f.strong or not strong) for f in self.findings)


def _num(row: Mapping[Any, Any], key: str) -> float:
    value = row.get(key)
    try:
        out = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return math.nan
    return out


def _int(row: Mapping[Any, Any], key: str) -> int:
    value = _num(row, key)
    return 0 if math.isnan(value) else int(value)


def assess(row: Mapping[Any, Any], settings: ReviewSettings) -> Assessment:
    """Findings for one worker's signals (a row of :func:`ranking.signals.worker_signals`)."""
    s = settings
    findings: list[Finding] = []
    near: list[str] = []
    screens = _int(row, "screens")
    enough = screens >= s.min_screens

    seen, passed = _int(row, "gold_seen"), _int(row, "gold_passed")
    g_low, g_up = _num(row, "gold_lower"), _num(row, "gold_upper")
    gold = (
        f"passed {passed} of {seen} check screens with a known answer "
        f"(95% interval {g_low:.0%}-{g_up:.0%})"
        if seen
        else "no check screens answered yet"
    )
    if seen >= s.min_gold_for_verdict:
        if g_up < s.exclude_below:
            findings.append(
                Finding(
                    "gold",
                    g_up < s.reject_below,
                    f"{gold}; careful workers pass at least {s.exclude_below:.0%}",
                )
            )
        elif g_up < s.exclude_below + s.near:
            near.append(f"gold upper bound {g_up:.0%}, line {s.exclude_below:.0%}")

    first, trials = _int(row, "first_picks"), _int(row, "first_trials")
    expected, p = _num(row, "first_expected"), _num(row, "position_p")
    if enough and trials and not math.isnan(p):
        if p < s.alpha:
            findings.append(
                Finding(
                    "position",
                    p < s.strong_alpha,
                    f"chose the photo shown first {first} of {trials} times where about "
                    f"{expected:.0f} is usual (the photos' order is random)",
                )
            )
        elif p < s.alpha * 100:
            near.append(f"first-position picks {first}/{trials} (p={p:.1g}, line {s.alpha:g})")

    n4 = _int(row, "fourup_screens")
    for signal, key, words in (
        ("keep-all", "all", "kept every photo"),
        ("keep-none", "none", "kept no photo"),
    ):
        count, tail = _int(row, f"{key}_kept"), _num(row, f"{key}_p")
        if not enough or not n4 or math.isnan(tail):
            continue
        if tail < s.alpha:
            findings.append(
                Finding(
                    signal,
                    tail < s.strong_alpha,
                    f"{words} on {count} of {n4} four-photo screens",
                )
            )
        elif tail < s.alpha * 100:
            near.append(f"{words} on {count}/{n4} screens (p={tail:.1g}, line {s.alpha:g})")

    ratio, median = _num(row, "speed_ratio"), _num(row, "median_seconds")
    crowd, rushed = _num(row, "crowd_seconds"), _int(row, "fast_screens")
    fast_p = _num(row, "fast_p")
    if enough and not math.isnan(fast_p):
        if fast_p < s.speed_alpha or ratio < s.fast_ratio:
            findings.append(
                Finding(
                    "speed",
                    False,
                    f"answered {rushed} of {screens} screens in under {s.fast_ratio * crowd:.1f} s "
                    f"(a median {median:.1f} s a screen; others take {crowd:.1f} s)",
                )
            )
        elif fast_p < s.speed_alpha * 100:
            near.append(f"{rushed}/{screens} screens rushed, median {ratio:.0%} of the crowd's")

    decisions, agreement = _int(row, "agreement_decisions"), _num(row, "agreement")
    a_up, lead = _num(row, "agreement_upper"), _num(row, "crowd_agreement") - 0.5
    looks = seen >= s.min_gold_for_verdict and g_low > s.looking_above
    if enough and decisions and not math.isnan(a_up) and lead > 0 and not looks:
        line = 0.5 + s.agreement_share * lead
        if a_up < line:
            findings.append(
                Finding(
                    "agreement",
                    a_up < 0.5 + s.strong_agreement_share * lead,
                    f"agreed with the other workers' judgement on {agreement:.0%} of "
                    f"{decisions} keep-or-leave choices, where most workers agree on "
                    f"{lead + 0.5:.0%} (clicking at random gives 50%)",
                )
            )
        elif a_up < line + s.near:
            near.append(f"agreement {agreement:.0%} (upper {a_up:.0%}, line {line:.0%})")

    reliability = _num(row, "reliability")
    if enough and not math.isnan(reliability) and reliability < s.reliability_below:
        findings.append(
            Finding(
                "reliability",
                False,
                f"answers told the ranking little (learned reliability {reliability:.2f})",
            )
        )

    gone, handed = _int(row, "unloaded"), _int(row, "handed")
    base = max(_num(row, "crowd_unloaded"), s.unloaded_base)  # NaN loses to the setting
    if handed >= s.min_screens and gone:
        tail = float(binom.sf(gone - 1, handed, base))
        if tail < s.alpha:
            findings.append(
                Finding(
                    "could-not-load",
                    False,
                    f"marked {gone} of {handed} screens as photos that would not load, where "
                    f"about {base:.0%} fail for others",
                )
            )
        elif tail < s.alpha * 100:
            near.append(f"{gone}/{handed} screens could not load (p={tail:.1g}, line {s.alpha:g})")

    bonus = not findings and seen >= s.min_gold_for_verdict and g_low > s.bonus_above
    return Assessment(str(row.get("worker", "")), tuple(findings), gold, tuple(near), bonus, seen)


def judge(assessment: Assessment, failed_here: int, settings: ReviewSettings) -> tuple[Action, str]:
    """The action on one assignment, and its reason in words.

    Rejection (it costs an MTurk worker approval rate) needs strong evidence that touches this
    assignment: gold failed in this HIT together with a strong gold finding or a second strong
    finding, or three strong findings at once. Anything weaker approves; any finding excludes
    the worker from further HITs.
    """
    a = assessment
    if not a.findings:
        return "approve", a.gold
    because = "; ".join(f.text for f in a.findings)
    strong_gold = a.has("gold", strong=True)
    if failed_here and (strong_gold or a.strong >= 2):
        return "reject", (
            f"rejected: failed {failed_here} check screen(s) in this HIT; {because}; "
            "excluded from further HITs"
        )
    if a.strong >= 3:
        return "reject", f"rejected: {because}; excluded from further HITs"
    if strong_gold and not failed_here:
        return "approve", (
            f"approved, as no check screen failed in this HIT, but excluded from further HITs: "
            f"{because}"
        )
    return "approve", f"approved, but excluded from further HITs: {because}"
