"""Answers to a HIT, as the page sends them: local JSON or MTurk's QuestionFormAnswers XML.

Both formats carry the same content: the HIT's token and, for every screen, the tokens of the
selected images and the seconds spent on it, and ``could_not_load`` for a screen whose photo did
not load in the worker's browser (even after a retry): such a screen has no selection and is
recorded, never graded or counted. On MTurk each screen travels in one hidden form field named
by the screen's token (MTurk drops unchecked checkboxes, so selections cannot be checkboxes);
its value is the JSON ``{"selected": [...], "seconds": s}``, plus ``"could_not_load": true``
where so.

MTurk adds fields of its own to what the page posts (``assignmentId`` at least, and whatever
else the form carries); only ours are read: the HIT field and fields named like a token. The
raw answer is stored whole before parsing (:mod:`crowd.submissions`), so nothing is lost.

Parsing checks shape only; :mod:`crowd.submissions` checks an answer against what its HIT
showed.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from crowd.tokens import TOKEN_PATTERN

MAX_SECONDS = 3600.0  # on one screen; the page clamps to this, so more means a forged answer
MAX_ANSWER_CHARS = 1_000_000
HIT_FIELD = "hit"
QFA_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2005-10-01/"
    "QuestionFormAnswers.xsd"
)
_DOCTYPE = re.compile(r"<!\s*(DOCTYPE|ENTITY)", re.IGNORECASE)
_OURS = re.compile(TOKEN_PATTERN)

Token = Annotated[str, Field(pattern=TOKEN_PATTERN)]


class AnswerError(ValueError):
    """An answer that cannot be used; the message is the reason, recorded with the answer."""


class ScreenAnswer(BaseModel):
    """One screen's answer: the selected images' tokens (none = "none worth keeping" on a 4-up
    screen, "no preference" on a pair), the seconds the worker spent on it, and whether a
    photo of it could not load (then nothing is selected)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    screen: Token
    selected: list[Token]
    seconds: float = Field(ge=0, le=MAX_SECONDS, allow_inf_nan=False)
    could_not_load: bool = Field(default=False, strict=True)

    @model_validator(mode="after")
    def _nothing_chosen_unseen(self) -> ScreenAnswer:
        if self.could_not_load and self.selected:
            raise ValueError("a screen that could not load has no selection")
        return self


class HitAnswer(BaseModel):
    """A whole HIT's answer, as the local page and the simulated crowd POST it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    hit: Token
    screens: list[ScreenAnswer]


class _ScreenField(BaseModel):
    """The value of one screen's hidden field in an MTurk answer."""

    model_config = ConfigDict(extra="forbid")

    selected: list[Token]
    seconds: float
    could_not_load: bool = Field(default=False, strict=True)


def parse_local_answer(raw: str) -> HitAnswer:
    """Parse the JSON body of a local submission.

    Raises
    ------
    AnswerError
        Not JSON, or not the shape of :class:`HitAnswer`.
    """
    _check_size(raw)
    try:
        return HitAnswer.model_validate_json(raw)
    except ValidationError as exc:
        raise AnswerError(_reason(exc)) from None


def parse_mturk_answer(xml: str) -> HitAnswer:
    """Parse MTurk's QuestionFormAnswers XML: one FreeText field per screen, plus the HIT token.

    Fields that are not ours (``assignmentId``, anything not named like a token) are ignored,
    whatever their content. A document with a DOCTYPE is refused before parsing, so no entity
    is ever expanded.

    Raises
    ------
    AnswerError
        Malformed XML, another document type, a missing HIT token, a field answered twice,
        a non-text answer, or a screen field that is not the expected JSON.
    """
    _check_size(xml)
    if _DOCTYPE.search(xml):
        raise AnswerError("answer XML carries a DOCTYPE or ENTITY declaration; refused")
    try:
        root = ET.fromstring(xml)
    except ET.ParseError as exc:
        raise AnswerError(f"malformed answer XML ({exc})") from None
    if root.tag != f"{{{QFA_NS}}}QuestionFormAnswers":
        raise AnswerError(f"not a QuestionFormAnswers document (root {root.tag})")
    fields: dict[str, str] = {}
    for node in root.findall(f"{{{QFA_NS}}}Answer"):
        name = (node.findtext(f"{{{QFA_NS}}}QuestionIdentifier") or "").strip()
        text = node.find(f"{{{QFA_NS}}}FreeText")
        if not name:
            raise AnswerError("an answer without a QuestionIdentifier")
        if name != HIT_FIELD and not _OURS.match(name):
            continue  # a field MTurk or the browser added, such as assignmentId
        if text is None:
            raise AnswerError(f"field {name!r} is not a free-text answer")
        if name in fields:
            raise AnswerError(f"field {name!r} answered twice")
        fields[name] = text.text or ""
    hit = fields.pop(HIT_FIELD, None)
    if hit is None:
        raise AnswerError(f"no {HIT_FIELD!r} field: not an answer to one of our HIT pages")
    screens = []
    for name, value in fields.items():
        try:
            field = _ScreenField.model_validate_json(value)
        except ValidationError as exc:
            raise AnswerError(f"field {name!r}: {_reason(exc)}") from None
        screens.append({"screen": name, **field.model_dump()})
    try:
        return HitAnswer.model_validate({"hit": hit, "screens": screens})
    except ValidationError as exc:
        raise AnswerError(_reason(exc)) from None


def mturk_answer_xml(answer: HitAnswer) -> str:
    """The QuestionFormAnswers XML that MTurk returns for ``answer`` (for replays and tests)."""
    root = ET.Element(f"{{{QFA_NS}}}QuestionFormAnswers")
    fields = [(HIT_FIELD, answer.hit)] + [(s.screen, _field_value(s)) for s in answer.screens]
    for name, value in fields:
        node = ET.SubElement(root, f"{{{QFA_NS}}}Answer")
        ET.SubElement(node, f"{{{QFA_NS}}}QuestionIdentifier").text = name
        ET.SubElement(node, f"{{{QFA_NS}}}FreeText").text = value
    return ET.tostring(root, encoding="unicode", xml_declaration=True, default_namespace=QFA_NS)


def _field_value(screen: ScreenAnswer) -> str:
    """A screen's hidden-field value as the page writes it (``could_not_load`` only where so)."""
    value: dict[str, object] = {"selected": screen.selected, "seconds": screen.seconds}
    if screen.could_not_load:
        value["could_not_load"] = True
    return json.dumps(value)


def _check_size(raw: str) -> None:
    if len(raw) > MAX_ANSWER_CHARS:
        raise AnswerError(f"answer of {len(raw):,} characters, over {MAX_ANSWER_CHARS:,}")


def _reason(exc: ValidationError) -> str:
    """The first problem of a validation error, in one line."""
    err = exc.errors()[0]
    where = ".".join(str(p) for p in err["loc"])
    return f"{where}: {err['msg']}" if where else str(err["msg"])
