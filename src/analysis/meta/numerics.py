"""Linear algebra and root finding shared by the estimators: projections and R's ``uniroot``."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: R's ``uniroot`` default tolerance, ``.Machine$double.eps^0.25``.
ROOT_TOL = np.finfo(float).eps ** 0.25


def _proj(X: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(X'WX)^{-1}`` and ``P = W - WX(X'WX)^{-1}X'W`` for weights ``w``."""
    WX = X * w[:, None]
    inv = np.linalg.inv(X.T @ WX)
    return inv, np.diag(w) - WX @ inv @ WX.T


def _zeroin(f: Callable[[float], float], a: float, b: float, fa: float, fb: float,
            tol: float, maxiter: int) -> tuple[float, bool]:
    """Brent's root finder exactly as R's ``R_zeroin2`` (stats/src/zeroin.c), so that
    roots match ``uniroot`` to the last iteration; returns (root, converged)."""
    eps = np.finfo(float).eps
    c, fc = a, fa
    if fa == 0:
        return a, True
    if fb == 0:
        return b, True
    for _ in range(maxiter + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * eps * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0:
            return b, True
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p, q = cb * t1, 1 - t1
            else:
                q, t1, t2 = fa / fc, fb / fc, fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1))
                q = (q - 1) * (t1 - 1) * (t2 - 1)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < 0.75 * cb * q - abs(tol_act * q) / 2 and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b, False


def _uniroot(f: Callable[[float], float], lower: float, upper: float, maxiter: int) -> tuple[float, bool]:
    """R's ``uniroot(f, c(lower, upper), tol=.Machine$double.eps^0.25)``."""
    return _zeroin(f, lower, upper, f(lower), f(upper), ROOT_TOL, maxiter)

