"""From a simulated campaign on the local market to scores, the QA report and a budget plan."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pandas as pd
import pytest

from crowd.budget import plan_campaign
from crowd.decisions import review
from crowd.local.simulate import simulate_crowd
from crowd.rank import fit_scores, kendall_vs_truth, rank_workspace
from crowd.report import worker_report
from infra.errors import BeautyError
from infra.workspace import Workspace
from ranking.crowd import HonestWorker, make_crowd
from ranking.planning import DesignSpec
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
