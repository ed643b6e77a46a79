"""Storing a submission: the raw answer first, then judgments or a recorded parse failure.

The raw answer is committed before anything reads it, so a crash, a bug in parsing or a
forged answer never loses what a worker sent. It is then checked against what that very HIT
showed: a token from another HIT, an image that was not on the screen, a screen answered
twice or not at all, two winners of a pair, or impossible seconds fail the whole submission,
recorded with the reason. A screen whose photo could not load in the worker's browser is an
answer too: stored with ``could_not_load`` set and no selection, and left out of every table
that grades, counts or ranks (:mod:`crowd.judgments`). A market whose worker can still
correct the answer (the local server) has a failing one refused instead: kept as evidence in
``refused_answers``, the assignment left open.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Literal

from crowd.answers import (
    AnswerError,
    HitAnswer,
    ScreenAnswer,
    parse_local_answer,
    parse_mturk_answer,
)
from crowd.content import HitContent, hit_content
from infra.errors import BeautyError
from infra.ledger import Ledger, utcnow

Format = Literal["json", "mturk-xml"]
PARSERS = {"json": parse_local_answer, "mturk-xml": parse_mturk_answer}


@dataclass(frozen=True)
class Outcome:
    """What became of a submission: ``judgments`` stored, or the ``error`` it failed with;
    ``refused`` when it was kept as evidence only and the assignment left open."""

    assignment_id: int
    ok: bool
    error: str | None
    judgments: int
    refused: bool = False


@dataclass(frozen=True)
class Judgment:
    """One screen's checked answer, by image id, selected photos in shown order."""

    screen_id: int
    selected: list[str]
    seconds: float
    could_not_load: bool = False


def store_submission(
    ledger: Ledger, assignment_id: int, raw: str, fmt: Format, *, refuse_unreadable: bool = False
) -> Outcome:
    """Store one assignment's answer and turn it into judgments.

    Idempotent: an assignment whose answer was already parsed (ok or failed) is left as it is
    and its recorded outcome returned. Where a raw answer is stored but not yet parsed (a
    crash in between), the stored answer is parsed, not ``raw``.

    With ``refuse_unreadable`` (a worker who can still send a corrected answer), an answer
    that fails the checks is kept in ``refused_answers`` with its reason and the assignment is
    left as it was, with no answer: the outcome is ``refused``.

    Raises
    ------
    BeautyError
        No such assignment.
    ValueError
        An unknown format.
    """
    if fmt not in PARSERS:
        raise ValueError(f"unknown answer format {fmt!r}; use one of {sorted(PARSERS)}")
    row = ledger.one(
        "SELECT hit_id, parse_state, raw_answer FROM assignments WHERE id = ?", (assignment_id,)
    )
    if row is None:
        raise BeautyError(f"no assignment {assignment_id} in the ledger")
    if row["parse_state"] != "pending":
        return recorded_outcome(ledger, assignment_id)
    if refuse_unreadable and row["raw_answer"] is None:
        error = _read(ledger, row["hit_id"], raw, fmt)[1]
        if error is not None:
            with ledger.transaction() as conn:
                conn.execute(
                    "INSERT INTO refused_answers (assignment_id, raw_answer, raw_format, error, "
                    "received_at) VALUES (?, ?, ?, ?, ?)",
                    (assignment_id, raw, fmt, error, utcnow()),
                )
            return Outcome(assignment_id, False, error, 0, refused=True)
    with ledger.transaction() as conn:
        conn.execute(
            "UPDATE assignments SET raw_answer = COALESCE(raw_answer, ?), "
            "raw_format = COALESCE(raw_format, ?), submitted_at = COALESCE(submitted_at, ?), "
            "state = CASE WHEN state IN ('handed', 'abandoned') THEN 'submitted' ELSE state END "
            "WHERE id = ?",
            (raw, fmt, utcnow(), assignment_id),
        )
    stored = ledger.one(
        "SELECT hit_id, raw_answer, raw_format FROM assignments WHERE id = ?", (assignment_id,)
    )
    assert stored is not None
    judgments, error = _read(ledger, stored["hit_id"], stored["raw_answer"], stored["raw_format"])
    with ledger.transaction() as conn:
        state = conn.execute(
            "SELECT parse_state FROM assignments WHERE id = ?", (assignment_id,)
        ).fetchone()[0]
        if state != "pending":  # parsed meanwhile by another caller
            return recorded_outcome(ledger, assignment_id)
        if error is not None:
            conn.execute(
                "UPDATE assignments SET parse_state = 'failed', parse_error = ? WHERE id = ?",
                (error, assignment_id),
            )
            return Outcome(assignment_id, False, error, 0)
        conn.executemany(
            "INSERT INTO judgments (assignment_id, screen_id, selected, seconds, could_not_load) "
            "VALUES (?, ?, ?, ?, ?)",
            [
                (assignment_id, j.screen_id, json.dumps(j.selected), j.seconds, j.could_not_load)
                for j in judgments
            ],
        )
        conn.execute(
            "UPDATE assignments SET parse_state = 'ok', parse_error = NULL WHERE id = ?",
            (assignment_id,),
        )
    return Outcome(assignment_id, True, None, len(judgments))


