from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from beauty.cli import cli
from crowd.local import LocalMarket
from infra.workspace import Workspace
from ranking.realistic import CrowdNoise, simulate_campaign_votes
from tests.conftest import jpeg_bytes
from tests.crowd.market_fixtures import answer_json

Run = Callable[..., str]


@pytest.fixture
def run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Run:
    """Run `beauty` in a fresh workspace holding eight registered photos."""
    monkeypatch.setenv("BEAUTY_QUIET", "1")
    monkeypatch.delenv("BEAUTY_WORKSPACE", raising=False)
    photos = tmp_path / "photos"
    photos.mkdir()
    for i in range(8):
        (photos / f"sky{i}.jpg").write_bytes(jpeg_bytes(40 + i, size=(120, 30)))
    runner = CliRunner()
    workspace = tmp_path / "ws"

    def invoke(*args: str, code: int = 0) -> str:
        result = runner.invoke(cli, ["-w", str(workspace), *args])
        assert result.exit_code == code, result.output + str(result.exception)
        return result.output

    invoke("init", str(workspace))
    invoke("images", "add", str(photos))
    return invoke


def test_plan_needs_gold_then_plans_and_lists(run: Run, tmp_path: Path) -> None:
    out = run("hits", "plan", "--design", "pairwise", "--hits", "3", code=1)
    assert "error:" in out and "beauty gold make" in out

    assert "4 variants made" in run("gold", "make", "--count", "4", "--seed", "1")
    out = run(
        "hits",
        "plan",
        "--design",
        "pairwise",
        "--hits",
        "3",
        "--screens-per-hit",
        "5",
        "--assignments",
        "3",
        "--reward",
        "0.10",
    )
    assert "3 HITs" in out and "$0.90 in rewards" in out and "on MTurk $1.08" in out
    assert "minutes per HIT" in out

    plans = json.loads(
        run(
            "hits",
            "plan",
            "--design",
            "fourup",
            "--appearances",
            "2",
            "--market",
            "mturk",
            "--reward",
            "0.05",
            "--json",
        )
    )
    (batch,) = plans
    assert batch["market"] == "mturk" and batch["hits"] >= 1
    hits, assignments = batch["hits"], 3  # [hits] assignments default
    assert Decimal(batch["cost"]) == Decimal("0.06") * assignments * hits
    assert batch["cost"].count(".") == 1 and len(batch["cost"].split(".")[1]) == 2

    batches = json.loads(run("hits", "list", "--json"))
    assert [b["hits"] for b in batches] == [3, batch["hits"]]
    assert batches[0]["reward"] == "0.10" and batches[0]["cost"] == "0.90"
    listed = json.loads(run("hits", "list", "--batch", str(batches[0]["id"]), "--json"))
    assert len(listed) == 3 and {h["screens"] for h in listed} == {5}
    assert "post_state" in run("hits", "list", "--batch", str(batches[0]["id"]))

    preview = tmp_path / "preview"
    out = run("hits", "preview", str(listed[0]["id"]), "--out", str(preview))
    assert str(preview / "page.html") in out
    assert len(list(preview.glob("*.jpg"))) == 10


def test_plan_refuses_contradictory_options(run: Run) -> None:
    out = run("hits", "plan", "--hits", "2", "--appearances", "3", code=2)
    assert "not both" in out
    out = run("hits", "plan", "--reward", "0.105", "--gold-rate", "0", code=2)
    assert "whole cents" in out
    assert "no HITs" in run("hits", "list", "--batch", "9", code=1)
    assert "no HIT 9" in run("hits", "preview", "9", code=1)


def test_active_pairs_are_planned_from_the_votes_imported(run: Run, tmp_path: Path) -> None:
    plan = ("hits", "plan", "--design", "pairwise", "--hits", "3", "--gold-rate", "0", "--active")
    assert "plan a random batch first" in run(*plan, code=1)
    assert "add --active" in run("hits", "plan", "--hits", "1", "--focus", "3", code=1)
    # A crowd that mostly agrees on a clear order: sky0 worst, sky7 best.
    rows = ["worker,left,right,label"]
    for k in range(3):
        for i in range(8):
            for j in range(i + 1, 8):
                winner = j if (i + j + k) % 7 else i  # about one vote in seven goes astray
                rows.append(f"w{k},sky{i}.jpg,sky{j}.jpg,sky{winner}.jpg")
    (tmp_path / "votes.csv").write_text("\n".join(rows) + "\n")
    run("votes", "import", str(tmp_path / "votes.csv"))
    out = run(*plan, "--focus", "3")
    # 30 pairs of 28 possible: asking nearly every pair again, choosing gains next to nothing
    assert "random pairs: active ones predicted too little gain" in out, out
    assert "a crowd model calibrated on 84 votes" in out, out


def test_gold_add_and_qualification_build(run: Run, tmp_path: Path) -> None:
    table = tmp_path / "gold.csv"
    table.write_text("left,right,label\nsky0.jpg,sky1.jpg,sky1.jpg\nsky2.jpg,sky3.jpg,sky2.jpg\n")
    out = run("gold", "add", str(table), "--pool", "qualification")
    assert "2 gold pairs added" in out
    bad = tmp_path / "bad.csv"
    bad.write_text("left,right\nsky0.jpg,sky1.jpg\n")
    assert "missing column(s) label" in run("gold", "add", str(bad), code=1)

    folder = tmp_path / "qual"
    out = run(
        "hits",
        "qualification",
        "build",
        "--base-url",
        "https://cdn.example/g",
        "--out",
        str(folder),
        "--passing-score",
        "50",
    )
    assert "2 questions, pass at 50%" in out
    form = ET.parse(folder / "question_form.xml").getroot()
    assert form.tag.endswith("QuestionForm")
    assert ET.parse(folder / "answer_key.xml").getroot().tag.endswith("AnswerKey")
    record = json.loads((folder / "qualification.json").read_text())
    assert record["passing_score"] == 50 and len(record["gold_ids"]) == 2
    out = run(
        "hits", "qualification", "build", "--base-url", "https://x", "--kind", "fourup", code=1
    )
    assert "no fourup gold" in out


