"""Putting the labeling server on a lab network: private workspace files, access codes, hosts,
origins, cookies and failed sign-ins."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from click.testing import CliRunner

from beauty.cli import cli
from infra.workspace import Workspace

posix_only = pytest.mark.skipif(os.name != "posix", reason="POSIX file modes")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@posix_only
def test_a_new_workspace_is_private_to_its_owner(tmp_path: Path) -> None:
    old = os.umask(0o022)  # a usual umask: the workspace must not rely on it
    try:
        result = CliRunner().invoke(cli, ["init", str(tmp_path / "ws")])
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    root = tmp_path / "ws"
    assert _mode(root) == 0o700
    assert _mode(root / "beauty.toml") == 0o600 and _mode(root / "beauty.db") == 0o600
    assert {_mode(root / d) for d in ("reports", "tables", "runs", "previews")} == {0o700}
    for name in ("beauty.db-wal", "beauty.db-shm"):
        if (root / name).exists():
            assert _mode(root / name) == 0o600


@posix_only
def test_opening_an_older_workspace_closes_its_files(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    for path in (ws.root / "beauty.toml", ws.ledger_path):
        path.chmod(0o644)
    result = CliRunner().invoke(cli, ["-w", str(ws.root), "hits", "list"])
    assert result.exit_code == 0, result.output
    assert _mode(ws.root / "beauty.toml") == 0o600 and _mode(ws.ledger_path) == 0o600


@posix_only
def test_what_a_command_writes_is_private(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    out = tmp_path / "votes.csv"
    old = os.umask(0o022)
    try:
        result = CliRunner().invoke(cli, ["-w", str(ws.root), "votes", "export", str(out)])
        assert os.umask(0o022) == 0o022  # the command's umask does not outlive it
    finally:
        os.umask(old)
    assert out.exists(), result.output
    assert _mode(out) == 0o600
