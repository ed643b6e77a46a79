"""`beauty doctor`: check the ledger file whole and say how to recover a damaged one."""

from __future__ import annotations

import shlex

import click

from beauty.common import workspace
from infra.errors import BeautyError
from infra.ledger import check_ledger, migrations


@click.command("doctor")
def doctor_command() -> None:
    """Check beauty.db page by page (PRAGMA integrity_check, foreign keys); changes nothing."""
    ws = workspace()
    path = ws.ledger_path
    if not path.exists():
        raise BeautyError(f"no ledger at {path}: run `beauty init` first")
    problems = check_ledger(path, full=True)
    size = path.stat().st_size / 1024**2
    if not problems:
        click.echo(
            f"{path.name}: ok ({size:,.1f} MB; every page, index and foreign key checked; "
            f"this program knows schema version {len(migrations())})"
        )
        return
    for problem in problems[:10]:
        click.echo(f"  {problem}")
    root = shlex.quote(str(ws.root))
    click.echo(
        "To recover what it holds (with the sqlite3 command-line tool, 3.29 or later):\n"
        f"  cd {root}\n"
        "  mv beauty.db beauty.db.damaged; rm -f beauty.db-wal beauty.db-shm\n"
        "  sqlite3 beauty.db.damaged .recover | sqlite3 beauty.db\n"
        "  beauty doctor\n"
        "or put back a backup of beauty.db. Either way, re-run `beauty hits sync` afterwards so "
        "answers that arrived since are stored again."
    )
    raise BeautyError(
        f"{path.name} is damaged ({len(problems)} problem(s) found): recover it as shown above"
    )
