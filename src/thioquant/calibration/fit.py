"""Weighted least-squares calibration fitting.

The numerical core is :func:`weighted_lstsq`, a QR-based (Householder, with column scaling)
weighted least-squares solver for any design matrix; it never forms the normal equations, so it
reproduces the NIST StRD certified values on ill-conditioned sets (Longley, Wampler).
:func:`fit_calibration` builds the design matrix for one calibration model and returns the frozen
:class:`thioquant.model.Calibration` record.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from thioquant.errors import CalibrationError
from thioquant.model import CALIBRATION_MODELS, WEIGHTINGS, Calibration

#: number of fitted coefficients per model
N_PARAMS = {"linear": 2, "linear0": 1, "quadratic": 3, "power": 2}
#: distinct concentrations needed to determine the model
MIN_LEVELS = {"linear": 2, "linear0": 1, "quadratic": 3, "power": 2}


@dataclass(frozen=True)
class LstsqResult:
    """Result of :func:`weighted_lstsq`.

    Attributes
    ----------
    beta : ndarray
        Coefficients, one per column of the design matrix.
    covariance : ndarray
        ``s^2 (X^T W X)^-1``.
    sd : ndarray
        Standard deviations of the coefficients (square root of the covariance diagonal).
    residual_sd : float
        ``s = sqrt(sum(w r^2) / dof)``.
    sse : float
        Weighted residual sum of squares ``sum(w r^2)``.
    dof : int
        ``n - p``.
    rank : int
        Numerical rank of the (scaled) design matrix.
    """

    beta: np.ndarray
    covariance: np.ndarray
    sd: np.ndarray
    residual_sd: float
    sse: float
    dof: int
    rank: int


def weighted_lstsq(X: Any, y: Any, w: Any | None = None) -> LstsqResult:
    """Weighted least squares by QR decomposition of the scaled, weighted design matrix.

    Minimises ``sum(w_i (y_i - X_i beta)^2)``. Rows are multiplied by ``sqrt(w)``, columns are
    scaled to unit Euclidean norm (this equilibration is what keeps Wampler-type polynomial
    designs accurate), then ``Q R = X_s`` and ``beta = R^-1 Q^T y``, refined four times on the augmented system with
    residuals accumulated in extended precision (``numpy.longdouble``); the coefficient covariance
    is ``s^2 R^-1 R^-T`` un-scaled. The normal equations are never formed.

    Parameters
    ----------
    X : array_like, shape (n, p)
        Design matrix.
    y : array_like, shape (n,)
        Responses.
    w : array_like, shape (n,), optional
        Positive weights (default: all 1).

    Returns
    -------
    LstsqResult

    Raises
    ------
    CalibrationError
        If ``n <= p``, the design is rank deficient, or inputs are not finite.
    """
    X = np.asarray(X, dtype=float)
    y = np.asarray(y, dtype=float)
    if X.ndim == 1:
        X = X[:, None]
    n, p = X.shape
    if y.shape != (n,):
        raise CalibrationError(f"y has shape {y.shape}, expected ({n},)")
    w = np.ones(n) if w is None else np.asarray(w, dtype=float)
    if w.shape != (n,):
        raise CalibrationError(f"weights have shape {w.shape}, expected ({n},)")
    if not (np.all(np.isfinite(X)) and np.all(np.isfinite(y)) and np.all(np.isfinite(w))):
        raise CalibrationError("non-finite value in the design, responses or weights")
    if np.any(w <= 0):
        raise CalibrationError("weights must be positive")
    if n <= p:
        raise CalibrationError(f"{n} points cannot fit {p} coefficients with a residual (need > {p})")
    sw = np.sqrt(w)
    Xw = X * sw[:, None]
    yw = y * sw
    norms = np.linalg.norm(Xw, axis=0)
    if np.any(norms == 0):
        raise CalibrationError("a column of the design matrix is all zero")
    # power-of-two column scaling: exact, so the scaled problem is the weighted problem
    scale = np.exp2(np.round(np.log2(norms)))
    Xs = Xw / scale
    Q, R = np.linalg.qr(Xs, mode="reduced")  # LAPACK geqrf, as scipy.linalg.qr, without its import
    diag = np.abs(np.diag(R))
    rank = int(np.sum(diag > diag.max() * max(n, p) * np.finfo(float).eps))
    if rank < p:
        raise CalibrationError(f"design matrix is rank deficient (rank {rank} < {p})")
    # Least-squares solution refined on the augmented system [I A; A^T 0][r; b] = [y; 0]
    # (Bjorck): the residuals of both block equations are computed exactly rounded
    # (error-free products + math.fsum), the corrections solved with the QR factors. This
    # removes the cond(A)^2 |r| error term that plain QR leaves on noisy, ill-conditioned
    # designs, and does not depend on the platform having an extended-precision long double.
    Rinv = _triu_inverse(R)  # p x p, reused for every correction
    bs = Rinv @ (Q.T @ yw)
    r = _exact_residual(Xs, bs, yw, np.zeros(n))
    prev = np.inf
    for _ in range(6):
        f = _exact_residual(Xs, bs, yw, r)
        g = _exact_xtr(Xs, r)
        h = Rinv.T @ g
        dx = Rinv @ (Q.T @ f - h)
        dr = f - Xs @ dx
        bs = bs + dx
        r = r + dr
        size = float(np.max(np.abs(dx) / np.maximum(np.abs(bs), np.finfo(float).tiny)))
        if size <= 4 * np.finfo(float).eps or size > 0.5 * prev:
            break  # converged, or stagnating at rounding level
        prev = size
    r = _exact_residual(Xs, bs, yw, np.zeros(n))
    beta = bs / scale
    dof = n - p
    sse = float(r @ r)
    s2 = sse / dof
    cov = s2 * (Rinv @ Rinv.T) / np.outer(scale, scale)
    return LstsqResult(
        beta=beta,
        covariance=cov,
        sd=np.sqrt(np.diag(cov)),
        residual_sd=float(np.sqrt(s2)),
        sse=sse,
        dof=dof,
        rank=rank,
    )


_SPLIT = 134217729.0  # 2**27 + 1 (Dekker split for IEEE double)


def _triu_inverse(R: np.ndarray) -> np.ndarray:
    """Inverse of an upper-triangular matrix by row-wise back substitution (small p)."""
    p = R.shape[0]
    inv = np.zeros((p, p))
    eye = np.eye(p)
    for i in range(p - 1, -1, -1):
        inv[i] = (eye[i] - R[i, i + 1:] @ inv[i + 1:]) / R[i, i]
    return inv


def _two_prod(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Error-free product: a * b == p + e exactly (Dekker/Veltkamp)."""
    p = a * b
    ca = _SPLIT * a
    ah = ca - (ca - a)
    al = a - ah
    cb = _SPLIT * b
    bh = cb - (cb - b)
    bl = b - bh
    e = ((ah * bh - p) + ah * bl + al * bh) + al * bl
    return p, e


