from __future__ import annotations

import json
from pathlib import Path

import pytest

from crowd.answers import HitAnswer, ScreenAnswer, mturk_answer_xml
from crowd.batches import HitContent, hit_content, list_hits
from crowd.gold_items import make_gold
from crowd.judgments import judgments_table, votes_from_judgments
from crowd.submissions import store_submission
from crowd.tokens import new_token
from infra.errors import BeautyError
from infra.ledger import utcnow
from infra.workspace import Workspace
from tests.crowd.tiny_gallery import add_photos, plan


@pytest.fixture
def hits(ws: Workspace, tmp_path: Path) -> list[HitContent]:
    """A pair HIT and a 4-up HIT, three screens each, one of them gold."""
    add_photos(ws, tmp_path / "gallery", n=8)
    make_gold(ws, 2, seed=0, qualification_share=0.0)
    pairs = plan(ws, design="pairwise", screens_per_hit=3, hits=1, gold_rate=0.3)
    fourups = plan(ws, design="fourup", screens_per_hit=3, hits=1, gold_rate=0.3)
    return [
        hit_content(ws.ledger, list_hits(ws.ledger, batch.batch_id)[0]["id"])
        for batch in (pairs, fourups)
    ]


def _assignment(ws: Workspace, hit_id: int, worker: str = "w1") -> int:
    with ws.ledger.transaction() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO workers (id, market, first_seen) VALUES (?, 'local', ?)",
            (worker, utcnow()),
        )
        cursor = conn.execute(
            "INSERT INTO assignments (hit_id, worker_id, state, handed_at) "
            "VALUES (?, ?, 'handed', ?)",
            (hit_id, worker, utcnow()),
        )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _answer(content: HitContent, pick: int = 0) -> HitAnswer:
    """Select the ``pick``-th shown image of every screen."""
    return HitAnswer(
        hit=content.hit_token,
        screens=[
            ScreenAnswer(screen=s.token, selected=[s.images[pick][0]], seconds=1.5 + i)
            for i, s in enumerate(content.screens)
        ],
    )


def _row(ws: Workspace, assignment: int) -> dict:
    row = ws.ledger.one("SELECT * FROM assignments WHERE id = ?", (assignment,))
    assert row is not None
    return dict(row)


@pytest.mark.parametrize("fmt", ["json", "mturk-xml"])
def test_good_answer_becomes_judgments_by_image_id(
    ws: Workspace, hits: list[HitContent], fmt: str
) -> None:
    content = hits[0]
    assignment = _assignment(ws, content.hit_id)
    answer = _answer(content, pick=1)
    raw = answer.model_dump_json() if fmt == "json" else mturk_answer_xml(answer)
    outcome = store_submission(ws.ledger, assignment, raw, fmt)  # type: ignore[arg-type]
    assert outcome.ok and outcome.error is None
    assert outcome.judgments == len(content.screens)
    stored = ws.ledger.query(
        "SELECT screen_id, selected, seconds FROM judgments WHERE assignment_id = ? "
        "ORDER BY screen_id",
        (assignment,),
    )
    expected = sorted(
        (s.screen_id, [s.images[1][1]], 1.5 + i) for i, s in enumerate(content.screens)
    )
    assert [(r[0], json.loads(r[1]), r[2]) for r in stored] == expected
    row = _row(ws, assignment)
    assert row["state"] == "submitted" and row["parse_state"] == "ok"
    assert row["raw_answer"] == raw and row["raw_format"] == fmt


def test_fourup_selection_keeps_shown_order_and_none_is_an_answer(
    ws: Workspace, hits: list[HitContent]
) -> None:
    content = hits[1]
    assignment = _assignment(ws, content.hit_id)
    first, *rest = content.screens
    answer = HitAnswer(
        hit=content.hit_token,
        screens=[
            ScreenAnswer(
                screen=first.token,
                selected=[first.images[3][0], first.images[0][0]],
                seconds=2,
            ),
            *(ScreenAnswer(screen=s.token, selected=[], seconds=1) for s in rest),
        ],
    )
    assert store_submission(ws.ledger, assignment, answer.model_dump_json(), "json").ok
    selected = {
        r[0]: json.loads(r[1])
        for r in ws.ledger.query(
            "SELECT screen_id, selected FROM judgments WHERE assignment_id = ?", (assignment,)
        )
    }
    assert selected[first.screen_id] == [first.images[0][1], first.images[3][1]]
    assert all(selected[s.screen_id] == [] for s in rest)


@pytest.mark.parametrize("fmt", ["json", "mturk-xml"])
def test_a_screen_that_could_not_load_is_stored_but_never_graded_or_counted(
    ws: Workspace, hits: list[HitContent], fmt: str
) -> None:
    for content in hits:
        gold = next(s for s in content.screens if s.gold_id is not None)
        other = next(s for s in content.screens if s.gold_id is None)
        skipped = {gold.token, other.token}
        answer = HitAnswer(
            hit=content.hit_token,
            screens=[
                ScreenAnswer(screen=s.token, selected=[], seconds=3, could_not_load=True)
                if s.token in skipped
                else ScreenAnswer(screen=s.token, selected=[s.images[0][0]], seconds=3)
                for s in content.screens
            ],
        )
        raw = answer.model_dump_json() if fmt == "json" else mturk_answer_xml(answer)
        outcome = store_submission(ws.ledger, _assignment(ws, content.hit_id), raw, fmt)  # type: ignore[arg-type]
        assert outcome.ok and outcome.judgments == len(content.screens), outcome.error
    stored = ws.ledger.query("SELECT screen_id, could_not_load FROM judgments")
    flagged = {r[0] for r in stored if r[1]}
    expected = {s.screen_id for c in hits for s in c.screens if s.gold_id is not None}
    assert len(stored) == sum(len(c.screens) for c in hits) and len(flagged) == 2 * len(hits)
    assert expected <= flagged
    table = judgments_table(ws.ledger)
    assert not flagged & set(table["screen"]), "a screen that could not load was judged"
    assert len(table) == sum(len(c.screens) for c in hits) - len(flagged)
    assert table["gold_passed"].isna().all(), "a screen that could not load was graded"
    assert not flagged & set(votes_from_judgments(table)["screen"])


