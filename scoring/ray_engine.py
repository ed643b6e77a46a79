"""Scoring a gallery on a Ray cluster: Ray Data feeds an actor pool of model replicas.

The driver lists the gallery and keeps the resumable parts (:mod:`scoring.parts`) exactly as the
local engine does; only the scoring moves. The URIs still to score become a Ray Dataset of
``(row, uri)`` blocks; ``map_batches`` hands each block to one replica of a callable class, which
reads the photos (local paths or S3) and decodes them in parallel through the very
:class:`scoring.stream.ImageStream` the local engine uses, then returns row, content id, score,
embedding, or why the photo could not be used. The driver saves a part every ``chunk`` images
as results come back, in whatever order the replicas finish: the merge orders the table by the
gallery, so the files on disk are those of the local engine.

The model travels with the job (its files are shipped to every replica), so worker nodes need
the project installed but neither the run folder nor the driver's file system. Ray is imported
only here, and only when this engine is chosen.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from infra.errors import BeautyError
from infra.progress import bar
from infra.settings import Settings
from scoring.parts import Parts
from scoring.table import ScoresFiles
from training.card import CARD_NAME, read_card

if TYPE_CHECKING:
    from training.images import Skip

Progress = Callable[[str], None]
IMAGES_PER_TASK = 64  # URIs per Ray Data batch: one call of a replica
INSTALL_HINT = "--engine ray needs Ray: pip install 'beauty-crowd[ray]'"


@dataclass(frozen=True)
class RayOptions:
    """Where and how wide: the cluster's address, CPUs per replica, replicas (0: as many as fit)."""

    address: str | None = None
    cpus_per_replica: float = 1.0
    replicas: int = 0
    images_per_task: int = IMAGES_PER_TASK


def import_ray() -> Any:
    """The ``ray`` module, or a one-line error naming the extra to install."""
    try:
        import ray
        import ray.data
    except ImportError:
        raise BeautyError(INSTALL_HINT) from None
    return ray


class Replica:
    """One model replica in Ray Data's actor pool: ``(row, uri)`` blocks in, scores out.

    Rows are the driver's gallery rows, so the results can come back in any order.
    """

    def __init__(
        self,
        model_files: list[Any],
        batch_size: int,
        threads: int,
        s3: dict[str, str | None],
    ) -> None:
        import tensorflow as tf

        if threads > 0:  # the replica's share of the node, not every core of it
            tf.config.threading.set_intra_op_parallelism_threads(threads)
        import ray

        from scoring.loading import load_scoring_model

        folder = Path(tempfile.mkdtemp(prefix="beauty-replica-"))
        files: dict[str, bytes] = ray.get(model_files[0])  # one copy per node, not per task
        for name, data in files.items():
            (folder / name).write_bytes(data)
        self.model = load_scoring_model(folder, batch_size)
        self.s3 = s3

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from scoring.stream import ImageStream
        from training.data import reader_for

        rows = np.asarray(batch["row"], dtype=np.int64)
        uris = [str(u) for u in batch["uri"]]
        read = reader_for(uris, self.s3.get("region"), self.s3.get("endpoint_url"))
        stream = ImageStream(self.model, uris, read)
        n, width = len(uris), self.model.width
        scores = np.full(n, np.nan)
        embeddings = np.zeros((n, width), dtype=np.float32)
        ids = np.array([""] * n, dtype=object)
        for done in stream.batches(np.arange(n)):
            scores[done.rows] = done.scores
            embeddings[done.rows] = done.embeddings
            ids[done.rows] = done.ids
        reasons = np.array([""] * n, dtype=object)
        for local, skip in stream.loader.skips.items():
            reasons[local] = skip.reason
        return {
            "row": rows,
            "image": ids,
            "score": scores,
            "embedding": embeddings,
            "reason": reasons,
        }