def _exact_residual(A: np.ndarray, b: np.ndarray, y: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``y - r - A b`` rounded once per row."""
    import math

    P, E = _two_prod(A, np.broadcast_to(b, A.shape))
    terms = np.column_stack([y, -r, -P, -E])
    return np.array([math.fsum(row) for row in terms])


def _exact_xtr(A: np.ndarray, r: np.ndarray) -> np.ndarray:
    """``-A^T r`` rounded once per column."""
    import math

    P, E = _two_prod(A, np.broadcast_to(r[:, None], A.shape))
    return np.array([-math.fsum(np.concatenate([P[:, j], E[:, j]])) for j in range(A.shape[1])])


def n_distinct(x: np.ndarray) -> int:
    """Number of distinct values of a finite array (np.unique(x).size without importing numpy.ma,
    10 ms that np.unique costs on first use)."""
    if x.size == 0:
        return 0
    s = np.sort(x, axis=None)
    return 1 + int(np.count_nonzero(s[1:] != s[:-1]))


def _check_choice(value: str, allowed: Sequence[str], what: str) -> str:
    if value not in allowed:
        raise CalibrationError(f"unknown {what} '{value}'; choose one of {list(allowed)}")
    return value


def raw_weights(x: np.ndarray, y: np.ndarray, weighting: str) -> np.ndarray:
    """Un-normalised weights for ``weighting`` computed from the data (1 for "none")."""
    with np.errstate(divide="ignore", invalid="ignore"):
        if weighting == "none":
            return np.ones_like(x, dtype=float)
        if weighting == "1/x":
            return 1.0 / np.abs(x)
        if weighting == "1/x^2":
            return 1.0 / x**2
        if weighting == "1/y":
            return 1.0 / np.abs(y)
        if weighting == "1/y^2":
            return 1.0 / y**2
    raise CalibrationError(f"unknown weighting '{weighting}'")


def normalized_weights(cal: Calibration) -> tuple[np.ndarray, float]:
    """Weights the fit of ``cal`` used (all points) and the normalisation factor.

    Weights are normalised so that they average 1 over the included points; the factor is what
    a raw weight must be divided by to be on the same scale (used for new observations).
    """
    w = raw_weights(cal.x, cal.y, cal.weighting)
    norm = float(np.mean(w[cal.included]))
    return w / norm, norm


def design_matrix(x: np.ndarray, model: str) -> np.ndarray:
    """Design matrix of ``model`` at concentrations ``x`` (log x for "power")."""
    x = np.asarray(x, dtype=float)
    if model == "linear":
        return np.column_stack([np.ones_like(x), x])
    if model == "linear0":
        return x[:, None]
    if model == "quadratic":
        return np.column_stack([np.ones_like(x), x, x * x])
    if model == "power":
        return np.column_stack([np.ones_like(x), np.log(x)])
    raise CalibrationError(f"unknown calibration model '{model}'")


def gradient(cal: Calibration, x: float) -> np.ndarray:
    """d f(x) / d coefficients, in the fitting domain (log y for "power").

    For "linear0" the gradient is ``[1, x]`` to match its 2 x 2 covariance (zero intercept row).
    """
    model = "linear" if cal.model == "linear0" else cal.model
    return design_matrix(np.atleast_1d(float(x)), model)[0]


def fit_calibration(
    x: Any,
    y: Any,
    model: str = "linear",
    weighting: str = "none",
    *,
    included: Any | None = None,
) -> Calibration:
    """Fit a calibration curve ``response = f(concentration)`` by weighted least squares.

    Parameters
    ----------
    x : array_like
        Nominal calibrator concentrations.
    y : array_like
        Responses (area, or area ratio to the internal standard).
    model : {"linear", "linear0", "quadratic", "power"}
        ``linear`` y = c0 + c1 x; ``linear0`` y = c1 x (through zero, see Notes); ``quadratic`` y = c0 + c1 x + c2 x^2; ``power``
        ln y = c0 + c1 ln x (coefficients in the log domain).
    weighting : {"none", "1/x", "1/x^2", "1/y", "1/y^2"}
        Weights computed from the observed x or y of each calibrator, normalised to average 1
        over the included points (so ``residual_sd`` is in response units). For "power" the weights
        apply to the log-domain residuals.
    included : array_like of bool, optional
        Points that enter the fit (default all). Excluded points are kept in the record.

    Returns
    -------
    Calibration
        ``r2`` is the weighted coefficient of determination
        ``1 - sum(w r^2) / sum(w (y - ybar_w)^2)`` with the weighted mean ``ybar_w``; for
        ``linear0`` (no intercept) it is the uncentred ``1 - sum(w r^2) / sum(w y^2)`` (the NIST
        StRD convention); for ``power`` it is computed on ln y.

    Raises
    ------
    CalibrationError
        Unknown model or weighting, mismatched shapes, non-finite values, non-positive x or y where
        the model or weighting needs them, or too few included points: more points than
        coefficients are required, at >= 1, 2, 3, 2 distinct concentrations for linear0, linear,
        quadratic, power.

    Notes
    -----
    ``coefficients`` are in ascending powers of x. For ``linear0`` they are ``(0.0, c1)`` so that
    ``Calibration.predict`` and ``inverse`` treat it as a line through the origin; the
    ``covariance`` is then 2 x 2 with a zero row and column for the fixed intercept.
    """
    _check_choice(model, CALIBRATION_MODELS, "calibration model")
    _check_choice(weighting, WEIGHTINGS, "weighting")
    xa = np.asarray(x, dtype=float).ravel()
    ya = np.asarray(y, dtype=float).ravel()
    if xa.shape != ya.shape:
        raise CalibrationError(f"x ({xa.size} values) and y ({ya.size} values) differ in length")
    inc = np.ones(xa.size, dtype=bool) if included is None else np.asarray(included, dtype=bool).ravel()
    if inc.shape != xa.shape:
        raise CalibrationError("'included' must have one flag per calibrator")
    xi, yi = xa[inc], ya[inc]
    if not (np.all(np.isfinite(xi)) and np.all(np.isfinite(yi))):
        raise CalibrationError("non-finite concentration or response among the included calibrators")
    if (model == "power" or weighting in ("1/x", "1/x^2")) and np.any(xi <= 0):
        raise CalibrationError(f"model '{model}' with weighting '{weighting}' needs positive concentrations")
    if (model == "power" or weighting in ("1/y", "1/y^2")) and np.any(yi <= 0):
        raise CalibrationError(f"model '{model}' with weighting '{weighting}' needs positive responses")
    p = N_PARAMS[model]
    if xi.size <= p or n_distinct(xi) < MIN_LEVELS[model]:
        raise CalibrationError(
            f"model '{model}' needs more than {p} included calibrators at >= {MIN_LEVELS[model]} "
            f"distinct concentrations; have {xi.size} at {n_distinct(xi)}"
        )
    w = raw_weights(xi, yi, weighting)
    w = w / np.mean(w)
    yfit = np.log(yi) if model == "power" else yi
    res = weighted_lstsq(design_matrix(xi, model), yfit, w)
    if model == "linear0":
        coef = (0.0, float(res.beta[0]))
        cov = np.zeros((2, 2))
        cov[1, 1] = res.covariance[0, 0]
        ss_tot = float(np.sum(w * yfit**2))
    else:
        coef = tuple(float(b) for b in res.beta)
        cov = res.covariance
        ybar = float(np.sum(w * yfit) / np.sum(w))
        ss_tot = float(np.sum(w * (yfit - ybar) ** 2))
    r2 = 1.0 - res.sse / ss_tot if ss_tot > 0 else float("nan")
    return Calibration(
        model=model,
        weighting=weighting,
        coefficients=coef,
        covariance=cov,
        residual_sd=res.residual_sd,
        r2=r2,
        x=xa,
        y=ya,
        included=inc,
        dof=res.dof,
    )


def weighted_sse(cal: Calibration) -> float:
    """Weighted residual sum of squares of the included points (fitting domain)."""
    return float(cal.residual_sd**2 * cal.dof)
