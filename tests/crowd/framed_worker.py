"""A worker who works one HIT page inside MTurk's frame (:mod:`tests.crowd.framed`).

The worker answers the first screen by keys alone (inside MTurk's frame the page must have
taken the keyboard by itself), then mixes keys and clicks, sometimes goes Back and changes an
answer. On every screen it sees it checks that each slot shows the photo the screen holds (the
image's token and URL, loaded), that the counter is right and that earlier answers are shown;
after submitting, that what was posted is what it chose. Each wrong screen is one line, so a
campaign can count them rather than stop at the first.
"""

from __future__ import annotations

import json
import random
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from tests.crowd.framed import Browser, MTurkFrame, Submission

SNAPSHOT = """
var figs = Array.prototype.slice.call(document.querySelectorAll("#photos figure"));
var $ = function (id) { return document.getElementById(id); };
return {
  progress: $("progress") ? $("progress").textContent : "",
  none: $("none") ? $("none").className : "",
  slots: figs.map(function (f) {
    var img = f.querySelector("img");
    return {hidden: f.hidden, pressed: f.getAttribute("aria-pressed"),
            token: img && img.getAttribute("data-token"),
            src: img ? (img.currentSrc || img.src) : null,
            loaded: !!img && img.complete && img.naturalWidth > 0};
  })
};
"""


@dataclass(frozen=True)
class Slot:
    """What one slot of a screen holds: the image's token and the URL it loads from."""

    token: str
    url: str


@dataclass(frozen=True)
class Screen:
    token: str
    kind: str  # pair | fourup
    slots: tuple[Slot, ...]


@dataclass
class Worked:
    """How one HIT went."""

    chosen: dict[str, list[str]] = field(default_factory=dict)  # screen -> image tokens
    views: int = 0  # screen views checked
    wrong: list[str] = field(default_factory=list)  # one line per wrong screen view
    wrong_screens: set[int] = field(default_factory=set)  # screens ever shown wrong
    backs: int = 0
    keys_first: bool = False  # the first screen was answered by keys, before any click
    submission: Submission | None = None
    posted_wrong: list[str] = field(default_factory=list)  # screens posted unlike the choice
    errors: list[str] = field(default_factory=list)  # console errors while working it
    seconds: float = 0.0


@dataclass
class _Answer:
    picked: frozenset[int] = frozenset()
    none: bool = False


