"""Labelers beside slow clients: does the labeling server keep answering, and lose nothing?

Each phase starts ``beauty label serve`` in its own process on a free port of 127.0.0.1 (never
another address), lets simulated labelers sign in, ask for HITs and submit through the JSON
API until the submission budget is spent, and audits the ledger: every accepted answer stored
once. The second phase first opens ``--slow`` connections that send a request header one line
a second and never finish it (reopened as the server drops them), and keeps them open while
the labelers work. Throughout, fresh connections probe ``GET /login``: what a new visitor
waits. A phase is stopped after ``--max-seconds``.

    .venv/bin/python -m bench.server_load --labelers 50 --submissions 1000 --slow 150

``--env NAME=VALUE`` passes a setting to the server, e.g. waitress's old limits:
``--env BEAUTY_LABEL__CONNECTION_LIMIT=100 --env BEAUTY_LABEL__HEADER_TIMEOUT=120``.
"""

from __future__ import annotations

import argparse
import http.client
import math
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bench.local_market import _workspace
from crowd.batches import BatchSpec, plan_batch
from crowd.local.simulate import CrowdRun, run_crowd
from infra.workspace import Workspace
from ranking.crowd import make_crowd

HOST = "127.0.0.1"  # loopback only
ASSIGNMENTS = 3
PROBE_TIMEOUT = 10.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labelers", type=int, default=50)
    parser.add_argument("--submissions", type=int, default=1000)
    parser.add_argument("--slow", type=int, default=150, help="slow-header connections")
    parser.add_argument("--max-seconds", type=float, default=180.0, help="per phase")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    if not (1 <= args.labelers <= 200 and 1 <= args.submissions <= 20_000 and args.slow <= 500):
        raise SystemExit("keep it bounded: labelers 1-200, submissions up to 20000, slow <= 500")
    env = dict(os.environ, **dict(kv.split("=", 1) for kv in args.env))
    rows = [_phase(args, env, slow=0), _phase(args, env, slow=args.slow)]
    _print(rows)
    if any(r["lost"] or r["error"] for r in rows):
        raise SystemExit("answers were lost or labelers failed")


@dataclass
class SlowClients:
    """Connections that trickle a header line each second and never end it."""

    url: str
    count: int
    opened: int = 0
    dropped: int = 0  # closed by the server
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while self.opened < self.count and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _open(self) -> socket.socket | None:
        try:
            sock = socket.create_connection(_address(self.url), timeout=2)
            sock.sendall(b"POST /api/submit HTTP/1.1\r\nHost: " + HOST.encode() + b"\r\n")
        except OSError:
            return None
        sock.setblocking(False)
        self.opened += 1
        return sock

    def _run(self) -> None:
        socks: list[socket.socket | None] = [self._open() for _ in range(self.count)]
        line = 0
        while not self._stop.wait(1.0):
            line += 1
            for i, sock in enumerate(socks):
                if sock is not None and _alive(sock, f"X-Slow-{line}: 1\r\n".encode()):
                    continue
                if sock is not None:
                    sock.close()
                    self.dropped += 1
                socks[i] = self._open()
        for sock in socks:
            if sock is not None:
                sock.close()


def _alive(sock: socket.socket, data: bytes) -> bool:
    try:
        if sock.recv(4096) == b"":
            return False
    except BlockingIOError:
        pass
    except OSError:
        return False
    try:
        sock.send(data)
    except OSError:
        return False
    return True


@dataclass
class Probes:
    """A fresh connection's ``GET /login`` every half second: seconds to each answer."""

    url: str
    seconds: list[float] = field(default_factory=list)
    unanswered: int = 0
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=PROBE_TIMEOUT + 5)

    def _run(self) -> None:
        while not self._stop.wait(0.5):
            started = time.perf_counter()
            conn = http.client.HTTPConnection(*_address(self.url), timeout=PROBE_TIMEOUT)
            try:
                conn.request("GET", "/login")
                conn.getresponse().read()
                self.seconds.append(time.perf_counter() - started)
            except OSError:
                self.unanswered += 1
            finally:
                conn.close()


