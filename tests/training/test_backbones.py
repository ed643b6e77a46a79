"""The backbone registry and Xception's contract: sizes, weights, where fine-tuning starts."""

from __future__ import annotations

from pathlib import Path

import pytest

from infra.errors import BeautyError
from training.backbones import BACKBONES, get_backbone
from training.backbones.xception import XceptionBackbone


def test_registry_names_the_choices() -> None:
    assert isinstance(get_backbone("Xception"), XceptionBackbone)
    with pytest.raises(BeautyError, match=r"unknown backbone 'resnet': choose one of .*xception"):
        get_backbone("resnet")
    for name, backbone in BACKBONES.items():
        assert backbone.name == name


def test_too_small_inputs_are_refused() -> None:
    with pytest.raises(BeautyError, match="at least 71 pixels"):
        get_backbone("xception").build((70, 284, 3), "none")


def test_offline_imagenet_weights_fail_in_one_line_naming_the_fixes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import keras

    def offline(*args: object, **kwargs: object) -> str:
        raise Exception("URL fetch failure on https://storage.googleapis.com/...: None")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(BeautyError) as caught:
        get_backbone("xception").build((71, 284, 3), "imagenet")
    message = str(caught.value)
    assert "\n" not in message
    for fix in ("--weights none", "--weights PATH", "--backbone mobilenetv2"):
        assert fix in message


def test_weights_files_are_checked_and_recorded(tmp_path: Path, calibrated_weights: Path) -> None:
    backbone = get_backbone("xception")
    with pytest.raises(BeautyError, match="not found"):
        backbone.build((71, 284, 3), str(tmp_path / "missing.h5"))
    junk = tmp_path / "junk.weights.h5"
    junk.write_bytes(b"junk")
    with pytest.raises(BeautyError, match="does not hold Xception weights"):
        backbone.build((71, 284, 3), str(junk))
    assert "sha256" in backbone.weights_origin(str(calibrated_weights))
    assert "ImageNet" in backbone.weights_origin("imagenet")
    assert "random" in backbone.weights_origin("none")
