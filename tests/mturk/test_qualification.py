from __future__ import annotations

import itertools
import json
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from crowd.gold_items import make_gold
from infra.errors import BeautyError
from infra.workspace import Workspace
from mturk.qualification import (
    ANSWER_KEY_NS,
    QUESTION_FORM_NS,
    QualificationError,
    build_qualification,
    public_image_url,
    validate_answer_key,
    validate_question_form,
)
from ranking.gold import grade
from tests.crowd.tiny_gallery import add_photos

Q = {"q": QUESTION_FORM_NS}
K = {"k": ANSWER_KEY_NS}


@pytest.fixture
def gold_ws(ws: Workspace, tmp_path: Path) -> Workspace:
    add_photos(ws, tmp_path / "gallery", n=8)
    make_gold(ws, 10, seed=2, qualification_share=0.5)
    return ws


def _photos(question: ET.Element) -> list[str]:
    """The image ids a question shows, in order (read back from the public URLs)."""
    urls = [b.findtext("q:DataURL", "", Q) for b in question.iter(f"{{{QUESTION_FORM_NS}}}Binary")]
    return [url.rsplit("/", 1)[1].split(".")[0] for url in urls]


def _passing_sets(key: ET.Element) -> dict[str, set[frozenset[str]]]:
    return {
        q.findtext("k:QuestionIdentifier", "", K): {
            frozenset(s.text or "" for s in o.findall("k:SelectionIdentifier", K))
            for o in q.findall("k:AnswerOption", K)
            if o.findtext("k:AnswerScore", "", K) == "1"
        }
        for q in key.findall("k:Question", K)
    }


@pytest.mark.parametrize("kind", ["pair", "fourup"])
def test_answer_key_scores_exactly_the_answers_that_pass_the_gold(
    gold_ws: Workspace, kind: str
) -> None:
    test = build_qualification(
        gold_ws,
        image_url=public_image_url(gold_ws, "https://photos.example.org/gallery/"),
        kind=kind,  # type: ignore[arg-type]
        questions=4,
        passing_score=75,
    )
    assert len(test.gold_ids) == 4 and test.passing_score == 75
    form = ET.fromstring(test.question_form_xml)
    key = ET.fromstring(test.answer_key_xml)
    passing = _passing_sets(key)
    rules = {
        tuple(sorted(json.loads(r[0]))): (json.loads(r[1]), json.loads(r[2]))
        for r in gold_ws.ledger.query(
            f"SELECT images, must_keep, must_drop FROM gold_items WHERE id IN "
            f"({','.join(map(str, test.gold_ids))})"
        )
    }
    for question in form.findall("q:Question", Q):
        ident = question.findtext("q:QuestionIdentifier", "", Q)
        shown = _photos(question)
        keep, drop = rules[tuple(sorted(shown))]
        sizes = [1] if kind == "pair" else range(1, len(shown) + 1)
        for n in sizes:
            for picked in itertools.combinations(range(len(shown)), n):
                answer = frozenset(str(i + 1) for i in picked)
                passes = grade([shown[i] for i in picked], keep, drop)
                assert (answer in passing[ident]) == passes
    maximum = key.findtext(
        "k:QualificationValueMapping/k:PercentageMapping/k:MaximumSummedScore", "", K
    )
    assert maximum == "4"


def test_only_the_qualification_pool_is_used(gold_ws: Workspace) -> None:
    test = build_qualification(gold_ws, image_url=lambda i: f"https://x/{i}.jpg", questions=50)
    pools = {
        r[0]
        for r in gold_ws.ledger.query(
            f"SELECT pool FROM gold_items WHERE id IN ({','.join(map(str, test.gold_ids))})"
        )
    }
    assert pools == {"qualification"} and len(test.gold_ids) == 5


def test_no_qualification_gold_names_the_fix(ws: Workspace, tmp_path: Path) -> None:
    add_photos(ws, tmp_path / "gallery", n=4)
    make_gold(ws, 2, qualification_share=0.0)
    with pytest.raises(BeautyError, match="beauty gold make"):
        build_qualification(ws, image_url=lambda i: f"https://x/{i}.jpg")


def test_long_urls_that_overflow_the_form_are_refused(gold_ws: Workspace) -> None:
    with pytest.raises(QualificationError, match="65,535"):
        build_qualification(gold_ws, image_url=lambda i: f"https://x/{i}.jpg?{'t' * 9000}")


