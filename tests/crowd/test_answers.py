from __future__ import annotations

import json

import pytest

from crowd.answers import (
    AnswerError,
    HitAnswer,
    ScreenAnswer,
    mturk_answer_xml,
    parse_local_answer,
    parse_mturk_answer,
)

NS = "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/QuestionFormAnswers.xsd"
HIT = "hHhHhHhHhHhHhH-_"
S1, S2 = "screen1screen1AA", "screen2screen2BB"
I1, I2, I3 = "image1image1imag", "image2image2imag", "image3image3imag"


def _xml(*answers: tuple[str, str], root: str = "QuestionFormAnswers") -> str:
    body = "".join(
        f"<Answer><QuestionIdentifier>{q}</QuestionIdentifier><FreeText>{v}</FreeText></Answer>"
        for q, v in answers
    )
    return f'<?xml version="1.0" encoding="UTF-8"?>\n<{root} xmlns="{NS}">{body}</{root}>'


def _field(selected: list[str], seconds: float = 2.5) -> str:
    return json.dumps({"selected": selected, "seconds": seconds}).replace('"', "&quot;")


def test_hand_written_mturk_answer_parses() -> None:
    xml = _xml(("hit", HIT), (S1, _field([I1, I2], 4.25)), (S2, _field([], 1)))
    answer = parse_mturk_answer(xml)
    assert answer.hit == HIT
    assert answer.screens == [
        ScreenAnswer(screen=S1, selected=[I1, I2], seconds=4.25),
        ScreenAnswer(screen=S2, selected=[], seconds=1.0),
    ]


def test_mturk_xml_round_trips() -> None:
    answer = HitAnswer(
        hit=HIT,
        screens=[
            ScreenAnswer(screen=S1, selected=[I3], seconds=0.0),
            ScreenAnswer(screen=S2, selected=[], seconds=3600.0),
        ],
    )
    assert parse_mturk_answer(mturk_answer_xml(answer)) == answer


@pytest.mark.parametrize(
    ("xml", "reason"),
    [
        ("<QuestionFormAnswers><Answer>", "malformed"),
        ("", "malformed"),
        (_xml(("hit", HIT), root="Other"), "not a QuestionFormAnswers"),
        (_xml((S1, _field([I1]))), "no 'hit' field"),
        (_xml(("hit", HIT), (S1, _field([I1])), (S1, _field([I2]))), "answered twice"),
        (_xml(("hit", HIT), (S1, "not json")), S1),
        (_xml(("hit", HIT), (S1, _field(["short"]))), "String should match pattern"),
        (_xml(("hit", "forged token!"), (S1, _field([I1]))), "hit"),
        (_xml(("hit", HIT), (S1, _field([I1], -1))), "greater than or equal"),
        (_xml(("hit", HIT), (S1, _field([I1], 1e9))), "less than or equal"),
    ],
)
def test_bad_mturk_answers_fail_with_a_reason(xml: str, reason: str) -> None:
    with pytest.raises(AnswerError, match=reason):
        parse_mturk_answer(xml)


def test_entity_expansion_is_refused_before_parsing() -> None:
    laughs = (
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
        '<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>'
        f'<QuestionFormAnswers xmlns="{NS}"><Answer><QuestionIdentifier>hit</QuestionIdentifier>'
        "<FreeText>&lol2;</FreeText></Answer></QuestionFormAnswers>"
    )
    with pytest.raises(AnswerError, match="DOCTYPE"):
        parse_mturk_answer(laughs)


def test_selection_answers_are_not_free_text() -> None:
    xml = (
        f'<QuestionFormAnswers xmlns="{NS}"><Answer><QuestionIdentifier>hit</QuestionIdentifier>'
        "<SelectionIdentifier>a</SelectionIdentifier></Answer></QuestionFormAnswers>"
    )
    with pytest.raises(AnswerError, match="not a free-text"):
        parse_mturk_answer(xml)


def test_local_json_parses_and_refuses_surprises() -> None:
    body = {"hit": HIT, "screens": [{"screen": S1, "selected": [I1], "seconds": 2}]}
    assert parse_local_answer(json.dumps(body)).screens[0].selected == [I1]
    with pytest.raises(AnswerError, match="JSON"):
        parse_local_answer("{not json")
    with pytest.raises(AnswerError, match="Extra inputs"):
        parse_local_answer(json.dumps(body | {"worker": "me"}))
    nan = json.dumps(body).replace('"seconds": 2', '"seconds": NaN')
    with pytest.raises(AnswerError, match="seconds"):
        parse_local_answer(nan)
    with pytest.raises(AnswerError, match="over"):
        parse_local_answer(" " * 1_000_001)


def test_fields_mturk_adds_are_ignored() -> None:
    """MTurk may echo the form's assignmentId (and other fields) into the answer; only the HIT
    field and token-named fields are ours."""
    selection = (
        "<Answer><QuestionIdentifier>workerChoice</QuestionIdentifier>"
        "<SelectionIdentifier>a</SelectionIdentifier></Answer>"
    )
    xml = _xml(
        ("assignmentId", "3ABCDEFGHIJKLMNOPQRSTUVWXYZ012"),
        ("hit", HIT),
        ("assignmentId", "echoed twice"),
        (S1, _field([I1])),
        ("turkSubmitTo", "https://workersandbox.mturk.com"),
        ("../etc/passwd", "not json"),
    ).replace("</QuestionFormAnswers>", selection + "</QuestionFormAnswers>")
    answer = parse_mturk_answer(xml)
    assert answer == HitAnswer(
        hit=HIT, screens=[ScreenAnswer(screen=S1, selected=[I1], seconds=2.5)]
    )


def test_a_screen_that_could_not_load_travels_in_both_formats() -> None:
    skipped = json.dumps({"selected": [], "seconds": 7, "could_not_load": True})
    xml = _xml(("hit", HIT), (S1, skipped.replace('"', "&quot;")), (S2, _field([I2])))
    answer = parse_mturk_answer(xml)
    assert [s.could_not_load for s in answer.screens] == [True, False]
    assert parse_mturk_answer(mturk_answer_xml(answer)) == answer
    assert parse_local_answer(answer.model_dump_json()) == answer


@pytest.mark.parametrize(
    ("field", "reason"),
    [
        ({"selected": [I1], "seconds": 1, "could_not_load": True}, "could not load has no"),
        ({"selected": [], "seconds": 1, "could_not_load": "yes"}, "could_not_load"),
    ],
)
def test_a_could_not_load_screen_with_a_choice_or_a_vague_flag_is_refused(
    field: dict[str, object], reason: str
) -> None:
    xml = _xml(("hit", HIT), (S1, json.dumps(field).replace('"', "&quot;")))
    with pytest.raises(AnswerError, match=reason):
        parse_mturk_answer(xml)
    local = {"hit": HIT, "screens": [{"screen": S1, **field}]}
    with pytest.raises(AnswerError, match=reason):
        parse_local_answer(json.dumps(local))
