"""Scoring on a real Ray cluster (a head and a worker node, separate processes on this machine):
the same files as the local engine, a resume after the driver is killed, bad files reported once.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from scoring.gallery import score_gallery
from scoring.ray_engine import RayOptions
from scoring.table import ScoresFiles, read_scores

from .scoring_fixtures import TinyRun, tiny_run

__all__ = ["tiny_run"]
pytest.importorskip("ray", reason="the Ray extra is not installed (pip install '.[ray]')")
pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    from scoring.ray_cluster import LocalCluster

    with LocalCluster(workers=1, cpus=1, pythonpath=str(ROOT)) as running:
        yield running.address


@pytest.fixture(scope="module")
def messy(tiny_run: TinyRun, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny gallery and one file that is not a photo."""
    folder = tmp_path_factory.mktemp("ray") / "messy"
    shutil.copytree(tiny_run.gallery, folder)
    (folder / "notes.jpg").write_text("not a photo")
    return folder


@pytest.fixture(scope="module")
def local(tiny_run: TinyRun, messy: Path) -> tuple[pd.DataFrame, np.ndarray]:
    out = messy.parent / "local.parquet"
    score_gallery(tiny_run.run_dir, str(messy), out=out, batch_size=4, progress=lambda _: None)
    frame, embeddings = read_scores(out)
    return frame, np.asarray(embeddings)


def _same_result(out: Path, local: tuple[pd.DataFrame, np.ndarray]) -> None:
    frame, embeddings = read_scores(out)
    expected, expected_embeddings = local
    assert frame["uri"].tolist() == expected["uri"].tolist()  # identical rows, gallery order
    assert np.abs(frame["score"].to_numpy() - expected["score"].to_numpy()).max() <= 1e-5
    pd.testing.assert_frame_equal(
        frame.drop(columns=["score", "percentile"]),
        expected.drop(columns=["score", "percentile"]),
        check_dtype=False,
    )
    np.testing.assert_allclose(frame["percentile"], expected["percentile"], atol=1e-9)
    np.testing.assert_allclose(
        np.asarray(embeddings, float), expected_embeddings.astype(float), rtol=2e-3, atol=1e-4
    )


def test_ray_writes_what_the_local_engine_writes_and_reports_a_bad_file_once(
    tiny_run: TinyRun,
    cluster: str,
    messy: Path,
    local: tuple[pd.DataFrame, np.ndarray],
    tmp_path: Path,
) -> None:
    out = tmp_path / "ray.parquet"
    lines: list[str] = []
    result = score_gallery(
        tiny_run.run_dir, str(messy), out=out, batch_size=4, chunk=8, progress=lines.append,
        engine="ray", ray=RayOptions(address=cluster, images_per_task=5),
    )  # fmt: skip
    assert "ray: 2 replica(s) of the model, 1 CPU each" in lines
    assert (result.scored, result.reused) == (len(tiny_run.uris), 0)
    assert [Path(s.uri).name for s in result.skipped] == ["notes.jpg"]
    assert sum(line.startswith("skipped") and "notes.jpg" in line for line in lines) == 1
    meta = json.loads(ScoresFiles(out).meta.read_text())
    assert [Path(s["uri"]).name for s in meta["skipped"]] == ["notes.jpg"]
    assert not ScoresFiles(out).parts.exists()
    _same_result(out, local)


DRIVER = """
import os, sys, time
from scoring.gallery import score_gallery
from scoring.ray_engine import RayOptions

def progress(line):
    print(line, flush=True)
    if line.startswith("saved part"):
        time.sleep(600)  # killed here, with a part on disk and the rest unscored

run, gallery, out, address = sys.argv[1:]
score_gallery(run, gallery, out=out, batch_size=4, chunk=4, progress=progress,
              engine="ray", ray=RayOptions(address=address, images_per_task=4))
"""


def test_a_killed_driver_resumes_with_only_the_rest(
    tiny_run: TinyRun,
    cluster: str,
    messy: Path,
    local: tuple[pd.DataFrame, np.ndarray],
    tmp_path: Path,
) -> None:
    out = tmp_path / "resumed.parquet"
    driver = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(DRIVER), str(tiny_run.run_dir), str(messy),
         str(out), cluster],
        env=dict(os.environ, PYTHONPATH=str(ROOT), RAY_USAGE_STATS_ENABLED="0"),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    parts = ScoresFiles(out).parts
    deadline = time.monotonic() + 120
    try:
        while not list(parts.glob("part-*.parquet")):
            assert driver.poll() is None, driver.stdout.read().decode() if driver.stdout else ""
            assert time.monotonic() < deadline, "no part saved in 120 s"
            time.sleep(0.2)
    finally:
        os.killpg(driver.pid, signal.SIGKILL)
        driver.wait()
    saved = sum(len(pd.read_parquet(p)) for p in parts.glob("part-*.parquet"))
    total = len(tiny_run.uris)
    assert 4 <= saved < total

    result = score_gallery(
        tiny_run.run_dir, str(messy), out=out, batch_size=4, chunk=8, progress=lambda _: None,
        engine="ray", ray=RayOptions(address=cluster),
    )  # fmt: skip
    assert (result.reused, result.scored) == (saved, total - saved)
    assert [Path(s.uri).name for s in result.skipped] == ["notes.jpg"]
    _same_result(out, local)
