"""Gallery scoring throughput: the local engine against Ray with one and two model replicas.

A model (random weights: speed does not depend on their values) at the production input size
is saved as a run, and sample-gallery panoramas are written to disk. Measured in one run, on
the same files and the same machine:

- ``local``: ``score_gallery`` in this process (every core);
- ``ray x1``: one replica of 2 CPUs on a one-node Ray cluster of 2 CPUs;
- ``ray x2``: two replicas of 1 CPU each, on a head and a worker node of 1 CPU each
  (separate processes, as on two machines).

Each engine scores a small gallery (``--first`` photos) and then the whole gallery into new
tables; the difference is the steady rate, without the fixed cost of a call (loading the model,
starting Ray's replicas), which 130,000 photos pay once. Ray's overhead per photo is the
difference of the steady per-photo times of ``ray x1`` and ``local``.

    .venv/bin/python -m bench.scaling --backbone xception --images 48 --first 16
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("BEAUTY_QUIET", "1")
os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
if sys.path and Path(sys.path[0]).resolve() == Path(__file__).resolve().parent:
    sys.path[0] = str(Path(__file__).resolve().parent.parent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbone", default="mobilenetv2", choices=["mobilenetv2", "xception"])
    parser.add_argument("--input-size", default="150x1152")
    parser.add_argument("--images", type=int, default=96)
    parser.add_argument("--first", type=int, default=16, help="photos of the small gallery")
    parser.add_argument("--batch-size", type=int, default=16)
    args = parser.parse_args()
    from bench.scoring import _make_run
    from sample import generate_gallery
    from scoring.ray_cluster import LocalCluster
    from scoring.ray_engine import RayOptions
    from training.options import parse_size

    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory(prefix="beauty-scaling-") as tmp:
        root = Path(tmp)
        run_dir = _make_run(root / "run", args.backbone, parse_size(args.input_size))
        generate_gallery(root / "gallery", args.images, seed=1)
        first = root / "first"
        first.mkdir()
        for photo in sorted((root / "gallery").glob("*.jpg"))[: args.first]:
            (first / photo.name).write_bytes(photo.read_bytes())
        rates: dict[str, tuple[float, float]] = {}

        def measure(name: str, engine: str, options: RayOptions | None = None) -> None:
            one, fixed = _timed(
                run_dir, first, root / f"{name}-first.parquet", args, engine, options
            )
            every, seconds = _timed(
                run_dir, root / "gallery", root / f"{name}.parquet", args, engine, options
            )
            rates[name] = ((every - one) / (seconds - fixed), fixed)
            print(f"  {name:<7} {rates[name][0]:6.2f} photos/s steady, first call {fixed:.1f} s")

        measure("local", "local")
        with LocalCluster(workers=0, cpus=2) as one_node:
            measure("ray x1", "ray", RayOptions(one_node.address, cpus_per_replica=2))
        with LocalCluster(workers=1, cpus=1) as two_nodes:
            measure("ray x2", "ray", RayOptions(two_nodes.address, cpus_per_replica=1))

    local, ray1, ray2 = (rates[k][0] for k in ("local", "ray x1", "ray x2"))
    print(f"{args.backbone} {args.input_size}, batch {args.batch_size}, {args.images} JPEGs:")
    print(f"  ray x1 / local: {ray1 / local:.0%} (target >= 90%)")
    print(f"  ray x2 / ray x1: {ray2 / ray1:.2f}x on {os.cpu_count()} cores")
    print(f"  Ray's overhead a photo: {(1 / ray1 - 1 / local) * 1000:+.0f} ms")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


def _timed(
    run_dir: Path,
    folder: Path,
    out: Path,
    args: argparse.Namespace,
    engine: str,
    options: object,
) -> tuple[int, float]:
    """Photos scored and wall seconds of one ``score_gallery`` call."""
    from scoring.gallery import score_gallery
    from scoring.ray_engine import RayOptions

    started = time.perf_counter()
    result = score_gallery(
        run_dir, str(folder), out=out, batch_size=args.batch_size, progress=lambda line: None,
        engine=engine, ray=options if isinstance(options, RayOptions) else None,
    )  # fmt: skip
    return result.scored, time.perf_counter() - started


if __name__ == "__main__":
    main()
