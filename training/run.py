"""``train``: a scores table in, a model, its card and an evaluation out (``runs/NAME/``).

1. The probe: ridge regression of the standardised scores on pooled features of the frozen base
   (computed once per image), penalty by cross-validation, written into the head's Dense layer,
   so that the network starts as the probe (``probe.keras``). A classifier head is fitted by
   gradient instead (phase 1).
2. Fine-tuning the top blocks and the head from there, on the frozen trunk's output cached on
   disk (or end to end on images with ``cache=False``), stopped early on validation loss; kept
   only where its validation Spearman beats the probe's beyond chance: the lower end of a
   paired bootstrap interval (:data:`KEEP_LEVEL`) of the difference must be above 0.

Small tables are cross-validated first (``folds``): each fold held out in turn, out-of-fold
predictions of the model (each fold choosing as above), the probe and the fine-tuned network;
then the final model trains on all images. Its choice is made on the out-of-fold predictions of
every image instead of one small validation part: fine-tuning is run and kept only when it beats
the probe there beyond chance, by the same rule. Runs are
repeatable: the same data, options and seed give the same weights (on CPU).

Run folder: ``model.keras``, ``probe.keras``, ``model_card.json``, ``split.csv``,
``evaluation/`` (metrics, curve, HTML report), ``logs/`` (TensorBoard), ``config.json`` (what the
run was started with; a resumed run must match it). While running it also holds
``checkpoints/`` and ``cache/``, removed at the end.
"""

from __future__ import annotations

import hashlib
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
import pandas as pd
import tensorflow as tf

from infra.errors import BeautyError
from infra.workspace import Workspace
from training.backbones import get_backbone
from training.cache import (
    Compiled,
    TrunkCache,
    build_trunk_cache,
    compiled,
    pooled_from_cache,
    pooled_from_images,
)
from training.card import CARD_NAME, ModelCard
from training.data import Prepared, fold_parts, prepare
from training.distribute import is_chief, make_strategy
from training.feeds import array_feed, image_feed
from training.fit import PhaseResult, fit_phase
from training.folder import check_config, make_card, write_split
from training.images import ImageLoader, Skip, check_aspect
from training.model import Network, build_network, compile_for
from training.options import SMALL_TABLE, TrainOptions, check_name, make_options
from training.predict import predict_pixels
from training.probe import (
    KEEP_LEVEL,
    Probe,
    beats_probe,
    difference_words,
    fit_probe,
    validation_spearman,
)
from training.report import write_evaluation
from training.scores import scores_table_path
from training.split import fold_of

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
    scores = scores_table_path(ws.tables_dir, scores_path)
    run_dir = ws.runs_dir / name
    if (run_dir / CARD_NAME).exists():
        raise BeautyError(f"run {name} is already finished ({run_dir}); choose another --name")

    seed_everything(opts.seed)
    strategy = make_strategy(opts.strategy)
    with strategy.scope():  # first: missing weights fail before any image is read
        net = build_network(backbone, opts)
    prepared = prepare(ws, scores, opts)
    check_aspect(prepared.frame["uri"].tolist(), prepared.read, opts.input_size, progress)
    if opts.strategy == "multiworker" and not is_chief():
        run_dir = Path(tempfile.mkdtemp(prefix=f"beauty-{name}-"))
    check_config(run_dir, opts, prepared)
    loader = ImageLoader(prepared.frame["uri"].tolist(), prepared.read)
    run = _Run(opts, prepared, net, loader, run_dir, progress, strategy)

    k = opts.folds_for(len(prepared.frame))
    groups = prepared.groups()
    if k > groups:
        progress(f"{groups} capture-day groups: {min(k, groups)} folds, not {k}")
        k = min(k, groups) if groups >= 3 else 0
    cross: dict[str, Any] | None = None
    if k:
        why = "" if opts.folds is not None else f" (fewer than {SMALL_TABLE} images: the default)"
        progress(f"{k}-fold cross-validation{why}, then the final model on all images")
        frame, cross = run.cross_validate(k)
        final = fold_parts(prepared, run.folds(k), None)
        fit = run.fit(final, save_probe=True, choice=cross["choice"]["chosen"])
    else:
        fit = run.fit(None, save_probe=True)
        test = prepared.rows("test")
        frame = prepared.frame.iloc[test][["image", "uri", "file_name", "score", "tier"]].copy()
        # The saved model on the images themselves: exactly what `beauty evaluate` measures.
        pred, _ = predict_pixels(net.inference, loader, test, run.size)
        frame["prediction"] = prepared.targets.to_scores(pred)
        frame["probe"] = fit.probe_test
    model_path = run_dir / "model.keras"
    net.inference.save(model_path)
    t = prepared.targets
    line = float(t.to_scores(np.array([t.top_line]))[0])
    metrics, report = write_evaluation(
        run_dir / "evaluation",
        name,
        frame[np.isfinite(frame["prediction"].to_numpy(float))],
        truth_column="score",
        positive_line=line,
        reps=opts.bootstrap,
        seed=opts.seed,
        baseline="probe" if "probe" in frame and frame["probe"].notna().all() else None,
        note="out-of-fold predictions: each image scored by the fold's model of the kind "
        "chosen (probe or fine-tuned), which did not see it"
        if k
        else "",
    )
    write_split(run_dir, prepared, run.folds(k) if k else None)
    phases = {k: vars(v) for k, v in fit.phases.items()}
    card = make_card(
        name, opts, backbone, net, prepared, loader, phases, fit.selection(cross), metrics, cross
    )
    card_path = card.write(run_dir)
    for scratch in ("checkpoints", "cache"):
        shutil.rmtree(run_dir / scratch, ignore_errors=True)
    rho = metrics["spearman"]
    kind = "out-of-fold" if k else "test"
    progress(
        f"saved {model_path} ({fit.chosen}); {kind} Spearman {rho['value']:.3f} "
        f"[{rho['low']:.3f}, {rho['high']:.3f}], report {report}"
    )
    return RunResult(
        name, run_dir, model_path, card_path, report, card, list(loader.skips.values())
    )


