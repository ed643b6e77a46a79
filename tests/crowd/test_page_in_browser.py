"""The HIT page as people meet it: in laptop and phone windows, with slow, failing and broken
photos, a reload in the middle of a HIT, and MTurk's preview.

Panoramas of 1820x237 pixels, as the gallery's, come from a loopback site that can hold a photo
back until the test lets it go, fail it once, or never serve it. Needs Debian's ``chromium`` and
``chromium-driver`` (``make browser``); skipped without them, except under ``CI=true``.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from PIL import Image

from crowd.answers import parse_local_answer
from crowd.content import HitContent, ScreenContent, ScreenKind
from crowd.page import PREVIEW_ASSIGNMENT, Mode, render_hit_page
from crowd.submissions import check_answer
from crowd.tokens import new_token
from tests.crowd.framed import HTML, Browser, Loopback, Reply, Request, chromium

pytestmark = pytest.mark.slow

LAPTOPS = [(1366, 768), (1280, 720)]
PHONE = (390, 844)
JSON = "application/json"

# Where every shown photo and the control that moves on (Next, or Submit on the last screen)
# are, and how each photo is drawn against its own shape.
MEASURE = """
var box = function (el) { var b = el.getBoundingClientRect();
  return {top: b.top, bottom: b.bottom, left: b.left, right: b.right}; };
var figs = [].slice.call(document.querySelectorAll("#photos figure")).filter(function (f) {
  return !f.hidden; });
var go = document.getElementById("next");
if (go.hidden && document.getElementById("submit")) go = document.getElementById("submit");
return {
  width: innerWidth, height: innerHeight,
  page: document.documentElement.scrollHeight,
  progress: document.getElementById("progress").textContent,
  help: document.getElementById("help").open,
  msg: document.getElementById("msg").textContent,
  go: box(go),
  photos: figs.map(function (f) {
    var img = f.querySelector("img"), b = img.getBoundingClientRect(), o = box(f);
    o.drawn = b.width / b.height; o.own = img.naturalWidth / img.naturalHeight;
    o.state = f.className; o.pressed = f.getAttribute("aria-pressed");
    return o;
  })
};
"""


# Whether the page has fetched ``arguments[0]`` to the end (a failed fetch included).
FETCHED = """
var path = arguments[0];
return performance.getEntriesByType("resource").some(function (e) {
  return e.name.endsWith(path) && e.responseEnd > 0; });
