"""What the network learns: standardised Bradley-Terry scores, or top-tier labels.

Scores are standardised with the training part's mean and standard deviation (recorded in the
model card: ``score = prediction * std + mean``). Optional sample weights follow the scores'
standard errors: an image seen in few comparisons has a noisy score and should pull less.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

TOP_SHARE = 0.05  # "the top 5%": the prototype's target and the evaluation's


@dataclass(frozen=True)
class Targets:
    """Per-image targets and weights, aligned with the scores table's rows."""

    y: np.ndarray  # (n, 1) standardised scores, or (n, 2) one-hot top-tier labels
    weights: np.ndarray  # (n,), mean 1 over the training part
    mean: float
    std: float
    top_line: float  # the training part's top-5% line, in the model's output units

    def to_scores(self, outputs: np.ndarray) -> np.ndarray:
        """Regression outputs -> the crowd's score scale (classifier outputs unchanged)."""
        if self.y.shape[1] != 1:
            return np.asarray(outputs, dtype=float)
        return np.asarray(outputs, dtype=float) * self.std + self.mean


def make_targets(
    scores: np.ndarray,
    tiers: np.ndarray,
    train: np.ndarray,
    *,
    se: np.ndarray | None = None,
    classify_tier: int | None = None,
) -> Targets:
    """Targets from scores (and tiers), normalised on the rows where ``train`` is true."""
    mean = float(scores[train].mean())
    std = float(scores[train].std()) or 1.0
    standard = (scores - mean) / std
    weights = np.ones(len(scores))
    if se is not None:
        weights = se_weights(se / std)
        weights = weights / weights[train].mean()
    if classify_tier is None:
        y = standard[:, None]
        # The score of the last image in the training part's top 5%: as many training images
        # reach it as "the top 5%" holds (training.metrics.top_count).
        ranked = np.sort(standard[train])[::-1]
        top_line = float(ranked[max(1, int(np.ceil(TOP_SHARE * len(ranked) - 1e-9))) - 1])
    else:
        positive = (tiers >= classify_tier).astype(float)
        y = np.stack([1 - positive, positive], axis=1)
        top_line = 0.5  # the classifier's decision: P(top) >= 0.5
    return Targets(y.astype("float32"), weights.astype("float32"), mean, std, top_line)


def se_weights(se: np.ndarray) -> np.ndarray:
    """Inverse-variance weights ``1 / (se² + m)``, ``m`` the median se²: at most 2x typical.

    The floor ``m`` stands for the model's own error: without it, a few images with tiny standard
    errors would dominate the loss.
    """
    variance = np.nan_to_num(np.asarray(se, dtype=float) ** 2, nan=np.inf)
    floor = float(np.median(variance[np.isfinite(variance)])) if np.isfinite(variance).any() else 1
    return 1.0 / (variance + max(floor, 1e-12))
