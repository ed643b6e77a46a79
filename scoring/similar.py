"""``similar``: the photos of a scored gallery that look most like a given one.

Similarity is the cosine of the model's pooled embeddings. The first query of a table writes a
unit-length copy of its embeddings (``<stem>.unit.npy``, float16, memory-mapped); every query
then reads it in blocks, one matrix-vector product and one partial sort per block, so memory
stays small and 130,000 photos answer in about a second.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from infra.errors import BeautyError
from infra.gallery import resolve_images
from infra.progress import bar
from infra.settings import Settings
from infra.sources import local_path
from infra.workspace import Workspace
from scoring.contact_sheet import contact_sheet
from scoring.gallery import derived_ids
from scoring.table import EMBEDDING_DTYPE, ScoresFiles, default_table, read_scores
from training.data import reader_for

Progress = Callable[[str], None]
BLOCK = 16384  # rows per matrix-vector product: a few tens of MB at a time


@dataclass
class Neighbours:
    """The nearest photos to a query, most similar first."""

    query: str
    photos: pd.DataFrame  # rank, image, uri, similarity, score, percentile
    seconds: float  # the search alone
    sheet_html: Path | None = None
    sheet_png: Path | None = None


def unit_index(files: ScoresFiles, *, progress: Progress = print) -> np.ndarray:
    """The table's embeddings scaled to unit length (a read-only memmap), written once."""
    source = np.load(files.embeddings, mmap_mode="r")
    index = files.index
    if index.is_file() and index.stat().st_mtime_ns >= files.embeddings.stat().st_mtime_ns:
        cached = np.load(index, mmap_mode="r")
        if cached.shape == source.shape:
            return cached
    progress(f"indexing {len(source)} embeddings for similarity search, once")
    tmp = index.with_name(index.name + ".tmp")
    out = np.lib.format.open_memmap(tmp, mode="w+", dtype=EMBEDDING_DTYPE, shape=source.shape)
    meter = bar(len(source), desc="indexing")
    for start in range(0, len(source), BLOCK):
        block = np.asarray(source[start : start + BLOCK], dtype="float32")
        norms = np.linalg.norm(block, axis=1, keepdims=True)
        out[start : start + BLOCK] = block / np.where(norms > 0, norms, 1)
        meter.update(len(block))
    meter.close()
    out.flush()
    del out
    tmp.replace(index)
    return np.load(index, mmap_mode="r")


