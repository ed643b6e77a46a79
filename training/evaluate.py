"""``evaluate``: how well a trained model ranks held-out images.

The reference is the held-out crowd scores of the run's test part, or a truth file's column
(``truth.csv``: ``image`` naming the image by id, URI or file name, and ``beauty``), for the same
held-out images: training images would flatter the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from infra.errors import BeautyError
from training.card import output_to_score
from training.data import reader_for
from training.images import ImageLoader, Skip
from training.predict import load_run, predict_pixels
from training.report import write_evaluation

Progress = Callable[[str], None]


@dataclass
class Evaluation:
    """Metrics of one run against one reference."""

    run_dir: Path
    reference: str
    images: int
    skipped: list[Skip]
    unmatched: int  # held-out images the truth file does not name
    metrics: dict[str, dict[str, float]]
    report_path: Path


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".tif", ".tiff", ".webp", ".bmp"}


def evaluate(
    run_dir: str | Path,
    truth: str | Path | None = None,
    *,
    gallery: str | Path | None = None,
    truth_column: str = "beauty",
    bootstrap: int | None = None,
    seed: int = 0,
    batch_size: int = 8,
    progress: Progress = print,
) -> Evaluation:
    """Score held-out images with the run's model and its probe; compare both with the reference.

    Parameters
    ----------
    run_dir : path
        A finished run folder (``runs/NAME``).
    truth : path, optional
        A CSV with ``image`` and ``truth_column``; default: the held-out crowd scores.
    gallery : path, optional
        A folder of photos the run never saw, instead of the run's test part; needs ``truth``
        (its own truth or crowd scores, e.g. ``--truth-column score``).
    bootstrap : int, optional
        Resamples for the 95% intervals; default the run's own setting.
    """
    folder = Path(run_dir)
    model, card = load_run(folder)
    if gallery is not None:
        if truth is None:
            raise BeautyError("--gallery needs --truth: a CSV naming its photos and their truth")
        held_out = _gallery_frame(Path(gallery))
    else:
        split_path = folder / card.split.file
        if not split_path.is_file():
            raise BeautyError(
                f"{folder} has no {card.split.file}: the run is incomplete; train again"
            )
        held_out = pd.read_csv(split_path)
        held_out = held_out[held_out["part"] == "test"].reset_index(drop=True)
        if held_out.empty:
            raise BeautyError(
                f"{folder.name} was trained on all its images after cross-validation (its "
                "out-of-fold evaluation is in evaluation/): evaluate it on another gallery "
                "with --gallery DIR --truth FILE"
            )
    reference, column, unmatched = "held-out crowd scores", "score", 0
    if truth is not None:
        held_out, unmatched = _attach_truth(held_out, Path(truth), truth_column)
        reference, column = f"{truth} ({truth_column})", truth_column
    progress(f"scoring {len(held_out)} held-out images")
    uris = held_out["uri"].tolist()
    loader = ImageLoader(uris, reader_for(uris))
    size = (card.input.height, card.input.width)
    rows = np.arange(len(uris))
    pred, skipped = predict_pixels(model, loader, rows, size, batch_size)
    for skip in skipped:
        progress(f"skipped {skip.uri}: {skip.reason}")
    held_out["prediction"] = output_to_score(card, pred)
    baseline = None
    selection = card.selection or {}
    if selection.get("probe_file") and (folder / selection["probe_file"]).is_file():
        baseline = "probe"
        if selection.get("chosen") == "probe":
            held_out["probe"] = held_out["prediction"]  # the kept model is the probe
        else:
            probe, _ = load_run(folder, model_file=selection["probe_file"])
            probe_pred, _ = predict_pixels(probe, loader, rows, size, batch_size)
            held_out["probe"] = output_to_score(card, probe_pred)
    held_out = held_out[np.isfinite(held_out["prediction"].to_numpy(float))].reset_index(drop=True)
    if len(held_out) < 2:
        raise BeautyError(f"only {len(held_out)} held-out image(s) could be scored: no evaluation")
    if gallery is not None:
        out = folder / f"evaluation-{Path(gallery).resolve().name}"
    else:
        out = folder / ("evaluation" if truth is None else f"evaluation-{Path(truth).stem}")
    reps = card.options.get("bootstrap", 1000) if bootstrap is None else bootstrap
    columns = ["image", "uri", "file_name", column, "prediction"] + (["probe"] if baseline else [])
    line = float(output_to_score(card, np.array([card.score_normalisation.top_line]))[0])
    metrics, report = write_evaluation(
        out,
        card.name,
        held_out[columns],
        truth_column=column,
        positive_line=line,
        reps=int(reps),
        seed=seed,
        baseline=baseline,
    )
    return Evaluation(folder, reference, len(held_out), skipped, unmatched, metrics, report)


def _gallery_frame(folder: Path) -> pd.DataFrame:
    """The photos of a folder (not recursive), by name."""
    if not folder.is_dir():
        raise BeautyError(f"gallery {folder} is not a folder")
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)
    if not files:
        raise BeautyError(f"gallery {folder} holds no photos ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return pd.DataFrame(
        {
            "image": [p.name for p in files],
            "uri": [str(p.resolve()) for p in files],
            "file_name": [p.name for p in files],
        }
    )


def _attach_truth(held_out: pd.DataFrame, path: Path, column: str) -> tuple[pd.DataFrame, int]:
    """The held-out rows with the truth file's value, matched by id, then URI, then file name."""
    if not path.is_file():
        raise BeautyError(f"truth file {path} not found")
    try:
        truth = pd.read_csv(path)
    except (ValueError, UnicodeDecodeError) as exc:
        raise BeautyError(f"{path}: not a readable CSV ({str(exc).splitlines()[0]})") from None
    missing = [c for c in ("image", column) if c not in truth.columns]
    if missing:
        raise BeautyError(
            f"{path}: no column {', '.join(missing)} (a truth file has columns image, {column})"
        )
    values = pd.to_numeric(truth[column], errors="coerce")
    names = truth["image"].astype(str)
    lookup = dict(zip(names, values, strict=True))
    found = []
    for key in ("image", "uri", "file_name"):
        found.append(held_out[key].astype(str).map(lookup))
    matched = found[0].fillna(found[1]).fillna(found[2])
    out = held_out.assign(**{column: matched})
    keep = out[column].notna()
    if not keep.any():
        raise BeautyError(
            f"{path}: names none of the {len(held_out)} held-out images (by id, URI or file name)"
        )
    return out[keep].reset_index(drop=True), int((~keep).sum())
