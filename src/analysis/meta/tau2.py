r"""Estimators of the between-study variance :math:`\tau^2` of ``rma.uni`` and its Q-profile interval.

FE/EE (none), DL, HE, HS, SJ, ML, REML, EB and PM exactly as metafor 3.8-1
computes them: the same Fisher-scoring iterations and convergence threshold, the
same port of R's ``uniroot`` for the Paule-Mandel estimator and the Q-profile
limits (``confint.rma.uni``).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from .numerics import ROOT_TOL, _proj, _uniroot

#: metafor's ``control`` defaults for ``rma.uni``: Fisher-scoring threshold and
#: iterations, lower bound of the ``tau2.max`` search limit, and the iterations of
#: the Q-profile root search (``confint.rma.uni``).
THRESHOLD = 1e-5
MAXITER = 100
TAU2_MAX = 100.0
PROFILE_MAXITER = 1000


def _qe(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> float:
    """Generalised Q statistic ``y' P(tau2) y`` (metafor's ``.QE.func``)."""
    return float(y @ _proj(X, 1 / (v + tau2))[1] @ y)


# --------------------------------------------------------------------------- tau2 estimators


def _tau2(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str, messages: list[str]) -> tuple[float, float]:
    """Estimate tau2 and its standard error exactly as ``rma.uni`` does; notes go to ``messages``."""
    k, p = X.shape
    ymc = y - y.mean()  # metafor estimates tau2 from the centred outcomes
    if method == "HS":
        w = 1 / v
        P = _proj(X, w)[1]
        tau2 = max(0.0, (ymc @ P @ ymc - k) / w.sum())
        se = math.sqrt(1 / w.sum() ** 2 * (2 * (k - p) + 4 * tau2 * np.trace(P) + 2 * tau2**2 * np.sum(P * P)))
        return tau2, se
    if method == "DL":
        w = 1 / v
        P = _proj(X, w)[1]
        trP = np.trace(P)
        tau2 = max(0.0, (ymc @ P @ ymc - (k - p)) / trP)
        return tau2, math.sqrt(1 / trP**2 * (2 * (k - p) + 4 * tau2 * trP + 2 * tau2**2 * np.sum(P * P)))
    if method == "SJ":
        tau2_0 = float(np.var(ymc))
        P = _proj(X, 1 / (v + tau2_0))[1]
        PV = P * v[None, :]
        tau2 = max(0.0, tau2_0 * (ymc @ P @ ymc) / (k - p))
        return tau2, math.sqrt(tau2_0**2 / (k - p) ** 2 * (2 * np.sum(PV * PV.T) + 4 * tau2 * np.sum(PV * P)
                                                           + 2 * tau2**2 * np.sum(P * P)))
    if method == "PM":
        tau2 = _paule_mandel(ymc, v, X, messages)
        w = 1 / (v + tau2)
        return tau2, math.sqrt(2 * k**2 / (k - p) / w.sum() ** 2)
    P0 = np.eye(k) - X @ np.linalg.inv(X.T @ X) @ X.T
    PV = P0 * v[None, :]
    trPV = np.trace(PV)
    tau2 = (ymc @ P0 @ ymc - trPV) / (k - p)
    if method == "HE":
        tau2 = max(0.0, tau2)
        return tau2, math.sqrt(1 / (k - p) ** 2 * (2 * np.sum(PV * PV.T) + 4 * tau2 * trPV + 2 * tau2**2 * (k - p)))
    return _fisher_scoring(ymc, v, X, method, max(0.0, tau2), messages)


def _paule_mandel(ymc: np.ndarray, v: np.ndarray, X: np.ndarray, messages: list[str]) -> float:
    k, p = X.shape
    tau2_max = max(TAU2_MAX, 10 * (1.4826 * np.median(np.abs(ymc - np.median(ymc)))) ** 2)

    def excess(tau2: float) -> float:
        return _qe(ymc, v, X, tau2) - (k - p)

    if excess(0.0) < 0:
        return 0.0
    if excess(tau2_max) > 0:
        messages.append(f"Paule-Mandel: Q still above its expectation at tau2 = {tau2_max:g} "
                        "(the search limit); tau2 set to that limit")
        return tau2_max
    root, converged = _uniroot(excess, 0.0, tau2_max, MAXITER)
    if not converged:
        messages.append(f"Paule-Mandel: root search did not converge in {MAXITER} iterations")
    return root


def _fisher_scoring(ymc: np.ndarray, v: np.ndarray, X: np.ndarray, method: str, tau2: float,
                    messages: list[str]) -> tuple[float, float]:
    """ML, REML and EB by metafor's Fisher scoring (step halving at the zero bound)."""
    k, p = X.shape
    change, iterations, converged = THRESHOLD + 1, 0, True
    while change > THRESHOLD:
        iterations += 1
        old = tau2
        w = 1 / (v + tau2)
        P = _proj(X, w)[1]
        if method == "EB":
            adj = (ymc @ P @ ymc * k / (k - p) - k) / w.sum()
        else:
            PP = P @ P
            if method == "ML":
                adj = (ymc @ PP @ ymc - w.sum()) / np.sum(w**2)
            else:
                adj = (ymc @ PP @ ymc - np.trace(P)) / np.trace(PP)
        adj = 0.0 if np.isnan(adj) else float(adj)
        while tau2 + adj < 0:
            adj /= 2
        tau2 = tau2 + adj
        change = abs(old - tau2)
        if iterations > MAXITER:
            converged = False
            messages.append(f"Fisher scoring ({method}) did not converge in {MAXITER} iterations; "
                            "the estimates are not reliable")
            break
    if (converged and method in ("ML", "REML") and tau2 > THRESHOLD
            and _loglik(ymc, v, X, 0.0, method) - _loglik(ymc, v, X, tau2, method) > ROOT_TOL):
        messages.append("Fisher scoring may have stopped at a local maximum: the likelihood is higher "
                        "at tau2 = 0, so tau2 was set to 0 (as metafor does)")
        tau2 = 0.0
    w = 1 / (v + tau2)
    if method == "ML":
        return tau2, math.sqrt(2 / np.sum(w**2))
    if method == "REML":
        P = _proj(X, w)[1]
        return tau2, math.sqrt(2 / np.sum(P * P))
    return tau2, math.sqrt(2 * k**2 / (k - p) / w.sum() ** 2)


