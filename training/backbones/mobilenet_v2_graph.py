"""MobileNetV2 laid out exactly as torchvision's, in Keras, so torchvision's ImageNet weights fit.

Layers are named after their block: ``stem_*`` (torchvision ``features.0``), ``block{i}_*`` for the
17 inverted-residual blocks (``features.{i}``), ``head_*`` (``features.18``) and ``classifier``
(``classifier.1``). :func:`torch_names` maps every weighted layer to its torchvision module, and
:func:`load_torch_state` copies a torchvision ``state_dict`` in. TensorFlow is imported only when
a model is built.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

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


def build_graph(input_shape: tuple[int, int, int]) -> tuple[Any, Any, Any]:
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

    inputs, _, logits = build_graph(input_shape)
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