def _phase(args: argparse.Namespace, env: dict[str, str], slow: int) -> dict[str, object]:
    with tempfile.TemporaryDirectory(prefix="beauty-bench-") as tmp:
        ws = _workspace(Path(tmp), 60, args.seed)
        spec = BatchSpec.from_settings(
            ws.settings, design="fourup", screens_per_hit=4, assignments=ASSIGNMENTS,
            gold_rate=0.0, market="local", seed=args.seed,
            hits=math.ceil(args.submissions / ASSIGNMENTS) + args.labelers,
        )  # fmt: skip
        plan_batch(ws, spec)
        truth = {r[0]: float(i) for i, r in enumerate(ws.ledger.query("SELECT id FROM images"))}
        server, url = _serve(ws, env)
        watchdog = threading.Timer(args.max_seconds, server.kill)
        watchdog.start()
        slow_clients, probes = SlowClients(url, slow), Probes(url)
        error, run, started = "", CrowdRun(), time.perf_counter()
        try:
            if slow:
                slow_clients.start()
            probes.start()
            started = time.perf_counter()
            run = run_crowd(
                url, make_crowd(args.labelers, 0.2, seed=args.seed), truth, ws.ledger,
                seed=args.seed, seconds_per_screen=ws.settings.hits.seconds_per_screen,
                limit=args.submissions,
            )  # fmt: skip
        except Exception as exc:  # a labeler that got no answer: reported, not raised
            error = f"{type(exc).__name__}: {str(exc)[:80]}"
        finally:
            elapsed = time.perf_counter() - started
            probes.stop()
            slow_clients.stop()
            watchdog.cancel()
            if server.poll() is None:
                server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
        return _row(ws, run, elapsed, slow_clients, probes, args.labelers, error)


def _serve(ws: Workspace, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    """``beauty label serve`` on a free loopback port; the process and its URL."""
    log = (ws.root / "server.log").open("w")
    command = [sys.executable, "-m", "beauty", "-w", str(ws.root), "label", "serve"]
    server = subprocess.Popen(
        [*command, "--host", HOST, "--port", "0"],
        stdout=subprocess.PIPE, stderr=log, text=True, env=env,
    )  # fmt: skip
    assert server.stdout is not None
    line = server.stdout.readline()  # "labeling server at http://127.0.0.1:PORT ..."
    if "http://" not in line:
        server.kill()
        raise SystemExit(f"the server did not start: {(ws.root / 'server.log').read_text()}")
    return server, line.split(" at ", 1)[1].split()[0]


def _address(url: str) -> tuple[str, int]:
    host, _, port = url.removeprefix("http://").rpartition(":")
    assert host == HOST, "loopback only"
    return host, int(port)


def _ms(values: list[float], q: float) -> str:
    return f"{np.percentile(np.array(values) * 1000, q):.0f}" if values else "-"


def _row(
    ws: Workspace, run: CrowdRun, elapsed: float, slow: SlowClients, probes: Probes,
    labelers: int, error: str,
) -> dict[str, object]:  # fmt: skip
    ledger = ws.ledger
    accepted = sum(run.submitted.values())
    stored = int(ledger.scalar("SELECT COUNT(*) FROM assignments WHERE state = 'submitted'"))
    submit, nxt = run.timings.get("submit", []), run.timings.get("next", [])
    return {
        "slow": slow.count,
        "labelers": labelers,
        "accepted/stored": f"{accepted}/{stored}",
        "lost": accepted - stored,
        "per s": f"{accepted / elapsed:.0f}" if elapsed else "-",
        "next p50/p99 ms": f"{_ms(nxt, 50)}/{_ms(nxt, 99)}",
        "submit p50/p99 ms": f"{_ms(submit, 50)}/{_ms(submit, 99)}",
        "new visitor p50/p99/max ms": (
            f"{_ms(probes.seconds, 50)}/{_ms(probes.seconds, 99)}/{_ms(probes.seconds, 100)}"
        ),
        "unanswered": probes.unanswered,
        "slow dropped": slow.dropped,
        "error": error,
    }


def _print(rows: list[dict[str, object]]) -> None:
    keys = list(rows[0])
    widths = [max(len(k), *(len(str(r[k])) for r in rows)) for k in keys]
    print("  ".join(k.rjust(w) for k, w in zip(keys, widths, strict=True)))
    for row in rows:
        print("  ".join(str(row[k]).rjust(w) for k, w in zip(keys, widths, strict=True)))


if __name__ == "__main__":
    main()
