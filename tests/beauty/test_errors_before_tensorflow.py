"""A missing run, scores table or workspace is one error line, said before TensorFlow loads (no
wait of seconds, no weights download, for a typo)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from infra.workspace import Workspace

# Runs in a fresh interpreter: in this one, other tests may have loaded TensorFlow already.
PROBE = """
import json, sys
from click.testing import CliRunner
from beauty.cli import cli
results = []
for args in json.loads(sys.argv[1]):
    result = CliRunner().invoke(cli, args)
    results.append([args, result.exit_code, result.output, "tensorflow" in sys.modules])
print(json.dumps(results))
"""


def test_missing_inputs_are_refused_before_tensorflow_loads(tmp_path: Path) -> None:
    ws = Workspace.init(tmp_path / "ws")
    (ws.runs_dir / "unfinished").mkdir(parents=True)
    w = ["-w", str(ws.root)]
    cases = [
        (["-w", str(tmp_path / "nowhere"), "train", "--name", "x"], "not a workspace"),
        ([*w, "train", "--name", "x"], "beauty rank"),
        ([*w, "train", "--scores", "nope.parquet"], "nope.parquet"),
        ([*w, "evaluate", "nope"], "no run nope"),
        ([*w, "score", "--model", "nope"], "no run nope"),
        ([*w, "score", "--model", "unfinished"], "no finished run"),
        ([*w, "curate", "--model", "nope", "--top", "5%", "--out", "a"], "no run nope"),
        ([*w, "similar", "x.jpg", "--model", "unfinished"], "no finished"),
        ([*w, "export", "--model", "nope", "--out", "serving"], "no run nope"),
    ]
    probe = subprocess.run(
        [sys.executable, "-c", PROBE, json.dumps([args for args, _ in cases])],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    for (args, code, output, loaded), (_, expected) in zip(
        json.loads(probe.stdout), cases, strict=True
    ):
        command = " ".join(args[2:])
        assert code == 1 and expected in output, f"`{command}` said: {output}"
        assert not loaded, f"`{command}` loaded TensorFlow before refusing"
