"""Where a backbone's top blocks begin, for backbones whose layers are named ``block<k>_...``."""

from __future__ import annotations

from typing import Any


def first_layer_of_top_blocks(base: Any, top_blocks: int, n_blocks: int) -> int:
    """Index ``i`` of the first layer of block ``n_blocks + 1 - top_blocks``.

    ``base.layers[:i]`` stay frozen: 0 blocks freezes everything, ``n_blocks`` or more trains the
    whole base. Layers between blocks that carry no block name (residual shortcuts) sit after
    the previous block's layers, so they train with the block they feed.
    """
    if top_blocks < 0:
        raise ValueError(f"top_blocks must be >= 0, not {top_blocks}")
    if top_blocks == 0:
        return len(base.layers)
    if top_blocks >= n_blocks:
        return 0
    prefix = f"block{n_blocks + 1 - top_blocks}_"
    return next(i for i, layer in enumerate(base.layers) if layer.name.startswith(prefix))
