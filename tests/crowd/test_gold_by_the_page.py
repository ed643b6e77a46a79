"""Made gold is fair: a person who does what the page's instructions say passes every gold
screen it meets, in a real browser on the local labeling server.

The scripted person sees only what the page shows: it downloads each photo the page displays
and judges it by eye, as the instructions put it (leave a blurred, grainy, nearly black or
burnt-out frame): a frame that is near black, burnt out to white, grainy, or far blurrier than
the sharpest sound photo beside it is not worth keeping; every other photo is. In a pair it
picks the photo worth keeping, or the sharper one when both or neither are. It never reads the
ledger.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFilter

from crowd.gold_items import make_gold
from crowd.judgments import judgments_table
from crowd.local import start_server
from infra import gallery
from infra.workspace import Workspace
from ranking.gold import grade
from sample import generate_gallery
from tests.crowd.framed import Browser, chromium
from tests.crowd.market_fixtures import plan

pytestmark = pytest.mark.slow

FETCH = """
const done = arguments[arguments.length - 1];
fetch(arguments[0]).then(r => r.arrayBuffer()).then(b => {
  let s = ""; const u = new Uint8Array(b);
  for (let i = 0; i < u.length; i++) s += String.fromCharCode(u[i]);
  done(btoa(s));
}).catch(e => done("error: " + e));
"""


@dataclass(frozen=True)
class Look:
    """What the eye takes from a photo: brightness, burnt-out share, grain and sharpness."""

    mean: float
    burnt: float
    grain: float
    detail: float

    @classmethod
    def of(cls, data: bytes) -> Look:
        img = Image.open(io.BytesIO(data)).convert("L")
        img = img.resize((max(1, img.width // 2), max(1, img.height // 2)))
        luma = np.asarray(img, dtype=np.float32)
        smooth = np.asarray(img.filter(ImageFilter.MedianFilter(3)), dtype=np.float32)
        detail = (
            np.abs(np.diff(smooth, axis=0)).mean() + np.abs(np.diff(smooth, axis=1)).mean()
        ) / 2
        return cls(
            mean=float(luma.mean()),
            burnt=float((luma >= 245).mean()),
            grain=float(np.median(np.abs(luma - smooth))),
            detail=float(detail),
        )

    @property
    def ruined(self) -> bool:
        return self.mean < 25 or self.burnt > 0.5 or self.grain >= 4


def worth_keeping(looks: list[Look]) -> list[bool]:
    """The instructions' rule, photo by photo, against the sharpest sound photo on the screen."""
    sound = [look.detail for look in looks if not look.ruined]
    sharpest = max(sound, default=0.0)
    return [not look.ruined and look.detail >= 0.5 * sharpest for look in looks]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with chromium() as b:
        yield b


def test_a_person_who_follows_the_instructions_passes_every_gold_screen(
    tmp_path: Path, browser: Browser
) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support import expected_conditions as ec
    from selenium.webdriver.support.ui import WebDriverWait

    generate_gallery(tmp_path / "gallery", 16, seed=5)
    ws = Workspace.init(tmp_path / "ws")
    gallery.add_images(ws, str(tmp_path / "gallery"))
    made = make_gold(ws, 10, seed=1)
    assert made.pair_items and made.fourup_items, made
    fourup = plan(ws, hits=1, assignments=1, screens_per_hit=6, design="fourup", gold_rate=0.5)
    pairs = plan(ws, hits=1, assignments=1, screens_per_hit=6, gold_rate=0.5)
    driver = browser.driver
    wait = WebDriverWait(driver, 20)

    def shown() -> list[Any]:
        return [
            f for f in driver.find_elements(By.CSS_SELECTOR, "#photos figure") if f.is_displayed()
        ]

    def look(figure: Any) -> Look:
        src = figure.find_element(By.TAG_NAME, "img").get_property("currentSrc")
        data = driver.execute_async_script(FETCH, src)
        assert not data.startswith("error"), f"the page's photo {src} could not be fetched: {data}"
        return Look.of(base64.b64decode(data))

    def work_hit(screens: int) -> None:
        for k in range(1, screens + 1):
            wait.until(ec.text_to_be_present_in_element((By.ID, "progress"), f"{k} / {screens}"))
            wait.until(
                lambda d: all(
                    f.find_element(By.TAG_NAME, "img").get_property("naturalWidth") for f in shown()
                )
            )
            figures = shown()
            looks = [look(f) for f in figures]
            keep = worth_keeping(looks)
            if len(figures) == 2:
                pick = (
                    keep.index(True)
                    if keep.count(True) == 1
                    else int(np.argmax([x.detail for x in looks]))
                )
                figures[pick].click()
            elif any(keep):
                for figure, chosen in zip(figures, keep, strict=True):
                    if chosen:
                        figure.click()
            else:
                driver.find_element(By.ID, "none").click()
            last = k == screens
            driver.find_element(By.ID, "submit" if last else "next").click()

    with start_server(ws) as server:
        driver.get(server.url)
        wait.until(ec.presence_of_element_located((By.ID, "worker"))).send_keys("Grace")
        driver.find_element(By.ID, "start").click()
        wait.until(ec.presence_of_element_located((By.ID, "link")))
        driver.find_element(By.ID, "start").click()
        for _ in range(2):
            wait.until(ec.presence_of_element_located((By.ID, "progress")))
            work_hit(6)
        wait.until(ec.text_to_be_present_in_element((By.TAG_NAME, "h1"), "Nothing left"))

    table = judgments_table(ws.ledger)
    rules = {
        r["id"]: (json.loads(r["must_keep"]), json.loads(r["must_drop"]))
        for r in ws.ledger.query("SELECT id, must_keep, must_drop FROM gold_items")
    }
    graded = table[table["gold_passed"].notna()]
    met = {kind: int((graded["kind"] == kind).sum()) for kind in ("pair", "fourup")}
    assert met["pair"] >= 2 and met["fourup"] >= 2, f"too few gold screens met: {met}"
    failed = graded[~graded["gold_passed"].astype(bool)]
    assert failed.empty, "gold failed by a person following the instructions:\n" + "\n".join(
        f"{r.kind}: shown {r.shown}, selected {r.selected}, must keep and drop {rules[r.gold_id]}"
        for r in failed.itertuples()
    )
    assert {int(b) for b in table["batch"]} == {fourup, pairs}

    # The same gold does catch the careless: keeping every photo of a 4-up gold screen fails.
    for r in graded[graded["kind"] == "fourup"].itertuples():
        assert not grade(r.shown, *rules[r.gold_id]), (
            f"a 4-up gold screen passed by keeping everything: {r.shown}"
        )
