"""Camera faults: a dead frame, blown exposure, lost focus, a smeared lens."""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

FAULTS = ("none", "dead", "overexposed", "blur", "smear")


def exposure_boost(fault: str, rng: np.random.Generator) -> float:
    """Extra exposure: a metering failure overexposes by two to three stops."""
    return float(rng.uniform(4.0, 9.0)) if fault == "overexposed" else 1.0


def dead_frame(size: tuple[int, int], rng: np.random.Generator) -> Image.Image:
    """A black frame with the sensor's faint read noise and a few hot pixels."""
    width, height = size
    noise = np.abs(rng.normal(0.0, 1.6, size=(height, width))).astype(np.float32)
    hot = rng.random((height, width)) < 0.00003
    noise[hot] = rng.uniform(60, 200, size=int(hot.sum()))
    grey = np.clip(noise, 0, 255).astype(np.uint8)
    return Image.fromarray(np.stack([grey] * 3, axis=2), "RGB")


def blurred(image: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Lost focus: the whole frame soft."""
    return image.filter(ImageFilter.GaussianBlur(float(rng.uniform(2.5, 5.0))))


def smeared(image: Image.Image, seed: int) -> Image.Image:
    """A greasy smear on the lens: a patch blurred and veiled with scattered light.

    The smear is drawn from the day's ``seed`` so it stays put while the day lasts.
    """
    rng = np.random.default_rng(seed)
    width, height = image.size
    mask = Image.new("L", image.size, 0)
    draw = ImageDraw.Draw(mask)
    cx = rng.uniform(0.1, 0.9) * width
    cy = rng.uniform(0.2, 0.8) * height
    for _ in range(int(rng.integers(4, 9))):
        rx = rng.uniform(0.05, 0.16) * width
        ry = rng.uniform(0.25, 0.6) * height
        x = cx + rng.normal(0.0, 0.08) * width
        y = cy + rng.normal(0.0, 0.15) * height
        draw.ellipse((x - rx, y - ry, x + rx, y + ry), fill=int(rng.uniform(140, 255)))
    mask = mask.filter(ImageFilter.GaussianBlur(height / 5))
    soft = image.filter(ImageFilter.BoxBlur(9)).filter(ImageFilter.GaussianBlur(4))
    veil = np.asarray(soft, dtype=np.float32)
    veil = veil * 0.75 + 0.3 * 255.0 * (veil.mean(axis=(0, 1)) / 255.0) ** 0.5
    veiled = Image.fromarray(np.clip(veil, 0, 255).astype(np.uint8), "RGB")
    return Image.composite(veiled, image, mask)
