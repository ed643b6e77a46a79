"""Bradley-Terry fit time and peak memory: our sparse Newton-CG beside choix and crowd-kit.

Each (method, size) runs in a fresh child process on the same simulated data: ``n`` images with
truth ~ N(0, 1.5^2) and ``per_image * n`` comparisons between random distinct images, decided by
the Bradley-Terry model. Time is wall-clock (best of ``--repeat`` for our solver, one run for the
references); memory is the rise of the process's peak resident set during the fit above its size
just before (Linux ``VmHWM``, reset first through ``/proc/self/clear_refs``). Slow references are
capped: a method whose dense n x n matrices exceed ``--budget-mb`` is not started, and a run is
killed after ``--timeout`` seconds. Kendall tau against the truth shows that the runs agree.

    .venv/bin/python -m bench.ranking                  # 1k, 10k, 130k images
    .venv/bin/python -m bench.ranking --sizes 1000 --timeout 30
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import resource
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if not __package__:
    # Run by path, this file's folder leads sys.path and its name would shadow the package.
    sys.path[0] = str(ROOT)

METHODS = ("ours", "ours-table", "choix-opt", "choix-ilsr", "choix-mm", "crowdkit-bt")
# Methods that allocate dense n x n arrays (choix's Newton-CG Hessian, LSR's Markov chain).
DENSE = {"choix-opt": 1, "choix-ilsr": 2}
ALPHA = 0.01


def simulate(n: int, per_image: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.normal(0.0, 1.5, n)
    m = per_image * n
    a = rng.integers(0, n, m)
    b = (a + rng.integers(1, n, m)) % n
    a_wins = rng.random(m) < 1.0 / (1.0 + np.exp(truth[b] - truth[a]))
    return truth, np.where(a_wins, a, b), np.where(a_wins, b, a)


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise KeyError(field)


def _reset_peak() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
    except OSError:
        return False
    return True


def _peak_kb(resettable: bool) -> int:
    if resettable:
        return _status_kb("VmHWM")
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)


def _fitter(method: str, n: int, win: np.ndarray, lose: np.ndarray) -> Callable[[], np.ndarray]:
    """Prepare the method's input outside the timing and return the fit as a closure."""
    if method == "ours":
        from ranking.bradley_terry import fit_bt

        return lambda: fit_bt(n, win, lose, alpha=ALPHA, se="diagonal").scores
    if method in ("ours-table", "crowdkit-bt"):
        import pandas as pd

        names = np.array([f"{i:016x}" for i in range(n)], dtype=object)
        flip = np.arange(len(win)) % 2 == 1
        table = pd.DataFrame(
            {
                "worker": "w",
                "left": names[np.where(flip, lose, win)],
                "right": names[np.where(flip, win, lose)],
                "label": names[win],
            }
        )
        if method == "ours-table":
            from ranking.bradley_terry import BradleyTerry

            model = BradleyTerry(alpha=ALPHA, se="diagonal")
            return lambda: model.fit(table, items=list(names)).scores_.to_numpy()
        from crowdkit.aggregation import BradleyTerry as CrowdKitBT

        def crowdkit() -> np.ndarray:
            scores = CrowdKitBT(n_iter=100).fit(table).scores_
            return np.log(np.clip(scores.reindex(names).to_numpy(float), 1e-300, None))

        return crowdkit
    import choix

    data = list(zip(win.tolist(), lose.tolist(), strict=True))
    if method == "choix-opt":
        # choix penalises alpha ||theta||^2; ours is alpha/2 ||theta||^2: the same MAP.
        return lambda: choix.opt_pairwise(n, data, alpha=ALPHA / 2)
    # The LSR and MM ``alpha`` is a pseudo-count (a different prior); a small one keeps images
    # that never won finite.
    if method == "choix-ilsr":
        return lambda: choix.ilsr_pairwise(n, data, alpha=ALPHA)
    return lambda: choix.mm_pairwise(n, data, alpha=ALPHA)


def run_one(method: str, n: int, per_image: int, repeat: int) -> dict[str, object]:
    from scipy.stats import kendalltau

    truth, win, lose = simulate(n, per_image)
    fit = _fitter(method, n, win, lose)
    best_wall, cpu, peak_mb = float("inf"), 0.0, 0.0
    scores = np.zeros(n)
    for _ in range(repeat if method.startswith("ours") else 1):
        resettable = _reset_peak()
        before = _status_kb("VmRSS")
        wall0, cpu0 = time.perf_counter(), time.process_time()
        scores = fit()
        wall = time.perf_counter() - wall0
        if wall < best_wall:
            best_wall, cpu = wall, time.process_time() - cpu0
        peak_mb = max(peak_mb, (_peak_kb(resettable) - before) / 1024)
    tau = float(kendalltau(scores, truth).statistic)
    return {"status": "ok", "wall_s": best_wall, "cpu_s": cpu, "peak_mb": peak_mb, "tau": tau}


def measure(method: str, n: int, args: argparse.Namespace) -> dict[str, object]:
    if method == "crowdkit-bt" and importlib.util.find_spec("crowdkit") is None:
        return {"status": "not installed"}
    if method in DENSE and DENSE[method] * 8 * n * n > args.budget_mb * 2**20:
        gb = DENSE[method] * 8 * n * n / 2**30
        return {"status": f"capped (dense n x n: {gb:.1f} GB)"}
    command = [sys.executable, "-m", "bench.ranking", "--one", method, str(n)]
    command += ["--per-image", str(args.per_image), "--repeat", str(args.repeat)]
    try:
        child = subprocess.run(
            command, capture_output=True, text=True, timeout=args.timeout, cwd=ROOT, check=False
        )
    except subprocess.TimeoutExpired:
        return {"status": f"capped (> {args.timeout:.0f} s)"}
    if child.returncode != 0:
        lines = child.stderr.strip().splitlines() or ["no output"]
        return {"status": f"failed: {lines[-1][:60]}"}
    result: dict[str, object] = json.loads(child.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes", default="1000,10000,130000", help="image counts, comma-separated"
    )
    parser.add_argument("--per-image", type=int, default=10, help="comparisons per image")
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument(
        "--timeout", type=float, default=60.0, help="seconds before a run is capped"
    )
    parser.add_argument("--budget-mb", type=float, default=400.0, help="dense-matrix memory cap")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs of our solver")
    parser.add_argument("--one", nargs=2, metavar=("METHOD", "N"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(run_one(args.one[0], int(args.one[1]), args.per_image, args.repeat)))
        return
    header = f"{'method':<12} {'images':>8} {'comparisons':>11} {'wall s':>8} {'cpu s':>7}"
    header += f" {'peak MB':>8} {'tau':>6}  status"
    print(header)
    for n in (int(s) for s in args.sizes.split(",")):
        for method in args.methods.split(","):
            r = measure(method, n, args)
            if r["status"] == "ok":
                cells = (
                    f"{r['wall_s']:>8.3f} {r['cpu_s']:>7.3f} {r['peak_mb']:>8.0f} {r['tau']:>6.3f}"
                )
            else:
                cells = f"{'-':>8} {'-':>7} {'-':>8} {'-':>6}"
            print(
                f"{method:<12} {n:>8} {args.per_image * n:>11} {cells}  {r['status']}", flush=True
            )


if __name__ == "__main__":
    main()
