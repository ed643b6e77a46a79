"""Does `beauty train` learn more than a linear probe? Out-of-fold Spearman on the sample gallery.

For each size, a sample gallery (the generator's panoramas, their hidden beauty standing in for
crowd scores) is cross-validated by ``training.run.train`` (what `beauty train --folds K` runs):
the trained model's out-of-fold predictions against the ridge probe's on the same folds (paired
bootstrap of the difference), and a third baseline on the same folds: ridge on five image
statistics (brightness, contrast, saturation, colourfulness, sharpness). Each size is bounded:
MobileNetV2 at a tiny panorama input, few epochs; ImageNet weights when `beauty weights fetch`
has cached them, else random weights (said in the output).

Usage: python -m bench.fidelity [--sizes 100 300 1000] [--folds 5] [--epochs 2]
       [--input-size 64x492] [--json bench/results/fidelity.json]
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from PIL import Image


def statistics_baseline(uris: list[str], scores: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Out-of-fold predictions of ridge (penalty by CV) on five image statistics."""
    from sklearn.linear_model import RidgeCV
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from training.probe import image_statistics

    stats = np.concatenate(
        [
            image_statistics(np.asarray(Image.open(u).convert("RGB").resize((460, 60)))[None])
            for u in uris
        ]
    )
    out = np.full(len(scores), np.nan)
    for fold in np.unique(folds):
        test = folds == fold
        model = make_pipeline(StandardScaler(), RidgeCV(alphas=np.logspace(-3, 3, 13)))
        model.fit(stats[~test], scores[~test])
        out[test] = model.predict(stats[test])
    return out


def one_size(n: int, args: argparse.Namespace, weights: str, scratch: Path) -> dict[str, Any]:
    from infra.workspace import Workspace
    from sample import generate_gallery
    from training.metrics import paired_difference, spearman
    from training.run import train

    root = scratch / f"n{n}"
    ws = Workspace.init(root)
    began = time.perf_counter()
    truth = generate_gallery(root / "gallery", n, args.seed)
    generated = time.perf_counter() - began
    table = pd.DataFrame(
        {
            "image": [f"{i:016x}" for i in range(n)],
            "uri": [str(root / "gallery" / name) for name in truth["image"]],
            "score": truth["beauty"].to_numpy(float),
            "se": 0.3,
        }
    )
    cuts = np.percentile(table["score"], [50, 95, 98])
    table["tier"] = np.searchsorted(cuts, table["score"])
    scores_path = ws.tables_dir / "scores.parquet"
    table.to_parquet(scores_path)
    began = time.perf_counter()
    result = train(
        ws, scores_path, "bench", progress=lambda line: None, folds=args.folds,
        backbone="mobilenetv2", weights=weights, input_size=args.input_size,
        epochs=args.epochs, batch_size=16, bootstrap=args.bootstrap, seed=args.seed,
    )  # fmt: skip
    trained = time.perf_counter() - began
    oof = pd.read_csv(result.run_dir / "evaluation" / "predictions.csv")
    split = pd.read_csv(result.run_dir / "split.csv")
    folds = oof["image"].map(dict(zip(split["image"], split["fold"], strict=True))).to_numpy()
    truth_oof = oof["score"].to_numpy(float)
    stats = statistics_baseline(oof["uri"].tolist(), truth_oof, folds)
    model, probe = oof["prediction"].to_numpy(float), oof["probe"].to_numpy(float)
    m = result.metrics
    vs_stats = paired_difference(spearman, truth_oof, model, stats, args.bootstrap, args.seed)
    cv = result.card.cross_validation or {}
    return {
        "images": n,
        "folds": cv.get("folds"),
        "model": spearman(truth_oof, model),
        "probe": spearman(truth_oof, probe),
        "statistics": spearman(truth_oof, stats),
        "model_minus_probe": m["diff_spearman"],
        "model_minus_statistics": vs_stats,
        "fine_tuned": (cv.get("choice") or {}).get("fine_tuned_spearman"),
        "final_model": (result.card.selection or {}).get("chosen"),
        "generate_s": round(generated, 1),
        "train_s": round(trained, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100, 300, 1000])
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--input-size", default="64x492", help="HEIGHTxWIDTH, panorama-shaped")
    parser.add_argument("--bootstrap", type=int, default=500)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    from training.backbones.mobilenet_v2_weights import cached_weights

    weights = "imagenet" if cached_weights() else "none"
    if weights == "none":
        print("no MobileNetV2 ImageNet weights cached (beauty weights fetch): random weights")
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        for n in args.sizes:
            row = one_size(n, args, weights, Path(scratch))
            rows.append({**row, "weights": weights, "input_size": args.input_size})
            d, s = row["model_minus_probe"], row["model_minus_statistics"]
            print(
                f"{n:>5} images  model {row['model']:.3f}  probe {row['probe']:.3f}  "
                f"statistics {row['statistics']:.3f}  model-probe {d['value']:+.3f} "
                f"[{d['low']:+.3f}, {d['high']:+.3f}]  model-statistics {s['value']:+.3f} "
                f"[{s['low']:+.3f}, {s['high']:+.3f}]  fine-tuned {_figure(row['fine_tuned'])}  "
                f"model {row['final_model']}  ({row['generate_s']} s gallery, "
                f"{row['train_s']} s train)",
                flush=True,
            )
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1) + "\n", encoding="utf-8")


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


if __name__ == "__main__":
    main()
