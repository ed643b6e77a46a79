"""Gold items: known-answer screens, from an expert's comparisons or made by degrading photos.

Expert gold comes from a CSV of pairs (``left, right, label``, label = the expected winner).
Made gold degrades a gallery photo (blur, under- or over-exposure, noise, a dead frame): the
original must win. Each made variant gives a pair gold item and a 4-up one (the original, its
variant and two other photos); a share of them is kept apart for the qualification test.
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
    """Gaussian blur of about 2% of the short side: the detail goes, the scene stays."""
    radius = max(2.0, min(img.size) * rng.uniform(0.015, 0.025))
    return img.filter(ImageFilter.GaussianBlur(radius)), f"blur radius={radius:.1f}"


def underexpose(img: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    """Two stops or more under: most of the picture sinks into shadow."""
    gain = rng.uniform(0.15, 0.3)
    return _from_array(np.asarray(img, dtype=np.float32) * gain), f"underexposed gain={gain:.2f}"


def overexpose(img: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    """Over by more than a stop, plus flare: highlights burn out to white."""
    gain = rng.uniform(2.2, 3.0)
    pixels = np.asarray(img, dtype=np.float32) * gain + 40.0
    return _from_array(pixels), f"overexposed gain={gain:.2f}"


def add_noise(img: Image.Image, rng: np.random.Generator) -> tuple[Image.Image, str]:
    """Heavy sensor noise, as from a dark scene at high gain."""
    sigma = rng.uniform(35.0, 50.0)
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


def _from_array(pixels: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(pixels), 0, 255).astype(np.uint8), "RGB")


def make_gold(
    ws: Workspace,
    count: int,
    *,
    seed: int = 0,
    qualification_share: float = 0.2,
    s3_client: Any = None,
) -> MadeGold:
    """Degrade ``count`` gallery photos into gold: the original must beat its variant.

    Originals are drawn at random from the gallery (never from derived images), cycling
    through the degradations. Each variant is written under ``<workspace>/derived`` in its
    original's format and size (so that no file name, extension or shape sets it apart) and
    registered as derived from its original. It gives a pair gold item and, when the gallery
    has three or more photos, a 4-up item with two other photos. The first
    ``round(count * qualification_share)`` variants go to the qualification pool.
    """
    if count < 1:
        raise BeautyError("--count must be at least 1")
    if not 0 <= qualification_share < 1:
        raise BeautyError("the qualification share must be in [0, 1)")
    ledger = ws.ledger
    originals = ledger.query(
        "SELECT id, uri, format FROM images WHERE derived_from IS NULL ORDER BY id"
    )
    if len(originals) < 2:
        raise BeautyError(
            f"made gold needs at least 2 gallery images, found {len(originals)}: "
            "run `beauty images add DIR`"
        )
    rng = np.random.default_rng(seed)
    order = np.concatenate(
        [rng.permutation(len(originals)) for _ in range(-(-count // len(originals)))]
    )[:count]
    kinds = list(DEGRADATIONS)
    start = int(rng.integers(len(kinds)))
    n_qualification = round(count * qualification_share)
    out_dir = ws.root / DERIVED_DIR
    out_dir.mkdir(exist_ok=True)
    variants = pairs = fourups = qualification = known = 0
    progress = bar(count, desc="making gold")
    for k, pick in enumerate(order.tolist()):
        original = originals[pick]
        kind = kinds[(start + k) % len(kinds)]
        data, info, derivation = _variant(ws, original, kind, rng, s3_client)
        # two other photos for the 4-up item, drawn among the rest (skipping the original's own
        # index) before anything is skipped, so that a seed always gives the same gold
        drawn = rng.choice(len(originals) - 1, size=min(2, len(originals) - 1), replace=False)
        two = [originals[i + (i >= pick)]["id"] for i in drawn.tolist()]
        progress.update(1)
        if ledger.scalar("SELECT 1 FROM images WHERE id = ?", (info.id,)):
            known += 1  # this very variant exists: its gold does too
            continue
        path = out_dir / f"{info.id}.{EXTENSIONS[info.format]}"
        path.write_bytes(data)
        pool: Pool = "qualification" if k < n_qualification else "hits"
        with ledger.transaction() as conn:
            register_derived(
                ledger, str(path), data, info, original=original["id"], derivation=derivation
            )
            _insert_gold(
                conn, "pair", "made", [original["id"], info.id], original["id"], info.id, pool, None
            )
            pairs += 1
            if len(two) == 2:
                _insert_gold(
                    conn,
                    "fourup",
                    "made",
                    [original["id"], info.id, *two],
                    original["id"],
                    info.id,
                    pool,
                    None,
                )
                fourups += 1
        variants += 1
        qualification += pool == "qualification"
    progress.close()
    return MadeGold(variants, pairs, fourups, qualification, known)


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
