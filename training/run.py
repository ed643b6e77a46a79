"""``train``: a scores table in, a model, its card and an evaluation out (``runs/NAME/``).

Two phases, each resumable and stopped early on validation loss:

1. the head alone, on pooled features of the frozen base computed once per image;
2. the top blocks and the head, on the frozen trunk's output cached on disk (or end to end on
   images with ``cache=False``).

Run folder: ``model.keras``, ``model_card.json``, ``split.csv``, ``evaluation/`` (metrics, curve,
HTML report), ``logs/`` (TensorBoard), ``config.json`` (what the run was started with; a resumed
run must match it). While running it also holds ``checkpoints/`` and ``cache/``, removed at the
end.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from infra.errors import BeautyError
from infra.workspace import Workspace
from training.backbones import Backbone, get_backbone
from training.cache import TrunkCache, build_trunk_cache, pooled_from_cache, pooled_from_images
from training.card import CARD_NAME, ModelCard, versions
from training.data import Prepared, fractions, prepare
from training.distribute import is_chief, make_strategy
from training.feeds import array_feed, image_feed
from training.fit import PhaseResult, fit_phase
from training.images import ImageLoader, Skip
from training.model import CLIP_VALUE, MOMENTUM, Network, build_network, compile_for
from training.options import TrainOptions, check_name, make_options
from training.predict import predict_pixels
from training.report import write_evaluation

Progress = Callable[[str], None]
Feeds = Callable[[int], tuple[tf.data.Dataset, tf.data.Dataset]]


@dataclass
class RunResult:
    """A finished run."""

    name: str
    run_dir: Path
    model_path: Path
    card_path: Path
    report_path: Path
    card: ModelCard
    skipped: list[Skip]

    @property
    def metrics(self) -> dict[str, dict[str, float]]:
        return self.card.metrics


def train(
    workspace: Workspace | str | Path,
    scores_path: str | Path | None = None,
    name: str | None = None,
    *,
    progress: Progress = print,
    **options: Any,
) -> RunResult:
    """Train a beauty model on a scores table; write and return the run.

    Parameters
    ----------
    workspace : Workspace or path
        Where settings come from and runs go (``runs/NAME``).
    scores_path : path, optional
        Scores table (parquet or CSV); default ``tables/scores.parquet`` of the workspace.
    name : str, optional
        Run name; default ``train-YYYYMMDD-HHMMSS``. An unfinished run of that name resumes.
    progress : callable
        Receives one line per stage and per epoch.
    **options
        Fields of :class:`training.options.TrainOptions` (also ``input_size="150x1152"``).
    """
    ws = workspace if isinstance(workspace, Workspace) else Workspace.open(workspace)
    opts = make_options(ws.settings.training, dict(options))
    backbone = get_backbone(opts.backbone)
    if min(opts.input_height, opts.input_width) < backbone.min_side:
        raise BeautyError(
            f"input {opts.input_size} is too small for {backbone.name}: "
            f"both sides must be at least {backbone.min_side} pixels"
        )
    name = check_name(name or datetime.now(UTC).strftime("train-%Y%m%d-%H%M%S"))
    scores = Path(scores_path) if scores_path else ws.tables_dir / "scores.parquet"
    run_dir = ws.runs_dir / name
    if (run_dir / CARD_NAME).exists():
        raise BeautyError(f"run {name} is already finished ({run_dir}); choose another --name")

    strategy = make_strategy(opts.strategy)
    with strategy.scope():  # first: missing weights fail before any image is read
        net = build_network(backbone, opts)
    prepared = prepare(ws, scores, opts)
    if opts.strategy == "multiworker" and not is_chief():
        run_dir = Path(tempfile.mkdtemp(prefix=f"beauty-{name}-"))
    _check_config(run_dir, opts, prepared)
    loader = ImageLoader(prepared.frame["uri"].tolist(), prepared.read)
    run = _Run(opts, prepared, net, loader, run_dir, progress, strategy)
    phases, pred = run.fit()

    model_path = run_dir / "model.keras"
    net.inference.save(model_path)
    test = prepared.rows("test")
    frame = prepared.frame.iloc[test][["image", "uri", "file_name", "score", "tier"]].copy()
    frame["prediction"] = pred
    metrics, report = write_evaluation(
        run_dir / "evaluation",
        name,
        frame[np.isfinite(pred)],
        truth_column="score",
        positive_line=prepared.targets.top_line,
        reps=opts.bootstrap,
        seed=opts.seed,
    )
    _write_split(run_dir, prepared)
    card = _card(name, opts, backbone, net, prepared, loader, phases, metrics)
    card_path = card.write(run_dir)
    for scratch in ("checkpoints", "cache"):
        shutil.rmtree(run_dir / scratch, ignore_errors=True)
    rho = metrics["spearman"]
    progress(
        f"saved {model_path}; test Spearman {rho['value']:.3f} "
        f"[{rho['low']:.3f}, {rho['high']:.3f}], report {report}"
    )
    return RunResult(
        name, run_dir, model_path, card_path, report, card, list(loader.skips.values())
    )


@dataclass
class _Run:
    """The two phases of one run and the state they share."""

    opts: TrainOptions
    prepared: Prepared
    net: Network
    loader: ImageLoader
    run_dir: Path
    progress: Progress
    strategy: tf.distribute.Strategy

    @property
    def size(self) -> tuple[int, int]:
        return self.opts.input_height, self.opts.input_width

    @cached_property
    def views(self) -> tuple[keras.Model, keras.Model, keras.Model]:
        """``(trunk, top_trainer, top_pooled)``: the network cut below its trainable top."""
        with self.strategy.scope():
            return self.net.split()

    def fit(self) -> tuple[dict[str, PhaseResult], np.ndarray]:
        """Both phases; returns their results and the test part's predictions."""
        all_rows = np.arange(len(self.prepared.frame))
        if self.opts.cache:
            cache = self._cache()
            self.prepared.finalise(set(cache.skips))
            self._report_split()
            _, top_trainer, top_pooled = self.views
            phase1 = self._phase1(lambda: pooled_from_cache(top_pooled, cache, all_rows))
            phase2 = self._phase2(top_trainer, self._array_feeds(cache.array))
        else:
            # Without a cache, phase 1's feature pass is also the pass that finds bad images.
            self.progress(f"pooled features of {len(all_rows)} images, once")
            features = pooled_from_images(
                self.net.pooled, self.loader, all_rows, self.size,
                flips=self.opts.augment, batch_size=self.opts.batch_size,
            )  # fmt: skip
            self.prepared.finalise(set(self.loader.skips))
            self._report_split()
            phase1 = self._phase1(lambda: features)
            phase2 = self._phase2(self.net.image_trainer, self._image_feeds())
        # The saved model on the images themselves: exactly what `beauty evaluate` measures.
        pred, _ = predict_pixels(
            self.net.inference, self.loader, self.prepared.rows("test"), self.size
        )
        return {"phase1": phase1, "phase2": phase2}, pred

    def _cache(self) -> TrunkCache:
        trunk, _, _ = self.views
        frame = self.prepared.frame
        self.progress(f"trunk cache: {len(frame)} images through the frozen trunk, once")
        key = {
            "uris": hashlib.sha256("\n".join(frame["uri"]).encode()).hexdigest(),
            "size": list(self.size),
            "backbone": self.net.backbone.name,
            "weights": self.net.backbone.weights_origin(self.opts.weights),
            "cut": self.net.first_trainable_name,
        }
        return build_trunk_cache(
            trunk,
            self.loader,
            self.size,
            self.run_dir / "cache" / "trunk.npy",
            key=key,
            flips=self.opts.augment,
            dtype=self.opts.cache_dtype,
            batch_size=self.opts.batch_size,
            progress=self.progress,
        )

    def _report_split(self) -> None:
        for skip in self.loader.skips.values():
            self.progress(f"skipped {skip.uri}: {skip.reason}")
        p = self.prepared
        days = p.frame["day"].nunique()
        counts = ", ".join(f"{k} {v}" for k, v in p.split_counts().items())
        self.progress(f"split: {counts} (grouped by {p.grouped_by}; {days} days)")

    def _phase1(self, features: Callable[[], np.ndarray]) -> PhaseResult:
        def feeds(start: int) -> tuple[tf.data.Dataset, tf.data.Dataset]:
            return self._array_feeds(features())(start)

        with self.strategy.scope():
            compile_for(self.net.head_trainer, self.opts, self.opts.head_learning_rate)
        return self._fit(self.net.head_trainer, feeds, "phase 1 (head)", self.opts.head_epochs, 1)

    def _phase2(self, model: keras.Model, feeds: Feeds) -> PhaseResult:
        with self.strategy.scope():
            compile_for(model, self.opts, self.opts.learning_rate)
        label = f"phase 2 (top {self.opts.top_blocks} blocks)"
        return self._fit(model, feeds, label, self.opts.epochs, 2)

    def _fit(
        self, model: keras.Model, feeds: Feeds, label: str, epochs: int, n: int
    ) -> PhaseResult:
        return fit_phase(
            model,
            feeds,
            label=label,
            epochs=epochs,
            patience=self.opts.patience,
            checkpoints=self.run_dir / "checkpoints" / f"phase{n}",
            logs=self.run_dir / "logs" / f"phase{n}",
            progress=self.progress,
        )

    def _array_feeds(self, x: np.ndarray) -> Feeds:
        p, o = self.prepared, self.opts
        y, w = p.targets.y, p.targets.weights

        def feeds(start: int) -> tuple[tf.data.Dataset, tf.data.Dataset]:
            train = array_feed(
                x, p.rows("train"), y, w, o.batch_size,
                shuffle=True, flips=o.augment, seed=o.seed, first_epoch=start,
            )  # fmt: skip
            return train, array_feed(x, p.rows("val"), y, w, o.batch_size)

        return feeds

    def _image_feeds(self) -> Feeds:
        p, o = self.prepared, self.opts
        y, w = p.targets.y, p.targets.weights

        def feeds(start: int) -> tuple[tf.data.Dataset, tf.data.Dataset]:
            train = image_feed(
                self.loader, p.rows("train"), y, w, self.size, o.batch_size,
                shuffle=True, augment=o.augment, seed=o.seed, first_epoch=start,
            )  # fmt: skip
            val = image_feed(self.loader, p.rows("val"), y, w, self.size, o.batch_size)
            return train, val

        return feeds


def _check_config(run_dir: Path, opts: TrainOptions, prepared: Prepared) -> None:
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


def _write_split(run_dir: Path, prepared: Prepared) -> None:
    columns = ["image", "uri", "file_name", "part", "day", "score", "tier"]
    frame = prepared.frame[columns].copy()
    frame["target"] = prepared.targets.y[:, -1]
    frame.to_csv(run_dir / "split.csv", index=False)


def _card(
    name: str,
    opts: TrainOptions,
    backbone: Backbone,
    net: Network,
    prepared: Prepared,
    loader: ImageLoader,
    phases: dict[str, PhaseResult],
    metrics: dict[str, dict[str, float]],
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
                "fractions": fractions(),
                "grouped_by": prepared.grouped_by,
                "counts": prepared.split_counts(),
                "days": int(prepared.frame["day"].nunique()),
            },
            "options": opts.model_dump(),
            "phases": {k: vars(v) for k, v in phases.items()},
            "metrics": metrics,
            "versions": versions(),
        }
    )