def nearest(
    index: np.ndarray, vector: np.ndarray, k: int, exclude: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Rows of the ``k`` most cosine-similar unit vectors to ``vector``, and their similarity.

    ``exclude`` (booleans per row) leaves rows out. Ties keep the lower row first.
    """
    query = np.asarray(vector, dtype="float32")
    norm = float(np.linalg.norm(query))
    query = query / norm if norm > 0 else query
    rows: list[np.ndarray] = []
    sims: list[np.ndarray] = []
    for start in range(0, len(index), BLOCK):
        block = np.asarray(index[start : start + BLOCK], dtype="float32") @ query
        if exclude is not None:
            block[exclude[start : start + BLOCK]] = -np.inf
        keep = np.argpartition(-block, k - 1)[:k] if len(block) > k else np.arange(len(block))
        rows.append(start + keep)
        sims.append(block[keep])
    found, sim = np.concatenate(rows), np.concatenate(sims)
    found, sim = found[np.isfinite(sim)], sim[np.isfinite(sim)]
    order = np.lexsort((found, -sim))[:k]
    return found[order], sim[order]


def similar(
    run_dir: str | Path,
    query: str,
    *,
    k: int = 12,
    gallery: str | None = None,
    scores: str | Path | None = None,
    workspace: Workspace | None = None,
    out: str | Path | None = None,
    progress: Progress = print,
) -> Neighbours:
    """The ``k`` photos of a scored gallery most like ``query`` (itself not counted), with a
    contact sheet, nearest first.

    Parameters
    ----------
    query : str
        An image of the gallery by content id, URI or file name (or any name the workspace
        resolves), or the path of any photo, embedded on the fly.
    gallery, scores : optional
        Which scores table to search: the gallery's default one, or a table directly.
    out : path, optional
        Folder for the contact sheet; default ``runs/NAME/similar/<query>``.

    Raises
    ------
    BeautyError
        When the gallery has no finished scores table, or the query names no image.
    """
    if k < 1:
        raise BeautyError(f"--k {k}: ask for at least one photo")
    table = Path(scores) if scores is not None else default_table(run_dir, gallery)
    frame, _ = read_scores(table)
    files = ScoresFiles(table)
    index = unit_index(files, progress=progress)
    row = _find(query, frame, workspace)
    if row is not None:
        vector = np.asarray(index[row], dtype="float32")
        label = str(frame["image"].iloc[row])
    elif local_path(query).is_file():
        from scoring.scorer import Scorer

        progress(f"{query} is not in the gallery: embedding it with {Path(run_dir).name}")
        vector = Scorer(run_dir, batch_size=1).embed([query])[0]
        if np.isnan(vector).any():
            raise BeautyError(f"{query}: not a readable image")
        label = local_path(query).stem
    else:
        raise BeautyError(
            f"{query}: no image of {table.name} has this id, URI or file name, and no such "
            "file exists; check the name"
        )
    started = time.monotonic()
    # The query itself is no answer to "what looks like it": k others are found.
    skip = frame["image"].isin(derived_ids(workspace)).to_numpy()
    if row is not None:
        skip = skip | (frame["image"].to_numpy() == frame["image"].iloc[row])
    rows, sims = nearest(index, vector, k, exclude=skip if skip.any() else None)
    seconds = time.monotonic() - started
    photos = frame.iloc[rows][["image", "uri", "score", "percentile"]].reset_index(drop=True)
    photos.insert(0, "rank", np.arange(1, len(photos) + 1))
    photos.insert(3, "similarity", np.clip(sims, -1.0, 1.0).astype(float))  # float16 rounding
    result = Neighbours(query, photos, seconds)
    folder = Path(out) if out is not None else Path(run_dir) / "similar" / label
    folder.mkdir(parents=True, exist_ok=True)
    s3 = (workspace.settings if workspace else Settings()).s3
    result.sheet_html, result.sheet_png = contact_sheet(
        photos["uri"].tolist(),
        [f"#{r.rank} {str(r.uri).rsplit('/', 1)[-1]}" for r in photos.itertuples()],
        [f"similarity {r.similarity:.3f} · score {r.score:.3f}" for r in photos.itertuples()],
        folder,
        f"Photos like {query}",
        reader_for(photos["uri"].tolist(), s3.region, s3.endpoint_url),
        order="nearest first (the query photo itself left out)",
    )
    return result


def _find(query: str, frame: pd.DataFrame, workspace: Workspace | None) -> int | None:
    """The table row ``query`` names: by id, URI, local path, file name, or the ledger."""
    for column, value in (("image", query), ("uri", query)):
        hits = np.flatnonzero(frame[column].astype(str).to_numpy() == value)
        if len(hits):
            return int(hits[0])
    if local_path(query).exists():
        resolved = str(local_path(query).resolve())
        hits = np.flatnonzero(frame["uri"].astype(str).to_numpy() == resolved)
        if len(hits):
            return int(hits[0])
    names = frame["uri"].astype(str).str.rsplit("/", n=1).str[-1].to_numpy()
    hits = np.flatnonzero(names == query)
    if len(set(frame["image"].iloc[hits])) > 1:
        raise BeautyError(f"{query}: {len(hits)} photos have this file name; name it by id or URI")
    if len(hits):
        return int(hits[0])
    if workspace is not None and workspace.ledger_path.exists():
        try:
            image = resolve_images(workspace.ledger, [query])[query]
        except BeautyError:
            return None
        hits = np.flatnonzero(frame["image"].astype(str).to_numpy() == image)
        return int(hits[0]) if len(hits) else None
    return None
