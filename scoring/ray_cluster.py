"""A throwaway Ray cluster on this machine: a head and worker nodes as separate processes.

For tests and benchmarks: each node is a ``ray start --block`` process in its own process
group, with its session files in a private temporary folder; :meth:`LocalCluster.stop` ends
exactly those process groups (``ray stop`` would end every Ray on the machine).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import TracebackType

from infra.errors import BeautyError

STARTUP_SECONDS = 120.0


class LocalCluster:
    """A head node and ``workers`` worker nodes of ``cpus`` CPUs each, on loopback."""

    def __init__(self, workers: int = 1, cpus: float = 1, pythonpath: str | None = None) -> None:
        self.workers = workers
        self.cpus = cpus
        self.port = _free_port()
        self.address = f"127.0.0.1:{self.port}"
        # Short: Ray's Unix sockets live under it, and socket paths are limited to 107 bytes.
        self.temp_dir = Path(tempfile.mkdtemp(prefix="ray-", dir="/tmp"))
        self.env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0", TF_CPP_MIN_LOG_LEVEL="2")
        root = pythonpath or str(Path(__file__).resolve().parent.parent)
        self.env["PYTHONPATH"] = os.pathsep.join(
            p for p in (root, os.environ.get("PYTHONPATH", "")) if p
        )
        self.nodes: list[subprocess.Popen[bytes]] = []

    def __enter__(self) -> LocalCluster:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def _ray(self, *args: str) -> subprocess.Popen[bytes]:
        ray = Path(sys.executable).with_name("ray")
        log = open(self.temp_dir / f"node-{len(self.nodes)}.log", "wb")  # noqa: SIM115
        common = ["--num-cpus", f"{self.cpus:g}", "--node-ip-address", "127.0.0.1", "--block"]
        node = subprocess.Popen(
            [str(ray), "start", *args, *common],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self.nodes.append(node)
        return node

    def start(self) -> None:
        """Start the head, then the workers; returns once every node has joined."""
        self._ray(
            "--head", "--port", str(self.port), "--temp-dir", str(self.temp_dir),
            "--include-dashboard=false", "--disable-usage-stats",
        )  # fmt: skip
        self._wait_for(1)
        for _ in range(self.workers):
            self._ray("--address", self.address)
        self._wait_for(1 + self.workers)

    def _wait_for(self, nodes: int) -> None:
        ray = Path(sys.executable).with_name("ray")
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            for node in self.nodes:
                if node.poll() is not None:
                    self.stop()
                    raise BeautyError(f"a Ray node exited while starting; see {self.temp_dir}")
            status = subprocess.run(
                [str(ray), "status", "--address", self.address],
                env=self.env, capture_output=True, text=True, check=False,
            )  # fmt: skip
            if status.returncode == 0 and status.stdout.count(" node_") >= nodes:
                return
            time.sleep(1.0)
        self.stop()
        raise BeautyError(f"the Ray cluster did not start in {STARTUP_SECONDS:.0f} s")

    def stop(self) -> None:
        """End every process of this cluster's nodes (each node's own process group)."""
        for sig in (signal.SIGTERM, signal.SIGKILL):
            for node in reversed(self.nodes):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(node.pid, sig)
            deadline = time.monotonic() + 10
            for node in self.nodes:
                with contextlib.suppress(subprocess.TimeoutExpired):
                    node.wait(max(0.1, deadline - time.monotonic()))
        self.nodes = []
        shutil.rmtree(self.temp_dir, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
