"""Gold items: known-answer screens, from an expert's comparisons or made by degrading photos.

Expert gold comes from a CSV of pairs (``left, right, label``, label = the expected winner).
Made gold destroys a good gallery photo (strong blur, crushed or blown exposure, heavy noise, a
dead frame) and shows the result beside *other* good photos, never beside its own original:
the good photo must win a pair, and a 4-up screen's variants must be dropped. A share of the
items is kept apart for the qualification test.
"""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd
from PIL import Image, ImageFilter

from infra.errors import BeautyError
from infra.gallery import register_derived, resolve_images
from infra.images import EXTENSIONS, ImageInfo, inspect_image, load_rgb
from infra.ledger import Ledger, utcnow
from infra.progress import bar
from infra.sources import read_bytes
from infra.workspace import Workspace
from ranking.gold import GoldScreen, made_gold_screens

Pool = Literal["hits", "qualification"]
GOLD_COLUMNS = ("left", "right", "label")
DERIVED_DIR = "derived"


@dataclass(frozen=True)
class GoldImport:
    """Expert gold read from a file: items added, and rows already known as gold."""

    added: int
    known: int


@dataclass(frozen=True)
class MadeGold:
    """Made gold: new variants, the gold items made of them, and variants already known."""

    variants: int
    pair_items: int
    fourup_items: int
    qualification: int
    known: int


def add_expert_gold(
    ws: Workspace, path: Path, *, pool: Pool = "hits", author: str | None = None
) -> GoldImport:
    """Import pair gold from a CSV with columns ``left, right, label`` (label = the winner).

    Images may be named by ledger id, URI or unambiguous file name. The file is checked whole
    before anything is written: one bad row or unknown image and nothing is imported.
    """
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (OSError, ValueError) as exc:
        detail = " ".join(str(exc).split())[:160]
        raise BeautyError(f"{path}: cannot read it as CSV ({detail})") from None
    table.columns = [str(c).strip().lower() for c in table.columns]
    missing = [c for c in GOLD_COLUMNS if c not in table.columns]
    if missing:
        raise BeautyError(
            f"{path}: missing column(s) {', '.join(missing)}; expected a header "
            "left,right,label (label = the expected winner)"
        )
    rows = table[list(GOLD_COLUMNS)].map(str.strip)
    if rows.empty:
        raise BeautyError(f"{path}: no rows; add pairs as left,right,label")
    ids = resolve_images(ws.ledger, {name for name in rows.to_numpy().ravel() if name})
    items: list[tuple[list[str], str, str]] = []
    for line, (left, right, label) in enumerate(rows.itertuples(index=False), start=2):
        if not (left and right and label):
            raise BeautyError(f"{path} line {line}: left, right and label all need a value")
        a, b, winner = ids[left], ids[right], ids[label]
        if a == b:
            raise BeautyError(f"{path} line {line}: left and right are the same image")
        if winner not in (a, b):
            raise BeautyError(f"{path} line {line}: label {label!r} is neither left nor right")
        items.append(([a, b], winner, b if winner == a else a))
    known = _known_pairs(ws.ledger)
    _refuse_contradictions(path, items, known)
    added = 0
    with ws.ledger.transaction() as conn:
        for images, keep, drop in items:
            key = (frozenset(images), keep)
            if key in known:
                continue
            known.add(key)
            _insert_gold(conn, "pair", "expert", images, keep, drop, pool, author)
            added += 1
    return GoldImport(added=added, known=len(items) - added)


def _refuse_contradictions(
    path: Path,
    items: list[tuple[list[str], str, str]],
    known: set[tuple[frozenset[str], str]],
) -> None:
    """One winner per pair: gold that says a beats b and b beats a grades every answer wrong."""
    winners: dict[frozenset[str], str] = {pair: keep for pair, keep in known}
    for line, (images, keep, drop) in enumerate(items, start=2):
        pair = frozenset(images)
        other = winners.setdefault(pair, keep)
        if other != keep:
            where = "another row of the file" if (pair, other) not in known else "existing gold"
            raise BeautyError(
                f"{path} line {line}: {keep} beats {drop} here, but {where} says the opposite; "
                "keep one answer per pair (nothing was imported)"
            )


