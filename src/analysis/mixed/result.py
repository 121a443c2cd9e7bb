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
    re_cov : pandas.DataFrame or dict
        Random-effect covariance matrix :math:`G`, named by the random terms; with
        several random-effect terms a dict {term label: covariance matrix of the
        term}, labelled as the ``grp`` column of :attr:`varcorr`.
    re_sd_corr : pandas.DataFrame or dict
        Random-effect SDs on the diagonal, correlations off it (a dict as ``re_cov``).
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
    random_effects : pandas.DataFrame or dict
        Conditional modes (BLUPs), one row per group; with several random-effect
        terms a dict {grouping factor: table}, the terms of one factor side by side
        (as lme4's ``ranef``).
    random_effects_sd : pandas.DataFrame or dict
        Their conditional SDs (square roots of the diagonal of lme4's
        ``condVar``), for intervals such as a caterpillar plot (a dict as
        ``random_effects``).
    cov_beta : pandas.DataFrame
        Covariance matrix of the fixed effects (lme4's ``vcov``).
    fitted : pandas.Series
        Conditional fitted values :math:`X\hat\beta + Z\hat b`, indexed as ``data``.
    nobs, n_dropped : int
        Rows used, and rows dropped for missing values.
    ngroups : dict
        {grouping factor: number of levels}, as lme4's ``ngrps``.
    reml : bool
    formula, group, re_formula : str
        As given to :func:`fit_lmm`; with several random-effect terms ``formula`` is
        the lme4 formula and ``group`` and ``re_formula`` are None.
    data : pandas.DataFrame
        The complete-case rows the model was fitted to (used by :func:`lrt`).
    design_info : patsy.DesignInfo
        The fixed-effects design, reused by :meth:`predict`.
    engine : str
        The ``engine`` argument of :func:`fit_lmm` (reused by :func:`lrt`'s refit).
    arms : str
        The arms of the model families and the reference (e.g. "arms: control
        (reference), cbt, mindfulness"); empty for :func:`fit_lmm` alone.
    weights : numpy.ndarray or None
        lme4's prior weights (``fit_lmm(weights=)``), one per row of ``data`` in its
        order (row i has residual variance ``sigma2 / weights[i]``); None when unweighted.
    """

    fixed: pd.DataFrame
    re_cov: pd.DataFrame | dict[str, pd.DataFrame]
    re_sd_corr: pd.DataFrame | dict[str, pd.DataFrame]
    sigma2: float
    loglik: float
    aic: float
    bic: float
    converged: bool
    singular: bool
    warnings: list[str]
    random_effects: pd.DataFrame | dict[str, pd.DataFrame]
    random_effects_sd: pd.DataFrame | dict[str, pd.DataFrame]
    cov_beta: pd.DataFrame
    fitted: pd.Series
    nobs: int
    ngroups: dict[str, int]
    n_dropped: int
    reml: bool
    formula: str
    group: str | None
    re_formula: str | None
    data: pd.DataFrame = field(repr=False)
    design_info: patsy.DesignInfo = field(repr=False)
    engine: str = "auto"
    arms: str = ""
    weights: np.ndarray | None = field(default=None, repr=False)

    @property
    def npar(self) -> int:
        """Number of parameters as lme4 counts them (fixed, variances and covariances, residual)."""
        return len(self.fixed) + len(self.varcorr)

    @property
    def varcorr(self) -> pd.DataFrame:
        """Variance components laid out as R's ``as.data.frame(VarCorr(fit))``.

        Returns
        -------
        pandas.DataFrame
            Columns ``grp`` (the grouping factor; lme4's labels, made unique as
            ``make.names`` does when a factor has several terms, e.g.
            ``participant_id`` and ``participant_id.1`` for ``(time || participant_id)``),
            ``var1``, ``var2`` (missing for variances), ``vcov`` and ``sdcor`` (SD of
            a variance, correlation of a covariance). Rows in lme4's order: per term
            (terms by decreasing number of levels), its variances, then its
            covariances (column by column of the lower triangle); the residual last
            with ``grp == "Residual"``. Names are patsy's (``Intercept`` where lme4
            writes ``(Intercept)``); a nested factor ``a/b`` is labelled ``a:b``
            (lme4: ``b:a``), its levels ``"a-level:b-level"``.
        """
        covs = self.re_cov if isinstance(self.re_cov, dict) else {self.group: self.re_cov}
        return _varcorr(covs, self.sigma2)

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
            _varcorr_table(self.varcorr),
            f"Number of obs: {self.nobs}, groups:  {_groups(self)}"
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


def _varcorr(covs: dict[str, pd.DataFrame], sigma2: float) -> pd.DataFrame:
    """lme4's ``as.data.frame(VarCorr())`` from each term's covariance matrix and the residual variance."""
    residual = pd.DataFrame([("Residual", None, None, sigma2, np.sqrt(sigma2))],
                            columns=["grp", "var1", "var2", "vcov", "sdcor"])
    terms = [_varcorr_frame(grp, list(cov.index), cov.to_numpy()) for grp, cov in covs.items()]
    return pd.concat([*terms, residual], ignore_index=True)


def _groups(result: LmmResult) -> str:
    """``participant_id, 240; therapist, 24`` as lme4's summary lists the grouping factors."""
    return "; ".join(f"{group}, {count}" for group, count in result.ngroups.items())


def _sd_corr(cov: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cov / np.outer(sd, sd)
    np.fill_diagonal(out, sd)
    return out


def _header(result: LmmResult) -> str:
    method = "REML" if result.reml else "maximum likelihood"
    lines = [f"Linear mixed model fit by {method}. t-tests use Satterthwaite's method",
             (f"Formula: {result.formula}" if result.group is None else
              f"Formula: {result.formula}, random: {result.re_formula} | {result.group}"),
             ""]
    deviance = -2 * result.loglik
    if result.reml:
        lines.append(f"REML criterion at convergence: {deviance:.1f}")
    else:
        lines.append(f"{'AIC':>9}{'BIC':>9}{'logLik':>9}{'deviance':>9}{'df.resid':>9}")
        lines.append(f"{result.aic:9.1f}{result.bic:9.1f}{result.loglik:9.1f}"
                     f"{deviance:9.1f}{result.nobs - result.npar:9d}")
    return "\n".join(lines)


def _fixed_table(fixed: pd.DataFrame) -> str:
    table = fixed[["estimate", "se", "df", "t", "p"]].copy()
    table.columns = ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
    return table.to_string(float_format=lambda v: f"{v:.4g}")


def _varcorr_frame(group: str, names: list[str], cov: np.ndarray) -> pd.DataFrame:
    """One grouping factor's random-effect covariance laid out as R's ``as.data.frame(VarCorr(fit))``.

    Parameters
    ----------
    group : str
        The grouping factor (``grp``).
    names : list of str
        The random-effect terms (patsy names, e.g. ``Intercept``, ``time``).
    cov : array, shape (q, q)
        Their covariance matrix.

    Returns
    -------
    pandas.DataFrame
        Columns ``grp``, ``var1``, ``var2``, ``vcov``, ``sdcor``: the variances
        first (``var2`` missing, ``sdcor`` the SD), then the covariances column by
        column of the lower triangle (``sdcor`` the correlation), as lme4's default
        ``order = "cov.last"``.
    """
    sd_corr = _sd_corr(cov)
    rows = [(group, name, None, cov[i, i], sd_corr[i, i]) for i, name in enumerate(names)]
    rows += [(group, names[j], names[i], cov[i, j], sd_corr[i, j])
             for j in range(len(names)) for i in range(j + 1, len(names))]
    return pd.DataFrame(rows, columns=["grp", "var1", "var2", "vcov", "sdcor"])


def _varcorr_table(varcorr: pd.DataFrame) -> str:
    """The ``Random effects:`` block of lme4's summary from a :func:`_varcorr_frame`-style table.

    One line per variance (the group named on its first line), with the
    correlations of each term with the earlier terms of its group in the ``Corr``
    columns; a ``Residual`` row is shown as lme4 shows it.
    """
    rows = []
    for group, block in varcorr.groupby("grp", sort=False):
        variances = block[block["var2"].isna()]
        names = list(variances["var1"])
        corr = {(r.var1, r.var2): r.sdcor for r in block[block["var2"].notna()].itertuples()}
        for k, row in enumerate(variances.itertuples()):
            shown = " ".join(f"{corr[(earlier, row.var1)]:5.2f}" for earlier in names[:k])
            rows.append((group if k == 0 else "", "" if group == "Residual" else row.var1,
                         row.vcov, row.sdcor, shown))
    width = max(len(r[0]) for r in rows) + 1
    name_width = max(len(r[1]) for r in rows) + 1
    lines = ["Random effects:",
             f" {'Groups':<{width}}{'Name':<{name_width}}{'Variance':>10} {'Std.Dev.':>9} Corr"]
    lines += [f" {g:<{width}}{n:<{name_width}}{v:10.4g} {s:9.4g} {c}".rstrip() for g, n, v, s, c in rows]
    return "\n".join(lines)


def _wald_frame(estimates: pd.Series, cov_beta: np.ndarray, level: float = 0.95) -> pd.DataFrame:
    """Fixed effects with Wald z tests and intervals (lme4's summary of a glmer fit).

    Returns
    -------
    pandas.DataFrame
        Index ``term``; columns ``estimate``, ``se``, ``z``, ``p`` (two-sided,
        normal) and the Wald interval ``ci_low``, ``ci_high``.
    """
    se = np.sqrt(np.diag(cov_beta))
    value = estimates.to_numpy()
    half = stats.norm.ppf(0.5 + level / 2) * se
    return pd.DataFrame({"estimate": value, "se": se, "z": value / se, "p": 2 * stats.norm.sf(np.abs(value / se)),
                         "ci_low": value - half, "ci_high": value + half},
                        index=pd.Index(estimates.index, name="term"))
