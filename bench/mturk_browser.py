"""An MTurk campaign worked by real Chromium on MTurk-framed pages: do workers see and send what
they should?

Posts 4-up and pair batches (made gold mixed in) to the MTurk fake with per-HIT image copies in
moto's S3, works every assignment in headless Chromium inside a cross-origin frame the way
MTurk shows an HTMLQuestion (keys before any click, clicks, Back), submits through a capture of
MTurk's externalSubmit, syncs, and compares. Loopback only: nothing leaves the machine, and AWS
is moto with dummy credentials. Needs Debian's chromium and chromium-driver (`make browser`).

    .venv/bin/python -m bench.mturk_browser [--hits 5] [--assignments 3] [--screens 5]
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from moto import mock_aws

from tests.mturk.browser_campaign import Figures, run_campaign


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--hits", type=int, default=5, help="HITs per design (4-up and pairs)")
    parser.add_argument("--assignments", type=int, default=3, help="workers per HIT")
    parser.add_argument("--screens", type=int, default=5, help="screens per HIT")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds a screen may take")
    args = parser.parse_args()
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_MTURK"):
        os.environ.pop(name, None)
    os.environ.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        BEAUTY_QUIET="1",
    )
    with tempfile.TemporaryDirectory() as tmp, mock_aws():
        figures = run_campaign(
            Path(tmp),
            hits=args.hits,
            assignments=args.assignments,
            screens_per_hit=args.screens,
            seed=args.seed,
            timeout=args.timeout,
        )
    show(figures)


def show(f: Figures) -> None:
    rows = [
        ("assignments worked", f.assignments),
        ("screens worked", f.screens),
        ("screen views checked (Back included)", f.views),
        ("Back presses", f.backs),
        ("screens shown wrong", f.screens_shown_wrong),
        ("screens posted differently from the choice", f.screens_posted_differently),
        ("script errors (console and uncaught)", f.script_errors),
        ("assignments never submitted", f.not_submitted),
        ("answers unreadable after sync", f.parse_failed),
        ("assignments stored as chosen", f"{f.stored_as_chosen}/{f.assignments}"),
        ("wall seconds", f"{f.seconds:.1f}"),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name:<{width}}  {value}")
    for line in f.problems[:20]:
        print("  " + line)


if __name__ == "__main__":
    main()