def test_second_call_is_a_no_op(ws: Workspace, hits: list[HitContent]) -> None:
    content = hits[0]
    assignment = _assignment(ws, content.hit_id)
    raw = _answer(content).model_dump_json()
    first = store_submission(ws.ledger, assignment, raw, "json")
    again = store_submission(ws.ledger, assignment, _answer(content, 1).model_dump_json(), "json")
    assert again == first
    assert _row(ws, assignment)["raw_answer"] == raw
    count = ws.ledger.scalar(
        "SELECT COUNT(*) FROM judgments WHERE assignment_id = ?", (assignment,)
    )
    assert count == len(content.screens)


def _forged(content: HitContent, other: HitContent) -> dict[str, HitAnswer]:
    good = _answer(content)
    screens = list(good.screens)
    pair = content.screens[0]
    return {
        "another HIT": good.model_copy(update={"hit": other.hit_token}),
        "not shown in this HIT": good.model_copy(
            update={
                "screens": [*screens[:-1], screens[-1].model_copy(update={"screen": new_token()})]
            }
        ),
        "was not on that screen": good.model_copy(
            update={
                "screens": [
                    screens[0].model_copy(update={"selected": [other.screens[0].images[0][0]]}),
                    *screens[1:],
                ]
            }
        ),
        "answered twice": good.model_copy(update={"screens": [*screens, screens[0]]}),
        "unanswered": good.model_copy(update={"screens": screens[1:]}),
        "one winner": good.model_copy(
            update={
                "screens": [
                    screens[0].model_copy(update={"selected": [t for t, _ in pair.images]}),
                    *screens[1:],
                ]
            }
        ),
        "selected twice": good.model_copy(
            update={
                "screens": [
                    screens[0].model_copy(update={"selected": [pair.images[0][0]] * 2}),
                    *screens[1:],
                ]
            }
        ),
    }


@pytest.mark.parametrize(
    "problem",
    [
        "another HIT",
        "not shown in this HIT",
        "was not on that screen",
        "answered twice",
        "unanswered",
        "one winner",
        "selected twice",
    ],
)
def test_forged_answers_are_recorded_as_failures_with_the_raw_kept(
    ws: Workspace, hits: list[HitContent], problem: str
) -> None:
    content = hits[0]
    answer = _forged(content, hits[1])[problem]
    assignment = _assignment(ws, content.hit_id)
    raw = answer.model_dump_json()
    outcome = store_submission(ws.ledger, assignment, raw, "json")
    assert not outcome.ok and outcome.judgments == 0
    assert outcome.error is not None and problem in outcome.error
    row = _row(ws, assignment)
    assert row["raw_answer"] == raw
    assert row["parse_state"] == "failed" and row["parse_error"] == outcome.error
    assert row["state"] == "submitted"
    assert ws.ledger.scalar("SELECT COUNT(*) FROM judgments") == 0
    # and it stays recorded: a retry neither parses again nor loses the failure
    assert store_submission(ws.ledger, assignment, _answer(content).model_dump_json(), "json") == (
        outcome
    )


def test_malformed_xml_is_kept_and_recorded(ws: Workspace, hits: list[HitContent]) -> None:
    assignment = _assignment(ws, hits[0].hit_id)
    outcome = store_submission(ws.ledger, assignment, "<QuestionFormAnswers><oops", "mturk-xml")
    assert not outcome.ok and "malformed" in (outcome.error or "")
    row = _row(ws, assignment)
    assert row["raw_answer"] == "<QuestionFormAnswers><oops" and row["raw_format"] == "mturk-xml"


def test_a_stored_but_unparsed_answer_is_parsed_from_the_ledger(
    ws: Workspace, hits: list[HitContent]
) -> None:
    content = hits[0]
    assignment = _assignment(ws, content.hit_id)
    stored = _answer(content, 1).model_dump_json()
    with ws.ledger.transaction() as conn:  # as if the process died right after storing it
        conn.execute(
            "UPDATE assignments SET raw_answer = ?, raw_format = 'json', state = 'submitted' "
            "WHERE id = ?",
            (stored, assignment),
        )
    assert store_submission(ws.ledger, assignment, "ignored", "json").ok
    winners = [
        json.loads(r[0])
        for r in ws.ledger.query(
            "SELECT selected FROM judgments WHERE assignment_id = ?", (assignment,)
        )
    ]
    assert sorted(w[0] for w in winners) == sorted(s.images[1][1] for s in content.screens)


def test_unknown_assignment_is_an_error(ws: Workspace) -> None:
    with pytest.raises(BeautyError, match="no assignment 42"):
        store_submission(ws.ledger, 42, "{}", "json")
