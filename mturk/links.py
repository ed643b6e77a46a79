"""Image links for HIT pages on MTurk: presigned S3 URLs that outlive the HITs showing them.

Workers load images straight from S3 for a HIT's whole life: from posting, through its
lifetime, to the end of the last assignment accepted just before it expires. A presigned URL
lives at most 7 days, and one signed with temporary credentials dies with those credentials,
so posting refuses links that would die first.

Each HIT links to its own copies of its images (:mod:`mturk.copies`), never to the pushed
objects, so that no URL ties one HIT's screens to another's or marks a gold variant.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from infra import aws
from infra.errors import BeautyError
from infra.sources import S3Source, is_s3
from infra.workspace import Workspace
from mturk.copies import copies_root, make_copies, record_copies


@dataclass
class ImageLinks:
    """Presigned URLs of each HIT's own copies of its images, signed once per copy."""

    ws: Workspace
    s3: Any
    expires_in: int
    uris: dict[str, str]
    formats: dict[str, str]
    root: str
    _copies: dict[tuple[int, str], str] = field(default_factory=dict)
    _signed: dict[str, str] = field(default_factory=dict)

    @classmethod
    def for_hits(
        cls, ws: Workspace, hit_ids: Sequence[int], *, s3_client: Any = None
    ) -> ImageLinks:
        """Links for every image the HITs show, after checking they can be made and last.

        Raises
        ------
        BeautyError
            An image only on the local disk, or links that would die before the HITs end.
        """
        uris = s3_uris(ws, hit_ids)
        root = copies_root(uris.values())
        settings = ws.settings
        needed = settings.mturk.lifetime_seconds + settings.mturk.assignment_duration_seconds
        expiry = settings.s3.url_expiry_seconds
        if needed > expiry:
            raise BeautyError(
                f"HITs live {_days(needed)} (lifetime + assignment duration) but image links "
                f"expire after {_days(expiry)}: lower [mturk] lifetime_seconds, or raise "
                "[s3] url_expiry_seconds (7 days at most)"
            )
        s3 = s3_client or aws.client(
            "s3", region=settings.s3.region, endpoint_url=settings.s3.endpoint_url
        )
        _check_credentials(s3, timedelta(seconds=needed))
        formats = {
            str(r["id"]): str(r["format"])
            for r in ws.ledger.query(
                f"SELECT id, format FROM images WHERE id IN ({','.join('?' * len(uris))})",
                list(uris),
            )
        }
        return cls(ws=ws, s3=s3, expires_in=expiry, uris=uris, formats=formats, root=root)

    def copy_hit(self, hit_id: int, image_ids: Sequence[str]) -> None:
        """Record, then make, HIT ``hit_id``'s copies of ``image_ids`` (see :mod:`mturk.copies`).

        Raises
        ------
        BeautyError
            S3 refused a copy.
        """
        wanted = {image: self.uris[image] for image in image_ids}
        copies = record_copies(self.ws.ledger, hit_id, wanted, self.formats, self.root)
        make_copies(self.s3, copies.values(), workers=self.ws.settings.s3.workers)
        for image, (_, uri) in copies.items():
            self._copies[(hit_id, image)] = uri

    def url(self, hit_id: int, image_id: str) -> str:
        """The presigned URL of HIT ``hit_id``'s copy of ``image_id`` (after :meth:`copy_hit`)."""
        uri = self._copies[(hit_id, image_id)]
        if uri not in self._signed:
            self._signed[uri] = S3Source(uri, client=self.s3).url(uri, self.expires_in)
        return self._signed[uri]


def s3_uris(ws: Workspace, hit_ids: Sequence[int]) -> dict[str, str]:
    """The S3 URI of every image the HITs show (a pushed copy first)."""
    marks = ",".join("?" * len(hit_ids))
    rows = ws.ledger.query(
        "SELECT DISTINCT si.image_id, i.file_name, "
        "  (SELECT u.uri FROM image_uris u WHERE u.image_id = si.image_id AND u.uri LIKE 's3://%' "
        "   ORDER BY u.kind = 'pushed' DESC, u.uri LIMIT 1) AS s3_uri "
        "FROM screen_images si JOIN screens s ON s.id = si.screen_id "
        f"JOIN images i ON i.id = si.image_id WHERE s.hit_id IN ({marks})",
        list(hit_ids),
    )
    local = sorted(r["file_name"] for r in rows if not r["s3_uri"] or not is_s3(r["s3_uri"]))
    if local:
        raise BeautyError(
            f"{len(local)} image(s) exist only on this disk (e.g. {', '.join(local[:3])}) and "
            "MTurk workers cannot load them: run `beauty images push s3://bucket/prefix` "
            "(again after `beauty gold make`: its variants are images to push too)"
        )
    return {str(r["image_id"]): str(r["s3_uri"]) for r in rows}


def _check_credentials(s3: Any, needed: timedelta) -> None:
    """Refuse links signed with temporary credentials that expire before the HITs end."""
    # The credentials presigned URLs are signed with; botocore exposes them nowhere public.
    credentials = getattr(getattr(s3, "_request_signer", None), "_credentials", None)
    if credentials is None:
        raise BeautyError(
            "no AWS credentials to sign image links: run `aws configure` or set "
            "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
        )
    # Refreshable (temporary) credentials know when they die; long-lived keys have no expiry.
    expiry: datetime | None = getattr(credentials, "_expiry_time", None)
    if expiry is None:
        return
    end = datetime.now(UTC) + needed
    if expiry < end:
        raise BeautyError(
            f"image links are signed with temporary AWS credentials that expire at "
            f"{expiry.astimezone(UTC):%Y-%m-%d %H:%M} UTC, before the HITs end "
            f"({end:%Y-%m-%d %H:%M} UTC): sign with an IAM user's long-lived keys, or lower "
            "[mturk] lifetime_seconds"
        )


def _days(seconds: int) -> str:
    return f"{seconds / 86400:.1f} days"
