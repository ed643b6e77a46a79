"""Multi-worker training for real: `beauty train --strategy multiworker` in two processes.

Two worker processes on this machine, joined by ``TF_CONFIG``, train one run; a third process
trains the same run alone with the default strategy. Only the chief writes into the run folder,
and its fine-tuning curve must be the single process's curve: each step is one device's
arithmetic on the global batch (see :mod:`training.fit`).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from infra.workspace import Workspace

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[2]
# Dropout off: each replica draws masks for its half of the batch, so with dropout the two
# curves agree only in distribution, not step by step.
OPTIONS = [
    "--backbone", "mobilenetv2", "--input-size", "32x128", "--folds", "0", "--epochs", "3",
    "--batch-size", "8", "--dropout", "0", "--bootstrap", "50", "--patience", "5",
]  # fmt: skip


def _free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [int(s.getsockname()[1]) for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _train(
    workspace: Path, weights: Path, name: str, strategy: str, tf_config: object | None
) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT), TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    if tf_config is not None:
        env["TF_CONFIG"] = json.dumps(tf_config)
    command = [sys.executable, "-m", "beauty", "-w", str(workspace), "train", "--name", name]
    return subprocess.Popen(
        [*command, "--strategy", strategy, "--weights", str(weights), *OPTIONS],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _finish(processes: list[subprocess.Popen[str]]) -> list[str]:
    outputs = []
    try:
        for process in processes:
            output, _ = process.communicate(timeout=400)
            assert process.returncode == 0, output[-3000:]
            outputs.append(output)
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    return outputs


def test_two_workers_train_one_run_as_one_process_would_and_only_the_chief_writes(
    workspace: Workspace, gallery: Callable[..., Path], calibrated_mobilenet: Path
) -> None:
    gallery(n=40, days=8)
    hosts = [f"localhost:{port}" for port in _free_ports(2)]
    workers = [
        _train(
            workspace.root,
            calibrated_mobilenet,
            "together",
            "multiworker",
            {"cluster": {"worker": hosts}, "task": {"type": "worker", "index": index}},
        )
        for index in range(2)
    ]
    alone = _train(workspace.root, calibrated_mobilenet, "alone", "default", None)
    chief_log, worker_log, _ = _finish([*workers, alone])

    runs = sorted(p.name for p in workspace.runs_dir.iterdir())
    assert runs == ["alone", "together"], f"the second worker wrote into the workspace: {runs}"
    assert "saved" in chief_log and "saved" in worker_log
    together, single = (
        json.loads((workspace.runs_dir / name / "model_card.json").read_text())
        for name in ("together", "alone")
    )
    curve = [(e["loss"], e["val_loss"]) for e in together["phases"]["phase2"]["history"]]
    expected = [(e["loss"], e["val_loss"]) for e in single["phases"]["phase2"]["history"]]
    assert len(curve) == 3
    moved = max(abs(val - curve[0][1]) for _, val in curve[1:]) / curve[0][1]
    assert moved > 0.01, f"fine-tuning hardly changed the model (validation loss moved {moved:.2%})"
    # The same global batches with the gradients summed across the two halves: one process's
    # arithmetic in another order of additions. Float32 round-off over a few steps stays far
    # below 1e-4 relative; a wrong split or scaling (each worker stepping on its half alone,
    # the loss averaged per half) moves the curve by percent.
    np.testing.assert_allclose(curve, expected, rtol=1e-4)
    predictions = [
        pd.read_csv(workspace.runs_dir / name / "evaluation" / "predictions.csv")
        for name in ("together", "alone")
    ]
    np.testing.assert_allclose(
        predictions[0]["prediction"], predictions[1]["prediction"], rtol=1e-4, atol=1e-5
    )
