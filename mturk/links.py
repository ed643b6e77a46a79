"""Image links for HIT pages on MTurk: presigned S3 URLs that outlive the HITs showing them.

Workers load images straight from S3 for a HIT's whole life: from posting, through its
lifetime, to the end of the last assignment accepted just before it expires. A presigned URL
lives at most 7 days, and one signed with temporary credentials dies with those credentials,
so posting refuses links that would die first.
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


@dataclass
class ImageLinks:
    """Presigned URLs by image id, signed once per image."""

    s3: Any
    expires_in: int
    uris: dict[str, str]
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
        return cls(s3=s3, expires_in=expiry, uris=uris)

    def url(self, image_id: str) -> str:
        if image_id not in self._signed:
            uri = self.uris[image_id]
            self._signed[image_id] = S3Source(uri, client=self.s3).url(uri, self.expires_in)
        return self._signed[image_id]


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
            "MTurk workers cannot load them: run `beauty images push s3://bucket/prefix` first"
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
