"""Review verdicts from gold records built by labelers answering gold right or wrong."""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner

from beauty.cli import cli
from crowd.content import ScreenContent, hit_content
from crowd.decisions import carry_out, review
from crowd.local import LocalMarket
from crowd.review import Verdict, decide, record_verdicts
from crowd.submissions import store_submission
from infra.settings import ReviewSettings
from infra.workspace import Workspace
from ranking.gold import wilson_interval
from tests.crowd.market_fixtures import (
    Chooser,
    add_pair_gold,
    answer_json,
    gallery_workspace,
    gold_chooser,
    plan,
)

# Two of four screens per HIT are gold.
HITS = 6
SETTINGS = ReviewSettings(
    min_gold_for_verdict=3, reject_below=0.4, exclude_below=0.6, bonus_above=0.6
)


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    ws = gallery_workspace(tmp_path)
    add_pair_gold(ws.ledger, 4)
    plan(ws, hits=HITS, assignments=3, screens_per_hit=4, gold_rate=0.5)
    return ws


def work(ws: Workspace, worker: str, choose: Chooser, hits: int = HITS) -> list[int]:
    """``worker`` answers up to ``hits`` HITs on the local market; their assignment ids."""
    market = LocalMarket(ws.ledger, 1800)
    market.sign_in(worker)
    done = []
    for _ in range(hits):
        handout = market.next_hit(worker)
        if handout is None:
            break
        done.append(
            market.submit(worker, handout.token, answer_json(handout.content, choose)).assignment_id
        )
    return done


def by_worker(verdicts: list[Verdict]) -> dict[str, list[Verdict]]:
    out: dict[str, list[Verdict]] = {}
    for v in verdicts:
        out.setdefault(v.worker_id, []).append(v)
    return out


def gold_counts(ws: Workspace, worker: str) -> tuple[int, int]:
    rows = ws.ledger.query(
        "SELECT j.selected, g.must_keep FROM judgments j "
        "JOIN assignments a ON a.id = j.assignment_id JOIN screens s ON s.id = j.screen_id "
        "JOIN gold_items g ON g.id = s.gold_id "
        "WHERE a.worker_id = ?",
        (worker,),
    )
    passed = sum(json.loads(r["selected"]) == json.loads(r["must_keep"]) for r in rows)
    return passed, len(rows)


def test_spammer_is_rejected_and_excluded_with_evidence(ws: Workspace) -> None:
    work(ws, "spammer", gold_chooser(ws.ledger, passes=False))
    verdicts = decide(ws.ledger, SETTINGS)
    assert {v.worker_id for v in verdicts} == {"spammer"}
    passed, seen = gold_counts(ws, "spammer")
    assert passed == 0 and seen >= SETTINGS.min_gold_for_verdict
    lower, upper = wilson_interval(passed, seen)
    for v in verdicts:
        assert v.action == "reject" and v.exclude and v.bonus_cents == 0
        assert f"passed 0 of {seen} check screens with a known answer" in v.reason
        assert f"(95% interval {lower:.0%}-{upper:.0%})" in v.reason
        assert v.reason.startswith("rejected: failed 2 check screen(s) in this HIT")
        assert "excluded from further HITs" in v.reason


def test_good_worker_is_bonused_and_newcomer_approved(ws: Workspace) -> None:
    work(ws, "careful", gold_chooser(ws.ledger, passes=True))
    work(ws, "newcomer", gold_chooser(ws.ledger, passes=True), hits=1)
    verdicts = by_worker(decide(ws.ledger, SETTINGS))
    bonus = int(SETTINGS.bonus * 100)
    assert {(v.action, v.bonus_cents, v.exclude) for v in verdicts["careful"]} == {
        ("approve", bonus, False)
    }
    assert "bonus" in verdicts["careful"][0].reason
    (newcomer,) = verdicts["newcomer"]
    assert (newcomer.action, newcomer.bonus_cents, newcomer.exclude) == ("approve", 0, False)
    assert re.search(r"passed 2 of 2 check .*too few for a verdict \(need 3\)", newcomer.reason)


