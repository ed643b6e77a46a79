"""The scores table as training reads it: validated, resolved to readable URIs, trainable rows only.

Columns (DESIGN.md): ``image, uri, score, se, comparisons, wins, rank, percentile, tier``. Training
needs ``image, uri, score``; ``tier`` is derived from score percentiles when absent and ``se`` is
only needed to weight images by the certainty of their scores.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from infra.errors import BeautyError
from infra.gallery import derived_images
from infra.ledger import Ledger
from infra.sources import is_s3

REQUIRED = ("image", "uri", "score")
EXPECTED = "image, uri, score, se, ..., tier"
MIN_IMAGES = 10


@dataclass
class ScoresTable:
    """Rows of trainable images, with where they came from."""

    frame: pd.DataFrame  # image, uri, file_name, score, tier (+ se when given)
    path: Path
    sha256: str
    derived: list[str]  # made-gold variants found in the table and left out
    tier_derived: bool  # tiers were computed here from score percentiles


def scores_table_path(tables_dir: Path, given: str | Path | None) -> Path:
    """The scores table to train on: ``given``, else ``tables_dir/scores.parquet``; a missing
    one is refused here, before TensorFlow loads or weights download."""
    path = Path(given) if given else tables_dir / "scores.parquet"
    if not path.is_file():
        fix = "check the path" if given else "run `beauty rank` first, or pass --scores FILE"
        raise BeautyError(f"{path}: no scores table there; {fix}")
    return path


def load_scores(path: str | Path, tiers: Sequence[float] = (50.0, 95.0, 98.0)) -> ScoresTable:
    """Read and check a scores table (parquet or CSV).

    Raises
    ------
    BeautyError
        When the file is missing, unreadable, lacks columns or holds unusable values.
    """
    path = Path(path).expanduser()
    if not path.is_file():
        raise BeautyError(f"scores table {path} not found: run `beauty rank` or pass --scores FILE")
    data = path.read_bytes()
    frame = _read(path)
    missing = [c for c in REQUIRED if c not in frame.columns]
    if missing:
        raise BeautyError(
            f"{path} is not a scores table: no column {', '.join(missing)} "
            f"(expected {EXPECTED}; found {', '.join(map(str, frame.columns[:8])) or 'none'})"
        )
    frame = frame.copy()
    frame["image"] = frame["image"].astype(str)
    frame["uri"] = [_resolve(str(u), path.parent) for u in frame["uri"]]
    frame["file_name"] = [u.rstrip("/").rsplit("/", 1)[-1] for u in frame["uri"]]
    frame["score"] = _numeric(frame["score"], "score", path)
    dupes = frame["image"][frame["image"].duplicated()].unique()
    if len(dupes):
        raise BeautyError(f"{path}: image {dupes[0]} appears more than once; one row per image")
    if "se" in frame.columns:
        frame["se"] = pd.to_numeric(frame["se"], errors="coerce")
    tier_derived = "tier" not in frame.columns
    if tier_derived:
        frame["tier"] = tiers_from_scores(frame["score"].to_numpy(), tiers)
    else:
        frame["tier"] = _numeric(frame["tier"], "tier", path).astype(int)
    columns = ["image", "uri", "file_name", "score", "tier"] + (["se"] if "se" in frame else [])
    return ScoresTable(
        frame=frame[columns].reset_index(drop=True),
        path=path,
        sha256=hashlib.sha256(data).hexdigest(),
        derived=[],
        tier_derived=tier_derived,
    )


def exclude_derived(table: ScoresTable, ledger: Ledger | None) -> ScoresTable:
    """Leave out images the ledger knows as derived (made-gold variants): never trained on."""
    if ledger is None or table.frame.empty:
        return table
    derived = set(derived_images(ledger)) & set(table.frame["image"])
    keep = ~table.frame["image"].isin(derived)
    frame = table.frame[keep].reset_index(drop=True)
    return ScoresTable(frame, table.path, table.sha256, sorted(derived), table.tier_derived)


def check_size(table: ScoresTable) -> None:
    """Enough images to split 64/16/20 with every part non-empty."""
    if len(table.frame) < MIN_IMAGES:
        raise BeautyError(
            f"{table.path}: {len(table.frame)} trainable images; training needs at least "
            f"{MIN_IMAGES} (more votes and `beauty rank` give more)"
        )


def tiers_from_scores(scores: np.ndarray, percentiles: Sequence[float]) -> np.ndarray:
    """Tier 0..len(percentiles): how many of the percentile lines a score is above."""
    lines = np.percentile(scores, list(percentiles))
    return (scores[:, None] > lines[None, :]).sum(axis=1).astype(int)


def _read(path: Path) -> pd.DataFrame:
    suffix = path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix == ".csv":
            return pd.read_csv(path)
    except Exception as exc:  # pyarrow and pandas raise many types for one cause: a bad file
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise BeautyError(f"{path}: not a readable {suffix[1:]} table ({first[:160]})") from None
    raise BeautyError(f"{path}: a scores table is a .parquet or .csv file")


def _numeric(column: pd.Series, name: str, path: Path) -> pd.Series:
    values = pd.to_numeric(column, errors="coerce")
    bad = values.isna() | ~np.isfinite(values.astype(float))
    if bad.any():
        row = int(np.flatnonzero(bad.to_numpy())[0])
        raise BeautyError(
            f"{path}: column {name} holds a missing or non-numeric value ({column.iloc[row]!r} "
            f"in row {row + 1}); fix the table or rank again"
        )
    return values


def _resolve(uri: str, folder: Path) -> str:
    """Local relative paths are relative to the table's folder; S3 URIs stay as they are."""
    if is_s3(uri) or uri.startswith("file://"):
        return uri
    path = Path(uri).expanduser()
    return str(path if path.is_absolute() else (folder / path).resolve())
