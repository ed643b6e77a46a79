"""Scores from 4-up answers fitted as screens, not as pairs broken out of them.

A 4-up answer ("select the photos worth keeping") says which photos of a screen a worker kept.
Breaking it into pairs (:func:`ranking.votes.fourup_pairs`) and fitting Bradley-Terry counts up
to four correlated wins per answer as independent ones and ignores that a photo is kept for
standing out from the rest of its screen. This module fits the answer itself with a
screen-centred logistic model: worker ``w`` keeps photo ``i`` of screen ``k`` with probability

    P(keep i) = sigmoid(a_w (theta_i - mean_{j on k} theta_j)),

each photo's keep a separate Bernoulli term given the scores. A worker who perceives merit with
symmetric noise and keeps the photos above the screen's mean does about this: photo ``i`` is kept
when its true centred merit outweighs its centred noise. ``a_w >= 0`` is the worker's
discrimination; like :class:`ranking.reliability.CrowdBT`, fitting alternates the scores given the
discriminations (MAP under ``theta ~ N(0, I / alpha)``, Newton-CG on sparse matrices, O(n + m)
per step) with each worker's discrimination given the scores (MAP under ``a_w ~ N(1, 1)``, clipped
at 0), and rescales ``a`` to a mean of 1 over answered photos, ``theta`` inversely. An answer that
keeps every photo or none says nothing about their relative merit and is left out.

On simulated honest crowds this ranks better than Bradley-Terry on the broken pairs: the worker
weights count most, the screen model a little. Standard errors are Laplace ones of the final
score step (:func:`ranking.bradley_terry.fit_bt`'s notes), taking the discriminations as known;
the Hessian ``alpha I + X^T W X`` is the Fisher information of the centred design ``X``.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy.optimize import minimize
from scipy.sparse.csgraph import connected_components
from scipy.special import expit

from ranking.bradley_terry import SEMethod, _variances

ANSWER_COLUMNS = ("screen", "worker", "image", "kept")
# Prior sd of a worker's discrimination around the crowd's mean of 1.
DISCRIMINATION_SD = 1.0


def answers_from_votes(votes: pd.DataFrame) -> pd.DataFrame:
    """The 4-up answers behind a votes table of broken pairs.

    Parameters
    ----------
    votes : pd.DataFrame
        Votes with columns ``worker, left, right, label, screen``, as
        :func:`ranking.crowd.simulate_votes` writes for 4-up screens: each answer of a screen
        broken into its pairs. Answers that kept every photo or none left no pairs and so are
        missing here, as :class:`FourUp` would leave them out anyway.

    Returns
    -------
    pd.DataFrame
        One row per photo of an answer: ``screen, worker, image, kept``.
    """
    long = pd.concat(
        [
            votes[["screen", "worker", "left"]].rename(columns={"left": "image"}),
            votes[["screen", "worker", "right"]].rename(columns={"right": "image"}),
        ],
        ignore_index=True,
    )
    won = votes[["screen", "worker", "label"]].rename(columns={"label": "image"})
    winners = pd.MultiIndex.from_frame(won.drop_duplicates())
    photos = long.drop_duplicates().reset_index(drop=True)
    photos["kept"] = pd.MultiIndex.from_frame(photos).isin(winners)
    return photos


def _centred_design(
    answers: pd.DataFrame, index: pd.Index
) -> tuple[sp.csr_matrix, np.ndarray, np.ndarray, pd.Index]:
    """The design ``X`` (one row per photo of an informative answer, ``e_i`` minus the screen's
    mean), the keeps, each row's worker code, and the worker names."""
    missing = [c for c in ANSWER_COLUMNS if c not in answers.columns]
    if missing:
        raise ValueError(f"answers table is missing columns: {', '.join(missing)}")
    image = index.get_indexer(pd.Index(answers["image"]))
    if (image < 0).any():
        name = answers["image"].to_numpy()[image < 0][0]
        raise ValueError(f"answers name images outside items, e.g. {name!r}")
    kept = answers["kept"].to_numpy(dtype=bool)
    answer, _ = pd.factorize(pd.MultiIndex.from_frame(answers[["screen", "worker"]]))
    size = np.bincount(answer)
    n_kept = np.bincount(answer, kept, len(size))
    rows = ((n_kept > 0) & (n_kept < size))[answer]
    answer, image, kept = answer[rows], image[rows], kept[rows]
    answer, _ = pd.factorize(answer)
    worker, workers = pd.factorize(answers["worker"].to_numpy()[rows])
    m, n = len(image), len(index)
    members = sp.csr_matrix(
        (np.ones(m), (answer, image)), shape=(int(answer.max(initial=-1)) + 1, n)
    )
    size = np.asarray(members.sum(axis=1)).ravel()
    mean = sp.diags(1.0 / np.maximum(size, 1.0)) @ members
    x = sp.csr_matrix((np.ones(m), (np.arange(m), image)), shape=(m, n)) - mean[answer]
    return sp.csr_matrix(x), kept.astype(float), worker, pd.Index(workers)


