"""Phase-2 fine-tuning: cached trunk against a naive end-to-end fit, same size, same batches.

Both fits start from the same weights (and dropout stream), see the same images in the same
order, without augmentation; the cache is float32. The naive fit gets its pixels decoded in
memory, so the difference measured is the frozen trunk's forward pass alone. Weights are random
with BatchNorm statistics measured on the images, standing in for ImageNet weights offline
(speed does not depend on the weights' values).

Usage: python bench/training.py [--size 96x384] [--images 32] [--batch 8] [--epochs 3]
       [--backbone xception] [--json bench/results/training.json]
       python bench/training.py --extract [xception mobilenetv2] --size 237x1820 --batch 8
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def write_photos(folder: Path, n: int, size: tuple[int, int]) -> tuple[list[str], np.ndarray]:
    """``n`` gradient photos of random brightness at ``size``; returns URIs and brightness."""
    rng = np.random.default_rng(0)
    brightness = rng.uniform(0.05, 0.95, n)
    height, width = size
    uris = []
    for i, b in enumerate(brightness):
        ramp = np.linspace(-30, 30, width)[None, :, None]
        pixels = b * 200 + 25 + ramp + rng.normal(0, 6, (height, width, 3))
        path = folder / f"{i:04d}.jpg"
        Image.fromarray(pixels.clip(0, 255).astype("uint8")).save(path, quality=90)
        uris.append(str(path))
    return uris, brightness


def calibrate(base: Any, scaled: Any) -> None:
    """Set every BatchNorm's statistics from one training-mode pass (random weights only)."""
    import keras

    norms = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    base(scaled, training=True)
    for layer, momentum in zip(norms, momenta, strict=True):
        layer.momentum = momentum


def fit(model: Any, feed: Any, epochs: int) -> tuple[list[float], list[float]]:
    """Losses and wall seconds per epoch."""
    import keras

    seconds: list[float] = []
    clock = keras.callbacks.LambdaCallback(
        on_epoch_begin=lambda epoch, logs: seconds.append(-time.perf_counter()),
        on_epoch_end=lambda epoch, logs: seconds.append(seconds.pop() + time.perf_counter()),
    )
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Your input ran out of data")
        history = model.fit(feed, epochs=epochs, shuffle=False, verbose=0, callbacks=[clock])
    return [float(v) for v in history.history["loss"]], seconds


