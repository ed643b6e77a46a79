"""Scoring a gallery: table and embeddings agree, interrupted runs resume, bad files are skipped,
mismatched models are refused."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner

from infra.errors import BeautyError
from infra.gallery import register_derived
from infra.images import inspect_image
from scoring.gallery import score_gallery
from scoring.table import ScoresFiles, default_table, read_scores
from tests.training.conftest import write_photo

from .scoring_fixtures import INPUT, WIDTH, TinyRun, tiny_run

__all__ = ["tiny_run"]


def _quiet(line: str) -> None:
    """Progress lines are not under test here."""


@pytest.fixture
def clean(tiny_run: TinyRun, tmp_path: Path) -> tuple[pd.DataFrame, np.ndarray]:
    """The gallery scored in one go."""
    out = tmp_path / "clean" / "scores.parquet"
    score_gallery(tiny_run.run_dir, str(tiny_run.gallery), out=out, batch_size=4, progress=_quiet)
    frame, embeddings = read_scores(out)
    return frame, np.asarray(embeddings)


def test_table_and_embeddings_match_row_for_row(
    tiny_run: TinyRun, clean: tuple[pd.DataFrame, np.ndarray]
) -> None:
    frame, embeddings = clean
    assert frame["uri"].tolist() == tiny_run.uris
    assert embeddings.shape == (len(frame), WIDTH) and embeddings.dtype == np.float16
    ids = [hashlib.sha256(Path(u).read_bytes()).hexdigest()[:16] for u in frame["uri"]]
    assert frame["image"].tolist() == ids
    assert sorted(frame["rank"]) == list(range(1, len(frame) + 1))
    best_first = frame.sort_values("rank")["score"].to_numpy()
    assert np.all(np.diff(best_first) <= 0)
    assert frame["percentile"].between(0, 100).all()
    assert frame.loc[frame["score"].idxmax(), "tier"] == 3
    # The embedding is what the head reads: rows are distinct photos, not copies of one row.
    assert len({e.tobytes() for e in embeddings}) == len(frame)


def test_an_interrupted_run_scores_only_the_rest(
    tiny_run: TinyRun, clean: tuple[pd.DataFrame, np.ndarray], tmp_path: Path
) -> None:
    out = tmp_path / "resumed.parquet"

    def interrupt_after_first_part(line: str) -> None:
        if line.startswith("saved part"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        score_gallery(
            tiny_run.run_dir, str(tiny_run.gallery), out=out, batch_size=4, chunk=8,
            progress=interrupt_after_first_part,
        )  # fmt: skip
    parts = sorted(ScoresFiles(out).parts.glob("part-*.parquet"))
    assert len(parts) == 1
    saved = len(pd.read_parquet(parts[0]))
    assert 8 <= saved < len(tiny_run.uris)
    with pytest.raises(BeautyError, match="no finished scores table"):
        read_scores(out)

    result = score_gallery(
        tiny_run.run_dir, str(tiny_run.gallery), out=out, batch_size=4, chunk=8, progress=_quiet
    )
    assert (result.reused, result.scored) == (saved, len(tiny_run.uris) - saved)
    assert not ScoresFiles(out).parts.exists()
    frame, embeddings = read_scores(out)
    expected, expected_embeddings = clean
    pd.testing.assert_frame_equal(
        frame.drop(columns="score"), expected.drop(columns="score"), check_dtype=False
    )
    np.testing.assert_allclose(frame["score"], expected["score"], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(embeddings, expected_embeddings, rtol=2e-3, atol=1e-4)

    again = score_gallery(tiny_run.run_dir, str(tiny_run.gallery), out=out, progress=_quiet)
    assert (again.scored, again.reused) == (0, len(tiny_run.uris))


def test_unreadable_files_are_reported_and_skipped(tiny_run: TinyRun, tmp_path: Path) -> None:
    folder = tmp_path / "messy"
    shutil.copytree(tiny_run.gallery, folder)
    good = (folder / "2016-07-10_1000.jpg").read_bytes()
    (folder / "truncated.jpg").write_bytes(good[: len(good) // 3])
    (folder / "notes.jpg").write_text("not a photo")
    lines: list[str] = []
    result = score_gallery(
        tiny_run.run_dir, str(folder), out=tmp_path / "s.csv", progress=lines.append
    )
    reasons = {Path(s.uri).name: s.reason for s in result.skipped}
    assert set(reasons) == {"truncated.jpg", "notes.jpg"}
    assert "not an image" in reasons["notes.jpg"]
    assert any(line.startswith("skipped") and "notes.jpg" in line for line in lines)
    table = pd.read_csv(tmp_path / "s.csv")
    assert len(table) == len(tiny_run.uris)
    assert not table["uri"].str.endswith(("truncated.jpg", "notes.jpg")).any()
    skipped = json.loads(ScoresFiles(tmp_path / "s.csv").meta.read_text())["skipped"]
    assert {Path(s["uri"]).name for s in skipped} == set(reasons)


def _copy_run(tiny_run: TinyRun, folder: Path, **card_changes: object) -> Path:
    folder.mkdir(parents=True)
    (folder / "model.keras").symlink_to(tiny_run.run_dir / "model.keras")
    card = json.loads((tiny_run.run_dir / "model_card.json").read_text())
    for dotted, value in card_changes.items():
        section, key = dotted.split("__")
        card[section][key] = value
    (folder / "model_card.json").write_text(json.dumps(card))
    return folder


def test_a_card_that_does_not_match_its_model_is_refused(tiny_run: TinyRun, tmp_path: Path) -> None:
    resized = _copy_run(tiny_run, tmp_path / "resized", input__height=150, input__width=1152)
    shape = f"{INPUT[0]}x{INPUT[1]}"
    with pytest.raises(BeautyError, match=rf"takes {shape} images but its card says 150x1152"):
        score_gallery(resized, str(tiny_run.gallery), out=tmp_path / "a.parquet")
    old = _copy_run(tiny_run, tmp_path / "old", versions__keras="2.15.0")
    with pytest.raises(BeautyError, match=r"saved with keras 2\.15\.0.*install keras 2\.x"):
        score_gallery(old, str(tiny_run.gallery), out=tmp_path / "b.parquet")


def test_a_table_of_another_model_is_not_mixed_in(tiny_run: TinyRun, tmp_path: Path) -> None:
    out = tmp_path / "s.parquet"
    score_gallery(tiny_run.run_dir, str(tiny_run.gallery), out=out, progress=_quiet)
    other = _copy_run(tiny_run, tmp_path / "other")
    card = json.loads((other / "model_card.json").read_text())
    card["name"], card["created_at"] = "other", "2030-01-01T00:00:00+00:00"
    (other / "model_card.json").write_text(json.dumps(card))
    with pytest.raises(BeautyError, match="holds scores of model tiny"):
        score_gallery(other, str(tiny_run.gallery), out=out)


def test_the_workspace_gallery_is_scored_without_its_derived_images(
    tiny_run: TinyRun, tmp_path: Path
) -> None:
    ws = tiny_run.ws
    variant = tmp_path / "variant.jpg"
    write_photo(variant, 0.5, seed=99)
    data = variant.read_bytes()
    info = inspect_image(data, variant.name, ws.settings.images.max_pixels)
    original = ws.ledger.scalar("SELECT id FROM images ORDER BY added_at LIMIT 1")
    register_derived(ws.ledger, str(variant), data, info, original=original, derivation="blur")
    result = score_gallery(tiny_run.run_dir, workspace=ws, progress=_quiet)
    assert result.files.table == default_table(tiny_run.run_dir)
    assert result.files.table.parent == tiny_run.run_dir / "scores"
    assert str(variant) not in set(result.table["uri"])
    assert len(result.table) == len(tiny_run.uris)


def test_the_command_prints_one_json_row(tiny_run: TinyRun, tmp_path: Path) -> None:
    from beauty.cli import cli

    out = tmp_path / "cli.parquet"
    result = CliRunner().invoke(
        cli,
        ["-w", str(tiny_run.root), "score", str(tiny_run.gallery), "--model", "tiny",
         "--out", str(out), "--json"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [row] = json.loads(result.stdout)
    assert row["images"] == len(tiny_run.uris) and row["table"] == str(out)
    assert Path(row["embeddings"]).is_file()
    missing = CliRunner().invoke(cli, ["-w", str(tiny_run.root), "score", "--model", "nope"])
    assert missing.exit_code == 1 and "no run nope" in missing.stderr


def test_an_s3_gallery_is_scored_and_curated_from_s3(
    tiny_run: TinyRun, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import boto3
    from moto import mock_aws

    from scoring.albums import curate

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="photos")
        for uri in tiny_run.uris[:6]:
            s3.put_object(Bucket="photos", Key=f"cam/{Path(uri).name}", Body=Path(uri).read_bytes())
        result = score_gallery(tiny_run.run_dir, "s3://photos/cam/", progress=_quiet)
        assert result.files.table.parent == tiny_run.run_dir / "scores"
        assert [u.rsplit("/", 1)[1] for u in result.table["uri"]] == [
            Path(u).name for u in tiny_run.uris[:6]
        ]
        assert all(u.startswith("s3://photos/cam/") for u in result.table["uri"])
        album = curate(
            tiny_run.run_dir, tmp_path / "album", top=2, gallery="s3://photos/cam/",
            progress=_quiet,
        )  # fmt: skip
        for name, uri in zip(album.photos["file"], album.photos["uri"], strict=True):
            key = uri.removeprefix("s3://photos/")
            body = s3.get_object(Bucket="photos", Key=key)["Body"].read()
            assert (tmp_path / "album" / name).read_bytes() == body
        with pytest.raises(BeautyError, match="--link needs local originals"):
            curate(tiny_run.run_dir, tmp_path / "b", top=2, gallery="s3://photos/cam/", link=True)
