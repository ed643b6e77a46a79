"""The MobileNetV2 backbone: torchvision's network (:mod:`training.backbones.mobilenet_v2_graph`)
as a conv base, with torchvision's ImageNet weights (:mod:`training.backbones.mobilenet_v2_weights`)
and pixel normalisation. TensorFlow is imported only when a model is built.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from infra.errors import BeautyError
from training.backbones.blocks import first_layer_of_top_blocks
from training.backbones.mobilenet_v2_graph import NUM_BLOCKS, WIDTH, build_graph
from training.backbones.mobilenet_v2_weights import ORIGIN, ensure_weights

if TYPE_CHECKING:
    import keras

# torchvision's ImageNet normalisation, applied to [0, 1] pixels.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)


class MobileNetV2Backbone:
    """MobileNetV2 conv base (torchvision layout) for feature extraction and fine-tuning."""

    name: str = "mobilenetv2"
    width: int = WIDTH
    # Five stride-2 layers: 32 pixels make one cell of the last feature map.
    min_side: int = 32

    def build(self, input_shape: tuple[int, int, int], weights: str) -> keras.Model:
        """Conv base without the classifier, outputting the last ``WIDTH``-channel feature map.

        ``weights`` is "imagenet" (torchvision's, converted and cached on first use), "none"
        (random initialisation) or the path of a Keras ``.weights.h5`` file of this network.
        """
        import keras

        if min(input_shape[:2]) < self.min_side:
            raise BeautyError(
                f"input {input_shape[0]}x{input_shape[1]} is too small for {self.name}: "
                f"both sides must be at least {self.min_side} pixels"
            )
        path = None if weights == "none" else _weights_file(weights)
        inputs, features, logits = build_graph(input_shape)
        if path is not None:
            # The file holds the whole classifier; the base shares all its layers but the last.
            _load(keras.Model(inputs, logits), path)
        return keras.Model(inputs, features, name=self.name)

    def preprocess(self, images: Any) -> Any:
        """Float RGB in [0, 255] -> torchvision's input: ``(x / 255 - mean) / std`` per channel."""
        from keras import ops

        mean = np.asarray(MEAN, dtype="float32") * 255.0
        std = np.asarray(STD, dtype="float32") * 255.0
        return (ops.cast(images, "float32") - mean) / std

    def first_trainable_layer(self, base: keras.Model, top_blocks: int) -> int:
        """Index of the first layer to train when the top ``top_blocks`` blocks are fine-tuned.

        The units are the 17 inverted-residual blocks. The 1x1 head conv trains with the top
        block; 17 or more trains the whole base, stem included; 0 freezes everything.
        """
        return first_layer_of_top_blocks(base, top_blocks, NUM_BLOCKS)

    def weights_origin(self, weights: str) -> str:
        """Where the weights came from, for the model card."""
        if weights == "imagenet":
            return ORIGIN
        if weights == "none":
            return "random initialisation (no pretrained weights)"
        path = Path(weights).expanduser()
        return f"Keras weights file {path}, sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}"


def _weights_file(weights: str) -> Path:
    if weights == "imagenet":
        return ensure_weights()
    path = Path(weights).expanduser()
    if not path.is_file():
        raise BeautyError(
            f"weights file {path} not found: pass --weights imagenet, none or a .weights.h5 file"
        )
    return path


def _load(model: keras.Model, path: Path) -> None:
    try:
        model.load_weights(path)
    except (ValueError, OSError) as exc:
        # Keras' message spans many lines; its first sentence says enough.
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0].split(" Example")[0]
        raise BeautyError(
            f"{path} does not hold this MobileNetV2's weights ({first}); for ImageNet weights "
            "run `beauty weights fetch --force`"
        ) from None
