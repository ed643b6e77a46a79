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
    divider: tuple[int, str] | None = None,
) -> tuple[Path, Path]:
    """``contact-sheet.html`` (all photos, thumbnails in ``contact-sheet/``) and
    ``contact-sheet.png`` (the first :data:`PNG_LIMIT`) in ``folder``, in the order given,
    which ``order`` states in words for the reader ("best first", "nearest first").
    ``divider`` (count, label) draws a labelled red line after the first ``count`` photos."""
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
        if divider is not None and i == divider[0]:
            cells.append(f'<p class="line">{html.escape(divider[1])}</p>')
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
        ".line{flex-basis:100%;margin:0;border-top:3px solid #c33;color:#c33;font-size:13px}"
        f"</style></head><body><h1>{html.escape(heading)}</h1>"
        f"<p>{len(uris)} photo(s), {html.escape(order)}.{_line_note(divider)}</p><main>\n"
        + "\n".join(cells)
        + "\n</main></body></html>\n"
    )
    html_path = folder / f"{SHEET}.html"
    html_path.write_text(page, encoding="utf-8")
    png_path = folder / f"{SHEET}.png"
    sheet = _sheet_png(thumbs[:PNG_LIMIT], titles[:PNG_LIMIT], notes[:PNG_LIMIT], divider)
    sheet.save(png_path)
    return html_path, png_path


def _line_note(divider: tuple[int, str] | None) -> str:
    return "" if divider is None else f" The red line: {html.escape(divider[1])}."


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
    thumbs: Sequence[Image.Image | None],
    titles: Sequence[str],
    notes: Sequence[str],
    divider: tuple[int, str] | None = None,
) -> Image.Image:
    """A grid of thumbnails with two caption lines each, on white; after a divider's count
    of photos, a red line with its label, the photos below it starting a new row."""
    font = ImageFont.load_default(size=14)
    sizes = [t.size for t in thumbs if t is not None] or [(240, 80)]
    cell_w = max(w for w, _ in sizes)
    cell_h = max(h for _, h in sizes) + 40
    columns = max(1, min(len(thumbs), SHEET_WIDTH // (cell_w + 10)))
    label = divider[1] if divider is not None and divider[0] <= len(thumbs) else None
    split = divider[0] if divider is not None and label is not None else len(thumbs)
    above = math.ceil(split / columns)
    band = 30 if label is not None else 0
    rows = max(1, above + math.ceil((len(thumbs) - split) / columns))
    height = rows * (cell_h + 10) + 10 + band
    sheet = Image.new("RGB", (columns * (cell_w + 10) + 10, height), "white")
    draw = ImageDraw.Draw(sheet)
    if label is not None:
        y = 10 + above * (cell_h + 10)
        draw.line((10, y + 4, sheet.width - 10, y + 4), fill="#cc3333", width=3)
        draw.text((10, y + 9), label, fill="#cc3333", font=font)
    for i, (thumb, title, note) in enumerate(zip(thumbs, titles, notes, strict=True)):
        below = i >= split
        row = above + (i - split) // columns if below else i // columns
        x = 10 + ((i - split if below else i) % columns) * (cell_w + 10)
        y = 10 + row * (cell_h + 10) + (band if below else 0)
        if thumb is None:
            draw.rectangle((x, y, x + cell_w, y + cell_h - 40), fill="#dddddd")
        else:
            sheet.paste(thumb.convert("RGB"), (x, y))
        draw.text((x, y + cell_h - 38), title, fill="black", font=font)
        draw.text((x, y + cell_h - 20), note, fill="#444444", font=font)
    return sheet
