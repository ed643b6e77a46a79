"""Progress bars for long work, on stderr so that --json output stays clean."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Iterator
from typing import Any, TypeVar

from tqdm import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], *, total: int | None = None, desc: str = "") -> Iterator[T]:
    """Wrap an iterable with a progress bar (quiet when BEAUTY_QUIET is set)."""
    quiet = bool(os.environ.get("BEAUTY_QUIET"))
    yield from tqdm(
        items,
        total=total,
        desc=desc,
        unit="img",
        file=sys.stderr,
        disable=quiet,
        dynamic_ncols=True,
        leave=False,
        mininterval=0.5,
    )


def bar(total: int, desc: str = "", unit: str = "img") -> tqdm[Any]:
    """A manual progress bar: call ``.update(n)``, then ``.close()``."""
    quiet = bool(os.environ.get("BEAUTY_QUIET"))
    return tqdm(
        total=total,
        desc=desc,
        unit=unit,
        file=sys.stderr,
        disable=quiet,
        leave=False,
        dynamic_ncols=True,
        mininterval=0.5,
    )
