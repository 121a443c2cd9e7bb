r"""Maximum likelihood for structural equation models: complete data and FIML.

With complete data the ML discrepancy of group :math:`g` (``n_g`` cases, sample
mean :math:`\bar y` and covariance :math:`S` with divisor ``n_g``, as lavaan's
``likelihood = "normal"``) is

.. math::

   F_g = \log|\Sigma| + \operatorname{tr}(S \Sigma^{-1}) - \log|S| - p
         + (\bar y - \mu)' \Sigma^{-1} (\bar y - \mu),

and :math:`F = \sum_g (n_g / N) F_g` is minimised (without a mean structure
:math:`\mu = \bar y`). With missing values (``missing="fiml"``) :math:`F` is
:math:`-2/N` times the full-information log-likelihood, each missingness pattern
contributing the normal density of its observed variables (lavaan's
``missing = "ml"``). The gradient is analytic (:meth:`Structure.derivatives`); the
minimum is found by Fisher scoring with step halving, then BFGS-updated steps
near the minimum, without bounds (a negative variance can appear, as in lavaan).

Standard errors use the expected information with complete data and the observed
information (numerical Hessian: central differences of the analytic gradient)
with FIML, as lavaan's defaults for these two cases.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import optimize

from .model import Structure

__all__ = [
    "ConvergenceFailure",
    "GroupData",
    "ModelIdentificationError",
    "Patterns",
    "Problem",
    "em_saturated",
    "information",
    "jacobian",
    "missing_patterns",
    "optimise",
    "vcov",
]

#: Iterations, target and accepted largest |gradient| of F, step halvings, gradient below
#: which the numerical Hessian replaces the expected one.
MAX_ITER = 300
GRADIENT_TOL = 1e-10
CONVERGED = 1e-6
HALVINGS = 40
NEWTON_SWITCH = 1e-2
#: Relative step of the central differences of the gradient (observed information).
HESSIAN_STEP = 1e-5
#: An information eigenvalue below this share of the largest is singular.
SINGULAR = 1e-10
#: Step of the five-point central differences of :func:`jacobian` (lavaan's numerical derivatives).
JACOBIAN_STEP = 1e-5
#: EM for the unrestricted (h1) model: iterations and relative log-likelihood tolerance.
EM_MAX_ITER = 20000
EM_TOL = 1e-10


class ModelIdentificationError(ValueError):
    """The model is not identified: more parameters than moments, or a singular information matrix."""


class ConvergenceFailure(ValueError):
    """The optimiser found no admissible minimum (the implied covariance never became positive definite)."""


@dataclass(frozen=True)
class GroupData:
    """The data of one group: values (cases x observed variables) and their sufficient statistics.

    Attributes
    ----------
    label : object
        Group value (``None`` for a single group).
    values : numpy.ndarray
        Cases (rows with at least one observed value) by observed variables.
    mean, cov : numpy.ndarray
        Sample mean and ML covariance (divisor n) with complete data; the EM
        (unrestricted FIML) estimates with missing values.
    patterns : list or None
        Missingness patterns (FIML) or None for complete data.
    h1_loglik : float
        Log-likelihood of the unrestricted model.
    """

    label: object
    values: np.ndarray
    mean: np.ndarray
    cov: np.ndarray
    patterns: list | None
    h1_loglik: float
    em_converged: bool = True

    @property
    def n(self) -> int:
        return len(self.values)

    @classmethod
    def from_values(cls, label, values: np.ndarray, fiml: bool) -> GroupData:
        """Sufficient statistics; patterns and the EM saturated model when ``fiml`` and values are missing."""
        n, p = values.shape
        if fiml and np.isnan(values).any():
            patterns = missing_patterns(values)
            mean, cov, h1, converged = em_saturated(values, patterns)
            return cls(label, values, mean, cov, patterns, h1, converged)
        mean = values.mean(axis=0)
        centred = values - mean
        cov = centred.T @ centred / n
        h1 = -n / 2 * (p * np.log(2 * np.pi) + np.linalg.slogdet(cov)[1] + p)
        return cls(label, values, mean, cov, None, h1)


@dataclass(frozen=True)
class Patterns:
    """Sufficient statistics of the missingness patterns with the same number of observed
    variables, stacked: observed indices (k, m), cases (k), means (k, m), ML covariances (k, m, m)."""

    observed: np.ndarray
    n: np.ndarray
    mean: np.ndarray
    cov: np.ndarray


def _pattern_rows(values: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(observed mask, rows) for each missingness pattern."""
    keys, inverse = np.unique(~np.isnan(values), axis=0, return_inverse=True)
    return [(key, values[inverse.ravel() == k]) for k, key in enumerate(keys)]


