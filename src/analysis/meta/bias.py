r"""Small-study effects and publication bias, as metafor.

Regression tests (``regtest``): the model refitted with a measure of precision
:math:`a_i` as an extra moderator,

.. math::

   y_i = x_i'\beta + \beta_a a_i + u_i + e_i,

:math:`a_i \in \{\sqrt{v_i}, v_i, n_i, 1/n_i, \sqrt{n_i}, 1/\sqrt{n_i}\}`, either as the
random/mixed-effects model of the fit (``model="rma"``) or as a weighted least squares
regression with weights :math:`1/v_i` and a multiplicative dispersion
:math:`\hat\sigma^2 = \sum_i (y_i - \hat y_i)^2/v_i/(k - p - 1)` (``model="lm"``, t tests on
:math:`k - p - 1` df); the test of :math:`\beta_a = 0` is the test for funnel-plot
asymmetry, and for intercept-only fits with :math:`a_i \to 0` as the precision grows the
intercept is the limit estimate. Egger's test is ``regtest(model="rma", predictor="sei")``;
PET and PEESE (Stanley & Doucouliagos, 2014) are the ``lm`` fits on :math:`\sqrt{v_i}` and
:math:`v_i`.

Begg and Mazumdar's rank test (``ranktest``): Kendall's :math:`\tau` between the
standardised deviates :math:`y_i^* = (y_i - \hat\theta)/\sqrt{v_i - v_\theta}`
(:math:`\hat\theta` the equal-effects estimate, :math:`v_\theta = 1/\sum 1/v_i`) and :math:`v_i`.

Fail-safe N (``fsn``): Rosenthal's :math:`N = k(\sum z_i/\sqrt k / z_{1-\alpha})^2 - k`
(Stouffer), Orwin's :math:`N = k(\bar y - y_T)/y_T` and Rosenberg's
:math:`N = k\,[(\sum w_i y_i / z_{1-\alpha/2})^2 - \sum w_i]/\sum w_i`, rounded up as metafor.

Trim-and-fill (``trimfill``) as ``metafor::trimfill``. Selection models live in
:mod:`analysis.meta.selection`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .inputs import (
    FIXED,
    T_TESTS,
    MetaInputError,
    _aligned,
    _check_rank,
    _numeric,
    _same_length,
)
from .result import RmaResult, _pval
from .uni import _fit
from .wls import coefficient_tests, moderator_index, series, wls

__all__ = ["FSN_TYPES", "PREDICTORS", "TRIMFILL_ESTIMATORS", "EggerResult", "FsnResult", "PetPeeseResult",
           "RanktestResult", "RegtestResult", "TrimfillResult", "egger", "fsn", "pet_peese", "ranktest", "regtest",
           "trimfill"]

TRIMFILL_ESTIMATORS = ("L0", "R0", "Q0")
#: Predictors of ``regtest``, with metafor's wording and whether they vanish as the precision grows.
PREDICTORS = {"sei": ("standard error", True), "vi": ("sampling variance", True), "ni": ("sample size", False),
              "ninv": ("inverse of the sample size", True), "sqrtni": ("square root sample size", False),
              "sqrtninv": ("inverse of the square root sample size", True)}
REGTEST_MODELS = ("rma", "lm")
FSN_TYPES = ("Rosenthal", "Orwin", "Rosenberg")


# =========================================================================== regression tests


@dataclass(frozen=True)
class RegtestResult:
    """Regression test for funnel-plot asymmetry (``metafor::regtest``).

    Attributes
    ----------
    zval, pval : float
        Test statistic of the predictor's coefficient (a t value with ``dof``
        degrees of freedom for t-type tests and ``model="lm"``) and its two-sided p-value.
    dof : int or None
        Degrees of freedom for t tests, else None.
    estimate, ci_lb, ci_ub : float or None
        Limit estimate as the predictor goes to 0 (the intercept) with its
        confidence interval; None for models with moderators and for the predictors
        ``ni`` and ``sqrtni``, which do not vanish with growing precision.
    method, test : str
        Estimator and test of the model (the fitted model's; ``"lm"`` fits: ``"t"``).
    model : {"rma", "lm"}
    predictor : {"sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"}
    coefficients : pandas.DataFrame
        The coefficient table of the regression (metafor's ``ret.fit``).
    """

    zval: float
    pval: float
    dof: int | None
    estimate: float | None
    ci_lb: float | None
    ci_ub: float | None
    method: str
    test: str
    model: str = "rma"
    predictor: str = "sei"
    coefficients: pd.DataFrame | None = field(default=None, repr=False, compare=False)

    def summary(self) -> str:
        """Text laid out like metafor's ``print.regtest``."""
        stat = "t" if self.dof is not None else "z"
        df = f", df = {self.dof}" if self.dof is not None else ""
        kind = ("weighted regression with multiplicative dispersion" if self.model == "lm" else
                f"{'fixed-effects' if self.method in FIXED else 'mixed-effects'} meta-regression model")
        lines = ["Regression Test for Funnel Plot Asymmetry", "", f"Model:     {kind}",
                 f"Predictor: {PREDICTORS[self.predictor][0]}", "",
                 f"Test for Funnel Plot Asymmetry: {stat} = {self.zval:.4f}{df}, p = {_pval(self.pval)}"]
        if self.estimate is not None:
            lines.append(f"Limit Estimate (as {self.predictor} -> 0):   b = {self.estimate:.4f} "
                         f"(CI: {self.ci_lb:.4f}, {self.ci_ub:.4f})")
        return "\n".join(lines)


EggerResult = RegtestResult  # the name of Egger's test result before regtest() took every predictor


def regtest(fit: RmaResult, model: str = "rma", predictor: str = "sei") -> RegtestResult:
    r"""Regression test for funnel-plot asymmetry, as ``metafor::regtest``.

    Parameters
    ----------
    fit : RmaResult
        The model whose moderators (if any) are kept.
    model : {"rma", "lm"}
        ``"rma"``: the fit's estimator, test and level with the predictor added;
        ``"lm"``: weighted least squares with weights :math:`1/v_i` and a multiplicative
        dispersion, t tests on :math:`k - p - 1` df (the classical Egger test).
    predictor : {"sei", "vi", "ni", "ninv", "sqrtni", "sqrtninv"}
        :math:`\sqrt{v_i}`, :math:`v_i`, :math:`n_i`, :math:`1/n_i`, :math:`\sqrt{n_i}` or
        :math:`1/\sqrt{n_i}`; the sample sizes come from ``rma(..., ni=)`` (or an
        :func:`escalc` table that carries them).

    Returns
    -------
    RegtestResult

    Raises
    ------
    MetaInputError
        Unknown model or predictor; a sample-size predictor without sample sizes; a
        predictor collinear with the moderators.
    """
    if model not in REGTEST_MODELS:
        raise MetaInputError(f"model must be one of {REGTEST_MODELS}, got {model!r}")
    X = fit.X.assign(**{predictor: _precision(fit, predictor)})
    try:
        _check_rank(X)
    except MetaInputError:
        raise MetaInputError(f"the model matrix is no longer of full rank after adding the predictor {predictor!r}; "
                             "the test cannot be carried out") from None
    if model == "rma":
        refit = _fit(fit.yi, fit.vi, X, fit.method, fit.test, fit.level, profile=False)
        table, dof = refit.coefficients, (refit.dof if fit.test in T_TESTS else None)
        method, test = fit.method, fit.test
    else:
        table = _weighted_lm(X, fit.yi.to_numpy(float), 1 / fit.vi.to_numpy(float), fit.alpha)
        dof, method, test = fit.k - X.shape[1], "FE", "t"
    limit = ((float(table["estimate"].iloc[0]), float(table["ci_lb"].iloc[0]), float(table["ci_ub"].iloc[0]))
             if fit.int_only and PREDICTORS[predictor][1] else (None, None, None))
    return RegtestResult(float(table.iloc[-1, 2]), float(table["pval"].iloc[-1]), dof, *limit, method, test,
                         model, predictor, table)


def egger(fit: RmaResult) -> RegtestResult:
    """Egger's regression test, ``regtest(fit, model="rma", predictor="sei")``: the fit with ``sqrt(vi)`` added."""
    return regtest(fit, "rma", "sei")


def _precision(fit: RmaResult, predictor: str) -> np.ndarray:
    """The predictor of ``regtest``: a function of the sampling variances or of the sample sizes."""
    if predictor not in PREDICTORS:
        raise MetaInputError(f"predictor must be one of {tuple(PREDICTORS)}, got {predictor!r}")
    if predictor in ("sei", "vi"):
        v = fit.vi.to_numpy(float)
        return np.sqrt(v) if predictor == "sei" else v
    if fit.ni is None or fit.ni.isna().any():
        raise MetaInputError(f"predictor {predictor!r} needs the sample sizes: fit the model with "
                             "rma(..., ni=...) (none, or some missing, in this fit)")
    n = fit.ni.to_numpy(float)
    return {"ni": n, "ninv": 1 / n, "sqrtni": np.sqrt(n), "sqrtninv": 1 / np.sqrt(n)}[predictor]


def _weighted_lm(X: pd.DataFrame, y: np.ndarray, w: np.ndarray, alpha: float) -> pd.DataFrame:
    r"""R's ``summary(lm(y ~ X - 1, weights = w))``: WLS with :math:`\hat\sigma^2 = \sum w_i r_i^2/(k-p)`, t tests."""
    k, p = X.shape
    beta, inv = wls(X.to_numpy(float), y, w)
    sigma2 = np.sum(w * (y - X.to_numpy(float) @ beta) ** 2) / (k - p)
    tests = coefficient_tests(beta, sigma2 * inv, moderator_index(list(X.columns)), alpha, k - p)
    names = list(X.columns)
    return pd.DataFrame({"estimate": series(beta, names), "se": series(tests.se, names),
                         "tval": series(tests.stat, names), "pval": series(tests.pval, names),
                         "ci_lb": series(tests.ci_lb, names), "ci_ub": series(tests.ci_ub, names)})


@dataclass(frozen=True)
class PetPeeseResult:
    r"""PET, PEESE and the conditional PET-PEESE estimate (Stanley & Doucouliagos, 2014).

    Attributes
    ----------
    pet, peese : RegtestResult
        ``regtest(model="lm")`` with predictor ``sei`` (PET,
        :math:`y_i = \beta_0 + \beta_1\sqrt{v_i}`) and ``vi`` (PEESE,
        :math:`y_i = \beta_0 + \beta_1 v_i`), weights :math:`1/v_i`; their ``estimate``
        is the intercept, the effect of a study with no sampling error.
    estimate, ci_lb, ci_ub : float
        The conditional estimate: PET's intercept unless PET rejects
        :math:`\beta_0 = 0`, then PEESE's.
    selected : {"PET", "PEESE"}
    pet_pval : float
        p-value of PET's test of :math:`\beta_0 = 0` under ``sided``.
    alpha : float
    sided : {"one", "two"}
    """

    pet: RegtestResult
    peese: RegtestResult
    estimate: float
    ci_lb: float
    ci_ub: float
    selected: str
    pet_pval: float
    alpha: float
    sided: str

    def summary(self) -> str:
        """Both fits and the conditional estimate."""
        rule = ("one-sided (in the direction of PET's intercept)" if self.sided == "one" else "two-sided")
        lines = ["PET-PEESE (Stanley & Doucouliagos, 2014)", ""]
        for name, part in (("PET", self.pet), ("PEESE", self.peese)):
            lines.append(f"{name + ':':7}intercept = {part.estimate:.4f} (CI: {part.ci_lb:.4f}, {part.ci_ub:.4f}); "
                         f"slope t = {part.zval:.4f}, df = {part.dof}, p = {_pval(part.pval)}")
        decision = "rejected" if self.selected == "PEESE" else "not rejected"
        lines += ["", f"PET's test of intercept = 0, {rule}: p = {_pval(self.pet_pval)} ({decision} at {self.alpha:g})",
                  f"Conditional estimate ({self.selected}): {self.estimate:.4f} (CI: {self.ci_lb:.4f}, {self.ci_ub:.4f})"]
        return "\n".join(lines)


def pet_peese(fit: RmaResult, alpha: float = 0.05, sided: str = "one") -> PetPeeseResult:
    r"""PET-PEESE: the precision-effect test and estimate with standard error, and their conditional choice.

    Both are weighted least squares regressions (weights :math:`1/v_i`, multiplicative
    dispersion, as R's ``lm(yi ~ sqrt(vi), weights = 1/vi)`` and ``lm(yi ~ vi, weights = 1/vi)``),
    i.e. ``regtest(fit, model="lm", predictor="sei")`` and ``predictor="vi"``.

    Parameters
    ----------
    fit : RmaResult
        An intercept-only model (only its ``yi`` and ``vi`` are used).
    alpha : float
        Level of PET's test of :math:`H_0: \beta_0 = 0`.
    sided : {"one", "two"}
        ``"one"`` (default, Stanley & Doucouliagos' convention): a one-tailed t test in
        the direction of PET's intercept, :math:`p = p_{\text{two-sided}}/2`, so that
        the rule rejects when the two-sided p-value is below :math:`2\alpha`;
        ``"two"``: the two-sided test at ``alpha``.

    Returns
    -------
    PetPeeseResult
        PEESE's intercept if PET rejects :math:`\beta_0 = 0` (evidence of a genuine
        effect), else PET's intercept.
    """
    if not fit.int_only:
        raise MetaInputError("PET-PEESE applies only to models without moderators")
    if sided not in ("one", "two"):
        raise MetaInputError(f"sided must be 'one' or 'two', got {sided!r}")
    if not 0 < alpha < 1:
        raise MetaInputError(f"alpha must lie in (0, 1), got {alpha!r}")
    if fit.k < 3:
        raise MetaInputError(f"PET-PEESE needs at least 3 studies (2 coefficients and a residual df); got {fit.k}")
    pet, peese = regtest(fit, "lm", "sei"), regtest(fit, "lm", "vi")
    p_two = float(pet.coefficients["pval"].iloc[0])
    pet_pval = p_two / 2 if sided == "one" else p_two
    chosen, name = (peese, "PEESE") if pet_pval < alpha else (pet, "PET")
    return PetPeeseResult(pet, peese, chosen.estimate, chosen.ci_lb, chosen.ci_ub, name, pet_pval, alpha, sided)


# =========================================================================== rank test and fail-safe N


@dataclass(frozen=True)
class RanktestResult:
    """Begg and Mazumdar's rank correlation test (``metafor::ranktest``).

    Attributes
    ----------
    tau : float
        Kendall's tau (tau-b) between the standardised outcomes and the sampling variances.
    pval : float
        Two-sided p-value: exact (R's ``cor.test(exact = TRUE)``) without ties, else the
        normal approximation with the ties-corrected variance (no continuity correction).
    exact : bool
    """

    tau: float
    pval: float
    exact: bool

    def summary(self) -> str:
        """Text laid out like metafor's ``print.ranktest``."""
        return ("Rank Correlation Test for Funnel Plot Asymmetry\n\n"
                f"Kendall's tau = {self.tau:.4f}, p = {_pval(self.pval)}"
                + ("" if self.exact else " (normal approximation: ties)"))


def ranktest(fit: RmaResult) -> RanktestResult:
    r"""Rank correlation test for funnel-plot asymmetry (Begg & Mazumdar, 1994), as ``metafor::ranktest``.

    Kendall's :math:`\tau` between :math:`y_i^* = (y_i - \hat\theta)/\sqrt{v_i - v_\theta}`, with
    :math:`\hat\theta = \sum w_i y_i/\sum w_i`, :math:`w_i = 1/v_i`, :math:`v_\theta = 1/\sum w_i`,
    and :math:`v_i`. The p-value is exact where there are no ties (metafor asks R's
    ``cor.test`` for the exact distribution), else from the normal approximation.
    """
    y, v = fit.yi.to_numpy(float), fit.vi.to_numpy(float)
    w = 1 / v
    theta = np.sum(w * y) / np.sum(w)
    standardised = (y - theta) / np.sqrt(v - 1 / np.sum(w))
    exact = len(np.unique(standardised)) == len(y) and len(np.unique(v)) == len(v)
    result = stats.kendalltau(standardised, v, method="exact" if exact else "asymptotic")
    return RanktestResult(float(result.statistic), float(result.pvalue), exact)


@dataclass(frozen=True)
class FsnResult:
    """Fail-safe N (``metafor::fsn``).

    Attributes
    ----------
    type : {"Rosenthal", "Orwin", "Rosenberg"}
    fsnum : float
        Number of studies averaging a null result needed to bring the combined result
        below significance (Rosenthal, Rosenberg) or to the target (Orwin); rounded up
        (``inf`` for Orwin with target 0).
    alpha : float
    pval : float
        Rosenthal: one-sided p of Stouffer's combined test; Rosenberg: two-sided p of
        the equal-effects estimate; NaN for Orwin.
    meanes : float
        Orwin: unweighted mean; Rosenberg: the equal-effects estimate; NaN for Rosenthal.
    target : float
        Orwin's target effect; NaN otherwise.
    """

    type: str
    fsnum: float
    alpha: float
    pval: float
    meanes: float
    target: float

    def summary(self) -> str:
        """Text laid out like metafor's ``print.fsn``."""
        approach = {"Rosenthal": "Rosenthal", "Orwin": "Orwin", "Rosenberg": "Rosenberg"}[self.type]
        lines = [f"Fail-safe N Calculation Using the {approach} Approach", ""]
        if self.type == "Rosenthal":
            lines += [f"Observed Significance Level: {_pval(self.pval)}", f"Target Significance Level:   {self.alpha:g}"]
        elif self.type == "Orwin":
            lines += [f"Average Effect Size: {self.meanes:.4f}", f"Target Effect Size:  {self.target:.4f}"]
        else:
            lines += [f"Average Effect Size:         {self.meanes:.4f}",
                      f"Observed Significance Level: {_pval(self.pval)}", f"Target Significance Level:   {self.alpha:g}"]
        return "\n".join([*lines, "", f"Fail-safe N: {self.fsnum:g}"])


def fsn(yi: Any, vi: Any = None, type: str = "Rosenthal", target: float | None = None, alpha: float = 0.05,
        data: pd.DataFrame | None = None) -> FsnResult:
    r"""Fail-safe N, as ``metafor::fsn`` (Stouffer's test for Rosenthal; unweighted Orwin).

    Parameters
    ----------
    yi, vi : array-like, Series or str
        Outcomes and sampling variances (column names of ``data``, or values);
        ``vi`` is not needed for Orwin's method. Studies with a missing value are left out.
    type : {"Rosenthal", "Orwin", "Rosenberg"}
        Rosenthal: :math:`N = \max(0, k(\bar z\sqrt k/z_{1-\alpha})^2 - k)` with
        :math:`\bar z \sqrt k = |\sum_i y_i/\sqrt{v_i}|/\sqrt k`; Orwin:
        :math:`N = \max(0, k(\bar y - y_T)/y_T)`; Rosenberg:
        :math:`N = \max(0, k[(\sum w_i y_i/z_{1-\alpha/2})^2 - \sum w_i]/\sum w_i)`, :math:`w_i = 1/v_i`.
    target : float, optional
        Orwin's target effect :math:`y_T` (default half the mean effect; its sign is
        set to that of the mean effect).
    alpha : float
        Target significance level (Rosenthal, Rosenberg).
    data : DataFrame, optional

    Returns
    -------
    FsnResult
        ``fsnum`` rounded up to the next integer (metafor's rule).
    """
    if type not in FSN_TYPES:
        raise MetaInputError(f"type must be one of {FSN_TYPES}, got {type!r}")
    if not 0 < alpha < 1:
        raise MetaInputError(f"alpha must lie in (0, 1), got {alpha!r}")
    if vi is None and type != "Orwin":
        raise MetaInputError(f"the {type} fail-safe N needs the sampling variances vi")
    given = _aligned({"yi": yi, "vi": vi}, data)
    y = _numeric("yi", given["yi"], data)[0]
    v = _numeric("vi", given["vi"], data)[0] if vi is not None else np.ones_like(y)
    _same_length({"yi": y, "vi": v})
    keep = ~(np.isnan(y) | np.isnan(v))
    y, v = y[keep], v[keep]
    if len(y) == 0:
        raise MetaInputError("no study with both yi and vi")
    if type != "Orwin" and np.any(v <= 0):
        raise MetaInputError("vi: sampling variances must be positive")
    fsnum, pval, meanes, target_out = _FSN[type](y, v, alpha, target)
    return FsnResult(type, _round_fsn(fsnum), alpha, pval, meanes, target_out)


def _fsn_rosenthal(y: np.ndarray, v: np.ndarray, alpha: float, target: float | None) -> tuple:
    k = len(y)
    z_avg = abs(np.sum(y / np.sqrt(v)) / math.sqrt(k))
    return max(0.0, k * (z_avg / stats.norm.isf(alpha)) ** 2 - k), float(stats.norm.sf(z_avg)), np.nan, np.nan


def _fsn_orwin(y: np.ndarray, v: np.ndarray, alpha: float, target: float | None) -> tuple:
    k, meanes = len(y), float(np.mean(y))
    target = meanes / 2 if target is None else float(target)
    if target == 0:
        return math.inf, np.nan, meanes, target
    if np.sign(target) != np.sign(meanes):
        target = -target
    return max(0.0, k * (meanes - target) / target), np.nan, meanes, target


def _fsn_rosenberg(y: np.ndarray, v: np.ndarray, alpha: float, target: float | None) -> tuple:
    k, w = len(y), 1 / v
    meanes = float(np.sum(w * y) / np.sum(w))
    zval = meanes / math.sqrt(1 / np.sum(w))
    w_p = (np.sum(w * y) / stats.norm.isf(alpha / 2)) ** 2 - np.sum(w)
    return max(0.0, k * w_p / np.sum(w)), float(2 * stats.norm.sf(abs(zval))), meanes, np.nan


_FSN: dict[str, Callable[..., tuple]] = {"Rosenthal": _fsn_rosenthal, "Orwin": _fsn_orwin, "Rosenberg": _fsn_rosenberg}


def _round_fsn(fsnum: float) -> float:
    """metafor's rounding of the fail-safe N: up to the next integer unless within ``sqrt(eps)`` of one."""
    if math.isinf(fsnum):
        return fsnum
    return float(math.ceil(fsnum) if abs(fsnum - round(fsnum)) >= math.sqrt(np.finfo(float).eps) else round(fsnum))


# =========================================================================== trim-and-fill


@dataclass(frozen=True, eq=False)
class TrimfillResult:
    """Trim-and-fill analysis (``metafor::trimfill``).

    Attributes
    ----------
    k0, se_k0 : int, float
        Estimated number of missing studies and its standard error.
    side : {"left", "right"}
        Side of the funnel plot on which studies were imputed.
    estimator : {"L0", "R0", "Q0"}
    p_k0 : float or None
        p-value of the R0 test that no studies are missing (R0 only).
    fit : RmaResult
        The model refitted to the observed plus the ``k0`` filled-in studies (with
        test "z", as metafor refits it; the original model when ``k0 == 0``).
    fill : numpy.ndarray of bool
        Which rows of ``fit`` are filled-in studies.
    """

    k0: int
    se_k0: float
    side: str
    estimator: str
    p_k0: float | None
    fit: RmaResult
    fill: np.ndarray = field(repr=False)

    def summary(self) -> str:
        """Text laid out like metafor's ``print`` of a trim-and-fill object."""
        head = f"Estimated number of missing studies on the {self.side} side: {self.k0} (SE = {self.se_k0:.4f})"
        if self.p_k0 is not None:
            head += f"\nTest of H0: no missing studies on the {self.side} side:     p-val = {_pval(self.p_k0)}"
        return head + "\n\n" + self.fit.summary()

    def funnel(self, **kwargs: Any):
        """Funnel plot of the filled-in data; filled studies drawn hollow (see :func:`analysis.plots.meta.funnel`)."""
        from ..plots import meta as meta_plots

        return meta_plots.funnel(self.fit, fill=self.fill, **kwargs)


def trimfill(fit: RmaResult, side: str | None = None, estimator: str = "L0", maxiter: int = 100) -> TrimfillResult:
    """Duval and Tweedie's trim-and-fill method, as ``metafor::trimfill``.

    Parameters
    ----------
    fit : RmaResult
        An intercept-only model.
    side : {"left", "right"}, optional
        Side on which studies are missing; by default chosen from the sign of the
        Egger-type slope (refit with ``sqrt(vi)`` as moderator): imputed on the
        left if the slope is positive, else on the right.
    estimator : {"L0", "R0", "Q0"}
        Estimator of the number of missing studies (metafor's default L0).
    maxiter : int
        Maximum number of trim-and-fill iterations.

    Returns
    -------
    TrimfillResult
    """
    if not fit.int_only:
        raise MetaInputError("trim-and-fill applies only to models without moderators")
    if estimator not in TRIMFILL_ESTIMATORS:
        raise MetaInputError(f"estimator must be one of {TRIMFILL_ESTIMATORS}, got {estimator!r}")
    if side is None:
        X = np.column_stack([np.ones(fit.k), np.sqrt(fit.vi.to_numpy())])
        slope = _fit(fit.yi, fit.vi, pd.DataFrame(X, index=fit.X.index, columns=["intrcpt", "sei"]),
                     fit.method, "z", fit.level, profile=False).beta.iloc[1]
        side = "right" if slope < 0 else "left"
    elif side not in ("left", "right"):
        raise MetaInputError(f"side must be 'left' or 'right', got {side!r}")
    k0, se_k0, filled_y, filled_v = _trim_and_fill(fit, side, estimator, maxiter)
    p_k0 = None
    if estimator == "R0":
        p_k0 = float(1 - np.sum(0.5 ** (np.arange(-1, k0) + 2)))
    if k0 == 0:
        return TrimfillResult(0, se_k0, side, estimator, p_k0, fit, np.zeros(fit.k, bool))
    labels = [*map(str, fit.yi.index), *(f"Filled {i}" for i in range(1, k0 + 1))]
    yi = pd.Series(np.append(fit.yi.to_numpy(), filled_y), index=labels)
    vi = pd.Series(np.append(fit.vi.to_numpy(), filled_v), index=labels)
    filled = _fit(yi, vi, pd.DataFrame({"intrcpt": 1.0}, index=labels), fit.method, "z", fit.level,
                  profile=True, measure=fit.measure)
    return TrimfillResult(k0, se_k0, side, estimator, p_k0, filled, np.arange(len(labels)) >= fit.k)


def _trim_and_fill(fit: RmaResult, side: str, estimator: str, maxiter: int
                   ) -> tuple[int, float, np.ndarray, np.ndarray]:
    """metafor's trim-and-fill iterations; returns k0, its SE and the filled outcomes and variances."""
    sign = -1.0 if side == "right" else 1.0
    order = np.argsort(sign * fit.yi.to_numpy(), kind="stable")
    yi, vi = sign * fit.yi.to_numpy()[order], fit.vi.to_numpy()[order]
    k = len(yi)
    k0, k0_previous, iterations = 0, -1, 0
    while k0 != k0_previous:
        k0_previous = k0
        iterations += 1
        if iterations > maxiter:
            raise RuntimeError(f"trim-and-fill did not converge in {maxiter} iterations")
        kept = slice(0, k - k0)
        beta = _fit(pd.Series(yi[kept]), pd.Series(vi[kept]), pd.DataFrame({"intrcpt": np.ones(k - k0)}),
                    fit.method, "z", fit.level, profile=False).beta.iloc[0]
        centred = yi - beta
        signed = np.sign(centred) * stats.rankdata(np.abs(centred), method="ordinal")
        if estimator == "R0":
            k0 = (k - np.max(-signed[signed < 0])) - 1
            se_k0 = math.sqrt(2 * max(0, k0) + 2)
        else:
            sr = signed[signed > 0].sum()  # Wilcoxon rank sum of the studies right of the estimate
            if estimator == "L0":
                k0 = (4 * sr - k * (k + 1)) / (2 * k - 1)
            else:
                k0 = k - 0.5 - math.sqrt(2 * k**2 - 4 * sr + 0.25)
            var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0**3 + 27 * k0**2 + 17 * k0 - 18 * k * k0**2
                      - 18 * k * k0 + 6 * k**2 * k0) / 24
            se_k0 = (4 * math.sqrt(var_sr) / (2 * k - 1) if estimator == "L0"
                     else 2 * math.sqrt(var_sr) / math.sqrt((k - 0.5) ** 2 - k0 * (2 * k - k0 - 1)))
        k0 = max(0, int(np.round(k0)))
        se_k0 = max(0.0, se_k0)
    return k0, se_k0, -sign * (centred - beta)[k - k0:], vi[k - k0:]
