from __future__ import annotations

from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from infra import gallery
from infra.errors import BeautyError
from infra.workspace import Workspace
from tests.conftest import jpeg_bytes


def _by_name(ws: Workspace) -> dict[str, dict]:
    return {row["file_name"]: row for row in gallery.list_images(ws.ledger)}


def test_local_import_keeps_good_images_and_reports_each_bad_file(
    ws: Workspace, messy_gallery: Path
) -> None:
    report = gallery.add_images(ws, str(messy_gallery))
    skipped = {Path(uri).name: why for uri, why in report.skipped}
    assert set(skipped) == {"truncated.jpg", "notes.jpg", "bomb.png"}
    assert "corrupt or truncated" in skipped["truncated.jpg"]
    assert "not an image" in skipped["notes.jpg"]
    assert "decompression bomb" in skipped["bomb.png"]
    assert report.added == 4 and report.aliases == 1
    images = _by_name(ws)
    assert set(images) == {"a.jpg", "2016-07-14_1930.jpg", "alpha.png", "rotated.jpg"}
    assert images["alpha.png"]["format"] == "PNG"
    # EXIF orientation 6: stored 64x16, shown 16x64
    assert (images["rotated.jpg"]["width"], images["rotated.jpg"]["height"]) == (16, 64)
    assert images["2016-07-14_1930.jpg"]["taken_at"] == "2016-07-14T19:30:00"  # local, no offset
    assert images["a.jpg"]["aliases"] == 1


def test_duplicate_resolves_by_its_own_name_and_uri(ws: Workspace, messy_gallery: Path) -> None:
    gallery.add_images(ws, str(messy_gallery))
    a_id = _by_name(ws)["a.jpg"]["id"]
    copy_uri = str(messy_gallery / "copy-of-a.jpg")
    resolved = gallery.resolve_images(ws.ledger, ["copy-of-a.jpg", copy_uri, a_id])
    assert set(resolved.values()) == {a_id}


def test_resolving_unknown_names_is_one_error(ws: Workspace, messy_gallery: Path) -> None:
    gallery.add_images(ws, str(messy_gallery))
    with pytest.raises(BeautyError, match="unknown image") as err:
        gallery.resolve_images(ws.ledger, ["a.jpg", "nope.jpg"])
    assert "nope.jpg" in str(err.value) and "\n" not in str(err.value)


def test_import_is_resumable_and_reads_known_files_once(
    ws: Workspace, messy_gallery: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gallery.add_images(ws, str(messy_gallery))
    (messy_gallery / "new.jpg").write_bytes(jpeg_bytes(9))
    read: list[str] = []
    original = gallery.read_many

    def spy(read_fn, uris, workers=16):  # type: ignore[no-untyped-def]
        uris = list(uris)
        read.extend(uris)
        return original(read_fn, uris, workers)

    monkeypatch.setattr(gallery, "read_many", spy)
    report = gallery.add_images(ws, str(messy_gallery))
    assert report.added == 1 and report.known == 5
    # the three bad files are read again (they were never registered), the good ones are not
    assert sorted(Path(u).name for u in read) == [
        "bomb.png",
        "new.jpg",
        "notes.jpg",
        "truncated.jpg",
    ]


def test_a_folder_without_images_is_an_error(ws: Workspace, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "notes.txt").write_text("sidecars and notes are not images")
    with pytest.raises(BeautyError, match="no image files"):
        gallery.add_images(ws, str(empty))


@mock_aws
def test_s3_import_push_and_presigned_urls(ws: Workspace, messy_gallery: Path) -> None:
    s3 = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="gallery")
    for path in sorted(messy_gallery.rglob("*")):
        if path.is_file():
            s3.put_object(Bucket="gallery", Key=f"needle/{path.name}", Body=path.read_bytes())
    report = gallery.add_images(ws, "s3://gallery/needle/", s3_client=s3)
    assert report.added == 4 and report.aliases == 1
    assert {Path(u).name for u, _ in report.skipped} == {"truncated.jpg", "notes.jpg", "bomb.png"}
    again = gallery.add_images(ws, "s3://gallery/needle/", s3_client=s3)
    assert again.added == 0 and again.known == 5

    s3.create_bucket(Bucket="served")
    pushed = gallery.push_images(ws, "s3://served/hits", s3_client=s3)
    assert pushed.uploaded == 4 and not pushed.failed
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="served")["Contents"])
    ids = sorted(r["id"] for r in gallery.list_images(ws.ledger))
    assert [k.split("/")[1].split(".")[0] for k in keys] == ids  # named by content id only
    assert gallery.push_images(ws, "s3://served/hits", s3_client=s3).already == 4
    row = next(r for r in gallery.list_images(ws.ledger) if r["file_name"] == "a.jpg")
    assert row["s3_uri"].startswith("s3://served/hits/")


