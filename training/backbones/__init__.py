"""Backbones: the convolutional bases a beauty model is built on, behind one interface.

A backbone builds its conv base (no classifier top), says how pixels must be scaled for its
weights, where its top blocks start, and where its weights came from. Adding one is a class that
follows :class:`Backbone` and one line in :data:`BACKBONES`. Nothing here imports TensorFlow.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol

from infra.errors import BeautyError
from training.backbones.mobilenet_v2 import MobileNetV2Backbone
from training.backbones.xception import XceptionBackbone

if TYPE_CHECKING:
    import keras


class Backbone(Protocol):
    """A conv base for transfer learning."""

    name: str
    width: int  # channels of the pooled embedding
    min_side: int  # smallest input side the network accepts

    def build(self, input_shape: tuple[int, int, int], weights: str) -> keras.Model:
        """The conv base without top; ``weights`` is "imagenet", "none" or a file path."""
        ...

    def preprocess(self, images: Any) -> Any:
        """Float RGB in [0, 255] -> what the weights expect."""
        ...

    def first_trainable_layer(self, base: keras.Model, top_blocks: int) -> int:
        """Index ``i`` such that ``base.layers[:i]`` stay frozen to fine-tune the top blocks."""
        ...

    def weights_origin(self, weights: str) -> str:
        """Where the weights came from, in words, for the model card."""
        ...


BACKBONES: dict[str, Backbone] = {
    "xception": XceptionBackbone(),
    "mobilenetv2": MobileNetV2Backbone(),
}


def get_backbone(name: str) -> Backbone:
    """The backbone called ``name``.

    Raises
    ------
    BeautyError
        When no backbone has that name; the message lists the choices.
    """
    try:
        return BACKBONES[name.lower()]
    except KeyError:
        choices = ", ".join(sorted(BACKBONES))
        raise BeautyError(f"unknown backbone {name!r}: choose one of {choices}") from None
