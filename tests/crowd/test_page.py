from __future__ import annotations

import functools
import http.server
import json
import re
import secrets
import threading
import urllib.parse
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import given
from hypothesis import strategies as st
from selenium.webdriver.support.wait import WebDriverWait

from crowd.answers import parse_local_answer
from crowd.batches import hit_content, list_hits
from crowd.content import HitContent, ScreenContent, ScreenKind
from crowd.gold_items import make_gold
from crowd.page import PREVIEW_ASSIGNMENT, Mode, compact_urls, preview_hit, render_hit_page
from crowd.submissions import check_answer
from crowd.tokens import new_token
from infra.workspace import Workspace
from mturk.question import (
    HTML_QUESTION_NS,
    MAX_QUESTION_BYTES,
    SANDBOX_SUBMIT_URL,
    PageTooLarge,
    mturk_question_xml,
    sample_image_url,
)
from tests.conftest import jpeg_bytes
from tests.crowd.framed import chromium
from tests.crowd.tiny_gallery import add_photos, plan


def content_of(kind: ScreenKind, screens: int, gold_at: frozenset[int] = frozenset()) -> HitContent:
    size = 2 if kind == "pair" else 4
    return HitContent(
        hit_id=1,
        hit_token=new_token(),
        screens=[
            ScreenContent(
                screen_id=i,
                token=new_token(),
                kind=kind,
                images=[(new_token(), secrets.token_hex(8)) for _ in range(size)],
                gold_id=7 if i in gold_at else None,
            )
            for i in range(screens)
        ],
    )


def page_data(html: str) -> dict:
    found = re.search(r'<script type="application/json" id="data">(.*?)</script>', html, re.S)
    assert found is not None
    return json.loads(found.group(1))


def expand(data: dict, index: int) -> str:
    """The URL the page's script builds for image ``index`` (the same steps, in Python)."""
    entry = data["urls"][index]
    if data["query"] is None:
        return data["base"] + entry[0]
    own = iter(entry[1:])
    return (
        data["base"]
        + entry[0]
        + "?"
        + "&".join(next(own) if part == 0 else part for part in data["query"])
    )


@pytest.mark.parametrize("kind", ["pair", "fourup"])
def test_twenty_screens_fit_mturk_with_long_presigned_urls(kind: ScreenKind) -> None:
    content = content_of(kind, 20, gold_at=frozenset({3, 11}))
    ids = content.image_ids()
    url = sample_image_url("0123456789abcdef")
    assert 1400 <= len(url) <= 1700 and "X-Amz-Security-Token" in url
    # Signed once: a URL signed again a second later differs in its date and signature.
    urls = {token: sample_image_url(image) for token, image in ids.items()}
    html = render_hit_page(
        content, mode="mturk", image_url=urls.__getitem__, submit_url=SANDBOX_SUBMIT_URL
    )
    size = len(mturk_question_xml(html).encode())
    naive = sum(len(u) for u in urls.values())
    assert size <= MAX_QUESTION_BYTES
    assert size < naive / 2  # shared parameters travel once, not once per image
    data = page_data(html)
    for screen in data["screens"]:
        for token, index in screen["images"]:
            assert expand(data, index) == urls[token]


def test_urls_signed_across_seconds_still_share_their_token() -> None:
    token = "T" * 1100
    urls = [
        f"https://b.s3.amazonaws.com/g/{i:016x}.jpg?X-Amz-Algorithm=AWS4-HMAC-SHA256"
        f"&X-Amz-Date=20250101T0000{i % 60:02d}Z&X-Amz-Security-Token={token}"
        f"&X-Amz-Signature={secrets.token_hex(32)}"
        for i in range(80)
    ]
    base, query, entries = compact_urls(urls)
    data = {"base": base, "query": query, "urls": entries}
    assert [expand(data, i) for i in range(80)] == urls
    assert len(json.dumps(data)) < 80 * 150 + 1300


url_part = st.text(alphabet="abcXYZ019-_.~%=/", min_size=0, max_size=12)


@given(
    st.lists(
        st.tuples(
            st.lists(url_part, min_size=1, max_size=3).map("/".join),
            st.none() | st.lists(url_part, min_size=1, max_size=4).map("&".join),
        ),
        min_size=1,
        max_size=8,
    )
)
def test_compacted_urls_come_back_byte_for_byte(parts: list[tuple[str, str | None]]) -> None:
    urls = [f"https://h/{path}" + ("" if q is None else f"?{q}") for path, q in parts]
    base, query, entries = compact_urls(urls)
    data = {"base": base, "query": query, "urls": entries}
    assert [expand(data, i) for i in range(len(urls))] == urls