def missing_patterns(values: np.ndarray) -> list[Patterns]:
    """The missingness patterns of ``values`` (cases x variables, NaN missing), grouped by size."""
    groups = {}
    for key, rows in _pattern_rows(values):
        rows = rows[:, key]
        centred = rows - rows.mean(axis=0)
        groups.setdefault(int(key.sum()), []).append(
            (np.flatnonzero(key), len(rows), rows.mean(axis=0), centred.T @ centred / len(rows)))
    return [Patterns(*(np.array(part) for part in zip(*group))) for _, group in sorted(groups.items())]


def em_saturated(values: np.ndarray, patterns: list[Patterns]):
    """FIML estimates of an unrestricted mean and covariance by EM.

    Returns
    -------
    mu, sigma : numpy.ndarray
    loglik : float
    converged : bool
        Whether the log-likelihood settled within ``EM_MAX_ITER`` iterations.
    """
    mu = np.nanmean(values, axis=0)
    sigma = np.diag(np.nanvar(values, axis=0))
    n, p = values.shape
    groups = _pattern_rows(values)
    previous = -np.inf
    for _ in range(EM_MAX_ITER):
        first, second = np.zeros(p), np.zeros((p, p))
        for key, rows in groups:
            o, m = np.flatnonzero(key), np.flatnonzero(~key)
            filled = np.where(np.isnan(rows), 0.0, rows)
            if m.size:
                coef = np.linalg.solve(sigma[np.ix_(o, o)], sigma[np.ix_(o, m)])
                filled[:, m] = mu[m] + (rows[:, o] - mu[o]) @ coef
                second[np.ix_(m, m)] += len(rows) * (sigma[np.ix_(m, m)] - sigma[np.ix_(m, o)] @ coef)
            first += filled.sum(axis=0)
            second += filled.T @ filled
        mu = first / n
        sigma = second / n - np.outer(mu, mu)
        current = fiml_loglik(mu, sigma, patterns)[0]
        if current - previous < EM_TOL * max(1.0, abs(current)):
            return mu, sigma, current, True
        previous = current
    return mu, sigma, current, False


def jacobian(func, theta: np.ndarray) -> np.ndarray:
    """Jacobian of a vector function by lavaan's five-point central differences."""
    h = JACOBIAN_STEP
    columns = []
    for j in range(len(theta)):
        step = np.zeros_like(theta)
        step[j] = h
        columns.append((np.atleast_1d(func(theta - 2 * step)) - 8 * np.atleast_1d(func(theta - step))
                        + 8 * np.atleast_1d(func(theta + step)) - np.atleast_1d(func(theta + 2 * step)))
                       / (12 * h))
    return np.column_stack(columns)


def fiml_loglik(mu: np.ndarray, sigma: np.ndarray, patterns: list):
    """FIML log-likelihood and its gradient in Sigma (full matrix) and mu.

    Each missingness pattern contributes the normal log-likelihood of its observed
    variables from its sufficient statistics (:func:`missing_patterns`);
    the gradients are scattered back with ``bincount``.

    Raises
    ------
    numpy.linalg.LinAlgError
        Where an observed block of ``sigma`` is not positive definite.
    """
    p = len(mu)
    total, d_sigma, d_mu = 0.0, np.zeros(p * p), np.zeros(p)
    for pat in patterns:
        rows, cols = pat.observed[:, :, None], pat.observed[:, None, :]
        block = sigma[rows, cols]
        chol = np.linalg.cholesky(block)
        inv = np.linalg.inv(block)
        dev = pat.mean - mu[pat.observed]
        cross = pat.cov + dev[:, :, None] * dev[:, None, :]
        logdet = 2 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        m = pat.observed.shape[1]
        total -= np.sum(pat.n / 2 * (m * np.log(2 * np.pi) + logdet + np.sum(inv * cross, axis=(1, 2))))
        part = -pat.n[:, None, None] / 2 * (inv - inv @ cross @ inv)
        d_sigma += np.bincount((rows * p + cols).ravel(), part.ravel(), minlength=p * p)
        d_mu += np.bincount(pat.observed.ravel(), (pat.n[:, None] * np.einsum("kij,kj->ki", inv, dev)).ravel(),
                            minlength=p)
    return total, d_sigma.reshape(p, p), d_mu


