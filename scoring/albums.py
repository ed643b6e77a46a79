"""Albums (``curate``): the best of a scored gallery as an album, a contact sheet and star ratings.

The album holds copies (or symbolic links) of the chosen photos named by rank
(``0001_<original name>``) and ``album.csv``; the contact sheet is ``contact-sheet.html`` (its
thumbnails in ``contact-sheet/``) and ``contact-sheet.png``. With XMP sidecars, each photo gets
``<file name>.xmp`` (the name darktable and digiKam look for) holding ``xmp:Rating``: the
gallery tier 0..3 as 1..4 stars.

The cut is either the top share or count of the gallery, or the score line that kept a given
recall of the true top 5% on the run's held-out images (its evaluation): a first-pass filter
whose skipped share of this gallery is then reported.
"""

from __future__ import annotations

import math
import os
import re
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from infra.atomic import atomic_folder
from infra.errors import BeautyError
from infra.progress import bar
from infra.settings import Settings
from infra.sources import is_s3, local_path
from infra.text import fit_file_name
from infra.workspace import Workspace
from scoring.contact_sheet import contact_sheet
from scoring.gallery import derived_ids, score_gallery
from scoring.table import default_table, read_scores
from scoring.xmp import stars, xmp_packet
from training.card import output_to_score, read_card
from training.data import Reader, reader_for
from training.metrics import top_mask

Progress = Callable[[str], None]
MANIFEST = "album.csv"
TOP_SHARE = 0.05  # the evaluation's "top": its reduction curve keeps recall of the true top 5%
ROUNDING = 1e-5  # relative slack of a score line


def parse_top(text: str) -> float | int:
    """``"5%"`` or ``"0.05"`` -> a share (float); ``"120"`` -> a count (int).

    Raises
    ------
    BeautyError
        When the text is neither, or out of range.
    """
    value = text.strip()
    try:
        if value.endswith("%"):
            share = float(value[:-1]) / 100
        elif re.fullmatch(r"\d+", value):
            count = int(value)
            if count < 1:
                raise ValueError
            return count
        else:
            share = float(value)
    except ValueError:
        share = math.nan
    if not 0 < share <= 1:
        raise BeautyError(f"--top {text}: give a share like 5% (or 0.05) or a count like 100")
    return share


@dataclass
class RecallCut:
    """The score line that kept ``recall`` of the true top 5% of the held-out images."""

    recall: float
    line: float
    heldout_images: int
    heldout_kept: int

    @property
    def heldout_reduction(self) -> float:
        return 1 - self.heldout_kept / self.heldout_images


def recall_cut(run_dir: str | Path, recall: float, *, progress: Progress = print) -> RecallCut:
    """The cut for ``recall`` from the run's evaluation (``evaluation/predictions.csv``).

    Evaluates the run first when it has no evaluation.

    Raises
    ------
    BeautyError
        When ``recall`` is not in (0, 1].
    """
    if not 0 < recall <= 1:
        raise BeautyError(f"--keep-recall {recall}: give a share of the top in (0, 1], e.g. 0.95")
    folder = Path(run_dir)
    path = folder / "evaluation" / "predictions.csv"
    if not path.is_file():
        from training.evaluate import evaluate

        progress(f"{folder.name} has no evaluation yet: evaluating it on its held-out images")
        evaluate(folder, progress=progress)
    frame = pd.read_csv(path)
    truth, pred = frame["score"].to_numpy(float), frame["prediction"].to_numpy(float)
    positive = top_mask(truth, TOP_SHARE)
    need = math.ceil(recall * positive.sum() - 1e-9)
    line = float(np.sort(pred[positive])[::-1][need - 1])
    score_line = float(output_to_score(read_card(folder), np.array([line]))[0])
    # A photo on the line itself must stay in when scored again in another batch, where the
    # float32 arithmetic rounds differently.
    score_line -= ROUNDING * (1 + abs(score_line))
    return RecallCut(recall, score_line, len(frame), int((pred >= line).sum()))


