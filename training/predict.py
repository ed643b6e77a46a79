"""A finished run's saved network and its raw predictions on images: the held-out predictions
training ends with and evaluation measures. Scoring galleries builds on it (``scoring.loading``).
"""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import training.layers  # noqa: F401  (registers the layers saved models contain)
from infra.errors import BeautyError
from training.card import ModelCard, read_card
from training.images import ImageLoader, Skip


def load_run(run_dir: str | Path, model_file: str | None = None) -> tuple[keras.Model, ModelCard]:
    """The model (or another network file of the run, e.g. its probe) and card of a run.

    Raises
    ------
    BeautyError
        When the folder holds no finished run or the model file cannot be loaded.
    """
    folder = Path(run_dir)
    card = read_card(folder)
    path = folder / (model_file or card.model_file)
    try:
        model = keras.saving.load_model(path, compile=False)
    except (OSError, ValueError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:160]
        raise BeautyError(f"{path}: cannot load the model ({first})") from None
    return model, card


def output_scores(outputs: np.ndarray) -> np.ndarray:
    """One score per image: the regression output, or the classifier's P(top tier)."""
    return np.asarray(outputs)[:, -1].astype(float)


def predict_pixels(
    model: keras.Model,
    loader: ImageLoader,
    rows: np.ndarray,
    size: tuple[int, int],
    batch_size: int = 8,
) -> tuple[np.ndarray, list[Skip]]:
    """Scores for ``loader``'s images at ``rows`` (NaN where an image was skipped)."""

    @tf.function(reduce_retracing=True)
    def run(pixels: tf.Tensor) -> tf.Tensor:
        # A compiled call per batch: much faster than model.predict on this scale.
        return model(pixels, training=False)

    out = np.full(len(rows), np.nan)
    position = {int(r): i for i, r in enumerate(rows)}
    stream = loader.decode(tf.data.Dataset.from_tensor_slices(np.asarray(rows, "int64")), size)
    for batch_rows, pixels in stream.batch(batch_size).prefetch(2):
        out[[position[int(r)] for r in batch_rows.numpy()]] = output_scores(run(pixels).numpy())
    skipped = [loader.skips[int(r)] for r in rows if int(r) in loader.skips]
    return out, skipped