def test_only_assignments_with_failed_gold_are_rejected(ws: Workspace) -> None:
    # Right on gold in the first HIT only: 2 of 12 passed (Wilson 95%: 5%-45%).
    calls = {"n": 0}
    right, wrong = gold_chooser(ws.ledger, True), gold_chooser(ws.ledger, False)

    def choose(screen: ScreenContent) -> list[str]:
        calls["n"] += 1
        return (right if calls["n"] <= 4 else wrong)(screen)

    first, *rest = work(ws, "sloppy", choose)
    strict = SETTINGS.model_copy(update={"reject_below": 0.5})
    verdicts = {v.assignment_id: v for v in decide(ws.ledger, strict)}
    assert verdicts[first].action == "approve" and verdicts[first].exclude
    assert "no check screen failed in this HIT" in verdicts[first].reason
    assert all(verdicts[a].action == "reject" for a in rest)


def _skipping(skip: Callable[[int], bool]) -> Callable[[LocalMarket, str], int | None]:
    """A worker who marks screen k of a HIT as not loading when ``skip(k)``; else answers gold
    right and the rest with the first photo."""

    def submit(market: LocalMarket, worker: str) -> int | None:
        handout = market.next_hit(worker)
        if handout is None:
            return None
        right = gold_chooser(market.ledger, True)
        screens = [
            {"screen": s.token, "selected": [], "seconds": 2.0, "could_not_load": True}
            if skip(k)
            else {"screen": s.token, "selected": right(s), "seconds": 2.5}
            for k, s in enumerate(handout.content.screens)
        ]
        body = json.dumps({"hit": handout.content.hit_token, "screens": screens})
        return market.submit(worker, handout.token, body).assignment_id

    return submit


def test_a_worker_who_marks_every_screen_as_not_loading_is_excluded(ws: Workspace) -> None:
    work(ws, "careful", gold_chooser(ws.ledger, passes=True))
    market = LocalMarket(ws.ledger, 1800)
    for worker, skip in (("skipper", lambda k: True), ("unlucky", lambda k: k == 0)):
        market.sign_in(worker)
        while _skipping(skip)(market, worker) is not None:
            pass
    verdicts = by_worker(decide(ws.ledger, SETTINGS))
    assert verdicts["skipper"], "the skipper's assignments got no verdict"
    for v in verdicts["skipper"]:
        assert v.exclude and v.action == "approve", v
        assert "marked 24 of 24 screens as photos that would not load" in v.reason, v.reason
    # one screen in four failing is bad luck, not evidence: nobody else saw those fail either
    assert not any(v.exclude for v in verdicts["unlucky"]), verdicts["unlucky"]


def test_flagged_workers_come_first(ws: Workspace) -> None:
    work(ws, "a-careful", gold_chooser(ws.ledger, passes=True))
    work(ws, "z-spammer", gold_chooser(ws.ledger, passes=False))
    verdicts = decide(ws.ledger, SETTINGS)
    flags = [v.flagged for v in verdicts]
    assert flags == sorted(flags, reverse=True) and flags[0] and not flags[-1]


