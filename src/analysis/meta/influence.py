r"""Leave-one-out refits and case diagnostics of ``rma`` fits, as metafor's ``leave1out`` and ``influence.rma.uni``.

Every diagnostic compares the model with its refit :math:`(-i)` without study
:math:`i` (same estimator and test; metafor's ``rma.uni(..., subset = -i)``):

.. math::

   r_i^* = \frac{y_i - x_i'\hat\beta_{(-i)}}
                {\sqrt{s^2_{w(-i)}(v_i + \hat\tau^2_{(-i)}) + x_i' V_{(-i)} x_i}}, \qquad
   \mathrm{DFFITS}_i = \frac{x_i'\hat\beta - x_i'\hat\beta_{(-i)}}
                            {\sqrt{s^2_{w(-i)}\, h_i\, (v_i + \hat\tau^2_{(-i)})}},

Cook's distance :math:`D_i = (\hat\beta - \hat\beta_{(-i)})' V^{-1} (\hat\beta - \hat\beta_{(-i)})`,
the covariance ratio :math:`\det V_{(-i)} / \det V`, DFBETAS
:math:`(\hat\beta_j - \hat\beta_{j(-i)}) / \sqrt{s^2_{w(-i)}[(X'W_{(-i)}X)^{-1}]_{jj}}`
with :math:`W_{(-i)} = \mathrm{diag}(1/(v + \hat\tau^2_{(-i)}))` over all studies, the hat
values :math:`h_i = [X(X'WX)^{-1}X'W]_{ii}` and the percent weights. :math:`V` is the
covariance of :math:`\hat\beta` (including :math:`s^2_w` for Knapp-Hartung). A study is
flagged influential (metafor's ``*``) when :math:`|\mathrm{DFFITS}_i| > 3\sqrt{p/(k-p)}`,
:math:`P(\chi^2_p \le D_i) > 0.5`, :math:`h_i > 3p/k` or any :math:`|\mathrm{DFBETAS}| > 1`.
Refits that fail (too few studies, collinear moderators) give rows of NaN, as
metafor's ``try()``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .inputs import FIXED, T_TESTS, MetaInputError
from .result import RmaResult, _transformed
from .uni import _fit
from .wls import wls

__all__ = ["cooks_distance", "dfbetas", "influence", "leave1out", "rstudent"]

INFLUENCE_COLUMNS = ["rstudent", "dffits", "cook_d", "cov_r", "tau2_del", "QE_del", "hat", "weight", "inf"]


def _without(fit: RmaResult, position: int) -> RmaResult | None:
    """The model refitted without the study at ``position``; None where the refit fails."""
    keep = np.arange(fit.k) != position
    try:
        return _fit(fit.yi[keep], fit.vi[keep], fit.X[keep], fit.method, fit.test, fit.level, profile=False)
    except (MetaInputError, np.linalg.LinAlgError):
        return None


def leave1out(fit: RmaResult, transf: Callable[[Any], Any] | None = None) -> pd.DataFrame:
    """The model refitted with each study left out in turn (``metafor::leave1out``).

    Parameters
    ----------
    fit : RmaResult
        An intercept-only model.
    transf : callable, optional
        Applied to the estimate and the limits (the standard error becomes NaN).

    Returns
    -------
    DataFrame
        One row per left-out study: ``estimate``, ``se``, ``zval`` (``tval``),
        ``pval``, ``ci_lb``, ``ci_ub``, ``Q``, ``Qp``, ``tau2`` (not for FE/EE),
        ``I2``, ``H2``.
    """
    if not fit.int_only:
        raise MetaInputError("leave-one-out applies only to models without moderators")
    rows = []
    for i in range(fit.k):
        refit = _without(fit, i)
        if refit is None:
            rows.append([np.nan] * 11)
            continue
        rows.append([refit.beta.iloc[0], refit.se.iloc[0], refit.zval.iloc[0], refit.pval.iloc[0],
                     refit.ci_lb.iloc[0], refit.ci_ub.iloc[0], refit.QE, refit.QEp, refit.tau2, refit.I2, refit.H2])
    stat = "tval" if fit.test in T_TESTS else "zval"
    out = pd.DataFrame(rows, index=fit.yi.index,
                       columns=["estimate", "se", stat, "pval", "ci_lb", "ci_ub", "Q", "Qp", "tau2", "I2", "H2"])
    if fit.method in FIXED:
        out = out.drop(columns="tau2")
    return _transformed(out, transf, ("estimate", "ci_lb", "ci_ub"))


def hat_values(fit: RmaResult) -> np.ndarray:
    """Diagonal of the hat matrix :math:`X(X'WX)^{-1}X'W`, :math:`w_i = 1/(v_i + \\hat\\tau^2)` (``hatvalues.rma.uni``)."""
    X = fit.X.to_numpy(float)
    w = 1 / (fit.vi.to_numpy(float) + fit.tau2)
    inv = wls(X, np.zeros(fit.k), w)[1]
    return np.einsum("ij,jk,ik->i", X, inv, X) * w


def _diagnostics(fit: RmaResult) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every case diagnostic of ``influence.rma.uni`` (without the flag) and the DFBETAS."""
    k, p = fit.k, fit.p
    X, y, v = fit.X.to_numpy(float), fit.yi.to_numpy(float), fit.vi.to_numpy(float)
    beta, vb = fit.beta.to_numpy(), fit.vb.to_numpy()
    hat = hat_values(fit)
    fitted = X @ beta
    vb_inv = np.linalg.inv(vb)
    rows = np.full((k, 8), np.nan)  # resid, se_resid, dffits, cook, cov_r, tau2_del, QE_del, ...
    dfbs = np.full((k, p), np.nan)
    for i in range(k):
        refit = _without(fit, i)
        if refit is None:
            continue
        b_del = refit.beta.to_numpy()
        pred_del = X[i] @ b_del
        vpred_del = X[i] @ refit.vb.to_numpy() @ X[i]
        resid = y[i] - pred_del
        resid = 0.0 if abs(resid) < 100 * np.finfo(float).eps else resid
        se_resid = np.sqrt(v[i] * refit.s2w + vpred_del + refit.tau2 * refit.s2w)
        dffits = (fitted[i] - pred_del) / np.sqrt(refit.s2w * hat[i] * (refit.tau2 + v[i]))
        change = beta - b_del
        vb_del = wls(X, y, 1 / (v + refit.tau2))[1]
        dfbs[i] = change / np.sqrt(refit.s2w * np.diag(vb_del))
        cook = change @ vb_inv @ change
        cov_r = np.linalg.det(refit.vb.to_numpy()) / np.linalg.det(vb)
        rows[i] = [resid, se_resid, dffits, cook, cov_r, refit.tau2, refit.QE, np.nan]
    table = pd.DataFrame({"resid": rows[:, 0], "se": rows[:, 1], "rstudent": rows[:, 0] / rows[:, 1],
                          "dffits": rows[:, 2], "cook_d": rows[:, 3], "cov_r": rows[:, 4],
                          "tau2_del": rows[:, 5], "QE_del": rows[:, 6], "hat": hat,
                          "weight": fit.weights.to_numpy()}, index=fit.yi.index)
    return table, pd.DataFrame(dfbs, index=fit.yi.index, columns=fit.X.columns)