def model_files(run_dir: Path) -> dict[str, bytes]:
    """The files a replica needs to load the run: its card and model."""
    card = read_card(run_dir)
    return {name: (run_dir / name).read_bytes() for name in (CARD_NAME, card.model_file)}


def score_on_ray(
    run_dir: Path,
    uris: list[str],
    todo: list[int],
    files: ScoresFiles,
    batch_size: int,
    chunk: int,
    progress: Progress,
    settings: Settings,
    options: RayOptions,
) -> list[Skip]:
    """Score the images at rows ``todo`` on Ray, saving a part every ``chunk`` images."""
    ray = import_ray()
    from scoring.stream import Batch
    from training.images import Skip

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    started_here = not ray.is_initialized()
    if started_here:
        ray.init(
            address=options.address,
            logging_level="WARNING",
            log_to_driver=False,
            include_dashboard=False,
        )
    try:
        context = ray.data.DataContext.get_current()
        context.enable_progress_bars = False
        context.print_on_execution_start = False
        replicas = options.replicas or _replicas(ray.cluster_resources(), options)
        gpus = 1 if ray.cluster_resources().get("GPU", 0) >= 1 else 0
        progress(
            f"ray: {replicas} replica(s) of the model, {options.cpus_per_replica:g} CPU"
            f"{' and 1 GPU' if gpus else ''} each"
        )
        per_task = max(1, min(options.images_per_task, -(-len(todo) // replicas)))
        items = [{"row": int(r), "uri": uris[r]} for r in todo]
        dataset = ray.data.from_items(items, override_num_blocks=-(-len(items) // per_task))
        scored_blocks = dataset.map_batches(
            Replica,
            fn_constructor_kwargs={
                "model_files": [ray.put(model_files(run_dir))],
                "batch_size": batch_size,
                "threads": max(1, int(options.cpus_per_replica)),
                "s3": {"region": settings.s3.region, "endpoint_url": settings.s3.endpoint_url},
            },
            batch_size=per_task,
            batch_format="numpy",
            compute=ray.data.ActorPoolStrategy(size=replicas),
            num_cpus=options.cpus_per_replica,
            num_gpus=gpus,
            zero_copy_batch=True,
        )
        parts = Parts(files.parts, uris)
        meter = bar(len(todo), desc="scoring")
        skips: dict[str, Skip] = {}
        scored = 0
        for out in scored_blocks.iter_batches(batch_format="numpy", batch_size=None):
            usable = out["reason"] == ""
            for row, reason in zip(out["row"][~usable], out["reason"][~usable], strict=True):
                uri = uris[int(row)]
                skips.setdefault(uri, Skip(uri, str(reason)))
            if usable.any():
                parts.add(
                    Batch(
                        np.asarray(out["row"][usable]),
                        [str(i) for i in out["image"][usable]],
                        np.asarray(out["score"][usable], dtype=float),
                        np.asarray(out["embedding"][usable]),
                    )
                )
                scored += int(usable.sum())
            meter.update(scored + len(skips) - meter.n)
            if parts.pending >= chunk:
                progress(f"saved part {parts.save()}: {scored} of {len(todo)} images scored")
        if parts.pending:
            progress(f"saved part {parts.save()}: {scored} of {len(todo)} images scored")
        meter.close()
    finally:
        if started_here:
            ray.shutdown()
    found = list(skips.values())
    for skip in found:
        progress(f"skipped {skip.uri}: {skip.reason}")
    return found


def _replicas(resources: dict[str, float], options: RayOptions) -> int:
    """One replica per GPU, else one per ``cpus_per_replica`` CPUs of the cluster."""
    gpus = int(resources.get("GPU", 0))
    if gpus:
        return gpus
    cpus = resources.get("CPU", 0)
    if cpus < options.cpus_per_replica:
        raise BeautyError(
            f"the Ray cluster has {cpus:g} CPUs, fewer than --cpus-per-replica "
            f"{options.cpus_per_replica:g}: lower it or add nodes"
        )
    return max(1, int(cpus // options.cpus_per_replica))