def test_recorded_verdicts_set_states_exclusions_and_are_not_decided_twice(
    ws: Workspace,
) -> None:
    spam = work(ws, "spammer", gold_chooser(ws.ledger, passes=False))
    good = work(ws, "careful", gold_chooser(ws.ledger, passes=True))
    preview = review(ws, dry_run=True)
    assert len(preview.verdicts) == len(spam) + len(good) and not preview.reports
    assert ws.ledger.scalar("SELECT COUNT(*) FROM decisions") == 0
    verdicts = decide(ws.ledger, SETTINGS)
    carry_out(ws, verdicts)
    states = {r[0]: r[1] for r in ws.ledger.query("SELECT id, state FROM assignments")}
    assert {states[a] for a in spam} == {"rejected"} and {states[a] for a in good} == {"approved"}
    excluded = {r[0]: r[1] for r in ws.ledger.query("SELECT id, excluded FROM workers")}
    assert excluded == {"spammer": 1, "careful": 0}
    logged = ws.ledger.query("SELECT subject_kind, decision, reason FROM decisions")
    assert sum(r["decision"] == "exclude" for r in logged) == 1
    assert sum(r["decision"].startswith("bonus") for r in logged) == len(good)
    assert all(r["reason"] for r in logged)
    assert decide(ws.ledger, SETTINGS) == []
    # An excluded labeler gets no more HITs.
    assert LocalMarket(ws.ledger, 1800).next_hit("spammer") is None


def test_mturk_verdicts_are_logged_but_states_left_to_the_money_step(tmp_path: Path) -> None:
    ws = gallery_workspace(tmp_path)
    add_pair_gold(ws.ledger, 4)
    batch = plan(ws, hits=3, assignments=1, screens_per_hit=4, gold_rate=0.5, market="mturk")
    wrong = gold_chooser(ws.ledger, passes=False)
    with ws.ledger.transaction() as conn:
        conn.execute("INSERT INTO workers (id, market, first_seen) VALUES ('W123', 'mturk', '')")
    for hit in ws.ledger.query("SELECT id FROM hits WHERE batch_id = ?", (batch,)):
        with ws.ledger.transaction() as conn:
            assignment = conn.execute(
                "INSERT INTO assignments (hit_id, worker_id, remote_id, state) "
                "VALUES (?, 'W123', ?, 'submitted')",
                (hit["id"], f"A{hit['id']}"),
            ).lastrowid
        raw = answer_json(hit_content(ws.ledger, hit["id"]), wrong)
        assert store_submission(ws.ledger, int(assignment or 0), raw, "json").ok
    verdicts = decide(ws.ledger, SETTINGS, batch_id=batch)
    assert {v.action for v in verdicts} == {"reject"}
    record_verdicts(ws.ledger, verdicts)
    assert {r[0] for r in ws.ledger.query("SELECT state FROM assignments")} == {"submitted"}
    assert ws.ledger.scalar("SELECT excluded FROM workers") == 0
    assert ws.ledger.scalar("SELECT COUNT(*) FROM decisions WHERE decision = 'reject'") == 3
    assert ws.ledger.scalar("SELECT COUNT(*) FROM decisions WHERE decision = 'exclude'") == 1
    assert decide(ws.ledger, SETTINGS, batch_id=batch) == []


def test_review_records_local_verdicts_and_hands_mturk_ones_to_the_money_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ws = gallery_workspace(tmp_path)
    add_pair_gold(ws.ledger, 4)
    local = plan(ws, hits=2, assignments=1, screens_per_hit=4, gold_rate=0.5)
    work(ws, "ada", gold_chooser(ws.ledger, passes=True))
    remote = plan(ws, hits=1, assignments=1, screens_per_hit=4, gold_rate=0.5, market="mturk")
    with ws.ledger.transaction() as conn:
        conn.execute("INSERT INTO workers (id, market, first_seen) VALUES ('W9', 'mturk', '')")
        assignment = conn.execute(
            "INSERT INTO assignments (hit_id, worker_id, remote_id, state) "
            "SELECT id, 'W9', 'A9', 'submitted' FROM hits WHERE batch_id = ?",
            (remote,),
        ).lastrowid
    hit = int(ws.ledger.scalar("SELECT id FROM hits WHERE batch_id = ?", (remote,)))
    store_submission(
        ws.ledger, int(assignment or 0), answer_json(hit_content(ws.ledger, hit)), "json"
    )
    handed: list[Verdict] = []
    monkeypatch.setattr(
        "mturk.adapter.carry_out", lambda _ws, verdicts: handed.extend(verdicts) or []
    )
    verdicts = review(ws).verdicts
    assert [v.assignment_id for v in handed] == [assignment]
    assert {v.assignment_id for v in verdicts} == {assignment, 1, 2}
    states = {r[0]: r[1] for r in ws.ledger.query("SELECT id, state FROM assignments")}
    assert states == {1: "approved", 2: "approved", assignment: "submitted"}
    assert ws.ledger.scalar("SELECT batch_id FROM hits WHERE id = 1") == local


