"""The qualification test: gold kept apart for it, as MTurk's QuestionForm and AnswerKey XML.

Each question shows the photos of one qualification-pool gold item in random order and asks
for the better one (pairs) or the ones worth keeping (4-up). The answer key scores a question 1
when the answer passes the gold rule (every must-keep photo chosen, no must-drop photo) and maps
the sum to a percentage; a worker qualifies at ``passing_score`` percent or more.

Both documents are checked here against the rules of MTurk's schemas that can be checked
without calling MTurk: required elements, unique identifiers, answer options that name real
selections, image URLs, and the 65,535-byte limit.
"""

from __future__ import annotations

import itertools
import json
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlparse

import numpy as np

from infra.errors import BeautyError
from infra.images import EXTENSIONS, FORMATS
from infra.workspace import Workspace

QUESTION_FORM_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2017-11-06/QuestionForm.xsd"
)
ANSWER_KEY_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/AnswerKey.xsd"
)
MAX_FORM_BYTES = 65_535
STYLES = {"radiobutton", "checkbox", "list", "dropdown", "combobox", "multichooser"}
MIME_TYPES = {"image", "audio", "video"}
Kind = Literal["pair", "fourup"]


class QualificationError(BeautyError):
    """A QuestionForm or AnswerKey that MTurk would refuse."""


@dataclass(frozen=True)
class QualificationTest:
    """A test ready to post: the documents, its duration, and the score that qualifies."""

    question_form_xml: str
    answer_key_xml: str
    test_duration: int
    passing_score: int
    gold_ids: list[int]


def build_qualification(
    ws: Workspace,
    *,
    image_url: Callable[[str], str],
    kind: Kind = "pair",
    questions: int = 10,
    passing_score: int = 80,
    test_duration: int = 600,
    seed: int = 0,
) -> QualificationTest:
    """Build the qualification test from the qualification pool's gold.

    Parameters
    ----------
    ws : Workspace
        Gold items with ``pool = 'qualification'`` (``beauty gold make`` keeps a share apart).
    image_url : callable
        Image id -> a URL workers can load for as long as the test is up (public URLs suit:
        presigned ones expire within 7 days).
    kind : {"pair", "fourup"}
        Questions of two photos (pick the better) or four (select those worth keeping).
    questions : int
        At most this many questions, drawn at random from the pool.
    passing_score : int
        Percentage of questions to pass, 0 to 100.
    test_duration : int
        Seconds a worker has for the test.
    seed : int
        Which gold items, and the photos' order.

    Raises
    ------
    BeautyError
        No qualification gold of ``kind``, bad parameters, or documents MTurk would refuse.
    """
    if not 0 <= passing_score <= 100:
        raise BeautyError(f"passing score {passing_score} is not a percentage (0 to 100)")
    if questions < 1 or test_duration < 30:
        raise BeautyError("a test needs at least 1 question and 30 seconds")
    rows = ws.ledger.query(
        "SELECT id, images, must_keep, must_drop FROM gold_items "
        "WHERE kind = ? AND pool = 'qualification' ORDER BY id",
        (kind,),
    )
    if not rows:
        raise BeautyError(
            f"no {kind} gold in the qualification pool: run `beauty gold make --count N` "
            "(it keeps a share apart) or `beauty gold add FILE.csv --pool qualification`"
        )
    formats = {r[0]: r[1] for r in ws.ledger.query("SELECT id, format FROM images")}
    rng = np.random.default_rng(seed)
    chosen = [rows[i] for i in sorted(rng.permutation(len(rows))[:questions].tolist())]
    form = ET.Element(f"{{{QUESTION_FORM_NS}}}QuestionForm")
    key = ET.Element(f"{{{ANSWER_KEY_NS}}}AnswerKey")
    _overview(form, kind)
    for number, row in enumerate(chosen, start=1):
        images: list[str] = json.loads(row["images"])
        shown = [images[i] for i in rng.permutation(len(images)).tolist()]
        ident = f"q{number}"
        photos = [(image_url(i), FORMATS[formats[i]].split("/")[1]) for i in shown]
        _question(form, ident, number, kind, photos)
        keep, drop = set(json.loads(row["must_keep"])), set(json.loads(row["must_drop"]))
        _key_question(key, ident, kind, shown, keep, drop)
    mapping = ET.SubElement(key, f"{{{ANSWER_KEY_NS}}}QualificationValueMapping")
    percent = ET.SubElement(mapping, f"{{{ANSWER_KEY_NS}}}PercentageMapping")
    ET.SubElement(percent, f"{{{ANSWER_KEY_NS}}}MaximumSummedScore").text = str(len(chosen))
    form_xml = _tostring(form, QUESTION_FORM_NS)
    key_xml = _tostring(key, ANSWER_KEY_NS)
    validate_answer_key(key_xml, validate_question_form(form_xml))
    return QualificationTest(
        question_form_xml=form_xml,
        answer_key_xml=key_xml,
        test_duration=test_duration,
        passing_score=passing_score,
        gold_ids=[row["id"] for row in chosen],
    )


