"""``train`` and ``evaluate`` end to end on a tiny gallery, through an interruption, and the CLI."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import click
import pandas as pd
import pytest
from click.testing import CliRunner

from beauty.train import evaluate_command, train_command
from infra.errors import BeautyError
from infra.workspace import Workspace
from training.evaluate import evaluate
from training.run import train

pytestmark = pytest.mark.slow


class _Group(click.Group):
    """As the `beauty` group: a BeautyError is one line on stderr and exit code 1."""

    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except BeautyError as exc:
            click.echo(f"error: {exc}", err=True)
            ctx.exit(1)


def _cli() -> click.Group:
    @click.group(cls=_Group)
    @click.option("--workspace")
    def group(workspace: str | None) -> None:
        """Test harness holding the two commands."""

    group.add_command(train_command)
    group.add_command(evaluate_command)
    return group


def test_train_resumes_after_an_interruption_and_writes_a_complete_run(
    workspace: Workspace, gallery: Callable[..., Path], calibrated_weights: Path
) -> None:
    scores = gallery(n=12, days=4)
    (workspace.root / "gallery" / "broken.jpg").write_bytes(b"\xff\xd8 not really a jpeg")
    table = pd.read_parquet(scores)
    broken = {"image": "f" * 16, "uri": str(workspace.root / "gallery" / "broken.jpg")}
    table = pd.concat([table, pd.DataFrame([{**broken, "score": 0.0, "se": 0.3, "tier": 0}])])
    table.to_parquet(scores)
    options = {
        "weights": str(calibrated_weights),
        "input_size": "71x284",
        "head_epochs": 2,
        "epochs": 2,
        "batch_size": 4,
        "bootstrap": 20,
        "folds": 0,
    }
    lines: list[str] = []

    def interrupt(line: str) -> None:
        lines.append(line)
        if line.startswith("phase 2 (top 4 blocks) epoch 1/2"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(workspace, None, "tiny", progress=interrupt, **options)
    assert (workspace.runs_dir / "tiny" / "checkpoints" / "phase2" / "state.json").exists()

    lines.clear()
    result = train(workspace, None, "tiny", progress=lines.append, **options)
    assert "phase 2 (top 4 blocks): resuming after epoch 1" in lines
    assert not any(line.startswith("phase 1 (head) epoch") for line in lines)
    assert any(line.startswith("phase 2 (top 4 blocks) epoch 2/2") for line in lines)
    assert any("skipped" in line and "broken.jpg" in line for line in lines)

    run = result.run_dir
    for name in ("model.keras", "model_card.json", "split.csv", "evaluation/curve.png"):
        assert (run / name).is_file(), name
    assert "data:image/png;base64," in (run / "evaluation" / "report.html").read_text()
    assert list((run / "logs" / "phase2" / "train").iterdir())
    assert not (run / "checkpoints").exists() and not (run / "cache").exists()

    card = result.card
    assert (card.input.height, card.input.width) == (71, 284)
    assert card.backbone.first_trainable_layer.startswith("block11_")  # type: ignore[union-attr]
    assert "sha256" in card.backbone.weights_origin
    assert card.training_data.scores_sha256 == hashlib.sha256(scores.read_bytes()).hexdigest()
    assert card.training_data.images == 12
    assert [s["uri"].rsplit("/", 1)[-1] for s in card.training_data.skipped] == ["broken.jpg"]
    # Names like 2016-07-10_1170.jpg carry no valid time: those photos are split at random.
    assert card.split.grouped_by.startswith("capture day for the 8 of 12 photos with a date")
    assert card.split.days == 4
    assert len(card.phases["phase2"]["history"]) == 2
    assert set(card.versions) == {"python", "tensorflow", "keras", "numpy", "beauty_crowd"}
    assert {"spearman", "kendall", "reduction_100", "f2_top5", "ndcg_top10"} <= set(card.metrics)

    split = pd.read_csv(run / "split.csv")
    used = split[split["part"] != "skipped"]
    assert used.groupby("day")["part"].nunique().max() == 1  # no day on two sides
    train_scores = used.loc[used["part"] == "train", "score"]
    assert card.score_normalisation.mean == pytest.approx(train_scores.mean())

    with pytest.raises(BeautyError, match="already finished"):
        train(workspace, None, "tiny", progress=lines.append, **options)

    # A truth file names images by file name; the evaluation uses the held-out part only.
    truth = workspace.root / "truth.csv"
    named = pd.DataFrame({"image": table["uri"].str.rsplit("/", n=1).str[-1]})
    named["beauty"] = table["score"].to_numpy() * 10
    named.to_csv(truth, index=False)
    checked = evaluate(run, truth, bootstrap=10, progress=lines.append)
    assert checked.unmatched == 0 and checked.images == (split["part"] == "test").sum()
    assert checked.report_path.parent.name == "evaluation-truth"

    cli = CliRunner()
    out = cli.invoke(_cli(), ["--workspace", str(workspace.root), "evaluate", "tiny", "--json"])
    assert out.exit_code == 0, out.output
    rows = json.loads(out.stdout)
    assert {r["metric"] for r in rows} == set(card.metrics)
    assert rows[0].keys() == {"metric", "value", "low", "high"}
    # runs/NAME names the workspace's run from any folder, as README's commands write it.
    out = cli.invoke(_cli(), ["--workspace", str(workspace.root), "evaluate", "runs/tiny"])
    assert out.exit_code == 0, out.output


def test_end_to_end_classifier_without_cache(
    workspace: Workspace, gallery: Callable[..., Path]
) -> None:
    gallery(n=10, days=10)
    lines: list[str] = []
    result = train(
        workspace, None, "classifier", progress=lines.append, weights="none",
        input_size="71x284", head_epochs=1, epochs=1, batch_size=4, bootstrap=0,
        cache=False, classify_tier=1, folds=0,
    )  # fmt: skip
    assert result.card.head.kind == "classifier"
    assert result.card.head.layers[-1] == "Dense(2, softmax)"
    assert result.card.score_normalisation.top_line == 0.5
    assert not any(line.startswith("trunk cache") for line in lines)
    assert set(result.metrics) >= {"spearman", "f2_top5"}


def test_cli_errors_are_one_line(workspace: Workspace, tmp_path: Path) -> None:
    cli = CliRunner()
    bad = tmp_path / "votes.csv"
    pd.DataFrame({"worker": ["w1"], "left": ["a"], "right": ["b"], "label": ["a"]}).to_csv(bad)
    root = ["--workspace", str(workspace.root)]
    out = cli.invoke(_cli(), [*root, "train", "--scores", str(bad), "--weights", "none"])
    assert out.exit_code == 1
    assert out.stderr.count("\n") == 1 and "not a scores table" in out.stderr
    out = cli.invoke(_cli(), [*root, "train", "--input-size", "big", "--weights", "none"])
    assert out.exit_code == 1 and "HEIGHTxWIDTH" in out.stderr
    # The size check needs a scores table: a missing one is refused first.
    table = pd.DataFrame({"image": ["a" * 16], "uri": ["a.jpg"], "score": [0.0]})
    table.to_parquet(workspace.tables_dir / "scores.parquet")
    out = cli.invoke(_cli(), [*root, "train", "--input-size", "64x256", "--weights", "none"])
    assert out.exit_code == 1 and "at least 71 pixels" in out.stderr
    out = cli.invoke(_cli(), [*root, "evaluate", "nothing-here"])
    assert out.exit_code == 1 and "no run nothing-here" in out.stderr
