from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from moto import mock_aws

from beauty.cli import cli


def _run(*args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_init_then_add_and_list_as_json(tmp_path: Path, messy_gallery: Path) -> None:
    ws = tmp_path / "ws"
    assert _run("init", str(ws)).exit_code == 0
    assert (ws / "beauty.toml").exists() and (ws / "beauty.db").exists()
    added = _run("-w", str(ws), "images", "add", str(messy_gallery))
    assert added.exit_code == 0, added.output
    assert "4 added, 1 duplicate(s) kept as aliases" in added.output
    assert "skipped" in added.stderr and "notes.jpg" in added.stderr
    listed = _run("-w", str(ws), "images", "list", "--json")
    rows = json.loads(listed.stdout)
    assert {r["file_name"] for r in rows} == {
        "a.jpg",
        "2016-07-14_1930.jpg",
        "alpha.png",
        "rotated.jpg",
    }
    assert all(len(r["id"]) == 16 for r in rows)


def test_no_usable_images_exits_1_with_one_line(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    _run("init", str(ws))
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "x.jpg").write_text("nope")
    result = _run("-w", str(ws), "images", "add", str(junk))
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines()[-1].startswith("error: ")


def test_outside_a_workspace_the_error_names_the_fix(tmp_path: Path) -> None:
    result = _run("-w", str(tmp_path / "nowhere"), "images", "list")
    assert result.exit_code == 1
    assert "beauty init" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_usage_errors_exit_2() -> None:
    assert _run("images", "list", "--bogus").exit_code == 2


def test_bad_setting_is_one_line_naming_the_key(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    _run("init", str(ws))
    (ws / "beauty.toml").write_text("[label]\nport = 'eighty'\n")
    result = _run("-w", str(ws), "images", "list")
    assert result.exit_code == 1
    assert "label.port" in result.stderr


def test_installed_command_runs_in_a_real_process(tmp_path: Path) -> None:
    exe = shutil.which("beauty", path=str(Path(sys.executable).parent)) or shutil.which("beauty")
    assert exe, "the `beauty` console script is not installed"
    env = {**os.environ, "BEAUTY_QUIET": "1"}
    done = subprocess.run(
        [exe, "init", str(tmp_path / "ws")], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    module = subprocess.run(
        [sys.executable, "-m", "beauty", "--help"], capture_output=True, text=True, check=False
    )
    assert module.returncode == 0 and "images" in module.stdout


def test_the_command_line_does_not_import_tensorflow() -> None:
    probe = "import sys, beauty.cli; print('tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_missing_aws_credentials_are_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    ws = tmp_path / "ws"
    _run("init", str(ws))
    result = _run("-w", str(ws), "images", "add", "s3://gallery/needle")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "error: no AWS credentials: run `aws configure` or set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY (or AWS_PROFILE)"
    )


@mock_aws
def test_a_missing_bucket_is_one_line_naming_the_fix(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    _run("init", str(ws))
    result = _run("-w", str(ws), "images", "add", "s3://no-such-bucket/needle")
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "NoSuchBucket" in lines[0] and "check the bucket" in lines[0]
