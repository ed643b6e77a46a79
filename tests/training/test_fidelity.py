"""The trainer is never worse than its linear probe, repeatable, and evaluated in one unit."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from infra.errors import BeautyError
from infra.workspace import Workspace
from training.evaluate import evaluate
from training.metrics import summarise, top_count
from training.run import train
from training.targets import make_targets

pytestmark = pytest.mark.slow

TINY = {
    "backbone": "mobilenetv2",
    "top_blocks": 1,
    "input_size": "32x128",  # the test photos' 1:4
    "epochs": 1,
    "batch_size": 4,
    "bootstrap": 20,
    "augment": False,
}


def test_same_data_options_and_seed_give_identical_weights_and_predictions(
    workspace: Workspace, gallery: Callable[..., Path], calibrated_mobilenet: Path
) -> None:
    gallery(n=16, days=8)
    options = {**TINY, "weights": str(calibrated_mobilenet), "folds": 0}
    first = train(workspace, None, "a", progress=lambda line: None, **options)
    second = train(workspace, None, "b", progress=lambda line: None, **options)
    a = pd.read_csv(first.run_dir / "evaluation" / "predictions.csv")
    b = pd.read_csv(second.run_dir / "evaluation" / "predictions.csv")
    np.testing.assert_array_equal(a["prediction"], b["prediction"], "same seed, other predictions")
    losses = [
        [(e["loss"], e["val_loss"]) for e in r.card.phases["phase2"]["history"]]
        for r in (first, second)
    ]
    assert losses[0] == losses[1], "same seed, other training losses"
    assert first.card.selection == second.card.selection


def test_cross_validation_scores_every_image_once_and_the_final_model_follows_its_verdict(
    workspace: Workspace, gallery: Callable[..., Path], calibrated_mobilenet: Path
) -> None:
    gallery(n=18, days=6)
    lines: list[str] = []
    # A learning rate that wrecks the probe's head: fine-tuning loses out of fold.
    options = {**TINY, "weights": str(calibrated_mobilenet), "learning_rate": 0.5}
    result = train(workspace, None, "cv", progress=lines.append, folds=3, **options)

    assert any("3-fold cross-validation" in line for line in lines)
    assert any(line.startswith("out-of-fold Spearman over 18 images") for line in lines)
    oof = pd.read_csv(result.run_dir / "evaluation" / "predictions.csv")
    assert len(oof) == 18 and oof["image"].is_unique, "every image predicted once, out of fold"
    cv = result.card.cross_validation
    assert cv is not None and len(cv["per_fold"]) == 3 and cv["probe_spearman"] is not None
    assert all(fold["fine_tuned_val"] is not None for fold in cv["per_fold"])
    # Judged on all 18 images out of fold, not on the final fit's 3 validation photos.
    verdict = cv["choice"]
    assert verdict["fine_tuned_spearman"] < verdict["probe_spearman"], verdict
    assert verdict["difference"]["low"] <= 0 and verdict["chosen"] == "probe"
    assert result.card.selection is not None and result.card.selection["chosen"] == "probe"
    assert result.card.selection["out_of_fold"] == verdict
    assert "phase2" not in result.card.phases, "the final model fine-tuned after losing out of fold"
    assert "fine-tuning skipped: the probe won out of fold" in lines
    np.testing.assert_array_equal(
        oof["prediction"], oof["probe"], "out-of-fold figures of another kind than the model"
    )
    assert {"probe_spearman", "diff_spearman", "diff_reduction_100"} <= set(result.metrics)
    # One unit: out-of-fold predictions on the crowd's scale, whatever each fold's normalisation.
    assert abs(oof["prediction"].mean() - oof["score"].mean()) < oof["score"].std()
    split = pd.read_csv(result.run_dir / "split.csv")
    assert set(split["part"]) == {"train", "val"}, "the final model trains on all images"

    # A gallery the run never saw, with its own truth: the model and its probe side by side.
    truth = workspace.root / "gallery-truth.csv"
    pd.DataFrame({"image": oof["file_name"], "beauty": oof["score"]}).to_csv(truth, index=False)
    checked = evaluate(
        result.run_dir, truth, gallery=workspace.root / "gallery", bootstrap=10, progress=print
    )
    assert checked.images == 18
    assert {"probe_spearman", "diff_spearman"} <= set(checked.metrics)
    assert checked.metrics["diff_spearman"]["value"] == pytest.approx(0.0)
    with pytest.raises(BeautyError, match="--gallery"):
        evaluate(result.run_dir, progress=print)


def test_without_fine_tuning_the_saved_network_is_the_probe(
    workspace: Workspace, gallery: Callable[..., Path], calibrated_mobilenet: Path
) -> None:
    gallery(n=16, days=8)
    options = {**TINY, "weights": str(calibrated_mobilenet), "epochs": 0, "folds": 0}
    result = train(
        workspace, None, "probe", progress=lambda line: None, cache_dtype="float32", **options
    )
    assert result.card.selection is not None and result.card.selection["chosen"] == "probe"
    frame = pd.read_csv(result.run_dir / "evaluation" / "predictions.csv")
    assert frame["probe"].std() > 0, "the probe learned nothing: constant predictions"
    # The saved network on pixels against the ridge on cached features: the same numbers.
    np.testing.assert_allclose(frame["prediction"], frame["probe"], rtol=1e-4, atol=1e-4)


def test_an_input_size_that_stretches_the_photos_is_refused(
    workspace: Workspace, gallery: Callable[..., Path]
) -> None:
    gallery(n=12, days=4)
    options = {**TINY, "weights": "none", "input_size": "32x32"}
    with pytest.raises(BeautyError, match=r"stretch .* --input-size 32x128"):
        train(workspace, None, "wide", progress=print, **options)


def test_a_perfect_ranker_scores_f2_one_at_the_training_line() -> None:
    rng = np.random.default_rng(0)
    scores = rng.normal(3.0, 2.0, 400)
    train_part = np.arange(400) < 300
    t = make_targets(scores, np.zeros(400, int), train_part)
    line = float(t.to_scores(np.array([t.top_line]))[0])
    kept = np.sort(scores[train_part])[::-1][top_count(300, 0.05) - 1]
    assert line == pytest.approx(kept), "the top line is not on the crowd's scale"
    metrics = summarise(scores[train_part], scores[train_part], line, reps=0)
    assert metrics["f2_top5"]["value"] == pytest.approx(1.0)
    assert metrics["reduction_100"]["value"] == pytest.approx(0.95)
