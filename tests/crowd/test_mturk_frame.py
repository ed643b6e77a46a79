"""The HIT page as MTurk shows it: in a cross-origin frame, one URL per photo, keys from the start.

On MTurk each image has one presigned URL, so a photo that reappears (in another slot, on a
later screen, on Back, twice on one screen) reuses its URL. The page must show every slot of
every screen right whatever repeats, take the keyboard without a click, post its answer to
``turkSubmitTo`` and raise no script error. Needs Debian's ``chromium`` and
``chromium-driver`` (``make browser``); skipped without them, except under ``CI=true``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from crowd.content import HitContent, ScreenContent, ScreenKind
from crowd.page import render_hit_page
from crowd.tokens import new_token
from mturk.question import SANDBOX_SUBMIT_URL
from tests.conftest import jpeg_bytes
from tests.crowd.framed import Browser, MTurkFrame, chromium
from tests.crowd.framed_worker import Screen, Slot, Worker

pytestmark = pytest.mark.slow

# Screens over five photos: each comes back in other slots and screens; "c" fills two slots of
# one screen; the pairs show photos the 4-up screens showed, and the other way round.
LAYOUT: list[tuple[ScreenKind, str]] = [
    ("fourup", "abcd"),
    ("pair", "ba"),
    ("fourup", "ccea"),
    ("pair", "ed"),
    ("fourup", "dcba"),
    ("pair", "ae"),
    ("fourup", "eabc"),
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def _hit() -> HitContent:
    return HitContent(
        hit_id=1,
        hit_token=new_token(),
        screens=[
            ScreenContent(k, new_token(), kind, [(new_token(), name * 16) for name in names])
            for k, (kind, names) in enumerate(LAYOUT)
        ],
    )


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_every_screen_shows_its_photos_and_posts_what_was_chosen(
    browser: Browser, seed: int
) -> None:
    content = _hit()
    with MTurkFrame() as frame:
        ids = sorted({image for s in content.screens for _, image in s.images})
        frame.images = {f"{i}.jpg": jpeg_bytes(k, size=(480, 60)) for k, i in enumerate(ids)}
        url_of = {t: frame.image_url(f"{i}.jpg") for t, i in content.image_ids().items()}
        frame.pages["hit"] = render_hit_page(
            content, mode="mturk", image_url=url_of.__getitem__, submit_url=SANDBOX_SUBMIT_URL
        )
        screens = [
            Screen(s.token, s.kind, tuple(Slot(t, url_of[t]) for t, _ in s.images))
            for s in content.screens
        ]
        back = frozenset({2, len(LAYOUT) - 1})
        worker = Worker(browser, frame, screens, random.Random(seed), back_from=back, timeout=5)
        assignment = f"3ASSIGNMENT{seed:019d}"
        worked = worker.work(
            frame.url("hit", assignment=assignment, hit="3HIT", worker="AW"), assignment
        )

    assert worked.keys_first, "the first screen was not answered by keys alone"
    assert worked.errors == [], f"script errors: {worked.errors}"
    assert worked.wrong == [], "screens shown wrong:\n" + "\n".join(worked.wrong)
    assert worked.views >= len(LAYOUT) + 2 and worked.backs >= 2
    assert worked.posted_wrong == [], "\n".join(worked.posted_wrong)
    posted = worked.submission
    assert posted is not None and posted.get("hit") == content.hit_token
    names = [name for name, _ in posted.fields]
    assert sorted(names) == sorted(["assignmentId", "hit", *(s.token for s in content.screens)])
