"""`beauty images`: register, list, push and generate gallery images."""

from __future__ import annotations

from pathlib import Path

import click
import pandas as pd

from beauty.common import emit, json_option, workspace
from infra import gallery
from infra.errors import BeautyError
from infra.progress import bar
from infra.text import display_name, printable


@click.group("images")
def images_group() -> None:
    """Register, list, push and generate gallery images."""


@images_group.command("add")
@click.argument("location")
def add(location: str) -> None:
    """Register every image under LOCATION (a folder, a file, or s3://bucket/prefix).

    JPEG, PNG and WebP; duplicates by content become aliases; unusable files are skipped with
    one line each. Resumable: images already registered are not read again.
    """
    report = gallery.add_images(workspace(), location)
    for uri, why in report.skipped:
        click.echo(f"skipped {display_name(uri)}: {printable(why)}", err=True)
    click.echo(
        f"{report.added} added, {report.aliases} duplicate(s) kept as aliases, "
        f"{report.known} already registered, {len(report.skipped)} skipped"
    )
    if report.usable == 0:
        raise BeautyError(f"{location}: no usable images found")


@images_group.command("list")
@click.option("--derived/--no-derived", default=True, help="Include made-gold variants.")
@json_option
def list_(derived: bool, as_json: bool) -> None:
    """List registered images."""
    rows = gallery.list_images(workspace().ledger, include_derived=derived)
    emit(rows, as_json, ["id", "file_name", "width", "height", "taken_at", "derived_from"])


@images_group.command("push")
@click.argument("destination")
def push(destination: str) -> None:
    """Upload registered images to DESTINATION (s3://bucket/prefix); resumable."""
    report = gallery.push_images(workspace(), destination)
    by_reason: dict[str, list[str]] = {}
    for uri, why in report.failed:
        by_reason.setdefault(why, []).append(uri)
    for why, uris in by_reason.items():
        more = f" and {len(uris) - 1} more" if len(uris) > 1 else ""
        click.echo(f"failed {uris[0]}{more}: {why}", err=True)
    click.echo(
        f"{report.uploaded} uploaded, {report.already} already there, {len(report.failed)} failed"
    )
    if report.failed:
        raise BeautyError(
            f"{len(report.failed)} upload(s) failed: fix what is said above and run the same "
            "command again (images already uploaded are skipped)"
        )


def generate_sample(directory: Path, count: int, seed: int) -> pd.DataFrame:
    """The sample gallery with a progress bar; returns its truth table."""
    from sample import generate_gallery

    progress = bar(count, desc="generating")

    def done(k: int) -> None:
        progress.update(k - progress.n)

    truth = generate_gallery(directory, count, seed, progress=done)
    progress.close()
    return truth


@images_group.command("sample")
@click.argument("directory", type=click.Path(file_okay=False))
@click.option(
    "--count",
    "-n",
    default=300,
    show_default=True,
    type=click.IntRange(1),
    help="How many panoramas to generate.",
)
@click.option(
    "--seed",
    "-s",
    default=0,
    show_default=True,
    type=click.IntRange(0),
    help="Seed of the skylines and their hidden beauty; the same seed gives the same photos.",
)
def sample(directory: str, count: int, seed: int) -> None:
    """Generate a sample gallery of skyline panoramas (and truth.csv) in DIRECTORY."""
    truth = generate_sample(Path(directory), count, seed)
    click.echo(f"{len(truth)} panoramas in {directory}, truth in {Path(directory) / 'truth.csv'}")
