"""One training phase: a training loop with checkpoints, early stopping and TensorBoard logs.

The loop is written on ``tf.distribute`` directly rather than ``Model.fit``: the same code runs
on one device, on every local GPU (``MirroredStrategy``) and across machines
(``MultiWorkerMirroredStrategy``, where Keras 3's ``fit`` fails: keras-team/keras#20585).

Each step is the arithmetic of one device on the global batch: every replica sums its weighted
losses and divides by the number of samples in the whole global batch, the gradients are summed
across replicas, and only then clipped and applied. So a run on two workers follows the curve of
a run on one (up to the order of float additions), including its last, shorter batch. Losses are
Keras' ``sum_over_batch_size`` reduction (sample weights multiply, the count divides), and an
epoch's loss is the mean over its samples, as ``fit`` reports it.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import tensorflow as tf

from training.checkpoints import PhaseCheckpoint, Progress
from training.tensorboard import EpochScalars


@dataclass
class PhaseResult:
    """What a phase did, epoch by epoch."""

    history: list[dict[str, Any]]
    best_epoch: int | None
    best_val_loss: float | None
    stopped_early: bool


def fit_phase(
    model: keras.Model,
    feeds: Callable[[int], tuple[tf.data.Dataset, tf.data.Dataset]],
    *,
    strategy: tf.distribute.Strategy,
    label: str,
    epochs: int,
    patience: int,
    checkpoints: Path,
    logs: Path,
    progress: Progress,
) -> PhaseResult:
    """Fit a compiled ``model`` for up to ``epochs``, resuming from ``checkpoints`` if present.

    ``feeds(first_epoch)`` gives the training and validation datasets of ``(x, y, weight)``
    global batches, so that a resumed run continues the same sequence of shuffles. The best
    epoch's weights are left in the model.
    """
    keeper = PhaseCheckpoint(checkpoints, label, epochs, patience, progress)
    with strategy.scope():
        start = keeper.restore(model)
    if start:
        progress(f"{label}: resuming after epoch {start}")
    if not keeper.finished and epochs > 0:
        train, val = feeds(start)
        steps = _Steps(model, strategy)
        scalars = EpochScalars(logs)
        quiet = _ExpectedRetracing()
        tf.get_logger().addFilter(quiet)
        try:
            for epoch in range(start, epochs):
                started = time.perf_counter()
                losses = {"loss": steps.run(train, training=True)}
                losses["val_loss"] = steps.run(val, training=False)
                scalars.write(epoch, losses)
                seconds = time.perf_counter() - started
                if keeper.end_epoch(model, epoch, losses, seconds):
                    break
        finally:
            tf.get_logger().removeFilter(quiet)
            scalars.close()
    with strategy.scope():
        keeper.keep_best(model)
    best = keeper.state["best"]
    return PhaseResult(
        history=list(keeper.state["history"]),
        best_epoch=keeper.state["best_epoch"],
        best_val_loss=None if best == float("inf") else float(best),
        stopped_early=bool(keeper.state["stopped"]),
    )


class _ExpectedRetracing(logging.Filter):
    """Every phase (and fold) compiles a fresh optimizer, so its steps are traced anew: by
    design, not the leak TensorFlow's retracing warning suspects; that warning is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "triggered tf.function retracing" not in record.getMessage()


class _Steps:
    """Compiled training and evaluation steps of one model under one strategy."""

    def __init__(self, model: keras.Model, strategy: tf.distribute.Strategy) -> None:
        self.model = model
        self.strategy = strategy
        self.loss = keras.losses.get(model.loss)
        with strategy.scope():
            if not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
        self._train = tf.function(self._train_step, reduce_retracing=True)
        self._evaluate = tf.function(self._evaluate_step, reduce_retracing=True)

    def run(self, data: tf.data.Dataset, *, training: bool) -> float:
        """One pass over ``data``: train on it or evaluate; the mean loss per sample."""
        step = self._train if training else self._evaluate
        total = count = 0.0
        for batch in self.strategy.experimental_distribute_dataset(_sharded(data)):
            batch_total, batch_count = step(*batch)
            total += float(batch_total)
            count += float(batch_count)
        return total / count if count else float("nan")

    def _weighted(self, x: tf.Tensor, y: tf.Tensor, w: tf.Tensor, training: bool) -> tf.Tensor:
        per_sample = self.loss(y, self.model(x, training=training))
        return tf.reduce_sum(per_sample * w)

    def _train_step(self, x: Any, y: Any, w: Any) -> tuple[tf.Tensor, tf.Tensor]:
        model = self.model

        def replica(x: tf.Tensor, y: tf.Tensor, w: tf.Tensor) -> tuple[Any, ...]:
            context = tf.distribute.get_replica_context()
            local = tf.cast(tf.shape(x)[0], tf.float32)
            count = context.all_reduce("SUM", local)
            with tf.GradientTape() as tape:
                total = self._weighted(x, y, w, training=True)
                loss = total / count
            gradients = tape.gradient(loss, model.trainable_variables)
            return total, local, gradients

        total, local, gradients = self.strategy.run(replica, args=(x, y, w))
        gradients = self._sum(gradients)
        # In the cross-replica context: the optimizer clips the summed gradients, not each half.
        model.optimizer.apply_gradients(zip(gradients, model.trainable_variables, strict=True))
        return self._sum(total), self._sum(local)

    def _evaluate_step(self, x: Any, y: Any, w: Any) -> tuple[tf.Tensor, tf.Tensor]:
        def replica(x: tf.Tensor, y: tf.Tensor, w: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
            return self._weighted(x, y, w, training=False), tf.cast(tf.shape(x)[0], tf.float32)

        total, local = self.strategy.run(replica, args=(x, y, w))
        return self._sum(total), self._sum(local)

    def _sum(self, value: Any) -> Any:
        return tf.nest.map_structure(lambda v: self.strategy.reduce("SUM", v, axis=None), value)


def _sharded(data: tf.data.Dataset) -> tf.data.Dataset:
    """Workers split each global batch between them (the feeds are generators, not files)."""
    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return data.with_options(options)