"""


STARTED = """
var p = document.getElementById("progress");
return !!p && p.textContent !== "";
"""


def panorama(seed: int) -> bytes:
    """A 1820x237 JPEG of one colour (the gallery's shape, a few hundred bytes)."""
    buf = io.BytesIO()
    colour = (40 * seed % 256, 90 + 17 * seed % 160, 200 - 13 * seed % 200)
    Image.new("RGB", (1820, 237), colour).save(buf, "JPEG")
    return buf.getvalue()


@dataclass
class Site:
    """HIT pages and photos on loopback; records every request and every POSTed answer."""

    pages: dict[str, str] = field(default_factory=dict)
    photos: dict[str, bytes] = field(default_factory=dict)
    slow: set[str] = field(default_factory=set)  # held back until ``release`` is set
    flaky: set[str] = field(default_factory=set)  # fail their first request
    requests: list[str] = field(default_factory=list)
    posts: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    server: Loopback | None = None

    def url(self, path: str) -> str:
        assert self.server is not None
        return self.server.origin + path

    def route(self, req: Request) -> Reply:
        self.requests.append(req.path)
        kind, _, name = req.path.strip("/").partition("/")
        if req.method == "POST":
            self.posts.append(req.body.decode())
            return 200, JSON, b'{"next": "/page/done"}'
        if kind == "page" and name in self.pages:
            return 200, HTML, self.pages[name].encode()
        if kind == "img" and name in self.photos:
            if name in self.slow:
                self.release.wait(20)
            if name in self.flaky and self.requests.count(req.path) == 1:
                return 503, HTML, b"try again"
            return 200, "image/jpeg", self.photos[name]
        return 404, HTML, b"not found"

    def hit(
        self,
        layout: list[tuple[ScreenKind, list[str]]],
        mode: Mode = "local",
        assignment: str | None = None,
    ) -> HitContent:
        """Serve a HIT of these screens (photos by name) as page ``hit``; unknown names 404."""
        content = HitContent(
            hit_id=1,
            hit_token=new_token(),
            screens=[
                ScreenContent(k, new_token(), kind, [(new_token(), name) for name in names])
                for k, (kind, names) in enumerate(layout)
            ],
        )
        for k, name in enumerate(sorted(content.image_ids().values())):
            if not name.startswith("broken"):
                self.photos[f"{name}.jpg"] = panorama(k)
        ids = content.image_ids()
        self.pages["hit"] = render_hit_page(
            content,
            mode=mode,
            image_url=lambda token: f"/img/{ids[token]}.jpg",
            submit_url="/api/submit",
            assignment_id=assignment,
        )
        self.pages["done"] = '<link rel="icon" href="data:,"><p>Saved</p>'
        return content


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    s.server = Loopback(s.route)
    yield s
    s.release.set()
    s.server.close()


def _window(driver: Any, size: tuple[int, int]) -> None:
    width, height = size
    driver.execute_cdp_cmd(
        "Emulation.setDeviceMetricsOverride",
        {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600},
    )


def _open(browser: Browser, site: Site, size: tuple[int, int], query: str = "") -> None:
    """Open the HIT page in a window of ``size`` with nothing kept from earlier tests; returns
    once its script runs, without waiting for photos (a slow one would hold the load event)."""
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser.driver
    driver.get(site.url("/page/done"))
    driver.execute_script("localStorage.clear()")
    _window(driver, size)
    driver.execute_script("location.assign(arguments[0])", site.url("/page/hit" + query))
    WebDriverWait(driver, 10).until(lambda d: d.execute_script(STARTED))


def _press(driver: Any, *keys: str) -> None:
    from selenium.webdriver.common.action_chains import ActionChains

    for key in keys:
        ActionChains(driver).send_keys(key).perform()


def _settled(driver: Any, progress: str, timeout: float = 10) -> dict[str, Any]:
    """The page once it shows screen ``progress`` with every photo loaded or given up."""
    from selenium.webdriver.support.ui import WebDriverWait

    def done(d: Any) -> dict[str, Any] | None:
        m: dict[str, Any] = d.execute_script(MEASURE)
        quiet = all("loading" not in p["state"].split() for p in m["photos"])
        return m if m["progress"] == progress and quiet else None

    got: dict[str, Any] = WebDriverWait(driver, timeout).until(done)
    return got


LAYOUT: list[tuple[ScreenKind, list[str]]] = [
    ("fourup", ["a", "b", "c", "d"]),
    ("pair", ["e", "a"]),
    ("fourup", ["f", "g", "b", "e"]),
]


@pytest.mark.parametrize("size", LAPTOPS, ids=lambda s: f"{s[0]}x{s[1]}")
def test_every_screen_fits_a_laptop_window(
    browser: Browser, site: Site, size: tuple[int, int]
) -> None:
    from selenium.webdriver.common.keys import Keys

    driver = browser.driver
    site.hit(LAYOUT)
    _open(browser, site, size)
    n = len(LAYOUT)
    seen = []
    for i in range(n):
        m = _settled(driver, f"{i + 1} / {n}")
        seen.append((f"screen {i + 1}", m))
        assert m["help"] == (i == 0), f"instructions open={m['help']} on screen {i + 1}"
        if i < n - 1:
            _press(driver, "1", Keys.ENTER)
    _press(driver, "h")  # the instructions come back on the last screen, and the page still fits
    seen.append(("instructions reopened", _settled(driver, f"{n} / {n}")))
    assert seen[-1][1]["help"], "h did not reopen the instructions"
    _press(driver, "?")
    assert not _settled(driver, f"{n} / {n}")["help"], "? did not close the instructions"

    for where, m in seen:
        width, height = m["width"], m["height"]
        assert (width, height) == size
        bottoms = [round(p["bottom"]) for p in m["photos"]]
        what = f"{where} at {width}x{height}: photos end at {bottoms}, Next at {m['go']['bottom']}"
        assert m["page"] <= height, f"{what}; the page is {m['page']} px high"
        for box in (*m["photos"], m["go"]):
            assert box["top"] >= 0 and box["bottom"] <= height, what
            assert box["left"] >= 0 and box["right"] <= width, what
        for k, p in enumerate(m["photos"]):
            assert abs(p["drawn"] / p["own"] - 1) < 0.02, f"{where}: photo {k + 1} stretched"


def test_a_phone_can_choose_every_photo_and_reach_next(browser: Browser, site: Site) -> None:
    from selenium.webdriver.common.by import By

    driver = browser.driver
    content = site.hit(LAYOUT)
    _open(browser, site, PHONE)
    n = len(LAYOUT)
    for i, (kind, names) in enumerate(LAYOUT):
        m = _settled(driver, f"{i + 1} / {n}")
        for k, p in enumerate(m["photos"]):
            assert p["left"] >= 0 and p["right"] <= PHONE[0], f"screen {i + 1}: photo {k + 1} wider"
            assert abs(p["drawn"] / p["own"] - 1) < 0.02, f"screen {i + 1}: photo {k + 1} stretched"
        for k in range(len(names) if kind == "fourup" else 1):
            driver.find_elements(By.CSS_SELECTOR, "#photos figure")[k].click()
        pressed = [p["pressed"] for p in driver.execute_script(MEASURE)["photos"]]
        want = ["true"] * len(names) if kind == "fourup" else ["true", "false"]
        assert pressed == want, f"screen {i + 1}: taps left photos {pressed}"
        driver.find_element(By.ID, "next" if i < n - 1 else "submit").click()
    answer = _posted(driver, site)
    chosen = [len(s.selected) for s in answer.screens]
    assert chosen == [4, 1, 4], f"posted selections {chosen}"
    assert check_answer(answer, content)


def _posted(driver: Any, site: Site) -> Any:
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(driver, 10).until(lambda d: d.current_url.endswith("/page/done"))
    assert len(site.posts) == 1, f"{len(site.posts)} answers posted"
    return parse_local_answer(site.posts[0])


def test_photos_are_chosen_once_loaded_and_a_broken_one_skips_its_screen(
    browser: Browser, site: Site
) -> None:
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    driver = browser.driver
    site.slow, site.flaky = {"slow.jpg"}, {"flaky.jpg"}
    # The slow photo is fetched once the page has loaded (screen 2 preloads it), so that it
    # holds back no WebDriver command; each screen preloads the next one's photos.
    content = site.hit(
        [
            ("fourup", ["flaky", "a", "b", "c"]),
            ("pair", ["a", "b"]),
            ("fourup", ["c", "a", "slow", "b"]),
            ("pair", ["a", "c"]),
            ("fourup", ["c", "broken", "a", "b"]),
            ("pair", ["c", "a"]),
        ]
    )
    _open(browser, site, LAPTOPS[0])
    wait = WebDriverWait(driver, 10)

    # Screen 1: the flaky photo comes on its retry.
    m = _settled(driver, "1 / 6")
    assert site.requests.count("/img/flaky.jpg") == 2 and m["photos"][0]["state"] == ""
    _press(driver, "1", Keys.ENTER)
    _settled(driver, "2 / 6")
    _press(driver, "1", Keys.ENTER)

    # Screen 3: the slow photo holds the screen, in a slot of its final size.
    waiting = driver.execute_script(MEASURE)
    assert waiting["progress"] == "3 / 6"
    assert waiting["photos"][2]["state"] == "loading", "no loading state on a slow photo"
    _press(driver, "3", "1", "0", Keys.ENTER)
    m = driver.execute_script(MEASURE)
    assert [p["pressed"] for p in m["photos"]] == ["false"] * 4, "chosen before all had loaded"
    assert m["progress"] == "3 / 6" and "load" in m["msg"], f"went on unloaded: {m['msg']!r}"
    site.release.set()
    loaded = _settled(driver, "3 / 6")
    heights = [round(p["bottom"] - p["top"]) for p in (waiting["photos"][2], loaded["photos"][2])]
    assert heights[0] == heights[1], f"the slow photo's slot went from {heights[0]} to {heights[1]}"
    _press(driver, "3", Keys.ENTER)

    # Screen 4 preloads screen 5's broken photo and says nothing of it.
    wait.until(lambda d: d.execute_script(FETCHED, "/img/broken.jpg"))
    m = _settled(driver, "4 / 6")
    assert m["msg"] == "", f"screen 4 warns of another screen's photo: {m['msg']!r}"
    _press(driver, "1", Keys.ENTER)

    # Screen 5 holds it: said there, nothing to choose, and Next goes on.
    wait.until(lambda d: "failed" in d.execute_script(MEASURE)["photos"][1]["state"])
    m = driver.execute_script(MEASURE)
    assert "could not load" in m["msg"], f"screen 5 says {m['msg']!r}"
    _press(driver, "1", "0", Keys.ENTER)
    m = _settled(driver, "6 / 6")
    assert m["msg"] == "", f"the warning followed to screen 6: {m['msg']!r}"
    _press(driver, "2", Keys.ENTER)

    answer = _posted(driver, site)
    skipped = [s.could_not_load for s in answer.screens]
    assert skipped == [False] * 4 + [True, False], f"could-not-load screens posted as {skipped}"
    assert answer.screens[4].selected == []
    judged = check_answer(answer, content)
    assert [j.could_not_load for j in judged] == skipped


def test_answers_survive_a_reload_until_submitted(browser: Browser, site: Site) -> None:
    from selenium.webdriver.common.keys import Keys

    driver = browser.driver
    content = site.hit(LAYOUT, assignment="A1")
    _open(browser, site, LAPTOPS[0])
    _settled(driver, "1 / 3")
    _press(driver, "2", "4", Keys.ENTER)
    _settled(driver, "2 / 3")
    _press(driver, "2", Keys.ENTER)
    _settled(driver, "3 / 3")
    driver.refresh()
    _settled(driver, "3 / 3")
    _press(driver, Keys.BACKSPACE)
    pressed = [p["pressed"] for p in _settled(driver, "2 / 3")["photos"]]
    assert pressed == ["false", "true"], f"screen 2 after a reload: {pressed}"
    _press(driver, Keys.BACKSPACE)
    pressed = [p["pressed"] for p in _settled(driver, "1 / 3")["photos"]]
    assert pressed == ["false", "true", "false", "true"], f"screen 1 after a reload: {pressed}"
    _press(driver, Keys.ENTER, Keys.ENTER)
    _settled(driver, "3 / 3")
    _press(driver, "0", Keys.ENTER)

    answer = _posted(driver, site)
    positions = [
        sorted([t for t, _ in s.images].index(t) for t in a.selected)
        for s, a in zip(content.screens, answer.screens, strict=True)
    ]
    assert positions == [[1, 3], [1], []], f"posted photos by position: {positions}"
    assert driver.execute_script("return localStorage.length") == 0, "answers kept after submit"
    driver.get(site.url("/page/hit"))
    m = _settled(driver, "1 / 3")
    assert [p["pressed"] for p in m["photos"]] == ["false"] * 4
    assert "/favicon.ico" not in site.requests, "the browser asked for a favicon"


def test_the_mturk_preview_says_so_on_every_screen_and_never_submits(
    browser: Browser, site: Site
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    driver = browser.driver
    site.hit(LAYOUT, mode="mturk")
    _open(browser, site, LAPTOPS[1], f"?assignmentId={PREVIEW_ASSIGNMENT}&hitId=H")
    n = len(LAYOUT)
    for i in range(n):
        _settled(driver, f"{i + 1} / {n}")
        notice = driver.find_element(By.ID, "notice")
        photos = driver.find_element(By.ID, "photos")
        assert notice.is_displayed(), f"no preview notice on screen {i + 1}"
        assert notice.rect["y"] + notice.rect["height"] <= photos.rect["y"], "notice below photos"
        assert not driver.find_elements(By.ID, "submit"), f"a Submit on screen {i + 1}"
        _press(driver, "1", Keys.ENTER)
    assert driver.find_element(By.ID, "notice").is_displayed()
    assert not site.posts and driver.execute_script("return localStorage.length") == 0
