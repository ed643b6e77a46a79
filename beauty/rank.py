"""`beauty rank`: votes -> the scores table."""

from __future__ import annotations

from pathlib import Path

import click

from beauty.common import emit, json_option, workspace
from crowd.rank import kendall_vs_truth, rank_workspace
from ranking import methods


@click.command("rank")
@click.option(
    "--out",
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for scores.parquet, scores.csv and reliability.csv [default: tables/].",
)
@click.option(
    "--method",
    type=click.Choice(methods.names()),
    default=methods.names()[0],
    show_default=True,
    help="How votes become scores: "
    + "; ".join(f"{m.name} {m.summary}" for m in methods.METHODS.values())
    + ".",
)
@click.option("--top", default=10, show_default=True, help="How many of the best to print.")
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, path_type=Path),
    help="A hidden truth (truth.csv: image, beauty) to print Kendall's tau against.",
)
@json_option
def rank_command(
    out: Path | None, method: str, top: int, truth: Path | None, as_json: bool
) -> None:
    """Fit scores to every vote (see --method) and write tables/scores.parquet and .csv.

    crowdbt, thurstone and fourup also write each worker's learned reliability
    (tables/reliability.csv), which `beauty hits plan --trusted SHARE` offers the next batch by.
    """
    ws = workspace()
    result, paths = rank_workspace(ws, out_dir=out, method=method)
    best = result.table.head(top).to_dict("records")
    if as_json:
        emit(best, True, [])
        return
    for message in result.warnings:
        click.echo(f"warning: {message}", err=True)
    table = result.table
    click.echo(
        f"{len(table)} images ranked from {result.votes} votes "
        f"({result.self_comparisons} same-image votes left out)"
    )
    click.echo(f"tiers: {table['tier'].value_counts().sort_index().to_dict()}")
    emit(best, False, ["rank", "image", "score", "se", "comparisons", "tier", "uri"])
    if truth is not None:
        click.echo(f"Kendall tau against {truth}: {kendall_vs_truth(ws, result.table, truth):.3f}")
    click.echo("written: " + ", ".join(str(p) for p in paths))
