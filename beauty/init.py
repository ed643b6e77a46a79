"""`beauty init`: make a workspace."""

from __future__ import annotations

import click

from infra.workspace import Workspace


@click.command("init")
@click.argument("directory", default=".", type=click.Path(file_okay=False))
def init_command(directory: str) -> None:
    """Make a workspace in DIRECTORY: beauty.toml, the beauty.db ledger, output folders."""
    ws = Workspace.init(directory)
    click.echo(f"workspace ready: {ws.root}")
    click.echo(f"  settings  {ws.root / 'beauty.toml'}")
    click.echo(f"  ledger    {ws.ledger_path} (schema v{ws.ledger.version})")
