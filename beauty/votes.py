"""`beauty votes`: votes in and out, in crowd-kit's columns."""

from __future__ import annotations

from pathlib import Path

import click

from beauty.common import workspace
from crowd import votes


@click.group("votes")
def votes_group() -> None:
    """Import and export votes (worker, left, right, label)."""


@votes_group.command("import")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def import_(file: Path) -> None:
    """Import votes from FILE (.csv or .parquet); images by id, URI or file name."""
    report = votes.import_votes(workspace(), file)
    already = f"; {report.already} already imported, skipped" if report.already else ""
    click.echo(
        f"{report.votes} votes imported ({report.ties} ties in the file, "
        f"{report.workers} workers){already}"
    )


@votes_group.command("export")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
@click.option("--crowdkit", is_flag=True, help="Drop ties: crowd-kit requires a winner.")
@click.option("--raw-workers", is_flag=True, help="Keep worker ids instead of pseudonyms.")
def export(file: Path, crowdkit: bool, raw_workers: bool) -> None:
    """Export every vote to FILE (.csv or .parquet)."""
    n = votes.export_votes(workspace(), file, crowdkit=crowdkit, raw_workers=raw_workers)
    click.echo(f"{n} votes written to {file}")
