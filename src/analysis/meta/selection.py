r"""Selection models of publication bias, as ``metafor::selmodel`` (metafor 3.8-1).

The studies' one-sided p-values :math:`p_i` select which studies are seen: a study is
published with relative probability :math:`w(p_i; \delta)`, a step function of the
p-value (``type="stepfun"``, one :math:`\delta_j` per interval between ``steps``) or a
smooth function (``"beta"``, ``"halfnorm"``, ``"negexp"``, ``"logistic"``, ``"power"``).
The random-effects model's likelihood is reweighted,

.. math::

   L_i = \frac{w(p_i)\,\phi\{(y_i - x_i'\beta)/\sqrt{v_i + \tau^2}\}}
         {\int w\{p(y)\}\,\phi\{(y - x_i'\beta)/\sqrt{v_i + \tau^2}\}\,dy},

and maximised over :math:`\beta`, :math:`\tau^2` and :math:`\delta` (the normalising
integral by Gauss-Legendre panels, as metafor's ``integrate`` reaches the same values);
standard errors from the numerical Hessian as metafor's ``numDeriv`` settings, and a
likelihood-ratio test of :math:`\delta` against no selection.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import optimize, special, stats

from .inputs import FIXED, MetaInputError
from .result import DEFAULT_STEPS, Coefficients, RmaResult, _pval, _results_table
from .tau2 import _loglik
from .uni import _fit
from .wls import coefficient_tests, moderator_index, series

__all__ = ["ALTERNATIVES", "SELMODEL_TYPES", "SelmodelResult", "selmodel"]

SELMODEL_TYPES = ("stepfun", "beta", "halfnorm", "negexp", "logistic", "power")
ALTERNATIVES = ("greater", "less", "two.sided")
_EPS = np.finfo(float).eps
_GL_NODES, _GL_WEIGHTS = np.polynomial.legendre.leggauss(8)
_T_RANGE = 10.0  # integration range of the standardised outcome (the normal density beyond is < 1e-22)
_T_PANELS = np.arange(-_T_RANGE, _T_RANGE + 0.01, 2.0)  # panel ends in the standardised outcome t ...
_Z_PANELS = np.arange(-8.0, 8.01, 1.0)  # ... and in the study's z = y / sqrt(v)


@dataclass(frozen=True)
class _Selection:
    """A selection function of the p-values: its parameters, their bounds and its weights."""

    type: str
    steps: np.ndarray  # right ends of the p-value intervals (stepfun), or the step [s, 1] of the others
    init: np.ndarray  # starting values of delta (and the fixed value where not free)
    lower: np.ndarray  # delta.min and delta.max: the range the optimiser maps onto
    upper: np.ndarray
    h0: np.ndarray  # value under no selection (the Wald tests of delta)
    free: np.ndarray  # deltas that are estimated (stepfun: all but the first)
    pval_min: float  # p-values are kept within [pval_min, 1 - pval_min]

    @property
    def names(self) -> list[str]:
        if self.type == "stepfun":
            return _interval_names(self.steps)
        return ["delta"] if len(self.init) == 1 else [f"delta.{j + 1}" for j in range(len(self.init))]

    def groups(self, pvals: np.ndarray) -> np.ndarray:
        """Interval of each p-value: the first step with ``p <= step``."""
        return np.searchsorted(self.steps, pvals, side="left")

    def weight(self, p: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """Relative likelihood of selection :math:`w(p)` (metafor's ``wi.fun`` with ``preci = 1``)."""
        if self.type == "stepfun":
            return delta[self.groups(p)]
        if self.type == "beta":
            return p ** (delta[0] - 1) * (1 - p) ** (delta[1] - 1)
        s, d = self.steps[0], delta[0]
        shape = {"halfnorm": lambda x: np.exp(-d * x**2), "negexp": lambda x: np.exp(-d * x),
                 "logistic": lambda x: 2 * np.exp(-d * x) / (1 + np.exp(-d * x)),
                 "power": lambda x: (1 - x) ** d}[self.type]
        return np.where(p <= s, 1.0, shape(p) / shape(s))


def _selection(type: str, steps: Any) -> _Selection:
    """metafor's settings of a selection function (bounds, starting values, H0) and the checked steps."""
    if type not in SELMODEL_TYPES:
        raise MetaInputError(f"type must be one of {SELMODEL_TYPES}, got {type!r}")
    given = steps is not None and steps is not DEFAULT_STEPS
    if type == "stepfun" or given:
        steps = np.unique(np.asarray(DEFAULT_STEPS if steps is None else steps, dtype=float).ravel())
        if np.isnan(steps).any() or np.any((steps < 0) | (steps > 1)):
            raise MetaInputError(f"steps must lie in [0, 1] and not be missing, got {steps.tolist()}")
        if steps[-1] != 1:
            steps = np.append(steps, 1.0)
    if type == "stepfun":
        n = len(steps)
        return _Selection(type, steps, np.ones(n), np.zeros(n), np.full(n, 100.0), np.ones(n),
                          np.arange(n) > 0, 0.0)
    if type == "beta":
        return _Selection(type, np.array([0.0, 1.0]), np.ones(2), np.full(2, 1e-5), np.full(2, 100.0), np.ones(2),
                          np.ones(2, bool), 1e-5)
    if given and len(steps) != 2:
        raise MetaInputError(f"a {type} selection model takes a single step, got {steps[:-1].tolist()}")
    return _Selection(type, steps if given else np.array([0.0, 1.0]), np.ones(1), np.zeros(1), np.full(1, 100.0),
                      np.zeros(1), np.ones(1, bool), 1e-5 if type == "power" else 0.0)


def _one_sided_pvalues(y: np.ndarray, v: np.ndarray, alternative: str) -> np.ndarray:
    """p-values of the studies' own z tests (metafor's ``.selmodel.pval``)."""
    z = y / np.sqrt(v)
    if alternative == "two.sided":
        return 2 * special.ndtr(-np.abs(z))
    return special.ndtr(-z) if alternative == "greater" else special.ndtr(z)


@dataclass(frozen=True)
class _SelData:
    """What the selection-model likelihood needs besides the parameters."""

    y: np.ndarray
    v: np.ndarray
    X: np.ndarray
    pvals: np.ndarray  # clamped to [pval_min, 1 - pval_min]
    selection: _Selection
    alternative: str


def _below(s: np.ndarray, mean: np.ndarray, sd: np.ndarray, v: np.ndarray, alternative: str) -> np.ndarray:
    r"""Probability that a study's p-value is at most ``s``, :math:`P(p_i \le s)`, with :math:`y_i \sim N(\mu_i, sd_i^2)`.

    Broadcasts ``s`` (steps, last axis) against the studies (first axis).
    """
    root_v = np.sqrt(v)[:, None]
    mean, sd = mean[:, None], sd[:, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        if alternative == "greater":
            return special.ndtr((mean + root_v * special.ndtri(s)) / sd)
        if alternative == "less":
            return special.ndtr((root_v * special.ndtri(s) - mean) / sd)
        cut = -root_v * special.ndtri(s / 2)
        return special.ndtr((mean - cut) / sd) + special.ndtr((-cut - mean) / sd)


def _mass_stepfun(data: _SelData, mean: np.ndarray, sd: np.ndarray, delta: np.ndarray) -> np.ndarray:
    r""":math:`A_i = \sum_j \delta_j P(s_{j-1} < p_i \le s_j)` in closed form (``.selmodel.ll.stepfun``)."""
    steps = np.concatenate([[0.0], data.selection.steps])
    cdf = _below(steps, mean, sd, data.v, data.alternative)
    cdf[:, 0], cdf[:, -1] = 0.0, 1.0
    return np.diff(cdf, axis=1) @ delta


def _mass_continuous(data: _SelData, mean: np.ndarray, sd: np.ndarray, delta: np.ndarray) -> np.ndarray:
    r""":math:`A_i = \int w(p(y)) \phi((y - \mu_i)/sd_i)/sd_i\, dy` by composite Gauss-Legendre quadrature.

    In :math:`t = (y - \mu_i)/sd_i` over :math:`[-10, 10]`, 8 nodes per panel, with panel
    ends every 2 in :math:`t` and every 1 in the study's own :math:`z = y/\sqrt{v_i}` (where
    the p-value, and so the weight, changes fastest), plus the kinks of the weight (the
    clamping of the p-values at ``pval_min`` and the step): relative error below 1e-6.
    metafor integrates with R's ``integrate`` (adaptive, relative tolerance
    ``eps^0.25``), whose error of up to about 1e-4 moves its estimates by as much (and
    its numerical Hessian by more, see the tests).
    """
    sel = data.selection
    root_v = np.sqrt(data.v)[:, None]
    kinks = np.array([p for p in (sel.pval_min, 1 - sel.pval_min, sel.steps[0]) if 0 < p < 1])
    z_kinks = _z_of_pvalue(kinks, data.alternative)
    z_points = np.concatenate([_Z_PANELS, z_kinks])
    t_grid = np.broadcast_to(_T_PANELS, (len(mean), len(_T_PANELS)))
    t_from_z = (root_v * z_points - mean[:, None]) / sd[:, None]
    ends = np.sort(np.clip(np.concatenate([t_grid, t_from_z], axis=1), -_T_RANGE, _T_RANGE), axis=1)
    middle, half = (ends[:, 1:] + ends[:, :-1]) / 2, (ends[:, 1:] - ends[:, :-1]) / 2
    t = middle[..., None] + half[..., None] * _GL_NODES
    y = mean[:, None, None] + sd[:, None, None] * t
    p = np.clip(_one_sided_pvalues(y, data.v[:, None, None], data.alternative), sel.pval_min, 1 - sel.pval_min)
    integrand = sel.weight(p, delta) * np.exp(-t**2 / 2) / math.sqrt(2 * math.pi)
    return np.sum(half[..., None] * _GL_WEIGHTS * integrand, axis=(1, 2))


def _z_of_pvalue(p: np.ndarray, alternative: str) -> np.ndarray:
    """The z values of a study whose p-value equals ``p`` (both signs for two-sided tests)."""
    if alternative == "greater":
        return -special.ndtri(p)
    if alternative == "less":
        return special.ndtri(p)
    z = -special.ndtri(p / 2)
    return np.concatenate([z, -z])


def _selmodel_loglik(data: _SelData, beta: np.ndarray, tau2: float, delta: np.ndarray) -> float:
    r"""Log-likelihood of the selection model,

    .. math::

       \ell = \sum_i \left[\log w(p_i) + \log\phi\!\left(\frac{y_i - x_i'\beta}{\sqrt{v_i+\tau^2}}\right)
              - \tfrac12\log(v_i+\tau^2) - \log A_i\right],

    :math:`A_i` the probability of selection of study :math:`i` (``.selmodel.ll.cont`` and
    ``.selmodel.ll.stepfun``, with ``tau2`` below ``10 eps`` set to 0 as there).
    """
    tau2 = 0.0 if tau2 < 10 * _EPS else tau2
    mean, sd = data.X @ beta, np.sqrt(data.v + tau2)
    mass = (_mass_stepfun if data.selection.type == "stepfun" else _mass_continuous)(data, mean, sd, delta)
    with np.errstate(divide="ignore", invalid="ignore"):
        ll = np.sum(np.log(data.selection.weight(data.pvals, delta)) + stats.norm.logpdf(data.y, mean, sd)
                    - np.log(mass))
    return float(ll) if np.isfinite(ll) else -np.inf


@dataclass(frozen=True, eq=False)
class SelmodelResult(Coefficients):
    r"""A selection model fitted by maximum likelihood (``metafor::selmodel``).

    Attributes
    ----------
    beta, se, zval, pval, ci_lb, ci_ub : pandas.Series
        Coefficients corrected for selection, with Wald z tests and limits (standard
        errors from the inverse Hessian of the log-likelihood).
    vb : pandas.DataFrame
    tau2, se_tau2 : float
        Heterogeneity under the selection model (0 and NaN for equal-effects fits).
    delta, se_delta, zval_delta, pval_delta, ci_lb_delta, ci_ub_delta : pandas.Series
        Selection parameters (step function: the relative likelihood of selection of
        each p-value interval, the first fixed at 1; beta: :math:`\delta_1, \delta_2`;
        the others: the rate :math:`\delta`), their Wald tests against no selection
        (1 for stepfun and beta, 0 otherwise) and limits (truncated at 0).
    LRT, LRTdf, LRTp : float, int, float
        Likelihood-ratio test of no selection against the ML fit without it.
    ll, ll0 : float
        Log-likelihood of the selection model and of the model without selection (ML).
    QM, QMp : float
        Omnibus Wald test of the moderators (of the intercept in intercept-only models, as metafor).
    ptable : pandas.Series or None
        Number of p-values per interval (when there are steps).
    k : int
    type, alternative : str
    steps : numpy.ndarray
    warnings : list of str
    """

    tau2: float
    se_tau2: float
    delta: pd.Series
    se_delta: pd.Series
    zval_delta: pd.Series
    pval_delta: pd.Series
    ci_lb_delta: pd.Series
    ci_ub_delta: pd.Series
    LRT: float
    LRTdf: int
    LRTp: float
    ll: float
    ll0: float
    QM: float
    QMp: float
    ptable: pd.Series | None
    k: int
    type: str
    alternative: str
    steps: np.ndarray
    warnings: list[str] = field(default_factory=list)

    @property
    def coefficients(self) -> pd.DataFrame:
        return pd.DataFrame({"estimate": self.beta, "se": self.se, "zval": self.zval, "pval": self.pval,
                             "ci_lb": self.ci_lb, "ci_ub": self.ci_ub})

    @property
    def delta_table(self) -> pd.DataFrame:
        """The selection parameters as metafor's "Selection Model Results" (with ``k`` per interval)."""
        table = pd.DataFrame({"estimate": self.delta, "se": self.se_delta, "zval": self.zval_delta,
                              "pval": self.pval_delta, "ci_lb": self.ci_lb_delta, "ci_ub": self.ci_ub_delta})
        return table if self.ptable is None or self.type != "stepfun" else table.assign(k=self.ptable.to_numpy())

    def summary(self) -> str:
        """Text laid out like metafor's ``print.rma.uni.selmodel``."""
        kind = "Equal-Effects Model" if math.isnan(self.se_tau2) and self.tau2 == 0 else "Random-Effects Model"
        lines = [f"{kind} with {self.type} selection (k = {self.k}; alternative: {self.alternative})", ""]
        if kind == "Random-Effects Model":
            lines += [f"tau^2 (estimated amount of total heterogeneity): {self.tau2:.4f} (SE = {self.se_tau2:.4f})",
                      f"tau (square root of estimated tau^2 value):      {math.sqrt(self.tau2):.4f}"]
        int_only = list(self.beta.index) == ["intrcpt"]
        if not int_only:
            lines += ["", f"Test of Moderators: QM(df = {len(self.beta) - 1}) = {self.QM:.4f}, p-val {_pval(self.QMp, True)}"]
        lines += _results_table(self.coefficients, self.pval, int_only)
        lines += ["", "Test for Selection Model Parameters:",
                  f"LRT(df = {self.LRTdf}) = {self.LRT:.4f}, p-val {_pval(self.LRTp, True)}", "",
                  "Selection Model Results:", "", self.delta_table.to_string(float_format=lambda x: f"{x:.4f}")]
        if self.warnings:
            lines += ["", "Warnings:", *(f"  - {w}" for w in self.warnings)]
        return "\n".join(lines)


def selmodel(fit: RmaResult, type: str = "stepfun", steps: Any = DEFAULT_STEPS, alternative: str = "greater"
             ) -> SelmodelResult:
    r"""Selection model for publication bias, fitted by maximum likelihood as ``metafor::selmodel``.

    The observed outcomes are a selected sample from the random-effects model
    :math:`y_i \sim N(x_i'\beta, v_i + \tau^2)`: a study with one-sided p-value :math:`p_i`
    (of :math:`z_i = y_i/\sqrt{v_i}`; ``alternative`` gives its direction) is seen with
    relative probability :math:`w(p_i)`, so that its density is

    .. math::

       f(y_i) = \frac{w(p_i)\,\phi\big((y_i - x_i'\beta)/\sqrt{v_i+\tau^2}\big)/\sqrt{v_i+\tau^2}}{A_i},
       \qquad A_i = \int w(p(y))\,\phi\big((y - x_i'\beta)/\sqrt{v_i+\tau^2}\big)/\sqrt{v_i+\tau^2}\,dy.

    Selection functions: ``"stepfun"`` :math:`w(p) = \delta_j` for :math:`s_{j-1} < p \le s_j`
    (Vevea & Hedges, 1995; :math:`\delta_1 = 1`), ``"beta"``
    :math:`w(p) = p^{\delta_1-1}(1-p)^{\delta_2-1}` (Citkowicz & Vevea, 2017; p-values kept in
    :math:`[10^{-5}, 1-10^{-5}]`), and with a rate :math:`\delta \ge 0` (Preston et al., 2004),
    relative to :math:`w(s) = 1` below an optional step :math:`s` (default 0): ``"halfnorm"``
    :math:`e^{-\delta p^2}`, ``"negexp"`` :math:`e^{-\delta p}`, ``"logistic"``
    :math:`2e^{-\delta p}/(1+e^{-\delta p})` and ``"power"`` :math:`(1-p)^\delta`.

    As metafor: a model not fitted by ML is first refitted with ML (the starting
    values); :math:`\log\tau^2` and the deltas, mapped logistically onto metafor's
    ranges (``delta.min``, ``delta.max``: [0, 100], beta [1e-5, 100]), are optimised
    with BFGS (the non-dummy moderators standardised); standard errors come from the
    Hessian of :math:`-\ell` in the original parameters (``numDeriv``'s Richardson
    extrapolation, ``r = 6``); ``LRT`` tests the selection parameters against the ML
    fit without selection. Equal-effects fits keep :math:`\tau^2 = 0`.

    Parameters
    ----------
    fit : RmaResult
    type : {"stepfun", "beta", "halfnorm", "negexp", "logistic", "power"}
    steps : sequence of float
        Right ends of the p-value intervals of the step function (1 is appended when
        missing), default ``(0.025, 1)``; for the rate types an optional single step;
        ignored by ``"beta"``.
    alternative : {"greater", "less", "two.sided"}
        Direction of the studies' p-values (``"greater"``: large positive effects are
        the significant ones).

    Returns
    -------
    SelmodelResult

    Raises
    ------
    MetaInputError
        Unknown type or alternative; steps outside [0, 1]; an interval of the step
        function (other than the first, whose delta is fixed) that holds no observed
        p-value, so its delta cannot be estimated (metafor: "One or more intervals do
        not contain any observed p-values"); fewer studies than parameters.
    """
    if alternative not in ALTERNATIVES:
        raise MetaInputError(f"alternative must be one of {ALTERNATIVES}, got {alternative!r}")
    sel = _selection(type, steps)
    messages: list[str] = []
    if type == "beta" and steps is not DEFAULT_STEPS and steps is not None:
        messages.append("steps ignored (not applicable to a beta selection model)")
    start = fit if fit.method == "ML" or fit.method in FIXED else _fit(
        fit.yi, fit.vi, fit.X, "ML", fit.test, fit.level, profile=False)
    tau2_free = fit.method not in FIXED
    y, v, X = fit.yi.to_numpy(float), fit.vi.to_numpy(float), fit.X.to_numpy(float)
    n_parms = fit.p + tau2_free + int(sel.free.sum())
    if fit.k < n_parms:
        raise MetaInputError(f"number of studies (k={fit.k}) is too small to fit the selection model "
                             f"({n_parms} parameters)")
    pvals = np.clip(_one_sided_pvalues(y, v, alternative), sel.pval_min, 1 - sel.pval_min)
    ptable = _interval_counts(sel, pvals) if type == "stepfun" or len(sel.steps) > 2 or sel.steps[0] > 0 else None
    data = _SelData(y, v, X, pvals, sel, alternative)
    beta, tau2, delta = _maximise(data, fit, start, tau2_free)
    ll = _selmodel_loglik(data, beta, tau2, delta)
    if np.any(delta[sel.free] <= sel.lower[sel.free] + _EPS**0.25) or np.any(
            delta[sel.free] >= sel.upper[sel.free] - 100 * _EPS**0.25):
        messages.append("one or more delta estimates are (almost) equal to their lower or upper bound: "
                        "treat the results with caution")
    covariance = _inverse_hessian(data, beta, tau2, delta, tau2_free, messages)
    return _selmodel_result(fit, sel, data, beta, tau2, delta, covariance, ll, ptable, tau2_free, start, messages)


def _interval_counts(sel: _Selection, pvals: np.ndarray) -> pd.Series:
    """p-values per interval; an empty interval whose delta is estimated is an error (as metafor)."""
    counts = pd.Series(np.bincount(sel.groups(pvals), minlength=len(sel.steps)), index=_interval_names(sel.steps))
    empty = counts.to_numpy() == 0
    if (sel.type == "stepfun" and np.any(empty & sel.free)) or (sel.type != "stepfun" and empty.any()):
        raise MetaInputError("one or more intervals of the selection function contain no observed p-value, so "
                             f"their selection parameter cannot be estimated: {list(counts.index[empty])} "
                             f"(p-values per interval: {counts.to_dict()}); choose other steps")
    return counts


def _interval_names(steps: np.ndarray) -> list[str]:
    left = np.concatenate([[0.0], steps[:-1]])
    return [f"{a:g} < p <= {b:g}" for a, b in zip(left, steps)]


def _standardiser(X: np.ndarray, names: list[str]) -> np.ndarray:
    """metafor's ``mX``: ``beta = mX @ beta_scaled`` for the non-dummy moderators standardised (mean 0, SD 1)."""
    p = X.shape[1]
    mX = np.eye(p)
    if p == 1 or names[0] != "intrcpt":
        return mX
    for j in range(1, p):
        if not np.all(np.isin(X[:, j], (0.0, 1.0))):
            sd = X[:, j].std(ddof=1)
            mX[0, j], mX[j, j] = -X[:, j].mean() / sd, 1 / sd
    return mX


def _maximise(data: _SelData, fit: RmaResult, start: RmaResult, tau2_free: bool
              ) -> tuple[np.ndarray, float, np.ndarray]:
    """ML estimates of beta, tau2 and delta: BFGS on (scaled beta, log tau2, logit-mapped free deltas)."""
    sel, p = data.selection, fit.p
    mX = _standardiser(data.X, list(fit.X.columns))
    lower, upper = sel.lower[sel.free], sel.upper[sel.free]

    def unpack(theta: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        tau2 = math.exp(min(theta[p], 700.0)) if tau2_free else 0.0
        delta = sel.init.copy()
        delta[sel.free] = lower + (upper - lower) / (1 + np.exp(-theta[p + tau2_free:]))
        return mX @ theta[:p], tau2, delta

    def objective(theta: np.ndarray) -> float:
        value = -_selmodel_loglik(data, *unpack(theta))
        return value if np.isfinite(value) else 1e100

    init = sel.init[sel.free]
    theta0 = np.concatenate([np.linalg.solve(mX, start.beta.to_numpy()),
                             [math.log(start.tau2 + 0.001)] if tau2_free else [],
                             np.log((init - lower) / (upper - init))])
    best = optimize.minimize(objective, theta0, method="BFGS", options={"gtol": 1e-7, "maxiter": 1000})
    return unpack(best.x)


def _inverse_hessian(data: _SelData, beta: np.ndarray, tau2: float, delta: np.ndarray, tau2_free: bool,
                     messages: list[str]) -> np.ndarray:
    """Inverse Hessian of :math:`-\\ell` in (beta, tau2, free deltas); NaN where it is not positive definite."""
    p, free = len(beta), data.selection.free

    def negative_ll(u: np.ndarray) -> float:
        d = delta.copy()
        d[free] = u[p + tau2_free:]
        return -_selmodel_loglik(data, u[:p], u[p] if tau2_free else 0.0, d)

    u = np.concatenate([beta, [tau2] if tau2_free else [], delta[free]])
    hessian = _numderiv_hessian(negative_ll, u)
    try:
        return _chol_inverse(hessian)
    except np.linalg.LinAlgError:
        messages.append("the Hessian is not positive definite: no standard errors")
        return np.full_like(hessian, np.nan)


def _chol_inverse(matrix: np.ndarray) -> np.ndarray:
    """R's ``chol2inv(chol(H))``: the inverse through the Cholesky factor (fails unless positive definite)."""
    if not np.all(np.isfinite(matrix)):
        raise np.linalg.LinAlgError("non-finite Hessian")
    factor = np.linalg.cholesky(matrix)
    inverse = np.linalg.inv(factor)
    return inverse.T @ inverse


def _numderiv_hessian(f: Callable[[np.ndarray], float], x: np.ndarray, d: float = 0.1, eps: float = 1e-4,
                      r: int = 6, v: float = 2.0) -> np.ndarray:
    """Hessian by Richardson extrapolation of central differences, as ``numDeriv::hessian`` (``genD``).

    Initial steps :math:`h = |d\\,x| + \\epsilon [|x| < \\text{zero.tol}]`, halved ``r`` times;
    each second difference is extrapolated as :math:`(4^m a_{k+1} - a_k)/(4^m - 1)`.
    """
    zero_tol = math.sqrt(_EPS / 7e-7)
    n, f0 = len(x), f(x)
    h0 = np.abs(d * x) + eps * (np.abs(x) < zero_tol)
    unit = np.eye(n)

    def extrapolate(approx: list[float]) -> float:
        a = np.array(approx)
        for m in range(1, r):
            a = (a[1:] * 4**m - a[:-1]) / (4**m - 1)
        return float(a[0])

    H = np.zeros((n, n))
    for i in range(n):
        hs = [h0 / v**k for k in range(r)]
        H[i, i] = extrapolate([(f(x + unit[i] * h) - 2 * f0 + f(x - unit[i] * h)) / h[i] ** 2 for h in hs])
    for i in range(n):
        for j in range(i):
            hs = [h0 / v**k for k in range(r)]
            H[i, j] = H[j, i] = extrapolate([
                (f(x + unit[i] * h + unit[j] * h) - 2 * f0 + f(x - unit[i] * h - unit[j] * h)
                 - H[i, i] * h[i] ** 2 - H[j, j] * h[j] ** 2) / (2 * h[i] * h[j]) for h in hs])
    return H


def _selmodel_result(fit: RmaResult, sel: _Selection, data: _SelData, beta: np.ndarray, tau2: float,
                     delta: np.ndarray, covariance: np.ndarray, ll: float, ptable: pd.Series | None,
                     tau2_free: bool, start: RmaResult, messages: list[str]) -> SelmodelResult:
    """Wald tests of beta and delta, the LRT against no selection, and the result."""
    p, names = fit.p, list(fit.X.columns)
    vb = covariance[:p, :p]
    alpha = fit.alpha
    tests = coefficient_tests(beta, vb, moderator_index(names), alpha, None)
    se_tau2 = math.sqrt(covariance[p, p]) if tau2_free and covariance[p, p] >= 0 else np.nan
    se_delta = np.full(len(delta), np.nan)
    se_delta[sel.free] = np.sqrt(np.diag(covariance)[p + tau2_free:])
    crit = stats.norm.isf(alpha / 2)
    z_delta = (delta - sel.h0) / se_delta
    delta_names = sel.names
    ll0 = _loglik(data.y, data.v, data.X, start.tau2, "ML")
    lrt = max(0.0, -2 * (ll0 - ll))
    lrt_df = int(sel.free.sum())
    return SelmodelResult(
        beta=series(beta, names), se=series(tests.se, names), zval=series(tests.stat, names),
        pval=series(tests.pval, names), ci_lb=series(tests.ci_lb, names), ci_ub=series(tests.ci_ub, names),
        vb=pd.DataFrame(vb, index=names, columns=names), tau2=float(tau2) if tau2_free else 0.0,
        se_tau2=float(se_tau2), delta=series(delta, delta_names), se_delta=series(se_delta, delta_names),
        zval_delta=series(z_delta, delta_names), pval_delta=series(2 * stats.norm.sf(np.abs(z_delta)), delta_names),
        ci_lb_delta=series(np.maximum(delta - crit * se_delta, 0.0), delta_names),
        ci_ub_delta=series(delta + crit * se_delta, delta_names), LRT=lrt, LRTdf=lrt_df,
        LRTp=float(stats.chi2.sf(lrt, lrt_df)), ll=ll, ll0=float(ll0),
        QM=tests.QM, QMp=tests.QMp, ptable=ptable, k=fit.k,
        type=sel.type, alternative=data.alternative, steps=sel.steps, warnings=messages)
