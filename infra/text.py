"""People-provided text made safe for where it goes: spreadsheets and terminals.

Worker ids, labeler names and file names come from outside. A CSV cell that starts with ``=``,
``+``, ``-``, ``@``, a tab or a carriage return is run as a formula by spreadsheet programs
(CSV injection); a name holding control characters can rewrite a terminal's screen.
"""

from __future__ import annotations

import os
import re
import unicodedata
from typing import Any

FORMULA_LEADS = ("=", "+", "-", "@", "\t", "\r")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def csv_cell(value: Any) -> Any:
    """``value`` as a spreadsheet will read it as text: a formula-leading string gets a ``'``.

    Numbers (and anything not a string) pass untouched, so a negative score stays a number.
    A string that already starts with ``'`` gets one more, so :func:`from_csv_cell` restores
    every string exactly.
    """
    if isinstance(value, str) and value.startswith((*FORMULA_LEADS, "'")):
        return "'" + value
    return value


def from_csv_cell(value: Any) -> Any:
    """The inverse of :func:`csv_cell`, for programs reading back a CSV this project wrote."""
    if (
        isinstance(value, str)
        and value.startswith("'")
        and value[1:].startswith((*FORMULA_LEADS, "'"))
    ):
        return value[1:]
    return value


def safe_csv_frame(frame: Any, columns: Any = None) -> Any:
    """A copy of a DataFrame whose text cells in ``columns`` (default: every object column) are
    neutralised with :func:`csv_cell`."""
    out = frame.copy()
    names = columns if columns is not None else [c for c in out.columns if out[c].dtype == object]
    for name in names:
        if name in out.columns:
            out[name] = out[name].map(csv_cell)
    return out


def printable(text: str) -> str:
    """``text`` for a terminal: control characters (and lone surrogates) shown as ``?``."""
    cleaned = _CONTROL.sub("?", text)
    return "".join("?" if unicodedata.category(ch) == "Cs" else ch for ch in cleaned)


def display_name(name: str | bytes) -> str:
    """A file name of any bytes, readable: undecodable bytes shown as U+FFFD, controls as ``?``."""
    raw = name if isinstance(name, bytes) else os.fsencode(name)
    return printable(raw.decode("utf-8", errors="replace"))


def fit_file_name(name: str, limit: int = 240) -> str:
    """``name`` as one safe file name of at most ``limit`` UTF-8 bytes: separators and control
    characters become ``_``, undecodable bytes U+FFFD, and a long stem is shortened (the
    suffix kept), so a copy never fails half-way on a name the file system refuses."""
    clean = display_name(name).replace("?", "_").replace("/", "_").replace("\\", "_")
    clean = clean.lstrip(".") or "_"
    stem, dot, suffix = clean.rpartition(".")
    if not dot or len(suffix.encode()) > 16:
        stem, suffix = clean, ""
    tail = f".{suffix}" if suffix else ""
    room = max(1, limit - len(tail.encode()))
    short = stem.encode("utf-8")[:room].decode("utf-8", errors="ignore") or "_"
    return short + tail
