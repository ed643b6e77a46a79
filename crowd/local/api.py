"""The local market's JSON API payloads: what the HIT page and the simulated crowd exchange.

``POST /api/session`` takes a :class:`SessionRequest`, answers a :class:`SessionReply` and
sets the session cookie;
``GET /api/next`` answers a :class:`NextHit` (or 204 when nothing is left);
``POST /api/submit?assignment=TOKEN`` takes the answer JSON (``crowd.answers.HitAnswer``) and
answers a :class:`SubmitReply` once the answer is stored and read. Refusals are
``{"error": "..."}`` with a 4xx status; 422 for an answer that fails the checks, whose
assignment stays open for a corrected answer.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, StringConstraints, field_validator

WorkerName = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=64)]


Secret = Annotated[str, StringConstraints(max_length=256)]


class SessionRequest(BaseModel):
    """A labeler signing in: their name (the worker id) and their key once the name is claimed;
    the access code where the server has one (a valid key stands in for it)."""

    model_config = ConfigDict(extra="forbid")

    worker: WorkerName
    access_code: Secret | None = None
    key: Secret | None = None

    @field_validator("worker")
    @classmethod
    def _printable(cls, value: str) -> str:
        if not value.isprintable():
            raise ValueError("a name must be printable text")
        return value


class SessionReply(BaseModel):
    """A signed-in labeler. A sign-in that claimed the name gets its key, shown only this once,
    and ``link``, a sign-in address holding it, to bookmark; later sign-ins need the key."""

    worker: str
    key: str | None = None
    link: str | None = None


class ImageRef(BaseModel):
    token: str
    url: str


class ScreenRef(BaseModel):
    token: str
    kind: Literal["pair", "fourup"]
    images: list[ImageRef]


class NextHit(BaseModel):
    """A HIT handed to the labeler: submit its answer to ``submit_url`` before ``deadline``."""

    assignment: str
    hit: str
    deadline: str
    submit_url: str
    screens: list[ScreenRef]


class SubmitReply(BaseModel):
    """A stored, readable answer: the gold items it made (expert servers) and ``next``, the
    page to go to."""

    gold_made: int = 0
    next: str
