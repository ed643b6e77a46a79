"""Similar photos: the photo itself first, k respected, exact against a brute-force search."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from infra.errors import BeautyError
from scoring.gallery import score_gallery
from scoring.similar import nearest, similar
from scoring.table import ScoresFiles, read_scores

from .scoring_fixtures import TinyRun, tiny_run

__all__ = ["tiny_run"]


def _quiet(line: str) -> None:
    """Progress lines are not under test here."""


@pytest.fixture(scope="module")
def table(tiny_run: TinyRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("similar") / "gallery.parquet"
    score_gallery(tiny_run.run_dir, str(tiny_run.gallery), out=out, progress=_quiet)
    return out


def _cosines(embeddings: np.ndarray, row: int) -> np.ndarray:
    unit = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    return unit @ unit[row]


def test_a_gallery_photos_nearest_others_come_nearest_first(
    tiny_run: TinyRun, table: Path, tmp_path: Path
) -> None:
    frame, embeddings = read_scores(table)
    row = 7
    name = Path(frame["uri"].iloc[row]).name
    found = similar(tiny_run.run_dir, name, k=5, scores=table, out=tmp_path, progress=_quiet)
    assert len(found.photos) == 5
    assert frame["uri"].iloc[row] not in set(found.photos["uri"])  # k others, not itself
    assert np.all(np.diff(found.photos["similarity"]) <= 1e-6)
    # Exact cosines from the stored embeddings: the five found are the five most similar, up
    # to the float16 rounding of the index.
    exact = pd.Series(_cosines(np.asarray(embeddings, dtype="float64"), row), index=frame["uri"])
    np.testing.assert_allclose(found.photos["similarity"], exact[found.photos["uri"]], atol=2e-3)
    others = exact.drop([*found.photos["uri"], frame["uri"].iloc[row]])
    assert others.max() <= found.photos["similarity"].min() + 2e-3
    assert ScoresFiles(table).index.is_file()
    assert found.sheet_html is not None and found.sheet_html.is_file()
    by_id = similar(
        tiny_run.run_dir, frame["image"].iloc[row], k=30, scores=table, out=tmp_path,
        progress=_quiet,
    )  # fmt: skip
    assert len(by_id.photos) == len(frame) - 1
    assert frame["image"].iloc[row] not in set(by_id.photos["image"])
    assert "nearest first" in found.sheet_html.read_text(encoding="utf-8")


def test_a_new_photo_is_embedded_on_the_fly(tiny_run: TinyRun, table: Path, tmp_path: Path) -> None:
    frame, _ = read_scores(table)
    copy = tmp_path / "elsewhere" / "new-name.jpg"
    copy.parent.mkdir()
    copy.write_bytes(Path(frame["uri"].iloc[3]).read_bytes())
    lines: list[str] = []
    found = similar(
        tiny_run.run_dir, str(copy), k=3, scores=table, out=tmp_path, progress=lines.append
    )
    assert any("embedding it" in line for line in lines)
    assert found.photos["uri"].iloc[0] == frame["uri"].iloc[3]
    assert found.photos["similarity"].iloc[0] == pytest.approx(1.0, abs=2e-3)


def test_an_unknown_name_is_one_clear_error(tiny_run: TinyRun, table: Path) -> None:
    with pytest.raises(BeautyError, match="no such file exists"):
        similar(tiny_run.run_dir, "nowhere.jpg", scores=table, progress=_quiet)


@pytest.mark.parametrize("k", [1, 7, 50])
def test_the_blockwise_search_equals_a_full_sort(k: int) -> None:
    rng = np.random.default_rng(k)
    vectors = rng.normal(size=(40_000, 8)).astype("float32")
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    query = rng.normal(size=8)
    exclude = rng.random(len(vectors)) < 0.1
    rows, sims = nearest(vectors.astype("float16"), query, k, exclude=exclude)
    exact = vectors.astype("float16").astype("float32") @ (query / np.linalg.norm(query))
    exact[exclude] = -np.inf
    expected = np.argsort(-exact, kind="stable")[:k]
    assert rows.tolist() == expected.tolist()
    np.testing.assert_allclose(sims, exact[expected], rtol=1e-5)


def test_the_command_prints_the_neighbours(tiny_run: TinyRun, table: Path, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from beauty.cli import cli

    frame = pd.read_parquet(table)
    result = CliRunner().invoke(
        cli,
        ["-w", str(tiny_run.root), "similar", frame["image"].iloc[0], "--model", "tiny",
         "--scores", str(table), "--k", "4", "--out", str(tmp_path)],
        catch_exceptions=False,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split()[:3] == ["rank", "image", "similarity"]
    assert lines[1].split()[0] == "1" and frame["image"].iloc[0] not in result.stdout
    assert len(lines) == 1 + 4 + 1
