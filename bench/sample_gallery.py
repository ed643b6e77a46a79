"""How fast the sample gallery is generated: images per second for a gallery of N frames.

Usage: python bench/sample_gallery.py [--count 300] [--seed 0] [--keep DIR]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from sample import generate_gallery
from sample.plate import load_plate


def main() -> None:
    """Generate one gallery and print its size, wall time and throughput."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--keep", type=Path, help="write here instead of a temporary folder")
    args = parser.parse_args()

    start = time.perf_counter()
    load_plate()
    setup = time.perf_counter() - start
    with tempfile.TemporaryDirectory() as scratch:
        out = args.keep or Path(scratch)
        start = time.perf_counter()
        cpu = time.process_time()
        truth = generate_gallery(out, args.count, args.seed)
        wall = time.perf_counter() - start
        cpu = time.process_time() - cpu
        size = sum(f.stat().st_size for f in out.glob("*.jpg"))
    n = len(truth)
    print(f"plate setup  {setup:6.2f} s (once per process)")
    print(f"{n} images   {wall:6.2f} s wall, {cpu:6.2f} s cpu, {size / 2**20:.1f} MiB")
    print(f"throughput   {n / wall:6.1f} images/s ({n / cpu:.1f} per cpu-second)")


if __name__ == "__main__":
    main()
