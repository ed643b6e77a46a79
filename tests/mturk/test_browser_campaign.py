"""A small MTurk campaign worked in real Chromium: every screen right, every answer as chosen.

The 30-assignment version is ``bench/mturk_browser.py``; see bench/README.md for its figures.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.mturk.browser_campaign import run_campaign
from tests.mturk.mturk_campaign import dummy_aws

pytestmark = pytest.mark.slow


def test_a_campaign_in_chromium_shows_and_stores_what_workers_chose(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    dummy_aws(monkeypatch)
    figures = run_campaign(tmp_path, hits=1, assignments=2, screens_per_hit=4, seed=3)
    trouble = "\n".join(figures.problems[:20])
    assert figures.assignments == 4 and figures.screens == 16, figures
    assert figures.views > figures.screens, "the workers went Back at least once"
    assert figures.script_errors == 0, trouble
    assert figures.screens_shown_wrong == 0, trouble
    assert figures.screens_posted_differently == 0 and figures.not_submitted == 0, trouble
    assert figures.parse_failed == 0, trouble
    assert figures.stored_as_chosen == 4, trouble
