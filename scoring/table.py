"""The files a scored gallery lives in: the table, its embeddings and a record of what scored
them. Scoring writes them (through :mod:`scoring.parts`); curating and similarity search only
read finished tables.

Side by side (default ``runs/NAME/scores/<gallery>.parquet``):

- the table (parquet, or CSV when its name ends in ``.csv``): ``image, uri, score, percentile,
  rank, tier``, one row per scored image, in the gallery's order;
- ``<stem>.embeddings.npy``: the pooled embeddings as float16, row i belonging to table row i
  (open it with ``np.load(path, mmap_mode="r")``);
- ``<stem>.json``: which model scored what, the skipped images, the state of the files;
- ``<stem>.parts/``: the parts of a table being scored (:mod:`scoring.parts`).
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from infra.errors import BeautyError
from infra.ledger import utcnow

EMBEDDING_DTYPE = "float16"
LEDGER_GALLERY = "gallery"
TABLE_SUFFIXES = (".parquet", ".csv")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelRef(_Strict):
    run: str
    created_at: str


class FileStat(_Strict):
    """The embeddings file as the merge left it: a different one means the merge was cut short."""

    rows: int
    size: int
    mtime_ns: int


class ScoresMeta(_Strict):
    """``<stem>.json``: what scored the table and the state of the files."""

    format: int = 1
    model: ModelRef
    run_dir: str
    gallery: str
    final: FileStat | None = None
    skipped: list[dict[str, str]] = []
    updated_at: str


@dataclass(frozen=True)
class ScoresFiles:
    """The files of one scores table, named after the table."""

    table: Path

    def _beside(self, suffix: str) -> Path:
        return self.table.with_name(self.table.stem + suffix)

    @property
    def embeddings(self) -> Path:
        return self._beside(".embeddings.npy")

    @property
    def meta(self) -> Path:
        return self._beside(".json")

    @property
    def parts(self) -> Path:
        return self._beside(".parts")

    @property
    def index(self) -> Path:
        """Unit-length embeddings for similarity search (written by :mod:`scoring.similar`)."""
        return self._beside(".unit.npy")

    def read_meta(self) -> ScoresMeta | None:
        if not self.meta.is_file():
            return None
        try:
            return ScoresMeta.model_validate_json(self.meta.read_text(encoding="utf-8"))
        except ValidationError:
            raise BeautyError(
                f"{self.meta} is not a scores record; delete it and the files beside it to score "
                "again"
            ) from None

    def write_meta(self, meta: ScoresMeta) -> None:
        meta.updated_at = utcnow()
        tmp = self.meta.with_name(self.meta.name + ".tmp")
        tmp.write_text(meta.model_dump_json(indent=1) + "\n", encoding="utf-8")
        os.replace(tmp, self.meta)

    def final_is_valid(self, meta: ScoresMeta | None) -> bool:
        """Whether the table and embeddings are a finished merge (not one cut short)."""
        if meta is None or meta.final is None:
            return False
        if not (self.table.is_file() and self.embeddings.is_file()):
            return False
        stat = self.embeddings.stat()
        return (stat.st_size, stat.st_mtime_ns) == (meta.final.size, meta.final.mtime_ns)


def gallery_name(gallery: str | None) -> str:
    """A file-name-safe name for a gallery location (the ledger's own is ``gallery``)."""
    if gallery is None:
        return LEDGER_GALLERY
    tail = re.sub(r"[^A-Za-z0-9._-]+", "-", gallery.rstrip("/").rsplit("/", 1)[-1]).strip("-.")
    digest = hashlib.sha256(gallery.rstrip("/").encode()).hexdigest()[:8]
    return f"{tail or 'gallery'}-{digest}"


def default_table(run_dir: str | Path, gallery: str | None = None) -> Path:
    """Where ``score_gallery`` writes a gallery's table by default: ``runs/NAME/scores/``."""
    return Path(run_dir) / "scores" / f"{gallery_name(gallery)}.parquet"


def read_scores(table: str | Path) -> tuple[pd.DataFrame, np.ndarray]:
    """A finished scores table and its embeddings (memory-mapped, read-only).

    Raises
    ------
    BeautyError
        When the table is missing or its last merge was cut short.
    """
    files = ScoresFiles(Path(table))
    if not files.final_is_valid(files.read_meta()):
        raise BeautyError(
            f"{files.table}: no finished scores table there; run `beauty score` (again) first"
        )
    frame = read_table(files.table)
    embeddings = np.load(files.embeddings, mmap_mode="r")
    if len(embeddings) != len(frame):
        raise BeautyError(f"{files.table}: table and embeddings differ in rows; score again")
    return frame, embeddings


def read_table(path: Path) -> pd.DataFrame:
    """A scores table as written, parquet or CSV by its suffix."""
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path, dtype={"image": str, "uri": str})
    return pd.read_parquet(path)


def write_table(frame: pd.DataFrame, path: Path, kind: str) -> None:
    """Write a scores table as ``kind`` (``.csv``, else parquet)."""
    if kind == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
