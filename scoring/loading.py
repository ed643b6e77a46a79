"""Loading a trained run for inference: checked against its card, cut to give scores and
pooled embeddings through one compiled call.

Every path that scores images goes through :class:`ScoringModel`: the saved network cut to give
both its output and the pooled embedding, called through one compiled function on batches of a
fixed shape (the last batch padded), which is markedly faster on CPUs than ``model.predict``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from infra.errors import BeautyError
from training.backbones import get_backbone
from training.card import ModelCard, output_to_score, read_card
from training.predict import load_run, output_scores

DEFAULT_BATCH = 16


def check_versions(card: ModelCard, run_dir: Path) -> None:
    """Refuse a model saved by a different major version of Keras or TensorFlow.

    Raises
    ------
    BeautyError
        Naming the library, both versions and the fix.
    """
    installed = {"keras": keras.__version__, "tensorflow": tf.__version__}
    for library, version in installed.items():
        saved = card.versions.get(library)
        if saved and _major(saved) != _major(version):
            raise BeautyError(
                f"{run_dir} was saved with {library} {saved}, this installation has {version}: "
                f"install {library} {_major(saved)}.x to use it, or train the model again"
            )


@dataclass
class ScoringModel:
    """A run's network giving ``(scores, embeddings)`` per batch of pixels.

    ``scores`` are on the crowd's scale (``output * std + mean``) for a regression head and
    P(top tier) for a classifier; ``embeddings`` are the pooled features the head reads.
    """

    run_dir: Path
    card: ModelCard
    saved: keras.Model  # the run's model as saved: pixels -> outputs
    network: keras.Model  # the same layers: pixels -> [outputs, pooled]
    batch_size: int

    def __post_init__(self) -> None:
        spec = tf.TensorSpec((self.batch_size, *self.size, 3), tf.float32)

        @tf.function(input_signature=[spec], autograph=False)
        def call(pixels: tf.Tensor) -> Any:
            return self.network(pixels, training=False)

        self._call = call

    @property
    def size(self) -> tuple[int, int]:
        return self.card.input.height, self.card.input.width

    @property
    def width(self) -> int:
        return int(self.network.outputs[1].shape[-1])

    def to_scores(self, outputs: np.ndarray) -> np.ndarray:
        """Network outputs -> scores, as described on the card."""
        return output_to_score(self.card, output_scores(outputs))

    def run(self, pixels: tf.Tensor) -> tuple[np.ndarray, np.ndarray]:
        """Scores and float32 embeddings of up to ``batch_size`` images at :attr:`size`."""
        n = int(pixels.shape[0])
        if n < self.batch_size:
            pixels = tf.pad(pixels, [[0, self.batch_size - n], [0, 0], [0, 0], [0, 0]])
        outputs, pooled = self._call(pixels)
        return self.to_scores(outputs.numpy()[:n]), pooled.numpy()[:n]


def load_scoring_model(run_dir: str | Path, batch_size: int = DEFAULT_BATCH) -> ScoringModel:
    """Load a finished run for scoring, after checking that its card describes it.

    Raises
    ------
    BeautyError
        When the run is missing, was saved by another major Keras or TensorFlow, or its model
        does not match its card (input size, backbone width, a head on pooled features).
    """
    folder = Path(run_dir)
    check_versions(read_card(folder), folder)
    model, card = load_run(folder)
    height, width = (int(d) if d is not None else None for d in model.inputs[0].shape[1:3])
    if (height, width) != (card.input.height, card.input.width):
        raise BeautyError(
            f"{folder}: the model takes {height}x{width} images but its card says "
            f"{card.input.height}x{card.input.width}: the card belongs to another model; "
            "restore the run's own model_card.json or train again"
        )
    pools = [
        layer for layer in model.layers if isinstance(layer, keras.layers.GlobalAveragePooling2D)
    ]
    if not pools:
        raise BeautyError(f"{folder}: the model has no pooled features; it is not a beauty model")
    network = keras.Model(model.inputs[0], [model.outputs[0], pools[-1].output])
    scoring = ScoringModel(folder, card, model, network, batch_size)
    expected = get_backbone(card.backbone.name).width
    if scoring.width != expected:
        raise BeautyError(
            f"{folder}: the model pools {scoring.width} features, a {card.backbone.name} "
            f"base gives {expected}: the card belongs to another model"
        )
    return scoring


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else -1
