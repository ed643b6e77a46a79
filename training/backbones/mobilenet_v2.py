"""MobileNetV2 laid out exactly as torchvision's, in Keras, so torchvision's ImageNet weights fit.

Layers are named after their block: ``stem_*`` (torchvision ``features.0``), ``block{i}_*`` for the
17 inverted-residual blocks (``features.{i}``), ``head_*`` (``features.18``) and ``classifier``
(``classifier.1``). :func:`torch_names` maps every weighted layer to its torchvision module.
TensorFlow is imported only when a model is built.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from infra.errors import BeautyError
from training.backbones.blocks import first_layer_of_top_blocks

if TYPE_CHECKING:
    import keras

# torchvision's table: expansion factor, output channels, repeats, stride of the first repeat.
_SETTINGS = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_CHANNELS = 32
WIDTH = 1280
NUM_BLOCKS = sum(n for _, _, n, _ in _SETTINGS)  # 17 inverted-residual blocks
CLASSES = 1000
# torchvision's ImageNet normalisation, applied to [0, 1] pixels.
MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)
# torch's BatchNorm defaults; torch's momentum weighs the new batch, Keras' the running value.
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9
DROPOUT = 0.2


@dataclass(frozen=True)
class Block:
    """Inverted-residual block: 1x1 expand (unless ``expand`` is 1), 3x3 depthwise, 1x1 project."""

    index: int
    inp: int
    out: int
    stride: int
    expand: int

    @property
    def hidden(self) -> int:
        return self.inp * self.expand

    @property
    def residual(self) -> bool:
        return self.stride == 1 and self.inp == self.out


def blocks() -> Iterator[Block]:
    """The 17 inverted-residual blocks, numbered 1..17 as torchvision's ``features`` indices."""
    inp, index = STEM_CHANNELS, 1
    for expand, out, repeats, stride in _SETTINGS:
        for r in range(repeats):
            yield Block(index, inp, out, stride if r == 0 else 1, expand)
            inp, index = out, index + 1


def torch_names() -> dict[str, str]:
    """Keras layer name -> torchvision module name, for every layer that holds weights."""
    names = {"stem_conv": "features.0.0", "stem_bn": "features.0.1"}
    for b in blocks():
        mod, key, i = f"features.{b.index}.conv", f"block{b.index}", 0
        if b.expand != 1:
            names |= {f"{key}_expand_conv": f"{mod}.0.0", f"{key}_expand_bn": f"{mod}.0.1"}
            i = 1
        names |= {f"{key}_dw_conv": f"{mod}.{i}.0", f"{key}_dw_bn": f"{mod}.{i}.1"}
        names |= {f"{key}_project_conv": f"{mod}.{i + 1}", f"{key}_project_bn": f"{mod}.{i + 2}"}
    head = f"features.{NUM_BLOCKS + 1}"
    return names | {"head_conv": f"{head}.0", "head_bn": f"{head}.1", "classifier": "classifier.1"}


def _conv_bn(
    x: Any,
    filters: int,
    kernel: int,
    stride: int,
    name: str,
    *,
    depthwise: bool = False,
    relu: bool = True,
) -> Any:
    from keras import layers

    if kernel == 3:
        # torchvision pads 3x3 convs by 1 on every side, stride 2 included; Keras' "same" would
        # pad only bottom/right for even sizes and shift every feature map by half a pixel.
        x = layers.ZeroPadding2D(1, name=f"{name}_pad")(x)
    if depthwise:
        conv = layers.DepthwiseConv2D(kernel, stride, use_bias=False, name=f"{name}_conv")
    else:
        conv = layers.Conv2D(filters, kernel, stride, use_bias=False, name=f"{name}_conv")
    x = conv(x)
    x = layers.BatchNormalization(epsilon=BN_EPSILON, momentum=BN_MOMENTUM, name=f"{name}_bn")(x)
    return layers.ReLU(6.0, name=f"{name}_relu")(x) if relu else x


def _graph(input_shape: tuple[int, int, int]) -> tuple[Any, Any, Any]:
    """Input, last feature map (``WIDTH`` channels) and ImageNet logits."""
    import keras
    from keras import layers

    inputs = keras.Input(shape=input_shape, name="image")
    x = _conv_bn(inputs, STEM_CHANNELS, 3, 2, "stem")
    for b in blocks():
        y, key = x, f"block{b.index}"
        if b.expand != 1:
            y = _conv_bn(y, b.hidden, 1, 1, f"{key}_expand")
        y = _conv_bn(y, b.hidden, 3, b.stride, f"{key}_dw", depthwise=True)
        y = _conv_bn(y, b.out, 1, 1, f"{key}_project", relu=False)
        x = layers.Add(name=f"{key}_add")([x, y]) if b.residual else y
    features = _conv_bn(x, WIDTH, 1, 1, "head")
    pooled = layers.GlobalAveragePooling2D(name="pool")(features)
    logits = layers.Dense(CLASSES, name="classifier")(
        layers.Dropout(DROPOUT, name="dropout")(pooled)
    )
    return inputs, features, logits


def classifier_model(input_shape: tuple[int, int, int] = (224, 224, 3)) -> keras.Model:
    """The whole ImageNet classifier (outputs logits), as torchvision's ``mobilenet_v2``."""
    import keras

    inputs, _, logits = _graph(input_shape)
    return keras.Model(inputs, logits, name="mobilenetv2_imagenet")


def load_torch_state(model: keras.Model, state: Mapping[str, np.ndarray]) -> None:
    """Copy a torchvision ``state_dict`` (numpy arrays) into a :func:`classifier_model`.

    Raises ``ValueError`` when a tensor is missing, unused or of the wrong shape.
    """
    from keras import layers

    names, used = torch_names(), set()
    for layer in model.layers:
        if layer.name not in names:
            continue
        mod = names[layer.name]
        # Keras' BatchNormalization holds gamma, beta, moving mean and variance: torch's order.
        params: tuple[str, ...] = ("weight", "bias", "running_mean", "running_var")
        if not isinstance(layer, layers.BatchNormalization):
            params = params[:2] if isinstance(layer, layers.Dense) else params[:1]
        keys = [f"{mod}.{p}" for p in params]
        missing = [k for k in keys if k not in state]
        if missing:
            raise ValueError(f"torch state has no {', '.join(missing)}")
        values = [state[k] for k in keys]
        if isinstance(layer, layers.DepthwiseConv2D):
            values = [values[0].transpose(2, 3, 0, 1)]  # (C, 1, kh, kw) -> (kh, kw, C, 1)
        elif isinstance(layer, layers.Conv2D):
            values = [values[0].transpose(2, 3, 1, 0)]  # OIHW -> HWIO
        elif isinstance(layer, layers.Dense):
            values = [values[0].T, values[1]]  # (out, in) -> (in, out)
        layer.set_weights(values)
        used.update(keys)
    # torch counts batches for its cumulative-average mode, which MobileNetV2 does not use.
    unused = {k for k in state if not k.endswith("num_batches_tracked")} - used
    if unused:
        raise ValueError(f"torch state has {len(unused)} tensors with no layer, e.g. {min(unused)}")


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
        inputs, features, logits = _graph(input_shape)
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
        from training import weights as cache

        if weights == "imagenet":
            return cache.ORIGIN
        if weights == "none":
            return "random initialisation (no pretrained weights)"
        path = Path(weights).expanduser()
        return f"Keras weights file {path}, sha256 {hashlib.sha256(path.read_bytes()).hexdigest()}"


def _weights_file(weights: str) -> Path:
    from training import weights as cache

    if weights == "imagenet":
        return cache.ensure_weights()
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
