"""From a scores table to what training needs: rows, parts, targets, a reader for the images."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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
from training.split import PARTS, shares, split_parts
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
    skipped: set[int] = field(default_factory=set)

    def rows(self, part: str) -> np.ndarray:
        return np.flatnonzero(self.frame["part"].to_numpy() == part)

    @property
    def targets(self) -> Targets:
        if self._targets is None:
            raise RuntimeError("targets are made by finalise(), once unusable images are known")
        return self._targets

    def finalise(self, skipped: set[int], parts: np.ndarray | None = None) -> None:
        """Take unusable images out of every part (rows stay, marked ``skipped``), make targets.

        ``parts`` replaces the current assignment first (a fold's, or the final model's without
        a test part). Normalisation uses the usable training images only.
        """
        self.skipped = set(skipped) | self.skipped
        if parts is not None:
            self.frame["part"] = np.asarray(parts, dtype=object)
        if self.skipped:
            marked = self.frame["part"].to_numpy().copy()
            marked[sorted(self.skipped)] = "skipped"
            self.frame["part"] = marked
        needed = PARTS if (self.frame["part"] == "test").any() or parts is None else PARTS[:2]
        for part in needed:
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
        """How the split kept near-duplicates apart, with how many photos had a date."""
        usable = self.frame["part"] != "skipped"
        known = int(self.frame.loc[usable, "day"].notna().sum())
        total = int(usable.sum())
        if not known:
            return "image (no photo has a capture date; split at random)"
        days = int(self.frame.loc[usable, "day"].nunique())
        if known == total:
            return f"capture day ({days} days)"
        return (
            f"capture day for the {known} of {total} photos with a date, {days} days; "
            "the rest at random"
        )

    def groups(self) -> int:
        """Groups a split keeps whole: capture days, and each photo of unknown day."""
        day = self.frame["day"]
        return int(day.nunique() + day.isna().sum())

    def usable_rows(self) -> np.ndarray:
        return np.flatnonzero(self.frame["part"].to_numpy() != "skipped")

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
    fractions = shares(options.val_share, options.test_share)
    frame["part"] = split_parts(
        frame["tier"].to_numpy(), frame["day"].tolist(), options.seed, fractions
    )
    return Prepared(table=table, frame=frame, read=read, options=options)


def fold_parts(prepared: Prepared, folds: np.ndarray, fold: int | None) -> np.ndarray:
    """Parts for fold ``fold`` (its images the test part) or, with None, for the final model
    (no test part); the rest split into training and validation by day, by the validation
    share (of the images left)."""
    opts = prepared.options
    frame = prepared.frame
    rest = np.ones(len(frame), bool) if fold is None else folds != fold
    held = 0.0 if fold is None else 1.0 / (int(folds.max()) + 1)
    val = min(0.5, opts.val_share / (1.0 - held))
    parts = np.full(len(frame), "test", dtype=object)
    parts[rest] = split_parts(
        frame["tier"].to_numpy()[rest],
        [d for d, r in zip(frame["day"].tolist(), rest, strict=True) if r],
        opts.seed + (0 if fold is None else fold + 1),
        (1.0 - val, val),
        ("train", "val"),
    )
    return parts


def fractions(options: TrainOptions) -> dict[str, float]:
    values = shares(options.val_share, options.test_share)
    return dict(zip(PARTS, values, strict=True))