def _known_pairs(ledger: Ledger) -> set[tuple[frozenset[str], str]]:
    rows = ledger.query("SELECT images, must_keep FROM gold_items WHERE kind = 'pair'")
    return {(frozenset(json.loads(r[0])), json.loads(r[1])[0]) for r in rows}


def _insert_gold(
    conn: sqlite3.Connection,
    kind: str,
    source: str,
    images: list[str],
    keep: str,
    drop: str,
    pool: Pool,
    author: str | None,
) -> None:
    conn.execute(
        "INSERT INTO gold_items (kind, source, images, must_keep, must_drop, pool, author, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            kind,
            source,
            json.dumps(images),
            json.dumps([keep]),
            json.dumps([drop]),
            pool,
            author,
            utcnow(),
        ),
    )


def blur(img: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    """Gaussian blur of 3-4% of the short side: the detail is gone, only shapes stay."""
    radius = max(3.0, min(img.size) * rng.uniform(0.03, 0.04))
    return img.filter(ImageFilter.GaussianBlur(radius)), f"blur radius={radius:.1f}"


def underexpose(img: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    """Crushed: three to four stops under, so the picture sinks into black and its shadows are
    lost (never a moody night shot: nothing in it can be made out)."""
    gain = rng.uniform(0.06, 0.12)
    pixels = np.asarray(img, dtype=np.float32) * gain
    return _from_array(np.floor(pixels / 4.0) * 4.0), f"underexposed gain={gain:.2f} (crushed)"


def overexpose(img: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    """Blown: far over, so most of the picture burns out to flat white and its colours wash
    away (never a brighter, prettier light)."""
    gain = rng.uniform(3.0, 4.0)
    grey = np.asarray(img, dtype=np.float32).mean(axis=2, keepdims=True)
    pixels = (0.3 * np.asarray(img, dtype=np.float32) + 0.7 * grey) * gain + 90.0
    return _from_array(pixels), f"overexposed gain={gain:.2f} (blown)"


def add_noise(img: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    """Heavy sensor noise, as from a dark scene at the highest gain: the grain hides the view."""
    sigma = rng.uniform(55.0, 75.0)
    pixels = np.asarray(img, dtype=np.float32)
    return _from_array(pixels + rng.normal(0.0, sigma, pixels.shape)), f"noise sigma={sigma:.0f}"


def dead_frame(img: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    """A frame from a camera that saw nothing: black, with a little read noise."""
    shape = np.asarray(img).shape
    return _from_array(rng.normal(6.0, 3.0, shape)), "dead-frame"


Degradation = Callable[[Image.Image, np.random.Generator], tuple[Image.Image, str]]
DEGRADATIONS: dict[str, Degradation] = {
    "blur": blur,
    "underexposed": underexpose,
    "overexposed": overexpose,
    "noise": add_noise,
    "dead-frame": dead_frame,
}

# What "good enough to be an original" means without scores: not near black or white, with
# some contrast and detail (a washed-out or pre-dawn frame is not a fair original).
LUMA_RANGE = (45.0, 210.0)  # mean luminance, 0-255
MIN_CONTRAST = 18.0  # standard deviation of luminance
MIN_DETAIL = 2.0  # mean absolute difference between neighbouring pixels
GOOD_QUANTILE = 0.5  # with scores: originals and companions from the upper half
BEST_QUANTILE = 0.95  # with scores: a 4-up gold screen requires keeping these
CHECKED_AT_MOST = 2000  # photos read for the checks, at random, in a large gallery


def _from_array(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")


def looks_fine(img: Image.Image) -> bool:
    """Exposure and detail checks: mean luminance inside :data:`LUMA_RANGE`, luminance spread
    over :data:`MIN_CONTRAST` and neighbouring-pixel detail over :data:`MIN_DETAIL` (measured
    on a copy at most 512 pixels wide)."""
    small = img.copy()
    small.thumbnail((512, 512))
    luma = np.asarray(small.convert("L"), dtype=np.float32)
    detail = (np.abs(np.diff(luma, axis=0)).mean() + np.abs(np.diff(luma, axis=1)).mean()) / 2
    return bool(
        LUMA_RANGE[0] <= luma.mean() <= LUMA_RANGE[1]
        and luma.std() >= MIN_CONTRAST
        and detail >= MIN_DETAIL
    )


@dataclass(frozen=True)
class GoodPhotos:
    """Photos fit to be made-gold originals and companions, and those known to be the best."""

    good: list[str]
    best: frozenset[str]
    how: str


def good_photos(ws: Workspace, rng: np.random.Generator, s3_client: Any = None) -> GoodPhotos:
    """The gallery photos made gold may use.

    With a scores table (``tables/scores.csv``, written by ``beauty rank``): photos at or above
    its median, and the top 5% as the best. Without one: photos that pass :func:`looks_fine`
    (none is known to be the best).
    """
    ledger = ws.ledger
    originals = [r[0] for r in ledger.query("SELECT id FROM images WHERE derived_from IS NULL")]
    table = ws.tables_dir / "scores.csv"
    if table.exists():
        scores = pd.read_csv(table, dtype={"image": str}).set_index("image")["score"]
        scores = scores[scores.index.isin(originals)]
        if len(scores) >= 2:
            good = sorted(scores[scores >= scores.quantile(GOOD_QUANTILE)].index)
            best = frozenset(scores[scores >= scores.quantile(BEST_QUANTILE)].index)
            return GoodPhotos(good, best, f"scored at or above the median ({table.name})")
    uris = {
        r[0]: r[1] for r in ledger.query("SELECT id, uri FROM images WHERE derived_from IS NULL")
    }
    order = sorted(originals)
    if len(order) > CHECKED_AT_MOST:
        order = sorted(rng.choice(order, CHECKED_AT_MOST, replace=False).tolist())
    good = []
    for image in order:
        try:
            img = load_rgb(read_bytes(uris[image], s3_client=s3_client))
        except Exception as exc:  # local and S3 sources fail with their own error types
            raise BeautyError(f"image {image}: cannot read {uris[image]} ({exc})") from None
        if looks_fine(img):
            good.append(image)
    return GoodPhotos(good, frozenset(), "passing the exposure and detail checks")


def make_gold(
    ws: Workspace,
    count: int,
    *,
    seed: int = 0,
    qualification_share: float = 0.2,
    s3_client: Any = None,
) -> MadeGold:
    """Degrade ``count`` good gallery photos into gold that an honest person passes.

    Originals are drawn from :func:`good_photos` (above the median score, or passing the
    exposure and detail checks), cycling through the degradations, each of which destroys the
    photo beyond any reading as a style. Each variant is written under ``<workspace>/derived``
    in its original's format and size (so that no file name, extension or shape sets it apart)
    and registered as derived from its original. It never shares a screen with its original
    (:func:`ranking.gold.made_gold_screens`): its pair gold item sets it against another good
    photo (which must win); its 4-up item shows it with the next variant of this run and two
    other good photos (both variants must be dropped; a good photo must be kept only when the
    scores put it among the best). The first ``round(count * qualification_share)`` variants
    go to the qualification pool.
    """
    if count < 1:
        raise BeautyError("--count must be at least 1")
    if not 0 <= qualification_share < 1:
        raise BeautyError("the qualification share must be in [0, 1)")
    ledger = ws.ledger
    rng = np.random.default_rng(seed)
    photos = good_photos(ws, rng, s3_client)
    if len(photos.good) < 2:
        raise BeautyError(
            f"made gold needs at least 2 good gallery photos ({photos.how}), found "
            f"{len(photos.good)}: run `beauty images add DIR`"
        )
    rows = {
        r["id"]: r
        for r in ledger.query("SELECT id, uri, format FROM images WHERE derived_from IS NULL")
    }
    good = photos.good
    order = np.concatenate([rng.permutation(len(good)) for _ in range(-(-count // len(good)))])[
        :count
    ]
    kinds = list(DEGRADATIONS)
    start = int(rng.integers(len(kinds)))
    n_qualification = round(count * qualification_share)
    out_dir = ws.root / DERIVED_DIR
    out_dir.mkdir(exist_ok=True)
    made: list[tuple[str, str, Pool]] = []  # (variant, original, pool) of new variants
    known = 0
    progress = bar(count, desc="making gold")
    for k, pick in enumerate(order.tolist()):
        original = rows[good[pick]]
        kind = kinds[(start + k) % len(kinds)]
        data, info, derivation = _variant(ws, original, kind, rng, s3_client)
        progress.update(1)
        if ledger.scalar("SELECT 1 FROM images WHERE id = ?", (info.id,)):
            known += 1  # this very variant exists: its gold does too
            continue
        path = out_dir / f"{info.id}.{EXTENSIONS[info.format]}"
        path.write_bytes(data)
        register_derived(
            ledger, str(path), data, info, original=original["id"], derivation=derivation
        )
        made.append((info.id, original["id"], "qualification" if k < n_qualification else "hits"))
    progress.close()
    pairs = fourups = 0
    with ledger.transaction() as conn:
        for k, (variant, source, pool) in enumerate(made):
            # the partner: the next variant of the same pool made in this run, if any
            same = [m for m in made if m[2] == pool and m[0] != variant]
            partner = None
            if same:
                nxt = made[(k + 1) % len(made)]
                chosen = nxt if nxt[2] == pool and nxt[0] != variant else same[0]
                partner = (chosen[0], chosen[1])
            pair, fourup = made_gold_screens(variant, source, good, rng, photos.best, partner)
            for kind_name, screen in (("pair", pair), ("fourup", fourup)):
                if screen is None:
                    continue
                _insert_screen(conn, kind_name, screen, pool)
                pairs += kind_name == "pair"
                fourups += kind_name == "fourup"
    qualification = sum(m[2] == "qualification" for m in made)
    return MadeGold(len(made), pairs, fourups, qualification, known)


def _insert_screen(conn: sqlite3.Connection, kind: str, screen: GoldScreen, pool: Pool) -> None:
    conn.execute(
        "INSERT INTO gold_items (kind, source, images, must_keep, must_drop, pool, author, "
        "created_at) VALUES (?, 'made', ?, ?, ?, ?, NULL, ?)",
        (
            kind,
            json.dumps(list(screen.images)),
            json.dumps(list(screen.must_keep)),
            json.dumps(list(screen.must_drop)),
            pool,
            utcnow(),
        ),
    )


def _variant(
    ws: Workspace, original: sqlite3.Row, kind: str, rng: np.random.Generator, s3_client: Any
) -> tuple[bytes, ImageInfo, str]:
    """A degraded copy of ``original``, encoded like it: (bytes, ImageInfo, derivation)."""
    uri = original["uri"]
    try:
        source = read_bytes(uri, s3_client=s3_client)
    except Exception as exc:  # local and S3 sources fail with their own error types
        raise BeautyError(f"image {original['id']}: cannot read {uri} ({exc})") from None
    img, derivation = DEGRADATIONS[kind](load_rgb(source), rng)
    buffer = io.BytesIO()
    fmt = original["format"]
    img.save(buffer, format=fmt, **({"quality": 90} if fmt in ("JPEG", "WEBP") else {}))
    data = buffer.getvalue()
    info = inspect_image(data, f"variant.{EXTENSIONS[fmt]}", ws.settings.images.max_pixels)
    return data, info, derivation
