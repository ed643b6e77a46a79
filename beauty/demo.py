"""`beauty demo`: the whole loop on the embedded defaults, with no AWS account.

Each step calls the same Python API as the command named beside it, so the demo doubles as a
walkthrough of the commands.
"""

from __future__ import annotations

import time
from pathlib import Path

import click

from beauty.images import generate_sample
from infra import gallery
from infra.workspace import Workspace


def _step(title: str) -> float:
    click.secho(f"\n== {title}", bold=True)
    return time.monotonic()


def _done(started: float) -> None:
    click.echo(f"   ({time.monotonic() - started:.1f} s)")


@click.command("demo")
@click.argument("directory", default="demo-workspace", type=click.Path(file_okay=False))
@click.option("--count", default=200, show_default=True, type=click.IntRange(8))
@click.option("--seed", default=7, show_default=True, type=click.IntRange(0))
@click.option("--quick", is_flag=True, help="A small, fast run (used by the tests).")
def demo_command(directory: str, count: int, seed: int, quick: bool) -> None:
    """Run the main job in DIRECTORY: a fresh workspace, a sample gallery, registered."""
    if quick:
        count = min(count, 24)
    root = Path(directory).resolve()

    t = _step(f"beauty init {root}")
    ws = Workspace.init(root)
    click.echo(f"   workspace {ws.root}")
    _done(t)

    images_dir = root / "gallery"
    t = _step(f"beauty images sample {images_dir} --count {count} --seed {seed}")
    truth = generate_sample(images_dir, count, seed)
    click.echo(f"   {len(truth)} panoramas, hidden truth in {images_dir / 'truth.csv'}")
    _done(t)

    t = _step(f"beauty images add {images_dir}")
    report = gallery.add_images(ws, str(images_dir))
    click.echo(
        f"   {report.added} registered, {report.known} already known, "
        f"{len(report.skipped)} skipped (truth.csv is not an image)"
    )
    _done(t)

    click.secho("\nDone.", bold=True)
    click.echo(f"   workspace  {ws.root}")
    click.echo(f"   gallery    {images_dir}")
    click.echo(f"   try        beauty -w {ws.root} images list")
