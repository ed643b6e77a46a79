"""The evaluation's files: metrics (JSON), predictions (CSV), the reduction-recall curve (PNG)
and a self-contained HTML report with the curve inline."""

from __future__ import annotations

import base64
import html
import io
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: never a window, works without a display

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt

from training.metrics import compare, gallery_reduction, reduction_curve, summarise

LABELS = {
    "spearman": "Spearman rank correlation",
    "kendall": "Kendall tau-b",
    "reduction_100": "Gallery reduction keeping 100% of the top 5%",
    "reduction_95": "Gallery reduction keeping 95% of the top 5%",
    "f2_top5": "F2 at the top-5% line",
    "recall_top5": "Recall, top 5%",
    "precision_top5": "Precision, top 5%",
    "ndcg_top5": "nDCG, top 5%",
    "recall_top10": "Recall, top 10%",
    "precision_top10": "Precision, top 10%",
    "ndcg_top10": "nDCG, top 10%",
}
BASELINE_LABELS = {
    "spearman": "{b}: Spearman rank correlation",
    "reduction_100": "{b}: gallery reduction keeping 100% of the top 5%",
}
DIFF_LABELS = {
    "spearman": "Model minus {b}: Spearman (paired)",
    "reduction_100": "Model minus {b}: reduction keeping 100% (paired)",
}


def write_evaluation(
    folder: Path,
    title: str,
    frame: pd.DataFrame,
    *,
    truth_column: str,
    positive_line: float,
    reps: int = 1000,
    seed: int = 0,
    baseline: str | None = None,
    note: str = "",
) -> tuple[dict[str, dict[str, float]], Path]:
    """Metrics of ``frame["prediction"]`` against ``frame[truth_column]``, written to ``folder``.

    ``positive_line`` is in the predictions' units (the crowd's score scale). With ``baseline``
    (a column of the same frame, e.g. ``"probe"``), its Spearman and headline reduction on the
    same images, and the paired differences, are added as ``{baseline}_*`` and ``diff_*``.
    Returns the metrics and the HTML report's path.
    """
    folder.mkdir(parents=True, exist_ok=True)
    truth = frame[truth_column].to_numpy(float)
    pred = frame["prediction"].to_numpy(float)
    metrics = summarise(truth, pred, positive_line, reps, seed)
    if baseline is not None:
        for key, value in compare(truth, pred, frame[baseline].to_numpy(float), reps, seed).items():
            metrics[key.replace("baseline_", f"{baseline}_")] = value
    (folder / "metrics.json").write_text(json.dumps(metrics, indent=1) + "\n", encoding="utf-8")
    frame.sort_values("prediction", ascending=False).to_csv(folder / "predictions.csv", index=False)
    png = curve_png(truth, pred)
    (folder / "curve.png").write_bytes(png)
    page = _page(title, metrics, png, len(frame), truth_column, reps, baseline, note)
    report = folder / "report.html"
    report.write_text(page, encoding="utf-8")
    return metrics, report


def curve_png(truth: np.ndarray, pred: np.ndarray) -> bytes:
    """Gallery reduction against recall of the true top 5%, with chance for reference."""
    recall, reduction = reduction_curve(truth, pred, 0.05)
    fig, ax = plt.subplots(figsize=(6, 4), dpi=100)
    # Keeping at least recall r of the top costs what keeping the next whole image costs:
    # the reduction at k/K holds over ((k-1)/K, k/K].
    ax.step(recall, reduction, where="pre", label="model")
    for r in (0.95, 1.0):
        value = gallery_reduction(truth, pred, 0.05, r)
        ax.plot([r], [value], marker="o", color="C3")
        ax.annotate(
            f"recall {r:.0%}: skip {value:.0%}",
            (r, value),
            textcoords="offset points",
            xytext=(-8, 10 if r == 1.0 else -16),
            ha="right",
            fontsize=8,
        )
    ax.plot([0, 1], [1, 0], linestyle=":", color="grey", label="random order")
    ax.set_xlabel("recall of the true top 5%")
    ax.set_ylabel("share of the gallery skipped")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower left")
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return buffer.getvalue()


def _page(
    title: str,
    metrics: dict[str, dict[str, float]],
    png: bytes,
    images: int,
    truth: str,
    reps: int,
    baseline: str | None = None,
    note: str = "",
) -> str:
    rows = "\n".join(
        f"<tr><td>{html.escape(label(k, baseline))}</td><td>{_fmt(v['value'])}</td>"
        f"<td>{_fmt(v['low'])} – {_fmt(v['high'])}</td></tr>"
        for k, v in metrics.items()
    )
    note = f" {html.escape(note)}." if note else ""
    image = base64.b64encode(png).decode("ascii")
    name = html.escape(title)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Evaluation: {name}</title>
<style>body{{font-family:sans-serif;max-width:46em;margin:2em auto;color:#222}}
table{{border-collapse:collapse}}td,th{{padding:.3em .8em;border-bottom:1px solid #ddd}}
td:nth-child(n+2){{text-align:right;font-variant-numeric:tabular-nums}}</style></head>
<body><h1>Evaluation: {name}</h1>
<p>{images} held-out images; reference: <code>{html.escape(truth)}</code>.{note}
Predictions and the F2 line are in the crowd's score scale.
Intervals: 95% percentile bootstrap over images ({reps} resamples).</p>
<table><tr><th>Metric</th><th>Value</th><th>95% interval</th></tr>
{rows}
</table>
<h2>Gallery reduction against recall</h2>
<p>Sorting by predicted score, how much of the gallery can be skipped while keeping a given share
of the truly best 5%.</p>
<img alt="gallery reduction against recall of the top 5%" src="data:image/png;base64,{image}">
</body></html>
"""


def label(key: str, baseline: str | None = None) -> str:
    """A metric's name for people."""
    if key in LABELS:
        return LABELS[key]
    if baseline and key.startswith(f"{baseline}_"):
        rest = key[len(baseline) + 1 :]
        return BASELINE_LABELS.get(rest, key).format(b=baseline.capitalize())
    if key.startswith("diff_"):
        return DIFF_LABELS.get(key[5:], key).format(b=baseline or "baseline")
    return key


def _fmt(value: float) -> str:
    return "–" if value != value else f"{value:.3f}"
