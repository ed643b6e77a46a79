"""Xception (Chollet, 2017) from Keras Applications: the prototype's backbone.

Keras names Xception's layers ``block1_`` .. ``block14_``, except the residual shortcuts
(``conv2d*``, ``batch_normalization*``, ``add*``), which carry no block name. The top blocks are
therefore found by the first layer of the lowest trainable block, never by counting layers:
everything after it, shortcuts included, trains. TensorFlow is imported only when a model is built.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from infra.errors import BeautyError
from training.backbones.blocks import first_layer_of_top_blocks

if TYPE_CHECKING:
    import keras

BLOCKS = 14
WIDTH = 2048
# Three unpadded 3x3 convolutions and four stride-2 stages: 71 pixels is the least that works.
MIN_SIDE = 71
IMAGENET_FILE = "xception_weights_tf_dim_ordering_tf_kernels_notop.h5"
IMAGENET_URL = (
    f"https://storage.googleapis.com/tensorflow/keras-applications/xception/{IMAGENET_FILE}"
)
IMAGENET_MD5 = "b0042744bf5b25fce3cb969f33bebb97"  # as published beside the file by Keras


class XceptionBackbone:
    """Xception's conv base for feature extraction and fine-tuning."""

    name: str = "xception"
    width: int = WIDTH
    min_side: int = MIN_SIDE

    def build(self, input_shape: tuple[int, int, int], weights: str) -> keras.Model:
        """Conv base without top, outputting the last 2048-channel feature map.

        ``weights`` is "imagenet" (Keras' file, downloaded once into ``~/.keras/models``), "none"
        (random initialisation) or the path of a weights file for this network.
        """
        import keras

        height, width = input_shape[:2]
        if min(height, width) < self.min_side:
            raise BeautyError(
                f"input {height}x{width} is too small for {self.name}: "
                f"both sides must be at least {self.min_side} pixels"
            )
        path = None if weights == "none" else _weights_file(weights)
        base = keras.applications.Xception(include_top=False, weights=None, input_shape=input_shape)
        if path is not None:
            try:
                base.load_weights(path)
            except (ValueError, OSError, KeyError) as exc:
                first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
                raise BeautyError(f"{path} does not hold Xception weights ({first})") from None
        return base

    def preprocess(self, images: Any) -> Any:
        """Float RGB in [0, 255] -> [-1, 1], the scaling of Xception's ImageNet weights."""
        import keras

        # On a tensor: given a NumPy array, preprocess_input would overwrite the caller's pixels.
        tensor = keras.ops.convert_to_tensor(images, dtype="float32")
        return keras.applications.xception.preprocess_input(tensor)

    def first_trainable_layer(self, base: keras.Model, top_blocks: int) -> int:
        """Index of the first layer of block ``15 - top_blocks``: ``base.layers[:i]`` stay frozen.

        0 freezes everything; 14 or more trains the whole base.
        """
        return first_layer_of_top_blocks(base, top_blocks, BLOCKS)

    def weights_origin(self, weights: str) -> str:
        """Where the weights came from, for the model card."""
        if weights == "imagenet":
            return f"ImageNet (Keras Applications {IMAGENET_FILE}, md5 {IMAGENET_MD5})"
        if weights == "none":
            return "random initialisation (no pretrained weights)"
        path = Path(weights).expanduser()
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        return f"weights file {path.resolve()}, sha256 {digest}"


def _weights_file(weights: str) -> Path:
    import keras

    if weights == "imagenet":
        try:
            return Path(
                keras.utils.get_file(
                    IMAGENET_FILE, IMAGENET_URL, cache_subdir="models", file_hash=IMAGENET_MD5
                )
            )
        except Exception as exc:  # get_file raises bare Exception on network errors
            # Keras says "URL fetch failure on <url>: <code> -- <reason>": keep the reason.
            reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            reason = reason.rsplit(" -- ", 1)[-1][:120]
            raise BeautyError(
                f"cannot download Xception's ImageNet weights ({reason}); offline, "
                "pass --weights none, --weights PATH to a copy of "
                f"{IMAGENET_FILE}, or --backbone mobilenetv2 for ImageNet features offline"
            ) from None
    path = Path(weights).expanduser()
    if not path.is_file():
        raise BeautyError(
            f"weights file {path} not found: pass --weights imagenet, none or a weights file path"
        )
    return path
