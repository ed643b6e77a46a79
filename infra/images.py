"""Inspecting image bytes: content id, format, size after EXIF orientation, capture time.

Nothing here touches the ledger; :mod:`infra.gallery` registers what passes.
"""

from __future__ import annotations

import hashlib
import io
import re
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from PIL import Image, UnidentifiedImageError

FORMATS = {"JPEG": "image/jpeg", "PNG": "image/png", "WEBP": "image/webp"}
EXTENSIONS = {"JPEG": "jpg", "PNG": "png", "WEBP": "webp"}
ORIENTATION_TAG = 274
EXIF_IFD = 0x8769
DATETIME_ORIGINAL = 36867
OFFSET_TIME_ORIGINAL = 36881  # EXIF 2.31: the UTC offset of DateTimeOriginal, "+02:00"
# 2016-07-14_1930.jpg, 20160714-193000.jpg, 2016-07-14T19:30:00 ...
STAMP = re.compile(
    r"(20\d{2}|19\d{2})-?(\d{2})-?(\d{2})[_T -]?(\d{2})[:-]?(\d{2})(?:[:-]?(\d{2}))?"
)


class BadImage(ValueError):
    """The bytes are not a usable image; the message says why."""


@dataclass(frozen=True)
class ImageInfo:
    id: str
    width: int
    height: int
    format: str
    bytes: int
    taken_at: str | None

    @property
    def content_type(self) -> str:
        return FORMATS[self.format]


def image_id(data: bytes) -> str:
    """The first 16 hex digits of the SHA-256 of the file's bytes."""
    return hashlib.sha256(data).hexdigest()[:16]


def inspect_image(
    data: bytes, name: str, max_pixels: int, camera_timezone: str | None = None
) -> ImageInfo:
    """Validate and describe one image file.

    The capture time is the camera's local time (EXIF ``DateTimeOriginal``, else a stamp in the
    file name), with its UTC offset from EXIF ``OffsetTimeOriginal`` or the ``camera_timezone``
    (an IANA name); with neither it stays local time without an offset, never taken for UTC.

    Raises :class:`BadImage` for non-images, unsupported formats, decompression bombs (checked from
    the header, before any pixel is decoded) and truncated or corrupt files (a full decode).
    """
    if not data:
        raise BadImage("empty file")
    _allow_pixels(max_pixels)
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
        except UnidentifiedImageError:
            raise BadImage("not an image (unrecognised content)") from None
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise BadImage(f"decompression bomb: more than {max_pixels:,} pixels") from None
        with img:
            if img.format not in FORMATS:
                raise BadImage(f"unsupported format {img.format}; use JPEG, PNG or WebP")
            width, height = img.size
            if width * height > max_pixels:
                raise BadImage(
                    f"decompression bomb: {width}x{height} is more than {max_pixels:,} pixels"
                )
            exif = img.getexif()
            try:
                img.load()
            except (OSError, SyntaxError, ValueError) as exc:
                raise BadImage(f"corrupt or truncated ({exc})") from None
            except (Image.DecompressionBombError, Image.DecompressionBombWarning):
                raise BadImage(f"decompression bomb: more than {max_pixels:,} pixels") from None
            fmt = img.format
    if exif.get(ORIENTATION_TAG) in (5, 6, 7, 8):  # rotated a quarter turn: shown sideways
        width, height = height, width
    return ImageInfo(
        id=image_id(data),
        width=width,
        height=height,
        format=fmt,
        bytes=len(data),
        taken_at=capture_time(_exif_time(exif) or time_from_name(name), camera_timezone),
    )


def _allow_pixels(max_pixels: int) -> None:
    """Let Pillow open images up to ``max_pixels``: its own bomb limit (about 89 million
    pixels) would otherwise refuse them first, whatever ``images.max_pixels`` says. The limit
    only ever rises, so every thread sees at least what it asked for."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is not None and max_pixels > limit:
        Image.MAX_IMAGE_PIXELS = max_pixels


def load_rgb(data: bytes) -> Image.Image:
    """Decode to RGB, upright (EXIF orientation applied), alpha composited on white."""
    from PIL import ImageOps

    img = ImageOps.exif_transpose(Image.open(io.BytesIO(data)))
    if img.mode in ("RGBA", "LA") or (img.mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


def time_from_name(name: str) -> str | None:
    """A capture time written in a file name, as webcam archives do: the camera's local time,
    ISO 8601 without an offset."""
    match = STAMP.search(name)
    if not match:
        return None
    y, mo, d, h, mi, s = (int(g) if g else 0 for g in match.groups())
    try:
        return datetime(y, mo, d, h, mi, s).isoformat()
    except ValueError:
        return None


def capture_time(local: str | None, camera_timezone: str | None) -> str | None:
    """``local`` (ISO 8601, with or without an offset) with the camera's offset where one is
    known: its own, else the time zone's at that moment. The date part stays the local day."""
    if local is None or camera_timezone is None or _has_offset(local):
        return local
    moment = datetime.fromisoformat(local).replace(tzinfo=ZoneInfo(camera_timezone))
    return moment.isoformat()


def _has_offset(stamp: str) -> bool:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).tzinfo is not None


def _exif_time(exif: Image.Exif) -> str | None:
    tags = exif.get_ifd(EXIF_IFD)
    raw, offset = tags.get(DATETIME_ORIGINAL), tags.get(OFFSET_TIME_ORIGINAL)
    if not isinstance(raw, str):
        return None
    try:
        stamp = datetime.strptime(raw.strip().rstrip("\x00"), "%Y:%m:%d %H:%M:%S")
    except ValueError:
        return None
    if isinstance(offset, str) and re.fullmatch(r"[+-]\d{2}:\d{2}", offset.strip("\x00 ")):
        sign = -1 if offset.strip()[0] == "-" else 1
        hours, minutes = (int(p) for p in offset.strip("\x00 +-").split(":"))
        stamp = stamp.replace(tzinfo=timezone(sign * timedelta(hours=hours, minutes=minutes)))
    return stamp.isoformat()
