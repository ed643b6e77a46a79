"""The files a scored gallery lives in: numbered parts while it is scored, then the merged
table, its embeddings and a record of what scored them. They have a module of their own because
more than the scorer uses them: curating and similarity search only read finished tables.

Side by side (default ``runs/NAME/scores/<gallery>.parquet``):

- the table (parquet, or CSV when its name ends in ``.csv``): ``image, uri, score, percentile,
  rank, tier``, one row per scored image, in the gallery's order;
- ``<stem>.embeddings.npy``: the pooled embeddings as float16, row i belonging to table row i
  (open it with ``np.load(path, mmap_mode="r")``);
- ``<stem>.json``: which model scored what, the skipped images, the state of the files.

While scoring, the scored images are saved as parts in ``<stem>.parts/``; percentiles, ranks
and tiers need every score, so they are computed when the parts are merged into the final
table.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, ValidationError

from infra.errors import BeautyError
from infra.ledger import utcnow
from infra.settings import Settings
from training.scores import tiers_from_scores

if TYPE_CHECKING:
    from training.serving import Batch

EMBEDDING_DTYPE = "float16"
MERGE_BLOCK = 8192  # embedding rows copied at a time when parts are merged
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
        """Unit-length embeddings for similarity search (written by :mod:`training.similar`)."""
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
    frame = _read_table(files.table)
    embeddings = np.load(files.embeddings, mmap_mode="r")
    if len(embeddings) != len(frame):
        raise BeautyError(f"{files.table}: table and embeddings differ in rows; score again")
    return frame, embeddings


class Parts:
    """Scored batches gathered into numbered parts: ``part-NNNNN.npy`` then ``.parquet``.

    The parquet file is written last and atomically: a part without it was cut short and is
    ignored.
    """

    def __init__(self, folder: Path, uris: list[str]) -> None:
        self.folder = folder
        self.uris = uris
        self.batches: list[Batch] = []
        folder.mkdir(parents=True, exist_ok=True)
        self.number = len(list(folder.glob("part-*.parquet")))

    @property
    def pending(self) -> int:
        return sum(len(b.rows) for b in self.batches)

    def add(self, batch: Batch) -> None:
        self.batches.append(batch)

    def save(self) -> int:
        self.number += 1
        stem = self.folder / f"part-{self.number:05d}"
        embeddings = np.concatenate([b.embeddings for b in self.batches]).astype(EMBEDDING_DTYPE)
        frame = pd.DataFrame(
            {
                "image": [i for b in self.batches for i in b.ids],
                "uri": [self.uris[int(r)] for b in self.batches for r in b.rows],
                "score": np.concatenate([b.scores for b in self.batches]),
            }
        )
        with open(stem.with_suffix(".npy.tmp"), "wb") as handle:
            np.save(handle, embeddings)
        os.replace(stem.with_suffix(".npy.tmp"), stem.with_suffix(".npy"))
        frame.to_parquet(stem.with_suffix(".parquet.tmp"), index=False)
        os.replace(stem.with_suffix(".parquet.tmp"), stem.with_suffix(".parquet"))
        self.batches = []
        return self.number


def _part_files(files: ScoresFiles) -> list[Path]:
    return sorted(files.parts.glob("part-*.parquet")) if files.parts.is_dir() else []


def scored_uris(files: ScoresFiles, meta: ScoresMeta) -> set[str]:
    """The URIs that a finished table or a saved part already holds."""
    done: set[str] = set()
    if files.final_is_valid(meta):
        done.update(_read_table(files.table)["uri"])
    for part in _part_files(files):
        done.update(pd.read_parquet(part, columns=["uri"])["uri"])
    return done


def merge_parts(
    files: ScoresFiles, meta: ScoresMeta, uris: list[str], settings: Settings
) -> pd.DataFrame:
    """The final table and embeddings from the earlier table and the parts, in gallery order."""
    sources: list[tuple[pd.DataFrame, np.ndarray]] = []
    final_valid = files.final_is_valid(meta)
    if final_valid:
        earlier = _read_table(files.table)[["image", "uri", "score"]]
        sources.append((earlier, np.load(files.embeddings, mmap_mode="r")))
    parts = _part_files(files)
    if final_valid and not parts and sources[0][0]["uri"].tolist() == uris:
        return _read_table(files.table)
    for part in parts:
        sources.append((pd.read_parquet(part), np.load(part.with_suffix(".npy"), mmap_mode="r")))
    if not sources:
        return _ranked(pd.DataFrame(columns=["image", "uri", "score"]), settings.ranking.tiers)
    frame = pd.concat(
        [f.assign(source=i, source_row=np.arange(len(f))) for i, (f, _) in enumerate(sources)],
        ignore_index=True,
    )
    position = {uri: i for i, uri in enumerate(uris)}
    frame = frame.drop_duplicates("uri", keep="last")
    frame = frame[frame["uri"].isin(position)]
    frame = frame.iloc[np.argsort(frame["uri"].map(position).to_numpy(), kind="stable")]
    frame = frame.reset_index(drop=True)
    if frame.empty:
        return _ranked(frame[["image", "uri", "score"]], settings.ranking.tiers)
    width = int(sources[0][1].shape[1])
    tmp_embeddings = files.embeddings.with_name(files.embeddings.name + ".tmp")
    out = np.lib.format.open_memmap(
        tmp_embeddings, mode="w+", dtype=EMBEDDING_DTYPE, shape=(len(frame), width)
    )
    source_of, row_of = frame["source"].to_numpy(), frame["source_row"].to_numpy()
    for start in range(0, len(frame), MERGE_BLOCK):
        stop = min(start + MERGE_BLOCK, len(frame))
        for source in np.unique(source_of[start:stop]):
            at = start + np.flatnonzero(source_of[start:stop] == source)
            out[at] = sources[int(source)][1][row_of[at]]
    out.flush()
    del out
    table = _ranked(frame[["image", "uri", "score"]], settings.ranking.tiers)
    tmp_table = files.table.with_name(files.table.name + ".tmp")
    _write_table(table, tmp_table, files.table.suffix.lower())
    # The embeddings first, the record last: a merge cut short leaves a record that no longer
    # matches the embeddings file, so the next call merges again from the parts it kept.
    os.replace(tmp_embeddings, files.embeddings)
    os.replace(tmp_table, files.table)
    stat = files.embeddings.stat()
    meta.final = FileStat(rows=len(table), size=stat.st_size, mtime_ns=stat.st_mtime_ns)
    files.write_meta(meta)
    shutil.rmtree(files.parts, ignore_errors=True)
    return table


def _ranked(frame: pd.DataFrame, tiers: list[float]) -> pd.DataFrame:
    """With ``percentile`` (100 * (images scoring lower + half of the equal ones) / images),
    ``rank`` (1 = best) and ``tier`` (how many of the tier percentiles the score is above)."""
    scores = frame["score"].to_numpy(float)
    out = frame.reset_index(drop=True).copy()
    ranks = pd.Series(scores)
    out["percentile"] = (ranks.rank(method="average") - 0.5) / len(scores) * 100
    out["rank"] = ranks.rank(method="first", ascending=False).astype(int)
    out["tier"] = tiers_from_scores(scores, tiers) if len(scores) else np.zeros(0, int)
    return out


def _read_table(path: Path) -> pd.DataFrame:
    if path.suffix.lower() == ".csv":
        return pd.read_csv(path, dtype={"image": str, "uri": str})
    return pd.read_parquet(path)


def _write_table(frame: pd.DataFrame, path: Path, kind: str) -> None:
    if kind == ".csv":
        frame.to_csv(path, index=False)
    else:
        frame.to_parquet(path, index=False)