def _form(question: str) -> str:
    return f'<QuestionForm xmlns="{QUESTION_FORM_NS}">{question}</QuestionForm>'


def _question(ident: str = "q1", binary: str = "", selections: str = "") -> str:
    binary = binary or (
        "<Binary><MimeType><Type>image</Type></MimeType><DataURL>https://x/a.jpg</DataURL>"
        "<AltText>a</AltText></Binary>"
    )
    selections = selections or (
        "<Selection><SelectionIdentifier>1</SelectionIdentifier><Text>A</Text></Selection>"
        "<Selection><SelectionIdentifier>2</SelectionIdentifier><Text>B</Text></Selection>"
    )
    return (
        f"<Question><QuestionIdentifier>{ident}</QuestionIdentifier>"
        f"<QuestionContent><Text>?</Text>{binary}</QuestionContent><AnswerSpecification>"
        f"<SelectionAnswer><Selections>{selections}</Selections></SelectionAnswer>"
        "</AnswerSpecification></Question>"
    )


@pytest.mark.parametrize(
    ("xml", "message"),
    [
        (_form(_question() + _question()), "used twice"),
        (_form(""), "no Question"),
        (_form(_question(ident="")), "without a QuestionIdentifier"),
        (
            _form(
                _question(
                    binary="<Binary><MimeType><Type>image</Type></MimeType>"
                    "<DataURL>file:///etc/passwd</DataURL><AltText>a</AltText></Binary>"
                )
            ),
            "not an http",
        ),
        (
            _form(
                _question(
                    binary="<Binary><MimeType><Type>image</Type></MimeType>"
                    "<DataURL>https://x/a.jpg</DataURL></Binary>"
                )
            ),
            "AltText",
        ),
        (
            _form(
                _question(
                    selections="<Selection><SelectionIdentifier>1</SelectionIdentifier>"
                    "</Selection>" * 2
                )
            ),
            "used twice",
        ),
        ('<AnswerKey xmlns="x"/>', "expected a QuestionForm"),
        ("<QuestionForm", "malformed"),
    ],
)
def test_question_form_rules(xml: str, message: str) -> None:
    with pytest.raises(QualificationError, match=message):
        validate_question_form(xml)


def test_answer_key_rules() -> None:
    selections = validate_question_form(_form(_question()))
    assert selections == {"q1": {"1", "2"}}

    def key(body: str, maximum: str = "1") -> str:
        return (
            f'<AnswerKey xmlns="{ANSWER_KEY_NS}">{body}<QualificationValueMapping>'
            f"<PercentageMapping><MaximumSummedScore>{maximum}</MaximumSummedScore>"
            "</PercentageMapping></QualificationValueMapping></AnswerKey>"
        )

    def option(*ids: str, score: str = "1") -> str:
        picks = "".join(f"<SelectionIdentifier>{i}</SelectionIdentifier>" for i in ids)
        return f"<AnswerOption>{picks}<AnswerScore>{score}</AnswerScore></AnswerOption>"

    def question(ident: str, *options: str) -> str:
        body = "".join(options)
        return f"<Question><QuestionIdentifier>{ident}</QuestionIdentifier>{body}</Question>"

    validate_answer_key(key(question("q1", option("2"))), selections)
    cases = {
        key(question("q9", option("1"))): "not in the form",
        key(question("q1", option("3"))): "unknown selections",
        key(question("q1", option("1", score="x"))): "not an integer",
        key(question("q1")): "no AnswerOption",
        key(""): "unscored",
        key(question("q1", option("1")), maximum="0"): "MaximumSummedScore",
    }
    for xml, message in cases.items():
        with pytest.raises(QualificationError, match=message):
            validate_answer_key(xml, selections)


def test_public_urls_follow_the_pushed_key_layout(gold_ws: Workspace) -> None:
    url = public_image_url(gold_ws, "https://cdn.example/prefix/")
    image = gold_ws.ledger.scalar("SELECT id FROM images LIMIT 1")
    assert url(image) == f"https://cdn.example/prefix/{image}.jpg"
    with pytest.raises(BeautyError, match="http"):
        public_image_url(gold_ws, "s3://bucket/prefix")
