"""Evaluation metrics, pure numpy: rank agreement and what a photographer gains from a ranking.

``truth`` is the reference beauty (held-out scores or a truth file's column), ``pred`` the
model's output; larger is more beautiful in both. "The top q" of a vector is its ``ceil(q * n)``
largest entries (ties broken by position). Cut-offs on predictions keep every image tied with
the last one kept, so a constant prediction saves nothing.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from functools import partial

import numpy as np

Metric = Callable[[np.ndarray, np.ndarray], float]


def top_count(n: int, share: float) -> int:
    """How many images "the top ``share``" of ``n`` holds (at least one)."""
    return max(1, math.ceil(share * n - 1e-9))


def top_mask(values: np.ndarray, share: float) -> np.ndarray:
    """True for the top ``share`` of ``values``."""
    order = np.argsort(-np.asarray(values, dtype=float), kind="stable")
    mask = np.zeros(len(order), dtype=bool)
    mask[order[: top_count(len(order), share)]] = True
    return mask


def rankdata(values: np.ndarray) -> np.ndarray:
    """Ranks 1..n, tied values sharing their average rank."""
    values = np.asarray(values, dtype=float)
    order = np.argsort(values, kind="stable")
    ranks = np.empty(len(values))
    ranks[order] = np.arange(1, len(values) + 1)
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    sums = np.bincount(inverse, weights=ranks)
    return sums[inverse] / counts[inverse]


def spearman(truth: np.ndarray, pred: np.ndarray) -> float:
    """Spearman's rho: Pearson correlation of the ranks (nan when either side is constant)."""
    a, b = rankdata(truth), rankdata(pred)
    a, b = a - a.mean(), b - b.mean()
    denominator = math.sqrt(float((a * a).sum() * (b * b).sum()))
    return float((a * b).sum() / denominator) if denominator > 0 else math.nan


def kendall(truth: np.ndarray, pred: np.ndarray, chunk: int = 512) -> float:
    """Kendall's tau-b (ties corrected), over all pairs, in row chunks to bound memory."""
    x, y = np.asarray(truth, dtype=float), np.asarray(pred, dtype=float)
    score = tied_x = tied_y = 0.0
    for start in range(0, len(x), chunk):
        dx = np.sign(x[start : start + chunk, None] - x[None, :])
        dy = np.sign(y[start : start + chunk, None] - y[None, :])
        score += float((dx * dy).sum())
        tied_x += float(np.abs(dx).sum())
        tied_y += float(np.abs(dy).sum())
    denominator = math.sqrt(tied_x * tied_y)
    return score / denominator if denominator > 0 else math.nan


def kept_for_recall(truth: np.ndarray, pred: np.ndarray, share: float, recall: float) -> int:
    """Fewest images, taken best-predicted first, that hold ``recall`` of the true top ``share``."""
    positive = top_mask(truth, share)
    need = math.ceil(recall * positive.sum() - 1e-9)
    if need == 0:
        return 0
    line = np.sort(np.asarray(pred, dtype=float)[positive])[::-1][need - 1]
    return int((np.asarray(pred) >= line).sum())


def gallery_reduction(
    truth: np.ndarray, pred: np.ndarray, share: float = 0.05, recall: float = 1.0
) -> float:
    """Share of the gallery a photographer can skip and still keep ``recall`` of the top."""
    return 1.0 - kept_for_recall(truth, pred, share, recall) / len(truth)


def reduction_curve(
    truth: np.ndarray, pred: np.ndarray, share: float = 0.05
) -> tuple[np.ndarray, np.ndarray]:
    """``(recall, reduction)`` points, recall 0 to 1 in steps of one top image."""
    k = int(top_mask(truth, share).sum())
    recall = np.arange(k + 1) / k
    reduction = np.array([gallery_reduction(truth, pred, share, r) for r in recall])
    return recall, reduction


def precision_recall_at(truth: np.ndarray, pred: np.ndarray, share: float) -> tuple[float, float]:
    """Precision and recall of the predicted top ``share`` against the true top ``share``."""
    pred = np.asarray(pred, dtype=float)
    line = np.sort(pred)[::-1][top_count(len(pred), share) - 1]
    chosen, positive = pred >= line, top_mask(truth, share)
    hits = float((chosen & positive).sum())
    return hits / chosen.sum(), hits / positive.sum()


def f_beta(positive: np.ndarray, chosen: np.ndarray, beta: float = 2.0) -> float:
    """F-beta of a yes/no choice against the truth; beta 2 weighs recall 4x precision."""
    hits = float((positive & chosen).sum())
    if hits == 0:
        return 0.0
    precision, recall = hits / chosen.sum(), hits / positive.sum()
    return (1 + beta**2) * precision * recall / (beta**2 * precision + recall)


