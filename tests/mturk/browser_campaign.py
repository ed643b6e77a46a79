"""An MTurk campaign worked in real Chromium, end to end, on loopback only.

The product posts batches (4-up and pairs, made gold mixed in) to the MTurk fake, with image
links presigned for per-HIT copies in moto's S3; a loopback front serves those objects to the
browser the way S3 serves presigned GETs. Each assignment is accepted on the fake, its page
(the HTMLQuestion as posted) is opened in MTurk's frame and worked by
:class:`tests.crowd.framed_worker.Worker`; the externalSubmit capture turns the form into the
QuestionFormAnswers XML MTurk would return (``assignmentId`` echoed in, as MTurk may) and
submits it on the fake; ``sync`` then stores it. The figures say how many screens were shown
wrong, how many answers were posted or stored unlike the worker's choice, and how many script
errors the pages raised.

Needs moto's ``mock_aws`` active and dummy AWS credentials (the caller's job).
"""

from __future__ import annotations

import json
import os
import random
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from crowd.answers import QFA_NS
from crowd.content import hit_content
from crowd.gold_items import make_gold
from infra import aws
from infra.gallery import push_images
from infra.sources import split_s3
from mturk.client import make_client
from mturk.post import post_batches
from mturk.sync import sync
from tests.crowd.framed import HTML, Loopback, MTurkFrame, Reply, Request, Submission, chromium
from tests.crowd.framed_worker import Screen, Slot, Worked, Worker
from tests.crowd.market_fixtures import gallery_workspace, plan
from tests.mturk.fake_mturk import FakeMTurk
from tests.mturk.mturk_campaign import BUCKET, question_html


@dataclass
class Figures:
    """What a campaign measured; a good one has every count of trouble at 0."""

    assignments: int = 0
    screens: int = 0  # screens worked, over every assignment
    views: int = 0  # screen views checked (Back makes more views than screens)
    backs: int = 0
    screens_shown_wrong: int = 0
    screens_posted_differently: int = 0
    script_errors: int = 0
    not_submitted: int = 0
    stored_as_chosen: int = 0
    parse_failed: int = 0
    seconds: float = 0.0
    problems: list[str] = field(default_factory=list)  # the first few lines of trouble


def run_campaign(
    root: Path,
    *,
    hits: int = 1,
    assignments: int = 2,
    screens_per_hit: int = 4,
    seed: int = 0,
    timeout: float = 10.0,
) -> Figures:
    """Plan ``hits`` 4-up and ``hits`` pair HITs of ``assignments`` each, post, work, sync."""
    started = time.monotonic()
    s3 = aws.client("s3", region="us-east-1")
    front = Loopback(lambda req: _serve_object(s3, req))
    custom = os.environ.get("MOTO_S3_CUSTOM_ENDPOINTS")
    # The product signs links with the front as S3's endpoint, so the browser asks the front;
    # the product's own calls to that endpoint (CopyObject) are answered by moto.
    os.environ["MOTO_S3_CUSTOM_ENDPOINTS"] = front.origin
    try:
        with FakeMTurk() as fake, MTurkFrame() as frame, chromium() as browser:
            figures = _campaign(
                root,
                fake,
                frame,
                browser,
                s3,
                front.origin,
                hits,
                assignments,
                screens_per_hit,
                seed,
                timeout,
            )
    finally:
        front.close()
        if custom is None:
            os.environ.pop("MOTO_S3_CUSTOM_ENDPOINTS", None)
        else:
            os.environ["MOTO_S3_CUSTOM_ENDPOINTS"] = custom
    figures.seconds = time.monotonic() - started
    return figures