def normalised(html: str, content: HitContent) -> str:
    """The page with every token and image id replaced by its order of first appearance."""
    names = [content.hit_token]
    for s in content.screens:
        names += [s.token, *(t for t, _ in s.images), *(i for _, i in s.images)]
    pattern = re.compile("|".join(re.escape(n) for n in set(names)))
    seen: dict[str, str] = {}
    return pattern.sub(lambda m: seen.setdefault(m.group(0), f"<{len(seen)}>"), html)


@pytest.mark.parametrize("mode", ["mturk", "local", "preview"])
@pytest.mark.parametrize("kind", ["pair", "fourup"])
def test_a_gold_screen_renders_exactly_like_a_normal_one(mode: Mode, kind: ScreenKind) -> None:
    with_gold = content_of(kind, 6, gold_at=frozenset({2, 4}))
    without = content_of(kind, 6)

    def render(content: HitContent) -> str:
        ids = content.image_ids()
        return render_hit_page(
            content,
            mode=mode,
            image_url=lambda t: f"https://bucket.s3.amazonaws.com/g/{ids[t]}.jpg?sig={t}",
            submit_url="/submit",
        )

    a, b = render(with_gold), render(without)
    assert normalised(a, with_gold) == normalised(b, without)
    assert "gold" not in a.lower()
    screens = page_data(a)["screens"]
    shapes = {
        json.dumps(
            {k: (len(v) if isinstance(v, list) else v) for k, v in s.items() if k != "token"}
        )
        for s in screens
    }
    assert len(shapes) == 1  # one shape for every screen, gold or not


def test_modes_decide_the_form_and_the_submit_button() -> None:
    content = content_of("pair", 3)

    def render(mode: Mode, assignment: str | None = None) -> str:
        return render_hit_page(
            content,
            mode=mode,
            image_url=lambda t: f"/i/{t}",
            submit_url=SANDBOX_SUBMIT_URL,
            assignment_id=assignment,
        )

    mturk = render("mturk", "A1")
    assert f'action="{SANDBOX_SUBMIT_URL}"' in mturk
    assert 'name="assignmentId" id="assignmentId" value="A1"' in mturk
    assert f'name="hit" value="{content.hit_token}"' in mturk
    for s in content.screens:
        assert mturk.count(f'name="{s.token}"') == 1
    assert 'id="submit"' in mturk
    assert 'id="submit"' not in render("mturk", PREVIEW_ASSIGNMENT)
    assert 'action=""' in render("local") and 'id="submit">Submit' in render("local")
    assert 'id="submit">Show answer' in render("preview")


def test_each_url_is_emitted_once() -> None:
    content = content_of("fourup", 5)
    ids = content.image_ids()
    repeated = next(iter(ids.values()))
    url_of = {
        t: f"https://cdn.example/{repeated if n % 3 == 0 else i}.jpg"
        for n, (t, i) in enumerate(ids.items())
    }
    html = render_hit_page(content, mode="local", image_url=url_of.__getitem__, submit_url="/s")
    for url in set(url_of.values()):
        assert html.count(url.rsplit("/", 1)[1]) == 1


def test_question_xml_wraps_the_page_and_enforces_the_limit() -> None:
    html = "<!DOCTYPE html><html><body><script>if (a[b[0]]>1) {}</script>]]></body></html>"
    xml = mturk_question_xml(html)
    root = ET.fromstring(xml)
    assert root.tag == f"{{{HTML_QUESTION_NS}}}HTMLQuestion"
    assert (root.findtext(f"{{{HTML_QUESTION_NS}}}HTMLContent") or "").strip() == html
    assert root.findtext(f"{{{HTML_QUESTION_NS}}}FrameHeight") == "0"
    with pytest.raises(PageTooLarge, match="fewer screens"):
        mturk_question_xml("x" * MAX_QUESTION_BYTES)


def test_preview_writes_the_page_and_images_named_by_token(ws: Workspace, tmp_path: Path) -> None:
    add_photos(ws, tmp_path / "gallery", n=6)
    make_gold(ws, 2, qualification_share=0.0)
    batch = plan(ws, design="fourup", screens_per_hit=3, hits=1, gold_rate=0.3)
    hit_id = list_hits(ws.ledger, batch.batch_id)[0]["id"]
    page = preview_hit(ws, hit_id, tmp_path / "preview")
    assert page == tmp_path / "preview" / "page.html"
    content = hit_content(ws.ledger, hit_id)
    uris = {r[0]: r[1] for r in ws.ledger.query("SELECT id, uri FROM images")}
    files = {p.name for p in page.parent.iterdir()} - {"page.html"}
    assert files == {f"{t}.jpg" for s in content.screens for t, _ in s.images}
    for s in content.screens:
        for token, image in s.images:
            assert (page.parent / f"{token}.jpg").read_bytes() == Path(uris[image]).read_bytes()
    html = page.read_text()
    assert not any(image in html for image in uris)


