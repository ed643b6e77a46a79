"""A trained run as a scoring service: checked loading, a compiled batch call, the ``Scorer`` API
and a TensorFlow SavedModel export.

Every path that scores images here goes through :class:`ScoringModel`: the saved network cut to
give both its output and the pooled embedding, called through one compiled function on batches of
a fixed shape (the last batch padded), which is markedly faster on CPUs than ``model.predict``.
Pixels are prepared exactly as in training (:mod:`training.images`), so a gallery's scores are
the scores the evaluation measured.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from infra.errors import BeautyError
from infra.images import image_id
from infra.progress import bar
from training.backbones import get_backbone
from training.card import ModelCard, read_card
from training.data import Reader, reader_for
from training.images import ImageLoader, Skip, resize
from training.predict import load_run, output_scores
from training.scoring import output_to_score

DEFAULT_BATCH = 16
PREFETCH_BATCHES = 2  # decoded batches waiting for the model: bounds memory at any gallery size


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


@dataclass
class Batch:
    """One batch of scored images: their row numbers, content ids, scores and embeddings."""

    rows: np.ndarray
    ids: list[str]
    scores: np.ndarray
    embeddings: np.ndarray


class ImageStream:
    """Images of a list of URIs, read and decoded in parallel, scored batch by batch.

    At most :data:`PREFETCH_BATCHES` decoded batches wait for the model; unusable images are
    left out of the batches and listed in :attr:`skips`.
    """

    def __init__(
        self, model: ScoringModel, uris: Sequence[str], read: Reader | None = None
    ) -> None:
        self.model = model
        self._read = read or reader_for(list(uris))
        self._ids: dict[str, str] = {}
        self.loader = ImageLoader(uris, self._reading)

    @property
    def skips(self) -> list[Skip]:
        return list(self.loader.skips.values())

    def _reading(self, uri: str) -> bytes:
        data = self._read(uri)
        self._ids[uri] = image_id(data)
        return data

    def batches(self, rows: Sequence[int] | np.ndarray) -> Iterator[Batch]:
        """Scored batches of the images at ``rows``, in order."""
        selected = tf.data.Dataset.from_tensor_slices(np.asarray(rows, dtype="int64"))
        decoded = self.loader.decode(selected, self.model.size)
        for batch_rows, pixels in decoded.batch(self.model.batch_size).prefetch(PREFETCH_BATCHES):
            done = batch_rows.numpy()
            scores, embeddings = self.model.run(pixels)
            ids = [self._ids.pop(self.loader.uris[int(r)]) for r in done]
            yield Batch(done, ids, scores, embeddings)


class Scorer:
    """Score and embed photos with a trained run, from a notebook or a service.

    Parameters
    ----------
    model_dir : path
        A finished run folder (``runs/NAME``).
    batch_size : int
        Images per compiled call.

    Examples
    --------
    >>> scorer = Scorer("runs/skyline")                      # doctest: +SKIP
    >>> scorer.score(["a.jpg", "s3://bucket/b.jpg"])         # doctest: +SKIP
    """

    def __init__(self, model_dir: str | Path, *, batch_size: int = DEFAULT_BATCH) -> None:
        self.model = load_scoring_model(model_dir, batch_size)

    @property
    def card(self) -> ModelCard:
        return self.model.card

    def score(self, items: Iterable[str | Path]) -> pd.DataFrame:
        """One row per item, in order: ``image, uri, score, skipped`` (why, for unusable ones)."""
        return self._run(items)[0]

    def embed(self, items: Iterable[str | Path]) -> np.ndarray:
        """Pooled embeddings ``(n, width)`` float32, in order; NaN rows for unusable images."""
        return self._run(items)[1]

    def score_and_embed(self, items: Iterable[str | Path]) -> tuple[pd.DataFrame, np.ndarray]:
        """Both at once, from one pass over the images."""
        return self._run(items)

    def _run(self, items: Iterable[str | Path]) -> tuple[pd.DataFrame, np.ndarray]:
        asked = [str(item) for item in items]
        uris = list(dict.fromkeys(asked))  # each image once, however often it is asked for
        stream = ImageStream(self.model, uris)
        frame = pd.DataFrame({"image": None, "uri": uris, "score": np.nan, "skipped": None})
        embeddings = np.full((len(uris), self.model.width), np.nan, dtype="float32")
        progress = bar(len(uris), desc="scoring")
        for batch in stream.batches(np.arange(len(uris))):
            frame.loc[batch.rows, "image"] = batch.ids
            frame.loc[batch.rows, "score"] = batch.scores
            embeddings[batch.rows] = batch.embeddings
            progress.update(len(batch.rows))
        progress.close()
        for row, skip in stream.loader.skips.items():
            frame.loc[row, "skipped"] = skip.reason
        position = {uri: i for i, uri in enumerate(uris)}
        rows = np.asarray([position[uri] for uri in asked], dtype=int)
        return frame.iloc[rows].reset_index(drop=True), embeddings[rows]


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
    did and return ``score`` (as :class:`Scorer` gives it) and ``embedding``. Images in one call
    share one size: resize larger batches beforehand, or call once per image.

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


def _major(version: str) -> int:
    head = version.split(".", 1)[0]
    return int(head) if head.isdigit() else -1
