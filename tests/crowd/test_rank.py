"""From a simulated campaign on the local market to scores, the QA report and a budget plan."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from crowd.budget import plan_campaign
from crowd.decisions import review
from crowd.local.simulate import simulate_crowd
from crowd.rank import fit_scores, kendall_vs_truth, rank_workspace
from crowd.report import worker_outcomes, worker_report
from crowd.report_charts import worker_charts
from infra.errors import BeautyError
from infra.workspace import Workspace
from ranking.crowd import HonestWorker, make_crowd
from ranking.planning import DesignSpec
from tests.crowd.framed import chromium
from tests.crowd.market_fixtures import add_pair_gold, gallery_workspace, plan

SCORE_COLUMNS = [
    "image",
    "uri",
    "score",
    "se",
    "comparisons",
    "wins",
    "rank",
    "percentile",
    "tier",
]


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Workspace:
    root = tmp_path_factory.mktemp("campaign")
    ws = gallery_workspace(root, n_images=12)
    add_pair_gold(ws.ledger, 6)
    plan(ws, hits=18, assignments=3, screens_per_hit=5, gold_rate=0.2)
    simulate_crowd(ws, 12, 0.25, truth_path=root / "gallery" / "truth.csv", seed=3)
    review(ws)
    return ws


def test_scores_follow_the_truth_and_the_table_keeps_the_contract(campaign: Workspace) -> None:
    fit, paths = rank_workspace(campaign)
    table = fit.table
    assert list(table.columns) == SCORE_COLUMNS
    assert len(table) == 12 and table["rank"].tolist() == list(range(1, 13))
    assert abs(table["score"].mean()) < 1e-6
    assert (table["se"] > 0).all() and set(table["tier"]) <= {0, 1, 2, 3}
    truth = campaign.root.parent / "gallery" / "truth.csv"
    assert kendall_vs_truth(campaign, table, truth) > 0.7
    assert Path(table.iloc[0]["uri"]).name == "photo11.jpg"  # the most beautiful by truth
    on_disk = pd.read_parquet(paths[0])
    assert on_disk["image"].tolist() == table["image"].tolist()
    assert paths[1].read_text().splitlines()[0] == ",".join(SCORE_COLUMNS)
    reliability = pd.read_csv(paths[2])  # what `hits plan --trusted` routes by
    assert list(reliability.columns) == ["worker", "reliability"]
    assert fit.worker_reliability is not None
    assert reliability.set_index("worker")["reliability"].to_dict() == pytest.approx(
        fit.worker_reliability.to_dict()
    )


def test_learned_accuracy_sets_spammers_apart(campaign: Workspace) -> None:
    fit = fit_scores(campaign)
    assert fit.worker_reliability is not None
    crowd = make_crowd(12, 0.25, seed=3)  # the campaign's crowd, rebuilt from its seed
    honest = [w for w, m in crowd.items() if isinstance(m, HonestWorker)]
    spammers = [w for w in crowd if w not in honest]
    accuracy = fit.worker_reliability
    assert accuracy.reindex(honest).mean() > accuracy.reindex(spammers).mean()


def test_worker_report_has_a_row_per_worker_and_plots(campaign: Workspace) -> None:
    report = worker_report(campaign)
    workers = {r[0] for r in campaign.ledger.query("SELECT DISTINCT worker_id FROM assignments")}
    assert set(report.table["worker"]) == workers
    for column in (
        "gold_accuracy",
        "gold_lower",
        "gold_upper",
        "learned_reliability",
        "agreement",
        "median_seconds",
        "left_rate",
        "verdict",
    ):
        assert column in report.table.columns
    assert report.html is not None
    page = report.html.read_text()
    assert page.count("data:image/png;base64,") == 3
    assert pd.read_csv(report.csv)["worker"].nunique() == len(workers)


def legend_texts(figure: Any) -> set[str]:
    legend = figure.axes[0].get_legend()
    return set() if legend is None else {text.get_text() for text in legend.get_texts()}


def test_worker_charts_show_every_worker_and_say_who_was_flagged(campaign: Workspace) -> None:
    report = worker_report(campaign)
    outcomes = worker_outcomes(campaign.ledger)
    # Which simulated workers review flags depends on the hand-out order; the charts must show
    # every outcome whoever has it, so two workers are given the outcomes outright.
    first, second, *_ = sorted(outcomes)
    outcomes |= {first: "rejected", second: "excluded"}
    flagged = {"rejected", "excluded"}
    scores = fit_scores(campaign).table["score"]
    charts = worker_charts(report.table, outcomes, scores, [50, 95, 98])
    for chart in charts[:2]:
        assert chart.points == len(report.table), (
            f"{chart.title}: {chart.points} markers for {len(report.table)} workers"
        )
        labels = legend_texts(chart.figure)
        for outcome in flagged:
            assert any(outcome in label for label in labels), f"{chart.title}: {labels}"
    for chart in charts:
        assert legend_texts(chart.figure), f"{chart.title} has no legend"
        assert chart.caption, f"{chart.title} has no caption"


def test_a_worker_with_missing_figures_is_drawn_beyond_a_dashed_line() -> None:
    workers = pd.DataFrame(
        {
            "worker": ["ada", "bea", "cy"],
            "gold_accuracy": [0.9, np.nan, 0.2],
            "learned_reliability": [1.2, 0.8, np.nan],  # cy was left out of the fit
            "median_seconds": [5.0, 6.0, 1.0],
            "agreement": [0.8, 0.7, 0.4],
        }
    )
    scores = pd.Series(np.linspace(-1, 1, 40))
    gold_chart = worker_charts(workers, {"cy": "rejected"}, scores, [50, 95, 98])[0]
    assert gold_chart.points == 3, f"{gold_chart.points} of 3 workers drawn"
    assert "no learned reliability" in gold_chart.caption, gold_chart.caption
    assert "no gold accuracy" in gold_chart.caption, gold_chart.caption
    labels = legend_texts(gold_chart.figure)
    assert any("rejected" in label for label in labels), labels
    assert any("dashed line" in label for label in labels), labels


def test_worker_page_keeps_figures_on_one_line(campaign: Workspace) -> None:
    report = worker_report(campaign)
    assert report.html is not None
    page = report.html.read_text()
    assert re.search(r"td\.figure\s*\{[^}]*white-space:\s*nowrap", page), "no nowrap rule"
    header = re.search(r"<tr>(.*?)</tr>", page, re.S)
    assert header is not None
    names = re.findall(r"<th class=\"(\w+)\">([^<]+)</th>", header.group(1))
    assert ("figure", "gold (Wilson 95%)") in names, names
    assert len(re.findall(r"<figcaption>", page)) == 3, "every chart has a caption"


@pytest.mark.slow
def test_worker_page_figures_do_not_wrap_in_a_browser_1366_px_wide(campaign: Workspace) -> None:
    report = worker_report(campaign)
    assert report.html is not None
    with chromium() as browser:
        browser.driver.set_window_size(1366, 900)
        browser.driver.get(report.html.as_uri())
        cells, wrapped = browser.driver.execute_script(
            """
            const cells = [...document.querySelectorAll('td.figure')];
            const wrapped = cells.filter(td => {
              const range = document.createRange();
              range.selectNodeContents(td);
              const tops = new Set([...range.getClientRects()].map(r => Math.round(r.top)));
              return tops.size > 1;
            }).map(td => td.textContent);
            return [cells.length, wrapped];
            """
        )
    assert cells > 0, "the page has no figure cells"
    assert not wrapped, f"cells wrapped at 1366 px: {wrapped}"


def test_budget_plan_covers_every_design_and_budget(campaign: Workspace) -> None:
    truth = campaign.root.parent / "gallery" / "truth.csv"
    designs = [DesignSpec("fourup", screens_per_hit=5), DesignSpec("pairwise", screens_per_hit=5)]
    result = plan_campaign(
        campaign, designs, [Decimal("1"), Decimal("3")], truth_path=truth, workers=8, seeds=(0,)
    )
    assert len(result.table) == 4
    assert (result.table["cost"] <= result.table["budget"]).all()
    assert result.png.stat().st_size > 1000 and result.csv.exists()


def test_no_votes_is_one_clear_error(tmp_path: Path) -> None:
    ws = gallery_workspace(tmp_path, n_images=3)
    with pytest.raises(BeautyError, match="no votes yet"):
        rank_workspace(ws)


def test_fourup_campaign_fits_whole_screens(tmp_path: Path) -> None:
    ws = gallery_workspace(tmp_path, n_images=12)
    plan(ws, hits=12, assignments=3, design="fourup", screens_per_hit=4)
    simulate_crowd(ws, 9, 0.0, truth_path=tmp_path / "gallery" / "truth.csv", seed=5)
    fit, _ = rank_workspace(ws, method="fourup")
    assert list(fit.table.columns) == SCORE_COLUMNS
    answered = {r[0] for r in ws.ledger.query("SELECT DISTINCT worker_id FROM assignments")}
    assert fit.worker_reliability is not None
    assert set(fit.worker_reliability.index) == answered
    assert kendall_vs_truth(ws, fit.table, tmp_path / "gallery" / "truth.csv") > 0.7


def test_fourup_method_on_pair_votes_is_one_clear_error(campaign: Workspace) -> None:
    with pytest.raises(BeautyError, match="no 4-up answers"):
        fit_scores(campaign, method="fourup")


def test_thurstone_reads_the_campaign_under_its_calibrated_crowd(campaign: Workspace) -> None:
    fit, _ = rank_workspace(campaign, method="thurstone")
    assert list(fit.table.columns) == SCORE_COLUMNS
    assert fit.worker_reliability is not None  # Crowd-BT's, which it reads answers at
    truth = campaign.root.parent / "gallery" / "truth.csv"
    assert kendall_vs_truth(campaign, fit.table, truth) > 0.7


def test_thurstone_on_too_few_votes_is_one_clear_error(tmp_path: Path) -> None:
    ws = gallery_workspace(tmp_path, n_images=6)
    plan(ws, hits=2, assignments=2, screens_per_hit=5, gold_rate=0.0)
    simulate_crowd(ws, 4, 0.0, truth_path=tmp_path / "gallery" / "truth.csv", seed=1)
    with pytest.raises(BeautyError, match=r"--method thurstone: \d+ votes are too few.*another"):
        fit_scores(ws, method="thurstone")