def _campaign(
    root: Path,
    fake: FakeMTurk,
    frame: MTurkFrame,
    browser: Any,
    s3: Any,
    s3_origin: str,
    hits: int,
    assignments: int,
    screens_per_hit: int,
    seed: int,
    timeout: float,
) -> Figures:
    ws = gallery_workspace(root, n_images=10)
    ws.settings.mturk.endpoint_url = fake.url
    make_gold(ws, 4, seed=seed, qualification_share=0.0)
    for design in ("fourup", "pairwise"):
        plan(
            ws,
            hits=hits,
            assignments=assignments,
            design=design,
            market="mturk",
            screens_per_hit=screens_per_hit,
            gold_rate=0.3,
            seed=seed,
        )
    s3.create_bucket(Bucket=BUCKET)
    push_images(ws, f"s3://{BUCKET}/gallery", s3_client=s3)
    client = make_client(ws.settings.mturk, "sandbox")
    signer = aws.client("s3", region="us-east-1", endpoint_url=s3_origin)
    post_batches(ws, client=client, s3_client=signer)

    accepted: dict[str, tuple[str, str]] = {}  # assignment -> (HIT, worker)
    figures = Figures()

    def submit(got: Submission) -> None:
        assignment = got.get("assignmentId") or ""
        hit, worker = accepted[assignment]
        fake.submit(hit, worker, _answer_xml(got.fields), assignment_id=assignment)

    frame.on_submit = submit
    rng = random.Random(seed)
    worked: dict[str, tuple[int, Worked]] = {}
    rows = ws.ledger.query("SELECT id, remote_id FROM hits ORDER BY batch_id, position")
    for k, row in enumerate(rows):
        remote = str(row["remote_id"])
        frame.pages[remote] = question_html(fake.hits[remote]["Question"])
        screens = _expected(ws, int(row["id"]), s3_origin)
        for n in range(assignments):
            worker_id = f"AWORKER{k:03d}X{n}"
            assignment = fake.accept(remote, worker_id)
            accepted[assignment] = (remote, worker_id)
            url = frame.url(remote, assignment=assignment, hit=remote, worker=worker_id)
            person = Worker(browser, frame, screens, random.Random(rng.random()), timeout=timeout)
            worked[assignment] = (int(row["id"]), person.work(url, assignment))
    report = sync(ws, client=client)
    figures.parse_failed = report.parse_failed
    for assignment, (hit_id, w) in worked.items():
        _count(ws, figures, assignment, hit_id, w)
    return figures


def _expected(ws: Any, hit_id: int, s3_origin: str) -> list[Screen]:
    """What each screen of the HIT holds: tokens, and the URL of the HIT's copy of each image."""
    copies = {
        str(r["image_id"]): split_s3(str(r["uri"]))
        for r in ws.ledger.query(
            "SELECT image_id, uri FROM mturk_image_copies WHERE hit_id = ?", (hit_id,)
        )
    }
    return [
        Screen(
            s.token,
            s.kind,
            tuple(Slot(t, f"{s3_origin}/{'/'.join(copies[image])}") for t, image in s.images),
        )
        for s in hit_content(ws.ledger, hit_id).screens
    ]


def _count(ws: Any, figures: Figures, assignment: str, hit_id: int, w: Worked) -> None:
    figures.assignments += 1
    figures.screens += len(w.chosen)
    figures.views += w.views
    figures.backs += w.backs
    figures.screens_shown_wrong += len(w.wrong_screens)
    figures.screens_posted_differently += sum(1 for p in w.posted_wrong if p.startswith("screen"))
    figures.script_errors += len(w.errors)
    figures.not_submitted += w.submission is None
    figures.problems += [f"{assignment}: {p}" for p in [*w.wrong, *w.posted_wrong, *w.errors]]
    ids = hit_content(ws.ledger, hit_id).image_ids()
    tokens = {s.token: s.screen_id for s in hit_content(ws.ledger, hit_id).screens}
    stored = {
        int(r["screen_id"]): sorted(json.loads(r["selected"]))
        for r in ws.ledger.query(
            "SELECT j.screen_id, j.selected FROM judgments j "
            "JOIN assignments a ON a.id = j.assignment_id WHERE a.remote_id = ?",
            (assignment,),
        )
    }
    chosen = {tokens[s]: sorted(ids[t] for t in picked) for s, picked in w.chosen.items()}
    if stored == chosen:
        figures.stored_as_chosen += 1
    else:
        figures.problems.append(f"{assignment}: stored {stored}, chose {chosen}")


def _answer_xml(fields: list[tuple[str, str]]) -> str:
    """The QuestionFormAnswers MTurk returns for a form: every field, its own included."""
    root = ET.Element(f"{{{QFA_NS}}}QuestionFormAnswers")
    for name, value in fields:
        node = ET.SubElement(root, f"{{{QFA_NS}}}Answer")
        ET.SubElement(node, f"{{{QFA_NS}}}QuestionIdentifier").text = name
        ET.SubElement(node, f"{{{QFA_NS}}}FreeText").text = value
    return ET.tostring(root, encoding="unicode", xml_declaration=True, default_namespace=QFA_NS)


def _serve_object(s3: Any, req: Request) -> Reply:
    """S3 answering a presigned GET (path style: /bucket/key), from moto's store."""
    bucket, _, key = req.path.lstrip("/").partition("/")
    try:
        got = s3.get_object(Bucket=bucket, Key=key)
    except ClientError:
        return 404, HTML, b"NoSuchKey"
    return 200, str(got["ContentType"]), got["Body"].read()
