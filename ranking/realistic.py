"""A crowd that behaves like real people, and its calibration from any votes table.

Real crowds are noisier than a Bradley-Terry crowd exactly where an active design spends its
votes: near ties. :class:`CrowdNoise` models one answer to the pair ``(a, b)`` as

- a *consensus* ``d = m_a - m_b + e_ab``: the merit gap plus a pair effect
  ``e_ab ~ N(0, pair_sd^2)`` drawn once per pair and shared by every worker who sees it, so asking
  the same pair again is not an independent draw (its answers all lean the same way);
- *no preference* with probability ``tie_max * exp(-d^2 / (2 tie_width^2))``, most often near a
  tie;
- otherwise a random side with probability ``lapse`` (a floor of disagreement however far
  apart the photos are), else the side of ``a`` with probability ``Phi(s_w d)``, where the
  worker's discrimination ``s_w = exp(worker_sd z - worker_sd^2 / 2)``, ``z ~ N(0, 1)``, has
  mean 1.

Merit is in units of the probit; ``scale`` converts the scores of a Bradley-Terry fit of the
votes into merit (``m = scale * score``). :func:`calibrate` estimates every parameter from a
votes table ``worker, left, right, label``: ``scale, pair_sd, lapse, tie_max, tie_width`` by
maximum likelihood over pairs (the pair effect integrated out by Gauss-Hermite quadrature,
each pair's gap taken from a Bradley-Terry fit of the *other* pairs' votes, in :data:`FOLDS`
folds of pairs: gaps fitted on a pair's own answers would read noise the fit learned by heart
as a crowd that resolves it, and a crowd of coin flips as one worth asking; weak priors around
the defaults keep a calibration on few votes from a degenerate step-shaped link), then
``worker_sd`` from the spread of the workers' own fitted discriminations less their sampling
variance (method of moments). The
pair effect is identified by pairs answered more than once; with one answer per pair,
``pair_sd`` is confounded with ``scale`` and comes out near 0.
"""

from __future__ import annotations

import math
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, fields

import numpy as np
import pandas as pd
from scipy.optimize import minimize
from scipy.special import ndtr, ndtri

from ranking.bradley_terry import BradleyTerry
from ranking.votes import VOTE_COLUMNS, validate_votes

__all__ = [
    "CrowdNoise",
    "RealisticWorker",
    "answer_pairs",
    "calibrate",
    "discrimination_quantiles",
    "make_realistic_crowd",
    "pair_effects",
]

FOLDS = 5  # folds of pairs for the held-out gaps of the calibration
_NODES, _WEIGHTS = np.polynomial.hermite_e.hermegauss(24)
_WEIGHTS = _WEIGHTS / _WEIGHTS.sum()