@dataclass(frozen=True)
class Problem:
    """The discrepancy function of a model over its groups.

    Attributes
    ----------
    structures : list of Structure
        One per group.
    groups : list of GroupData
    """

    structures: list
    groups: list

    @property
    def n_total(self) -> int:
        return sum(g.n for g in self.groups)

    @property
    def fiml(self) -> bool:
        return any(g.patterns is not None for g in self.groups)

    @property
    def n_par(self) -> int:
        return self.structures[0].n_par

    def discrepancy(self, theta: np.ndarray, gradient: bool = True):
        """F and (optionally) its gradient; ``(inf, nan)`` where an implied covariance is not positive definite."""
        total, grad = 0.0, np.zeros(self.n_par)
        try:
            for structure, group in zip(self.structures, self.groups):
                value, w_sigma, w_mu = self._group(structure, group, theta)
                weight = group.n / self.n_total
                total += weight * value
                if gradient:
                    d_mu, d_sigma = structure.derivatives(theta)
                    grad += weight * (np.einsum("kpq,pq->k", d_sigma, w_sigma) + d_mu @ w_mu)
        except np.linalg.LinAlgError:
            return np.inf, np.full(self.n_par, np.nan)
        return total, grad

    @staticmethod
    def _group(structure: Structure, group: GroupData, theta: np.ndarray):
        """F_g, dF_g/dSigma, dF_g/dmu of one group."""
        mu, sigma = structure.moments(theta)
        if not structure.meanstructure:
            mu = group.mean
        if group.patterns is not None:
            loglik, d_sigma, d_mu = fiml_loglik(mu, sigma, group.patterns)
            return -2 * loglik / group.n, -2 * d_sigma / group.n, -2 * d_mu / group.n
        chol = np.linalg.cholesky(sigma)
        root = np.linalg.inv(chol)
        inv = root.T @ root
        dev = group.mean - mu
        logdet = 2 * np.log(np.diag(chol)).sum()
        cross = group.cov + np.outer(dev, dev)
        value = logdet + np.sum(inv * cross) - np.linalg.slogdet(group.cov)[1] - len(sigma)
        return value, inv - inv @ cross @ inv, -2 * inv @ dev

    def loglik(self, theta: np.ndarray) -> float:
        """Log-likelihood of the model at ``theta``."""
        total = 0.0
        for structure, group in zip(self.structures, self.groups):
            mu, sigma = structure.moments(theta)
            if not structure.meanstructure:
                mu = group.mean
            if group.patterns is not None:
                total += fiml_loglik(mu, sigma, group.patterns)[0]
            else:
                value = self._group(structure, group, theta)[0]
                total += group.h1_loglik - group.n / 2 * value
        return total

    def expected_hessian(self, theta: np.ndarray) -> np.ndarray:
        """Expected second derivatives of F: sum_g (n_g/N) [tr(S^-1 dS_k S^-1 dS_l) + 2 dmu_k' S^-1 dmu_l]."""
        total = np.zeros((self.n_par, self.n_par))
        for structure, group in zip(self.structures, self.groups):
            sigma = structure.moments(theta)[1]
            d_mu, d_sigma = structure.derivatives(theta)
            root = np.linalg.inv(np.linalg.cholesky(sigma))
            white = (root @ d_sigma @ root.T).reshape(self.n_par, -1)
            part = white @ white.T
            if structure.meanstructure:
                scaled = root @ d_mu.T
                part += 2 * scaled.T @ scaled
            total += group.n / self.n_total * part
        return total

    def observed_hessian(self, theta: np.ndarray) -> np.ndarray:
        """Second derivatives of F: central differences of the analytic gradient, symmetrised."""
        columns = []
        for j in range(len(theta)):
            step = np.zeros_like(theta)
            step[j] = HESSIAN_STEP * max(1.0, abs(theta[j]))
            columns.append((self.discrepancy(theta + step)[1] - self.discrepancy(theta - step)[1]) / (2 * step[j]))
        hess = np.column_stack(columns)
        return (hess + hess.T) / 2


def optimise(problem: Problem, start: np.ndarray):
    """Minimise F: Fisher scoring with step halving, then quasi-Newton (BFGS) steps near the minimum.

    Fisher scoring (expected Hessian) is robust far from the minimum but converges
    only linearly when the model misfits; once the largest gradient is below
    ``NEWTON_SWITCH`` the expected Hessian is refined by BFGS updates from step to
    step, which converge superlinearly. Where scoring stalls (it can be drawn
    towards an improper solution, e.g. one group's loadings running off to -200 with
    a latent variance near 0 from lavaan's simple start), SciPy's BFGS with the
    analytic gradient starts again from ``start`` and the lower converged minimum is kept.

    Returns
    -------
    theta : numpy.ndarray
    converged : bool
    iterations : int

    Raises
    ------
    ConvergenceFailure
        If the start values give no positive-definite implied covariance matrix.
    """
    theta = np.asarray(start, float)
    value, grad = problem.discrepancy(theta)
    if not np.isfinite(value):
        raise ConvergenceFailure("the start values imply a covariance matrix that is not positive definite")
    iteration, hess = 0, None
    for iteration in range(1, MAX_ITER + 1):
        if np.max(np.abs(grad)) < GRADIENT_TOL:
            break
        scoring = hess is None
        if scoring:
            hess = problem.expected_hessian(theta)
        direction = _solve(hess, grad)
        step = 1.0
        for _ in range(HALVINGS):
            trial = theta - step * direction
            trial_value = problem.discrepancy(trial, gradient=False)[0]
            if np.isfinite(trial_value) and trial_value <= value:
                break
            step /= 2
        else:
            break
        if trial_value >= value and step < 1:
            break
        trial_grad = problem.discrepancy(trial)[1]
        if np.max(np.abs(trial_grad)) < NEWTON_SWITCH:
            hess = _bfgs_update(hess, trial - theta, trial_grad - grad)
        else:
            hess = None
        theta, value, grad = trial, trial_value, trial_grad
    converged = bool(np.all(np.isfinite(grad)) and np.max(np.abs(grad)) < CONVERGED)
    if not converged:
        theta, converged, value = _bfgs_restart(problem, start, theta, value)
    return theta, converged, iteration