def _scores(
    x: sp.csr_matrix, y: np.ndarray, a: np.ndarray, alpha: float, init: np.ndarray
) -> np.ndarray:
    """MAP scores given the per-row discriminations ``a`` (Newton-CG in a trust region)."""
    xt = sp.csr_matrix(x.T)
    # The solver asks for many Hessian-vector products at one point: weigh the rows once.
    curvature: dict[bytes, np.ndarray] = {}

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        eta = a * (x @ theta)
        value = float(np.sum(np.logaddexp(0.0, eta) - y * eta)) + 0.5 * alpha * theta @ theta
        return value, xt @ (a * (expit(eta) - y)) + alpha * theta

    def hessp(theta: np.ndarray, v: np.ndarray) -> np.ndarray:
        key = theta.tobytes()
        if key not in curvature:
            p = expit(a * (x @ theta))
            curvature.clear()
            curvature[key] = a * a * p * (1.0 - p)
        return xt @ (curvature[key] * (x @ v)) + alpha * v

    result = minimize(
        objective, init, jac=True, hessp=hessp, method="trust-krylov", options={"gtol": 1e-6}
    )
    return np.asarray(result.x)


def _discrimination(
    d: np.ndarray, y: np.ndarray, worker: np.ndarray, a: np.ndarray, steps: int = 20
) -> np.ndarray:
    """Per-worker MAP of ``a`` given each row's centred score ``d`` (projected Newton)."""
    precision = 1.0 / DISCRIMINATION_SD**2
    for _ in range(steps):
        p = expit(a[worker] * d)
        grad = np.bincount(worker, d * (y - p), len(a)) - precision * (a - 1.0)
        curv = np.bincount(worker, d * d * p * (1.0 - p), len(a)) + precision
        a = np.maximum(a + grad / curv, 0.0)
    return a


class FourUp:
    """Scores of the images in a table of 4-up answers, with per-worker discrimination.

    Parameters
    ----------
    alpha : float
        Prior precision of the scores, > 0: the penalty is ``alpha/2 ||theta||^2``.
    n_rounds : int
        Most alternations of the score and discrimination steps; 1 fits the scores with every
        discrimination 1.
    tol : float
        Stop when no discrimination moves more than this in a round.
    se : {"auto", "exact", "diagonal"}
        Standard-error approximation, as in :func:`ranking.bradley_terry.fit_bt`.

    Attributes
    ----------
    scores_, se_ : pd.Series
        Log-strengths centred within each connected component, and their standard errors
        (NaN for images without informative answers), by image.
    discrimination_ : pd.Series
        ``a_w`` by worker, mean 1 over answered photos; about 0 for a worker who keeps at random.
    n_rounds_ : int
        Rounds run.
    n_components_ : int
        Connected components of the images that share screens, unanswered images included.
    """

    def __init__(
        self, alpha: float = 1.0, n_rounds: int = 10, tol: float = 1e-3, se: SEMethod = "auto"
    ):
        if alpha <= 0:
            raise ValueError("alpha must be > 0: without a prior the scores may not exist")
        self.alpha = alpha
        self.n_rounds = n_rounds
        self.tol = tol
        self.se = se

    def fit(self, answers: pd.DataFrame, items: Sequence[str] | None = None) -> FourUp:
        """Fit ``answers`` (columns ``screen, worker, image, kept``: one row per photo of an
        answer, an answer being a screen's photos as one worker judged them) over ``items``
        (default: the sorted images in ``answers``)."""
        index = pd.Index(sorted(answers["image"].unique()) if items is None else items)
        if not index.is_unique:
            raise ValueError("items must be unique")
        x, y, worker, workers = _centred_design(answers, index)
        n = len(index)
        a = np.ones(len(workers))
        theta = np.zeros(n)
        self.n_rounds_ = 0
        for _ in range(self.n_rounds):
            self.n_rounds_ += 1
            theta = _scores(x, y, a[worker], self.alpha, theta)
            if self.n_rounds_ == self.n_rounds:
                break
            new = _discrimination(x @ theta, y, worker, a)
            mean = float(new[worker].mean()) if len(worker) else 0.0
            if mean > 0:
                new /= mean
                theta *= mean
            moved = float(np.abs(new - a).max()) if len(a) else 0.0
            a = new
            if moved < self.tol:
                theta = _scores(x, y, a[worker], self.alpha, theta)
                break
        scale = a[worker]
        p = expit(scale * (x @ theta))
        info = sp.csr_matrix(x.T @ sp.diags(scale * scale * p * (1.0 - p)) @ x)
        n_components, component = connected_components(info, directed=False)
        if n_components > 1:
            warnings.warn(
                f"the images fall into {n_components} groups that share no screens; scores are "
                "centred within each and compare only inside one",
                stacklevel=2,
            )
        sums = np.bincount(component, theta, n_components)
        theta -= (sums / np.bincount(component, minlength=n_components))[component]
        diag = self.alpha + info.diagonal()
        off = sp.csr_matrix(info - sp.diags(info.diagonal()))
        std = np.sqrt(np.clip(_variances(self.se, diag, off, self.alpha, component), 0.0, None))
        std[np.asarray(abs(x).sum(axis=0)).ravel() == 0] = np.nan
        self.scores_ = pd.Series(theta, index=index, name="score")
        self.se_ = pd.Series(std, index=index, name="se")
        self.discrimination_ = pd.Series(a, index=workers, name="discrimination")
        self.n_components_ = int(n_components)
        return self

    def fit_predict(self, answers: pd.DataFrame, items: Sequence[str] | None = None) -> pd.Series:
        return self.fit(answers, items).scores_
