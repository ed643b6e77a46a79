"""`beauty workers`: decide on a worker by hand, message workers."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

from beauty.common import emit, json_option, workspace
from infra.errors import BeautyError
from mturk.manage import notify_workers
from mturk.money import WorkerDecision, decide_worker
from mturk.settle import ActionResult

F = TypeVar("F", bound=Callable[..., Any])


@click.group("workers")
def workers_group() -> None:
    """Decide on workers (approve, reject, exclude, include, block) and message them."""


def _decision(name: str, text: str) -> Callable[[F], F]:
    return click.option(f"--{name}", "decision", flag_value=name, help=text)


@workers_group.command("decide")
@click.argument("worker")
@_decision("approve", "Approve their submitted work; override rejections (30 days).")
@_decision("reject", "Reject their submitted work that failed gold in its own HIT.")
@_decision("exclude", "Keep them off our HITs (our exclusion qualification).")
@_decision("include", "Let them work on our HITs again.")
@_decision("block", "Block them on MTurk: abuse only, hurts their standing; needs --reason.")
@click.option("--reason", default="", help="Why; workers read it with approvals and rejections.")
@click.option("--dry-run", is_flag=True, help="Show what would happen; change nothing.")
@json_option
def decide(
    worker: str, decision: WorkerDecision | None, reason: str, dry_run: bool, as_json: bool
) -> None:
    """A QA decision on WORKER, carried out on MTurk and logged."""
    if decision is None:
        raise click.UsageError("give one of --approve, --reject, --exclude, --include, --block")
    results = decide_worker(workspace(), worker, decision, reason, dry_run=dry_run)
    show_actions(results, as_json)


def show_actions(results: list[ActionResult], as_json: bool) -> None:
    """Money actions as a table; failures make the exit status 1."""
    rows = [r.__dict__ for r in results]
    emit(rows, as_json, ["kind", "worker", "assignment", "amount", "state", "detail"])
    failed = sum(r.state == "failed" for r in results)
    if failed:
        raise BeautyError(f"{failed} action(s) failed: see the detail column")


@workers_group.command("notify")
@click.argument("workers", nargs=-1, required=True)
@click.option("--subject", required=True, help="Up to 200 characters.")
@click.option("--message", required=True, help="Up to 4,096 characters.")
def notify(workers: tuple[str, ...], subject: str, message: str) -> None:
    """Email WORKERS through MTurk (they must have worked on our HITs)."""
    result = notify_workers(workspace(), list(workers), subject, message)
    for worker, why in result.failed:
        click.echo(f"not delivered to {worker}: {why}", err=True)
    click.echo(f"{result.sent} worker(s) notified, {len(result.failed)} not")
