"""The network: exactly the top blocks train, BatchNorm stays in inference mode, it learns, and a
saved model predicts as the trained one."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from training.backbones import get_backbone
from training.model import Network, build_network, compile_for
from training.options import TrainOptions

from .conftest import SIZE, make_gallery

# Blocks 11-14 of Xception: 10 separable convolutions and 10 BatchNorms, plus block 13's
# shortcut (a 1x1 convolution and its BatchNorm), which carries no block name.
TRAINABLE_LAYERS = 22

pytestmark = pytest.mark.slow


def _options(weights: Path, **extra: object) -> TrainOptions:
    return TrainOptions(
        weights=str(weights), input_height=SIZE[0], input_width=SIZE[1], batch_size=4, **extra
    )


@pytest.fixture(scope="module")
def photos(tmp_path_factory: pytest.TempPathFactory) -> tuple[np.ndarray, np.ndarray]:
    """Twelve photos and their standardised brightness."""
    frame = make_gallery(tmp_path_factory.mktemp("photos"), 12)
    pixels = np.stack([np.asarray(Image.open(u), dtype="float32") for u in frame["uri"]])
    score = frame["score"].to_numpy()
    return pixels, ((score - score.mean()) / score.std()).astype("float32")[:, None]


@pytest.fixture(scope="module")
def network(calibrated_weights: Path) -> Callable[..., Network]:
    def make(**extra: object) -> Network:
        return build_network(get_backbone("xception"), _options(calibrated_weights, **extra))

    return make


def test_exactly_the_top_four_blocks_train(network: Callable[..., Network]) -> None:
    net = network()
    layers = net.base.layers
    assert layers[net.first_trainable].name.startswith("block11_")
    index = {layer.name: i for i, layer in enumerate(layers)}
    trainable = [layer.name for layer in layers if layer.weights and layer.trainable]
    frozen = [layer.name for layer in layers if layer.weights and not layer.trainable]
    assert len(trainable) == TRAINABLE_LAYERS
    shortcuts = [name for name in trainable if not re.match(r"block1[1-4]_", name)]
    assert len(shortcuts) == 2  # block 13's shortcut: not frozen by a name-prefix rule
    assert all(index[name] > net.first_trainable for name in shortcuts)
    assert all(index[name] < net.first_trainable for name in frozen)
    assert all(not re.match(r"block1[1-4]_", name) for name in frozen)
    # 20 separable-conv kernels, 11 BatchNorm scales and offsets, 1 shortcut kernel, the head.
    assert len(net.image_trainer.trainable_weights) == 20 + 22 + 1 + 2
    assert len(net.head_trainer.trainable_weights) == 2


def test_a_training_step_moves_only_trainable_weights_and_no_batchnorm_statistics(
    network: Callable[..., Network], photos: tuple[np.ndarray, np.ndarray]
) -> None:
    net = network(optimizer="rmsprop")
    model = net.image_trainer
    compile_for(model, _options(Path("none"), optimizer="rmsprop"), 1e-3)
    watch = {
        "frozen_bn": net.base.get_layer("block10_sepconv3_bn"),
        "frozen_conv": net.base.get_layer("block10_sepconv3"),
        "top_bn": net.base.get_layer("block12_sepconv3_bn"),
        "top_conv": net.base.get_layer("block12_sepconv3"),
    }
    before = {k: [w.numpy().copy() for w in layer.weights] for k, layer in watch.items()}
    pixels, y = photos
    model.fit(pixels[:8], y[:8], batch_size=4, epochs=1, verbose=0)
    after = {k: [w.numpy() for w in layer.weights] for k, layer in watch.items()}

    def moved(key: str) -> list[bool]:
        return [not np.array_equal(a, b) for a, b in zip(before[key], after[key], strict=True)]

    assert not any(moved("frozen_bn")) and not any(moved("frozen_conv"))
    # gamma, beta train; moving mean and variance stay (inference mode even while training).
    assert moved("top_bn") == [True, True, False, False]
    assert all(moved("top_conv"))


def test_a_few_steps_lower_the_loss_on_brightness(
    network: Callable[..., Network], photos: tuple[np.ndarray, np.ndarray]
) -> None:
    import keras

    keras.utils.set_random_seed(1)  # the head's initial weights: one fixed draw
    net = network(dropout=0.0)
    trunk, top_trainer, _ = net.split()
    pixels, y = photos
    cached = trunk(pixels).numpy()
    compile_for(top_trainer, _options(Path("none")), 1e-3)
    start = top_trainer.evaluate(cached, y, verbose=0)
    top_trainer.fit(cached, y, batch_size=4, epochs=6, shuffle=False, verbose=0)
    assert top_trainer.evaluate(cached, y, verbose=0) < 0.8 * start


def test_a_saved_model_reloads_and_predicts_the_same(
    network: Callable[..., Network], photos: tuple[np.ndarray, np.ndarray], tmp_path: Path
) -> None:
    import keras

    from training.predict import load_run, output_scores

    net = network()
    path = tmp_path / "model.keras"
    net.inference.save(path)
    reloaded = keras.saving.load_model(path, compile=False)
    pixels, _ = photos
    expected = net.inference(pixels[:4], training=False).numpy()
    np.testing.assert_allclose(reloaded(pixels[:4], training=False).numpy(), expected, atol=1e-5)
    assert output_scores(expected).shape == (4,)
    assert callable(load_run)