def public_image_url(ws: Workspace, base_url: str) -> Callable[[str], str]:
    """Image id -> ``base_url/<id>.<ext>``: where ``beauty images push`` puts each image,
    for a bucket or CDN that serves that prefix publicly."""
    if urlparse(base_url).scheme not in ("http", "https"):
        raise BeautyError(f"{base_url}: give the images' public http(s) address")
    formats = {r[0]: r[1] for r in ws.ledger.query("SELECT id, format FROM images")}
    base = base_url.rstrip("/")
    return lambda image_id: f"{base}/{image_id}.{EXTENSIONS[formats[image_id]]}"


def _sub(parent: ET.Element, ns: str, tag: str, text: str | None = None) -> ET.Element:
    node = ET.SubElement(parent, f"{{{ns}}}{tag}")
    if text is not None:
        node.text = text
    return node


def _overview(form: ET.Element, kind: Kind) -> None:
    overview = _sub(form, QUESTION_FORM_NS, "Overview")
    _sub(overview, QUESTION_FORM_NS, "Title", "Which photos are worth keeping?")
    task = (
        "Each question shows two photos of one city skyline: choose the better photo."
        if kind == "pair"
        else "Each question shows four photos of one city skyline: select every photo worth "
        "keeping (sharp, well exposed, a view you would show someone)."
    )
    _sub(overview, QUESTION_FORM_NS, "Text", task)


def _question(
    form: ET.Element, ident: str, number: int, kind: Kind, photos: list[tuple[str, str]]
) -> None:
    """One question: the photos (URL, MIME subtype) in shown order, one selection each."""
    ns = QUESTION_FORM_NS
    question = _sub(form, ns, "Question")
    _sub(question, ns, "QuestionIdentifier", ident)
    _sub(question, ns, "DisplayName", f"Question {number}")
    _sub(question, ns, "IsRequired", "true")
    content = _sub(question, ns, "QuestionContent")
    prompt = "Which photo is better?" if kind == "pair" else "Which photos are worth keeping?"
    _sub(content, ns, "Text", prompt)
    for position, (url, subtype) in enumerate(photos, start=1):
        _sub(content, ns, "Text", f"Photo {position}")
        binary = _sub(content, ns, "Binary")
        mime = _sub(binary, ns, "MimeType")
        _sub(mime, ns, "Type", "image")
        _sub(mime, ns, "SubType", subtype)
        _sub(binary, ns, "DataURL", url)
        _sub(binary, ns, "AltText", f"photo {position}")
    spec = _sub(question, ns, "AnswerSpecification")
    selection = _sub(spec, ns, "SelectionAnswer")
    _sub(selection, ns, "MinSelectionCount", "1")
    _sub(selection, ns, "MaxSelectionCount", "1" if kind == "pair" else str(len(photos)))
    _sub(selection, ns, "StyleSuggestion", "radiobutton" if kind == "pair" else "checkbox")
    selections = _sub(selection, ns, "Selections")
    for position in range(1, len(photos) + 1):
        choice = _sub(selections, ns, "Selection")
        _sub(choice, ns, "SelectionIdentifier", str(position))
        _sub(choice, ns, "Text", f"Photo {position}")


def _key_question(
    key: ET.Element, ident: str, kind: Kind, shown: list[str], keep: set[str], drop: set[str]
) -> None:
    """Every answer that passes the gold rule scores 1 (MTurk matches a multiple choice as the
    exact set of selections, so each passing set is an option of its own)."""
    ns = ANSWER_KEY_NS
    question = _sub(key, ns, "Question")
    _sub(question, ns, "QuestionIdentifier", ident)
    free = [i for i, image in enumerate(shown) if image not in keep | drop]
    must = [i for i, image in enumerate(shown) if image in keep]
    sizes = [0] if kind == "pair" else range(len(free) + 1)
    for extra in itertools.chain.from_iterable(itertools.combinations(free, n) for n in sizes):
        picked = sorted(must + list(extra))
        if not picked:
            continue
        option = _sub(question, ns, "AnswerOption")
        for index in picked:
            _sub(option, ns, "SelectionIdentifier", str(index + 1))
        _sub(option, ns, "AnswerScore", "1")
    _sub(question, ns, "DefaultScore", "0")


def _tostring(root: ET.Element, ns: str) -> str:
    return ET.tostring(root, encoding="unicode", xml_declaration=True, default_namespace=ns)


