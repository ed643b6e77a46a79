"""What simulated and replayed crowds know: a hidden truth, or a campaign's recorded votes.

Both are read from CSV files whose images are named as outside data names them (ledger id, URI or
an unambiguous file name) and resolved to ledger ids here.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from infra.errors import BeautyError
from infra.gallery import derived_images, resolve_images
from infra.ledger import Ledger
from infra.text import display_name

# A made-gold variant is a destroyed photo: its truth is this far under its original's, or under
# the gallery's median when the original is better (the damage leaves nothing of a great view),
# so that even the least discerning honest simulated worker (s = 0.5, ranking.crowd.HONEST_SKILL)
# prefers an ordinary photo to it 19 times in 20 (sigmoid(0.5 * 6) = 0.95).
VARIANT_PENALTY = 6.0


def variant_truth(original: float, median: float) -> float:
    """A made-gold variant's simulated beauty: :data:`VARIANT_PENALTY` under the lower of its
    original's and the gallery's median."""
    return min(original, median) - VARIANT_PENALTY


def load_truth(ledger: Ledger, path: Path, required: Iterable[str] = ()) -> dict[str, float]:
    """Hidden beauty by image id; made-gold variants get :func:`variant_truth`.

    Raises
    ------
    BeautyError
        An unreadable table, or ``required`` images (those a crowd is about to see) it lacks.
    """
    table = _read_csv(path, {"image", "beauty"})
    beauty = pd.to_numeric(table["beauty"], errors="coerce")
    if not np.isfinite(beauty.to_numpy(dtype=float)).all():
        raise BeautyError(f"{path}: column beauty must hold a finite number on every row")
    table = table.assign(beauty=beauty)
    ids = resolve_images(ledger, table["image"])
    truth = {ids[str(n)]: float(b) for n, b in zip(table["image"], table["beauty"], strict=True)}
    median = float(table["beauty"].astype(float).median()) if len(table) else 0.0
    for variant, original in derived_images(ledger).items():
        if original in truth:
            truth[variant] = variant_truth(truth[original], median)
    missing = [image for image in required if image not in truth]
    if missing:
        raise BeautyError(
            f"{path}: no beauty for {len(missing)} image(s) shown in open batches "
            f"(e.g. {missing[0]}); give a truth table covering the gallery"
        )
    return truth


def load_votes(ledger: Ledger, path: Path) -> pd.DataFrame:
    """Recorded votes with their images resolved to ids (``label`` empty for a tie)."""
    votes = _read_csv(path, {"worker", "left", "right", "label"})
    label = votes["label"].fillna("").astype(str)
    names = pd.concat([votes["left"], votes["right"], label[label != ""]]).astype(str)
    ids = resolve_images(ledger, names)
    return pd.DataFrame(
        {
            "worker": votes["worker"].astype(str),
            "left": votes["left"].astype(str).map(ids),
            "right": votes["right"].astype(str).map(ids),
            "label": label.map(lambda n: ids.get(n, "")),
        }
    )


def _read_csv(path: Path, columns: set[str]) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        detail = " ".join(str(exc).split())[:160]
        raise BeautyError(f"{display_name(str(path))}: cannot read it as CSV ({detail})") from None
    missing = columns - set(table.columns)
    if missing:
        raise BeautyError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
    return table
