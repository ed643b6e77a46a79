"""The gallery in the ledger: register images from a source, list them, push them to S3, and
resolve the names outside data uses (ledger id, URI, or an unambiguous file name)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from infra.aws import systemic_error
from infra.errors import BeautyError
from infra.images import EXTENSIONS, FORMATS, BadImage, ImageInfo, inspect_image
from infra.ledger import Ledger, utcnow
from infra.progress import bar
from infra.sources import (
    ImageSource,
    ObjectInfo,
    S3Source,
    TooLarge,
    is_s3,
    open_source,
    read_bytes,
    read_many,
)
from infra.text import display_name
from infra.workspace import Workspace

CHUNK = 200  # images per transaction: short transactions, bounded loss on a crash


@dataclass
class ImportReport:
    added: int = 0
    aliases: int = 0
    known: int = 0
    skipped: list[tuple[str, str]] = field(default_factory=list)

    @property
    def usable(self) -> int:
        return self.added + self.aliases + self.known


def add_images(ws: Workspace, location: str, *, s3_client: Any = None) -> ImportReport:
    """Register every image under ``location`` (a folder, a file, or ``s3://bucket/prefix``).

    Resumable: URIs already in the ledger are not read again. A file whose content is already
    registered becomes an alias of that image. Unusable files are skipped and reported.
    """
    settings = ws.settings
    source = _source(ws, location, s3_client)
    ledger = ws.ledger
    known = {row[0] for row in ledger.query("SELECT uri FROM image_uris")}
    objects = list(source.list())
    report = ImportReport()
    todo: list[ObjectInfo] = []
    report.skipped.extend(getattr(source, "problems", []))
    cap = settings.images.max_bytes
    for obj in objects:
        if obj.uri in known:
            report.known += 1
        elif obj.size > cap:
            report.skipped.append(
                (
                    obj.uri,
                    f"{obj.size / 1024**2:,.0f} MB is over images.max_bytes "
                    f"({cap / 1024**2:,.0f} MB); not read (raise the setting to import it)",
                )
            )
        else:
            todo.append(obj)
    progress = bar(len(todo), desc="importing")
    batch: list[tuple[ObjectInfo, ImageInfo]] = []
    by_uri = {o.uri: o for o in todo}
    for uri, data in read_many(source.open, (o.uri for o in todo), workers=settings.s3.workers):
        progress.update(1)
        obj = by_uri[uri]
        if isinstance(data, Exception):
            why = f"grew over images.max_bytes ({data})" if isinstance(data, TooLarge) else data
            report.skipped.append((uri, f"unreadable ({why})"))
            continue
        try:
            batch.append(
                (
                    obj,
                    inspect_image(
                        data, obj.name, settings.images.max_pixels, settings.images.camera_timezone
                    ),
                )
            )
        except BadImage as exc:
            report.skipped.append((uri, str(exc)))
        if len(batch) >= CHUNK:
            _register(ledger, batch, report)
            batch = []
    _register(ledger, batch, report)
    progress.close()
    if not objects:
        kinds = ", ".join(settings.images.extensions)
        if report.skipped:
            where, why = report.skipped[0]
            raise BeautyError(f"{display_name(where)}: {why}; check its permissions")
        raise BeautyError(
            f"{display_name(location)}: no image files ({kinds}) found; point at a folder or "
            "prefix of images"
        )
    return report


def _source(ws: Workspace, location: str, s3_client: Any) -> ImageSource:
    """The images under ``location``, by extension: a sidecar or a note beside the photos is not
    a bad image; a file named like an image is read, and reported if it is not one."""
    exts = ws.settings.images.extensions
    if is_s3(location):
        s3 = ws.settings.s3
        return S3Source(
            location,
            client=s3_client,
            region=s3.region,
            endpoint_url=s3.endpoint_url,
            extensions=exts,
        )
    return open_source(location, extensions=exts, max_bytes=ws.settings.images.max_bytes)


def _register(
    ledger: Ledger, batch: list[tuple[ObjectInfo, ImageInfo]], report: ImportReport
) -> None:
    if not batch:
        return
    now = utcnow()
    with ledger.transaction() as conn:
        for obj, info in batch:
            exists = conn.execute("SELECT 1 FROM images WHERE id = ?", (info.id,)).fetchone()
            if exists:
                kind = "alias"
                report.aliases += 1
            else:
                kind = "original"
                report.added += 1
                conn.execute(
                    "INSERT INTO images (id, uri, file_name, width, height, bytes, format, "
                    "taken_at, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        info.id,
                        obj.uri,
                        obj.name,
                        info.width,
                        info.height,
                        info.bytes,
                        info.format,
                        info.taken_at,
                        now,
                    ),
                )
            conn.execute(
                "INSERT OR IGNORE INTO image_uris (uri, image_id, file_name, kind) "
                "VALUES (?, ?, ?, ?)",
                (obj.uri, info.id, obj.name, kind),
            )


def register_derived(
    ledger: Ledger, uri: str, data: bytes, info: ImageInfo, *, original: str, derivation: str
) -> str:
    """Register a derived image (a made-gold variant) of ``original``; returns its id."""
    name = uri.rsplit("/", 1)[-1]
    with ledger.transaction() as conn:
        conn.execute(
            "INSERT OR IGNORE INTO images (id, uri, file_name, width, height, bytes, format, "
            "taken_at, derived_from, derivation, added_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (
                info.id,
                uri,
                name,
                info.width,
                info.height,
                len(data),
                info.format,
                None,
                original,
                derivation,
                utcnow(),
            ),
        )
        conn.execute(
            "INSERT OR IGNORE INTO image_uris (uri, image_id, file_name, kind) VALUES (?,?,?,?)",
            (uri, info.id, name, "original"),
        )
    return info.id


def gallery_ids(ledger: Ledger) -> list[str]:
    """Ids of the gallery proper (the ``gallery_images`` view: no made-gold variants), sorted.

    The one rule for what may be planned on ordinary screens, ranked, trained on or curated.
    """
    return [r[0] for r in ledger.query("SELECT id FROM gallery_images ORDER BY id")]


def derived_images(ledger: Ledger) -> dict[str, str]:
    """Made-gold variants: ``{variant id: original id}``. Never ranked, trained on or curated."""
    rows = ledger.query(
        "SELECT id, derived_from FROM images WHERE id NOT IN (SELECT id FROM gallery_images)"
    )
    return {r[0]: r[1] for r in rows}


def image_records(ledger: Ledger, ids: Iterable[str]) -> dict[str, dict[str, Any]]:
    """``{id: {uri, taken_at, derived_from}}`` for the given ids that are registered."""
    wanted = sorted(set(ids))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        marks = ",".join("?" * len(chunk))
        rows = ledger.query(
            f"SELECT id, uri, taken_at, derived_from FROM images WHERE id IN ({marks})", chunk
        )
        found.update(
            {r["id"]: {k: r[k] for k in ("uri", "taken_at", "derived_from")} for r in rows}
        )
    return found


def derived_uris(ledger: Ledger) -> list[tuple[str, str]]:
    """``(id, uri)`` for every URI a made-gold variant is known by."""
    rows = ledger.query(
        "SELECT u.image_id, u.uri FROM image_uris u "
        "WHERE u.image_id NOT IN (SELECT id FROM gallery_images)"
    )
    return [(r[0], r[1]) for r in rows]


def list_images(ledger: Ledger, *, include_derived: bool = True) -> list[dict[str, Any]]:
    """Registered images, oldest first, with every URI each is known by."""
    where = "" if include_derived else "WHERE i.id IN (SELECT id FROM gallery_images)"
    rows = ledger.query(
        "SELECT i.id, i.uri, i.file_name, i.width, i.height, i.bytes, i.format, i.taken_at, "
        "i.derived_from, i.derivation, i.added_at, "
        "(SELECT COUNT(*) FROM image_uris u WHERE u.image_id = i.id AND u.kind = 'alias') "
        "AS aliases, "
        "(SELECT u.uri FROM image_uris u WHERE u.image_id = i.id AND u.kind = 'pushed' "
        " ORDER BY u.uri LIMIT 1) AS s3_uri "
        f"FROM images i {where} ORDER BY i.added_at, i.file_name"
    )
    return [dict(row) for row in rows]


@dataclass
class PushReport:
    uploaded: int = 0
    already: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def push_images(ws: Workspace, destination: str, *, s3_client: Any = None) -> PushReport:
    """Upload every registered local image to ``s3://bucket/prefix/<id>.<ext>``; resumable.

    Keys are the content ids for every image alike, so no key tells a gold variant apart.
    """
    s3 = ws.settings.s3
    target = S3Source(destination, client=s3_client, region=s3.region, endpoint_url=s3.endpoint_url)
    prefix = target.prefix.rstrip("/")
    ledger = ws.ledger
    rows = ledger.query("SELECT id, uri, format FROM images ORDER BY added_at, file_name")
    pushed = {
        r[0]
        for r in ledger.query(
            "SELECT image_id FROM image_uris WHERE kind = 'pushed' AND uri LIKE ?",
            (f"s3://{target.bucket}/{prefix}%",),
        )
    }
    report = PushReport(already=sum(1 for r in rows if r["id"] in pushed))
    todo = [r for r in rows if r["id"] not in pushed]
    source_uri = {r["id"]: r["uri"] for r in todo}
    formats = {r["id"]: r["format"] for r in todo}
    progress = bar(len(todo), desc="pushing")

    def upload(image_id: str) -> bytes:
        fmt = formats[image_id]
        key = f"{prefix}/{image_id}.{EXTENSIONS[fmt]}".lstrip("/")
        data = read_bytes(source_uri[image_id], s3_client=target.client)
        target.put(key, data, FORMATS[fmt])
        return key.encode()

    for image_id, result in read_many(upload, (r["id"] for r in todo), workers=s3.workers):
        progress.update(1)
        if isinstance(result, Exception):
            stop = systemic_error(result)
            if stop is not None:
                progress.close()
                raise stop
            report.failed.append((source_uri[image_id], str(result)))
            continue
        uri = f"s3://{target.bucket}/{result.decode()}"
        with ledger.transaction() as conn:
            conn.execute(
                "INSERT OR IGNORE INTO image_uris (uri, image_id, file_name, kind) "
                "VALUES (?, ?, ?, 'pushed')",
                (uri, image_id, uri.rsplit("/", 1)[-1]),
            )
        report.uploaded += 1
    progress.close()
    return report


def resolve_images(ledger: Ledger, names: Iterable[str]) -> dict[str, str]:
    """Map names (ledger id, URI, or unambiguous file name) to image ids.

    Raises one :class:`BeautyError` listing the first few names that are unknown or ambiguous.
    """
    wanted = sorted({str(n) for n in names})
    ids = {r[0] for r in ledger.query("SELECT id FROM images")}
    uris = {r[0]: r[1] for r in ledger.query("SELECT uri, image_id FROM image_uris")}
    by_name: dict[str, set[str]] = {}
    for row in ledger.query("SELECT file_name, image_id FROM image_uris"):
        by_name.setdefault(row[0], set()).add(row[1])
    out: dict[str, str] = {}
    unknown, ambiguous = [], []
    for name in wanted:
        if name in ids:
            out[name] = name
        elif name in uris:
            out[name] = uris[name]
        elif name in by_name and len(by_name[name]) == 1:
            out[name] = next(iter(by_name[name]))
        elif name in by_name:
            ambiguous.append(name)
        else:
            unknown.append(name)
    if unknown or ambiguous:
        parts = []
        if unknown:
            parts.append(f"{len(unknown)} unknown image(s) (e.g. {', '.join(unknown[:3])})")
        if ambiguous:
            parts.append(
                f"{len(ambiguous)} ambiguous file name(s) (e.g. {', '.join(ambiguous[:3])}): "
                "name them by id or URI"
            )
        raise BeautyError("; ".join(parts) + "; run `beauty images add` for missing ones")
    return out