def _loglik(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, method: str) -> float:
    """(Restricted) log-likelihood as in metafor's local-maximum check."""
    k, p = X.shape
    w = 1 / (v + tau2)
    inv = _proj(X, w)[0]
    beta = inv @ (X.T @ (w * y))
    rss = np.sum(w * (y - X @ beta) ** 2)
    if method == "ML":
        return -k / 2 * math.log(2 * math.pi) - np.sum(np.log(v + tau2)) / 2 - rss / 2
    logdet = np.linalg.slogdet(X.T @ (X * w[:, None]))[1]
    return -(k - p) / 2 * math.log(2 * math.pi) - np.sum(np.log(v + tau2)) / 2 - logdet / 2 - rss / 2


def _qprofile(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, alpha: float,
              messages: list[str]) -> tuple[float, float]:
    """Q-profile confidence limits of tau2 as ``confint.rma.uni`` (type="QP")."""
    k, p = X.shape
    tau2_min, tau2_max = 0.0, max(TAU2_MAX, 10 * tau2)
    crit_u = stats.chi2.isf(alpha / 2, k - p)
    crit_l = stats.chi2.ppf(alpha / 2, k - p)
    q_min, q_max = _qe(y, v, X, tau2_min), _qe(y, v, X, tau2_max)

    def limit(crit: float) -> float:
        root, converged = _uniroot(lambda t: _qe(y, v, X, t) - crit, tau2_min, tau2_max, PROFILE_MAXITER)
        if not converged:
            messages.append("Q-profile: root search for a tau2 limit did not converge")
        return root

    if q_min < crit_l:
        lower = upper = tau2_min
        messages.append("Q-profile: Q is below its lower critical value even at tau2 = 0, so the "
                        "confidence interval of tau2 is empty; both limits are reported as 0")
    else:
        if q_max > crit_l:
            upper = tau2_max
            messages.append(f"Q-profile: the upper limit of tau2 lies above the search limit {tau2_max:g}")
        else:
            upper = limit(crit_l)
    if q_max > crit_u:
        lower = upper = tau2_max
        messages.append(f"Q-profile: both limits of tau2 lie above the search limit {tau2_max:g}")
    elif q_min < crit_u:
        lower = tau2_min
    else:
        lower = limit(crit_u)
    return lower, upper