class _Recorder(http.server.SimpleHTTPRequestHandler):
    """Serves the folder; records POSTed bodies and answers with where to go next."""

    posts: ClassVar[list[tuple[str, str]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"])).decode()
        self.posts.append((self.path, body))
        reply = b'{"next": "/done.html"}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(reply)))
        self.end_headers()
        self.wfile.write(reply)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b.driver


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[str, Path, list[tuple[str, str]]]]:
    folder = tmp_path / "site"
    folder.mkdir()
    (folder / "done.html").write_text("<p>done</p>")
    handler = functools.partial(_Recorder, directory=str(folder))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    _Recorder.posts = []
    yield f"http://127.0.0.1:{server.server_address[1]}", folder, _Recorder.posts
    server.shutdown()


def _write_images(folder: Path, content: HitContent) -> None:
    for s in content.screens:
        for n, (token, _) in enumerate(s.images):
            (folder / f"{token}.jpg").write_bytes(jpeg_bytes(n, size=(400, 52)))


def _press(driver: Any, *keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    for key in keys:
        ActionChains(driver).send_keys(key).perform()


def _text(driver: Any, element: str) -> str:
    return str(driver.find_element("id", element).text)


@pytest.mark.slow
def test_pair_page_answers_by_keyboard_and_posts_json_locally(
    browser: Any, served: tuple[str, Path, list[tuple[str, str]]]
) -> None:
    from selenium.webdriver.common.keys import Keys

    origin, folder, posts = served
    content = content_of("pair", 3)
    _write_images(folder, content)
    html = render_hit_page(
        content, mode="local", image_url=lambda t: f"/{t}.jpg", submit_url="/api/submit"
    )
    (folder / "page.html").write_text(html)
    browser.get(f"{origin}/page.html")
    assert _text(browser, "progress") == "1 / 3"
    srcs = [f.get_attribute("src") for f in browser.find_elements("css selector", "figure img")[:2]]
    assert srcs == [f"{origin}/{t}.jpg" for t, _ in content.screens[0].images]
    _press(browser, Keys.ENTER)
    assert "Pick a photo" in _text(browser, "msg") and _text(browser, "progress") == "1 / 3"
    _press(browser, Keys.ARROW_DOWN, Keys.ENTER)
    assert _text(browser, "progress") == "2 / 3"
    browser.find_elements("css selector", "figure")[0].click()
    _press(browser, Keys.ENTER, "0", Keys.ENTER)
    WebDriverWait(browser, 5).until(lambda d: d.current_url.endswith("/done.html"))
    assert [path for path, _ in posts] == ["/api/submit"]
    answer = parse_local_answer(posts[0][1])
    judged = check_answer(answer, content)
    assert [j.selected for j in judged] == [
        [content.screens[0].images[1][1]],
        [content.screens[1].images[0][1]],
        [],
    ]
    assert all(0 <= j.seconds < 60 for j in judged)


@pytest.mark.slow
def test_fourup_page_needs_an_explicit_none_and_posts_the_mturk_form(
    browser: Any, served: tuple[str, Path, list[tuple[str, str]]]
) -> None:
    from selenium.webdriver.common.keys import Keys

    origin, folder, posts = served
    content = content_of("fourup", 3)
    _write_images(folder, content)
    html = render_hit_page(
        content,
        mode="mturk",
        image_url=lambda t: f"/{t}.jpg",
        submit_url=f"{origin}/mturk/externalSubmit",
    )
    (folder / "page.html").write_text(html)

    browser.get(f"{origin}/page.html?assignmentId={PREVIEW_ASSIGNMENT}&hitId=H")
    assert not browser.find_elements("id", "submit")

    browser.get(f"{origin}/page.html?assignmentId=A123&hitId=H&workerId=W")
    _press(browser, "1", "3", "3", "4", Keys.ENTER)  # 3 toggled on and off again
    assert _text(browser, "progress") == "2 / 3"
    _press(browser, Keys.ENTER)
    assert "None worth keeping" in _text(browser, "msg")
    _press(browser, "2", "0", Keys.ENTER)  # choosing none clears the selection
    browser.find_element("id", "submit").click()  # screen 3 unanswered: refused, shown
    assert _text(browser, "progress") == "3 / 3" and "no answer yet" in _text(browser, "msg")
    assert not posts
    _press(browser, Keys.BACKSPACE)
    assert _text(browser, "progress") == "2 / 3"
    _press(browser, Keys.ENTER, "2", Keys.ENTER)
    WebDriverWait(browser, 5).until(lambda d: bool(posts))
    path, body = posts[0]
    fields = dict(urllib.parse.parse_qsl(body, keep_blank_values=True))
    assert path == "/mturk/externalSubmit"
    assert fields.pop("assignmentId") == "A123" and fields.pop("hit") == content.hit_token
    shown = [[t for t, _ in s.images] for s in content.screens]
    chosen = [json.loads(fields[s.token])["selected"] for s in content.screens]
    assert chosen == [[shown[0][0], shown[0][3]], [], [shown[2][1]]]
