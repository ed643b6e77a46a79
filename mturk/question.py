"""MTurk's side of the HIT page: the HTMLQuestion that wraps it, its size limit, and where the
page posts its answer.

MTurk caps a question at 65,535 bytes; :func:`measure_mturk_page` measures a planned HIT with
image URLs as long as real presigned ones, so a batch too large is refused when planned.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from crowd.content import HitContent
from crowd.page import render_hit_page
from infra.errors import BeautyError

SANDBOX_SUBMIT_URL = "https://workersandbox.mturk.com/mturk/externalSubmit"
LIVE_SUBMIT_URL = "https://www.mturk.com/mturk/externalSubmit"
MAX_QUESTION_BYTES = 65_535
HTML_QUESTION_NS = (
    "http://mechanicalturk.amazonaws.com/AWSMechanicalTurkDataSchemas/2011-11-11/HTMLQuestion.xsd"
)
# A presigned URL signed with temporary credentials: the session token makes most of its length.
SAMPLE_SESSION_TOKEN_CHARS = 1150
SAMPLE_BUCKET = "beauty-crowd-gallery"


class PageTooLarge(BeautyError):
    """A HIT page over MTurk's question size limit."""


def mturk_question_xml(html: str, frame_height: int = 0) -> str:
    """Wrap a page in MTurk's HTMLQuestion (``frame_height`` 0: the frame fits the page).

    Raises
    ------
    PageTooLarge
        Over MTurk's 65,535 bytes.
    """
    xml = _question_xml(html, frame_height)
    size = len(xml.encode("utf-8"))
    if size > MAX_QUESTION_BYTES:
        raise PageTooLarge(
            f"HIT page of {size:,} bytes is over MTurk's {MAX_QUESTION_BYTES:,}: plan fewer "
            "screens per HIT, or serve images from short public URLs"
        )
    return xml


def _question_xml(html: str, frame_height: int) -> str:
    body = html.replace("]]>", "]]]]><![CDATA[>")  # the one sequence CDATA cannot hold
    return (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f'<HTMLQuestion xmlns="{HTML_QUESTION_NS}"><HTMLContent><![CDATA[\n{body}\n]]>'
        f"</HTMLContent><FrameHeight>{frame_height}</FrameHeight></HTMLQuestion>"
    )


def measure_mturk_page(content: HitContent) -> int:
    """Bytes of this HIT's MTurk question with realistic ~1.5 KB presigned image URLs."""
    ids = content.image_ids()
    html = render_hit_page(
        content,
        mode="mturk",
        image_url=lambda token: sample_image_url(ids[token]),
        submit_url=LIVE_SUBMIT_URL,
    )
    return len(_question_xml(html, 0).encode("utf-8"))


def sample_image_url(image_id: str) -> str:
    """A URL shaped like the ones MTurk pages use: a per-HIT copy's key (:mod:`mturk.copies`),
    presigned for 7 days with temporary credentials (signed offline with made-up credentials;
    it opens nothing)."""
    key = f"gallery/h/{'0' * 16}/{image_id}.jpg"  # a random 16-hex name stands in the same room
    url: str = _sample_signer().generate_presigned_url(
        "get_object",
        Params={"Bucket": SAMPLE_BUCKET, "Key": key},
        ExpiresIn=7 * 24 * 3600,
    )
    return url


@cache
def _sample_signer() -> Any:
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        region_name="us-east-1",
        config=Config(signature_version="s3v4"),
        aws_access_key_id="ASIA" + "X" * 16,
        aws_secret_access_key="x" * 40,
        aws_session_token="T" * SAMPLE_SESSION_TOKEN_CHARS,
    )
