"""What a command says when it is done, one function a command: the command by hand and
`beauty demo` print the same lines, so a reader can match the demo to the tour."""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING

from crowd.report import confusion, confusion_lines, simulated_kinds, worker_outcomes
from infra.text import printable
from infra.workspace import Workspace

if TYPE_CHECKING:
    from crowd.decisions import ReviewOutcome
    from crowd.local.simulate import SimulationReport
    from crowd.review import Verdict
    from training.evaluate import Evaluation


def review_summary(ws: Workspace, outcome: ReviewOutcome, *, dry_run: bool) -> list[str]:
    """Counts of approvals, rejections and exclusions, each flagged worker once with the reason,
    the outcome against a simulated crowd's true kinds (after a simulation), then what each
    market did. The verdict of every assignment is `hits review --all`'s table."""
    verdicts = outcome.verdicts
    rejected = sum(v.action == "reject" for v in verdicts)
    bonused = sum(v.bonus_cents > 0 for v in verdicts)
    excluded = len({v.worker_id for v in verdicts if v.exclude})
    tail = "dry run: nothing recorded" if dry_run else "recorded"
    lines = [
        f"{len(verdicts)} verdicts: {len(verdicts) - rejected} approved ({bonused} with a "
        f"bonus), {rejected} rejected; {excluded} worker(s) excluded ({tail})"
    ]
    flagged = _flagged(verdicts)
    lines.append(f"flagged workers: {len(flagged)}" + (" (reasons below)" if flagged else ""))
    rejections = Counter(v.worker_id for v in verdicts if v.action == "reject")
    assignments = Counter(v.worker_id for v in verdicts)
    for worker, v in flagged.items():
        did = [f"{rejections[worker]} of {assignments[worker]} assignments rejected"]
        did += ["excluded"] if v.exclude else []
        lines.append(f"  {printable(worker)} ({', '.join(did)}): {printable(v.reason)}")
    kinds = simulated_kinds(ws)
    if kinds:
        lines.append("review against the simulated crowd's true kinds (workers):")
        outcomes = worker_outcomes(ws.ledger, verdicts if dry_run else None)
        lines += [f"  {line}" for line in confusion_lines(confusion(outcomes, kinds))]
    for report in outcome.reports.values():
        lines += report.lines
    return lines


def _flagged(verdicts: list[Verdict]) -> dict[str, Verdict]:
    """Each flagged worker's weightiest verdict (a rejection before an exclusion), by name."""
    chosen: dict[str, Verdict] = {}
    for v in sorted(verdicts, key=lambda v: (v.worker_id, v.action != "reject", not v.exclude)):
        if v.flagged:
            chosen.setdefault(v.worker_id, v)
    return chosen


def simulation_summary(report: SimulationReport) -> list[str]:
    """Assignments submitted in all and by kind of worker, and where the true kinds are
    written."""
    kinds = ", ".join(
        f"{row['workers']} {row['kind']} ({row['assignments']} assignments)"
        for row in report.rows()
    )
    return [
        f"{report.submissions} assignments submitted by {report.workers} workers in "
        f"{report.seconds:.1f} s at {report.url} ({report.refused} refused as taken, "
        f"{report.unreadable} refused as unreadable)",
        f"workers by kind: {kinds}",
        "true kinds in reports/simulated-workers.csv (`beauty hits review` scores itself "
        "against them)",
    ]


def evaluation_summary(result: Evaluation) -> list[str]:
    """The evaluation in sentences: rank agreement, the model against its probe, the gallery
    reduction a photographer gets, the top-5% picks; `evaluate --all` adds every metric."""
    m = result.metrics
    unmatched = f" ({result.unmatched} not in the truth file)" if result.unmatched else ""
    lines = [
        f"{result.images} held-out photos against {result.reference}{unmatched}: Kendall tau "
        f"{_value(m, 'kendall')}, Spearman {_value(m, 'spearman')}"
        + (
            f" (the probe {_value(m, 'probe_spearman')}; model minus probe "
            f"{_value(m, 'diff_spearman', signed=True)})"
            if "probe_spearman" in m
            else ""
        )
    ]
    lines.append(
        f"a photographer keeping every one of the top 5% skips "
        f"{_share(m, 'reduction_100')} of the gallery; keeping 95% of them, "
        f"{_share(m, 'reduction_95')}"
    )
    lines.append(
        f"of the predicted top 5%, {_share(m, 'precision_top5')} are in the true top 5% "
        f"(recall {_share(m, 'recall_top5')}, F2 {_value(m, 'f2_top5')})"
    )
    lines.append(f"report {result.report_path}")
    return lines


def _value(metrics: dict[str, dict[str, float]], name: str, *, signed: bool = False) -> str:
    m = metrics.get(name, {})
    form = "+.2f" if signed else ".2f"
    text = _number(m.get("value"), form)
    if not _missing(m.get("low")) and not _missing(m.get("high")):
        text += f" [{_number(m['low'], form)}, {_number(m['high'], form)}]"
    return text


def _share(metrics: dict[str, dict[str, float]], name: str) -> str:
    m = metrics.get(name, {})
    text = _number(m.get("value"), ".0%")
    if not _missing(m.get("low")) and not _missing(m.get("high")):
        text += f" (95% CI {_number(m['low'], '.0%')}-{_number(m['high'], '.0%')})"
    return text


def _missing(value: float | None) -> bool:
    return value is None or math.isnan(value)


def _number(value: float | None, form: str) -> str:
    return "n/a" if value is None or _missing(value) else format(value, form)
