"""The beauty network: backbone base, global average pooling, dropout, one dense output.

The head is the prototype's best: ``GlobalAveragePooling2D -> Dropout(0.6) -> Dense(1, linear)``.
The write-up's "fully connected layer reducing down to a single neuron" is that one Dense layer:
no hidden layer, which keeps the head a linear read-out of the pooled 2048 features (a few
thousand labelled images do not support a wide hidden layer). The classifier variant ends in
``Dense(2, softmax)``, the prototype's classifier.

All models here share one set of layers, so training any of them trains the saved one:

- ``inference``: pixels -> output, what is saved (``model.keras``);
- ``image_trainer``: the same with the base in inference mode, for end-to-end fitting;
- ``head_trainer``: pooled features -> output (phase 1);
- ``trunk``: pixels -> input of the first trainable layer (frozen: computed once, cached);
- ``top_trainer``: that cached tensor -> output, through the trainable top (phase 2).
"""

from __future__ import annotations

from dataclasses import dataclass

import keras

from infra.errors import BeautyError
from training.backbones import Backbone
from training.layers import InferenceMode, Preprocess
from training.options import TrainOptions

MOMENTUM = 0.9
CLIP_VALUE = 0.5


@dataclass
class Network:
    """One network and its views, sharing weights."""

    backbone: Backbone
    base: keras.Model
    first_trainable: int  # base.layers[:first_trainable] are frozen
    inference: keras.Model
    image_trainer: keras.Model
    head_trainer: keras.Model
    pooled: keras.Model  # pixels -> pooled features, base in inference mode
    preprocess: keras.layers.Layer
    pool: keras.layers.Layer
    dropout: keras.layers.Layer
    output: keras.layers.Layer

    @property
    def first_trainable_name(self) -> str | None:
        layers = self.base.layers
        return layers[self.first_trainable].name if self.first_trainable < len(layers) else None

    def split(self) -> tuple[keras.Model, keras.Model, keras.Model]:
        """``(trunk, top_trainer, top_pooled)`` cut at the input of the first trainable layer.

        Raises
        ------
        BeautyError
            When a connection skips over the cut, so the top cannot run from one tensor.
        """
        if self.first_trainable < 2:
            raise BeautyError("nothing is frozen: there is no trunk to cache; use --no-cache")
        cut = self.base.layers[self.first_trainable].input
        if isinstance(cut, list | tuple):
            raise BeautyError(
                f"{self.first_trainable_name} takes several inputs: the trunk cannot be cached "
                "there; use --no-cache or another --top-blocks"
            )
        pixels = keras.Input(tuple(self.base.input.shape[1:]), name="pixels")
        below = keras.Model(self.base.input, cut, name="below_cut")
        trunk = keras.Model(pixels, below(self.preprocess(pixels)), name="trunk")
        try:
            top = keras.Model(cut, self.base.output, name="top")
        except ValueError as exc:  # an edge from below the cut reaches past it
            raise BeautyError(
                f"the {self.backbone.name} base cannot be cut at {self.first_trainable_name} "
                f"({str(exc).splitlines()[0][:120]}); use --no-cache"
            ) from None
        features = keras.Input(tuple(cut.shape[1:]), name="trunk_output")
        pooled = self.pool(InferenceMode(top, name="top_frozen_bn")(features))
        return (
            trunk,
            keras.Model(features, self.output(self.dropout(pooled)), name="top_trainer"),
            keras.Model(features, pooled, name="top_pooled"),
        )


def build_network(backbone: Backbone, options: TrainOptions) -> Network:
    """Build the base with its weights, freeze all but the top blocks, attach the head."""
    base = backbone.build(options.input_shape, options.weights)
    first = backbone.first_trainable_layer(base, options.top_blocks)
    for i, layer in enumerate(base.layers):
        layer.trainable = i >= first
    pool = keras.layers.GlobalAveragePooling2D(name="pool")
    dropout = keras.layers.Dropout(options.dropout, seed=options.seed, name="dropout")
    if options.classify_tier is not None:
        output = keras.layers.Dense(2, activation="softmax", name="output")
    else:
        output = keras.layers.Dense(1, name="output")

    pixels = keras.Input(options.input_shape, name="pixels")
    preprocess = Preprocess(backbone.name, name="preprocess")
    scaled = preprocess(pixels)
    inference = keras.Model(pixels, output(dropout(pool(base(scaled)))), name="beauty")

    frozen_bn = InferenceMode(base, name="base_frozen_bn")
    pooled = pool(frozen_bn(scaled))
    image_trainer = keras.Model(pixels, output(dropout(pooled)), name="image_trainer")

    features = keras.Input((backbone.width,), name="pooled")
    head_trainer = keras.Model(features, output(dropout(features)), name="head_trainer")
    return Network(
        backbone=backbone,
        base=base,
        first_trainable=first,
        inference=inference,
        image_trainer=image_trainer,
        head_trainer=head_trainer,
        pooled=keras.Model(pixels, pooled, name="pooled"),
        preprocess=preprocess,
        pool=pool,
        dropout=dropout,
        output=output,
    )


def compile_for(model: keras.Model, options: TrainOptions, learning_rate: float) -> None:
    """SGD (momentum 0.9) or RMSprop, gradients clipped at 0.5; MSE or cross-entropy."""
    optimizer: keras.optimizers.Optimizer
    if options.optimizer == "sgd":
        optimizer = keras.optimizers.SGD(learning_rate, momentum=MOMENTUM, clipvalue=CLIP_VALUE)
    else:
        optimizer = keras.optimizers.RMSprop(learning_rate, clipvalue=CLIP_VALUE)
    loss = "categorical_crossentropy" if options.classify_tier is not None else "mse"
    model.compile(optimizer=optimizer, loss=loss)
