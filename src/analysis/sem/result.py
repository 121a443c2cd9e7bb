"""The fitted model: parameter estimates and fit measures laid out as lavaan's."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["PARAMETER_COLUMNS", "SemResult", "wald"]

#: Columns of ``SemResult.parameters`` (lavaan's ``parameterEstimates(standardized = TRUE)``).
PARAMETER_COLUMNS = ["lhs", "op", "rhs", "group", "label", "estimate", "se", "z", "p", "ci_low", "ci_high",
                     "std_all"]


@dataclass(frozen=True, eq=False)
class SemResult:
    """A fitted structural equation model.

    Attributes
    ----------
    parameters : pandas.DataFrame
        One row per parameter and group as lavaan's ``parameterEstimates()``:
        ``lhs``, ``op`` (``=~``, ``~``, ``~~``, ``~1``, ``:=``), ``rhs``, ``group``
        (1..G; 0 for defined parameters), ``label``, ``estimate``, ``se``, ``z``,
        ``p``, ``ci_low``, ``ci_high`` (Wald, or percentile with ``se="bootstrap"``;
        fixed parameters have ``se`` 0, no ``z`` or ``p``), ``std_all`` (completely
        standardized).
    fit : pandas.Series
        lavaan's ``fitMeasures()`` names with ``_`` for ``.``: ``npar``, ``chisq``,
        ``df``, ``pvalue``, ``baseline_chisq``, ``baseline_df``, ``cfi``, ``tli``,
        ``logl``, ``unrestricted_logl``, ``aic``, ``bic``, ``ntotal``, ``rmsea``,
        ``rmsea_ci_lower``, ``rmsea_ci_upper``, ``srmr``; with ``estimator="MLR"``
        also ``chisq_scaled``, ``df_scaled``, ``pvalue_scaled``,
        ``chisq_scaling_factor``, ``baseline_chisq_scaled``, ``baseline_df_scaled``,
        ``baseline_pvalue_scaled``, ``baseline_chisq_scaling_factor``, ``cfi_scaled``,
        ``tli_scaled``, ``cfi_robust``, ``tli_robust``, ``rmsea_scaled``,
        ``rmsea_ci_lower_scaled``, ``rmsea_ci_upper_scaled``, ``rmsea_robust``,
        ``rmsea_ci_lower_robust``, ``rmsea_ci_upper_robust`` (:mod:`analysis.sem.robust_fit`).
    vcov : pandas.DataFrame
        Covariance matrix of the free parameters (named by label or ``lhs op rhs``).
    groups : list
        Group values in order (``[None]`` for one group).
    nobs : list of int
        Cases used per group.
    estimator : str
        ``"ML"`` or ``"MLR"``.
    missing : str
        ``"fiml"`` when missing values were handled by full-information ML,
        ``"complete"`` when the data had none, ``"listwise"``.
    information : str
        ``"expected"`` or ``"observed"``.
    converged : bool
    warnings : list of str
    state : analysis.sem.fitting.Fitted
        What later computations need (problem, estimates, tables).
    se : str
        ``"standard"`` (inverse information), ``"robust"`` (Huber-White sandwich) or
        ``"bootstrap"``.
    bootstrap : analysis.sem.bootstrap.BootstrapRecord or None
        With ``se="bootstrap"``: replicates requested and failed, seed, the kept
        replicates' estimates and the interval method (percentile).
    """

    parameters: pd.DataFrame
    fit: pd.Series
    vcov: pd.DataFrame = field(repr=False)
    groups: list = field(default_factory=list)
    nobs: list = field(default_factory=list)
    estimator: str = "ML"
    missing: str = "complete"
    information: str = "expected"
    converged: bool = True
    warnings: list = field(default_factory=list)
    state: object = field(default=None, repr=False)
    se: str = "standard"
    bootstrap: object = field(default=None, repr=False)

    def summary(self) -> str:
        """Text summary: estimator, cases, fit and the parameter table."""
        fit = self.fit
        cases = ", ".join(f"{g}: {n}" if g is not None else str(n) for g, n in zip(self.groups, self.nobs))
        lines = [f"Estimator {self.estimator}, {self.information} information, missing: {self.missing}",
                 f"Cases: {cases}",
                 (f"Chi-square {fit['chisq']:.3f}, df {fit['df']:.0f}, p {fit['pvalue']:.3g}; CFI {fit['cfi']:.3f}, "
                 f"TLI {fit['tli']:.3f}, RMSEA {fit['rmsea']:.3f} [{fit['rmsea_ci_lower']:.3f}, "
                 f"{fit['rmsea_ci_upper']:.3f}], SRMR {fit['srmr']:.3f}")]
        if "chisq_scaled" in fit:
            lines.append(f"Scaled chi-square {fit['chisq_scaled']:.3f} (scaling factor "
                         f"{fit['chisq_scaling_factor']:.3f}), p {fit['pvalue_scaled']:.3g}")
        if "cfi_robust" in fit:
            lines += [f"{kind.capitalize()}: CFI {fit[f'cfi_{kind}']:.3f}, TLI {fit[f'tli_{kind}']:.3f}, RMSEA "
                      f"{fit[f'rmsea_{kind}']:.3f} [{fit[f'rmsea_ci_lower_{kind}']:.3f}, "
                      f"{fit[f'rmsea_ci_upper_{kind}']:.3f}]" for kind in ("scaled", "robust")]
        if self.bootstrap is not None:
            boot = self.bootstrap
            lines.append(f"Bootstrap standard errors: {boot.kept} of {boot.requested} replicates (seed "
                         f"{boot.seed}), {boot.interval} intervals")
        elif self.se == "robust":
            lines.append("Robust (Huber-White) standard errors")
        lines += ["", self.parameters.to_string(float_format=lambda v: f"{v:.4g}")]
        if self.warnings:
            lines += ["", "Warnings:"] + [f"  {w}" for w in self.warnings]
        return "\n".join(lines)

    def estimate(self, lhs: str, op: str, rhs: str = "", group: int = 1) -> float:
        """One estimate by ``lhs``, ``op``, ``rhs`` (and group)."""
        rows = self.parameters
        hit = rows[(rows.lhs == lhs) & (rows.op == op) & (rows.rhs == rhs) & (rows.group.isin([group, 0]))]
        if hit.empty:
            raise KeyError(f"no parameter {lhs} {op} {rhs} in group {group}")
        return float(hit.estimate.iloc[0])


def wald(estimate: np.ndarray, se: np.ndarray, conf_level: float) -> dict:
    """z, p and Wald interval; rows with se 0 (fixed) get no z or p and a degenerate interval."""
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, estimate / se, np.nan)
    half = stats.norm.ppf((1 + conf_level) / 2) * se
    return {"z": z, "p": 2 * stats.norm.sf(np.abs(z)), "ci_low": estimate - half, "ci_high": estimate + half}
