"""Image sources: a local folder or an S3 prefix behind one interface.

Both list objects, open them, tell their size, and give a URL a browser can load. Read many at
once with :func:`read_many`, which keeps a pool of threads busy (S3 reads are latency-bound).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import quote_from_bytes, unquote, unquote_to_bytes, urlparse

from infra.errors import BeautyError


@dataclass(frozen=True)
class ObjectInfo:
    uri: str
    size: int

    @property
    def name(self) -> str:
        last = self.uri.rstrip("/").rsplit("/", 1)[-1]
        if self.uri.startswith("file://"):  # a local name that is not UTF-8, percent-encoded
            return unquote(last, errors="replace")
        return last


class ImageSource(Protocol):
    """What every image source offers."""

    def list(self) -> Iterator[ObjectInfo]: ...

    def open(self, uri: str) -> bytes: ...

    def size(self, uri: str) -> int: ...

    def url(self, uri: str, expires_in: int = 3600) -> str: ...


def is_s3(location: str) -> bool:
    return location.startswith("s3://")


def split_s3(uri: str) -> tuple[str, str]:
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise BeautyError(f"{uri}: not an S3 URI; write it as s3://bucket/prefix")
    return parsed.netloc, parsed.path.lstrip("/")


def local_path(uri: str) -> Path:
    """The path of a local URI (a plain path or file://, whose bytes may be any)."""
    if uri.startswith("file://"):
        return Path(os.fsdecode(unquote_to_bytes(urlparse(uri).path)))
    return Path(uri)


def local_uri(path: Path) -> str:
    """A local file's URI: its path, or a percent-encoded ``file://`` URI when the name's
    bytes are not UTF-8 (the ledger stores text; the bytes come back through
    :func:`local_path`)."""
    text = str(path)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return "file://" + quote_from_bytes(os.fsencode(path))
    return text


class TooLarge(OSError):
    """A file over the size cap, refused before its bytes are read."""


def read_capped(path: Path, max_bytes: int) -> bytes:
    """A file's bytes, reading at most ``max_bytes + 1`` of them: never a whole huge file."""
    with open(path, "rb") as handle:
        data = handle.read(max_bytes + 1)
    if len(data) > max_bytes:
        raise TooLarge(f"larger than {max_bytes:,} bytes")
    return data


class LocalSource:
    """A folder on disk, walked recursively in a stable order."""

    def __init__(
        self,
        root: str | Path,
        extensions: Iterable[str] | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self.root = local_path(str(root)).expanduser().resolve()
        self.extensions = {e.lower() for e in extensions} if extensions else None
        self.max_bytes = max_bytes
        # Folders and entries that could not be read while listing: (where, why), reported.
        self.problems: list[tuple[str, str]] = []
        if not self.root.exists():
            raise BeautyError(f"{root}: no such file or folder; check the path")

    def list(self) -> Iterator[ObjectInfo]:
        if self.root.is_file():
            yield ObjectInfo(local_uri(self.root), self.root.stat().st_size)
            return

        def unreadable(exc: OSError) -> None:
            where = str(exc.filename) if exc.filename is not None else str(self.root)
            self.problems.append(
                (where, f"folder not readable ({exc.strerror}); its images were not imported")
            )

        found: list[Path] = []
        for folder, dirs, files in os.walk(self.root, onerror=unreadable):
            dirs.sort()
            for name in files:
                path = Path(folder) / name
                if name.startswith("."):
                    continue
                if self.extensions is None or path.suffix.lower() in self.extensions:
                    found.append(path)
        for path in sorted(found):
            try:
                if not path.is_file():
                    continue
                size = path.stat().st_size
            except OSError as exc:
                self.problems.append((local_uri(path), f"unreadable ({exc.strerror})"))
                continue
            yield ObjectInfo(local_uri(path), size)

    def open(self, uri: str) -> bytes:
        if self.max_bytes is not None:
            return read_capped(local_path(uri), self.max_bytes)
        return local_path(uri).read_bytes()

    def size(self, uri: str) -> int:
        return local_path(uri).stat().st_size

    def url(self, uri: str, expires_in: int = 3600) -> str:
        return local_path(uri).resolve().as_uri()


class S3Source:
    """Objects under ``s3://bucket/prefix``, through boto3's standard credential chain."""

    def __init__(
        self,
        location: str,
        *,
        client: Any = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        extensions: Iterable[str] | None = None,
    ) -> None:
        from infra import aws

        self.bucket, self.prefix = split_s3(location)
        self.client = client or aws.client("s3", region=region, endpoint_url=endpoint_url)
        self.extensions = {e.lower() for e in extensions} if extensions else None

    def list(self) -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=self.prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if key.endswith("/"):
                    continue
                suffix = "." + key.rsplit(".", 1)[-1].lower() if "." in key else ""
                if self.extensions is None or suffix in self.extensions:
                    yield ObjectInfo(f"s3://{self.bucket}/{key}", int(obj["Size"]))

    def open(self, uri: str) -> bytes:
        bucket, key = split_s3(uri)
        body: bytes = self.client.get_object(Bucket=bucket, Key=key)["Body"].read()
        return body

    def size(self, uri: str) -> int:
        bucket, key = split_s3(uri)
        return int(self.client.head_object(Bucket=bucket, Key=key)["ContentLength"])

    def url(self, uri: str, expires_in: int = 3600) -> str:
        bucket, key = split_s3(uri)
        url: str = self.client.generate_presigned_url(
            "get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires_in
        )
        return url

    def put(self, key: str, data: bytes, content_type: str) -> str:
        self.client.put_object(Bucket=self.bucket, Key=key, Body=data, ContentType=content_type)
        return f"s3://{self.bucket}/{key}"


def open_source(location: str, **s3_options: Any) -> ImageSource:
    """The source behind a location: ``s3://bucket/prefix`` or a local path."""
    if is_s3(location):
        return S3Source(location, **s3_options)
    return LocalSource(
        location, extensions=s3_options.get("extensions"), max_bytes=s3_options.get("max_bytes")
    )


def read_bytes(uri: str, *, s3_client: Any = None) -> bytes:
    """The bytes behind one URI, local or S3."""
    if is_s3(uri):
        return S3Source(uri, client=s3_client).open(uri)
    return local_path(uri).read_bytes()


class ChangedFile(OSError):
    """A registered image whose bytes are no longer the ones registered (replaced or edited)."""


def read_verified(uri: str, image_id: str, *, s3_client: Any = None) -> bytes:
    """The bytes behind ``uri`` if they are still the registered image ``image_id`` (its
    content id), so a file replaced by something else is never served or trained on as it.

    Raises :class:`ChangedFile` (an ``OSError``, as a missing file is) otherwise.
    """
    from infra.images import image_id as content_id

    data = read_bytes(uri, s3_client=s3_client)
    if content_id(data) != image_id:
        raise ChangedFile(f"{uri} has changed since it was registered as {image_id}")
    return data


def read_many(
    read: Callable[[str], bytes], uris: Iterable[str], workers: int = 16
) -> Iterator[tuple[str, bytes | Exception]]:
    """Read URIs on a thread pool, yielding (uri, bytes or the error) in input order.

    At most ``2 * workers`` reads are in flight, so memory stays bounded on huge galleries.
    """
    window = 2 * workers
    with ThreadPoolExecutor(max_workers=workers) as pool:
        pending: list[tuple[str, Future[bytes]]] = []
        for uri in uris:
            pending.append((uri, pool.submit(read, uri)))
            if len(pending) >= window:
                yield _result(*pending.pop(0))
        for item in pending:
            yield _result(*item)


def _result(uri: str, fut: Future[bytes]) -> tuple[str, bytes | Exception]:
    try:
        return uri, fut.result()
    except Exception as exc:  # a failed read is reported per object, never fatal to the batch
        return uri, exc
