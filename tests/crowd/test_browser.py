"""A labeler in a real browser: headless Chromium signs in, works two HITs, submits (the page's
own requests pass the server's origin checks).

Needs Debian's ``chromium`` and ``chromium-driver`` (``make browser``). Without them the test is
skipped, except under ``CI=true``, where a missing browser is a failure.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from crowd.local import start_server
from infra.workspace import Workspace
from tests.crowd.framed import chromium
from tests.crowd.market_fixtures import gallery_workspace, plan

pytestmark = pytest.mark.slow


@pytest.fixture
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b.driver


def test_a_labeler_works_hits_with_keyboard_and_mouse(tmp_path: Path, browser: Any) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    ws = gallery_workspace(tmp_path)
    pairs = plan(ws, hits=1, assignments=1, screens_per_hit=3)
    fourup = plan(ws, hits=1, assignments=1, screens_per_hit=2, design="fourup")
    wait = WebDriverWait(browser, 15)

    def progress(text: str) -> None:
        wait.until(ec.text_to_be_present_in_element((By.ID, "progress"), text))

    def figures() -> list[Any]:
        return [
            f for f in browser.find_elements(By.CSS_SELECTOR, "#photos figure") if f.is_displayed()
        ]

    def press(key: str) -> None:
        browser.find_element(By.TAG_NAME, "body").send_keys(key)

    with start_server(ws) as server:
        browser.get(server.url)
        wait.until(ec.presence_of_element_located((By.ID, "worker"))).send_keys("Ada <b>L</b>")
        browser.find_element(By.ID, "start").click()
        # The name is claimed: its sign-in link is shown once, then the HITs.
        link = wait.until(ec.presence_of_element_located((By.ID, "link"))).text
        assert "/login?name=Ada" in link and "key=" in link
        browser.find_element(By.ID, "start").click()

        # Pairs: keyboard picks the second photo, the mouse the first, arrows the first.
        progress("1 / 3")
        wait.until(
            lambda d: all(
                f.find_element(By.TAG_NAME, "img").get_property("naturalWidth") for f in figures()
            )
        )
        press("2")
        press(Keys.ENTER)
        progress("2 / 3")
        figures()[0].click()
        browser.find_element(By.ID, "next").click()
        progress("3 / 3")
        press(Keys.ARROW_LEFT)
        browser.save_screenshot(str(tmp_path / "pairs.png"))
        press(Keys.ENTER)

        # 4-up: keys 1 and 3; then the mouse selects 2, 3 and 4 and unselects 3 again.
        wait.until(ec.text_to_be_present_in_element((By.ID, "prompt"), "worth keeping"))
        progress("1 / 2")
        press("1")
        press("3")
        press(Keys.ENTER)
        progress("2 / 2")
        for k in (1, 2, 3, 2):
            figures()[k].click()
        browser.save_screenshot(str(tmp_path / "fourup.png"))
        browser.find_element(By.ID, "submit").click()

        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Nothing left"))
        browser.save_screenshot(str(tmp_path / "done.png"))
        assert "Ada <b>L</b>" in browser.find_element(By.TAG_NAME, "h1").text

    assert _selected_positions(ws, pairs) == [[1], [0], [0]]
    assert _selected_positions(ws, fourup) == [[0, 2], [1, 3]]
    assert ws.ledger.scalar("SELECT DISTINCT worker_id FROM assignments") == "Ada <b>L</b>"
    assert (tmp_path / "fourup.png").stat().st_size > 0


def _selected_positions(ws: Workspace, batch: int) -> list[list[int]]:
    """Each judged screen's selected photos by shown position, in screen order."""
    rows = ws.ledger.query(
        "SELECT j.selected, (SELECT json_group_array(image_id) FROM (SELECT image_id FROM "
        "  screen_images si WHERE si.screen_id = s.id ORDER BY si.position)) AS shown "
        "FROM judgments j JOIN screens s ON s.id = j.screen_id JOIN hits h ON h.id = s.hit_id "
        "WHERE h.batch_id = ? ORDER BY s.position",
        (batch,),
    )
    out = []
    for r in rows:
        shown = json.loads(r["shown"])
        out.append(sorted(shown.index(i) for i in json.loads(r["selected"])))
    return out


def test_a_refused_answer_shows_its_reason_and_a_corrected_one_is_saved(
    tmp_path: Path, browser: Any
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    ws = gallery_workspace(tmp_path)
    plan(ws, hits=1, assignments=1, screens_per_hit=1)
    wait = WebDriverWait(browser, 15)
    with start_server(ws) as server:
        browser.get(server.url)
        wait.until(ec.presence_of_element_located((By.ID, "worker"))).send_keys("Ada")
        browser.find_element(By.ID, "start").click()
        wait.until(ec.presence_of_element_located((By.ID, "link")))
        browser.find_element(By.ID, "start").click()
        wait.until(ec.presence_of_element_located((By.ID, "photos")))
        # The first answer goes astray on its way (its screens lost), as a broken page's would.
        browser.execute_script(
            "var real = window.fetch; window.fetch = function (url, init) {"
            "  window.fetch = real; var a = JSON.parse(init.body); a.screens = [];"
            "  return real(url, Object.assign({}, init, {body: JSON.stringify(a)})); };"
        )
        browser.find_element(By.TAG_NAME, "body").send_keys("1")
        browser.find_element(By.ID, "submit").click()
        wait.until(ec.text_to_be_present_in_element((By.ID, "msg"), "unanswered"))
        assert ws.ledger.scalar("SELECT state FROM assignments") == "handed"
        browser.find_element(By.ID, "submit").click()  # the same answer, whole this time
        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Nothing left"))
    row = ws.ledger.one("SELECT state, parse_state FROM assignments")
    assert row is not None and tuple(row) == ("submitted", "ok"), tuple(row or ())