def influence(fit: RmaResult) -> pd.DataFrame:
    """Case diagnostics of a fitted model, as ``influence.rma.uni``.

    Parameters
    ----------
    fit : RmaResult

    Returns
    -------
    DataFrame
        Indexed by study: ``rstudent`` (externally studentized residual),
        ``dffits``, ``cook_d``, ``cov_r``, ``tau2_del`` and ``QE_del`` (tau2 and QE
        without the study), ``hat``, ``weight`` (percent) and ``inf`` (True where
        metafor prints ``*``: see the module notes). For FE/EE models ``tau2_del``
        is 0.
    """
    table, dfbs = _diagnostics(fit)
    k, p = fit.k, fit.p
    with np.errstate(invalid="ignore", divide="ignore"):
        flagged = ((np.abs(table["dffits"]) > 3 * np.sqrt(p / (k - p)))
                   | (stats.chi2.cdf(table["cook_d"], df=p) > 0.5)
                   | (table["hat"] > 3 * p / k)
                   | (np.abs(dfbs) > 1).any(axis=1))
    out = table.drop(columns=["resid", "se"])
    out["inf"] = flagged.fillna(False).astype(bool)
    return out[INFLUENCE_COLUMNS]


def rstudent(fit: RmaResult) -> pd.DataFrame:
    """Externally studentized residuals (``rstudent.rma.uni``): ``resid``, ``se`` and ``z`` per study."""
    table = _diagnostics(fit)[0]
    return pd.DataFrame({"resid": table["resid"], "se": table["se"], "z": table["rstudent"]})


def cooks_distance(fit: RmaResult) -> pd.Series:
    """Cook's distances (``cooks.distance.rma.uni``), indexed by study."""
    return _diagnostics(fit)[0]["cook_d"].rename("cook_d")


def dfbetas(fit: RmaResult) -> pd.DataFrame:
    """DFBETAS (``dfbetas.rma.uni``): the change of each coefficient in its leave-one-out standard errors."""
    return _diagnostics(fit)[1]
