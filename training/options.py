"""Training options: one validated record, defaults from the workspace's ``[training]`` settings."""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from infra.errors import BeautyError
from infra.settings import TrainingSettings

SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")
SMALL_TABLE = 300  # fewer images than this: cross-validate by default
DEFAULT_FOLDS = 5
STRETCH_LIMIT = 1.5  # resizing that changes a photo's aspect ratio more than this is refused


class TrainOptions(BaseModel):
    """Everything that shapes a training run; recorded in the run folder and the model card."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backbone: str = "xception"
    weights: str = Field("imagenet", description='"imagenet", "none" or a weights file path')
    input_height: int = Field(150, ge=1)
    input_width: int = Field(1152, ge=1)
    batch_size: int = Field(8, ge=1, description="global batch, split across replicas")
    epochs: int = Field(20, ge=0, description="phase 2: fine-tuning the top blocks")
    head_epochs: int = Field(20, ge=0, description="phase 1: the head on pooled features")
    learning_rate: float = Field(1e-4, gt=0, description="phase 2")
    head_learning_rate: float = Field(1e-3, gt=0, description="phase 1")
    optimizer: Literal["sgd", "rmsprop"] = "sgd"
    dropout: float = Field(0.6, ge=0, lt=1)
    top_blocks: int = Field(4, ge=0, description="blocks fine-tuned in phase 2")
    classify_tier: int | None = Field(
        None, ge=1, description="train the 2-class classifier: positive = tier >= this"
    )
    weight_by_se: bool = Field(False, description="down-weight images with uncertain scores")
    cache: bool = Field(True, description="cache the frozen trunk's output on disk")
    cache_dtype: Literal["float16", "float32"] = "float16"
    augment: bool = Field(True, description="flips (and small crops without the cache)")
    patience: int = Field(3, ge=1, description="epochs without a better validation loss")
    seed: int = 0
    strategy: Literal["default", "mirrored", "multiworker"] = "default"
    bootstrap: int = Field(1000, ge=0, description="resamples for the metrics' intervals")
    folds: int | None = Field(
        None,
        ge=0,
        description="K-fold cross-validation before the final model; 0: one split; "
        f"default: folds ({DEFAULT_FOLDS}) below {SMALL_TABLE} images, else one split",
    )
    val_share: float = Field(0.16, gt=0, lt=1, description="validation share of the images")
    test_share: float = Field(0.20, gt=0, lt=1, description="test share (one split only)")

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return (self.input_height, self.input_width, 3)

    def folds_for(self, images: int) -> int:
        """Folds to cross-validate with (0: one train/validation/test split)."""
        if self.folds is not None:
            return 0 if self.folds < 2 else self.folds
        return DEFAULT_FOLDS if images < SMALL_TABLE else 0

    @property
    def input_size(self) -> str:
        return f"{self.input_height}x{self.input_width}"


def make_options(settings: TrainingSettings, overrides: dict[str, Any]) -> TrainOptions:
    """Options from workspace settings, then ``overrides`` (None means "keep the default").

    Raises
    ------
    BeautyError
        On an unknown option or an invalid value, naming it.
    """
    values: dict[str, Any] = {
        "backbone": settings.backbone,
        "weights": settings.weights,
        "input_height": settings.input_height,
        "input_width": settings.input_width,
        "batch_size": settings.batch_size,
        "epochs": settings.epochs,
    }
    if "input_size" in overrides:
        size = overrides.pop("input_size")
        if size is not None:
            values["input_height"], values["input_width"] = parse_size(size)
    values.update({k: v for k, v in overrides.items() if v is not None})
    try:
        return TrainOptions.model_validate(values)
    except ValidationError as exc:
        err = exc.errors()[0]
        key = ".".join(str(p) for p in err["loc"])
        if err["type"] == "extra_forbidden":
            known = ", ".join(sorted(TrainOptions.model_fields))
            raise BeautyError(f"unknown training option {key!r}; known: {known}") from None
        raise BeautyError(f"training option {key}: {err['msg']}") from None


def parse_size(text: str | tuple[int, int]) -> tuple[int, int]:
    """``"150x1152"`` (height x width) -> ``(150, 1152)``."""
    if isinstance(text, tuple):
        return text
    match = SIZE.match(text)
    if not match:
        raise BeautyError(f"input size {text!r}: write it as HEIGHTxWIDTH, e.g. 150x1152")
    return int(match.group(1)), int(match.group(2))


def check_name(name: str) -> str:
    """A run name usable as a folder name."""
    if not NAME.match(name):
        raise BeautyError(
            f"run name {name!r}: use letters, digits, '.', '_' or '-' (at most 100 characters)"
        )
    return name
