"""``score_gallery``: every image of a gallery through a trained run, streaming and resumable.

The images stream through the model in compiled batches, and every ``chunk`` images are saved
as a part (:mod:`scoring.parts`); the finished files are laid out in :mod:`scoring.table`. A
restart scores only the URIs that no part and no earlier table holds. Importing this module
does not import TensorFlow.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd

from infra.errors import BeautyError
from infra.gallery import derived_uris, list_images
from infra.progress import bar
from infra.settings import Settings
from infra.sources import open_source
from infra.workspace import Workspace
from scoring.parts import Parts, merge_parts, scored_uris
from scoring.ray_engine import RayOptions
from scoring.table import (
    LEDGER_GALLERY,
    TABLE_SUFFIXES,
    ModelRef,
    ScoresFiles,
    ScoresMeta,
    default_table,
)
from training.card import read_card

if TYPE_CHECKING:
    from training.images import Skip

Progress = Callable[[str], None]
CHUNK = 1024  # images per part: what an interruption can cost at most
ENGINES = ("local", "ray")


@dataclass
class GalleryScores:
    """A scored gallery: the table, and what this call did."""

    files: ScoresFiles
    table: pd.DataFrame
    scored: int  # images scored by this call
    reused: int  # images an earlier, interrupted or finished, call had scored
    skipped: list[Skip]
    seconds: float

    @property
    def images_per_second(self) -> float:
        return self.scored / self.seconds if self.seconds > 0 else 0.0


def list_gallery(gallery: str | None, workspace: Workspace | None) -> list[str]:
    """The URIs of a gallery's images; the workspace's original images when ``gallery`` is None.

    Images the workspace knows as derived (made-gold variants) are never scored.
    """
    if gallery is None:
        if workspace is None:
            raise BeautyError(
                "no gallery named: pass a folder or s3://bucket/prefix, or work in a workspace "
                "to score its registered images"
            )
        return [row["uri"] for row in list_images(workspace.ledger, include_derived=False)]
    settings = workspace.settings if workspace else Settings()
    source = open_source(
        gallery,
        extensions=settings.images.extensions,
        region=settings.s3.region,
        endpoint_url=settings.s3.endpoint_url,
    )
    derived = {uri for _, uri in _derived(workspace)}
    return [obj.uri for obj in source.list() if obj.uri not in derived]


def derived_ids(workspace: Workspace | None) -> set[str]:
    """Ids of the workspace's derived images, which are never curated nor shown as similar."""
    return {image for image, _ in _derived(workspace)}


