"""The trunk cache: the top run from cached trunk outputs is the network itself, and fine-tuning
on the cache trains exactly as end-to-end fine-tuning on the same batches."""

from __future__ import annotations

from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

from training.backbones import get_backbone
from training.cache import build_trunk_cache, compiled, pooled_from_cache
from training.feeds import array_feed, image_feed
from training.images import ImageLoader
from training.model import Network, build_network, compile_for
from training.options import TrainOptions

from .conftest import SIZE, make_gallery

pytestmark = pytest.mark.slow


def _read(uri: str) -> bytes:
    return Path(uri).read_bytes()


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory, calibrated_weights: Path
) -> tuple[Network, TrainOptions, ImageLoader, np.ndarray]:
    frame = make_gallery(tmp_path_factory.mktemp("gallery"), 8)
    options = TrainOptions(
        weights=str(calibrated_weights), input_height=SIZE[0], input_width=SIZE[1], batch_size=4
    )
    net = build_network(get_backbone("xception"), options)
    score = frame["score"].to_numpy()
    y = ((score - score.mean()) / score.std()).astype("float32")[:, None]
    return net, options, ImageLoader(frame["uri"].tolist(), _read), y


def test_the_cache_holds_both_orientations_and_the_top_completes_the_network(
    setup: tuple[Network, TrainOptions, ImageLoader, np.ndarray], tmp_path: Path
) -> None:
    net, _, loader, _ = setup
    trunk, _, top_pooled = net.split()
    cache = build_trunk_cache(
        trunk, loader, SIZE, tmp_path / "trunk.npy", key={"k": 1}, flips=True, dtype="float32"
    )
    assert cache.array.shape[:2] == (8, 2) and cache.array.dtype == np.float32
    pixels = np.stack([np.asarray(Image.open(u), dtype="float32") for u in loader.uris[:2]])
    # Decoding and resizing to the same size is lossless here, so outputs match closely.
    np.testing.assert_allclose(cache.array[:2, 0], trunk(pixels).numpy(), atol=1e-3)
    np.testing.assert_allclose(cache.array[:2, 1], trunk(pixels[:, :, ::-1]).numpy(), atol=1e-3)
    pooled = pooled_from_cache(compiled(top_pooled), cache, np.arange(2))
    np.testing.assert_allclose(pooled[:, 0], net.pooled(pixels).numpy(), atol=1e-4)

    def fail(row: int) -> np.ndarray:
        raise AssertionError("a finished cache with the same key is reused, not recomputed")

    again = ImageLoader(loader.uris, _read)
    again.load = fail  # type: ignore[method-assign]
    reused = build_trunk_cache(
        trunk, again, SIZE, tmp_path / "trunk.npy", key={"k": 1}, flips=True, dtype="float32"
    )
    assert np.array_equal(reused.array, cache.array)


@pytest.mark.filterwarnings("ignore:Your input ran out of data")
def test_cached_fine_tuning_equals_end_to_end_fine_tuning(
    setup: tuple[Network, TrainOptions, ImageLoader, np.ndarray], tmp_path: Path
) -> None:
    net, options, loader, y = setup
    rows, w = np.arange(8), np.ones(8, "float32")
    trunk, top_trainer, _ = net.split()
    cache = build_trunk_cache(trunk, loader, SIZE, tmp_path / "t.npy", key={}, flips=False,
                              dtype="float32")  # fmt: skip
    # Same start: weights, and the dropout layer's random stream (shared by both models).
    start = [v.numpy() for v in net.image_trainer.variables]
    kernel = net.base.get_layer("block12_sepconv3").pointwise_kernel
    before = kernel.numpy()

    def run(model: keras.Model, feed: tf.data.Dataset) -> tuple[list[float], np.ndarray]:
        for variable, value in zip(net.image_trainer.variables, start, strict=True):
            variable.assign(value)
        compile_for(model, options, 1e-3)
        history = model.fit(feed, epochs=2, shuffle=False, verbose=0)
        return history.history["loss"], kernel.numpy()

    naive = run(net.image_trainer, image_feed(loader, rows, y, w, SIZE, 4, shuffle=True))
    cached = run(top_trainer, array_feed(cache.array, rows, y, w, 4, shuffle=True))
    np.testing.assert_allclose(cached[0], naive[0], rtol=0, atol=1e-3)  # the bench criterion
    # The top block trained, and both runs moved it the same way (up to float rounding).
    step = np.linalg.norm(naive[1] - before)
    assert step > 0
    assert np.linalg.norm(cached[1] - naive[1]) < 0.01 * step
