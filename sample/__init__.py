"""A procedural sample gallery: Space Needle skyline panoramas with a known, hidden beauty.

Each frame is the real city (an overcast photo from the camera, shipped in ``assets/`` under
its MIT licence) under a synthetic sky, light and weather for its date and time, with the odd
camera fault. ``truth.csv`` records every factor and the beauty they add up to, so a crowd's
ranking and a trained model can be checked against the truth.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from infra.images import DATETIME_ORIGINAL, EXIF_IFD, OFFSET_TIME_ORIGINAL
from sample.compose import Scene, render
from sample.schedule import LOCAL, PLAN_COLUMNS, plan_frames
from sample.taste import beauty

__all__ = ["TRUTH_COLUMNS", "generate_gallery"]

TRUTH_COLUMNS = ["image", "beauty", *PLAN_COLUMNS[1:]]
JPEG_QUALITY = 88


def generate_gallery(
    out_dir: Path,
    count: int,
    seed: int,
    progress: Callable[[int], None] | None = None,
) -> pd.DataFrame:
    """Write ``count`` 1820x237 JPEG panoramas and ``truth.csv`` into ``out_dir``.

    Parameters
    ----------
    out_dir : created if missing; existing files of the same names are overwritten.
    count : number of frames (0 writes an empty truth table).
    seed : non-negative; the same seed gives byte-identical files and truth.
    progress : called with the number of frames written so far, after each one.

    Returns
    -------
    The truth table, one row per file in time order: ``image`` (file name, named by its local
    capture time), ``beauty`` (hidden, higher is better, about N(0, 1.5²) with a long upper
    tail), ``taken_at`` (ISO 8601 UTC), ``day`` (local date: frames of a day look alike) and
    the factors: ``time_of_day`` (night | dawn | day | sunset), sun elevation and azimuth,
    ``weather`` (the day's regime), ``clouds``, ``texture``, ``colour``, ``haze``, ``rain`` and
    ``fault`` (none | dead | overexposed | blur | smear).
    """
    if count < 0:
        raise ValueError(f"count must be 0 or more, got {count}")
    if seed < 0:
        raise ValueError(f"seed must be 0 or more, got {seed}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    frames = plan_frames(count, rng)
    frames["beauty"] = beauty(frames, rng)
    frame_seeds = rng.integers(0, 2**63, size=len(frames))
    for done, (row, frame_seed) in enumerate(
        zip(frames.to_dict("records"), frame_seeds, strict=True), start=1
    ):
        day = int(str(row["day"]).replace("-", ""))
        day_seed = int(np.random.SeedSequence([seed, day]).generate_state(1)[0])
        picture = render(Scene.from_row(row), np.random.default_rng(frame_seed), day_seed)
        picture.save(
            out_dir / str(row["image"]), "JPEG", quality=JPEG_QUALITY, exif=_exif(row["taken_at"])
        )
        if progress is not None:
            progress(done)
    truth = frames[TRUTH_COLUMNS].reset_index(drop=True)
    truth.to_csv(out_dir / "truth.csv", index=False)
    return truth


def _exif(taken_at: str) -> Image.Exif:
    """What a camera writes: the local capture time and its UTC offset (EXIF 2.31)."""
    moment = datetime.fromisoformat(taken_at.replace("Z", "+00:00")).astimezone(LOCAL)
    offset = moment.strftime("%z")
    exif = Image.Exif()
    ifd = exif.get_ifd(EXIF_IFD)
    ifd[DATETIME_ORIGINAL] = moment.strftime("%Y:%m:%d %H:%M:%S")
    ifd[OFFSET_TIME_ORIGINAL] = f"{offset[:3]}:{offset[3:]}"
    return exif