def _read(ledger: Ledger, hit_id: int, raw: str, fmt: Format) -> tuple[list[Judgment], str | None]:
    """The judgments of an answer to ``hit_id``, or the reason it cannot be read."""
    try:
        return check_answer(PARSERS[fmt](raw), hit_content(ledger, hit_id)), None
    except AnswerError as exc:
        return [], str(exc)


def check_answer(answer: HitAnswer, content: HitContent) -> list[Judgment]:
    """Check an answer against what its HIT showed; the judgments, in shown screen order.

    Raises
    ------
    AnswerError
        The first problem found.
    """
    if answer.hit != content.hit_token:
        raise AnswerError(f"answer names HIT {answer.hit}, but was submitted for another HIT")
    by_token = {s.token: s for s in content.screens}
    given: dict[str, ScreenAnswer] = {}
    for part in answer.screens:
        screen = by_token.get(part.screen)
        if screen is None:
            raise AnswerError(f"screen {part.screen} was not shown in this HIT")
        if part.screen in given:
            raise AnswerError(f"screen {part.screen} answered twice")
        shown = [token for token, _ in screen.images]
        for token in part.selected:
            if token not in shown:
                raise AnswerError(f"screen {part.screen}: image {token} was not on that screen")
        if len(set(part.selected)) != len(part.selected):
            raise AnswerError(f"screen {part.screen}: an image selected twice")
        if screen.kind == "pair" and len(part.selected) > 1:
            raise AnswerError(f"screen {part.screen}: a pair has one winner, got two")
        given[part.screen] = part
    missing = [s.token for s in content.screens if s.token not in given]
    if missing:
        raise AnswerError(f"{len(missing)} screen(s) unanswered, e.g. {missing[0]}")
    judgments = []
    for screen in content.screens:
        part = given[screen.token]
        selected = [image for token, image in screen.images if token in part.selected]
        judgments.append(Judgment(screen.screen_id, selected, part.seconds, part.could_not_load))
    return judgments


def recorded_outcome(ledger: Ledger, assignment_id: int) -> Outcome:
    """The outcome already recorded for an assignment."""
    row = ledger.one(
        "SELECT parse_state, parse_error, "
        "(SELECT COUNT(*) FROM judgments j WHERE j.assignment_id = a.id) AS n "
        "FROM assignments a WHERE id = ?",
        (assignment_id,),
    )
    if row is None:
        raise BeautyError(f"no assignment {assignment_id} in the ledger")
    return Outcome(assignment_id, row["parse_state"] == "ok", row["parse_error"], row["n"])
