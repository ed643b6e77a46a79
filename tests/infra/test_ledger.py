from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from infra import ledger as ledger_module
from infra.errors import WorkspaceError
from infra.ledger import Ledger, migrations


def test_new_ledger_is_migrated_to_the_latest_version_in_wal_mode(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "beauty.db", create=True)
    assert ledger.version == len(migrations())
    assert ledger.scalar("PRAGMA journal_mode") == "wal"
    assert ledger.scalar("PRAGMA foreign_keys") == 1
    tables = {r[0] for r in ledger.query("SELECT name FROM sqlite_master WHERE type='table'")}
    assert {"images", "hits", "screens", "assignments", "judgments", "money_actions"} <= tables


def test_forward_migration_keeps_data_and_applies_only_newer_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "beauty.db"
    ledger = Ledger(path, create=True)
    with ledger.transaction() as conn:
        conn.execute(
            "INSERT INTO workers (id, market, first_seen) VALUES ('w1', 'local', '2026-01-01')"
        )
    ledger.close()
    current = migrations()
    step = (len(current) + 1, "9999_note.sql", "ALTER TABLE workers ADD COLUMN note TEXT;")
    monkeypatch.setattr(ledger_module, "migrations", lambda: [*current, step])
    upgraded = Ledger(path)
    assert upgraded.version == len(current) + 1
    assert upgraded.scalar("SELECT id FROM workers") == "w1"
    assert upgraded.scalar("SELECT note FROM workers") is None
    assert Ledger(path).version == len(current) + 1  # idempotent: nothing applied twice


def test_a_newer_database_than_the_program_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "beauty.db"
    Ledger(path, create=True).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 999")
    conn.commit()
    conn.close()
    with pytest.raises(WorkspaceError, match="upgrade"):
        Ledger(path)


def test_missing_ledger_is_not_created_silently(tmp_path: Path) -> None:
    with pytest.raises(WorkspaceError, match="beauty init"):
        Ledger(tmp_path / "nothing.db")


def test_transaction_rolls_back_everything_on_error(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "beauty.db", create=True)
    insert = (
        "INSERT INTO workers (id, market, first_seen) VALUES (?, 'local', '2026-01-01T00:00:00Z')"
    )
    with pytest.raises(RuntimeError), ledger.transaction() as conn:
        conn.execute(insert, ("w1",))
        raise RuntimeError("crash half-way")
    assert ledger.scalar("SELECT COUNT(*) FROM workers") == 0
    with ledger.transaction() as conn:
        conn.execute(insert, ("w1",))
    assert ledger.scalar("SELECT COUNT(*) FROM workers") == 1


def test_foreign_keys_are_enforced(tmp_path: Path) -> None:
    ledger = Ledger(tmp_path / "beauty.db", create=True)
    with pytest.raises(sqlite3.IntegrityError), ledger.transaction() as conn:
        conn.execute("INSERT INTO hits (batch_id, position, token) VALUES (12345, 0, 'tok')")
