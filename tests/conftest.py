"""Shared fixtures: small images of every kind a gallery may hold, and fresh workspaces."""

from __future__ import annotations

import io
import os
import shutil
import struct
import zlib
from pathlib import Path
from typing import NoReturn

import numpy as np
import pytest
from PIL import Image

from infra.workspace import Workspace

if os.environ.get("PYTEST_XDIST_WORKER"):
    # One pytest worker a core already fills the machine; TensorFlow's own thread pool on top
    # only makes the workers take turns (a process gains ~25% from a second core here).
    # Subprocesses the tests start inherit it.
    os.environ.setdefault("TF_NUM_INTRAOP_THREADS", "1")
    os.environ.setdefault("OMP_NUM_THREADS", "1")


def jpeg_bytes(
    seed: int, size: tuple[int, int] = (64, 16), exif: Image.Exif | None = None
) -> bytes:
    """A small, distinct JPEG (width x height = size)."""
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, "JPEG", quality=90, exif=exif or Image.Exif())
    return buf.getvalue()


def png_bomb_header(width: int = 20000, height: int = 20000) -> bytes:
    """A PNG whose header claims a huge size: a decompression bomb that decodes nothing."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"") + chunk(b"IEND", b"")


@pytest.fixture
def messy_gallery(tmp_path: Path) -> Path:
    """A folder with good images and every kind of bad file, in nested folders."""
    root = tmp_path / "gallery"
    (root / "day2").mkdir(parents=True)
    (root / "a.jpg").write_bytes(jpeg_bytes(1))
    (root / "day2" / "2016-07-14_1930.jpg").write_bytes(jpeg_bytes(2))
    (root / "copy-of-a.jpg").write_bytes(jpeg_bytes(1))  # same bytes as a.jpg
    good = jpeg_bytes(3)
    (root / "truncated.jpg").write_bytes(good[: len(good) // 2])
    (root / "notes.jpg").write_text("this is not an image")
    rgba = Image.new("RGBA", (40, 20), (200, 10, 10, 128))
    rgba.save(root / "alpha.png")
    exif = Image.Exif()
    exif[274] = 6  # rotated 90 degrees clockwise
    (root / "rotated.jpg").write_bytes(jpeg_bytes(4, size=(64, 16), exif=exif))
    (root / "bomb.png").write_bytes(png_bomb_header())
    return root


@pytest.fixture
def ws(tmp_path: Path) -> Workspace:
    return Workspace.init(tmp_path / "ws")


def unavailable(message: str) -> NoReturn:
    """Skip a test whose outside requirement is missing here, but fail it in CI, where the
    Makefile installs everything (a skip there would hide a broken install step)."""
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    pytest.skip(message)


def browser_paths() -> tuple[str, str]:
    """Debian's chromium and its driver (installed by `make browser`)."""
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not (chromium and driver):
        unavailable("chromium and chromedriver are not installed: run `make browser`")
    return str(chromium), str(driver)
