"""`beauty workers report`: the worker reliability report for QA."""

from __future__ import annotations

import click

from beauty.common import emit, json_option, workspace
from crowd.report import worker_report

COLUMNS = [
    "worker",
    "hits",
    "gold_seen",
    "gold_accuracy",
    "gold_lower",
    "gold_upper",
    "learned_reliability",
    "agreement",
    "median_seconds",
    "verdict",
]


@click.command("report")
@click.option("--html/--no-html", default=True, show_default=True, help="Also write the page.")
@json_option
def report_command(html: bool, as_json: bool) -> None:
    """Per-worker gold accuracy, learned accuracy, agreement, speed, bias and verdicts."""
    report = worker_report(workspace(), html=html)
    rows = report.table.to_dict("records")
    emit(rows, as_json, [c for c in COLUMNS if c in report.table.columns])
    if not as_json:
        click.echo(f"written: {report.csv}" + (f", {report.html}" if report.html else ""))
