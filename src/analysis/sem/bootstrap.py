"""Bootstrap standard errors and percentile intervals, as lavaan's ``se = "bootstrap"``.

The ordinary nonparametric bootstrap: each replicate draws the cases of every
group with replacement (group sizes kept) and refits the model from the estimates.
Replicates whose data cannot be fitted (a sample covariance matrix that is not
positive definite, implied moments that never become positive definite) or whose
fit does not converge are dropped and counted, as lavaan drops them with a warning.

From the ``B`` kept replicates, as lavaan 0.6-14 computes them:

* the standard error of a free parameter is the SD of its replicate estimates with
  divisor ``B`` (lavaan's ``cov(COEF) * (B - 1) / B``); that of a defined parameter
  (``:=``) the SD with divisor ``B - 1`` of the definition evaluated at each
  replicate (lavaan's ``cov(BOOT.def)``);
* the interval is the percentile interval (``parameterEstimates(boot.ci.type =
  "perc")``) with the boot package's interpolation on the normal quantile scale
  (``norm.inter``) between order statistics.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterable

import numpy as np
from scipy import stats
from tqdm import tqdm

from .estimation import ConvergenceFailure, GroupData, Problem, optimise
from .model import Structure, fill_exo

__all__ = ["BootstrapRecord", "draw_indices", "norm_inter", "percentile_interval", "replicate_estimates", "run"]


@dataclass(frozen=True)
class BootstrapRecord:
    """What the bootstrap did.

    Attributes
    ----------
    requested : int
        Replicates drawn.
    failed : int
        Replicates dropped: data that could not be fitted, or a fit that did not converge.
    seed : int or None
        Seed of the resampling.
    estimates : numpy.ndarray
        Free-parameter estimates of the kept replicates (kept x parameters).
    interval : str
        How the intervals were formed (``"percentile"``).
    """

    requested: int
    failed: int
    seed: int | None
    estimates: np.ndarray = field(repr=False)
    interval: str = "percentile"

    @property
    def kept(self) -> int:
        return self.requested - self.failed

    @property
    def vcov(self) -> np.ndarray:
        """Covariance of the kept replicates' estimates, divisor ``kept`` (lavaan's)."""
        return np.cov(self.estimates, rowvar=False, ddof=0).reshape(self.estimates.shape[1], -1)

    def message(self) -> str | None:
        """lavaan's warning where replicates were dropped."""
        if not self.failed:
            return None
        return (f"{self.failed} of {self.requested} bootstrap replicates failed or did not converge and were "
                f"dropped; standard errors and intervals use the other {self.kept}")


def draw_indices(sizes: list[int], replicates: int, seed: int | None) -> Iterable[list[np.ndarray]]:
    """Row indices of each replicate: per group, ``n_g`` draws with replacement."""
    rng = np.random.default_rng(seed)
    for _ in range(replicates):
        yield [rng.integers(0, n, size=n) for n in sizes]


def run(fitted, replicates: int, seed: int | None, progress: bool, who: str) -> BootstrapRecord:
    """The bootstrap of a fit: ``replicates`` resamples drawn with ``seed``, refitted.

    Raises
    ------
    analysis.sem.ConvergenceFailure
        Fewer than two replicates could be fitted.
    """
    indices = draw_indices([g.n for g in fitted.problem.groups], replicates, seed)
    estimates, failed = replicate_estimates(fitted, indices, replicates, progress)
    if len(estimates) < 2:
        raise ConvergenceFailure(f"{who}: {failed} of {replicates} bootstrap replicates failed or did not "
                                 "converge; no bootstrap standard errors")
    return BootstrapRecord(replicates, failed, seed, estimates)


def _problem(fitted, resampled: list[GroupData]) -> Problem:
    """The model on resampled groups (fixed covariates' moments refilled from the resample)."""
    table = fill_exo(fitted.table, fitted.names, resampled)
    structures = [Structure.build(table, fitted.names, g, fitted.meanstructure) for g in range(1, len(resampled) + 1)]
    return Problem(structures, resampled)


def replicate_estimates(fitted, indices: Iterable[list[np.ndarray]], total: int | None = None,
                        progress: bool = False) -> tuple[np.ndarray, int]:
    """Refit the model on each resample of the groups' cases, from the estimates.

    Parameters
    ----------
    fitted : analysis.sem.fitting.Fitted
        The original fit (``SemResult.state``).
    indices : iterable of list of numpy.ndarray
        Per replicate, the rows drawn from each group (0-based; :func:`draw_indices`).
    total : int, optional
        Replicates (for the progress bar).
    progress : bool
        Show a progress bar.

    Returns
    -------
    estimates : numpy.ndarray
        Kept replicates x free parameters.
    failed : int
    """
    groups, kept, failed = fitted.problem.groups, [], 0
    for rows in tqdm(indices, total=total, desc="bootstrap", unit="replicate", disable=not progress):
        try:
            resampled = [GroupData.from_values(g.label, g.values[r], fiml=g.patterns is not None)
                         for g, r in zip(groups, rows)]
            estimate, converged, _ = optimise(_problem(fitted, resampled), fitted.theta)
        except (ConvergenceFailure, np.linalg.LinAlgError, ValueError):
            failed += 1
            continue
        if converged and np.all(np.isfinite(estimate)):
            kept.append(estimate)
        else:
            failed += 1
    return np.array(kept).reshape(len(kept), len(fitted.theta)), failed


def norm_inter(values: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """Quantiles as the boot package's ``norm.inter``: order statistics interpolated on the normal scale."""
    t = np.sort(values[np.isfinite(values)])
    r = len(t)
    if r == 0:
        return np.full(len(alpha), np.nan)
    rank = (r + 1) * np.asarray(alpha, float)
    k = np.trunc(rank).astype(int)
    out = np.empty(len(rank))
    for i, (rk, ki, a) in enumerate(zip(rank, k, alpha)):
        if ki == rk and 0 < ki <= r:
            out[i] = t[ki - 1]
        elif ki <= 0:
            out[i] = t[0]
        elif ki >= r:
            out[i] = t[-1]
        else:
            z, z0, z1 = stats.norm.ppf([a, ki / (r + 1), (ki + 1) / (r + 1)])
            out[i] = t[ki - 1] + (z - z0) / (z1 - z0) * (t[ki] - t[ki - 1])
    return out


def percentile_interval(draws: np.ndarray, conf_level: float) -> tuple[np.ndarray, np.ndarray]:
    """Percentile interval of each column of ``draws`` (replicates x quantities)."""
    alpha = np.array([(1 - conf_level) / 2, (1 + conf_level) / 2])
    bounds = np.array([norm_inter(column, alpha) for column in draws.T]).reshape(-1, 2)
    return bounds[:, 0], bounds[:, 1]