class Worker:
    """Works one HIT: ``Worker(browser, frame, screens, rng).work(url, assignment)``."""

    def __init__(
        self,
        browser: Browser,
        frame: MTurkFrame,
        screens: list[Screen],
        rng: random.Random,
        *,
        back_rate: float = 0.3,
        back_from: frozenset[int] = frozenset(),
        no_preference: bool = True,
        timeout: float = 10.0,
    ) -> None:
        self.browser, self.driver, self.frame = browser, browser.driver, frame
        self.screens, self.rng = screens, rng
        self.back_rate, self.no_preference, self.timeout = back_rate, no_preference, timeout
        self.back_from = back_from  # screens the worker always goes Back from, once
        self.answers: dict[int, _Answer] = {}
        self.clicked = False
        self.out = Worked()

    def work(self, url: str, assignment: str) -> Worked:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support.ui import WebDriverWait

        started, errors_before = time.monotonic(), len(self.browser.errors)
        seen_before = len(self.frame.submissions)
        self.driver.switch_to.default_content()
        self.driver.get(url)
        wait = WebDriverWait(self.driver, self.timeout)
        self.driver.switch_to.frame(wait.until(lambda d: d.find_element(By.ID, "hit")))
        n, i, went_back = len(self.screens), 0, set()
        while True:
            self._view(i)
            if i not in self.answers or self.rng.random() < 0.3:
                self._answer(i)
                self.out.keys_first = self.out.keys_first or (i == 0 and not self.clicked)
            back = i in self.back_from or self.rng.random() < self.back_rate
            if i > 0 and i not in went_back and back:
                went_back.add(i)
                self._press_or_click("Backspace", "back")
                self.out.backs += 1
                i -= 1
                continue
            self._press_or_click("Enter", "submit" if i == n - 1 else "next")
            if i == n - 1:
                break
            i += 1
        self.out.submission = self._submitted(assignment, seen_before)
        self._check_posted()
        self.out.chosen = {
            s.token: sorted(s.slots[j].token for j in self.answers.get(k, _Answer()).picked)
            for k, s in enumerate(self.screens)
        }
        self.out.errors = self.browser.errors[errors_before:]
        self.out.seconds = time.monotonic() - started
        return self.out

    # -- seeing ------------------------------------------------------------------------------
    def _view(self, i: int) -> None:
        """Wait for screen ``i`` to show (counter and photos loaded), then check it."""
        screen, n = self.screens[i], len(self.screens)
        deadline = time.monotonic() + self.timeout
        while True:
            snap: dict[str, Any] = self.driver.execute_script(SNAPSHOT)
            shown = [s for s in snap["slots"] if not s["hidden"]]
            ready = snap["progress"] == f"{i + 1} / {n}" and all(s["loaded"] for s in shown)
            if (ready and len(shown) == len(screen.slots)) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        self.out.views += 1
        problems = []
        if snap["progress"] != f"{i + 1} / {n}":
            problems.append(f"counter {snap['progress']!r}")
        if len(shown) != len(screen.slots):
            problems.append(f"{len(shown)} photos shown of {len(screen.slots)}")
        answer = self.answers.get(i)
        for j, (slot, seen) in enumerate(zip(screen.slots, shown, strict=False)):
            if seen["token"] != slot.token or not _same_place(seen["src"], slot.url):
                problems.append(f"slot {j + 1} shows {seen['src']} ({seen['token']})")
            elif not seen["loaded"]:
                problems.append(f"slot {j + 1} not loaded")
            if answer is not None and (seen["pressed"] == "true") != (j in answer.picked):
                problems.append(f"slot {j + 1} selection not shown as answered")
        if answer is not None and answer.none != ("on" in snap["none"].split()):
            problems.append("'none' not shown as answered")
        if problems:
            self.out.wrong_screens.add(i)
            self.out.wrong.append(f"screen {i + 1}/{n}: {'; '.join(problems)}")

    # -- doing -------------------------------------------------------------------------------
    def _answer(self, i: int) -> None:
        screen, rng = self.screens[i], self.rng
        now = self.answers.get(i, _Answer())
        size = len(screen.slots)
        if screen.kind == "pair":
            none = self.no_preference and rng.random() < 0.15
            want = _Answer() if none else _Answer(frozenset({rng.randrange(size)}))
        else:
            picked = frozenset(j for j in range(size) if rng.random() < 0.4)
            want = _Answer(picked)
        want = _Answer(want.picked, none=not want.picked)
        if want.none:
            if not now.none:
                self._press_or_click("0", "none")
        elif screen.kind == "pair":
            (j,) = want.picked
            arrows = ("ArrowLeft", "ArrowUp") if j == 0 else ("ArrowRight", "ArrowDown")
            self._press_or_click(rng.choice([str(j + 1), *arrows]), None, figure=j)
        else:
            for j in sorted(want.picked ^ now.picked):
                self._press_or_click(str(j + 1), None, figure=j)
        self.answers[i] = want

    def _press_or_click(self, key: str, button: str | None, *, figure: int = -1) -> None:
        """Press ``key``, or click the button (or figure) that does the same; keys only until
        the first screen is answered."""
        from selenium.common.exceptions import WebDriverException
        from selenium.webdriver.common.action_chains import ActionChains
        from selenium.webdriver.common.by import By
        from selenium.webdriver.common.keys import Keys

        if self.answers and self.rng.random() < 0.4:
            self.clicked = True
            what = f"#{button}" if button is not None else f"photo {figure + 1}"
            try:
                if button is not None:
                    self.driver.find_element(By.ID, button).click()
                else:
                    self.driver.find_elements(By.CSS_SELECTOR, "#photos figure")[figure].click()
            except (WebDriverException, IndexError) as exc:
                self.out.wrong.append(f"could not click {what}: {str(exc).splitlines()[0]}")
            return
        named = {"Enter": Keys.ENTER, "Backspace": Keys.BACKSPACE, "ArrowLeft": Keys.ARROW_LEFT}
        named |= {"ArrowUp": Keys.ARROW_UP, "ArrowRight": Keys.ARROW_RIGHT}
        named |= {"ArrowDown": Keys.ARROW_DOWN}
        ActionChains(self.driver).send_keys(named.get(key, key)).perform()

    # -- what was posted -----------------------------------------------------------------
    def _submitted(self, assignment: str, seen_before: int) -> Submission | None:
        deadline = time.monotonic() + self.timeout
        while time.monotonic() < deadline:
            for got in self.frame.submissions[seen_before:]:
                if got.get("assignmentId") == assignment:
                    return got
            time.sleep(0.05)
        return None

    def _check_posted(self) -> None:
        got = self.out.submission
        if got is None:
            self.out.posted_wrong.append("nothing was submitted")
            return
        for k, screen in enumerate(self.screens):
            answer = self.answers.get(k, _Answer())
            want = sorted(screen.slots[j].token for j in answer.picked)
            raw = got.get(screen.token)
            try:
                posted = sorted(json.loads(raw or "")["selected"])
            except (ValueError, KeyError, TypeError):
                posted = None
            if posted != want:
                self.out.posted_wrong.append(f"screen {k + 1}: posted {raw!r}, chose {want}")


def _same_place(src: str | None, url: str) -> bool:
    """Same scheme, host and path (a presigned query may be signed anew)."""
    return src is not None and urlsplit(src)[:3] == urlsplit(url)[:3]
