"""`beauty infra`: cloud plumbing the campaign can use."""

from __future__ import annotations

import click

from beauty.common import workspace
from mturk.notifications import setup_notifications


@click.group("infra")
def infra_group() -> None:
    """Cloud plumbing: the SQS queue MTurk notifies."""


@infra_group.command("notifications")
@click.option("--queue", "queue", required=True, help="SQS queue name (made if missing).")
@click.option("--live", is_flag=True, help="For production MTurk's HIT types (default: sandbox).")
def notifications(queue: str, live: bool) -> None:
    """Have MTurk send assignment events to an SQS queue, which `beauty hits sync` drains."""
    result = setup_notifications(workspace(), queue, live=live)
    click.echo(
        f"queue {result.queue_url} ({result.queue_arn}) takes MTurk events; "
        f"{result.hit_types} HIT type(s) registered, later ones as they are posted"
    )