def test_push_of_local_images_is_resumable_after_a_failure(
    ws: Workspace, messy_gallery: Path
) -> None:
    gallery.add_images(ws, str(messy_gallery))
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="served")
        (messy_gallery / "a.jpg").rename(messy_gallery / "moved.jpg")
        first = gallery.push_images(ws, "s3://served/p", s3_client=s3)
        assert first.uploaded == 3 and len(first.failed) == 1
        (messy_gallery / "moved.jpg").rename(messy_gallery / "a.jpg")
        second = gallery.push_images(ws, "s3://served/p", s3_client=s3)
        assert second.uploaded == 1 and second.already == 3


def test_push_without_credentials_or_bucket_stops_at_once_with_the_fix(
    ws: Workspace, messy_gallery: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from click.testing import CliRunner

    from beauty.cli import cli

    gallery.add_images(ws, str(messy_gallery))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    result = CliRunner().invoke(cli, ["-w", str(ws.root), "images", "push", "s3://served/p"])
    assert result.exit_code == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "no AWS credentials" in errors[0] and "aws configure" in errors[0]
    assert "failed" not in result.stderr  # stopped at the first upload, not once per image
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        with pytest.raises(BeautyError, match=r"NoSuchBucket.*check the bucket"):
            gallery.push_images(ws, "s3://missing/p", s3_client=s3)
    assert ws.ledger.scalar("SELECT COUNT(*) FROM image_uris WHERE kind = 'pushed'") == 0


def _jpeg_with_exif(path: Path, local: str, offset: str | None) -> None:
    from PIL import Image

    from infra.images import DATETIME_ORIGINAL, EXIF_IFD, OFFSET_TIME_ORIGINAL

    exif = Image.Exif()
    ifd = exif.get_ifd(EXIF_IFD)
    ifd[DATETIME_ORIGINAL] = local
    if offset is not None:
        ifd[OFFSET_TIME_ORIGINAL] = offset
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (24, 16), (90, 120, 160)).save(path, "JPEG", exif=exif)


def test_capture_times_stay_local_with_their_offset(tmp_path: Path) -> None:
    photos = tmp_path / "photos"
    _jpeg_with_exif(photos / "east.jpg", "2015:01:10 23:30:00", "+09:00")
    _jpeg_with_exif(photos / "plain.jpg", "2015:01:10 23:40:00", None)
    (photos / "2015-01-10_0820.jpg").write_bytes(jpeg_bytes(7))
    ws = Workspace.init(tmp_path / "ws")
    gallery.add_images(ws, str(photos))
    taken = {r["file_name"]: r["taken_at"] for r in gallery.list_images(ws.ledger)}
    assert taken["east.jpg"] == "2015-01-10T23:30:00+09:00"  # the local day is the 10th
    assert taken["plain.jpg"] == "2015-01-10T23:40:00"  # unknown zone: local, never called UTC
    assert taken["2015-01-10_0820.jpg"] == "2015-01-10T08:20:00"

    seattle = Workspace.init(tmp_path / "seattle")
    (seattle.root / "beauty.toml").write_text(
        '[images]\ncamera_timezone = "America/Los_Angeles"\n', encoding="utf-8"
    )
    seattle = Workspace.open(seattle.root)
    gallery.add_images(seattle, str(photos))
    taken = {r["file_name"]: r["taken_at"] for r in gallery.list_images(seattle.ledger)}
    assert taken["2015-01-10_0820.jpg"] == "2015-01-10T08:20:00-08:00"  # 16:20 UTC
    assert taken["east.jpg"] == "2015-01-10T23:30:00+09:00"  # its own offset wins


def test_an_unknown_camera_time_zone_is_one_line(tmp_path: Path) -> None:
    from infra.errors import ConfigError

    ws = Workspace.init(tmp_path / "ws")
    (ws.root / "beauty.toml").write_text('[images]\ncamera_timezone = "Mars/Olympus"\n')
    with pytest.raises(ConfigError, match="unknown time zone 'Mars/Olympus'"):
        Workspace.open(ws.root)
