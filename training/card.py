"""The model card: a JSON file beside every trained model saying what it is and how it did.

DESIGN.md fixes its content: input size, backbone and weights origin, score normalisation,
training data (scores table hash, image count), split, metrics and versions.
:func:`output_to_score` turns the network's outputs into scores as the card describes.
"""

from __future__ import annotations

import platform
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, ValidationError

from infra.errors import BeautyError

CARD_NAME = "model_card.json"


class Section(BaseModel):
    # Metrics can be NaN (no bootstrap, a constant prediction): keep them readable both ways.
    model_config = ConfigDict(extra="forbid", ser_json_inf_nan="constants")


class InputSpec(Section):
    height: int
    width: int
    channels: int = 3
    pixels: str = "RGB, float 0..255 (the model scales them for its backbone)"


class BackboneSpec(Section):
    name: str
    weights: str
    weights_origin: str
    top_blocks: int
    first_trainable_layer: str | None


class HeadSpec(Section):
    kind: str  # "regression" or "classifier"
    layers: list[str]
    classify_tier: int | None = None
    loss: str
    optimizer: dict[str, Any]


class Normalisation(Section):
    """``score = output * std + mean`` (regression); ``top_line``: the top-5% cut, in outputs
    (:func:`output_to_score` turns it into the crowd's scale, where evaluation draws it)."""

    mean: float
    std: float
    top_line: float


class TrainingData(Section):
    scores_table: str
    scores_sha256: str
    images: int
    skipped: list[dict[str, str]]
    derived_left_out: int
    tiers_from_percentiles: bool
    weighted_by_se: bool


class SplitSpec(Section):
    seed: int
    fractions: dict[str, float]
    grouped_by: str
    counts: dict[str, int]
    days: int
    file: str = "split.csv"


class ModelCard(Section):
    format: int = 1
    name: str
    created_at: str
    model_file: str = "model.keras"
    input: InputSpec
    backbone: BackboneSpec
    head: HeadSpec
    score_normalisation: Normalisation
    training_data: TrainingData
    split: SplitSpec
    options: dict[str, Any]
    phases: dict[str, Any]
    selection: dict[str, Any] | None = None  # probe or fine-tuned, and why
    cross_validation: dict[str, Any] | None = None  # out-of-fold figures, when cross-validated
    metrics: dict[str, dict[str, float]]
    versions: dict[str, str]

    def write(self, folder: Path) -> Path:
        path = folder / CARD_NAME
        path.write_text(self.model_dump_json(indent=1) + "\n", encoding="utf-8")
        return path


def read_card(folder: Path) -> ModelCard:
    """The card of the run in ``folder``.

    Raises
    ------
    BeautyError
        When the folder holds no finished run or the card is not readable.
    """
    path = folder / CARD_NAME
    if not path.is_file():
        raise BeautyError(f"{folder} holds no finished run (no {CARD_NAME}); train one first")
    try:
        return ModelCard.model_validate_json(path.read_text(encoding="utf-8"))
    except ValidationError as exc:
        raise BeautyError(f"{path}: not a model card ({exc.errors()[0]['msg']})") from None


def output_to_score(card: ModelCard, outputs: np.ndarray) -> np.ndarray:
    """The network's per-image output -> its score: ``output * std + mean`` for a regression
    head (the crowd's scale), unchanged (P(top tier)) for a classifier."""
    values = np.asarray(outputs, dtype=float)
    if card.head.kind == "regression":
        norm = card.score_normalisation
        return values * norm.std + norm.mean
    return values


def versions() -> dict[str, str]:
    """Versions of what made the model: Python, TensorFlow, Keras, NumPy, beauty-crowd."""
    import keras
    import numpy
    import tensorflow

    try:
        ours = metadata.version("beauty-crowd")
    except metadata.PackageNotFoundError:
        ours = "unknown (not installed)"
    return {
        "python": platform.python_version(),
        "tensorflow": tensorflow.__version__,
        "keras": keras.__version__,
        "numpy": numpy.__version__,
        "beauty_crowd": ours,
    }
