"""The quick demo runs the loop: gallery, gold, batch, crowd, review, rank, train, evaluate."""

from __future__ import annotations

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
    album = root / "album"
    assert (album / "contact-sheet.html").exists() and list(album.glob("0001_*.xmp"))
