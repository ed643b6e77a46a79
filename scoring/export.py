"""A trained run as a TensorFlow SavedModel, for serving: any-size images in, score and
embedding out, resized exactly as in training."""

from __future__ import annotations

from pathlib import Path

import tensorflow as tf

from infra.errors import BeautyError
from scoring.loading import ScoringModel, load_scoring_model
from training.images import resize


class _Serving(tf.Module):
    """The exported graph: any-size images -> resized as in training -> score and embedding."""

    def __init__(self, model: ScoringModel) -> None:
        super().__init__()
        self.network = model.network
        self._size = model.size
        kind, norm = model.card.head.kind, model.card.score_normalisation
        self._scale, self._shift = (norm.std, norm.mean) if kind == "regression" else (1.0, 0.0)

    @tf.function(
        input_signature=[tf.TensorSpec((None, None, None, 3), tf.uint8, name="images")],
        autograph=False,
    )
    def serve_uint8(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._serve(tf.cast(images, tf.float32))

    @tf.function(
        input_signature=[tf.TensorSpec((None, None, None, 3), tf.float32, name="images")],
        autograph=False,
    )
    def serve_float(self, images: tf.Tensor) -> dict[str, tf.Tensor]:
        return self._serve(images)

    def _serve(self, pixels: tf.Tensor) -> dict[str, tf.Tensor]:
        outputs, pooled = self.network(resize(pixels, self._size), training=False)
        score = tf.cast(outputs[:, -1], tf.float64) * self._scale + self._shift
        return {"score": score, "embedding": pooled}


def export_savedmodel(run_dir: str | Path, out: str | Path) -> Path:
    """Write the run as a TensorFlow SavedModel for serving; returns its folder.

    Signatures: ``serving_default`` takes ``uint8`` RGB images ``(n, h, w, 3)`` of any size and
    ``serving_float`` float RGB in [0, 255]; both resize to the card's input size as training
    did and return ``score`` (as :class:`scoring.scorer.Scorer` gives it) and ``embedding``.
    Images in one call share one size: resize larger batches beforehand, or call once per image.

    Raises
    ------
    BeautyError
        When ``out`` exists and is not empty.
    """
    folder = Path(out)
    if folder.exists() and any(folder.iterdir()):
        raise BeautyError(f"{folder} exists and is not empty; choose a new folder for the export")
    module = _Serving(load_scoring_model(run_dir, batch_size=1))
    signatures = {"serving_default": module.serve_uint8, "serving_float": module.serve_float}
    tf.saved_model.save(module, str(folder), signatures=signatures)
    return folder
