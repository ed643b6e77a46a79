"""MTurk's frame on loopback, and a worker in headless Chromium who works a HIT through it.

MTurk shows an HTMLQuestion in a cross-origin iframe of its own page, passing ``assignmentId``,
``hitId``, ``workerId`` and ``turkSubmitTo`` in the frame's URL, and the page posts its form to
``turkSubmitTo/mturk/externalSubmit``. Three loopback origins play those parts: the outer page
(``127.0.0.1``), the HIT page (``localhost``, so another site: Chromium puts the frame in a
process of its own and does not give it the keyboard), and the submit capture (``127.0.0.1``,
another port). The worker answers with keys before ever clicking, clicks later, goes Back, and
checks on every screen it sees that each slot shows what the screen holds.

Console errors and uncaught exceptions come through WebDriver BiDi, which, unlike the classic
browser log, hears the out-of-process frame.
"""

from __future__ import annotations

import html
import threading
import urllib.parse
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from tests.conftest import browser_paths


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: dict[str, str]
    body: bytes


Reply = tuple[int, str, bytes]  # status, content type, body
Route = Callable[[Request], Reply]
HTML = "text/html; charset=utf-8"


class Loopback:
    """A threaded HTTP server on 127.0.0.1, known to the browser by ``name`` (its origin)."""

    def __init__(self, route: Route, name: str = "127.0.0.1") -> None:
        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                url = urllib.parse.urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                query = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
                req = Request(self.command, url.path, query, self.rfile.read(length))
                status, kind, body = route(req)
                self.send_response(status)
                self.send_header("Content-Type", kind)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://{name}:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@dataclass
class Submission:
    """One externalSubmit POST: the form's fields in the order the browser sent them."""

    fields: list[tuple[str, str]]

    def get(self, name: str) -> str | None:
        return next((v for k, v in self.fields if k == name), None)


@dataclass
class MTurkFrame:
    """The outer page, the HIT pages (and images by name) and the submit capture."""

    on_submit: Callable[[Submission], None] | None = None
    pages: dict[str, str] = field(default_factory=dict)
    images: dict[str, bytes] = field(default_factory=dict)
    submissions: list[Submission] = field(default_factory=list)
    _servers: list[Loopback] = field(default_factory=list)

    def __enter__(self) -> MTurkFrame:
        self._servers = [
            Loopback(self._outer),
            Loopback(self._hit, name="localhost"),
            Loopback(self._capture),
        ]
        return self

    def __exit__(self, *exc: object) -> None:
        for server in self._servers:
            server.close()

    @property
    def hit_origin(self) -> str:
        return self._servers[1].origin

    def image_url(self, name: str) -> str:
        """Where the HIT pages' origin serves ``images[name]``."""
        return f"{self.hit_origin}/img/{name}"

    def url(self, page: str, *, assignment: str, hit: str, worker: str) -> str:
        """The outer page framing HIT page ``page`` the way MTurk frames an HTMLQuestion."""
        params = {
            "assignmentId": assignment,
            "hitId": hit,
            "workerId": worker,
            "turkSubmitTo": self._servers[2].origin,
        }
        inner = f"{self.hit_origin}/page/{page}?{urllib.parse.urlencode(params)}"
        return f"{self._servers[0].origin}/frame?{urllib.parse.urlencode({'src': inner})}"

    def _outer(self, req: Request) -> Reply:
        if req.path != "/frame":
            return 204, HTML, b""  # the favicon, and nothing else
        src = html.escape(req.query["src"], quote=True)
        page = (
            '<!DOCTYPE html><html><head><meta charset="utf-8"><title>MTurk</title></head><body>'
            '<p>Accepted: work on the task below.</p><iframe id="hit" src="' + src + '" '
            'style="width:100%;height:1200px;border:0"></iframe></body></html>'
        )
        return 200, HTML, page.encode()

    def _hit(self, req: Request) -> Reply:
        kind, _, name = req.path.strip("/").partition("/")
        if kind == "page" and name in self.pages:
            return 200, HTML, self.pages[name].encode()
        if kind == "img" and name in self.images:
            return 200, "image/jpeg", self.images[name]
        return 404, HTML, b"not found"

    def _capture(self, req: Request) -> Reply:
        if req.method != "POST" or req.path != "/mturk/externalSubmit":
            return 404, HTML, b"not found"
        text = req.body.decode()
        got = Submission(urllib.parse.parse_qsl(text, keep_blank_values=True))
        self.submissions.append(got)
        if self.on_submit is not None:
            self.on_submit(got)
        return 200, HTML, b"<p>Thank you: your answer was submitted.</p>"


@dataclass
class Browser:
    """Headless Chromium and every console error or exception it reported, frames included."""

    driver: Any
    errors: list[str] = field(default_factory=list)


@contextmanager
def chromium() -> Iterator[Browser]:
    from selenium import webdriver

    path, driver_path = browser_paths()
    options = webdriver.ChromeOptions()
    options.binary_location = path
    for flag in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage"):
        options.add_argument(flag)
    options.add_argument("--window-size=1280,900")
    options.enable_bidi = True
    driver = webdriver.Chrome(options=options, service=webdriver.ChromeService(driver_path))
    driver.set_page_load_timeout(30)
    browser = Browser(driver)

    def heard(entry: Any) -> None:
        if getattr(entry, "level", "error") == "error":
            browser.errors.append(str(getattr(entry, "text", entry)))

    driver.script.add_console_message_handler(heard)
    driver.script.add_javascript_error_handler(heard)
    try:
        yield browser
    finally:
        driver.quit()
