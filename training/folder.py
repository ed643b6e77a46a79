"""What a run folder records besides the model: the options it was started with (a resumed run
must match them), the split (``split.csv``) and the model card."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from infra.errors import BeautyError
from training.backbones import Backbone
from training.card import ModelCard, versions
from training.data import Prepared, fractions
from training.images import ImageLoader
from training.model import CLIP_VALUE, MOMENTUM, Network
from training.options import TrainOptions


def check_config(run_dir: Path, opts: TrainOptions, prepared: Prepared) -> None:
    """Record what the run was started with; a resumed run must match it."""
    config = {"options": opts.model_dump(), "scores_sha256": prepared.table.sha256}
    path = run_dir / "config.json"
    if path.exists():
        old = json.loads(path.read_text(encoding="utf-8"))
        if old != config:
            diff = _first_difference(old, config)
            raise BeautyError(
                f"run {run_dir.name} was started with different {diff}: use another --name, "
                f"or delete {run_dir} to start over"
            )
        return
    run_dir.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(config, indent=1), encoding="utf-8")


def _first_difference(old: dict[str, Any], new: dict[str, Any]) -> str:
    if old.get("scores_sha256") != new["scores_sha256"]:
        return "scores (the table changed)"
    before, after = old.get("options", {}), new["options"]
    key = next((k for k in after if before.get(k) != after[k]), "options")
    return f"{key} ({before.get(key)!r}, now {after.get(key)!r})"


def write_split(run_dir: Path, prepared: Prepared, folds: np.ndarray | None) -> None:
    columns = ["image", "uri", "file_name", "part", "day", "score", "tier"]
    frame = prepared.frame[columns].copy()
    frame["target"] = prepared.targets.y[:, -1]
    if folds is not None:
        frame["fold"] = folds
    frame.to_csv(run_dir / "split.csv", index=False)


def make_card(
    name: str,
    opts: TrainOptions,
    backbone: Backbone,
    net: Network,
    prepared: Prepared,
    loader: ImageLoader,
    phases: dict[str, Any],
    selection: dict[str, Any],
    metrics: dict[str, dict[str, float]],
    cross: dict[str, Any] | None,
) -> ModelCard:
    t = prepared.targets
    classifier = opts.classify_tier is not None
    optimizer: dict[str, Any] = {"name": opts.optimizer, "clipvalue": CLIP_VALUE}
    if opts.optimizer == "sgd":
        optimizer["momentum"] = MOMENTUM
    optimizer |= {
        "learning_rate": opts.learning_rate,
        "head_learning_rate": opts.head_learning_rate,
    }
    output = "Dense(2, softmax)" if classifier else "Dense(1, linear)"
    return ModelCard.model_validate(
        {
            "name": name,
            "created_at": datetime.now(UTC).replace(microsecond=0).isoformat(),
            "input": {"height": opts.input_height, "width": opts.input_width},
            "backbone": {
                "name": backbone.name,
                "weights": opts.weights,
                "weights_origin": backbone.weights_origin(opts.weights),
                "top_blocks": opts.top_blocks,
                "first_trainable_layer": net.first_trainable_name,
            },
            "head": {
                "kind": "classifier" if classifier else "regression",
                "layers": ["GlobalAveragePooling2D", f"Dropout({opts.dropout})", output],
                "classify_tier": opts.classify_tier,
                "loss": "categorical_crossentropy" if classifier else "mean_squared_error",
                "optimizer": optimizer,
            },
            "score_normalisation": {"mean": t.mean, "std": t.std, "top_line": t.top_line},
            "training_data": {
                "scores_table": str(prepared.table.path.resolve()),
                "scores_sha256": prepared.table.sha256,
                "images": int((prepared.frame["part"] != "skipped").sum()),
                "skipped": [vars(s) for s in loader.skips.values()],
                "derived_left_out": len(prepared.table.derived),
                "tiers_from_percentiles": prepared.table.tier_derived,
                "weighted_by_se": opts.weight_by_se,
            },
            "split": {
                "seed": opts.seed,
                "fractions": fractions(opts),
                "grouped_by": prepared.grouped_by,
                "counts": prepared.split_counts(),
                "days": int(prepared.frame["day"].nunique()),
            },
            "options": opts.model_dump(),
            "phases": phases,
            "selection": selection,
            "cross_validation": cross,
            "metrics": metrics,
            "versions": versions(),
        }
    )
