"""`beauty hits review`: verdicts on submitted work from every worker's evidence."""

from __future__ import annotations

import click

from beauty.common import emit, json_option, workspace
from beauty.summaries import review_summary
from crowd.decisions import review
from crowd.review import bonus_dollars


@click.command("review")
@click.option("--batch", "batch_id", type=int, help="Only this batch's assignments.")
@click.option("--dry-run", is_flag=True, help="Show the verdicts; record nothing.")
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Also print every assignment's verdict, flagged workers first (--json always does).",
)
@json_option
def review_command(batch_id: int | None, dry_run: bool, show_all: bool, as_json: bool) -> None:
    """Approve, reject, bonus and exclude on the evidence of gold, position, speed, keep-all/none
    and agreement. Prints the counts and each flagged worker with the reason; after a simulated
    crowd, also the outcome against each simulated worker's true kind."""
    ws = workspace()
    outcome = review(ws, batch_id=batch_id, dry_run=dry_run)
    if as_json or show_all:
        rows = [
            {
                "assignment_id": v.assignment_id,
                "worker_id": v.worker_id,
                "action": v.action,
                "bonus": bonus_dollars(v),
                "exclude": v.exclude,
                "reason": v.reason,
            }
            for v in outcome.verdicts
        ]
        columns = ["worker_id", "assignment_id", "action", "bonus", "exclude", "reason"]
        emit(rows, as_json, columns)
    if not as_json:
        for line in review_summary(ws, outcome, dry_run=dry_run):
            click.echo(line)
    for report in outcome.reports.values():
        for warning in report.warnings:
            click.echo(f"warning: {warning}", err=True)