@dataclass
class Album:
    """A curated album and what it holds."""

    folder: Path
    photos: pd.DataFrame  # rank, file, image, uri, score, percentile, tier, stars
    gallery_images: int
    rule: str
    cut: RecallCut | None
    sheet_html: Path
    sheet_png: Path
    xmp_written: int = 0
    xmp_kept: list[Path] = field(default_factory=list)  # sidecars already there, left alone

    @property
    def skipped_share(self) -> float:
        """Share of the gallery the album leaves out."""
        return 1 - len(self.photos) / self.gallery_images


def curate(
    run_dir: str | Path,
    out: str | Path,
    *,
    top: float | int | None = None,
    keep_recall: float | None = None,
    gallery: str | None = None,
    scores: str | Path | None = None,
    workspace: Workspace | None = None,
    link: bool = False,
    xmp: bool = False,
    xmp_beside_originals: bool = False,
    batch_size: int = 16,
    progress: Progress = print,
) -> Album:
    """Pick the best of a scored gallery into ``out``: album, contact sheet, XMP sidecars.

    Parameters
    ----------
    run_dir : path
        The run whose scores to use.
    out : path
        The album folder: new, empty, or an earlier album (which is replaced).
    top : float or int
        A share of the gallery (0.05: the best 5%) or a count of photos; or else
    keep_recall : float
        Keep the photos above the line that kept this recall of the top 5% on held-out images.
    gallery, scores : optional
        The gallery (as for ``score_gallery``), or its scores table directly. Without a
        finished table for the gallery, it is scored first.
    link : bool
        Symbolic links to the originals instead of copies (local galleries only).
    xmp, xmp_beside_originals : bool
        Write star-rating sidecars beside the album's files, or beside the originals (never
        replacing a sidecar already there).
    """
    if (top is None) == (keep_recall is None):
        raise BeautyError("choose the cut: --top (e.g. 5%) or --keep-recall (e.g. 0.95)")
    frame = _gallery_scores(run_dir, gallery, scores, workspace, batch_size, progress)
    frame = frame[~frame["image"].isin(derived_ids(workspace))].sort_values("rank")
    cut = None
    if keep_recall is not None:
        cut = recall_cut(run_dir, keep_recall, progress=progress)
        chosen = frame[frame["score"] >= cut.line]
        rule = f"score >= {cut.line:.4g}: kept {keep_recall:.0%} of the held-out top 5%"
    elif isinstance(top, int):
        chosen, rule = frame.head(top), f"best {top}"
    else:
        chosen = frame.head(in_top_share(frame, float(top or 0)))
        line = 100 * (1 - float(top or 0))
        rule = f"best {float(top or 0) * 100:g}%, the photos at or above percentile {line:g}"
    folder = Path(out)
    s3 = (workspace.settings if workspace else Settings()).s3
    read = reader_for(chosen["uri"].tolist(), s3.region, s3.endpoint_url)
    _check_album_folder(folder)
    # Built whole beside the folder and moved into place: a failure (a full disk, a name the
    # file system refuses) leaves the earlier album as it was, never half of a new one.
    with atomic_folder(folder) as building:
        photos = _album(chosen, building, link, read)
        html_path, png_path = contact_sheet(
            photos["uri"].tolist(),
            photos["file"].tolist(),
            [
                f"score {r.score:.3f} · percentile {r.percentile:.1f} · {r.stars} stars"
                for r in photos.itertuples()
            ],
            building,
            f"Album: {rule}",
            read,
            order="best first (highest predicted score)",
            divider=_top_line(frame, len(photos)),
        )
        if xmp and not xmp_beside_originals:
            _sidecars(
                Album(building, photos, len(frame), rule, cut, html_path, png_path),
                beside_originals=False,
            )
    album = Album(
        folder, photos, len(frame), rule, cut, folder / html_path.name, folder / png_path.name
    )
    album.xmp_written = len(photos) if xmp and not xmp_beside_originals else 0
    if xmp_beside_originals:
        _sidecars(album, beside_originals=True)
    return album


def in_top_share(frame: pd.DataFrame, share: float) -> int:
    """How many of ``frame``'s best photos (sorted best first) are its top ``share``: those at
    or above percentile ``100 * (1 - share)`` of the table, as its captions print it, so "top 5%"
    never holds a photo at percentile 94.9; at least one."""
    line = 100 * (1 - share) - 1e-9  # the percentile column is float arithmetic
    return max(1, int((frame["percentile"].to_numpy(float) >= line).sum()))


