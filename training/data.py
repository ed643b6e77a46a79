"""From a scores table to what training needs: rows, parts, targets, a reader for the images."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from infra.errors import BeautyError
from infra.sources import is_s3, read_bytes
from infra.workspace import Workspace
from training.capture import capture_days
from training.options import TrainOptions
from training.scores import ScoresTable, check_size, exclude_derived, load_scores
from training.split import FRACTIONS, PARTS, split_parts
from training.targets import Targets, make_targets

Reader = Callable[[str], bytes]


@dataclass
class Prepared:
    """A scores table, split; rows index ``frame``. Targets follow once skips are known."""

    table: ScoresTable
    frame: pd.DataFrame  # + columns part, day
    read: Reader
    options: TrainOptions
    _targets: Targets | None = None

    def rows(self, part: str) -> np.ndarray:
        return np.flatnonzero(self.frame["part"].to_numpy() == part)

    @property
    def targets(self) -> Targets:
        if self._targets is None:
            raise RuntimeError("targets are made by finalise(), once unusable images are known")
        return self._targets

    def finalise(self, skipped: set[int]) -> None:
        """Take unusable images out of every part (rows stay, marked ``skipped``), make targets.

        Normalisation uses the usable training images only.
        """
        if skipped:
            parts = self.frame["part"].to_numpy().copy()
            parts[sorted(skipped)] = "skipped"
            self.frame["part"] = parts
        for part in PARTS:
            if len(self.rows(part)) == 0:
                raise BeautyError(
                    f"no usable image left in the {part} part after {len(skipped)} skip(s); "
                    "fix or remove the unreadable images"
                )
        frame, opts = self.frame, self.options
        self._targets = make_targets(
            frame["score"].to_numpy(float),
            frame["tier"].to_numpy(int),
            frame["part"].to_numpy() == "train",
            se=frame["se"].to_numpy(float) if opts.weight_by_se else None,
            classify_tier=opts.classify_tier,
        )

    @property
    def grouped_by(self) -> str:
        known = self.frame["day"].notna().sum()
        return "capture day" if known else "image (no capture times known)"

    def split_counts(self) -> dict[str, int]:
        return {str(k): int(v) for k, v in self.frame["part"].value_counts().sort_index().items()}


def reader_for(
    uris: list[str], region: str | None = None, endpoint_url: str | None = None
) -> Reader:
    """``read_bytes`` sharing one S3 client when any image lives on S3."""
    if not any(is_s3(u) for u in uris):
        return read_bytes
    from infra import aws

    client: Any = aws.client("s3", region=region, endpoint_url=endpoint_url)
    return partial(read_bytes, s3_client=client)


def prepare(ws: Workspace, scores_path: Path, options: TrainOptions) -> Prepared:
    """Load, check and split (64/16/20, by tier and capture day)."""
    table = load_scores(scores_path, ws.settings.ranking.tiers)
    ledger = ws.ledger if ws.ledger_path.exists() else None
    table = exclude_derived(table, ledger)
    check_size(table)
    frame = table.frame.copy()
    if options.weight_by_se and ("se" not in frame or frame["se"].isna().all()):
        raise BeautyError(f"{table.path}: no se column to weight by; drop --weight-by-se")
    if options.classify_tier is not None and not (frame["tier"] >= options.classify_tier).any():
        raise BeautyError(
            f"{table.path}: no image has tier {options.classify_tier} or more to classify"
        )
    uris = frame["uri"].tolist()
    read = reader_for(uris, ws.settings.s3.region, ws.settings.s3.endpoint_url)
    frame["day"] = capture_days(frame["image"].tolist(), uris, ledger, read, ws.settings.s3.workers)
    frame["part"] = split_parts(frame["tier"].to_numpy(), frame["day"].tolist(), options.seed)
    return Prepared(table=table, frame=frame, read=read, options=options)


def fractions() -> dict[str, float]:
    return dict(zip(PARTS, FRACTIONS, strict=True))