def seed_everything(seed: int) -> None:
    """Python, NumPy and TensorFlow seeds, and deterministic TensorFlow ops: the same data,
    options and seed give the same weights and predictions (on CPU)."""
    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()


@dataclass
class Fit:
    """One fit: its phases, the probe, which model was kept and the validation scores."""

    phases: dict[str, PhaseResult]
    chosen: str  # "probe" or "fine-tuned"
    probe: Probe | None
    probe_val: float | None
    fine_tuned_val: float | None
    probe_test: np.ndarray | None  # the probe on the test part, crowd units

    def selection(self, cross: dict[str, Any] | None) -> dict[str, Any]:
        """The model card's account of which model was kept, and why."""
        return {
            "chosen": self.chosen,
            "probe_val_spearman": self.probe_val,
            "fine_tuned_val_spearman": self.fine_tuned_val,
            "probe_alpha": None if self.probe is None else self.probe.alpha,
            "probe_file": "probe.keras" if self.probe is not None else None,
            "rule": "fine-tuning is kept only where its Spearman beats the probe's (ridge "
            "on pooled features, the head's starting point) beyond chance: the lower end "
            f"of a {KEEP_LEVEL:.0%} paired bootstrap interval of the difference above 0; "
            "judged on the validation part, or when cross-validated on every image out of "
            "fold, whose reported predictions are then the chosen kind's (chosen on them: "
            "a little optimistic where fine-tuning wins)",
            "out_of_fold": (cross or {}).get("choice"),
        }


