"""The two layers the beauty networks add to Keras' own.

Imported only when a model is built or loaded: importing it registers :class:`Preprocess`, which
saved models contain.
"""

from __future__ import annotations

from typing import Any

import keras

from training.backbones import get_backbone


@keras.saving.register_keras_serializable(package="beauty_crowd")
class Preprocess(keras.layers.Layer):
    """Float RGB in [0, 255] -> what the backbone's weights expect, inside the model.

    Saved models thus take plain pixels, whatever their backbone.
    """

    def __init__(self, backbone: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.backbone = backbone
        self._preprocess = get_backbone(backbone).preprocess

    def call(self, images: Any) -> Any:
        return self._preprocess(images)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "backbone": self.backbone}


class InferenceMode(keras.layers.Layer):
    """Runs a model with ``training=False`` even while the outer model trains.

    Keras 3 overrides a nested model's recorded ``training=False`` with the outer call's value,
    so BatchNormalization in a fine-tuned base would use batch statistics and drift. Fine-tuning
    pretrained weights on a small set works best with every BatchNormalization in inference mode
    (their scale and offset still train). Used in training graphs only: saved models call the
    base directly, which is the same at inference.
    """

    def __init__(self, model: keras.Model, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.model = model

    def call(self, inputs: Any) -> Any:
        return self.model(inputs, training=False)

    def compute_output_spec(self, inputs: Any) -> Any:
        return self.model.compute_output_spec(inputs)
