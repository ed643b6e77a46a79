"""Bradley-Terry scores by penalised maximum likelihood, with Laplace standard errors.

Model (Zermelo 1929; Bradley & Terry 1952): image ``i`` beats image ``j`` with probability
``sigmoid(theta_i - theta_j)``; ``theta`` is the log-strength. We minimise the negative
log-posterior

    f(theta) = sum_k w_k log(1 + exp(-s_k (theta_win(k) - theta_lose(k)))) + alpha/2 ||theta||^2,

the MAP estimate under the prior ``theta ~ N(0, I / alpha)``; ``w_k`` weighs a comparison (1, or
0.5 per half of a tie) and ``s_k`` is the discrimination of the worker who made it (1 for plain
Bradley-Terry; CrowdBT learns it). ``choix.opt_pairwise`` penalises ``alpha ||theta||^2``
without the half: our ``alpha`` equals twice choix's. (choix's LSR-family ``alpha`` is a pseudo-
count of fictitious comparisons, a different prior.) Because the likelihood only sees
differences, the prior alone pins the mean: at the optimum each connected component of the
comparison graph sums to zero, so the scores come out centred per component.

Solver: Newton's method with truncated steps from Jacobi-preconditioned conjugate gradients
(Newton-CG; Dembo, Eisenstat & Steihaug 1982; Nocedal & Wright 2006, ch. 7) and a backtracking
line search. The Hessian ``alpha I + L`` (``L`` the comparison graph's Laplacian weighted by the
Fisher information ``w s^2 p (1 - p)``) is never formed densely: one CSR matrix with the graph's
structure is built per fit and reweighted per Newton step, so memory and each Hessian-vector
product are O(n + m). Converged means ``max_i |df/dtheta_i| <= tol``; the error in ``theta`` is
then at most ``tol * sqrt(n) / alpha`` and in practice about ``tol`` divided by an image's number
of comparisons.

Standard errors come from the Laplace approximation: the posterior covariance is ``H^-1`` at the
MAP, and the covariance of the centred scores is ``P H^-1 P`` (``P`` centring each component).
Because ``H 1_c = alpha 1_c`` on a component ``c``, its diagonal is ``(H^-1)_ii - 1/(alpha n_c)``.
``se="exact"`` inverts ``H`` densely: O(n^2) memory and O(n^3) time, so the default ``"auto"``
uses it up to 2,000 images (32 MB, a fraction of a second) and the approximation beyond, where an
exact inverse costs more than the whole fit (130,000 images: 126 GiB). ``se="diagonal"``
approximates ``(H^-1)_ii`` by the first two terms of its Neumann series in ``D^-1 A`` (``D`` the
diagonal, ``A`` the off-diagonal part of ``H``): ``1/D_ii + sum_j A_ij^2 / (D_ii^2 D_jj)``, O(m).
The first term alone ignores that an image's opponents are uncertain too; the second adds their
uncertainty one step out. Against the exact SEs on random pairs (2,000 images; median ratio), the
first term alone gives 0.78 / 0.92 / 0.97 at 4 / 10 / 20 comparisons per image and both terms
0.89 / 0.98 / 0.996. Both understate more where paths between images are long (chain-like or
barely connected designs), as the neglected higher terms grow there.
The SEs treat every comparison as independent. Pairs broken from one 4-up answer share the
worker's momentary perception of each photo, so they are positively correlated and these SEs
are optimistic for 4-up data; the same holds for a worker's systematic taste.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
import scipy.linalg
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components
from scipy.special import expit

from ranking.votes import encode_votes

EXACT_SE_MAX = 2000
ARMIJO = 1e-4
FULL_STEP = 1e-3
FORCING = 0.1
# A truncated step is still a descent direction, so capping CG only costs extra Newton steps.
CG_MAX_ITER = 1000
SEMethod = Literal["auto", "exact", "diagonal"]


@dataclass
class BTFit:
    """The result of :func:`fit_bt`.

    Attributes
    ----------
    scores : np.ndarray
        MAP log-strengths, centred within each connected component.
    se : np.ndarray
        Laplace standard errors of the centred scores; NaN for items without comparisons.
    n_iter : int
        Newton steps taken.
    converged : bool
        Whether the largest gradient component fell to ``tol``.
    n_components : int
        Connected components of the comparison graph, items without comparisons included.
    component : np.ndarray
        Component label of each item.
    """

    scores: np.ndarray
    se: np.ndarray
    n_iter: int
    converged: bool
    n_components: int
    component: np.ndarray


class _Graph:
    """The comparison graph as sparse matrices, built once per fit in O(n + m).

    ``incidence`` (n x m) has column ``k`` equal to ``e_win(k) - e_lose(k)``, so differences,
    gradients and Hessian diagonals are sparse products. ``laplacian`` holds the graph's
    off-diagonal pattern, one CSR entry per (item, comparison), reweighted per Newton step:
    its product is the cheapest Hessian-vector product, and CG calls it most often.
    """

    def __init__(self, n: int, winner: np.ndarray, loser: np.ndarray):
        m = len(winner)
        index_type = np.int32 if 2 * m < 2**31 and n < 2**31 else np.int64
        ends = np.empty(2 * m, dtype=index_type)
        ends[0::2], ends[1::2] = winner, loser
        sign = np.empty(2 * m)
        sign[0::2], sign[1::2] = 1.0, -1.0
        pointers = np.arange(0, 2 * m + 1, 2, dtype=index_type)
        self.incidence = sp.csc_matrix((sign, ends, pointers), shape=(n, m))
        self.abs_incidence = sp.csc_matrix((np.abs(sign), ends, pointers), shape=(n, m))
        # CSC -> CSR is a counting sort in C: it groups each item's comparisons without argsort.
        by_item = self.incidence.tocsr()
        self.edge = by_item.indices
        other = np.where(by_item.data > 0, loser[self.edge], winner[self.edge])
        self.laplacian = sp.csr_matrix(
            (np.ones(2 * m), other.astype(index_type), by_item.indptr), shape=(n, n)
        )

    def weighted(self, per_edge: np.ndarray) -> sp.csr_matrix:
        self.laplacian.data = per_edge[self.edge]
        return self.laplacian


def _dot(a: np.ndarray, b: np.ndarray) -> float:
    # einsum's own loop: BLAS ddot spins up threads, which costs more than the product itself at
    # these sizes and stalls badly when the cores are busy.
    return float(np.einsum("i,i->", a, b))


def _hessian_product(diag: np.ndarray, off: sp.csr_matrix) -> Callable[[np.ndarray], np.ndarray]:
    return lambda v: diag * v + off @ v


def _pcg(
    hessp: Callable[[np.ndarray], np.ndarray], b: np.ndarray, inv_diag: np.ndarray, rtol: float
) -> np.ndarray:
    """Solve ``H x = b`` for symmetric positive definite ``H`` to relative residual ``rtol``."""
    x = np.zeros_like(b)
    r = b.copy()
    z = inv_diag * r
    p = z.copy()
    rz = _dot(r, z)
    target = rtol**2 * _dot(b, b)
    for _ in range(min(len(b), CG_MAX_ITER)):
        hp = hessp(p)
        step = rz / _dot(p, hp)
        x += step * p
        r -= step * hp
        if _dot(r, r) <= target:
            break
        z = inv_diag * r
        rz_next = _dot(r, z)
        p = z + (rz_next / rz) * p
        rz = rz_next
    return x


def _evaluate(
    theta: np.ndarray,
    graph: _Graph,
    w: np.ndarray,
    s: np.ndarray,
    alpha: float,
) -> tuple[np.ndarray, float]:
    """The probability that each recorded winner wins, and the objective."""
    p = expit(s * (graph.incidence.T @ theta))
    # log(expit) is three times faster than logaddexp; it is -inf only past a 700-nat margin,
    # which the line search then rejects.
    with np.errstate(divide="ignore"):
        value = -_dot(w, np.log(p)) + 0.5 * alpha * _dot(theta, theta)
    return p, value


def _variances(
    method: SEMethod,
    diag: np.ndarray,
    off: sp.csr_matrix,
    alpha: float,
    component: np.ndarray,
) -> np.ndarray:
    n = len(diag)
    if method == "auto":
        method = "exact" if n <= EXACT_SE_MAX else "diagonal"
    if method == "exact":
        h = off.toarray()
        h[np.diag_indices(n)] += diag
        cho = scipy.linalg.cho_factor(h, overwrite_a=True)
        inverse_diag = np.diag(scipy.linalg.cho_solve(cho, np.eye(n), overwrite_b=True))
        size = np.bincount(component)[component]
        return inverse_diag - 1.0 / (alpha * size)
    if method == "diagonal":
        second = off.multiply(off) @ (1.0 / diag)
        return 1.0 / diag + second / diag**2
    raise ValueError(f"se must be 'auto', 'exact' or 'diagonal', not {method!r}")


def fit_bt(
    n_items: int,
    winner: np.ndarray,
    loser: np.ndarray,
    weight: np.ndarray | None = None,
    *,
    alpha: float = 0.01,
    tol: float = 1e-8,
    max_iter: int = 200,
    scale: np.ndarray | None = None,
    init: np.ndarray | None = None,
    se: SEMethod = "auto",
) -> BTFit:
    """Fit Bradley-Terry log-strengths by Newton-CG (see the module notes).

    Parameters
    ----------
    n_items : int
        Number of items; ``winner`` and ``loser`` index ``0 .. n_items - 1``.
    winner, loser : np.ndarray of int
        One entry per comparison.
    weight : np.ndarray, optional
        Weight of each comparison (default 1; 0.5 for each half of a tie).
    alpha : float
        Prior precision, > 0: the penalty is ``alpha/2 ||theta||^2``.
    tol : float
        Stop when the largest gradient component is at most ``tol``.
    max_iter : int
        Most Newton steps; a warning says when they run out.
    scale : np.ndarray, optional
        Discrimination of each comparison (default 1): ``P(win) = sigmoid(scale * diff)``.
    init : np.ndarray, optional
        Starting log-strengths (default: each item's empirical log-odds of winning).
    se : {"auto", "exact", "diagonal"}
        How to approximate the standard errors; "auto" is exact up to 2,000 items.

    Warns
    -----
    UserWarning
        When the comparison graph has more than one connected component (scores compare only
        within one), or when the solver did not converge.
    """
    if alpha <= 0:
        raise ValueError("alpha must be > 0: without a prior the scores may not exist")
    win = np.asarray(winner, dtype=np.intp)
    lose = np.asarray(loser, dtype=np.intp)
    m = len(win)
    if len(lose) != m:
        raise ValueError("winner and loser differ in length")
    if m and (min(win.min(), lose.min()) < 0 or max(win.max(), lose.max()) >= n_items):
        raise ValueError(f"comparisons name items outside 0..{n_items - 1}")
    if (win == lose).any():
        raise ValueError("an item is compared with itself; drop such comparisons first")
    if n_items == 0:
        empty = np.zeros(0)
        return BTFit(empty, empty, 0, True, 0, np.zeros(0, dtype=np.intp))
    w = np.ones(m) if weight is None else np.asarray(weight, dtype=float)
    s = np.ones(m) if scale is None else np.asarray(scale, dtype=float)
    graph = _Graph(n_items, win, lose)
    n_components, component = connected_components(graph.laplacian, directed=False)
    if n_components > 1:
        compared = np.bincount(np.concatenate([win, lose]), minlength=n_items) > 0
        warnings.warn(
            f"the comparison graph has {n_components} connected components "
            f"({int((~compared).sum())} items without comparisons); scores are centred within "
            "each and compare only inside one",
            stacklevel=2,
        )
    if init is None:
        # Empirical log-odds of winning: two or three Newton steps closer than zeros.
        won = np.bincount(win, w, n_items)
        lost = np.bincount(lose, w, n_items)
        theta = np.log((won + 0.5) / (lost + 0.5))
        theta -= theta.mean()
    else:
        theta = np.asarray(init, dtype=float).copy()
    p, value = _evaluate(theta, graph, w, s, alpha)
    converged = False
    n_iter = 0
    while True:
        r = w * s * (1.0 - p)
        grad = alpha * theta - graph.incidence @ r
        gmax = float(np.abs(grad).max()) if n_items else 0.0
        if gmax <= tol:
            converged = True
            break
        if n_iter == max_iter:
            break
        c = r * s * p
        diag = alpha + graph.abs_incidence @ c
        off = graph.weighted(-c)
        # Forcing term: loose solves far away, superlinear convergence near the optimum.
        rtol = min(FORCING, math.sqrt(gmax))
        step = _pcg(_hessian_product(diag, off), -grad, 1.0 / diag, rtol)
        slope = _dot(grad, step)
        t = 1.0
        p_trial, trial_value = _evaluate(theta + step, graph, w, s, alpha)
        # Near the optimum the decrease (about -slope/2) drowns in the rounding of a sum of m
        # terms, while full Newton steps are safe there: take them unchecked.
        while -slope > FULL_STEP and trial_value > value + ARMIJO * t * slope and t > 1e-12:
            t /= 2
            p_trial, trial_value = _evaluate(theta + t * step, graph, w, s, alpha)
        theta = theta + t * step
        p, value = p_trial, trial_value
        n_iter += 1
    if not converged:
        warnings.warn(
            f"Bradley-Terry fit stopped after {n_iter} Newton steps with gradient {gmax:.2g} "
            f"> tol {tol:.2g}",
            stacklevel=2,
        )
    # Centre exactly: the prior does it only up to the tolerance.
    sums = np.bincount(component, theta, n_components)
    theta -= (sums / np.bincount(component, minlength=n_components))[component]
    c = w * s * s * p * (1.0 - p)
    variances = _variances(
        se, alpha + graph.abs_incidence @ c, graph.weighted(-c), alpha, component
    )
    counts = np.bincount(np.concatenate([win, lose]), minlength=n_items)
    std = np.sqrt(np.clip(variances, 0.0, None))
    std[counts == 0] = np.nan
    return BTFit(theta, std, n_iter, converged, int(n_components), component)


class BradleyTerry:
    """Bradley-Terry scores of the images in a votes table.

    Parameters
    ----------
    alpha : float
        Prior precision; the penalty is ``alpha/2 ||theta||^2`` (see :func:`fit_bt`).
    tol : float
        Convergence tolerance on the largest gradient component.
    max_iter : int
        Most Newton steps.
    se : {"auto", "exact", "diagonal"}
        Standard-error approximation, see the module notes.

    Attributes
    ----------
    scores_, se_ : pd.Series
        Centred log-strengths and their standard errors, indexed by image.
    n_iter_, converged_, n_components_ : int, bool, int
        From the solver.
    self_comparisons_ : int
        Votes left out because both sides are the same image.
    """

    def __init__(
        self, alpha: float = 0.01, tol: float = 1e-8, max_iter: int = 200, se: SEMethod = "auto"
    ):
        self.alpha = alpha
        self.tol = tol
        self.max_iter = max_iter
        self.se = se

    def fit(self, votes: pd.DataFrame, items: Sequence[str] | None = None) -> BradleyTerry:
        enc = encode_votes(votes, items)
        fit = fit_bt(
            len(enc.items),
            enc.winner,
            enc.loser,
            enc.weight,
            alpha=self.alpha,
            tol=self.tol,
            max_iter=self.max_iter,
            se=self.se,
        )
        self.scores_ = pd.Series(fit.scores, index=enc.items, name="score")
        self.se_ = pd.Series(fit.se, index=enc.items, name="se")
        self.n_iter_ = fit.n_iter
        self.converged_ = fit.converged
        self.n_components_ = fit.n_components
        self.self_comparisons_ = enc.self_comparisons
        return self

    def fit_predict(self, votes: pd.DataFrame, items: Sequence[str] | None = None) -> pd.Series:
        return self.fit(votes, items).scores_
