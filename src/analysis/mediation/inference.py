"""Bootstrap, jackknife and quasi-Bayesian draws of the mediation effects, intervals and p-values.

* Nonparametric bootstrap: rows resampled with replacement (as frequency weights),
  both models refitted in batches (:func:`analysis.mediation.models.fit_batch`);
  the effects average the counterfactual predictions over the resampled rows.
* Jackknife: every leave-one-out fit, for the BCa acceleration.
* Quasi-Bayesian Monte Carlo (R's ``mediate(boot = FALSE)``): coefficients drawn
  from the normal distribution of each model's estimates (``vcov``), the residual
  SD of a linear mediator model fixed at its estimate.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pandas as pd
from scipy import stats

from .models import Fit, fit_batch

#: Bootstrap replicates (or draws) handled together (bounds memory at BATCH x n).
BATCH = 500


def resample_counts(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """How often each row is drawn in ``size`` resamples of n rows with replacement."""
    draws = rng.integers(0, n, size=(size, n)) + n * np.arange(size)[:, None]
    return np.bincount(draws.ravel(), minlength=size * n).reshape(size, n).astype(float)


def bootstrap_fits(x_m, y_m, x_y, y_y, families, n_boot: int, rng: np.random.Generator) -> Iterator[tuple]:
    """Batches of ``(coef_m, coef_y, sigma_m, weights)`` refitted to bootstrap resamples."""
    for start in range(0, n_boot, BATCH):
        weights = resample_counts(rng, len(y_m), min(BATCH, n_boot - start))
        yield (*_refit(x_m, y_m, x_y, y_y, families, weights), weights)


def leave_one_out_weights(n: int) -> Iterator[np.ndarray]:
    """Batches of row weights, each row of a batch leaving one row out (in order)."""
    for start in range(0, n, BATCH):
        weights = np.ones((min(BATCH, n - start), n))
        weights[np.arange(len(weights)), start + np.arange(len(weights))] = 0.0
        yield weights


def jackknife_fits(x_m, y_m, x_y, y_y, families) -> Iterator[tuple]:
    """Batches of ``(coef_m, coef_y, sigma_m, weights)`` leaving each row out in turn."""
    for weights in leave_one_out_weights(len(y_m)):
        yield (*_refit(x_m, y_m, x_y, y_y, families, weights), weights)


def _refit(x_m, y_m, x_y, y_y, families, weights):
    coef_m, sigma_m = fit_batch(x_m, y_m, weights, families[0])
    coef_y, _ = fit_batch(x_y, y_y, weights, families[1])
    return coef_m, coef_y, sigma_m


def quasi_bayes_fits(fit_m: Fit, fit_y: Fit, sims: int, rng: np.random.Generator) -> Iterator[tuple]:
    """Batches of ``(coef_m, coef_y, sigma_m, None)`` drawn from the estimates' normal distributions."""
    coef_m = rng.multivariate_normal(fit_m.coef, fit_m.vcov, size=sims, method="cholesky")
    coef_y = rng.multivariate_normal(fit_y.coef, fit_y.vcov, size=sims, method="cholesky")
    for start in range(0, sims, BATCH):
        rows = slice(start, start + BATCH)
        yield coef_m[rows], coef_y[rows], fit_m.sigma, None


def percentile(draws: np.ndarray, conf_level: float):
    alpha = (1 - conf_level) / 2
    return np.nanquantile(draws, alpha, axis=0), np.nanquantile(draws, 1 - alpha, axis=0)


def bca(draws: np.ndarray, estimate: np.ndarray, jack: np.ndarray, conf_level: float):
    """BCa limits per column: bias z0 from the replicates, acceleration from the jackknife."""
    alpha = (1 - conf_level) / 2
    low, high = np.full(draws.shape[1], np.nan), np.full(draws.shape[1], np.nan)
    for j in range(draws.shape[1]):
        column = draws[:, j][np.isfinite(draws[:, j])]
        share = np.mean(column < estimate[j])
        if not 0 < share < 1:
            continue
        z0 = stats.norm.ppf(share)
        dev = np.nanmean(jack[:, j]) - jack[:, j]
        accel = np.nansum(dev ** 3) / (6 * np.nansum(dev ** 2) ** 1.5)
        z = stats.norm.ppf([alpha, 1 - alpha])
        levels = stats.norm.cdf(z0 + (z0 + z) / (1 - accel * (z0 + z)))
        low[j], high[j] = np.quantile(column, levels)
    return low, high


def mediation_p(draws: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """``mediation``'s p-value: 2 min(share > 0, share < 0), 1 for a zero estimate."""
    p = []
    for column, est in zip(draws.T, estimate):
        column = column[np.isfinite(column)]
        p.append(1.0 if est == 0 else min(1.0, 2 * min(np.sum(column > 0), np.sum(column < 0)) / len(column)))
    return np.array(p)


def quasi_bayes_estimate(draws: np.ndarray, names) -> np.ndarray:
    """R's quasi-Bayesian point estimates: means of the draws, medians for the proportions mediated.

    ``Prop. Mediated (average)`` is the mean of the two arms' medians, as R computes it.
    """
    names = list(names)
    estimate = np.nanmean(draws, axis=0)
    for j, name in enumerate(names):
        if name.startswith("Prop. Mediated"):
            estimate[j] = np.nanmedian(draws[:, j])
    if "Prop. Mediated (average)" in names:
        arms = [names.index("Prop. Mediated (control)"), names.index("Prop. Mediated (treated)")]
        estimate[names.index("Prop. Mediated (average)")] = estimate[arms].mean()
    return estimate


def intervals(draws: np.ndarray, estimate: np.ndarray, jack: np.ndarray | None, method: str, conf_level: float):
    """Lower and upper limits per column by ``"percentile"`` or ``"bca"`` (which needs ``jack``)."""
    if method == "bca":
        return bca(draws, estimate, jack, conf_level)
    return percentile(draws, conf_level)


def effect_table(estimate, draws, jack, ci, conf_level, names):
    """The table of a result and messages about undefined intervals."""
    low, high = intervals(draws, estimate, jack, ci, conf_level)
    messages = []
    undefined = [name for name, lo in zip(names, low) if np.isnan(lo)]
    if undefined:
        messages.append(f"BCa interval undefined for {', '.join(undefined)} (all replicates on one "
                        "side of the estimate): use ci='percentile'")
    table = pd.DataFrame({"estimate": estimate, "ci_low": low, "ci_high": high,
                          "p": mediation_p(draws, estimate)}, index=pd.Index(list(names), name="effect"))
    return table, messages
