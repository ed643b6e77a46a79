"""One training phase: fit with checkpoints, early stopping, TensorBoard logs; keep the best."""

from __future__ import annotations

import warnings
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
    label: str,
    epochs: int,
    patience: int,
    checkpoints: Path,
    logs: Path,
    progress: Progress,
) -> PhaseResult:
    """Fit a compiled ``model`` for up to ``epochs``, resuming from ``checkpoints`` if present.

    ``feeds(first_epoch)`` gives the training and validation datasets, so that a resumed run
    continues the same sequence of shuffles. The best epoch's weights are left in the model.
    """
    keeper = PhaseCheckpoint(checkpoints, label, epochs, patience, progress)
    start = keeper.restore(model)
    if start:
        progress(f"{label}: resuming after epoch {start}")
    if not keeper.finished and epochs > 0:
        train, val = feeds(start)
        with warnings.catch_warnings():
            # Generator feeds have no length until the first epoch ends; Keras warns about that.
            warnings.filterwarnings("ignore", message="Your input ran out of data")
            model.fit(
                train,
                validation_data=val,
                epochs=epochs,
                initial_epoch=start,
                callbacks=[keeper, EpochScalars(logs)],
                shuffle=False,  # the feeds shuffle, reproducibly per epoch
                verbose=0,
            )
    keeper.keep_best(model)
    best = keeper.state["best"]
    return PhaseResult(
        history=list(keeper.state["history"]),
        best_epoch=keeper.state["best_epoch"],
        best_val_loss=None if best == float("inf") else float(best),
        stopped_early=bool(keeper.state["stopped"]),
    )