def run(args: argparse.Namespace) -> dict[str, Any]:
    """Both fits; prints and returns the figures."""
    import tensorflow as tf

    from training.backbones import get_backbone
    from training.cache import build_trunk_cache
    from training.feeds import array_feed
    from training.images import ImageLoader
    from training.model import build_network, compile_for
    from training.options import TrainOptions, parse_size

    size = parse_size(args.size)
    options = TrainOptions(
        backbone=args.backbone,
        weights="none",
        input_height=size[0],
        input_width=size[1],
        batch_size=args.batch,
        augment=False,
        cache_dtype="float32",
    )
    backbone = get_backbone(args.backbone)
    net = build_network(backbone, options)
    trunk, top_trainer, _ = net.split()

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        uris, brightness = write_photos(folder, args.images, size)
        loader = ImageLoader(uris, lambda uri: Path(uri).read_bytes())
        decoded = loader.decode(tf.data.Dataset.range(len(uris)), size)
        pixels = np.stack([p.numpy() for _, p in decoded])[:, None]  # (n, 1, h, w, 3)
        calibrate(net.base, backbone.preprocess(pixels[:, 0]))
        rows = np.arange(len(uris))
        y = ((brightness - brightness.mean()) / brightness.std()).astype("float32")[:, None]
        w = np.ones(len(uris), "float32")
        start = [v.numpy() for v in net.image_trainer.variables]

        compile_for(net.image_trainer, options, options.learning_rate)
        feed = array_feed(pixels, rows, y, w, args.batch, shuffle=True)
        naive_loss, naive_s = fit(net.image_trainer, feed, args.epochs)

        for variable, value in zip(net.image_trainer.variables, start, strict=True):
            variable.assign(value)
        began = time.perf_counter()
        cache = build_trunk_cache(
            trunk, loader, size, folder / "trunk.npy", key={}, flips=False, dtype="float32",
            batch_size=args.batch,
        )  # fmt: skip
        cache_s = time.perf_counter() - began
        compile_for(top_trainer, options, options.learning_rate)
        feed = array_feed(cache.array, rows, y, w, args.batch, shuffle=True)
        cached_loss, cached_s = fit(top_trainer, feed, args.epochs)

    # Epoch 1 includes tracing the step; later epochs are the steady state.
    naive_epoch = statistics.median(naive_s[1:] or naive_s)
    cached_epoch = statistics.median(cached_s[1:] or cached_s)
    gap = max(abs(a - b) for a, b in zip(naive_loss, cached_loss, strict=True))
    even = round(cache_s / max(naive_epoch - cached_epoch, 1e-9), 2)
    figures = {
        "backbone": args.backbone,
        "size": args.size,
        "images": args.images,
        "batch": args.batch,
        "epochs": args.epochs,
        "cpu_count": os.cpu_count(),
        "machine": platform.processor() or platform.machine(),
        "tensorflow": tf.__version__,
        "naive_epoch_s": round(naive_epoch, 3),
        "cached_epoch_s": round(cached_epoch, 3),
        "speedup": round(naive_epoch / cached_epoch, 2),
        "cache_build_s": round(cache_s, 3),
        "break_even_epochs": even,
        "naive_loss": [round(v, 6) for v in naive_loss],
        "cached_loss": [round(v, 6) for v in cached_loss],
        "max_loss_gap": gap,
        "naive_epochs_s": [round(v, 3) for v in naive_s],
        "cached_epochs_s": [round(v, 3) for v in cached_s],
    }
    print(f"{args.backbone} at {args.size}, {args.images} images, batch {args.batch}")
    print(f"naive end-to-end epoch  {naive_epoch:7.2f} s  ({args.images / naive_epoch:.1f} img/s)")
    print(
        f"cached-trunk epoch      {cached_epoch:7.2f} s  ({args.images / cached_epoch:.1f} img/s)"
    )
    print(f"speed-up                {naive_epoch / cached_epoch:7.2f}x")
    print(f"cache build (once)      {cache_s:7.2f} s  (pays off after {even} epochs)")
    print(f"loss per epoch naive    {figures['naive_loss']}")
    print(f"loss per epoch cached   {figures['cached_loss']}")
    print(f"largest loss gap        {gap:.2e}")
    return figures


def extraction(
    backbones: list[str], size: tuple[int, int], batch: int, repeats: int
) -> dict[str, Any]:
    """Pooled-feature extraction speed of each backbone: a compiled call on in-memory batches."""
    import tensorflow as tf

    from training.backbones import get_backbone

    pixels = tf.random.uniform((batch, *size, 3), 0, 255, seed=0)
    figures: dict[str, Any] = {"size": list(size), "batch": batch, "repeats": repeats}
    for name in backbones:
        backbone = get_backbone(name)
        base = backbone.build((*size, 3), "none")

        @tf.function
        def pooled(x: Any, base: Any = base, backbone: Any = backbone) -> Any:
            return tf.reduce_mean(base(backbone.preprocess(x), training=False), axis=(1, 2))

        pooled(pixels)  # trace and warm up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            pooled(pixels).numpy()
            times.append(time.perf_counter() - start)
        rate = batch / statistics.median(times)
        figures[name] = rate
        print(f"{name:<12} {rate:6.1f} img/s at {size[0]}x{size[1]}, batch {batch}")
    return figures


def main() -> None:
    """Parse options, run both fits, optionally save the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="96x384", help="HEIGHTxWIDTH")
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--backbone", default="xception")
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--extract",
        nargs="*",
        metavar="BACKBONE",
        help="instead: pooled-feature extraction speed of these backbones (default: all)",
    )
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    # This file is named training.py: keep its folder off the path so `training` is the package.
    here = Path(__file__).resolve().parent
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != here]
    if args.extract is not None:
        height, width = (int(v) for v in args.size.split("x"))
        names = args.extract or ["xception", "mobilenetv2"]
        figures = extraction(names, (height, width), args.batch, args.repeats)
    else:
        figures = run(args)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()
