"""Choosing a scoring engine: Ray stays optional and is imported only when chosen."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner

from infra.errors import BeautyError
from scoring.ray_engine import INSTALL_HINT, RayOptions, _replicas, import_ray

ROOT = Path(__file__).resolve().parents[2]


def test_without_ray_the_engine_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # as if it were not installed
    with pytest.raises(BeautyError) as caught:
        import_ray()
    assert str(caught.value) == INSTALL_HINT and "\n" not in str(caught.value)


def test_the_command_refuses_ray_without_it_in_one_line(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from beauty.cli import cli

    monkeypatch.setitem(sys.modules, "ray", None)
    run = tmp_path / "runs" / "r"
    run.mkdir(parents=True)
    result = CliRunner().invoke(
        cli, ["score", str(tmp_path), "--model", str(run), "--engine", "ray"]
    )
    assert result.exit_code == 1
    assert result.stderr.strip().endswith(INSTALL_HINT)


def test_scoring_and_the_command_do_not_import_ray() -> None:
    code = "import sys, beauty.cli, scoring.gallery; print('ray' in sys.modules)"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


def test_replicas_follow_gpus_else_cpus() -> None:
    assert _replicas({"CPU": 8, "GPU": 2}, RayOptions(cpus_per_replica=4)) == 2
    assert _replicas({"CPU": 8}, RayOptions(cpus_per_replica=3)) == 2
    with pytest.raises(BeautyError, match="fewer than --cpus-per-replica"):
        _replicas({"CPU": 2}, RayOptions(cpus_per_replica=4))
