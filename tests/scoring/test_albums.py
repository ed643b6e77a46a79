"""Curating: the right photos in rank order, a contact sheet, and star ratings XMP readers see."""

from __future__ import annotations

import json
import math
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from PIL import Image

from infra.errors import BeautyError
from scoring.albums import curate, in_top_share, parse_top
from scoring.gallery import score_gallery
from scoring.table import read_scores
from training.metrics import kept_for_recall

from .scoring_fixtures import TinyRun, tiny_run

__all__ = ["tiny_run"]
RDF = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}"
XMP = "{http://ns.adobe.com/xap/1.0/}"


def _quiet(line: str) -> None:
    """Progress lines are not under test here."""


@pytest.fixture(scope="module")
def scored(
    tiny_run: TinyRun, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, pd.DataFrame]:
    table = tmp_path_factory.mktemp("scores") / "gallery.parquet"
    score_gallery(tiny_run.run_dir, str(tiny_run.gallery), out=table, progress=_quiet)
    return table, read_scores(table)[0]


def _rating(sidecar: Path) -> int:
    """``xmp:Rating`` as an XMP reader finds it."""
    root = ET.fromstring(sidecar.read_bytes())
    [description] = list(root.iter(f"{RDF}Description"))
    return int(description.attrib[f"{XMP}Rating"])


