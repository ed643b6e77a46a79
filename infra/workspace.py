"""A workspace: ``beauty.toml``, the ``beauty.db`` ledger, folders for reports, tables and runs.

The settings may hold access codes and the ledger holds labelers' names and key hashes, so both
are readable by their owner only (0600), and the folders a workspace makes are 0700.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import BinaryIO

from infra.errors import WorkspaceError
from infra.ledger import Ledger
from infra.settings import Settings, default_toml, load_settings

CONFIG_NAME = "beauty.toml"
LEDGER_NAME = "beauty.db"
FOLDERS = ("reports", "tables", "runs", "previews")
PRIVATE_FILE = 0o600
PRIVATE_FOLDER = 0o700
# The ledger and the files SQLite keeps beside it in WAL mode.
PRIVATE_NAMES = (CONFIG_NAME, LEDGER_NAME, f"{LEDGER_NAME}-wal", f"{LEDGER_NAME}-shm")


@dataclass
class Workspace:
    root: Path
    settings: Settings = field(repr=False)

    @classmethod
    def init(cls, root: str | Path) -> Workspace:
        """Create a workspace (idempotent: an existing one is opened, never overwritten)."""
        root = Path(root).expanduser().resolve()
        if not root.exists():
            root.mkdir(parents=True, mode=PRIVATE_FOLDER)
        config = root / CONFIG_NAME
        if not config.exists():
            with _private_file(config) as out:
                out.write(default_toml().encode())
        for name in FOLDERS:
            (root / name).mkdir(exist_ok=True, mode=PRIVATE_FOLDER)
        ws = cls(root=root, settings=load_settings(config))
        if not ws.ledger_path.exists():
            _private_file(ws.ledger_path).close()  # SQLite gives its WAL files the same mode
        Ledger(ws.ledger_path, create=True).close()
        _make_private(root)
        return ws

    @classmethod
    def open(cls, root: str | Path | None = None) -> Workspace:
        """Open the workspace at ``root``, or the one in the current folder or a parent of it."""
        if root is None:
            env = os.environ.get("BEAUTY_WORKSPACE")
            root = Path(env) if env else _find(Path.cwd())
        root = Path(root).expanduser().resolve()
        if not (root / CONFIG_NAME).exists():
            raise WorkspaceError(
                f"{root} is not a workspace (no {CONFIG_NAME}): run `beauty init {root}` "
                "or pass --workspace DIR"
            )
        _make_private(root)
        return cls(root=root, settings=load_settings(root / CONFIG_NAME))

    @property
    def ledger_path(self) -> Path:
        return self.root / LEDGER_NAME

    @cached_property
    def ledger(self) -> Ledger:
        return Ledger(self.ledger_path)

    @property
    def reports_dir(self) -> Path:
        return self.root / "reports"

    @property
    def tables_dir(self) -> Path:
        return self.root / "tables"

    @property
    def runs_dir(self) -> Path:
        return self.root / "runs"

    @property
    def previews_dir(self) -> Path:
        return self.root / "previews"


def _private_file(path: Path) -> BinaryIO:
    """A new file only its owner can read, whatever the umask."""
    return os.fdopen(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE), "wb")


def _make_private(root: Path) -> None:
    """Settings and ledger files readable by others (a workspace made before 0600) are closed."""
    if os.name != "posix":
        return
    for name in PRIVATE_NAMES:
        path = root / name
        try:
            if path.stat().st_mode & 0o077:
                path.chmod(PRIVATE_FILE)
        except FileNotFoundError:
            continue
        except PermissionError:  # another user's workspace, opened read-only: theirs to fix
            continue


def _find(start: Path) -> Path:
    for folder in (start, *start.parents):
        if (folder / CONFIG_NAME).exists():
            return folder
    return start
