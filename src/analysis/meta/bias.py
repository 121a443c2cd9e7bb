"""Small-study effects and publication bias: Egger's regression test and trim-and-fill, as metafor."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .inputs import FIXED, T_TESTS, MetaInputError
from .result import RmaResult, _pval
from .uni import _fit

__all__ = ["TRIMFILL_ESTIMATORS", "EggerResult", "TrimfillResult", "egger", "trimfill"]

TRIMFILL_ESTIMATORS = ("L0", "R0", "Q0")


@dataclass(frozen=True)
class EggerResult:
    """Regression test for funnel-plot asymmetry (``metafor::regtest``, model="rma", predictor="sei").

    Attributes
    ----------
    zval, pval : float
        Test statistic of the standard-error coefficient (a t value with ``dof``
        degrees of freedom for t-type tests) and its two-sided p-value.
    dof : int or None
        Degrees of freedom for t-type tests, else None.
    estimate, ci_lb, ci_ub : float or None
        Limit estimate as the standard error goes to 0 (the intercept) with its
        confidence interval; None for models with moderators.
    method, test : str
        Estimator and test of the model (the same as the fitted model's).
    """

    zval: float
    pval: float
    dof: int | None
    estimate: float | None
    ci_lb: float | None
    ci_ub: float | None
    method: str
    test: str

    def summary(self) -> str:
        """Text laid out like metafor's ``print.regtest``."""
        stat = "t" if self.dof is not None else "z"
        df = f", df = {self.dof}" if self.dof is not None else ""
        lines = ["Regression Test for Funnel Plot Asymmetry", "",
                 f"Model:     {'equal-effects' if self.method in FIXED else 'mixed-effects'} meta-regression model",
                 "Predictor: standard error", "",
                 f"Test for Funnel Plot Asymmetry: {stat} = {self.zval:.4f}{df}, p = {_pval(self.pval)}"]
        if self.estimate is not None:
            lines.append(f"Limit Estimate (as sei -> 0):   b = {self.estimate:.4f} "
                         f"(CI: {self.ci_lb:.4f}, {self.ci_ub:.4f})")
        return "\n".join(lines)


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


def egger(fit: RmaResult) -> EggerResult:
    """Egger's regression test: the model refitted with the standard errors as an extra moderator.

    As ``regtest(x, model="rma", predictor="sei")``: same estimator, test and
    level as the fitted model; the test statistic is that of the ``sqrt(vi)``
    coefficient. For intercept-only models the intercept is the limit estimate
    (the effect expected in a study of infinite precision).
    """
    X = np.column_stack([fit.X.to_numpy(), np.sqrt(fit.vi.to_numpy())])
    refit = _fit(fit.yi, fit.vi, pd.DataFrame(X, index=fit.X.index, columns=[*fit.X.columns, "sei"]),
                 fit.method, fit.test, fit.level, profile=False)
    limit = (refit.beta.iloc[0], refit.ci_lb.iloc[0], refit.ci_ub.iloc[0]) if fit.int_only else (None, None, None)
    return EggerResult(float(refit.zval.iloc[-1]), float(refit.pval.iloc[-1]),
                       refit.dof if fit.test in T_TESTS else None, *limit, fit.method, fit.test)


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