@dataclass(frozen=True)
class CrowdNoise:
    """How a crowd answers pairs; see the module docstring for the model.

    The defaults are a crowd about as noisy as the recorded MTurk campaign on 100 photos:
    random pairs fitted with Bradley-Terry reach Kendall's tau of about 0.75 with the truth at
    50 votes a photo (truth ~ N(0, 1) in merit units).
    """

    scale: float = 1.0
    pair_sd: float = 0.5
    worker_sd: float = 0.4
    lapse: float = 0.15
    tie_max: float = 0.2
    tie_width: float = 0.4

    def __post_init__(self) -> None:
        if not (self.scale > 0 and self.pair_sd >= 0 and self.worker_sd >= 0):
            raise ValueError("need scale > 0, pair_sd >= 0 and worker_sd >= 0")
        if not (0 <= self.lapse <= 1 and 0 <= self.tie_max < 1 and self.tie_width > 0):
            raise ValueError("need lapse in [0, 1], tie_max in [0, 1) and tie_width > 0")

    def as_dict(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, values: Mapping[str, object]) -> CrowdNoise:
        known = {f.name for f in fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ValueError(f"unknown crowd parameter(s): {', '.join(sorted(unknown))}")
        return cls(**{k: float(v) for k, v in values.items()})  # type: ignore[arg-type]

    def tie_rate(self, d: np.ndarray) -> np.ndarray:
        """No-preference probability at consensus ``d``."""
        return self.tie_max * np.exp(-0.5 * (np.asarray(d) / self.tie_width) ** 2)

    def win_rate(self, d: np.ndarray, s: np.ndarray | float = 1.0) -> np.ndarray:
        """Probability that a decided answer goes to the left image, at consensus ``d``."""
        return (1 - self.lapse) * ndtr(s * np.asarray(d)) + self.lapse / 2

    def tie_slope(self, d: np.ndarray) -> np.ndarray:
        """Derivative of :meth:`tie_rate` in ``d``."""
        d = np.asarray(d)
        return -self.tie_rate(d) * d / self.tie_width**2

    def win_slope(self, d: np.ndarray, s: np.ndarray | float = 1.0) -> np.ndarray:
        """Derivative of :meth:`win_rate` in ``d``."""
        sd = s * np.asarray(d)
        return (1 - self.lapse) * s * np.exp(-0.5 * sd**2) / math.sqrt(2 * math.pi)

    def vote_information(self, gap: np.ndarray) -> np.ndarray:
        """Fisher information about the consensus of one answer at merit gap ``gap``.

        Only decided answers count (a fit learns little from a tie); ``s`` is taken at its mean.
        """
        gap = np.asarray(gap, dtype=float)
        p = self.win_rate(gap)
        slope = self.win_slope(gap)
        return (1 - self.tie_rate(gap)) * slope**2 / np.clip(p * (1 - p), 1e-12, None)


def _transformed(noise: CrowdNoise) -> np.ndarray:
    """The parameters the calibration searches over: logs and logits."""
    return np.array(
        [
            math.log(noise.scale),
            math.log(noise.pair_sd),
            math.log(noise.lapse / (1 - noise.lapse)),
            math.log(noise.tie_max / (1 - noise.tie_max)),
            math.log(noise.tie_width),
        ]
    )


_PRIOR_CENTRE = _transformed(CrowdNoise())
_PRIOR_SD = 1.0


def pair_effects(n: int, pair_sd: float, rng: np.random.Generator) -> np.ndarray:
    """An antisymmetric ``n x n`` matrix of pair effects, ``E[a, b] = -E[b, a]``."""
    upper = np.triu(rng.normal(0.0, pair_sd, (n, n)), 1)
    return upper - upper.T


def answer_pairs(
    merit: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    s: np.ndarray,
    effects: np.ndarray,
    noise: CrowdNoise,
    rng: np.random.Generator,
) -> np.ndarray:
    """Answers to pairs by index: 0 left won, 1 right won, -1 no preference.

    ``s`` is the discrimination of the worker of each answer; ``effects`` as from
    :func:`pair_effects`.
    """
    d = merit[left] - merit[right] + effects[left, right]
    tie = rng.random(d.size) < noise.tie_rate(d)
    left_won = rng.random(d.size) < noise.win_rate(d, s)
    return np.where(tie, -1, np.where(left_won, 0, 1))


def worker_discriminations(n: int, worker_sd: float, rng: np.random.Generator) -> np.ndarray:
    """Per-worker discriminations, log-normal with mean 1."""
    return np.exp(rng.normal(-0.5 * worker_sd**2, worker_sd, n))


def discrimination_quantiles(worker_sd: float, k: int = 64, top: float = 1.0) -> np.ndarray:
    """``k`` evenly spaced quantiles of the discriminations of the most discriminating ``top``
    share of a crowd (all of it by default): a crowd average is their mean."""
    u = 1 - top + top * (np.arange(k) + 0.5) / k
    return np.exp(worker_sd * ndtri(u) - 0.5 * worker_sd**2)


class _PairEffect:
    """Pair effects by image name, drawn once per pair from the pair's own seed."""

    def __init__(self, pair_sd: float, seed: int):
        self.pair_sd = pair_sd
        self.seed = seed
        self._cache: dict[tuple[str, str], float] = {}

    def __call__(self, a: str, b: str) -> float:
        key = (a, b) if a < b else (b, a)
        if key not in self._cache:
            words = [self.seed, zlib.crc32(key[0].encode()), zlib.crc32(key[1].encode())]
            self._cache[key] = float(np.random.default_rng(words).normal(0.0, self.pair_sd))
        return self._cache[key] if key == (a, b) else -self._cache[key]


@dataclass(frozen=True)
class RealisticWorker:
    """One worker of a :class:`CrowdNoise` crowd, as a :class:`ranking.crowd.WorkerModel`.

    ``truth`` is merit. On a 4-up screen the worker perceives ``s * merit`` plus logistic noise,
    or answers at random with probability ``lapse``, and keeps the photos above the mean.
    """

    s: float
    noise: CrowdNoise
    effect: _PairEffect

    def choose(
        self,
        shown: Sequence[str],
        kind: str,
        truth: Mapping[str, float],
        rng: np.random.Generator,
    ) -> list[str]:
        if kind == "pair":
            left, right = shown
            d = np.array([truth[left] - truth[right] + self.effect(left, right)])
            if rng.random() < self.noise.tie_rate(d)[0]:
                return []
            return [left] if rng.random() < self.noise.win_rate(d, self.s)[0] else [right]
        if rng.random() < self.noise.lapse:
            return [x for x in shown if rng.random() < 0.5]
        merit = np.array([truth[x] for x in shown])
        perceived = self.s * merit + rng.logistic(0.0, 1.0, len(shown))
        return [x for x, v in zip(shown, perceived, strict=True) if v > perceived.mean()]


def make_realistic_crowd(
    n_workers: int, noise: CrowdNoise, seed: int = 0
) -> dict[str, RealisticWorker]:
    """``n_workers`` workers named ``w000``, ... sharing one set of pair effects."""
    rng = np.random.default_rng(seed)
    effect = _PairEffect(noise.pair_sd, seed)
    width = max(3, len(str(n_workers - 1)))
    s = worker_discriminations(n_workers, noise.worker_sd, rng)
    return {
        f"w{i:0{width}d}": RealisticWorker(float(s[i]), noise, effect) for i in range(n_workers)
    }


# --- calibration -------------------------------------------------------------------------


@dataclass(frozen=True)
class Calibration:
    """Fitted crowd parameters and what they were fitted on."""

    noise: CrowdNoise
    votes: int
    pairs: int
    repeated_pairs: int
    workers: int
    tie_share: float
    scores: pd.Series  # Bradley-Terry scores of all votes (merit = noise.scale * score)


def _ordered(v: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    a = np.where(v["left"] < v["right"], v["left"], v["right"])
    b = np.where(v["left"] < v["right"], v["right"], v["left"])
    return a, b


def _held_out_gaps(v: pd.DataFrame) -> pd.DataFrame:
    """Each pair's score gap ``a - b`` (``a < b``) and its variance, from a fit of the other
    folds' pairs; indexed by ``(a, b)``."""
    a, b = _ordered(v)
    fold = np.array([zlib.crc32(f"{x}\x00{y}".encode()) % FOLDS for x, y in zip(a, b, strict=True)])
    items = sorted(set(a) | set(b))
    rows: dict[tuple[str, str], tuple[float, float]] = {}
    for k in range(FOLDS):
        held = fold == k
        if not held.any():
            continue
        fit = BradleyTerry(alpha=0.1, se="diagonal").fit(v[~held], items=items)
        s, se = fit.scores_, fit.se_
        for x, y in set(zip(a[held], b[held], strict=True)):
            rows[(x, y)] = (float(s[x] - s[y]), float(se[x] ** 2 + se[y] ** 2))
    return pd.DataFrame.from_dict(rows, orient="index", columns=["gap", "gap_var"])


def _pair_table(v: pd.DataFrame, gaps: pd.DataFrame) -> pd.DataFrame:
    a, b = _ordered(v)
    tie = v["label"].isna().to_numpy()
    a_won = (~tie) & (v["label"].to_numpy() == a)
    t = pd.DataFrame({"a": a, "b": b, "tie": tie, "a_won": a_won, "b_won": ~tie & ~a_won})
    g = t.groupby(["a", "b"], sort=False)[["a_won", "b_won", "tie"]].sum().reset_index()
    held = gaps.loc[list(zip(g["a"], g["b"], strict=True))]
    g["gap"], g["gap_var"] = held["gap"].to_numpy(), held["gap_var"].to_numpy()
    return g


def _negloglik(
    theta: np.ndarray, gap: np.ndarray, gap_var: np.ndarray, counts: np.ndarray
) -> tuple[float, np.ndarray]:
    """Minus the log-likelihood of the pairs' answer counts, and its gradient in ``theta``."""
    scale, pair_sd, tie_width = np.exp(theta[0]), np.exp(theta[1]), np.exp(theta[4])
    lapse, tie_max = 1 / (1 + np.exp(-theta[2])), 1 / (1 + np.exp(-theta[3]))
    crowd = CrowdNoise(scale, pair_sd, 0.0, lapse, tie_max, tie_width)
    # The held-out gap's own error spreads the consensus like a pair effect: it is known, so
    # pair_sd is what is left over.
    spread = np.sqrt(pair_sd**2 + scale**2 * gap_var)[:, None]
    x = _NODES[None, :]
    d = scale * gap[:, None] + spread * x  # pairs x nodes
    tie = crowd.tie_rate(d)
    below = ndtr(d)
    p = np.clip(crowd.win_rate(d), 1e-300, 1 - 1e-16)
    n_a, n_b, n_t = counts[:, 0:1], counts[:, 1:2], counts[:, 2:3]
    n_decided = n_a + n_b
    ll = (
        n_decided * np.log1p(-tie)
        + n_a * np.log(p)
        + n_b * np.log1p(-p)
        + n_t * (np.log(tie_max) - 0.5 * (d / tie_width) ** 2)
    )
    top = ll.max(axis=1, keepdims=True)
    weighted = np.exp(ll - top) * _WEIGHTS
    total = weighted.sum(axis=1, keepdims=True)
    per_pair = top[:, 0] + np.log(total[:, 0])
    post = weighted / total  # each node's share of the pair's likelihood
    # Slopes of each pair-node log-likelihood in d, lapse, tie_max and tie_width.
    undecided = -n_decided * tie / (1 - tie)
    # The slope of log tie_rate is -d / tie_width^2; log(1 - tie)'s is undecided times it.
    by_d = -(undecided + n_t) * d / tie_width**2 + (n_a / p - n_b / (1 - p)) * crowd.win_slope(d)
    by_lapse = (n_a / p - n_b / (1 - p)) * (0.5 - below)
    by_tie_max = (undecided + n_t) / tie_max
    by_width = (undecided + n_t) * d**2 / tie_width**3
    d_scale = gap[:, None] + x * scale * gap_var[:, None] / spread
    d_pair_sd = x * pair_sd / spread
    grad = np.array(
        [
            (post * by_d * d_scale).sum() * scale,
            (post * by_d * d_pair_sd).sum() * pair_sd,
            (post * by_lapse).sum() * lapse * (1 - lapse),
            (post * by_tie_max).sum() * tie_max * (1 - tie_max),
            (post * by_width).sum() * tie_width,
        ]
    )
    return -float(per_pair.sum()), -grad


def _neglogpost(
    theta: np.ndarray, gap: np.ndarray, gap_var: np.ndarray, counts: np.ndarray
) -> tuple[float, np.ndarray]:
    # Weak priors, one unit of log or logit around the defaults: with few answers per pair the
    # held-out gaps are so uncertain that a huge scale with a step-shaped link fits as well as
    # the truth, and the prior picks the plausible one; thousands of votes outweigh it.
    value, grad = _negloglik(theta, gap, gap_var, counts)
    off = (theta - _PRIOR_CENTRE) / _PRIOR_SD
    return value + 0.5 * float(off @ off), grad + off / _PRIOR_SD


def _worker_sd(v: pd.DataFrame, merit: pd.Series, noise: CrowdNoise, min_votes: int) -> float:
    """Spread of log-discrimination across workers, net of each estimate's sampling variance."""
    decided = v[v["label"].notna()]
    gap = merit.reindex(decided["left"]).to_numpy() - merit.reindex(decided["right"]).to_numpy()
    # The pair effect blurs each answer: average it out as the likelihood does.
    shrink = 1 / math.sqrt(1 + noise.pair_sd**2)
    y = (decided["label"] == decided["left"]).to_numpy()
    logs, variances = [], []
    for rows in decided.groupby("worker").indices.values():
        idx = np.asarray(rows)
        if idx.size < min_votes:
            continue
        g, yy = gap[idx] * shrink, y[idx]
        grid = np.linspace(-2.5, 2.5, 101)
        p = noise.win_rate(np.exp(grid)[:, None] * g[None, :])
        ll = (np.where(yy, np.log(p), np.log1p(-p))).sum(axis=1)
        k = int(np.argmax(ll))
        if k in (0, grid.size - 1):
            continue
        h = grid[1] - grid[0]
        curvature = -(ll[k + 1] - 2 * ll[k] + ll[k - 1]) / h**2
        if curvature <= 0:
            continue
        logs.append(grid[k])
        variances.append(1 / curvature)
    if len(logs) < 3:
        return 0.0
    excess = float(np.var(logs, ddof=1) - np.mean(variances))
    return math.sqrt(max(excess, 0.0))


def calibrate(votes: pd.DataFrame, min_worker_votes: int = 30) -> Calibration:
    """Fit :class:`CrowdNoise` to a votes table ``worker, left, right, label`` (see the module).

    Workers with fewer than ``min_worker_votes`` decided answers do not inform ``worker_sd``.
    """
    v = validate_votes(votes)
    v = v[v["left"] != v["right"]].reset_index(drop=True)
    if len(v) < 50:
        raise ValueError(f"{len(v)} votes are too few to calibrate a crowd on (need 50)")
    scores = BradleyTerry(alpha=0.1, se="diagonal").fit_predict(v)
    pairs = _pair_table(v, _held_out_gaps(v))
    counts = pairs[["a_won", "b_won", "tie"]].to_numpy(dtype=float)
    gap = pairs["gap"].to_numpy(dtype=float)
    gap_var = pairs["gap_var"].to_numpy(dtype=float)
    tie_share = float(counts[:, 2].sum() / counts.sum())
    start = np.array(
        [math.log(0.6), math.log(0.3), -3.0, math.log(max(tie_share, 1e-3) / (1 - tie_share)), 0.0]
    )
    result = minimize(_neglogpost, start, args=(gap, gap_var, counts), method="L-BFGS-B", jac=True)
    t = result.x
    noise = CrowdNoise(
        scale=float(np.exp(t[0])),
        pair_sd=float(np.exp(t[1])),
        worker_sd=0.0,
        lapse=float(1 / (1 + np.exp(-t[2]))),
        tie_max=float(1 / (1 + np.exp(-t[3]))),
        tie_width=float(np.exp(t[4])),
    )
    worker_sd = _worker_sd(v, noise.scale * scores, noise, min_worker_votes)
    noise = CrowdNoise(**{**noise.as_dict(), "worker_sd": worker_sd})
    return Calibration(
        noise=noise,
        votes=len(v),
        pairs=len(pairs),
        repeated_pairs=int((counts.sum(axis=1) > 1).sum()),
        workers=int(v["worker"].nunique()),
        tie_share=tie_share,
        scores=scores,
    )


def simulate_campaign_votes(
    merit: pd.Series,
    noise: CrowdNoise,
    pairs: Sequence[tuple[str, str]],
    n_workers: int,
    seed: int,
) -> pd.DataFrame:
    """Votes of a :class:`CrowdNoise` crowd of ``n_workers`` on ``pairs`` (one answer each,
    repeats allowed), as a votes table; each answer's worker is drawn at random."""
    rng = np.random.default_rng(seed)
    ids = list(merit.index)
    pos = {x: i for i, x in enumerate(ids)}
    left = np.array([pos[a] for a, _ in pairs], dtype=int)
    right = np.array([pos[b] for _, b in pairs], dtype=int)
    effects = pair_effects(len(ids), noise.pair_sd, rng)
    s = worker_discriminations(n_workers, noise.worker_sd, rng)
    worker = rng.integers(n_workers, size=left.size)
    out = answer_pairs(merit.to_numpy(dtype=float), left, right, s[worker], effects, noise, rng)
    names = np.array(ids, dtype=object)
    label = np.where(out == 0, names[left], np.where(out == 1, names[right], None))
    width = max(3, len(str(n_workers - 1)))
    return pd.DataFrame(
        {
            "worker": [f"w{w:0{width}d}" for w in worker],
            "left": names[left],
            "right": names[right],
            "label": label,
        },
        columns=list(VOTE_COLUMNS),
    )
