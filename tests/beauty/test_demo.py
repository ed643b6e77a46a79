"""The quick demo runs the loop: gallery, gold, batch, crowd, review, rank, train, evaluate."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from beauty.cli import cli


def test_quick_demo_runs_the_whole_loop(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    result = CliRunner().invoke(cli, ["demo", str(root), "--quick"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    out = result.output
    for command in (
        "images add",
        "gold make",
        "hits plan",
        "crowd simulate",
        "hits review",
        "rank --truth",
        "workers report",
        "train",
        "evaluate",
    ):
        assert f"$ beauty -w {root} {command}" in out, f"demo step `{command}` missing"
    scores = pd.read_parquet(root / "tables" / "scores.parquet")
    assert len(scores) == 40 and scores["rank"].min() == 1
    assert (root / "reports" / "workers.html").exists()
    assert (root / "previews" / "hit-1" / "page.html").exists()
    assert (root / "runs" / "demo" / "model.keras").exists()
    assert "Kendall tau vs truth" in out and "skips" in out
    assert "review against the simulated crowd's true kinds" in out and "spammers caught" in out
    # The summaries the commands print by hand (beauty.summaries), not a demo's own wording.
    for summary in ("workers by kind:", "flagged workers:", "a photographer keeping every one"):
        assert summary in out, f"the demo lacks the commands' summary {summary!r}"
    # The second batch is active and offered to the most reliable half of the crowd alone.
    assert f"$ beauty -w {root} hits plan --design fourup --appearances 3 --active --trusted" in out
    with sqlite3.connect(root / "beauty.db") as db:
        offered = {r[0] for r in db.execute("SELECT worker_id FROM batch_workers")}
        worked = {
            r[0]
            for r in db.execute(
                "SELECT DISTINCT a.worker_id FROM assignments a JOIN hits h ON h.id = a.hit_id "
                "WHERE h.batch_id = 2"
            )
        }
    assert 0 < len(offered) <= 15 and worked and worked <= offered
    album = root / "album"
    assert (album / "contact-sheet.html").exists() and list(album.glob("0001_*.xmp"))