def _bfgs_restart(problem: Problem, start: np.ndarray, stalled: np.ndarray, stalled_value: float):
    """SciPy's BFGS from the start values; its optimum where it converges lower than the stalled point."""
    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = problem.discrepancy(theta)
        return (value, grad) if np.isfinite(value) else (np.inf, np.zeros_like(theta))

    result = optimize.minimize(objective, start, jac=True, method="BFGS",
                               options={"gtol": CONVERGED / 10, "maxiter": 20 * MAX_ITER})
    grad = problem.discrepancy(result.x)[1]
    converged = bool(np.isfinite(result.fun) and np.max(np.abs(grad)) < CONVERGED)
    if converged and result.fun <= stalled_value:
        return result.x, True, result.fun
    return stalled, False, stalled_value


def _solve(hess: np.ndarray, grad: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.solve(hess, grad)
    except np.linalg.LinAlgError:
        return np.linalg.lstsq(hess, grad, rcond=None)[0]


def _bfgs_update(hess: np.ndarray, step: np.ndarray, change: np.ndarray) -> np.ndarray:
    """BFGS update of a Hessian approximation (kept when the curvature condition fails)."""
    curvature = step @ change
    if not curvature > 1e-16 * np.linalg.norm(step) * np.linalg.norm(change):
        return hess
    hs = hess @ step
    return hess + np.outer(change, change) / curvature - np.outer(hs, hs) / (step @ hs)


def information(problem: Problem, theta: np.ndarray, kind: str) -> np.ndarray:
    """Information matrix of the parameters for all N cases: ``"expected"`` or ``"observed"``."""
    hess = problem.expected_hessian(theta) if kind == "expected" else problem.observed_hessian(theta)
    return problem.n_total / 2 * hess


def vcov(info: np.ndarray, labels: list[str]) -> tuple[np.ndarray, str | None]:
    """Inverse information, and a message where there is none to invert.

    A singular information matrix (an eigenvalue near 0) means the model is not
    identified and is refused, naming the parameters it involves. A clearly
    negative eigenvalue means the estimates are not at a proper minimum (the
    optimiser stopped short, or ran into an inadmissible region): the estimates are
    kept, with no standard errors (NaN) and a message saying why, as lavaan warns
    that it could not compute them.

    Raises
    ------
    ModelIdentificationError
    """
    values, vectors = np.linalg.eigh(info)
    scale = SINGULAR * max(values.max(), 1.0)
    if values.min() < -scale:
        return np.full_like(info, np.nan), (
            f"the information matrix is not positive definite (smallest eigenvalue {values.min():.3g}): the "
            "estimates are not at a proper minimum, so there are no standard errors")
    if values.min() <= scale:
        null = np.abs(vectors[:, 0])
        involved = [labels[k] for k in np.argsort(-null)[:4] if null[k] > 0.1]
        raise ModelIdentificationError(
            f"the model is not identified: the information matrix is singular (smallest eigenvalue "
            f"{values.min():.3g}); the parameters involved include {', '.join(involved)}. Fix a loading or a "
            "variance to set each latent variable's scale, or free fewer parameters")
    return np.linalg.inv(info), None


def frame_labels(table: pd.DataFrame) -> list[str]:
    """A name per free parameter: its label, or ``lhs op rhs`` (with the group when several)."""
    names = {}
    several = table.group.max() > 1
    for lhs, op, rhs, group, free, label in table[["lhs", "op", "rhs", "group", "free", "label"]] \
            .itertuples(index=False):
        if free >= 0 and free not in names:
            names[free] = label or f"{lhs}{op}{rhs}" + (f" (group {group})" if several else "")
    return [names[k] for k in range(len(names))]
