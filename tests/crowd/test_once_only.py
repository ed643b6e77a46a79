"""Nothing doubled: a re-run import adds no vote, two reviews at once decide each assignment once,
and a ledger an earlier version doubled is mended when it migrates."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from beauty.cli import cli
from crowd.decisions import carry_out, review
from crowd.local import LocalMarket
from crowd.review import decide
from infra.ledger import migrations
from infra.workspace import Workspace
from tests.crowd.market_fixtures import add_pair_gold, answer_json, gallery_workspace, plan


def invoke(ws: Workspace, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["-w", str(ws.root), *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout, result.stderr


def votes_file(ws: Workspace, path: Path) -> Path:
    names = [r[0] for r in ws.ledger.query("SELECT file_name FROM images ORDER BY file_name")]
    pd.DataFrame(
        {
            "worker": ["ann", "ann", "ann", "bob"],  # ann really compared 00/01 twice
            "left": [names[0], names[0], names[2], names[3]],
            "right": [names[1], names[1], names[3], names[4]],
            "label": [names[0], names[0], "", names[4]],
            "seconds": ["1.5", "1.5", "", "3"],
        }
    ).to_csv(path, index=False)
    return path


def imported(ws: Workspace) -> int:
    return int(ws.ledger.scalar("SELECT COUNT(*) FROM imported_votes"))


def test_importing_the_same_votes_twice_stores_them_once(tmp_path: Path) -> None:
    ws = gallery_workspace(tmp_path)
    path = votes_file(ws, tmp_path / "votes.csv")
    code, out, _ = invoke(ws, "votes", "import", str(path))
    assert code == 0 and out.startswith("4 votes imported"), out
    assert imported(ws) == 4, "identical rows in one file are distinct votes"
    code, out, _ = invoke(ws, "votes", "import", str(path))
    assert code == 0, out
    assert "0 votes imported" in out and "4 already imported, skipped" in out, out
    assert imported(ws) == 4, "a second import of one file doubled its votes"
    # The same rows under another path (and images named by id) are the same votes.
    ids = dict(ws.ledger.query("SELECT file_name, id FROM images"))
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    table[["left", "right"]] = table[["left", "right"]].map(ids.get)
    table["label"] = table["label"].map(lambda n: ids.get(n, ""))
    table.to_csv(tmp_path / "copy.csv", index=False)
    invoke(ws, "votes", "import", str(tmp_path / "copy.csv"))
    assert imported(ws) == 4, "the same votes from a copy of the file were stored again"


def _worked(tmp_path: Path, workers: int = 6) -> Workspace:
    ws = gallery_workspace(tmp_path)
    add_pair_gold(ws.ledger, 4)
    plan(ws, hits=8, assignments=3, screens_per_hit=4, gold_rate=0.5)
    market = LocalMarket(ws.ledger, 1800)
    for k in range(workers):
        worker = f"w{k}"
        market.sign_in(worker)
        while (handout := market.next_hit(worker)) is not None:
            market.submit(worker, handout.token, answer_json(handout.content))
    return ws


def _verdict_rows(ws: Workspace) -> list[tuple[str, int]]:
    return [
        (r[0], int(r[1]))
        for r in ws.ledger.query(
            "SELECT subject_id, COUNT(*) FROM decisions WHERE subject_kind = 'assignment' "
            "AND decision IN ('approve', 'reject') GROUP BY subject_id"
        )
    ]


def test_two_reviews_that_decided_at_once_record_each_verdict_once(tmp_path: Path) -> None:
    ws = _worked(tmp_path)
    submitted = int(ws.ledger.scalar("SELECT COUNT(*) FROM assignments WHERE state='submitted'"))
    assert submitted >= 12
    other = Workspace.open(ws.root)
    # Both runs decide before either records: the interleaving that doubled every verdict.
    first, second = decide(ws.ledger, ws.settings.review), decide(other.ledger, ws.settings.review)
    assert len(first) == len(second) == submitted
    reports = {}

    def run(name: str, w: Workspace, verdicts: list) -> None:  # type: ignore[type-arg]
        reports[name] = carry_out(w, verdicts)["local"]

    threads = [
        threading.Thread(target=run, args=("a", ws, first)),
        threading.Thread(target=run, args=("b", other, second)),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rows = _verdict_rows(ws)
    assert len(rows) == submitted and all(n == 1 for _, n in rows), "an assignment decided twice"
    assert sorted(r.changed for r in reports.values()) == [0, submitted]


def test_two_review_threads_over_the_same_work_decide_it_once(tmp_path: Path) -> None:
    ws = _worked(tmp_path)
    submitted = int(ws.ledger.scalar("SELECT COUNT(*) FROM assignments WHERE state='submitted'"))
    start = threading.Barrier(3)
    errors: list[BaseException] = []

    def run() -> None:
        w = Workspace.open(ws.root)
        start.wait()
        try:
            review(w)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    rows = _verdict_rows(ws)
    assert len(rows) == submitted and all(n == 1 for _, n in rows)


def test_the_ledger_refuses_a_second_verdict_by_constraint(tmp_path: Path) -> None:
    ws = _worked(tmp_path, workers=3)
    review(ws)
    row = ws.ledger.one("SELECT subject_id FROM decisions WHERE decision = 'approve'")
    assert row is not None
    with pytest.raises(sqlite3.IntegrityError), ws.ledger.transaction() as conn:
        conn.execute(
            "INSERT INTO decisions (at, actor, subject_kind, subject_id, decision, reason) "
            "VALUES ('2026-01-01T00:00:00Z', 'policy', 'assignment', ?, 'reject', 'again')",
            (row[0],),
        )


def test_migrating_a_doubled_ledger_keeps_one_of_each(tmp_path: Path) -> None:
    path = tmp_path / "beauty.db"
    conn = sqlite3.connect(path)
    for version, _, sql in migrations()[:6]:
        conn.executescript(sql)
        conn.execute(f"PRAGMA user_version = {version}")
    conn.execute(
        "INSERT INTO images (id, uri, file_name, width, height, bytes, format, added_at) "
        "VALUES ('a', 'a', 'a', 1, 1, 1, 'JPEG', 't'), ('b', 'b', 'b', 1, 1, 1, 'JPEG', 't')"
    )
    vote = "INSERT INTO imported_votes (source, worker, left_id, right_id, label_id, seconds, "
    vote += "imported_at) VALUES ('v.csv', 'ann', 'a', 'b', 'a', 1.0, ?)"
    for stamp in ("t1", "t1", "t2", "t2"):  # two identical votes, imported twice
        conn.execute(vote, (stamp,))
    decision = "INSERT INTO decisions (at, actor, subject_kind, subject_id, decision, reason) "
    decision += "VALUES ('t', 'policy', 'assignment', '7', 'approve', 'x')"
    conn.execute(decision)
    conn.execute(decision)
    conn.execute(
        "INSERT INTO batches (id, market, design, screens_per_hit, assignments, reward_cents, "
        "gold_rate, created_at) VALUES (1, 'mturk', 'pairwise', 1, 1, 10, 0, 't')"
    )
    conn.execute("INSERT INTO hits (id, batch_id, position, token) VALUES (1, 1, 0, 'h')")
    conn.execute("INSERT INTO workers (id, market, first_seen) VALUES ('ann', 'mturk', 't')")
    conn.execute(
        "INSERT INTO assignments (id, hit_id, worker_id, state) VALUES (7, 1, 'ann', 'submitted')"
    )
    bonus = "INSERT INTO money_actions (kind, assignment_id, worker_id, amount_cents, reason, "
    bonus += "token, state, created_at) VALUES ('bonus', 7, 'ann', 5, 'r', ?, ?, 't')"
    for token, state in (("b1", "done"), ("b2", "done"), ("b3", "pending")):  # paid twice
        conn.execute(bonus, (token, state))
    conn.commit()
    conn.close()
    from infra.ledger import Ledger

    ledger = Ledger(path)
    assert ledger.scalar("SELECT COUNT(*) FROM imported_votes") == 2
    assert ledger.scalar("SELECT COUNT(*) FROM decisions") == 1
    states = [r[0] for r in ledger.query("SELECT state FROM money_actions ORDER BY id")]
    assert states == ["done", "done", "failed"], "a double still pending would pay again"
    with pytest.raises(sqlite3.IntegrityError), ledger.transaction() as tx:
        tx.execute(bonus, ("b4", "pending"))
    with ledger.transaction() as tx:  # another kind of action is not a double
        tx.execute(bonus.replace("'bonus'", "'approve'"), ("a1", "pending"))
    with pytest.raises(sqlite3.IntegrityError), ledger.transaction() as tx:
        tx.execute(bonus.replace("'bonus'", "'reject'"), ("r1", "pending"))
