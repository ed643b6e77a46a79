"""What every command shares: the workspace from the context, output as text or JSON."""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import click

from infra.errors import BeautyError, WorkspaceError
from infra.text import printable
from infra.workspace import Workspace

F = TypeVar("F", bound=Callable[..., Any])


def workspace() -> Workspace:
    """The workspace named by ``--workspace``, or the one in the current folder."""
    ctx = click.get_current_context()
    root = ctx.find_root().params.get("workspace")
    return Workspace.open(root)


def run_context(name: str) -> tuple[Workspace | None, Path]:
    """The workspace (None outside one) and the run folder ``name`` stands for.

    A folder as given, else one under the workspace (so ``runs/NAME`` works from anywhere with
    ``--workspace``), else a run's name in the workspace's ``runs/``.
    """
    try:
        ws: Workspace | None = workspace()
    except WorkspaceError:
        ws = None
    candidates = [Path(name)]
    if ws is not None:
        candidates += [ws.root / name, ws.runs_dir / name]
    for folder in candidates:
        if folder.is_dir():
            return ws, folder
    raise BeautyError(f"no run {name}: pass a run's folder, runs/NAME or the name of a run")


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON array.")(func)


def emit(rows: Sequence[Mapping[Any, Any]], as_json: bool, columns: Sequence[str]) -> None:
    """Rows as a JSON array (snake_case keys) or an aligned text table of ``columns``."""
    if as_json:
        clean = [{k: _json_value(v) for k, v in r.items()} for r in rows]
        click.echo(json.dumps(clean, default=_jsonable, indent=1))
        return
    if not rows:
        click.echo("(none)")
        return
    cells = [[_text(r.get(c)) for c in columns] for r in rows]
    widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(columns)]
    click.echo("  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip())
    for row in cells:
        click.echo("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())


def _json_value(value: Any) -> Any:
    """NaN (a missing number in pandas) becomes null, at any depth: JSON has no NaN."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if hasattr(value, "item") and callable(value.item):  # numpy scalars
        return _json_value(value.item())
    return value


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, Path):
        return str(value)
    return str(value)


def _text(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, Decimal):
        return f"${value:.2f}"
    if isinstance(value, float):
        return f"{value:.3g}"
    return printable(str(value))  # names come from outside: no control characters
