"""The SQLite ledger: WAL mode, foreign keys on, versioned forward migrations, short transactions.

Every write goes through :meth:`Ledger.transaction`, which takes the write lock up front
(``BEGIN IMMEDIATE``) so that concurrent writers queue instead of failing half-way.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from infra.errors import WorkspaceError

MIGRATIONS_PACKAGE = "infra.migrations"
FOREIGN_KEYS_OFF = "-- foreign_keys: off"
SQLITE_HEADER = b"SQLite format 3\x00"
# A ledger up to this size is quick-checked whenever it is opened (about 0.1 s at the limit);
# larger ones rely on the damage SQLite reports as it reads, and on `beauty doctor`.
QUICK_CHECK_MAX_BYTES = 16 * 1024**2
SQLITE_CORRUPT, SQLITE_NOTADB = 11, 26


class LedgerDamaged(WorkspaceError):
    """The ledger file is not a sound SQLite database."""


def damaged(path: Path | str, detail: str) -> LedgerDamaged:
    """The one line every damaged-ledger error says."""
    name = Path(path).name if path else "beauty.db"
    detail = " ".join(line for line in detail.split() if line)[:160]
    return LedgerDamaged(
        f"{name} is damaged ({detail}): restore it from a backup, or run `beauty doctor` "
        "to check it and see how to recover what it holds"
    )


def is_damage(exc: BaseException) -> bool:
    """Whether a SQLite error says the file is damaged (not locked, not a bug)."""
    if not isinstance(exc, sqlite3.DatabaseError):
        return False
    code = getattr(exc, "sqlite_errorcode", None)
    if code is not None and code & 0xFF in (SQLITE_CORRUPT, SQLITE_NOTADB):
        return True
    text = str(exc)
    return "malformed" in text or "not a database" in text


def check_ledger(path: Path, *, full: bool = True) -> list[str]:
    """Problems SQLite finds in a ledger file, without changing it; empty when sound.

    ``full`` runs ``PRAGMA integrity_check`` (every page and index) and a foreign key check;
    otherwise ``PRAGMA quick_check``.
    """
    with open(path, "rb") as handle:
        head = handle.read(len(SQLITE_HEADER))
    if head and head != SQLITE_HEADER:
        return ["not a SQLite database (its first bytes are wrong)"]
    try:
        conn = sqlite3.connect(path, timeout=30.0)
        try:
            pragma = "integrity_check" if full else "quick_check"
            rows = [str(r[0]) for r in conn.execute(f"PRAGMA {pragma}(20)")]
            lines = [ln for r in rows for ln in r.splitlines() if not ln.startswith("***")]
            problems = [] if rows == ["ok"] else lines
            if full and not problems:
                problems = [
                    f"table {r[0]} row {r[1]} refers to a missing {r[2]} row"
                    for r in conn.execute("PRAGMA foreign_key_check").fetchmany(20)
                ]
            return problems
        finally:
            conn.close()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]


def iso(moment: datetime) -> str:
    """A moment in the ledger's one time format: ISO 8601 UTC with seconds, which sorts as text."""
    return moment.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def utcnow() -> str:
    """Now, in the ledger's time format."""
    return iso(datetime.now(UTC))


def migrations() -> list[tuple[int, str, str]]:
    """The schema's migrations in order: (version, name, SQL)."""
    found = []
    for entry in resources.files(MIGRATIONS_PACKAGE).iterdir():
        name = entry.name
        if name.endswith(".sql") and name[:4].isdigit():
            found.append((int(name[:4]), name, entry.read_text(encoding="utf-8")))
    found.sort()
    versions = [v for v, _, _ in found]
    if versions != list(range(1, len(found) + 1)):
        raise RuntimeError(f"migrations must be numbered 1..n without gaps, found {versions}")
    return found


class Ledger:
    """One connection per thread to the workspace's ``beauty.db``.

    Parameters
    ----------
    path : Path
        The database file. It is created (and migrated) when ``create`` is true.
    create : bool
        Whether a missing database may be created.
    """

    def __init__(self, path: Path, *, create: bool = False) -> None:
        self.path = Path(path)
        if not create and not self.path.exists():
            raise WorkspaceError(f"no ledger at {self.path}: run `beauty init` first")
        self._local = threading.local()
        size = 0
        if self.path.exists():
            try:
                size = self.path.stat().st_size
                with open(self.path, "rb") as handle:
                    head = handle.read(len(SQLITE_HEADER))
            except OSError as exc:
                raise WorkspaceError(
                    f"cannot read {self.path.name} ({exc.strerror}): check its permissions"
                ) from None
            if head and head != SQLITE_HEADER:
                raise damaged(self.path, "not a SQLite database")
        try:
            if self.path.exists() and 0 < size <= QUICK_CHECK_MAX_BYTES:
                rows = [str(r[0]) for r in self.conn.execute("PRAGMA quick_check(1)")]
                if rows != ["ok"]:
                    found = [ln for r in rows for ln in r.splitlines() if not ln.startswith("***")]
                    raise damaged(self.path, (found or rows)[0])
            self.migrate()
        except sqlite3.DatabaseError as exc:
            if is_damage(exc):
                raise damaged(self.path, str(exc)) from None
            raise

    @property
    def conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            conn.row_factory = sqlite3.Row
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA foreign_keys=ON")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @property
    def version(self) -> int:
        return int(self.conn.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> int:
        """Apply every migration newer than the database; each in its own transaction."""
        known = migrations()
        if self.version > len(known):
            raise WorkspaceError(
                f"{self.path} has schema version {self.version}, newer than this program's "
                f"{len(known)}: upgrade beauty-crowd"
            )
        for version, name, sql in known[self.version :]:
            # A migration that rebuilds a referenced table runs with foreign keys off (SQLite's
            # own procedure for schema changes ALTER TABLE cannot make), then checks them.
            rebuild = sql.startswith(FOREIGN_KEYS_OFF)
            if rebuild:
                self.conn.execute("PRAGMA foreign_keys=OFF")
            try:
                with self.transaction() as conn:
                    for statement in _statements(sql):
                        conn.execute(statement)
                    if rebuild and conn.execute("PRAGMA foreign_key_check").fetchone():
                        raise WorkspaceError(f"{self.path}: {name} broke a foreign key")
                    conn.execute(f"PRAGMA user_version = {version}")
            finally:
                if rebuild:
                    self.conn.execute("PRAGMA foreign_keys=ON")
        return self.version

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """A short write transaction: commits on success, rolls back on any exception."""
        conn = self.conn
        if conn.in_transaction:  # nested: join the outer transaction
            yield conn
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def one(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, params).fetchone()
        return row

    def scalar(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> Any:
        row = self.conn.execute(sql, params).fetchone()
        return None if row is None else row[0]


def _statements(sql: str) -> list[str]:
    """Split a migration script into statements (executescript would commit on its own)."""
    out, buf = [], ""
    for line in sql.splitlines(keepends=True):
        buf += line
        if sqlite3.complete_statement(buf):
            if buf.strip():
                out.append(buf.strip())
            buf = ""
    if buf.strip() and not all(ln.strip().startswith("--") for ln in buf.strip().splitlines()):
        out.append(buf.strip())
    return out
