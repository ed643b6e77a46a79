"""Load on the local market: many simulated labelers against a real server on loopback.

The server runs as ``beauty label serve`` in its own process (so client threads do not share
its interpreter); labelers sign in, ask for HITs and submit over HTTP until the submission
budget is spent. The ledger is then audited: every accepted submission stored exactly once.

    .venv/bin/python bench/local_market.py --labelers 50 --submissions 2000
"""

from __future__ import annotations

import argparse
import math
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from crowd.batches import BatchSpec, plan_batch
from crowd.local.simulate import CrowdRun, run_crowd
from infra import gallery
from infra.workspace import Workspace
from ranking.crowd import make_crowd

ASSIGNMENTS = 3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labelers", type=int, default=50)
    parser.add_argument("--submissions", type=int, default=2000)
    parser.add_argument("--screens-per-hit", type=int, default=4)
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="beauty-bench-") as tmp:
        ws = _workspace(Path(tmp), args.images, args.seed)
        hits = math.ceil(args.submissions / ASSIGNMENTS) + args.labelers
        spec = BatchSpec.from_settings(
            ws.settings,
            design="fourup",
            screens_per_hit=args.screens_per_hit,
            assignments=ASSIGNMENTS,
            gold_rate=0.0,
            market="local",
            hits=hits,
            seed=args.seed,
        )
        plan_batch(ws, spec)
        truth = {r[0]: float(i) for i, r in enumerate(ws.ledger.query("SELECT id FROM images"))}
        crowd = make_crowd(args.labelers, 0.2, seed=args.seed)
        server, url = _serve(ws)
        try:
            started = time.perf_counter()
            run = run_crowd(
                url,
                crowd,
                truth,
                ws.ledger,
                seed=args.seed,
                seconds_per_screen=ws.settings.hits.seconds_per_screen,
                limit=args.submissions,
            )
            elapsed = time.perf_counter() - started
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=30)
        _report(ws, run, elapsed, args)


def _workspace(root: Path, n_images: int, seed: int) -> Workspace:
    ws = Workspace.init(root / "ws")
    folder = root / "gallery"
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n_images):
        pixels = rng.integers(0, 255, (90, 320, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"frame{i:04d}.jpg", quality=85)
    gallery.add_images(ws, str(folder))
    return ws


def _serve(ws: Workspace) -> tuple[subprocess.Popen[str], str]:
    """``beauty label serve`` on a free loopback port; the process and its URL."""
    log = ws.root / "server.log"  # waitress reports its queue depth there under load
    with log.open("w") as err:
        server = subprocess.Popen(
            [sys.executable, "-m", "beauty", "-w", str(ws.root), "label", "serve", "--port", "0"],
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    assert server.stdout is not None
    line = server.stdout.readline()  # "labeling server at http://127.0.0.1:PORT ..."
    if "http://" not in line:
        server.kill()
        raise SystemExit(f"the server did not start: {log.read_text()[-2000:]}")
    return server, line.split(" at ", 1)[1].split()[0]


def _report(ws: Workspace, run: CrowdRun, elapsed: float, args: argparse.Namespace) -> None:
    ledger = ws.ledger
    accepted = sum(run.submitted.values())
    stored = ledger.scalar("SELECT COUNT(*) FROM assignments WHERE state = 'submitted'")
    doubled = ledger.scalar(
        "SELECT COUNT(*) FROM (SELECT 1 FROM assignments GROUP BY hit_id, worker_id "
        "HAVING COUNT(*) > 1)"
    )
    judgments = ledger.scalar("SELECT COUNT(*) FROM judgments")
    expected_judgments = ledger.scalar(
        "SELECT COUNT(*) FROM screens s JOIN assignments a ON a.hit_id = s.hit_id "
        "WHERE a.state = 'submitted'"
    )
    rows = [
        ("labelers", f"{args.labelers}"),
        ("submissions accepted", f"{accepted}"),
        ("submissions stored", f"{stored}"),
        ("lost (accepted, not stored)", f"{accepted - stored}"),
        ("doubled (HIT twice to a labeler)", f"{doubled}"),
        ("judgments stored / expected", f"{judgments} / {expected_judgments}"),
        ("refused (409)", f"{run.refused}"),
        ("wall time", f"{elapsed:.1f} s"),
        ("throughput", f"{accepted / elapsed:.0f} submissions/s"),
    ]
    for op in ("next", "submit"):
        seconds = np.array(run.timings.get(op, [0.0])) * 1000
        rows.append(
            (
                f"{op} latency p50 / p99",
                f"{np.percentile(seconds, 50):.1f} / {np.percentile(seconds, 99):.1f} ms",
            )
        )
    width = max(len(k) for k, _ in rows)
    for key, value in rows:
        print(f"{key.ljust(width)}  {value}")
    if accepted != stored or doubled or judgments != expected_judgments:
        raise SystemExit("the ledger does not match what the server accepted")


if __name__ == "__main__":
    main()
