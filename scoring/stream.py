"""Streaming images through a loaded run: read and decoded in parallel, scored batch by batch.

Pixels are prepared exactly as in training (:mod:`training.images`), so a gallery's scores are
the scores the evaluation measured.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import tensorflow as tf

from infra.images import image_id
from scoring.loading import ScoringModel
from training.data import Reader, reader_for
from training.images import ImageLoader, Skip

PREFETCH_BATCHES = 2  # decoded batches waiting for the model: bounds memory at any gallery size


@dataclass
class Batch:
    """One batch of scored images: their row numbers, content ids, scores and embeddings."""

    rows: np.ndarray
    ids: list[str]
    scores: np.ndarray
    embeddings: np.ndarray


class ImageStream:
    """Images of a list of URIs, read and decoded in parallel, scored batch by batch.

    At most :data:`PREFETCH_BATCHES` decoded batches wait for the model; unusable images are
    left out of the batches and listed in :attr:`skips`.
    """

    def __init__(
        self, model: ScoringModel, uris: Sequence[str], read: Reader | None = None
    ) -> None:
        self.model = model
        self._read = read or reader_for(list(uris))
        self._ids: dict[str, str] = {}
        self.loader = ImageLoader(uris, self._reading)

    @property
    def skips(self) -> list[Skip]:
        return list(self.loader.skips.values())

    def _reading(self, uri: str) -> bytes:
        data = self._read(uri)
        self._ids[uri] = image_id(data)
        return data

    def batches(self, rows: Sequence[int] | np.ndarray) -> Iterator[Batch]:
        """Scored batches of the images at ``rows``, in order."""
        selected = tf.data.Dataset.from_tensor_slices(np.asarray(rows, dtype="int64"))
        decoded = self.loader.decode(selected, self.model.size)
        for batch_rows, pixels in decoded.batch(self.model.batch_size).prefetch(PREFETCH_BATCHES):
            done = batch_rows.numpy()
            scores, embeddings = self.model.run(pixels)
            ids = [self._ids.pop(self.loader.uris[int(r)]) for r in done]
            yield Batch(done, ids, scores, embeddings)