@dataclass
class _Run:
    """The phases of one run (or of each fold) and the state they share."""

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

    @cached_property
    def initial(self) -> list[np.ndarray]:
        """The network's weights before any fit: every fold starts from them."""
        return [v.numpy() for v in self.net.inference.variables]

    def reset(self) -> None:
        for variable, value in zip(self.net.inference.variables, self.initial, strict=True):
            variable.assign(value)

    @cached_property
    def cache(self) -> TrunkCache:
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

    @cached_property
    def pooled(self) -> Compiled:
        """Pooled features of the network as it is: from the cached trunk output, or pixels."""
        if self.opts.cache:
            _, _, top_pooled = self.views
            return compiled(top_pooled)
        return compiled(self.net.pooled)

    @cached_property
    def features(self) -> np.ndarray:
        """Pooled features of the untrained top for every row ``(rows, orientations, width)``;
        also the pass that finds unusable images."""
        _ = self.initial
        all_rows = np.arange(len(self.prepared.frame))
        if self.opts.cache:
            return pooled_from_cache(self.pooled, self.cache, all_rows)
        self.progress(f"pooled features of {len(all_rows)} images, once")
        return pooled_from_images(
            self.pooled, self.loader, all_rows, self.size,
            flips=self.opts.augment, batch_size=self.opts.batch_size,
        )  # fmt: skip

    def skips(self) -> set[int]:
        _ = self.features
        return set(self.cache.skips) if self.opts.cache else set(self.loader.skips)

    def folds(self, k: int) -> np.ndarray:
        frame = self.prepared.frame
        return fold_of(frame["tier"].to_numpy(), frame["day"].tolist(), k, self.opts.seed)

    def cross_validate(self, k: int) -> tuple[pd.DataFrame, dict[str, Any]]:
        """Out-of-fold predictions of the fine-tuned network and the probe, per-fold figures,
        and the verdict between them; the ``prediction`` column is the verdict's kind."""
        folds = self.folds(k)
        frame = self.prepared.frame[["image", "uri", "file_name", "score", "tier"]].copy()
        network = np.full(len(frame), np.nan)
        probed = np.full(len(frame), np.nan)
        truth_all = frame["score"].to_numpy(float)
        per_fold = []
        network_name = "fine-tuned" if self.opts.epochs else "network"
        for fold in range(k):
            self.progress(f"fold {fold + 1}/{k}")
            fit = self.fit(fold_parts(self.prepared, folds, fold), tag=f"fold{fold}", choice=None)
            test = self.prepared.rows("test")
            # The network as trained (fine-tuned, or the probe when there were no epochs).
            network[test] = self.prepared.targets.to_scores(self._current(test))
            if fit.probe_test is not None:
                probed[test] = fit.probe_test
            truth = truth_all[test]
            entry = {
                "fold": fold,
                "test_images": len(test),
                "spearman": validation_spearman(truth, network[test]),
                "probe_spearman": validation_spearman(truth, probed[test])
                if fit.probe_test is not None
                else None,
                "probe_val": fit.probe_val,
                "fine_tuned_val": fit.fine_tuned_val,
            }
            per_fold.append(entry)
            probe = entry["probe_spearman"]
            self.progress(
                f"fold {fold + 1}/{k}: {len(test)} held-out images, Spearman {network_name} "
                f"{entry['spearman']:.3f}" + ("" if probe is None else f", probe {probe:.3f}")
            )
        frame["probe"] = probed
        frame["fold"] = folds
        usable = np.isfinite(network)
        out = frame[usable].reset_index(drop=True)
        truth = out["score"].to_numpy(float)
        choice = self._cross_choice(truth, network[usable], out["probe"].to_numpy(float))
        out["prediction"] = out["probe"] if choice["chosen"] == "probe" else network[usable]
        pooled: dict[str, Any] = {
            "folds": k,
            "images": len(out),
            "spearman": validation_spearman(truth, out["prediction"].to_numpy(float)),
            "probe_spearman": validation_spearman(truth, out["probe"].to_numpy(float))
            if out["probe"].notna().all()
            else None,
            "per_fold": per_fold,
            "choice": choice,
        }
        if choice["chosen"] is None:
            probe = pooled["probe_spearman"]
            self.progress(
                f"out-of-fold Spearman over {len(out)} images: model {pooled['spearman']:.3f}"
                + ("" if probe is None else f", probe {probe:.3f}")
            )
        return out, pooled

    def _cross_choice(
        self, truth: np.ndarray, tuned: np.ndarray, probed: np.ndarray
    ) -> dict[str, Any]:
        """Probe or fine-tuning, judged on every image out of fold."""
        if self.opts.epochs == 0 or not np.isfinite(probed).all():
            return {"chosen": None}  # a classifier, or no fine-tuning: nothing to choose
        better, diff = beats_probe(truth, tuned, probed, self.opts.seed)
        verdict = {
            "chosen": "fine-tuned" if better else "probe",
            "fine_tuned_spearman": validation_spearman(truth, tuned),
            "probe_spearman": validation_spearman(truth, probed),
            "difference": diff,
        }
        self.progress(
            f"out-of-fold Spearman over {len(truth)} images: fine-tuned "
            f"{verdict['fine_tuned_spearman']:.3f}, probe {verdict['probe_spearman']:.3f} "
            f"({difference_words(diff)}); the model: {verdict['chosen']}"
        )
        return verdict

    def fit(
        self,
        parts: np.ndarray | None,
        *,
        tag: str = "",
        save_probe: bool = False,
        choice: str | None = "validation",
    ) -> Fit:
        """Probe (or phase 1 for a classifier), then fine-tuning.

        ``choice`` is how the two are settled: ``"validation"`` keeps fine-tuning only where it
        beats the probe on the validation part beyond chance; ``"probe"`` or ``"fine-tuned"``
        was decided out of fold (``"probe"`` skips fine-tuning); ``None`` keeps the fine-tuned
        network without deciding (a fold, decided later on every fold's images).
        """
        features = self.features
        self.reset()
        self.prepared.finalise(self.skips(), parts)
        self._report_split()
        p, t = self.prepared, self.prepared.targets
        train, val, test = p.rows("train"), p.rows("val"), p.rows("test")
        probe = probe_val = probe_test = None
        phases: dict[str, PhaseResult] = {}
        if self.opts.classify_tier is None:
            probe = fit_probe(features[train], t.y[train], t.weights[train])
            self.net.output.set_weights(probe.dense_weights())
            probe_pred = probe.predict(features[val, 0])
            probe_val = validation_spearman(t.y[val, 0], probe_pred)
            if len(test):
                probe_test = t.to_scores(probe.predict(features[test, 0]))
            self.progress(
                f"probe: ridge on pooled features (penalty {probe.alpha:.3g}), "
                f"validation Spearman {probe_val:.3f}"
            )
            if save_probe:
                self.net.inference.save(self.run_dir / "probe.keras")
        else:
            phases["phase1"] = self._phase1(features, tag)
        if probe is not None and choice == "probe":
            self.progress("fine-tuning skipped: the probe won out of fold")
            return Fit(phases, "probe", probe, probe_val, None, probe_test)
        # Only a choice made here may need the probe's weights back.
        start = [v.numpy() for v in self.net.inference.variables] if choice == "validation" else []
        if self.opts.cache:
            _, top_trainer, _ = self.views
            phases["phase2"] = self._phase2(top_trainer, self._array_feeds(self.cache.array), tag)
        else:
            phases["phase2"] = self._phase2(self.net.image_trainer, self._image_feeds(), tag)
        chosen, tuned_val = "fine-tuned", None
        if probe is not None and self.opts.epochs > 0:
            tuned_pred = self._current(val)
            tuned_val = validation_spearman(t.y[val, 0], tuned_pred)
            line = f"validation Spearman: probe {probe_val:.3f}, fine-tuned {tuned_val:.3f}"
            if choice == "validation":
                # A few dozen validation photos rank two good models in either order by chance:
                # fine-tuning is kept only when it beats the probe beyond that noise.
                better, diff = beats_probe(t.y[val, 0], tuned_pred, probe_pred, self.opts.seed)
                if not better:
                    chosen = "probe"
                    for variable, value in zip(self.net.inference.variables, start, strict=True):
                        variable.assign(value)
                line += f" ({difference_words(diff)}); kept: {chosen}"
            elif choice == "fine-tuned":
                line += "; kept: fine-tuned (decided out of fold)"
            self.progress(line)
        elif probe is not None:
            chosen = "probe"  # no epochs: the network is the probe
        return Fit(phases, chosen, probe, probe_val, tuned_val, probe_test)

    def _current(self, rows: np.ndarray) -> np.ndarray:
        """The network as it is now, on ``rows`` (unflipped), in output units."""
        if self.opts.cache:
            pooled = pooled_from_cache(self.pooled, self.cache, rows)[:, 0]
        else:
            pooled = pooled_from_images(
                self.pooled, self.loader, rows, self.size, flips=False,
                batch_size=self.opts.batch_size,
            )[:, 0]  # fmt: skip
        kernel, bias = self.net.output.get_weights()
        return np.asarray(pooled @ kernel + bias)[:, -1]

    def _report_split(self) -> None:
        for skip in self.loader.skips.values():
            self.progress(f"skipped {skip.uri}: {skip.reason}")
        p = self.prepared
        counts = ", ".join(f"{k} {v}" for k, v in p.split_counts().items())
        self.progress(f"split: {counts} (grouped by {p.grouped_by})")

    def _phase1(self, features: np.ndarray, tag: str) -> PhaseResult:
        def feeds(start: int) -> tuple[tf.data.Dataset, tf.data.Dataset]:
            return self._array_feeds(features)(start)

        with self.strategy.scope():
            compile_for(self.net.head_trainer, self.opts, self.opts.head_learning_rate)
        return self._fit(
            self.net.head_trainer, feeds, "phase 1 (head)", self.opts.head_epochs, 1, tag
        )

    def _phase2(self, model: keras.Model, feeds: Feeds, tag: str) -> PhaseResult:
        with self.strategy.scope():
            compile_for(model, self.opts, self.opts.learning_rate)
        label = f"phase 2 (top {self.opts.top_blocks} blocks)"
        return self._fit(model, feeds, label, self.opts.epochs, 2, tag)

    def _fit(
        self, model: keras.Model, feeds: Feeds, label: str, epochs: int, n: int, tag: str
    ) -> PhaseResult:
        folder = Path(tag) / f"phase{n}"
        return fit_phase(
            model,
            feeds,
            strategy=self.strategy,
            label=label,
            epochs=epochs,
            patience=self.opts.patience,
            checkpoints=self.run_dir / "checkpoints" / folder,
            logs=self.run_dir / "logs" / folder,
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