def ndcg_at(truth: np.ndarray, pred: np.ndarray, share: float) -> float:
    """nDCG of the predicted top ``share`` with the true top ``share`` as relevant (binary)."""
    k = top_count(len(truth), share)
    relevant = top_mask(truth, share)
    order = np.argsort(-np.asarray(pred, dtype=float), kind="stable")[:k]
    discount = 1.0 / np.log2(np.arange(2, k + 2))
    ideal = discount[: min(k, int(relevant.sum()))].sum()
    return float((relevant[order] * discount).sum() / ideal)


def bootstrap_interval(
    metric: Metric,
    truth: np.ndarray,
    pred: np.ndarray,
    reps: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Percentile bootstrap interval of ``metric``, resampling images with replacement."""
    if reps <= 0 or len(truth) < 2:
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    n = len(truth)
    values = np.array([metric(truth[s], pred[s]) for s in rng.integers(0, n, (reps, n))])
    if np.isnan(values).all():
        return math.nan, math.nan
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(values, [tail, 100 - tail])
    return float(low), float(high)


def metric_set(positive_line: float, top: float = 0.05) -> dict[str, Metric]:
    """The evaluation's metrics by name; F2 counts ``pred >= positive_line`` as a top pick."""

    def f2(truth: np.ndarray, pred: np.ndarray) -> float:
        return f_beta(top_mask(truth, top), np.asarray(pred) >= positive_line)

    metrics: dict[str, Metric] = {
        "spearman": spearman,
        "kendall": kendall,
        "reduction_100": lambda t, p: gallery_reduction(t, p, top, 1.0),
        "reduction_95": lambda t, p: gallery_reduction(t, p, top, 0.95),
        "f2_top5": f2,
    }
    for share in (0.05, 0.10):
        pct = round(share * 100)
        metrics[f"recall_top{pct}"] = partial(_recall_at, share=share)
        metrics[f"precision_top{pct}"] = partial(_precision_at, share=share)
        metrics[f"ndcg_top{pct}"] = partial(ndcg_at, share=share)
    return metrics


def _recall_at(truth: np.ndarray, pred: np.ndarray, share: float) -> float:
    return precision_recall_at(truth, pred, share)[1]


def _precision_at(truth: np.ndarray, pred: np.ndarray, share: float) -> float:
    return precision_recall_at(truth, pred, share)[0]


def summarise(
    truth: np.ndarray,
    pred: np.ndarray,
    positive_line: float,
    reps: int = 1000,
    seed: int = 0,
) -> dict[str, dict[str, float]]:
    """Every metric with its bootstrap 95% interval: ``{name: {value, low, high}}``."""
    truth, pred = np.asarray(truth, dtype=float), np.asarray(pred, dtype=float)
    out = {}
    for name, metric in metric_set(positive_line).items():
        low, high = bootstrap_interval(metric, truth, pred, reps, seed)
        out[name] = {"value": float(metric(truth, pred)), "low": low, "high": high}
    return out


def paired_difference(
    metric: Metric,
    truth: np.ndarray,
    pred: np.ndarray,
    baseline: np.ndarray,
    reps: int = 1000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, float]:
    """``metric(pred) - metric(baseline)`` with a paired percentile bootstrap interval: both
    scored on the same resampled images each time."""
    truth, pred, baseline = (np.asarray(v, dtype=float) for v in (truth, pred, baseline))
    value = float(metric(truth, pred) - metric(truth, baseline))
    if reps <= 0 or len(truth) < 2:
        return {"value": value, "low": math.nan, "high": math.nan}
    rng = np.random.default_rng(seed)
    n = len(truth)
    diffs = np.array(
        [
            metric(truth[s], pred[s]) - metric(truth[s], baseline[s])
            for s in rng.integers(0, n, (reps, n))
        ]
    )
    if np.isnan(diffs).all():
        return {"value": value, "low": math.nan, "high": math.nan}
    tail = (1 - level) / 2 * 100
    low, high = np.nanpercentile(diffs, [tail, 100 - tail])
    return {"value": value, "low": float(low), "high": float(high)}


def compare(
    truth: np.ndarray, pred: np.ndarray, baseline: np.ndarray, reps: int = 1000, seed: int = 0
) -> dict[str, dict[str, float]]:
    """The model against a baseline on the same images: each side's Spearman and headline
    reduction, and their paired differences (``diff_*``, model minus baseline)."""
    out: dict[str, dict[str, float]] = {}
    chosen: dict[str, Metric] = {
        "spearman": spearman,
        "reduction_100": lambda t, p: gallery_reduction(t, p, 0.05, 1.0),
    }
    for name, metric in chosen.items():
        low, high = bootstrap_interval(metric, truth, baseline, reps, seed)
        value = float(metric(truth, baseline))
        out[f"baseline_{name}"] = {"value": value, "low": low, "high": high}
        out[f"diff_{name}"] = paired_difference(metric, truth, pred, baseline, reps, seed)
    return out
