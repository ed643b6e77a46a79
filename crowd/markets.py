"""The registry of markets: a name, and where its adapter lives.

Adapters are loaded by import path when first asked for, so the campaign depends on the
:class:`~crowd.market.Market` protocol alone and never imports a market. Adding a market is one
module implementing the protocol and one line here.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module

from crowd.market import Market
from infra.errors import BeautyError

REGISTRY: dict[str, str] = {
    "local": "crowd.local.adapter:LocalLabeling",
    "mturk": "mturk.adapter:MTurk",
}


def names() -> list[str]:
    """Every registered market's name, in registry order."""
    return list(REGISTRY)


@cache
def get(name: str) -> Market:
    """The market registered as ``name``."""
    if name not in REGISTRY:
        raise BeautyError(f"no market {name!r}: choose one of {', '.join(REGISTRY)}")
    module, _, attr = REGISTRY[name].partition(":")
    market = getattr(import_module(module), attr)()
    if not isinstance(market, Market) or market.name != name:
        raise TypeError(f"{REGISTRY[name]} does not implement the Market protocol as {name!r}")
    return market