def score_gallery(
    run_dir: str | Path,
    gallery: str | None = None,
    *,
    workspace: Workspace | None = None,
    out: str | Path | None = None,
    batch_size: int = 16,
    chunk: int = CHUNK,
    progress: Progress = print,
    engine: str = "local",
    ray: RayOptions | None = None,
) -> GalleryScores:
    """Score every image of a gallery with a trained run; resumes an interrupted call.

    Parameters
    ----------
    run_dir : path
        A finished run (``runs/NAME``).
    gallery : str, optional
        A folder or ``s3://bucket/prefix``; default: the workspace's registered originals.
    workspace : Workspace, optional
        Settings (S3, image extensions, tier percentiles) and the ledger.
    out : path, optional
        The table (``.parquet`` or ``.csv``); default :func:`default_table`.
    batch_size, chunk : int
        Images per compiled call, and per saved part.
    progress : callable
        Receives one line per step and per saved part.
    engine : str
        ``local`` (this process) or ``ray`` (a Ray cluster, :mod:`scoring.ray_engine`); both
        write the same files.
    ray : RayOptions, optional
        The cluster's address and the size of a replica, for ``engine="ray"``.

    Raises
    ------
    BeautyError
        On a missing or mismatched model, a table scored by another model, an empty gallery,
        or a gallery none of whose images can be read.
    """
    started = time.monotonic()
    if engine not in ENGINES:
        raise BeautyError(f"unknown engine {engine!r}: choose {' or '.join(ENGINES)}")
    folder = Path(run_dir)
    card = read_card(folder)
    files = ScoresFiles(Path(out) if out else default_table(folder, gallery))
    if files.table.suffix.lower() not in TABLE_SUFFIXES:
        raise BeautyError(f"{files.table}: name the scores table .parquet or .csv")
    ref = ModelRef(run=card.name, created_at=card.created_at)
    meta = files.read_meta()
    if meta is not None and meta.model != ref:
        raise BeautyError(
            f"{files.table} holds scores of model {meta.model.run} ({meta.model.created_at}); "
            "pass another --out, or delete it and the files beside it to start over"
        )
    uris = list_gallery(gallery, workspace)
    if not uris:
        where = gallery or "the workspace"
        raise BeautyError(f"{where}: no images to score; add some with `beauty images add`")
    if meta is None:
        meta = ScoresMeta(
            model=ref, run_dir=str(folder), gallery=gallery or LEDGER_GALLERY, updated_at=""
        )
    files.table.parent.mkdir(parents=True, exist_ok=True)
    files.write_meta(meta)
    done = scored_uris(files, meta)
    todo = [i for i, uri in enumerate(uris) if uri not in done]
    reused = len(uris) - len(todo)
    skipped: list[Skip] = []
    if todo:
        progress(f"scoring {len(todo)} of {len(uris)} images ({reused} already scored)")
        if engine == "ray":
            from scoring.ray_engine import score_on_ray

            settings = workspace.settings if workspace else Settings()
            skipped = score_on_ray(
                folder, uris, todo, files, batch_size, chunk, progress, settings,
                ray or RayOptions(),
            )  # fmt: skip
        else:
            skipped = _score(folder, uris, todo, files, batch_size, chunk, progress, workspace)
    frame = merge_parts(files, meta, uris, workspace.settings if workspace else Settings())
    if frame.empty:
        raise BeautyError(f"none of the {len(uris)} images could be scored; see the skipped list")
    meta.skipped = [{"uri": s.uri, "reason": s.reason} for s in skipped]
    files.write_meta(meta)
    scored = len(todo) - len(skipped)
    return GalleryScores(files, frame, scored, reused, skipped, time.monotonic() - started)


def _score(
    run_dir: Path,
    uris: list[str],
    todo: list[int],
    files: ScoresFiles,
    batch_size: int,
    chunk: int,
    progress: Progress,
    workspace: Workspace | None,
) -> list[Skip]:
    """Score the images at rows ``todo``, saving a part every ``chunk`` images."""
    from scoring.loading import load_scoring_model
    from scoring.stream import ImageStream
    from training.data import reader_for

    model = load_scoring_model(run_dir, batch_size)
    s3 = (workspace.settings if workspace else Settings()).s3
    stream = ImageStream(model, uris, reader_for(uris, s3.region, s3.endpoint_url))
    parts = Parts(files.parts, uris)
    meter = bar(len(todo), desc="scoring")
    scored = 0
    for batch in stream.batches(todo):
        parts.add(batch)
        scored += len(batch.rows)
        meter.update(scored + len(stream.loader.skips) - meter.n)
        if parts.pending >= chunk:
            progress(f"saved part {parts.save()}: {scored} of {len(todo)} images scored")
    if parts.pending:
        progress(f"saved part {parts.save()}: {scored} of {len(todo)} images scored")
    meter.close()
    for skip in stream.skips:
        progress(f"skipped {skip.uri}: {skip.reason}")
    return stream.skips


def _derived(workspace: Workspace | None) -> list[tuple[str, str]]:
    """``(id, uri)`` of every URI of the workspace's derived images."""
    if workspace is None or not workspace.ledger_path.exists():
        return []
    return derived_uris(workspace.ledger)
