"""Fitted linear mixed models (:class:`LmmResult`), reported as lme4/lmerTest report them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy
from scipy import stats

SATTERTHWAITE_NOTE = "Satterthwaite's method for denominator df (numerical derivatives)"


@dataclass(frozen=True, eq=False)
class LmmResult:
    r"""A fitted linear mixed model, reported as lme4/lmerTest report it.

    Attributes
    ----------
    fixed : pandas.DataFrame
        One row per fixed-effect term (patsy names): ``estimate``, ``se``,
        ``df`` (Satterthwaite, numerical derivatives), ``t``, ``p`` and the 95%
        t-interval ``ci_low``, ``ci_high``.
    re_cov : pandas.DataFrame
        Random-effect covariance matrix :math:`G`, named by the random terms.
    re_sd_corr : pandas.DataFrame
        Random-effect SDs on the diagonal, correlations off it.
    sigma2 : float
        Residual variance.
    loglik, aic, bic : float
        lme4's logLik (restricted log-likelihood for REML fits), AIC and BIC;
        the number of parameters counts fixed effects, the elements of
        :math:`G` and the residual variance.
    converged : bool
        lme4's gradient check at the optimum of the profiled deviance passed
        (see ``GRADIENT_TOL``); statsmodels, where used, only supplies starting
        values, and its messages are kept in ``warnings`` prefixed "statsmodels start".
    singular : bool
        lme4's ``isSingular``: a diagonal element of the relative Cholesky
        factor below ``SINGULAR_TOL`` (a variance ~0 or a correlation ~±1).
    warnings : list of str
        Optimiser, convergence, Hessian and singular-fit warnings.
    random_effects : pandas.DataFrame
        Conditional modes (BLUPs), one row per group.
    random_effects_sd : pandas.DataFrame
        Their conditional SDs (square roots of the diagonal of lme4's
        ``condVar``), for intervals such as a caterpillar plot.
    cov_beta : pandas.DataFrame
        Covariance matrix of the fixed effects (lme4's ``vcov``).
    fitted : pandas.Series
        Conditional fitted values :math:`X\hat\beta + Z\hat b`, indexed as ``data``.
    nobs, ngroups, n_dropped : int
        Rows used, groups, and rows dropped for missing values.
    reml : bool
    formula, group, re_formula : str
    data : pandas.DataFrame
        The complete-case rows the model was fitted to (used by :func:`lrt`).
    design_info : patsy.DesignInfo
        The fixed-effects design, reused by :meth:`predict`.
    engine : str
        The ``engine`` argument of :func:`fit_lmm` (reused by :func:`lrt`'s refit).
    arms : str
        The arms of the model families and the reference (e.g. "arms: control
        (reference), cbt, mindfulness"); empty for :func:`fit_lmm` alone.
    """

    fixed: pd.DataFrame
    re_cov: pd.DataFrame
    re_sd_corr: pd.DataFrame
    sigma2: float
    loglik: float
    aic: float
    bic: float
    converged: bool
    singular: bool
    warnings: list[str]
    random_effects: pd.DataFrame
    random_effects_sd: pd.DataFrame
    cov_beta: pd.DataFrame
    fitted: pd.Series
    nobs: int
    ngroups: int
    n_dropped: int
    reml: bool
    formula: str
    group: str
    re_formula: str
    data: pd.DataFrame = field(repr=False)
    design_info: patsy.DesignInfo = field(repr=False)
    engine: str = "auto"
    arms: str = ""

    @property
    def npar(self) -> int:
        """Number of parameters as lme4 counts them (fixed, variance, residual)."""
        return _npar(len(self.fixed), len(self.re_cov))

    @property
    def outcome(self) -> str:
        """Name of the response variable."""
        return self.formula.split("~")[0].strip()

    @property
    def residuals(self) -> pd.Series:
        """Conditional residuals: observed minus :attr:`fitted`."""
        return self.data[self.outcome] - self.fitted

    def predict(self, newdata: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
        r"""Population-level predictions (fixed effects only) with Wald intervals.

        Parameters
        ----------
        newdata : pandas.DataFrame
            Values of the fixed-effect variables (categorical levels as fitted).
        level : float, default 0.95
            Confidence level of the interval.

        Returns
        -------
        pandas.DataFrame
            ``newdata`` with ``estimate``, ``se``, ``ci_low`` and ``ci_high``
            added. The interval is :math:`x'\hat\beta \pm z\, \mathrm{se}` with
            :math:`\mathrm{se}^2 = x' \mathrm{Var}(\hat\beta) x`; it treats the
            variance components as known (as lme4 does for ``vcov``).
        """
        try:
            (design,) = patsy.build_design_matrices([self.design_info], newdata,
                                                    NA_action="raise", return_type="matrix")
        except patsy.PatsyError as exc:
            raise ValueError(f"cannot build the model's design from newdata: {exc}") from None
        design = np.asarray(design)
        estimate = design @ self.fixed["estimate"].to_numpy()
        se = np.sqrt(np.einsum("ij,jk,ik->i", design, self.cov_beta.to_numpy(), design))
        half = stats.norm.ppf(0.5 + level / 2) * se
        return newdata.assign(estimate=estimate, se=se, ci_low=estimate - half,
                              ci_high=estimate + half)

    def summary(self) -> str:
        """Text summary laid out like ``summary()`` of an lmerTest fit."""
        return "\n".join([
            _header(self),
            "",
            _random_table(self),
            f"Number of obs: {self.nobs}, groups:  {self.group}, {self.ngroups}"
            + (f" ({self.n_dropped} rows with missing values dropped)" if self.n_dropped else ""),
            *([self.arms.capitalize()] if self.arms else []),
            "",
            "Fixed effects:",
            _fixed_table(self.fixed),
            "---",
            f"{SATTERTHWAITE_NOTE}; df are an approximation.",
            *(["", "Warnings:"] + [f"  {w}" for w in self.warnings] if self.warnings else []),
        ])


def _npar(n_fixed: int, q: int) -> int:
    """lme4's parameter count: fixed effects, the q(q+1)/2 elements of G, the residual variance."""
    return n_fixed + q * (q + 1) // 2 + 1


def _fixed_table_frame(estimates: pd.Series, cov_beta: np.ndarray, df: np.ndarray) -> pd.DataFrame:
    se = np.sqrt(np.diag(cov_beta))
    t = estimates.to_numpy() / se
    half = stats.t.ppf(0.975, df) * se
    return pd.DataFrame(
        {"estimate": estimates.to_numpy(), "se": se, "df": df, "t": t,
         "p": 2 * stats.t.sf(np.abs(t), df),
         "ci_low": estimates.to_numpy() - half, "ci_high": estimates.to_numpy() + half},
        index=pd.Index(estimates.index, name="term"))


def _sd_corr(cov: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cov / np.outer(sd, sd)
    np.fill_diagonal(out, sd)
    return out


def _header(result: LmmResult) -> str:
    method = "REML" if result.reml else "maximum likelihood"
    lines = [f"Linear mixed model fit by {method}. t-tests use Satterthwaite's method",
             f"Formula: {result.formula}, random: {result.re_formula} | {result.group}",
             ""]
    deviance = -2 * result.loglik
    if result.reml:
        lines.append(f"REML criterion at convergence: {deviance:.1f}")
    else:
        lines.append(f"{'AIC':>9}{'BIC':>9}{'logLik':>9}{'deviance':>9}{'df.resid':>9}")
        lines.append(f"{result.aic:9.1f}{result.bic:9.1f}{result.loglik:9.1f}"
                     f"{deviance:9.1f}{result.nobs - result.npar:9d}")
    return "\n".join(lines)


def _random_table(result: LmmResult) -> str:
    names = list(result.re_cov.index)
    sd_corr = result.re_sd_corr.to_numpy()
    rows = []
    for i, name in enumerate(names):
        corr = " ".join(f"{sd_corr[i, j]:5.2f}" for j in range(i))
        rows.append((result.group if i == 0 else "", name, result.re_cov.iloc[i, i],
                     sd_corr[i, i], corr))
    rows.append(("Residual", "", result.sigma2, np.sqrt(result.sigma2), ""))
    width = max(len(r[0]) for r in rows) + 1
    name_width = max(len(r[1]) for r in rows) + 1
    lines = ["Random effects:",
             f" {'Groups':<{width}}{'Name':<{name_width}}{'Variance':>10} {'Std.Dev.':>9} Corr"]
    lines += [f" {g:<{width}}{n:<{name_width}}{v:10.4g} {s:9.4g} {c}".rstrip()
              for g, n, v, s, c in rows]
    return "\n".join(lines)


def _fixed_table(fixed: pd.DataFrame) -> str:
    table = fixed[["estimate", "se", "df", "t", "p"]].copy()
    table.columns = ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
    return table.to_string(float_format=lambda v: f"{v:.4g}")