def local_market(tmp_path: Path) -> LocalMarket:
    """The local market of the workspace `run` works in, as the labeling server drives it."""
    ws = Workspace.open(tmp_path / "ws")
    return LocalMarket(ws.ledger, ws.settings.mturk.assignment_duration_seconds)


def test_post_sync_and_close_reach_a_local_batch_through_its_market(
    run: Run, tmp_path: Path
) -> None:
    plan = ("hits", "plan", "--design", "pairwise", "--hits", "2", "--assignments", "1")
    run(*plan, "--gold-rate", "0")
    assert "`beauty label serve` hands them out" in run("hits", "post", "1")
    assert "local: 0 assignment(s) in" in run("hits", "sync")
    market = local_market(tmp_path)
    for worker in ("ada", "bea"):
        market.sign_in(worker)
    first, held = market.next_hit("ada"), market.next_hit("bea")
    assert first is not None and held is not None
    market.submit("ada", first.token, answer_json(first.content))

    out = run("hits", "close", "1")
    assert "batch 1 closed: no more hand-outs; 1 of 2 assignments in, all kept" in out, out
    assert "1 in hand may still be submitted" in out, out
    (batch,) = json.loads(run("hits", "list", "--json"))
    assert (batch["state"], batch["submitted"]) == ("closed", 1), batch
    market.sign_in("cy")
    assert market.next_hit("cy") is None, "a closed batch must hand out nothing"
    market.submit("bea", held.token, answer_json(held.content))  # work in progress still counts
    (batch,) = json.loads(run("hits", "list", "--json"))
    assert (batch["state"], batch["submitted"]) == ("done", 2), batch
    out = run("hits", "expire", "1")  # MTurk's word for the same command; twice is harmless
    assert "batch 1: already done (2 of 2 assignments in)" in out, out


def test_a_batch_is_done_once_every_assignment_is_in(run: Run, tmp_path: Path) -> None:
    plan = ("hits", "plan", "--design", "pairwise", "--hits", "2", "--assignments", "2")
    run(*plan, "--gold-rate", "0")
    market = local_market(tmp_path)
    states = []
    for worker in ("ada", "bea"):
        market.sign_in(worker)
        while (handout := market.next_hit(worker)) is not None:
            (batch,) = json.loads(run("hits", "list", "--json"))
            states.append(batch["state"])
            market.submit(worker, handout.token, answer_json(handout.content))
    (batch,) = json.loads(run("hits", "list", "--json"))
    assert states == ["open"] * 4, f"a batch was done before its last assignment: {states}"
    assert (batch["state"], batch["submitted"]) == ("done", 4), batch


def test_plan_calibrates_a_crowd_bounds_what_active_can_save_and_replays(
    run: Run, tmp_path: Path
) -> None:
    names = [f"sky{i}.jpg" for i in range(8)]
    merit = pd.Series([0.4 * i for i in range(8)], index=names)
    pairs = [(a, b) for i, a in enumerate(names) for b in names[i + 1 :]] * 6
    noise = CrowdNoise(pair_sd=0.5, worker_sd=0.3, lapse=0.2, tie_max=0.2, tie_width=0.4)
    votes = simulate_campaign_votes(merit, noise, pairs, n_workers=6, seed=3)
    votes.to_csv(tmp_path / "votes.csv", index=False)
    model = tmp_path / "crowd.json"
    out = run("plan", "--calibrate", str(tmp_path / "votes.csv"), "--save-crowd", str(model))
    assert "calibrated on 168 votes by 6 workers over 28 pairs (28 asked more than once" in out
    assert json.loads(model.read_text())["lapse"] > 0
    # random share, pairs, share of workers, routing, both: bounds in percent.
    random_share, pairs_most, share, routing_most, both_most = _headroom(out)
    assert share == 30 and all(0 <= f <= 100 for f in (random_share, routing_most)), out
    assert abs(pairs_most + random_share - 100) <= 1, out
    assert both_most >= max(pairs_most, routing_most), out
    again = ("plan", "--calibrate", str(tmp_path / "votes.csv"), "--save-crowd", str(model))
    out = run(*again, "--trusted", "0.5")
    assert "replacing the earlier file" in out
    assert _headroom(out)[2] == 50 and _headroom(out)[3] <= routing_most, out

    out = run(
        "plan", "--replay", str(tmp_path / "votes.csv"), "--crowd-model", str(model),
        "--rounds", "3", "--round-votes", "20", "--seeds", "2", "--out", str(tmp_path / "r"),
        "--method", "thurstone",
    )  # fmt: skip
    table = pd.read_csv(tmp_path / "r" / "replay.csv")
    assert set(table["design"]) == {"random", "active"}
    assert (table.groupby("design")["votes"].max() == 60).all(), table
    assert "tau against the full-data scores (thurstone)" in out


def _headroom(out: str) -> list[int]:
    line = next(x for x in out.splitlines() if x.startswith("headroom on this crowd"))
    return [int(x) for x in re.findall(r"(\d+)%", line)]