def validate_question_form(xml: str) -> dict[str, set[str]]:
    """Check a QuestionForm; returns each question's selection identifiers.

    Raises
    ------
    QualificationError
        The first rule broken.
    """
    size = len(xml.encode("utf-8"))
    if size > MAX_FORM_BYTES:
        raise QualificationError(
            f"QuestionForm of {size:,} bytes is over MTurk's {MAX_FORM_BYTES:,}: "
            "use fewer questions or shorter image URLs"
        )
    root = _parse(xml, QUESTION_FORM_NS, "QuestionForm")
    ns = {"q": QUESTION_FORM_NS}
    found: dict[str, set[str]] = {}
    questions = root.findall("q:Question", ns)
    if not questions:
        raise QualificationError("QuestionForm has no Question")
    for question in questions:
        ident = (question.findtext("q:QuestionIdentifier", "", ns)).strip()
        if not ident:
            raise QualificationError("a Question without a QuestionIdentifier")
        if ident in found:
            raise QualificationError(f"QuestionIdentifier {ident!r} is used twice")
        if question.find("q:QuestionContent", ns) is None:
            raise QualificationError(f"question {ident}: no QuestionContent")
        for binary in question.iter(f"{{{QUESTION_FORM_NS}}}Binary"):
            _check_binary(ident, binary, ns)
        selection = question.find("q:AnswerSpecification/q:SelectionAnswer", ns)
        if selection is None:
            raise QualificationError(f"question {ident}: no AnswerSpecification/SelectionAnswer")
        found[ident] = _check_selection(ident, selection, ns)
    return found


def _check_binary(ident: str, binary: ET.Element, ns: dict[str, str]) -> None:
    kind = binary.findtext("q:MimeType/q:Type", "", ns)
    if kind not in MIME_TYPES:
        raise QualificationError(
            f"question {ident}: Binary MimeType/Type {kind!r} is not one of {sorted(MIME_TYPES)}"
        )
    url = binary.findtext("q:DataURL", "", ns)
    if urlparse(url).scheme not in ("http", "https"):
        raise QualificationError(f"question {ident}: DataURL {url[:60]!r} is not an http(s) URL")
    if not binary.findtext("q:AltText", "", ns):
        raise QualificationError(f"question {ident}: Binary without AltText")


def _check_selection(ident: str, selection: ET.Element, ns: dict[str, str]) -> set[str]:
    try:
        low = int(selection.findtext("q:MinSelectionCount", "1", ns))
        high = int(selection.findtext("q:MaxSelectionCount", "1", ns))
    except ValueError:
        raise QualificationError(f"question {ident}: selection counts are not integers") from None
    style = selection.findtext("q:StyleSuggestion", "radiobutton", ns)
    if style not in STYLES:
        raise QualificationError(f"question {ident}: unknown StyleSuggestion {style!r}")
    ids = [
        s.findtext("q:SelectionIdentifier", "", ns)
        for s in selection.findall("q:Selections/q:Selection", ns)
    ]
    if not ids or not all(ids):
        raise QualificationError(f"question {ident}: Selections need SelectionIdentifiers")
    if len(set(ids)) != len(ids):
        raise QualificationError(f"question {ident}: a SelectionIdentifier is used twice")
    if not 0 <= low <= high <= len(ids):
        raise QualificationError(
            f"question {ident}: selection counts {low}..{high} do not fit {len(ids)} choices"
        )
    return set(ids)


def validate_answer_key(xml: str, selections: dict[str, set[str]]) -> None:
    """Check an AnswerKey against its QuestionForm's questions and selections.

    Raises
    ------
    QualificationError
        The first rule broken.
    """
    root = _parse(xml, ANSWER_KEY_NS, "AnswerKey")
    ns = {"k": ANSWER_KEY_NS}
    seen: set[str] = set()
    for question in root.findall("k:Question", ns):
        ident = question.findtext("k:QuestionIdentifier", "", ns)
        if ident not in selections:
            raise QualificationError(f"AnswerKey names question {ident!r}, not in the form")
        if ident in seen:
            raise QualificationError(f"AnswerKey scores question {ident!r} twice")
        seen.add(ident)
        options = question.findall("k:AnswerOption", ns)
        if not options:
            raise QualificationError(f"AnswerKey question {ident}: no AnswerOption")
        for option in options:
            picked = {s.text or "" for s in option.findall("k:SelectionIdentifier", ns)}
            if not picked or not picked <= selections[ident]:
                raise QualificationError(
                    f"AnswerKey question {ident}: an option names unknown selections"
                )
            if not (option.findtext("k:AnswerScore", "", ns)).lstrip("-").isdigit():
                raise QualificationError(
                    f"AnswerKey question {ident}: AnswerScore is not an integer"
                )
    if seen != set(selections):
        raise QualificationError(
            f"AnswerKey leaves {len(set(selections) - seen)} question(s) unscored"
        )
    maximum = root.findtext(
        "k:QualificationValueMapping/k:PercentageMapping/k:MaximumSummedScore", "", ns
    )
    if not maximum.isdigit() or int(maximum) < 1:
        raise QualificationError("AnswerKey PercentageMapping needs a positive MaximumSummedScore")


def _parse(xml: str, ns: str, tag: str) -> ET.Element:
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise QualificationError(f"{tag}: malformed XML ({exc})") from None
    if root.tag != f"{{{ns}}}{tag}":
        raise QualificationError(f"expected a {tag} in namespace {ns}, found {root.tag}")
    return root
