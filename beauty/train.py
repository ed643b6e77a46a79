"""`beauty train` and `beauty evaluate`: fit a beauty model on crowd scores, and measure it."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import click

from beauty.common import emit, json_option, run_context, workspace
from beauty.summaries import evaluation_summary
from training.options import make_options
from training.scores import scores_table_path

METRIC_COLUMNS = ["metric", "value", "low", "high"]


def _metric_rows(metrics: dict[str, dict[str, float]]) -> list[dict[str, Any]]:
    return [
        {"metric": name, **{k: None if math.isnan(v) else round(v, 4) for k, v in m.items()}}
        for name, m in metrics.items()
    ]


@click.command("train")
@click.option(
    "--scores",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Scores table, parquet or CSV [default: tables/scores.parquet].",
)
@click.option("--name", help="Run name [default: train-DATE-TIME]; an unfinished run resumes.")
@click.option(
    "--backbone", help="xception or mobilenetv2; overrides [training] backbone [default: xception]."
)
@click.option(
    "--weights",
    help="imagenet, none (random start) or a weights file; overrides [training] weights "
    "[default: imagenet].",
)
@click.option(
    "--input-size",
    help="HEIGHTxWIDTH, both >= the backbone's minimum; overrides [training] input_height "
    "and input_width [default: 150x1152].",
)
@click.option(
    "--epochs",
    type=click.IntRange(0),
    help="Fine-tuning epochs (phase 2); overrides [training] epochs [default: 20].",
)
@click.option(
    "--head-epochs", type=click.IntRange(0), help="Epochs of the head (phase 1) [default: 20]."
)
@click.option(
    "--batch-size",
    type=click.IntRange(1),
    help="Images per step, all replicas; overrides [training] batch_size [default: 8].",
)
@click.option(
    "--learning-rate",
    type=click.FloatRange(0, min_open=True),
    help="Learning rate of fine-tuning (phase 2) [default: 1e-4].",
)
@click.option(
    "--head-learning-rate",
    type=click.FloatRange(0, min_open=True),
    help="Learning rate of the head (phase 1) [default: 1e-3].",
)
@click.option(
    "--optimizer",
    type=click.Choice(["sgd", "rmsprop"]),
    help="Optimizer of both phases [default: sgd with momentum 0.9]; both clip gradients at 0.5.",
)
@click.option(
    "--dropout",
    type=click.FloatRange(0, 1, max_open=True),
    help="Dropout rate before the head's dense layer [default: 0.6].",
)
@click.option(
    "--top-blocks",
    type=click.IntRange(0),
    help="Top blocks of the backbone fine-tuned in phase 2 [default: 4].",
)
@click.option(
    "--classify-tier",
    type=click.IntRange(1),
    help="Train the 2-class classifier instead: positive = tier >= this (2: top 5%).",
)
@click.option(
    "--weight-by-se/--no-weight-by-se",
    default=None,
    help="Weight each photo by how sure its crowd score is (its standard error) [default: no].",
)
@click.option(
    "--cache/--no-cache",
    default=None,
    help="Cache the frozen trunk's output once per image [default: yes].",
)
@click.option(
    "--cache-dtype",
    type=click.Choice(["float16", "float32"]),
    help="Precision of the cached trunk output [default: float16].",
)
@click.option("--augment/--no-augment", default=None, help="Flips (+ crops without cache).")
@click.option("--patience", type=click.IntRange(1), help="Early-stopping patience [3].")
@click.option("--seed", type=int, help="Split, shuffle and dropout seed [0].")
@click.option(
    "--strategy",
    type=click.Choice(["default", "mirrored", "multiworker"]),
    help="tf.distribute: mirrored = all local GPUs; multiworker reads TF_CONFIG.",
)
@click.option("--bootstrap", type=click.IntRange(0), help="Resamples for intervals [1000].")
@click.option(
    "--folds",
    type=click.IntRange(0),
    help="K-fold cross-validation (grouped by day), then the final model on all images; "
    "0: one train/validation/test split [5 below 300 images, else 0].",
)
@click.option(
    "--val-share",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Validation share of a single split [default: 0.16].",
)
@click.option(
    "--test-share",
    type=click.FloatRange(0, 1, min_open=True, max_open=True),
    help="Test share of a single split [0.20].",
)
@json_option
def train_command(scores: Path | None, name: str | None, as_json: bool, **options: Any) -> None:
    """Train a beauty model on crowd scores; writes runs/NAME (model, card, report).

    The head starts as a ridge probe on pooled features of the frozen base (closed form,
    penalty by cross-validation); fine-tuning the top blocks on the frozen trunk's cached output
    starts from it and is kept only when it beats the probe on validation. Small tables are
    cross-validated first. Same data, options and --seed give the same model (on CPU); an
    interrupted run resumes (run the same command again).
    """
    # Bad options, a missing workspace or scores table are said before TensorFlow loads.
    ws = workspace()
    make_options(ws.settings.training, dict(options))
    table = scores_table_path(ws.tables_dir, scores)
    from training.run import train

    def progress(line: str) -> None:
        click.echo(line, err=as_json)

    result = train(ws, table, name, progress=progress, **options)
    if as_json:
        row = {
            "name": result.name,
            "run_dir": str(result.run_dir),
            "model": str(result.model_path),
            "card": str(result.card_path),
            "report": str(result.report_path),
            "images": result.card.training_data.images,
            "skipped": len(result.skipped),
            "metrics": {r["metric"]: r for r in _metric_rows(result.metrics)},
        }
        emit([row], True, [])
        return
    click.echo(f"run {result.name}: {result.run_dir}")
    emit(_metric_rows(result.metrics), False, METRIC_COLUMNS)
    click.echo(f"report: {result.report_path}")


@click.command("evaluate")
@click.argument("run")
@click.option(
    "--truth",
    type=click.Path(dir_okay=False, path_type=Path),
    help="CSV with columns image (id, URI or file name) and beauty [default: held-out scores].",
)
@click.option("--truth-column", default="beauty", show_default=True, help="Column of --truth.")
@click.option(
    "--gallery",
    type=click.Path(file_okay=False, path_type=Path),
    help="A folder of photos the run never saw, instead of its test part (needs --truth).",
)
@click.option("--bootstrap", type=click.IntRange(0), help="Resamples for the 95% intervals.")
@click.option(
    "--all",
    "show_all",
    is_flag=True,
    help="Also print every metric as a table (metric, value, low, high), as --json does.",
)
@json_option
def evaluate_command(
    run: str,
    truth: Path | None,
    truth_column: str,
    gallery: Path | None,
    bootstrap: int | None,
    show_all: bool,
    as_json: bool,
) -> None:
    """Measure run RUN (runs/NAME or NAME) on held-out images: rank agreement, gallery
    reduction, F2, recall/precision/nDCG at the top 5% and 10%, with bootstrap intervals, and
    the run's probe on the same images with the paired difference."""
    _, folder = run_context(run)  # a wrong name is said before TensorFlow loads
    from training.evaluate import evaluate

    def progress(line: str) -> None:
        click.echo(line, err=as_json)

    result = evaluate(
        folder,
        truth,
        gallery=gallery,
        truth_column=truth_column,
        bootstrap=bootstrap,
        progress=progress,
    )
    rows = _metric_rows(result.metrics)
    if as_json:
        emit(rows, True, METRIC_COLUMNS)
        return
    if show_all:
        emit(rows, False, METRIC_COLUMNS)
    for line in evaluation_summary(result):
        click.echo(line)
