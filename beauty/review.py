"""`beauty hits review`: verdicts on submitted work from every worker's evidence."""

from __future__ import annotations

import click

from beauty.common import emit, json_option, workspace
from crowd.decisions import review
from crowd.report import confusion, confusion_lines, simulated_kinds, worker_outcomes
from crowd.review import bonus_dollars


@click.command("review")
@click.option("--batch", "batch_id", type=int, help="Only this batch's assignments.")
@click.option("--dry-run", is_flag=True, help="Show the verdicts; record nothing.")
@json_option
def review_command(batch_id: int | None, dry_run: bool, as_json: bool) -> None:
    """Approve, reject, bonus and exclude on the evidence of gold, position, speed, keep-all/none
    and agreement (flagged workers first). After a simulated crowd, also shows the outcome
    against each simulated worker's true kind."""
    ws = workspace()
    outcome = review(ws, batch_id=batch_id, dry_run=dry_run)
    verdicts = outcome.verdicts
    rows = [
        {
            "assignment_id": v.assignment_id,
            "worker_id": v.worker_id,
            "action": v.action,
            "bonus": bonus_dollars(v),
            "exclude": v.exclude,
            "reason": v.reason,
        }
        for v in verdicts
    ]
    emit(rows, as_json, ["worker_id", "assignment_id", "action", "bonus", "exclude", "reason"])
    if not as_json:
        rejected = sum(v.action == "reject" for v in verdicts)
        bonused = sum(v.bonus_cents > 0 for v in verdicts)
        excluded = len({v.worker_id for v in verdicts if v.exclude})
        tail = "dry run: nothing recorded" if dry_run else "recorded"
        click.echo(
            f"{len(verdicts)} verdicts: {len(verdicts) - rejected} approved ({bonused} with a "
            f"bonus), {rejected} rejected; {excluded} worker(s) excluded ({tail})"
        )
    kinds = simulated_kinds(ws) if not as_json else {}
    if kinds:
        click.echo("review against the simulated crowd's true kinds (workers):")
        outcomes = worker_outcomes(ws.ledger, verdicts if dry_run else None)
        for line in confusion_lines(confusion(outcomes, kinds)):
            click.echo(f"  {line}")
    for report in outcome.reports.values():
        for line in report.lines if not as_json else []:
            click.echo(line)
        for warning in report.warnings:
            click.echo(f"warning: {warning}", err=True)
