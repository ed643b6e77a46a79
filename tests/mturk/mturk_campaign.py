"""A small MTurk campaign for tests: a gallery pushed to S3, an MTurk batch, a fake MTurk, crashes.

S3 is moto's (``tests/mturk/conftest.py`` starts it for every test here).

Crashes are raised from botocore's own event hooks at a named point of a call
(``before-call``: the intent is written, nothing sent; ``after-call``: MTurk applied it and
answered, the ledger has not heard), then the command is simply run again.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from crowd.answers import HitAnswer, mturk_answer_xml
from crowd.content import hit_content
from infra import aws
from infra.gallery import push_images
from infra.workspace import Workspace
from mturk.client import make_client
from mturk.question import HTML_QUESTION_NS
from tests.crowd.market_fixtures import (
    Chooser,
    add_pair_gold,
    answer_json,
    first_image,
    gallery_workspace,
    plan,
)
from tests.mturk.fake_mturk import FakeMTurk

BUCKET = "beauty-test-gallery"


class Crash(BaseException):
    """A process dying at a chosen point: not an Exception, so no handler swallows it."""


@dataclass
class Campaign:
    ws: Workspace
    fake: FakeMTurk
    client: Any
    s3: Any
    batch: int
    sleeps: list[float] = field(default_factory=list)

    def hits(self) -> list[dict[str, Any]]:
        """Our HITs in the ledger, in order."""
        return [
            dict(r)
            for r in self.ws.ledger.query(
                "SELECT id, post_state, remote_id, request_token FROM hits ORDER BY id"
            )
        ]

    def answer(self, hit_id: int, choose: Chooser = first_image) -> str:
        """The QuestionFormAnswers XML a worker's browser would make for our HIT."""
        content = hit_content(self.ws.ledger, hit_id)
        return mturk_answer_xml(HitAnswer.model_validate_json(answer_json(content, choose)))

    def submit_all(self, workers: list[str], choose: Chooser = first_image) -> list[str]:
        """Every worker submits every posted HIT; the MTurk assignment ids."""
        out = []
        for hit in self.hits():
            for worker in workers:
                out.append(
                    self.fake.submit(hit["remote_id"], worker, self.answer(hit["id"], choose))
                )
        return out

    def crash(self, when: str, operation: str, on_call: int = 1) -> None:
        """Die ``when`` ("before" or "after") the ``on_call``-th call of ``operation``."""
        seen = {"n": 0}

        def hook(**_: Any) -> None:
            seen["n"] += 1
            if seen["n"] == on_call:
                self.client.meta.events.unregister(f"{when}-call.mturk.{operation}", hook)
                raise Crash(f"{when} {operation}")

        self.client.meta.events.register(f"{when}-call.mturk.{operation}", hook)

    def rows(self, table: str) -> int:
        return int(self.ws.ledger.scalar(f"SELECT COUNT(*) FROM {table}"))


def dummy_aws(monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials: nothing here may reach a real AWS account."""
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "BEAUTY_WORKSPACE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("BEAUTY_QUIET", "1")


def push(ws: Workspace, s3: Any) -> None:
    """`beauty images push s3://BUCKET/gallery` into moto's S3."""
    if BUCKET not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
        s3.create_bucket(Bucket=BUCKET)
    report = push_images(ws, f"s3://{BUCKET}/gallery", s3_client=s3)
    assert not report.failed, report.failed


def make_campaign(
    tmp_path: Path,
    fake: FakeMTurk,
    *,
    hits: int = 3,
    assignments: int = 2,
    gold: int = 0,
    pushed: bool = True,
    max_attempts: int = 10,
) -> Campaign:
    ws = gallery_workspace(tmp_path)
    ws.settings.mturk.endpoint_url = fake.url
    if gold:
        add_pair_gold(ws.ledger, gold)
    batch = plan(
        ws,
        hits=hits,
        assignments=assignments,
        market="mturk",
        gold_rate=0.5 if gold else 0.0,
    )
    s3 = aws.client("s3", region="us-east-1")
    if pushed:
        push(ws, s3)
    sleeps: list[float] = []
    client = make_client(
        ws.settings.mturk, "sandbox", sleep=sleeps.append, max_attempts=max_attempts
    )
    return Campaign(ws=ws, fake=fake, client=client, s3=s3, batch=batch, sleeps=sleeps)


def age_actions(ws: Workspace, hours: float) -> None:
    """Pretend every money action was written ``hours`` ago."""
    then = (datetime.now(UTC) - timedelta(hours=hours)).replace(microsecond=0)
    stamp = then.isoformat().replace("+00:00", "Z")
    with ws.ledger.transaction() as conn:
        conn.execute("UPDATE money_actions SET created_at = ?", (stamp,))


def question_html(question: str) -> str:
    """The page inside an HTMLQuestion, as MTurk serves it to a worker's browser."""
    root = ET.fromstring(question)
    return (root.findtext(f"{{{HTML_QUESTION_NS}}}HTMLContent") or "").strip()


def page_image_urls(html: str) -> dict[str, str]:
    """Image token -> the URL the page loads it from (the page's own compaction undone)."""
    found = re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S)
    assert found is not None, "no page data in the HTML"
    data = json.loads(found.group(1))

    def url(index: int) -> str:
        entry = data["urls"][index]
        if data["query"] is None:
            return str(data["base"] + entry[0])
        own = iter(entry[1:])
        query = "&".join(next(own) if part == 0 else part for part in data["query"])
        return f"{data['base']}{entry[0]}?{query}"

    return {token: url(index) for s in data["screens"] for token, index in s["images"]}
