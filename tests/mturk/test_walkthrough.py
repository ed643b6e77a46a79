"""docs/mturk.md's sandbox walkthrough, run as written against the MTurk fake and moto's S3.

The commands are read from the document's ``bash`` blocks, so the test fails when the walkthrough
stops working (a step out of order, a renamed option), not only when the code does. Between
posting and syncing, two workers do every HIT on the fake: one passes the gold, one fails it.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from beauty.cli import cli
from crowd.answers import HitAnswer, mturk_answer_xml
from crowd.content import hit_content
from infra import aws
from infra.workspace import Workspace
from mturk.hit_type import APPROVAL_RATE, APPROVED_HITS
from tests.conftest import jpeg_bytes
from tests.crowd.market_fixtures import answer_json, gold_chooser
from tests.mturk.fake_mturk import FakeMTurk
from tests.mturk.mturk_campaign import dummy_aws, page_image_urls, question_html

DOC = Path(__file__).resolve().parents[2] / "docs" / "mturk.md"
GOOD, BAD = "AGOODWORKER", "ASLOPPYWORKER"


def walkthrough() -> list[list[str]]:
    """The walkthrough's bash blocks: each a list of command lines, comments dropped."""
    text = DOC.read_text(encoding="utf-8")
    start = text.index("## A sandbox walkthrough")
    end = text.index("\n### ", start)  # the first subsection ends the walkthrough
    blocks = re.findall(r"```bash\n(.*?)```", text[start:end], re.S)
    assert len(blocks) == 3, "the walkthrough: set up, post, then fetch and decide"
    return [[line for line in block.splitlines() if line.strip()] for block in blocks]


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeMTurk]:
    """A home with ~/photos/skyline, the bucket my-bucket, and the fake as MTurk's endpoint."""
    dummy_aws(monkeypatch)
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    photos = tmp_path / "photos" / "skyline"
    photos.mkdir(parents=True)
    for i in range(12):
        (photos / f"2016-07-{i + 1:02d}_1930.jpg").write_bytes(jpeg_bytes(300 + i, (96, 24)))
    aws.client("s3", region="us-east-1").create_bucket(Bucket="my-bucket")
    with FakeMTurk() as fake:
        monkeypatch.setenv("AWS_ENDPOINT_URL_MTURK", fake.url)
        yield fake


def run(line: str, monkeypatch: pytest.MonkeyPatch) -> list[Result]:
    """One command line of the document: ``a && b``, ``NAME=value beauty ...``, ``cd DIR``."""
    results = []
    for part in line.split("&&"):
        words = shlex.split(part, comments=True)
        env = {}
        while words and re.fullmatch(r"[A-Z_][A-Z0-9_]*=.*", words[0]):
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        if words[0] == "cd":
            monkeypatch.chdir(words[1])
            continue
        assert words[0] == "beauty", f"not a beauty command: {part}"
        args = [os.path.expanduser(w) for w in words[1:]]
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 0, f"`{part.strip()}` failed:\n{result.output}"
        results.append(result)
    return results


def work_every_hit(fake: FakeMTurk) -> None:
    """What workers do in the sandbox: GOOD passes every gold screen, BAD fails every one."""
    ledger = Workspace.open().ledger
    for worker, passes in ((GOOD, True), (BAD, False)):
        choose = gold_chooser(ledger, passes)
        for row in ledger.query("SELECT id, remote_id FROM hits WHERE post_state = 'posted'"):
            answer = answer_json(hit_content(ledger, int(row["id"])), choose)
            xml = mturk_answer_xml(HitAnswer.model_validate_json(answer))
            fake.submit(str(row["remote_id"]), worker, xml)


def test_the_walkthrough_runs_as_written(
    sandbox: FakeMTurk, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup, posting, deciding = walkthrough()
    for line in setup:
        run(line, monkeypatch)
    (posted,) = run(posting[0], monkeypatch)
    assert "5 HIT(s) posted" in posted.output
    (hit_type,) = sandbox.hit_types.values()
    required = {r["QualificationTypeId"] for r in hit_type["QualificationRequirements"]}
    assert not required & {APPROVAL_RATE, APPROVED_HITS}, "requirements were not lowered"
    for hit in sandbox.hits.values():
        urls = page_image_urls(question_html(hit["Question"]))
        assert all("/skyline/h/" in url for url in urls.values()), "not per-HIT copies"
    work_every_hit(sandbox)
    outputs = [r.output for line in deciding for r in run(line, monkeypatch)]
    assert "10 new answer(s)" in outputs[0] and "0 unreadable" in outputs[0]
    statuses = {(a["WorkerId"], a["AssignmentStatus"]) for a in sandbox.assignments.values()}
    assert statuses == {(GOOD, "Approved"), (BAD, "Rejected")}
    assert "batch" in outputs[-1] and "sandbox" in outputs[-1]


def test_pushing_before_making_gold_is_refused_with_the_fix(
    sandbox: FakeMTurk, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The order the walkthrough warns against: the variants are not on S3, so nothing posts."""
    setup, posting, _ = walkthrough()
    gold = next(k for k, line in enumerate(setup) if "gold make" in line)
    push = next(k for k, line in enumerate(setup) if "images push" in line)
    setup[gold], setup[push] = setup[push], setup[gold]
    for line in setup:
        run(line, monkeypatch)
    with pytest.raises(AssertionError, match=r"images push .*again after `beauty gold make`"):
        run(posting[0], monkeypatch)
    assert not sandbox.hits
