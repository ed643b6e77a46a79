"""`beauty hits post|sync|close` (alias `expire`) for every market through its protocol;
`status`, `delete` and `qualification post`, which only MTurk has."""

from __future__ import annotations

import json
from pathlib import Path

import click

from beauty.common import emit, json_option, workspace
from crowd import markets
from crowd.batches import open_batches
from crowd.market import MarketReport, Quote
from infra.errors import BeautyError
from mturk.hit_type import post_gold_test
from mturk.manage import HitsChanged, delete_hits
from mturk.qualification import QualificationTest
from mturk.status import market_status

live_option = click.option(
    "--live", is_flag=True, help="Production MTurk: real workers, real money (default: sandbox)."
)


@click.command("post")
@click.argument("batch", type=int, required=False)
@live_option
@click.option("--yes", "-y", is_flag=True, help="Post live without asking.")
def post_command(batch: int | None, live: bool, yes: bool) -> None:
    """Put BATCH (default: every open batch) before its market's workers.

    MTurk batches are posted to the sandbox, or --live. Resumable: HITs already posted are
    skipped, and a HIT whose creation was interrupted is found on MTurk before anything is
    created again. Local batches are already open: `beauty label serve` hands them out.
    """

    def confirm(quote: Quote) -> bool:
        _show(quote)
        if quote.environment == "sandbox" or yes:
            return True
        return click.confirm(f"Post {quote.hits} HITs for ${quote.total:.2f} of real money?")

    ws = workspace()
    for name, ids in open_batches(ws.ledger, batch).items():
        _print(markets.get(name).open(ws, ids, live=live, confirm=confirm))


def _show(quote: Quote) -> None:
    money = "real money" if quote.environment == "live" else "sandbox: no real money"
    click.echo(
        f"{quote.environment}: {quote.hits} HITs of batch(es) "
        f"{', '.join(map(str, quote.batches))}, {quote.assignments} assignments"
    )
    click.echo(
        f"  rewards ${quote.rewards:.2f} + fee ${quote.fees:.2f} = ${quote.total:.2f} ({money})"
    )
    if quote.balance is not None:
        click.echo(f"  account balance ${quote.balance:.2f}")
    if quote.hourly_pay is not None:
        click.echo(f"  expected pay ${quote.hourly_pay:.2f}/hour")
    for warning in quote.warnings:
        click.echo(f"warning: {warning}", err=True)


def _print(report: MarketReport) -> None:
    for line in report.lines:
        click.echo(line)
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)


@click.command("status")
@json_option
def status_command(as_json: bool) -> None:
    """Per MTurk batch: slots open, work submitted, approved, rejected, expired; money.

    Counts come from the ledger: run `beauty hits sync` first for fresh ones. Money actions
    written but not carried out (pending) are counted with what they would pay, and work
    nearing MTurk's auto-approval is warned about.
    """
    status = market_status(workspace())
    if not status.batches and not as_json:
        click.echo("no batches posted to MTurk yet: `beauty hits list` shows every batch")
        return
    columns = ["batch", "environment", "hits", "posted", "open", "submitted", "approved"]
    columns += ["rejected", "expired", "spent", "committed", "next_auto_approval"]
    columns += ["pending_actions", "pending_pay"]
    emit([b.row() for b in status.batches], as_json, columns)
    if not as_json and status.batches:
        click.echo(f"spent ${status.spent:.2f}, committed ${status.committed:.2f}")
    for p in status.pending if not as_json else []:
        click.echo(f"pending {p.kind}: {p.count} (${p.dollars:.2f}), written but not carried out")
    for warning in status.warnings:
        click.echo(f"warning: {warning}", err=True)


@click.command("sync")
@click.argument("batch", type=int, required=False)
@click.option("--full", is_flag=True, help="Poll every unfinished HIT, notifications or not.")
def sync_command(batch: int | None, full: bool) -> None:
    """Bring submitted work into the ledger (raw answers kept), from every market; resumable."""
    ws = workspace()
    chosen = None if batch is None else open_batches(ws.ledger, batch)
    for name in markets.names():
        if chosen is None or name in chosen:
            ids = None if chosen is None else chosen[name]
            _print(markets.get(name).collect(ws, ids, full=full))


@click.command("close")
@click.argument("batch", type=int, required=False)
def close_command(batch: int | None) -> None:
    """Stop BATCH (default: every open batch) taking new workers; work in progress may finish.

    Local batches close (no more hand-outs; every assignment already in is kept); MTurk HITs
    expire now. `beauty hits expire` is the same command.
    """
    ws = workspace()
    for name, ids in open_batches(ws.ledger, batch).items():
        _print(markets.get(name).close(ws, ids))


@click.command("delete")
@click.argument("batch", type=int, required=False)
def delete_command(batch: int | None) -> None:
    """Delete BATCH's finished HITs from MTurk: expired and every answer approved or rejected."""
    _changed(delete_hits(workspace(), batch), "deleted")


def _changed(result: HitsChanged, verb: str) -> None:
    for hit, why in result.refused:
        click.echo(f"HIT {hit} not {verb}: {why}", err=True)
    click.echo(f"{result.done} HIT(s) {verb}, {len(result.refused)} left as they are")


@click.command("post")
@click.option(
    "--from",
    "folder",
    type=click.Path(file_okay=False, exists=True, path_type=Path),
    help="Where `beauty hits qualification build` wrote the test (default: "
    "reports/qualification in the workspace).",
)
@live_option
def qualification_post_command(folder: Path | None, live: bool) -> None:
    """Post the built qualification test to MTurk; HIT types made afterwards require it."""
    ws = workspace()
    where = folder or ws.reports_dir / "qualification"
    try:
        record = json.loads((where / "qualification.json").read_text(encoding="utf-8"))
        test = QualificationTest(
            question_form_xml=(where / "question_form.xml").read_text(encoding="utf-8"),
            answer_key_xml=(where / "answer_key.xml").read_text(encoding="utf-8"),
            test_duration=int(record["test_duration"]),
            passing_score=int(record["passing_score"]),
            gold_ids=list(record["gold_ids"]),
        )
    except (OSError, KeyError, ValueError) as exc:
        raise BeautyError(
            f"{where}: no built qualification test ({exc}): run `beauty hits qualification build`"
        ) from None
    type_id = post_gold_test(ws, test, live=live)
    click.echo(f"qualification test {type_id}: workers need {test.passing_score}% to work")
