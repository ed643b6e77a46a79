"""Simulated crowds over the in-process labeling server."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from beauty.cli import cli
from crowd.local.simulate import simulate_crowd
from crowd.truth import load_truth
from infra.errors import BeautyError
from infra.workspace import Workspace
from tests.crowd.market_fixtures import gallery_workspace, plan


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return gallery_workspace(tmp_path)


def truth_csv(ws: Workspace) -> Path:
    return ws.root.parent / "gallery" / "truth.csv"


def test_a_crowd_fills_a_small_batch(ws: Workspace) -> None:
    plan(ws, hits=5, assignments=3, screens_per_hit=2)
    report = simulate_crowd(ws, workers=6, spammers=0.5, truth_path=truth_csv(ws), seed=1)
    assert report.submissions == 15 and report.refused == 0 and report.unreadable == 0
    assert sum(r["assignments"] for r in report.rows()) == 15
    assert sum(r["workers"] for r in report.rows()) == 6 == report.workers
    assert len(report.workers_by_kind) >= 2  # honest workers and spammers
    states = ws.ledger.query("SELECT state, parse_state, COUNT(*) FROM assignments GROUP BY 1, 2")
    assert [tuple(r) for r in states] == [("submitted", "ok", 15)]
    per_hit = ws.ledger.query("SELECT COUNT(DISTINCT worker_id) FROM assignments GROUP BY hit_id")
    assert {r[0] for r in per_hit} == {3}
    assert ws.ledger.scalar("SELECT COUNT(*) FROM judgments") == 30
    assert report.url.startswith("http://127.0.0.1:")


def test_honest_workers_mostly_agree_with_the_truth(ws: Workspace) -> None:
    plan(ws, hits=10, assignments=3, screens_per_hit=2)
    simulate_crowd(ws, workers=5, spammers=0.0, truth_path=truth_csv(ws), seed=2)
    truth = load_truth(ws.ledger, truth_csv(ws))
    rows = ws.ledger.query(
        "SELECT j.selected, (SELECT json_group_array(image_id) FROM screen_images si "
        "  WHERE si.screen_id = j.screen_id) AS shown FROM judgments j"
    )
    agree = [
        json.loads(r["selected"])[0] == max(json.loads(r["shown"]), key=truth.__getitem__)
        for r in rows
        if json.loads(r["selected"])
    ]
    assert len(agree) >= 40
    assert sum(agree) / len(agree) > 0.6


def test_the_truth_must_cover_the_open_batches(ws: Workspace) -> None:
    plan(ws, hits=2, assignments=1)
    partial = ws.root / "partial.csv"
    pd.read_csv(truth_csv(ws)).head(2).to_csv(partial, index=False)
    with pytest.raises(BeautyError, match="no beauty for"):
        simulate_crowd(ws, workers=2, spammers=0.0, truth_path=partial)
    with pytest.raises(BeautyError, match="--truth"):
        simulate_crowd(ws, workers=2, spammers=0.0)
    assert ws.ledger.scalar("SELECT COUNT(*) FROM assignments") == 0


def test_a_replay_crowd_answers_from_recorded_votes(ws: Workspace) -> None:
    plan(ws, hits=3, assignments=2)
    names = [r[0] for r in ws.ledger.query("SELECT file_name FROM images ORDER BY file_name")]
    votes = pd.DataFrame(
        {
            "worker": ["old1"] * (len(names) - 1),
            "left": names[:-1],
            "right": names[1:],
            "label": names[1:],
        }
    )
    path = ws.root / "votes.csv"
    votes.to_csv(path, index=False)
    report = simulate_crowd(ws, workers=3, spammers=0.0, replay_path=path, seed=4)
    assert report.submissions == 6 and set(report.workers_by_kind) == {"ReplayCrowd"}


def test_crowd_simulate_command_prints_a_summary(ws: Workspace) -> None:
    plan(ws, hits=2, assignments=2)
    result = CliRunner().invoke(
        cli,
        [
            "-w",
            str(ws.root),
            "crowd",
            "simulate",
            "--workers",
            "3",
            "--spammers",
            "0",
            "--truth",
            str(truth_csv(ws)),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert sum(r["assignments"] for r in rows) == 4