def _top_line(frame: pd.DataFrame, photos: int) -> tuple[int, str] | None:
    """Where the gallery's top 5% ends among an album of its best ``photos``, if it ends there
    (the line after that many photos, and its label); None when the album ends first."""
    above = int((frame["percentile"].to_numpy(float) >= 100 * (1 - TOP_SHARE) - 1e-9).sum())
    if above == 0 or above > photos:
        return None
    return above, (
        f"the gallery's top {TOP_SHARE:.0%} ends here: above the line, the {above} photo(s) "
        f"at or above percentile {100 * (1 - TOP_SHARE):g} of predicted score"
    )


def _gallery_scores(
    run_dir: str | Path,
    gallery: str | None,
    scores: str | Path | None,
    workspace: Workspace | None,
    batch_size: int,
    progress: Progress,
) -> pd.DataFrame:
    if scores is not None:
        return read_scores(scores)[0]
    table = default_table(run_dir, gallery)
    try:
        return read_scores(table)[0]
    except BeautyError:
        progress(f"no finished scores for this gallery yet: scoring it into {table}")
    result = score_gallery(
        run_dir, gallery, workspace=workspace, batch_size=batch_size, progress=progress
    )
    return result.table


def _album(chosen: pd.DataFrame, folder: Path, link: bool, read: Reader) -> pd.DataFrame:
    """Copy or link the chosen photos into ``folder`` by rank; replaces an earlier album."""
    uris = chosen["uri"].tolist()
    if link and any(is_s3(u) for u in uris):
        raise BeautyError("--link needs local originals; the album of an S3 gallery is copies")
    missing = [u for u in uris if not is_s3(u) and not local_path(u).is_file()]
    if missing:
        raise BeautyError(f"{missing[0]} is gone since it was scored; run `beauty score` again")
    digits = max(4, len(str(len(uris))))
    photos = chosen[["image", "uri", "score", "percentile", "tier"]].reset_index(drop=True)
    photos.insert(0, "rank", np.arange(1, len(photos) + 1))
    room = 240 - digits - 1  # the file system's name limit, less the rank prefix
    photos.insert(
        1,
        "file",
        [f"{i:0{digits}d}_{fit_file_name(_name(u), room)}" for i, u in enumerate(uris, 1)],
    )
    photos["stars"] = [stars(t) for t in photos["tier"]]
    meter = bar(len(photos), desc="album")
    for uri, name in zip(uris, photos["file"], strict=True):
        target = folder / name
        if link:
            os.symlink(local_path(uri).resolve(), target)
        elif is_s3(uri):
            target.write_bytes(read(uri))
        else:
            shutil.copy2(local_path(uri), target)
        meter.update(1)
    meter.close()
    photos.to_csv(folder / MANIFEST, index=False)
    return photos


def _check_album_folder(folder: Path) -> None:
    """An album goes to a new or empty folder, or replaces an earlier album whole."""
    if folder.exists() and any(folder.iterdir()) and not (folder / MANIFEST).is_file():
        raise BeautyError(
            f"{folder} is not empty and holds no album ({MANIFEST}); choose a new or empty folder"
        )


def _name(uri: str) -> str:
    return uri.rstrip("/").rsplit("/", 1)[-1]


def _sidecars(album: Album, *, beside_originals: bool) -> None:
    """Write the album's sidecars; beside originals, never over one that is already there."""
    if beside_originals and any(is_s3(u) for u in album.photos["uri"]):
        raise BeautyError("sidecars beside the originals need a local gallery; use --xmp")
    photos = album.photos
    for uri, file, rating in zip(photos["uri"], photos["file"], photos["stars"], strict=True):
        image = local_path(str(uri)) if beside_originals else album.folder / str(file)
        sidecar = image.with_name(image.name + ".xmp")
        if beside_originals and sidecar.exists():
            album.xmp_kept.append(sidecar)
            continue
        sidecar.write_bytes(xmp_packet(int(rating)))
        album.xmp_written += 1