def test_the_top_share_is_copied_by_rank_with_sheet_and_ratings(
    tiny_run: TinyRun, scored: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    table, frame = scored
    out = tmp_path / "album"
    album = curate(tiny_run.run_dir, out, top=0.10, scores=table, xmp=True, progress=_quiet)
    # The top 10% is every photo at or above percentile 90, as the captions print it.
    best = frame[frame["percentile"] >= 90].sort_values("score", ascending=False)
    assert album.photos["uri"].tolist() == best["uri"].tolist()
    assert album.skipped_share == pytest.approx(1 - len(best) / len(frame))
    files = sorted(p.name for p in out.glob("*.jpg"))
    names = [f"{i:04d}_{Path(u).name}" for i, u in enumerate(best["uri"], 1)]
    assert files == names
    for name, uri in zip(names, best["uri"], strict=True):
        assert (out / name).read_bytes() == Path(uri).read_bytes()
        assert not (out / name).is_symlink()
    manifest = pd.read_csv(out / "album.csv")
    assert manifest["file"].tolist() == names
    for name, tier in zip(names, best["tier"], strict=True):
        assert _rating(out / f"{name}.xmp") == tier + 1
    page = album.sheet_html.read_text()
    thumbs = re.findall(r'src="([^"]+)"', page)
    assert len(thumbs) == len(best) and all((out / t).is_file() for t in thumbs)
    assert page.index(Path(names[0]).name) < page.index(Path(names[-1]).name)
    with Image.open(album.sheet_png) as sheet:
        assert sheet.width > 100 and sheet.height > 50


def test_the_top_share_of_300_photos_is_15_at_or_above_percentile_95() -> None:
    # The gallery's percentiles, as scoring writes them: (rank from the bottom - 0.5) / n.
    frame = pd.DataFrame({"percentile": (np.arange(300, 0, -1) - 0.5) / 300 * 100})
    count = in_top_share(frame, 0.05)
    assert count == 15, f"the top 5% of 300 photos holds {count}"
    assert frame["percentile"].iloc[count - 1] >= 95 > frame["percentile"].iloc[count]
    assert in_top_share(frame.head(1), 0.05) == 1, "a one-photo gallery's top share is empty"


def test_the_sheet_draws_a_line_where_the_top_5_percent_ends(
    tiny_run: TinyRun, scored: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    table, frame = scored
    album = curate(tiny_run.run_dir, tmp_path / "album", top=0.2, scores=table, progress=_quiet)
    top5 = int((frame["percentile"] >= 95).sum())
    assert 0 < top5 < len(album.photos), "the test needs the top 5% to end inside the album"
    page = album.sheet_html.read_text()
    line = page.index('<p class="line">')
    files = album.photos["file"].tolist()
    assert all(page.index(f) < line for f in files[:top5]), f"line drawn before #{top5}"
    assert all(page.index(f) > line for f in files[top5:]), f"line drawn after #{top5 + 1}"
    assert "at or above percentile 95" in page, "the sheet does not state the line's rule"
    with Image.open(album.sheet_png) as sheet:
        red = np.asarray(sheet.convert("RGB"))
        reddish = (red[..., 0] > 180) & (red[..., 1] < 80) & (red[..., 2] < 80)
        assert (reddish.mean(axis=1) > 0.9).any(), "the PNG sheet has no red line across it"


def test_a_second_album_in_the_same_folder_replaces_the_first(
    tiny_run: TinyRun, scored: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    table, _ = scored
    out = tmp_path / "album"
    curate(tiny_run.run_dir, out, top=6, scores=table, xmp=True, progress=_quiet)
    album = curate(tiny_run.run_dir, out, top=2, scores=table, link=True, progress=_quiet)
    photos = sorted(out.glob("*.jpg"))
    assert len(photos) == 2 and all(p.is_symlink() for p in photos)
    assert {str(p.resolve()) for p in photos} == set(album.photos["uri"])
    assert not list(out.glob("*.xmp"))
    stranger = tmp_path / "holiday"
    stranger.mkdir()
    (stranger / "mine.txt").write_text("keep me")
    with pytest.raises(BeautyError, match="not empty and holds no album"):
        curate(tiny_run.run_dir, stranger, top=2, scores=table, progress=_quiet)
    assert (stranger / "mine.txt").read_text() == "keep me"


def test_keep_recall_cuts_where_the_evaluation_kept_that_recall(
    tiny_run: TinyRun, scored: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    table, frame = scored
    album = curate(
        tiny_run.run_dir, tmp_path / "a", keep_recall=0.95, scores=table, progress=_quiet
    )
    held_out = pd.read_csv(tiny_run.run_dir / "evaluation" / "predictions.csv")
    truth, pred = held_out["score"].to_numpy(), held_out["prediction"].to_numpy()
    assert album.cut is not None
    assert album.cut.heldout_kept == kept_for_recall(truth, pred, 0.05, 0.95)
    assert album.cut.heldout_images == len(held_out)
    kept = frame[frame["score"] >= album.cut.line]
    assert set(album.photos["uri"]) == set(kept["uri"])
    assert 0 < len(album.photos) <= len(frame)


def test_ratings_beside_the_originals_never_replace_a_sidecar(
    tiny_run: TinyRun, scored: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    table, _ = scored
    album = curate(tiny_run.run_dir, tmp_path / "a", top=3, scores=table, progress=_quiet)
    first, second = (Path(u) for u in album.photos["uri"].iloc[:2])
    existing = first.with_name(first.name + ".xmp")
    existing.write_text("<x:xmpmeta xmlns:x='adobe:ns:meta/'/>")
    try:
        again = curate(
            tiny_run.run_dir, tmp_path / "a", top=3, scores=table, xmp_beside_originals=True,
            progress=_quiet,
        )  # fmt: skip
        assert again.xmp_kept == [existing]
        assert existing.read_text() == "<x:xmpmeta xmlns:x='adobe:ns:meta/'/>"
        sidecar = second.with_name(second.name + ".xmp")
        assert _rating(sidecar) == int(again.photos["stars"].iloc[1])
    finally:
        for uri in album.photos["uri"]:
            Path(f"{uri}.xmp").unlink(missing_ok=True)


def test_without_a_table_the_gallery_is_scored_first(tiny_run: TinyRun, tmp_path: Path) -> None:
    folder = tmp_path / "g"
    folder.mkdir()
    for uri in tiny_run.uris[:6]:
        (folder / Path(uri).name).write_bytes(Path(uri).read_bytes())
    lines: list[str] = []
    album = curate(
        tiny_run.run_dir, tmp_path / "a", top=2, gallery=str(folder), progress=lines.append
    )
    assert any("scoring it" in line for line in lines)
    assert len(album.photos) == 2 and album.gallery_images == 6


@pytest.mark.parametrize(
    ("text", "value"), [("5%", 0.05), ("0.25", 0.25), ("100%", 1.0), ("120", 120)]
)
def test_top_is_a_share_or_a_count(text: str, value: float) -> None:
    parsed = parse_top(text)
    assert parsed == pytest.approx(value) and type(parsed) is type(value)


@pytest.mark.parametrize("text", ["0", "0%", "150%", "five", "-3"])
def test_a_bad_top_names_the_forms(text: str) -> None:
    with pytest.raises(BeautyError, match="share like 5%"):
        parse_top(text)


def test_the_command_lists_the_album_as_json(
    tiny_run: TinyRun, scored: tuple[Path, pd.DataFrame], tmp_path: Path
) -> None:
    from beauty.cli import cli

    table, frame = scored
    result = CliRunner().invoke(
        cli,
        ["-w", str(tiny_run.root), "curate", "--model", str(tiny_run.run_dir), "--top", "25%",
         "--scores", str(table), "--out", str(tmp_path / "a"), "--json"],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
    assert len(rows) == math.ceil(0.25 * len(frame))
    assert np.all(np.diff([r["score"] for r in rows]) <= 0)
    both = CliRunner().invoke(
        cli,
        ["-w", str(tiny_run.root), "curate", "--model", "tiny", "--out", str(tmp_path / "b")],
    )
    assert both.exit_code == 1 and "--top" in both.stderr


def test_a_failed_album_leaves_the_earlier_one_whole(
    tiny_run: TinyRun,
    scored: tuple[Path, pd.DataFrame],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import scoring.albums

    table, _ = scored
    out = tmp_path / "album"
    first = curate(tiny_run.run_dir, out, top=3, scores=table, progress=_quiet)
    before = sorted(p.name for p in first.folder.iterdir())

    def broken(*args: object, **kwargs: object) -> None:
        raise OSError("No space left on device")

    monkeypatch.setattr(scoring.albums, "contact_sheet", broken)
    with pytest.raises(OSError, match="No space"):
        curate(tiny_run.run_dir, out, top=5, scores=table, progress=_quiet)
    assert sorted(p.name for p in out.iterdir()) == before
    assert [p.name for p in tmp_path.iterdir()] == ["album"]  # no half-built folder left
