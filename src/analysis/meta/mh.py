r"""Fixed-effect meta-analysis of 2x2 tables: Mantel-Haenszel (``metafor::rma.mh``) and Peto (``metafor::rma.peto``).

Study :math:`i` has :math:`a_i` events and :math:`b_i` non-events among the
:math:`n_{1i} = a_i + b_i` treated, :math:`c_i` and :math:`d_i` among the
:math:`n_{2i} = c_i + d_i` controls, :math:`N_i = n_{1i} + n_{2i}`. The pooled
estimates use the tables as they are (no continuity correction, so that tables
with zero cells still count), as metafor 3.8 does by default:

Mantel-Haenszel odds ratio, with the Robins-Breslow-Greenland variance

.. math::

   \hat\psi = \frac{\sum R_i}{\sum S_i},\quad R_i = \frac{a_i d_i}{N_i},\ S_i = \frac{b_i c_i}{N_i},\quad
   \widehat{\mathrm{Var}}(\log\hat\psi) = \frac{\sum P_i R_i}{2R^2} + \frac{\sum (P_i S_i + Q_i R_i)}{2RS}
   + \frac{\sum Q_i S_i}{2S^2},

:math:`P_i = (a_i + d_i)/N_i`, :math:`Q_i = (b_i + c_i)/N_i`, :math:`R = \sum R_i`,
:math:`S = \sum S_i`; risk ratio (Greenland-Robins)

.. math::

   \hat\rho = \frac{\sum a_i n_{2i}/N_i}{\sum c_i n_{1i}/N_i},\quad
   \widehat{\mathrm{Var}}(\log\hat\rho) = \frac{\sum (n_{1i} n_{2i} (a_i + c_i)/N_i^2 - a_i c_i/N_i)}{RS};

risk difference (Greenland-Robins, Sato), with :math:`L = \sum n_{1i} n_{2i}/N_i`,

.. math::

   \hat\delta = \frac{\sum (a_i n_{2i} - c_i n_{1i})/N_i}{L},\quad
   \widehat{\mathrm{Var}}(\hat\delta) = \frac{\hat\delta \sum \big(c_i n_{1i}^2 - a_i n_{2i}^2
   + n_{1i} n_{2i}(n_{2i} - n_{1i})/2\big)/N_i^2 + \sum \big(a_i (n_{2i} - c_i) + c_i (n_{1i} - a_i)\big)/(2N_i)}{L^2};

and Peto's log odds ratio :math:`\sum (a_i - E_i) / \sum V_i` with variance
:math:`1/\sum V_i` (:math:`E_i`, :math:`V_i` the hypergeometric mean and variance of
:math:`a_i`, :func:`analysis.meta.escalc.peto_moments`).

The test of heterogeneity uses the study-level outcomes of :func:`escalc` (with its
continuity correction, ``add = 1/2`` to tables with a zero cell, and tables without
events in either group left out, metafor's ``drop00 = TRUE``):
:math:`Q = \sum w_i (y_i - \hat\theta)^2`, :math:`w_i = 1/v_i`, on :math:`k_y - 1` df;
Peto's :math:`Q = \sum (a_i - E_i)^2/V_i - (\sum (a_i - E_i))^2/\sum V_i`. For the odds
ratio the Cochran-Mantel-Haenszel test of :math:`\psi = 1` (with continuity
correction ``correct``) and the Breslow-Day and Tarone tests of homogeneity are
reported as well.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .escalc import CORRECTIONS, _cells, _two_by_two, _values, no_events, peto_moments
from .inputs import (
    SHOWN,
    MetaInputError,
    _aligned,
    _level,
    _same_length,
    _series,
    _unique,
)
from .result import FittedMeta, _pval, _results_table
from .wls import series

__all__ = ["MH_MEASURES", "RmaMhResult", "rma_mh", "rma_peto"]

#: Measures of :func:`rma_mh`.
MH_MEASURES = ("OR", "RR", "RD")
#: Measures whose estimates metafor also prints exponentiated.
RATIO_MEASURES = ("OR", "RR", "PETO")


@dataclass(frozen=True, eq=False)
class RmaMhResult(FittedMeta):
    """A Mantel-Haenszel or Peto fit, named as ``metafor::rma.mh`` / ``rma.peto`` name it.

    Attributes
    ----------
    beta, se, zval, pval, ci_lb, ci_ub : pandas.Series
        Pooled estimate (``intrcpt``; log odds/risk ratio or risk difference), its
        standard error, z test, p-value and normal confidence limits. NaN where
        metafor gives NA (e.g. a MH odds ratio when no treated or no control arm
        has an event).
    vb : pandas.DataFrame
        The 1x1 variance of the estimate.
    QE, QEp, I2, H2 : float
        Test for heterogeneity (df ``k_yi - 1``), :math:`I^2 = 100 (Q - df)/Q`
        (truncated at 0) and :math:`H^2 = Q/\\mathrm{df}`.
    CMH, CMHp : float
        Cochran-Mantel-Haenszel test of the odds ratio 1 (metafor's ``MH``, with
        denominator :math:`N_i - 1`) and its p-value (1 df); NaN for other measures.
    CO, COp : float
        Cochran's version of that test (denominator :math:`N_i`).
    BD, BDp, TA, TAp : float
        Breslow-Day and Tarone tests of homogeneity of the odds ratios, on
        ``k_pos - 1`` df (NaN p-values with fewer than 2 informative tables).
    k : int
        Tables used for the pooled estimate (complete tables).
    k_yi : int
        Tables with a study-level outcome (those without events in either group are
        left out under ``drop00``).
    k_pos : int or None
        Tables informative for the Tarone test (OR) or with :math:`V_i > 0` (Peto).
    method : {"MH", "Peto"}
    measure : {"OR", "RR", "RD", "PETO"}
    level : float
    yi, vi : pandas.Series
        Study-level outcomes and sampling variances behind ``QE``, by study label.
    X : pandas.DataFrame
        The intercept, one row per ``yi``.
    tables : pandas.DataFrame
        The cells ``ai``, ``bi``, ``ci``, ``di`` of all tables as given (missing ones
        included), by study label.
    correct : bool
        Whether the CMH test used the continuity correction.
    warnings : list of str
    """

    QE: float
    QEp: float
    I2: float
    H2: float
    k: int
    k_yi: int
    method: str
    measure: str
    level: float
    yi: pd.Series
    vi: pd.Series
    X: pd.DataFrame
    tables: pd.DataFrame = field(repr=False)
    k_pos: int | None = None
    CMH: float = np.nan
    CMHp: float = np.nan
    CO: float = np.nan
    COp: float = np.nan
    BD: float = np.nan
    BDp: float = np.nan
    TA: float = np.nan
    TAp: float = np.nan
    correct: bool = True
    warnings: list[str] = field(default_factory=list)

    test = "z"
    p = 1
    design_info = None

    @property
    def dof(self) -> int:
        """Degrees of freedom of the test for heterogeneity, ``k_yi - 1`` (at least 0)."""
        return max(self.k_yi - 1, 0)

    @property
    def model_name(self) -> str:
        return "Equal-Effects Model"

    def _pi_variance(self) -> None:
        return None  # a fixed-effect model has no prediction interval

    def summary(self) -> str:
        """Text laid out like metafor's ``print.rma.mh`` / ``print.rma.peto``, followed by any warnings.

        Ratio measures (OR, RR, Peto's OR) show the model results on the log scale
        and exponentiated; the MH odds ratio adds the CMH and Tarone tests.
        """
        method = "Mantel-Haenszel" if self.method == "MH" else "Peto"
        q_df = self.k_pos - 1 if self.method == "Peto" else self.dof
        lines = [f"{self.model_name} (k = {self.k}; {method} method, measure {self.measure})", "",
                 f"I^2 (total heterogeneity / total variability):  {self.I2:.2f}%",
                 f"H^2 (total variability / sampling variability): {self.H2:.2f}", "",
                 "Test for Heterogeneity:", f"Q(df = {q_df}) = {self.QE:.4f}, p-val {_pval(self.QEp, True)}"]
        table = _results_table(self.coefficients, self.pval, int_only=True)
        if self.measure in RATIO_MEASURES:
            table[1] = "Model Results (log scale):"
            scale = "OR" if self.measure == "PETO" else self.measure
            exp = np.exp(pd.DataFrame({"estimate": self.beta, "ci_lb": self.ci_lb, "ci_ub": self.ci_ub}))
            table += ["", f"Model Results ({scale} scale):", "",
                      exp.to_string(index=False, float_format=lambda x: f"{x:.4f}")]
        lines += table
        if self.measure == "OR" and self.method == "MH":
            lines += ["", _test_line("Cochran-Mantel-Haenszel Test:   ", "CMH", self.CMH, 1, self.CMHp),
                      _test_line("Tarone's Test for Heterogeneity:", "X^2", self.TA, (self.k_pos or 0) - 1, self.TAp)]
        if self.warnings:
            lines += ["", "Warnings:", *(f"  - {w}" for w in self.warnings)]
        return "\n".join(lines)

    def funnel(self, **kwargs: Any):
        """Funnel plot of the study-level outcomes (see :func:`analysis.plots.meta.funnel`)."""
        from ..plots import meta as meta_plots

        return meta_plots.funnel(self, **kwargs)


def rma_mh(ai: Any, bi: Any, ci: Any, di: Any, measure: str = "OR", data: pd.DataFrame | None = None, *,
           add: float = 0.5, to: str = "only0", drop00: bool = True, correct: bool = True, level: float = 95,
           slab: Any = None) -> RmaMhResult:
    """Mantel-Haenszel fixed-effect meta-analysis of 2x2 tables (``metafor::rma.mh``).

    Parameters
    ----------
    ai, bi, ci, di : array-like, Series or str
        Events and non-events in the treated (``ai``, ``bi``) and control (``ci``,
        ``di``) groups, or column names of ``data``; Series are matched by index as in
        :func:`escalc`.
    measure : {"OR", "RR", "RD"}
        Odds ratio, risk ratio (both pooled on the log scale) or risk difference.
    data : DataFrame, optional
        Table holding the columns named.
    add, to, drop00
        Continuity correction of the study-level outcomes behind the test of
        heterogeneity only (metafor's defaults: ``add = 1/2`` to every cell of the
        tables with a zero cell, tables without events or with only events in both
        groups left out); the pooled estimate always uses the uncorrected tables, as
        metafor's default ``add = c(1/2, 0)``, ``to = c("only0", "none")``,
        ``drop00 = c(TRUE, FALSE)``.
    correct : bool
        Continuity correction (1/2) of the Cochran-Mantel-Haenszel test.
    level : float
        Confidence level in percent (95) or as a proportion (0.95).
    slab : array-like or str, optional
        Study labels (default 1..k).

    Returns
    -------
    RmaMhResult

    Raises
    ------
    MetaInputError
        Unknown measure or correction; missing columns; arguments of different
        length; negative or non-numeric counts (rows and values named); no complete
        table.

    Notes
    -----
    As in metafor, tables with a missing cell are left out, and so are tables
    without events in either group from the test of heterogeneity (they add nothing
    to the MH odds ratio, and are kept in the RR and RD estimators, where they count
    towards the weights). When the MH odds or risk ratio cannot be estimated (no
    events in any treated, or any control, group) the estimate is NaN, as metafor's
    ``NA``; the result's ``warnings`` say so. See the module docstring for the
    formulas.
    """
    measure = str(measure).upper()
    if measure not in MH_MEASURES:
        raise MetaInputError(f"the Mantel-Haenszel method takes measure {MH_MEASURES}, got {measure!r}")
    fit = _Tables.read(ai, bi, ci, di, data, slab, add, to, drop00, measure, level)
    beta, variance = _MH_ESTIMATORS[measure](*fit.cells)
    if not np.isfinite(beta):
        fit.messages.append(f"the MH {measure} cannot be estimated from these tables (metafor gives NA): "
                            + _NOT_ESTIMABLE[measure])
    qe, qep, i2, h2 = _heterogeneity(fit.y, 1 / fit.v, beta, len(fit.y))
    extra: dict[str, Any] = {}
    if measure == "OR":
        extra = _cmh(*fit.cells, correct) | _breslow_day(*fit.cells, np.exp(beta))
    return fit.result(beta, variance, qe, qep, i2, h2, method="MH", measure=measure, correct=correct, **extra)


def rma_peto(ai: Any, bi: Any, ci: Any, di: Any, data: pd.DataFrame | None = None, *, add: float = 0.5,
             to: str = "only0", drop00: bool = True, level: float = 95, slab: Any = None) -> RmaMhResult:
    r"""Peto's fixed-effect meta-analysis of 2x2 tables (``metafor::rma.peto``): a pooled log odds ratio.

    .. math::

       \hat\theta = \frac{\sum (a_i - E_i)}{\sum V_i},\quad \mathrm{SE} = \Big(\sum V_i\Big)^{-1/2},\quad
       Q = \sum \frac{(a_i - E_i)^2}{V_i} - \frac{\big(\sum (a_i - E_i)\big)^2}{\sum V_i},

    the sums over the tables with :math:`V_i > 0` (``k_pos`` of them); :math:`Q` is
    referred to :math:`\chi^2_{k_y - 1}` as metafor does.

    Parameters
    ----------
    ai, bi, ci, di, data, add, to, drop00, level, slab
        As :func:`rma_mh` (the correction applies to the study-level outcomes only,
        escalc's ``"PETO"``).

    Returns
    -------
    RmaMhResult
        ``method="Peto"``, ``measure="PETO"``; the CMH and Tarone fields are NaN.

    Raises
    ------
    MetaInputError
        As :func:`rma_mh`; also when no table has both outcomes (every
        :math:`V_i = 0`), which metafor refuses too.
    """
    fit = _Tables.read(ai, bi, ci, di, data, slab, add, to, drop00, "PETO", level)
    expected, variance = peto_moments(*fit.cells)
    informative = variance > 0
    if not informative.any():
        raise MetaInputError("one of the two outcomes never occurred in any of the tables: Peto's method cannot be used")
    observed = fit.cells[0] - expected
    total = variance.sum()
    beta = observed.sum() / total
    qe = max(0.0, float(np.sum(observed[informative] ** 2 / variance[informative]) - observed.sum() ** 2 / total))
    k_pos = int(informative.sum())
    _, qep, i2, h2 = _heterogeneity_from_q(qe, len(fit.y)) if k_pos > 1 else (qe, 1.0, 0.0, 1.0)
    return fit.result(beta, 1 / total, qe, qep, i2, h2, method="Peto", measure="PETO", k_pos=k_pos)


# --------------------------------------------------------------------------- the tables


@dataclass
class _Tables:
    """The complete 2x2 tables of a fit with their study-level outcomes, and what to report about them."""

    cells: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]
    y: pd.Series
    v: pd.Series
    tables: pd.DataFrame
    level: float
    messages: list[str]

    @classmethod
    def read(cls, ai: Any, bi: Any, ci: Any, di: Any, data: pd.DataFrame | None, slab: Any, add: float, to: str,
             drop00: bool, measure: str, level: float) -> _Tables:
        """Check the arguments, compute the study-level outcomes and keep the complete tables."""
        if to not in CORRECTIONS:
            raise MetaInputError(f"to must be one of {CORRECTIONS}, got {to!r}")
        _level(level)
        given = _aligned({"ai": ai, "bi": bi, "ci": ci, "di": di, "slab": slab}, data)
        slab = given.pop("slab")
        values = _values(measure, given, data)
        cells = _cells(measure, values)
        yi, vi = _two_by_two(measure, cells, add, to, drop00)
        labels = _unique(_series("slab", slab, data)[0].astype(str).to_numpy() if slab is not None
                         else np.arange(1, len(yi) + 1).astype(str))
        _same_length({"ai": cells[0], "slab": labels})
        tables = pd.DataFrame(dict(zip(("ai", "bi", "ci", "di"), cells)), index=labels)
        complete = tables.notna().all(axis=1).to_numpy()
        if not complete.any():
            raise MetaInputError("no complete 2x2 table: every table has a missing cell")
        messages = []
        _name_rows(messages, labels, ~complete, "with missing cells omitted")
        with np.errstate(invalid="ignore"):
            empty = complete & no_events(*cells) & drop00
        _name_rows(messages, labels, empty, "without events (or with only events) in both groups left out of the "
                   "test of heterogeneity (drop00)")
        has_y = np.isfinite(yi) & complete
        _name_rows(messages, labels, complete & ~has_y & ~empty, "without a study-level outcome left out of the "
                   "test of heterogeneity")
        return cls(tuple(cell[complete] for cell in cells), pd.Series(yi[has_y], index=labels[has_y]),
                   pd.Series(vi[has_y], index=labels[has_y]), tables, level, messages)

    def result(self, beta: float, variance: float, qe: float, qep: float, i2: float, h2: float,
               **extra: Any) -> RmaMhResult:
        """The fit as an :class:`RmaMhResult`: the z test and normal confidence interval of ``beta``."""
        se = np.sqrt(variance)
        with np.errstate(invalid="ignore", divide="ignore"):
            zval = beta / se
        crit = stats.norm.isf(_level(self.level) / 2)
        names = ["intrcpt"]
        return RmaMhResult(
            beta=series([beta], names), se=series([se], names), zval=series([zval], names),
            pval=series([2 * stats.norm.sf(abs(zval))], names), ci_lb=series([beta - crit * se], names),
            ci_ub=series([beta + crit * se], names), vb=pd.DataFrame([[variance]], index=names, columns=names),
            QE=qe, QEp=qep, I2=i2, H2=h2, k=len(self.cells[0]), k_yi=len(self.y), level=self.level,
            yi=self.y, vi=self.v, X=pd.DataFrame({"intrcpt": 1.0}, index=self.y.index), tables=self.tables,
            warnings=self.messages, **extra)


def _name_rows(messages: list[str], labels: np.ndarray, mask: np.ndarray, what: str) -> None:
    """Append a message naming the (first few) tables in ``mask``."""
    n = int(mask.sum())
    if n:
        shown = ", ".join(labels[mask][:SHOWN]) + (" ..." if n > SHOWN else "")
        messages.append(f"{n} table{'s' if n > 1 else ''} {what}: {shown}")


# --------------------------------------------------------------------------- estimators


def _margins(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> tuple[np.ndarray, ...]:
    """Group sizes :math:`n_{1i}`, :math:`n_{2i}` and table totals :math:`N_i`."""
    n1, n2 = a + b, c + d
    return n1, n2, n1 + n2


def _mh_or(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    """MH log odds ratio and its Robins-Breslow-Greenland variance (NaN when R or S is 0)."""
    total = _margins(a, b, c, d)[2]
    r_i, s_i = a * d / total, b * c / total
    r, s = r_i.sum(), s_i.sum()
    if r == 0 or s == 0:
        return np.nan, np.nan
    p_i, q_i = (a + d) / total, (b + c) / total
    variance = 0.5 * (np.sum(p_i * r_i) / r**2 + np.sum(p_i * s_i + q_i * r_i) / (r * s) + np.sum(q_i * s_i) / s**2)
    return float(np.log(r / s)), float(variance)


def _mh_rr(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    """MH log risk ratio and its Greenland-Robins variance (NaN without events in either arm)."""
    n1, n2, total = _margins(a, b, c, d)
    if a.sum() == 0 or c.sum() == 0:
        return np.nan, np.nan
    r, s = np.sum(a * n2 / total), np.sum(c * n1 / total)
    variance = np.sum((n1 / total) * (n2 / total) * (a + c) - (a / total) * c) / (r * s)
    return float(np.log(r / s)), float(variance)


def _mh_rd(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray) -> tuple[float, float]:
    """MH risk difference and its Greenland-Robins/Sato variance."""
    n1, n2, total = _margins(a, b, c, d)
    weight = np.sum(n1 * n2 / total)
    beta = np.sum(a * (n2 / total) - c * (n1 / total)) / weight
    numerator = (beta * np.sum(c * (n1 / total) ** 2 - a * (n2 / total) ** 2 + (n1 / total) * (n2 / total) * (n2 - n1) / 2)
                 + np.sum(a * (n2 - c) / total + c * (n1 - a) / total) / 2)
    return float(beta), float(numerator / weight**2)


_NOT_ESTIMABLE = {"OR": "sum(a_i d_i / N_i) or sum(b_i c_i / N_i) is 0",
                  "RR": "no events in any treated group, or in any control group"}
_MH_ESTIMATORS: dict[str, Callable[..., tuple[float, float]]] = {"OR": _mh_or, "RR": _mh_rr, "RD": _mh_rd}


def _heterogeneity(y: pd.Series, w: pd.Series, beta: float, k_yi: int) -> tuple[float, float, float, float]:
    """:math:`Q = \\sum w_i (y_i - \\hat\\theta)^2` with its p-value, :math:`I^2` and :math:`H^2`."""
    if k_yi <= 1:
        return 0.0, 1.0, 0.0, 1.0
    return _heterogeneity_from_q(max(0.0, float(np.sum(w * (y - beta) ** 2))), k_yi)


def _heterogeneity_from_q(qe: float, k_yi: int) -> tuple[float, float, float, float]:
    """``QE`` on ``k_yi - 1`` df: p-value, :math:`I^2 = \\max(0, 100 (Q - df)/Q)`, :math:`H^2 = Q/df`."""
    df = k_yi - 1
    i2 = max(0.0, 100 * (qe - df) / qe) if qe > 0 else 0.0
    return qe, float(stats.chi2.sf(qe, df)), float(i2), qe / df


def _cmh(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, correct: bool) -> dict[str, float]:
    r"""Cochran-Mantel-Haenszel (``CMH``, denominator :math:`N_i - 1`) and Cochran (``CO``, :math:`N_i`) tests.

    .. math::

       \mathrm{CMH} = \frac{\big(|\sum (a_i - n_{1i} m_{1i}/N_i)| - \tfrac12\big)^2}
       {\sum n_{1i} n_{2i} m_{1i} m_{2i} / (N_i^2 (N_i - 1))},

    :math:`m_{1i} = a_i + c_i`, :math:`m_{2i} = b_i + d_i`; the :math:`\tfrac12` only
    with ``correct``. NaN when no table has an event, or a non-event.
    """
    n1, n2, total = _margins(a, b, c, d)
    events, non_events = a + c, b + d
    if events.sum() == 0 or non_events.sum() == 0:
        return {"CMH": np.nan, "CMHp": np.nan, "CO": np.nan, "COp": np.nan}
    numerator = (abs(np.sum(a - n1 / total * events)) - (0.5 if correct else 0.0)) ** 2
    spread = (n1 / total) * (n2 / total) * events * non_events
    cmh, co = numerator / np.sum(spread / (total - 1)), numerator / np.sum(spread / total)
    return {"CMH": float(cmh), "CMHp": float(stats.chi2.sf(cmh, 1)), "CO": float(co), "COp": float(stats.chi2.sf(co, 1))}


def _breslow_day(a: np.ndarray, b: np.ndarray, c: np.ndarray, d: np.ndarray, psi: float) -> dict[str, Any]:
    r"""Breslow-Day (``BD``) and Tarone (``TA``) tests of a common odds ratio ``psi``, as metafor computes them.

    :math:`\tilde a_i` solves :math:`\tilde a_i (n_{2i} - m_{1i} + \tilde a_i) /
    ((n_{1i} - \tilde a_i)(m_{1i} - \tilde a_i)) = \hat\psi` within the margins;
    with :math:`u_i = (1/\tilde a_i + 1/\tilde b_i + 1/\tilde c_i + 1/\tilde d_i)^{-1}`,

    .. math::

       \mathrm{BD} = \sum \frac{(a_i - \tilde a_i)^2}{u_i},\qquad
       \mathrm{TA} = \mathrm{BD} - \frac{\big(\sum (a_i - \tilde a_i)\big)^2}{\sum u_i},

    over the ``k_pos`` tables with :math:`\tilde a_i > 0` and both outcomes, on
    ``k_pos - 1`` df.
    """
    if not np.isfinite(psi):
        return {"BD": np.nan, "BDp": np.nan, "TA": np.nan, "TAp": np.nan, "k_pos": 0}
    n1, n2, total = _margins(a, b, c, d)
    events, non_events = a + c, b + d
    if psi == 1:
        fitted = n1 / total * events
    else:
        linear = psi * (n1 + events) + (n2 - events)
        with np.errstate(invalid="ignore"):
            fitted = (linear - np.sqrt(linear**2 - 4 * n1 * events * psi * (psi - 1))) / (2 * (psi - 1))
    pos = (fitted > 0) & (events > 0) & (non_events > 0)
    k_pos = int(pos.sum())
    if k_pos == 0:
        return {"BD": np.nan, "BDp": np.nan, "TA": np.nan, "TAp": np.nan, "k_pos": 0}
    a_fit = fitted[pos]
    u = 1 / (1 / a_fit + 1 / (n1[pos] - a_fit) + 1 / (events[pos] - a_fit) + 1 / (a_fit - n1[pos] - events[pos]
                                                                                 + total[pos]))
    deviation = a[pos] - a_fit
    bd = max(0.0, float(np.sum(deviation**2 / u)))
    ta = max(0.0, bd - float(deviation.sum() ** 2 / u.sum()))
    df = k_pos - 1
    p = (lambda x: float(stats.chi2.sf(x, df))) if df > 0 else (lambda x: np.nan)
    return {"BD": bd, "BDp": p(bd), "TA": ta, "TAp": p(ta), "k_pos": k_pos}


def _test_line(title: str, stat: str, value: float, df: int, p: float) -> str:
    """One line of metafor's CMH/Tarone report (or that the value is not computable)."""
    if not np.isfinite(value):
        return f"{title} test value not computable for these data"
    return f"{title} {stat} = {value:.4f}, df = {df}, p-val {_pval(p, True)}"
