"""Per-HIT copies of images, so that a URL says nothing a worker could use.

Pushed images live at ``prefix/<content id>.<ext>``. Shown under those keys, every HIT would
name an image the same way, and a made-gold variant, which appears only on gold screens, would
give a gold screen away to a worker who has met its URL before. So each posted HIT shows its
own copies: ``prefix/h/<random HIT folder>/<random name>.<ext>``, made server-side with S3
CopyObject (no bytes pass through this machine). Two HITs showing one photo use two keys, and
no key or path component is shared between HITs except the common ``prefix/h/``.

A copy's key is written to the ledger (``mturk_image_copies``) before the copy is made, and a
post run again copies the same keys again (CopyObject is idempotent), so a crash between the
two, or a lifecycle rule that already removed an old copy, costs nothing.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from infra import aws
from infra.errors import BeautyError
from infra.images import EXTENSIONS
from infra.ledger import Ledger, utcnow
from infra.sources import split_s3

COPIES_FOLDER = "h"  # under the push prefix: one folder for every HIT's copies


def copies_root(sources: Iterable[str]) -> str:
    """Where the copies of images from ``sources`` go: ``s3://bucket/<their folder>/h/``.

    The folder is the longest one every source shares (the push prefix, for pushed images),
    the same for every HIT of a post, so that it says nothing about any one image.

    Raises
    ------
    BeautyError
        Sources in several buckets: copies of one post go to one place.
    """
    split = [split_s3(s) for s in sources]
    buckets = sorted({b for b, _ in split})
    if len(buckets) > 1:
        raise BeautyError(
            f"the images of these HITs are in {len(buckets)} S3 buckets ({', '.join(buckets)}): "
            "push them to one place with `beauty images push s3://bucket/prefix`"
        )
    keys = [k for _, k in split]
    folder = keys[0][: keys[0].rfind("/") + 1] if keys else ""
    while not all(k.startswith(folder) for k in keys):
        folder = folder[: folder.rstrip("/").rfind("/") + 1]
    return f"s3://{buckets[0] if buckets else ''}/{folder}{COPIES_FOLDER}/"


def record_copies(
    ledger: Ledger, hit_id: int, sources: dict[str, str], formats: dict[str, str], root: str
) -> dict[str, tuple[str, str]]:
    """The copy of every image of HIT ``hit_id``: ``{image id: (source, copy URI)}``.

    Copies recorded by an earlier post are kept; the others get fresh random keys in the
    HIT's folder (the recorded one, or a new one), written before any copy is made.
    """
    with ledger.transaction() as conn:
        known = {
            str(r["image_id"]): (str(r["source"]), str(r["uri"]))
            for r in conn.execute(
                "SELECT image_id, source, uri FROM mturk_image_copies WHERE hit_id = ?", (hit_id,)
            )
        }
        missing = sorted(set(sources) - set(known))
        if missing:
            folder = (
                next(iter(known.values()))[1].rsplit("/", 1)[0] + "/"
                if known
                else f"{root}{secrets.token_hex(8)}/"
            )
            now = utcnow()
            for image_id in missing:
                name = f"{secrets.token_hex(8)}.{EXTENSIONS[formats[image_id]]}"
                known[image_id] = (sources[image_id], folder + name)
                conn.execute(
                    "INSERT INTO mturk_image_copies (hit_id, image_id, source, uri, created_at) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (hit_id, image_id, sources[image_id], folder + name, now),
                )
    return {image: known[image] for image in sources}


def make_copies(s3: Any, copies: Iterable[tuple[str, str]], *, workers: int = 8) -> None:
    """Copy each ``(source, target)`` S3 object server-side, several at once.

    Raises
    ------
    BeautyError
        A copy S3 refused or never answered; the post can simply be run again.
    """

    def copy(pair: tuple[str, str]) -> None:
        (bucket, key), (to_bucket, to_key) = split_s3(pair[0]), split_s3(pair[1])
        s3.copy_object(
            Bucket=to_bucket,
            Key=to_key,
            CopySource={"Bucket": bucket, "Key": key},
            MetadataDirective="COPY",
        )

    todo = list(copies)
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(todo)))) as pool:
        futures = [(pair, pool.submit(copy, pair)) for pair in todo]
        for (source, target), future in futures:
            try:
                future.result()
            except (BotoCoreError, ClientError) as exc:
                missing = aws.credentials_error(exc)
                if missing is not None:
                    raise missing from exc
                raise BeautyError(
                    f"cannot copy {source} to {target} ({exc}): the HIT pages show per-HIT "
                    "copies, which need s3:GetObject on the image and s3:PutObject on the "
                    "copy's folder; fix that and post again"
                ) from exc
