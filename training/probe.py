"""The linear probe: ridge regression of the standardised scores on pooled features, in closed
form, its penalty chosen by cross-validation on the training part.

It is the floor a trained model must clear: the network's head is ``Dropout -> Dense(1)`` on the
same pooled features, so the probe's coefficients are that Dense layer's weights, and a network
initialised from them predicts exactly what the probe predicts (dropout is the identity at
inference). Fine-tuning starts there and is kept only where it beats the probe beyond chance:
the lower end of a :data:`KEEP_LEVEL` paired bootstrap interval of the Spearman difference must
be above 0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from training.metrics import paired_difference, spearman

ALPHAS = np.logspace(-2, 5, 29)  # on standardised features: from almost none to almost all
KEEP_LEVEL = 0.8  # two-sided: fine-tuning must win in 90% of the resamples
KEEP_REPS = 500


@dataclass(frozen=True)
class Probe:
    """``prediction = features @ coef + intercept``, in the model's output units."""

    coef: np.ndarray  # (width,)
    intercept: float
    alpha: float

    def predict(self, features: np.ndarray) -> np.ndarray:
        return np.asarray(features, dtype=np.float64) @ self.coef + self.intercept

    def dense_weights(self) -> list[np.ndarray]:
        """The weights of a ``Dense(1)`` layer that computes the probe."""
        return [self.coef[:, None].astype("float32"), np.array([self.intercept], "float32")]


def fit_probe(
    features: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None, *, folds: int = 5
) -> Probe:
    """Ridge on standardised features (penalty by ``folds``-fold CV), folded back to raw ones.

    ``features`` is ``(n, width)`` or ``(n, orientations, width)``: every orientation is a
    training example of the same target.
    """
    from sklearn.linear_model import RidgeCV
    from sklearn.model_selection import KFold

    x = np.asarray(features, dtype=np.float64)
    target = np.asarray(y, dtype=np.float64).reshape(len(x))
    w = np.ones(len(x)) if weights is None else np.asarray(weights, dtype=np.float64)
    if x.ndim == 3:
        views = x.shape[1]
        x = x.reshape(-1, x.shape[2])
        target, w = np.repeat(target, views), np.repeat(w, views)
        groups = np.repeat(np.arange(len(target) // views), views)
    else:
        views, groups = 1, np.arange(len(x))
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale < 1e-8] = 1.0
    z = (x - mean) / scale
    images = len(target) // views
    k = max(2, min(folds, images))
    # Folds over images (both orientations of an image on one side), in a fixed order.
    fold = KFold(k, shuffle=True, random_state=0).split(np.arange(images))
    cv = [(np.isin(groups, a).nonzero()[0], np.isin(groups, b).nonzero()[0]) for a, b in fold]
    model = RidgeCV(alphas=ALPHAS, cv=cv, scoring="neg_mean_squared_error")
    model.fit(z, target, sample_weight=w)
    coef = np.asarray(model.coef_, dtype=np.float64) / scale
    intercept = float(model.intercept_) - float(coef @ mean)
    return Probe(coef=coef, intercept=intercept, alpha=float(model.alpha_))


def image_statistics(pixels: np.ndarray) -> np.ndarray:
    """Five statistics per image (``(n, h, w, 3)`` RGB in 0..255): brightness, contrast,
    saturation, colourfulness (Hasler and Süsstrunk) and sharpness (mean absolute Laplacian)."""
    x = np.asarray(pixels, dtype=np.float64) / 255.0
    grey = x @ np.array([0.299, 0.587, 0.114])
    brightness = grey.mean(axis=(1, 2))
    contrast = grey.std(axis=(1, 2))
    high, low = x.max(axis=3), x.min(axis=3)
    saturation = np.where(high > 0, (high - low) / np.maximum(high, 1e-8), 0).mean(axis=(1, 2))
    rg = x[..., 0] - x[..., 1]
    yb = 0.5 * (x[..., 0] + x[..., 1]) - x[..., 2]
    colourful = np.sqrt(rg.std(axis=(1, 2)) ** 2 + yb.std(axis=(1, 2)) ** 2) + 0.3 * np.sqrt(
        rg.mean(axis=(1, 2)) ** 2 + yb.mean(axis=(1, 2)) ** 2
    )
    lap = (
        -4 * grey[:, 1:-1, 1:-1]
        + grey[:, :-2, 1:-1]
        + grey[:, 2:, 1:-1]
        + grey[:, 1:-1, :-2]
        + grey[:, 1:-1, 2:]
    )
    sharpness = np.abs(lap).mean(axis=(1, 2))
    return np.stack([brightness, contrast, saturation, colourful, sharpness], axis=1)


def validation_spearman(truth: np.ndarray, pred: np.ndarray) -> float:
    """Spearman on validation, nan-safe (a constant prediction counts as 0)."""
    value = spearman(np.asarray(truth, float), np.asarray(pred, float))
    return 0.0 if value != value else value


def beats_probe(
    truth: np.ndarray, tuned: np.ndarray, probed: np.ndarray, seed: int
) -> tuple[bool, dict[str, float]]:
    """Whether fine-tuning's predictions rank ``truth`` better than the probe's beyond chance
    (the rule above), and the paired difference of their Spearman with its interval."""
    diff = paired_difference(
        validation_spearman, truth, tuned, probed, reps=KEEP_REPS, seed=seed, level=KEEP_LEVEL
    )
    return diff["value"] > 0 and diff["low"] > 0, diff


def difference_words(diff: dict[str, float]) -> str:
    """``difference +0.022, 80% interval -0.013 to +0.056``."""
    return (
        f"difference {diff['value']:+.3f}, {KEEP_LEVEL:.0%} interval "
        f"{diff['low']:+.3f} to {diff['high']:+.3f}"
    )
