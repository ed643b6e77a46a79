"""Capture days: frames of one day look alike, so a split must keep each day on one side.

A capture time comes from the ledger (``images.taken_at``, filled at registration from EXIF or the
file name), else from a timestamp in the file name (``2016-07-14_1930.jpg``), else from the
file's EXIF ``DateTimeOriginal``. The day is the date as the camera recorded it.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Sequence

from PIL import Image

from infra.gallery import image_records
from infra.images import DATETIME_ORIGINAL, EXIF_IFD, time_from_name
from infra.ledger import Ledger
from infra.sources import read_many

Reader = Callable[[str], bytes]


def capture_days(
    ids: Sequence[str],
    uris: Sequence[str],
    ledger: Ledger | None,
    read: Reader,
    workers: int = 8,
) -> list[str | None]:
    """Capture day (``YYYY-MM-DD``) per image, or None when unknown.

    Images the ledger knows were already searched for EXIF and file-name times at registration,
    so only unknown images are read here.
    """
    known = _ledger_times(ledger, ids)
    days: list[str | None] = [None] * len(ids)
    unread: list[int] = []
    for i, (image, uri) in enumerate(zip(ids, uris, strict=True)):
        if image in known:
            stamp = known[image]
        else:
            stamp = time_from_name(uri.rstrip("/").rsplit("/", 1)[-1])
            if stamp is None:
                unread.append(i)
        days[i] = stamp[:10] if stamp else None
    for i, (_, data) in zip(
        unread, read_many(read, [uris[i] for i in unread], workers), strict=True
    ):
        if isinstance(data, bytes):
            stamp = exif_time(data)
            days[i] = stamp[:10] if stamp else None
    return days


def exif_time(data: bytes) -> str | None:
    """EXIF ``DateTimeOriginal`` as ``YYYY-MM-DDTHH:MM:SS``, or None."""
    try:
        with Image.open(io.BytesIO(data)) as img:
            raw = img.getexif().get_ifd(EXIF_IFD).get(DATETIME_ORIGINAL)
    except Exception:  # an unreadable file has no capture time; decoding reports it later
        return None
    if not isinstance(raw, str) or len(raw.strip()) < 19:
        return None
    date, _, clock = raw.strip().partition(" ")
    return f"{date.replace(':', '-')}T{clock}"


def _ledger_times(ledger: Ledger | None, ids: Sequence[str]) -> dict[str, str | None]:
    if ledger is None:
        return {}
    return {image: row["taken_at"] for image, row in image_records(ledger, ids).items()}
