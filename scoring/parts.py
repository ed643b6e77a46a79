"""The resumable parts of a scores table: scored batches saved as numbered parts while a
gallery is scored, then merged into the table (:mod:`scoring.table`).

A part is ``part-NNNNN.npy`` (embeddings) and ``part-NNNNN.parquet`` (``image, uri, score``) in
``<stem>.parts/``. A restart scores only the URIs that no part and no earlier table holds;
percentiles, ranks and tiers need every score, so they are computed when the parts are merged.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from infra.settings import Settings
from scoring.table import (
    EMBEDDING_DTYPE,
    FileStat,
    ScoresFiles,
    ScoresMeta,
    read_table,
    write_table,
)
from training.scores import tiers_from_scores

if TYPE_CHECKING:
    from scoring.stream import Batch

MERGE_BLOCK = 8192  # embedding rows copied at a time when parts are merged


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
        done.update(read_table(files.table)["uri"])
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
        earlier = read_table(files.table)[["image", "uri", "score"]]
        sources.append((earlier, np.load(files.embeddings, mmap_mode="r")))
    parts = _part_files(files)
    if final_valid and not parts and sources[0][0]["uri"].tolist() == uris:
        return read_table(files.table)
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
    write_table(table, tmp_table, files.table.suffix.lower())
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
