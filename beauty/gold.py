"""`beauty gold`: known-answer screens, from an expert's CSV or made by degrading photos."""

from __future__ import annotations

from pathlib import Path

import click

from beauty.common import workspace
from crowd.gold_items import add_expert_gold, make_gold


@click.group("gold")
def gold_group() -> None:
    """Gold screens: known answers mixed into HITs to check the workers."""


@gold_group.command("add")
@click.argument("file", type=click.Path(dir_okay=False, exists=True, path_type=Path))
@click.option(
    "--pool",
    type=click.Choice(["hits", "qualification"]),
    default="hits",
    show_default=True,
    help="Mix into HITs, or keep for the qualification test.",
)
@click.option("--author", help="Who answered these pairs, for the record.")
def add(file: Path, pool: str, author: str | None) -> None:
    """Import expert pair gold from FILE.csv: columns left, right, label (the expected winner).

    Images may be named by id, URI or file name. Nothing is imported unless every row is good.
    """
    result = add_expert_gold(
        workspace(), file, pool="hits" if pool == "hits" else "qualification", author=author
    )
    click.echo(f"{result.added} gold pairs added, {result.known} already known")


@gold_group.command("make")
@click.option("--count", "-n", required=True, type=click.IntRange(1), help="Variants to make.")
@click.option(
    "--seed",
    "-s",
    default=0,
    show_default=True,
    type=int,
    help="Seed for which photos are degraded and how.",
)
@click.option(
    "--qualification-share",
    default=0.2,
    show_default=True,
    type=click.FloatRange(0, 1, max_open=True),
    help="Share kept apart for the qualification test.",
)
def make(count: int, seed: int, qualification_share: float) -> None:
    """Make gold by degrading gallery photos (blur, exposure, noise, dead frame)."""
    result = make_gold(workspace(), count, seed=seed, qualification_share=qualification_share)
    click.echo(
        f"{result.variants} variants made: {result.pair_items} pair and {result.fourup_items} "
        f"4-up gold items ({result.qualification} variants kept for the qualification test), "
        f"{result.known} already known"
    )