def test_hits_review_prints_flagged_first_and_dry_run_records_nothing(ws: Workspace) -> None:
    work(ws, "careful", gold_chooser(ws.ledger, passes=True))
    work(ws, "spammer", gold_chooser(ws.ledger, passes=False))
    runner = CliRunner(env={"BEAUTY_REVIEW__BONUS_ABOVE": "0.6"})
    dry = runner.invoke(cli, ["-w", str(ws.root), "hits", "review", "--dry-run", "--json"])
    assert dry.exit_code == 0, dry.output
    rows = json.loads(dry.stdout)
    assert rows[0]["worker_id"] == "spammer" and rows[0]["action"] == "reject"
    assert {r["bonus"] for r in rows if r["worker_id"] == "careful"} == {"0.05"}
    assert ws.ledger.scalar("SELECT COUNT(*) FROM decisions") == 0
    done = runner.invoke(cli, ["-w", str(ws.root), "hits", "review"])
    assert done.exit_code == 0 and "rejected" in done.output and "recorded" in done.output
    assert ws.ledger.scalar("SELECT COUNT(*) FROM decisions") > 0


def test_hits_review_summarises_and_lists_every_verdict_only_when_asked(ws: Workspace) -> None:
    careful = work(ws, "ada", gold_chooser(ws.ledger, passes=True))
    spammed = work(ws, "spammer", gold_chooser(ws.ledger, passes=False))
    args = ["-w", str(ws.root), "hits", "review", "--dry-run"]
    short = CliRunner().invoke(cli, args)
    assert short.exit_code == 0, short.output
    total = len(careful) + len(spammed)
    assert f"{total} verdicts: {len(careful)} approved" in short.output, short.output
    assert "flagged workers: 1" in short.output, short.output
    flagged = [line for line in short.output.splitlines() if line.startswith("  spammer (")]
    assert len(flagged) == 1, short.output
    assert f"{len(spammed)} of {len(spammed)} assignments rejected, excluded" in flagged[0]
    assert "check screen" in flagged[0], f"the reason is missing: {flagged[0]}"
    assert "ada" not in short.output, "an unflagged worker is listed without --all"
    assert "assignment_id" not in short.output, "the full table is printed without --all"
    full = CliRunner().invoke(cli, [*args, "--all"])
    assert full.exit_code == 0, full.output
    table = [line for line in full.output.splitlines() if line.startswith("ada ")]
    assert len(table) == len(careful), f"--all lists each assignment once:\n{full.output}"
    assert short.output in full.output, "--all adds the table; the summary stays the same"


def test_hits_review_scores_itself_against_simulated_kinds(ws: Workspace) -> None:
    work(ws, "careful", gold_chooser(ws.ledger, passes=True))
    work(ws, "spammer", gold_chooser(ws.ledger, passes=False))
    ws.reports_dir.mkdir(parents=True, exist_ok=True)
    (ws.reports_dir / "simulated-workers.csv").write_text(
        "worker,kind\ncareful,HonestWorker\nspammer,SelectAll\n"
    )
    out = CliRunner().invoke(cli, ["-w", str(ws.root), "hits", "review", "--dry-run"])
    assert out.exit_code == 0, out.output
    assert re.search(r"HonestWorker\s+1\s+1\s+0\s+0", out.output), out.output
    assert re.search(r"SelectAll\s+1\s+0\s+0\s+1", out.output), out.output
    assert "spammers caught 1/1; honest workers flagged 0/1" in out.output
