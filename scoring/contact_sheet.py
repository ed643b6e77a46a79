"""The contact sheet: photos as captioned thumbnails, for a person to look through.

Curating an album and finding similar photos both end in one, so it has a module of its own:
``contact-sheet.html`` shows every photo (its thumbnails in ``contact-sheet/``), and
``contact-sheet.png`` the first :data:`PNG_LIMIT` in a single image.
"""

from __future__ import annotations

import html
import io
import math
import shutil
from collections.abc import Sequence
from functools import partial
from pathlib import Path

from PIL import Image, ImageDraw, ImageFont

from infra.images import load_rgb
from infra.progress import bar
from infra.sources import read_bytes, read_many
from training.data import Reader

SHEET = "contact-sheet"
# Thumbnails are sized by height so a 237x1820 panorama is as readable as a 4:3 photo; very
# wide ones are capped by width.
THUMB_HEIGHT = 200
THUMB_MAX_WIDTH = 1400
SHEET_WIDTH = 1600  # pixels of the PNG sheet; it shows the first PNG_LIMIT photos
PNG_LIMIT = 60


def contact_sheet(
    uris: Sequence[str],
    titles: Sequence[str],
    notes: Sequence[str],
    folder: Path,
    heading: str,
    read: Reader = read_bytes,
    *,
    order: str,
) -> tuple[Path, Path]:
    """``contact-sheet.html`` (all photos, thumbnails in ``contact-sheet/``) and
    ``contact-sheet.png`` (the first :data:`PNG_LIMIT`) in ``folder``, in the order given,
    which ``order`` states in words for the reader ("best first", "nearest first")."""
    thumbs_dir = folder / SHEET
    shutil.rmtree(thumbs_dir, ignore_errors=True)
    thumbs_dir.mkdir(parents=True)
    thumbs: list[Image.Image | None] = []
    cells = []
    meter = bar(len(uris), desc="thumbnails")
    results = read_many(partial(_thumbnail_jpeg, read=read), uris, workers=4)
    for i, ((_, data), title, note) in enumerate(zip(results, titles, notes, strict=True), 1):
        if isinstance(data, Exception):
            thumbs.append(None)
            image = "<div class=missing>unreadable</div>"
        else:
            (thumbs_dir / f"{i:05d}.jpg").write_bytes(data)
            thumbs.append(_png_cell(data) if i <= PNG_LIMIT else None)
            image = f'<img loading="lazy" src="{SHEET}/{i:05d}.jpg" alt="">'
        cells.append(
            f"<figure>{image}<figcaption><b>{html.escape(title)}</b><br>"
            f"{html.escape(note)}</figcaption></figure>"
        )
        meter.update(1)
    meter.close()
    page = (
        '<!doctype html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{html.escape(heading)}</title><style>"
        "body{font-family:sans-serif;margin:1.5em;color:#222;background:#fafafa}"
        "main{display:flex;flex-wrap:wrap;gap:14px}figure{margin:0;max-width:100%}"
        f"img{{max-width:100%;height:auto;max-height:{THUMB_HEIGHT}px;display:block}}"
        "figcaption{font-size:13px;padding-top:4px}.missing{width:240px;height:80px;"
        "background:#ddd;display:flex;align-items:center;justify-content:center}"
        f"</style></head><body><h1>{html.escape(heading)}</h1>"
        f"<p>{len(cells)} photo(s), {html.escape(order)}.</p><main>\n"
        + "\n".join(cells)
        + "\n</main></body></html>\n"
    )
    html_path = folder / f"{SHEET}.html"
    html_path.write_text(page, encoding="utf-8")
    png_path = folder / f"{SHEET}.png"
    _sheet_png(thumbs[:PNG_LIMIT], titles[:PNG_LIMIT], notes[:PNG_LIMIT]).save(png_path)
    return html_path, png_path


def _thumbnail_jpeg(uri: str, read: Reader) -> bytes:
    image = load_rgb(read(uri))
    width = min(THUMB_MAX_WIDTH, round(image.width * THUMB_HEIGHT / max(1, image.height)))
    image.thumbnail((max(1, width), THUMB_HEIGHT))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def _png_cell(data: bytes) -> Image.Image:
    """A thumbnail at most half the sheet wide: two panoramas a row keep the PNG of
    :data:`PNG_LIMIT` photos a few thousand pixels tall and a few megabytes."""
    cell = Image.open(io.BytesIO(data))
    cell.thumbnail((SHEET_WIDTH // 2 - 15, THUMB_HEIGHT))
    return cell


def _sheet_png(
    thumbs: Sequence[Image.Image | None], titles: Sequence[str], notes: Sequence[str]
) -> Image.Image:
    """A grid of thumbnails with two caption lines each, on white."""
    font = ImageFont.load_default(size=14)
    sizes = [t.size for t in thumbs if t is not None] or [(240, 80)]
    cell_w = max(w for w, _ in sizes)
    cell_h = max(h for _, h in sizes) + 40
    columns = max(1, min(len(thumbs), SHEET_WIDTH // (cell_w + 10)))
    rows = max(1, math.ceil(len(thumbs) / columns))
    sheet = Image.new("RGB", (columns * (cell_w + 10) + 10, rows * (cell_h + 10) + 10), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (thumb, title, note) in enumerate(zip(thumbs, titles, notes, strict=True)):
        x = 10 + (i % columns) * (cell_w + 10)
        y = 10 + (i // columns) * (cell_h + 10)
        if thumb is None:
            draw.rectangle((x, y, x + cell_w, y + cell_h - 40), fill="#dddddd")
        else:
            sheet.paste(thumb.convert("RGB"), (x, y))
        draw.text((x, y + cell_h - 38), title, fill="black", font=font)
        draw.text((x, y + cell_h - 20), note, fill="#444444", font=font)
    return sheet
