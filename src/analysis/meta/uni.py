r"""The random- and mixed-effects model of ``metafor::rma.uni``: :func:`rma`.

.. math::

   y_i = x_i'\beta + u_i + e_i, \quad u_i \sim N(0, \tau^2), \quad e_i \sim N(0, v_i),

with the :math:`v_i` taken as known. :math:`\hat\tau^2` comes from :mod:`.tau2`;
the coefficients are the weighted least squares of :mod:`.wls` with
:math:`w_i = 1/(v_i + \hat\tau^2)` and variance :math:`s^2_w (X'WX)^{-1}`, where
:math:`s^2_w = 1` except for the Knapp-Hartung (``"knha"``) test,
:math:`s^2_w = \sum w_i (y_i - x_i'\hat\beta)^2/(k-p)` (``"adhoc"`` truncates it
below at 1). :math:`I^2 = 100\,\hat\tau^2/(\tilde v + \hat\tau^2)` and
:math:`H^2 = \hat\tau^2/\tilde v + 1` use the typical within-study variance
:math:`\tilde v = (k-p)/\mathrm{tr}(P)` with :math:`P = W - WX(X'WX)^{-1}X'W`,
:math:`W = \mathrm{diag}(1/v_i)`.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .inputs import (
    EVTOL,
    FIXED,
    METHODS,
    SHOWN,
    T_TESTS,
    TESTS,
    MetaInputError,
    _aligned,
    _check_rank,
    _level,
    _model_matrix,
    _numeric,
    _problem,
    _same_length,
    _series,
    _unique,
)
from .numerics import _proj
from .result import RmaResult
from .tau2 import _qprofile, _tau2
from .wls import coefficient_tests, moderator_index, q_test, series, wls

__all__ = ["rma"]


def rma(yi: Any, vi: Any, mods: Any = None, method: str = "REML", test: str = "z", level: float = 95,
        data: pd.DataFrame | None = None, slab: Any = None, ni: Any = None) -> RmaResult:
    """Fit the meta-analytic fixed-, random- or mixed-effects model (``metafor::rma.uni``).

    Parameters
    ----------
    yi, vi : array-like, Series or str
        Outcomes and their sampling variances, or column names of ``data``. Series
        (and a DataFrame or Series of ``mods``, a Series of ``slab``) are matched by
        index, to ``data``'s when it is given: same labels in another order are put in
        order; different labels are refused.
    mods : array-like, DataFrame or str, optional
        Moderators: an array or DataFrame (one column per moderator; an intercept is
        added, as metafor does) or a formula such as ``"~ ablat + year"`` evaluated
        in ``data`` (text columns become treatment-coded factors, and so do numeric
        ones written as ``factor(x)`` as in R or ``C(x)``; ``"~ 0 + x"`` drops the
        intercept).
    method : {"REML", "ML", "EB", "PM", "DL", "HE", "HS", "SJ", "FE", "EE"}
        Estimator of tau2; FE and EE fit the equal-effects model.
    test : {"z", "t", "knha", "adhoc"}
        Normal tests, t tests with k - p df, the Hartung-Knapp-Sidik-Jonkman
        adjustment, or that adjustment truncated at 1 (``"adhoc"``).
    level : float
        Confidence level in percent (95) or as a proportion (0.95).
    data : DataFrame, optional
        Table for column names and the formula; an :func:`escalc` result carries its
        measure along.
    slab : array-like or str, optional
        Study labels (default 1..k).
    ni : array-like or str, optional
        Sample sizes (for ``regtest`` with a sample-size predictor), as metafor keeps
        them. Default: ``data.attrs["ni"]`` where an :func:`escalc` table carries
        them (one value per row), else none.

    Returns
    -------
    RmaResult

    Raises
    ------
    MetaInputError
        Unknown method or test; unknown columns; arguments of different length;
        non-numeric values; Series whose indexes hold different studies; zero or
        negative sampling variances (rows and values named); fewer studies than
        parameters; collinear moderators.

    Notes
    -----
    Studies with a missing outcome, variance or moderator are left out, as in
    metafor, and the result's ``warnings`` name them.
    """
    method, test = str(method).upper(), str(test).lower()
    if method not in METHODS:
        raise MetaInputError(f"unknown method {method!r}; choose one of {METHODS}")
    if test not in TESTS:
        raise MetaInputError(f"unknown test {test!r}; choose one of {TESTS}")
    _level(level)
    if ni is None and data is not None and len(np.atleast_1d(data.attrs.get("ni", []))) == len(data):
        ni = np.asarray(data.attrs["ni"], dtype=float)
    given = _aligned({"yi": yi, "vi": vi, "mods": mods, "slab": slab, "ni": ni}, data)
    yi, vi, mods, slab, ni = given["yi"], given["vi"], given["mods"], given["slab"], given["ni"]
    y, _, _ = _numeric("yi", yi, data)
    v, v_raw, v_label = _numeric("vi", vi, data)
    labels = _unique(_series("slab", slab, data)[0].astype(str).to_numpy() if slab is not None
                     else np.arange(1, len(y) + 1).astype(str))
    n = _numeric("ni", ni, data)[0] if ni is not None else None
    _same_length({"yi": y, "vi": v, "slab": labels} | ({"ni": n} if n is not None else {}))
    X, design_info = _model_matrix(mods, data, len(y))
    missing = np.isnan(y) | np.isnan(v) | np.isnan(X).any(axis=1)
    bad_v = (v <= 0) & ~missing
    if bad_v.any():
        raise _problem(v_label, "sampling variances must be positive", v_raw, bad_v)
    messages = []
    if missing.any():
        messages.append(f"{missing.sum()} stud{'ies' if missing.sum() > 1 else 'y'} with missing values "
                        f"omitted: {', '.join(labels[missing][:SHOWN])}{' ...' if missing.sum() > SHOWN else ''}")
    keep = ~missing
    Xk = X.loc[keep]
    ratio = v[keep].max() / v[keep].min()
    if ratio >= 1 / EVTOL:
        messages.append(f"largest/smallest sampling variance = {ratio:.3g}: results may be unstable")
    measure = data.attrs.get("measure") if data is not None else None
    Xk.index = labels[keep]
    return _fit(pd.Series(y[keep], index=labels[keep]), pd.Series(v[keep], index=labels[keep]), Xk,
                method, test, level, profile=True, measure=measure, design_info=design_info, messages=messages,
                ni=None if n is None else pd.Series(n[keep], index=labels[keep]))



def _fit(y: pd.Series, v: pd.Series, X: pd.DataFrame, method: str, test: str, level: float, *, profile: bool,
         measure: str | None = None, design_info: Any = None, messages: list[str] | None = None,
         ni: pd.Series | None = None) -> RmaResult:
    """The estimation behind :func:`rma`; ``profile`` adds the Q-profile limits and R2; ``ni`` is kept as given."""
    messages = list(messages or [])
    yv, vv, Xv = y.to_numpy(float), v.to_numpy(float), X.to_numpy(float)
    k, p = Xv.shape
    needed = p + (0 if method in FIXED else 1)
    if k < needed:
        raise MetaInputError(f"{k} stud{'y' if k == 1 else 'ies'} cannot estimate {p} coefficient{'s' if p > 1 else ''}"
                             + ("" if method in FIXED else " and tau2") + f": at least {needed} are needed")
    _check_rank(X)
    alpha = _level(level)
    tau2, se_tau2 = (0.0, np.nan) if method in FIXED else _tau2(yv, vv, Xv, method, messages)
    w = 1 / (vv + tau2)
    beta, inv = wls(Xv, yv, w)
    s2w = 1.0
    if test in ("knha", "adhoc"):
        rss = np.sum(w * (yv - Xv @ beta) ** 2)
        s2w = rss / (k - p) if rss > np.finfo(float).eps else 0.0
        if test == "adhoc":
            s2w = max(1.0, s2w)
        if method in FIXED:
            messages.append("the Knapp-Hartung adjustment is not meant for equal-effects models")
    vb = s2w * inv
    has_intercept = "intrcpt" in X.columns
    dof = k - p
    tests = coefficient_tests(beta, vb, moderator_index(list(X.columns)), alpha, dof if test in T_TESTS else None)
    qe, qep, i2, h2, vt = _heterogeneity(yv, vv, Xv, tau2, method)
    tau2_ci = i2_ci = h2_ci = None
    r2 = None
    if profile and method not in FIXED:
        tau2_ci = _qprofile(yv, vv, Xv, tau2, alpha, messages)
        i2_ci = tuple(100 * t / (vt + t) for t in tau2_ci)
        h2_ci = tuple(t / vt + 1 for t in tau2_ci)
    if profile and p > 1 and has_intercept:
        r2 = _fe_r2(yv, vv, Xv) if method in FIXED else _pseudo_r2(y, v, method, test, level, tau2)
    if method not in FIXED and tau2 == 0:
        messages.append("tau2 was estimated at its lower bound 0 (no detectable heterogeneity)")
    names = list(X.columns)
    return RmaResult(
        beta=series(beta, names), se=series(tests.se, names), zval=series(tests.stat, names),
        pval=series(tests.pval, names), ci_lb=series(tests.ci_lb, names), ci_ub=series(tests.ci_ub, names),
        vb=pd.DataFrame(vb, index=names, columns=names), tau2=float(tau2), se_tau2=float(se_tau2),
        tau2_ci=tau2_ci, I2=i2, H2=h2, I2_ci=i2_ci, H2_ci=h2_ci, R2=r2, QE=qe, QEp=qep, QM=tests.QM,
        QMp=tests.QMp, QMdf=tests.QMdf, k=k, p=p, dof=dof, s2w=float(s2w), vt=vt, method=method, test=test,
        level=level, yi=y, vi=v, X=X, measure=measure, warnings=messages, design_info=design_info, ni=ni,
    )


def _heterogeneity(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, method: str
                   ) -> tuple[float, float, float, float, float]:
    """QE, its p-value, I2, H2 and the typical within-study variance (metafor's definitions)."""
    k, p = X.shape
    if k <= p:
        return 0.0, 1.0, 0.0, 1.0, 0.0
    P = _proj(X, 1 / v)[1]
    ymc = y - y.mean()
    qe, qep = q_test(float(ymc @ P @ ymc), k - p)
    vt = (k - p) / np.trace(P)
    if method in FIXED:
        i2, h2 = (max(0.0, 100 * (qe - (k - p)) / qe) if qe > 0 else 0.0), qe / (k - p)
    else:
        i2, h2 = 100 * tau2 / (vt + tau2), tau2 / vt + 1
    return qe, qep, float(i2), float(h2), float(vt)


def _fe_r2(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """metafor's R2 of equal-effects models: adjusted R2 (percent) of the weighted regression, weights 1/v."""
    k, p = X.shape
    if np.var(y) == 0:
        return 0.0
    w = 1 / v
    fitted = X @ wls(X, y, w)[0]
    rss = np.sum(w * (y - fitted) ** 2)
    mss = np.sum(w * (fitted - np.sum(w * fitted) / w.sum()) ** 2)
    return max(0.0, 100 * (1 - (1 - mss / (mss + rss)) * (k - 1) / (k - p)))


def _pseudo_r2(y: pd.Series, v: pd.Series, method: str, test: str, level: float, tau2: float) -> float:
    """Percent of tau2 accounted for: ``(tau2_RE - tau2) / tau2_RE`` against the intercept-only model."""
    null = _fit(y, v, pd.DataFrame({"intrcpt": 1.0}, index=y.index), method, test, level, profile=False)
    return 0.0 if null.tau2 == 0 else max(0.0, 100 * (null.tau2 - tau2) / null.tau2)

