"""``Scorer``: score and embed photos with a trained run, from a notebook or a service."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from infra.progress import bar
from scoring.loading import DEFAULT_BATCH, load_scoring_model
from scoring.stream import ImageStream
from training.card import ModelCard


class Scorer:
    """Score and embed photos with a trained run, from a notebook or a service.

    Parameters
    ----------
    model_dir : path
        A finished run folder (``runs/NAME``).
    batch_size : int
        Images per compiled call.

    Examples
    --------
    >>> scorer = Scorer("runs/skyline")                      # doctest: +SKIP
    >>> scorer.score(["a.jpg", "s3://bucket/b.jpg"])         # doctest: +SKIP
    """

    def __init__(self, model_dir: str | Path, *, batch_size: int = DEFAULT_BATCH) -> None:
        self.model = load_scoring_model(model_dir, batch_size)

    @property
    def card(self) -> ModelCard:
        return self.model.card

    def score(self, items: Iterable[str | Path]) -> pd.DataFrame:
        """One row per item, in order: ``image, uri, score, skipped`` (why, for unusable ones)."""
        return self._run(items)[0]

    def embed(self, items: Iterable[str | Path]) -> np.ndarray:
        """Pooled embeddings ``(n, width)`` float32, in order; NaN rows for unusable images."""
        return self._run(items)[1]

    def score_and_embed(self, items: Iterable[str | Path]) -> tuple[pd.DataFrame, np.ndarray]:
        """Both at once, from one pass over the images."""
        return self._run(items)

    def _run(self, items: Iterable[str | Path]) -> tuple[pd.DataFrame, np.ndarray]:
        asked = [str(item) for item in items]
        uris = list(dict.fromkeys(asked))  # each image once, however often it is asked for
        stream = ImageStream(self.model, uris)
        frame = pd.DataFrame({"image": None, "uri": uris, "score": np.nan, "skipped": None})
        embeddings = np.full((len(uris), self.model.width), np.nan, dtype="float32")
        progress = bar(len(uris), desc="scoring")
        for batch in stream.batches(np.arange(len(uris))):
            frame.loc[batch.rows, "image"] = batch.ids
            frame.loc[batch.rows, "score"] = batch.scores
            embeddings[batch.rows] = batch.embeddings
            progress.update(len(batch.rows))
        progress.close()
        for row, skip in stream.loader.skips.items():
            frame.loc[row, "skipped"] = skip.reason
        position = {uri: i for i, uri in enumerate(uris)}
        rows = np.asarray([position[uri] for uri in asked], dtype=int)
        return frame.iloc[rows].reset_index(drop=True), embeddings[rows]
