r"""Satterthwaite's denominator degrees of freedom, as lmerTest computes them: the variance
pieces (:math:`C`, its Jacobian, :math:`A`) that the estimands of :mod:`.estimands` are built on.

The variance parameters are :math:`\phi = (\theta, \sigma)`, where :math:`\theta`
holds the lower triangle of the relative Cholesky factor :math:`\Lambda`
(:math:`G = \sigma^2 \Lambda \Lambda'`). For a contrast :math:`L`,

.. math::

   \nu = \frac{2\, (L' C L)^2}{g' A g}, \quad
   C(\phi) = (X' V^{-1} X)^{-1}, \quad g = \partial (L' C L) / \partial \phi, \quad
   A = 2\, H^{-1},

with :math:`H` the Hessian of the deviance at the estimate, differentiated
numerically (central differences with Richardson extrapolation). The Jacobian of
all of :math:`C` is kept, so that :math:`g = (L' \partial_k C L)_k` for any
:math:`L` (lmerTest's ``Jac_list``).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from .design import _design, _weighted
from .deviance import _blocks, _cov_beta, _deviance, _theta
from .result import LmmResult

#: lmerTest's tolerance for zero eigenvalues of the deviance Hessian.
HESSIAN_TOL = 1e-8

#: lmerTest's tolerance for "all t statistics have the same df" (then the F test's df is their mean).
SAME_DF_TOL = 1e-8


#: Initial relative step and number of halvings for the numerical derivatives (Satterthwaite).
#: Two levels (error O(h^4)) match lmerTest's df as closely as four (max 6.3e-5 vs 6.6e-5
#: relative over the lme4 reference fits) at 40% of the deviance evaluations.
STEP = 1e-2


RICHARDSON_LEVELS = 2


def _satterthwaite(varpar: np.ndarray, blocks: dict, reml: bool):
    """Covariance of beta_hat, Satterthwaite df per coefficient, and Hessian warnings."""
    pieces = _single_factor_pieces(varpar, blocks, reml)
    return pieces.cov_beta, pieces.df(np.eye(len(pieces.cov_beta))), pieces.messages


@dataclass(frozen=True)
class _Satterthwaite:
    r"""What Satterthwaite's df of any contrast needs (lmerTest's vcov_beta, Jac_list, vcov_varpar).

    Attributes
    ----------
    cov_beta : numpy.ndarray
        :math:`C`, the covariance of the fixed effects (p x p).
    jacobian : numpy.ndarray
        :math:`\partial C / \partial \phi_k`, one p x p matrix per variance parameter (k x p x p).
    cov_varpar : numpy.ndarray
        :math:`A = 2 H^{-1}`, the asymptotic covariance of the variance parameters.
    messages : list of str
        Warnings about the deviance Hessian.
    """

    cov_beta: np.ndarray
    jacobian: np.ndarray
    cov_varpar: np.ndarray
    messages: list[str]

    def variance(self, contrasts: np.ndarray) -> np.ndarray:
        """:math:`L' C L` for each row :math:`L` of ``contrasts`` (m x p)."""
        return np.einsum("mi,ij,mj->m", contrasts, self.cov_beta, contrasts)

    def df(self, contrasts: np.ndarray) -> np.ndarray:
        """Satterthwaite's df of each row of ``contrasts`` (m x p)."""
        gradient = np.einsum("mi,kij,mj->mk", contrasts, self.jacobian, contrasts)
        denominator = np.einsum("mk,kl,ml->m", gradient, self.cov_varpar, gradient)
        return 2 * self.variance(contrasts) ** 2 / denominator

    def f_test(self, contrasts: np.ndarray, beta: np.ndarray) -> tuple[float, float]:
        """F and denominator df of ``contrasts @ beta = 0`` (rows of full rank), as lmerTest's ``contestMD``."""
        return _wald_f(contrasts, beta, self.cov_beta), _f_df(self.df(contrasts))


def _wald_f(contrasts: np.ndarray, beta: np.ndarray, cov_beta: np.ndarray) -> float:
    """The Wald statistic of L beta = 0 over its q rows: (L b)'(L C L')^-1 (L b) / q."""
    estimate = contrasts @ beta
    return float(estimate @ np.linalg.solve(contrasts @ cov_beta @ contrasts.T, estimate) / len(contrasts))


def _f_df(nu: np.ndarray) -> float:
    """lmerTest's ``get_Fstat_ddf``: 2E / (E - q), E = sum nu / (nu - 2); 2 if any nu <= 2."""
    if len(nu) == 1:
        return float(nu[0])
    if np.all(np.abs(np.diff(nu)) < SAME_DF_TOL):
        return float(np.mean(nu))
    if np.any(nu <= 2):
        return 2.0
    e = np.sum(nu / (nu - 2))
    return float(2 * e / (e - len(nu)))


def _variance_pieces(varpar: np.ndarray, deviance, cov_beta) -> _Satterthwaite:
    """C, its Jacobian with respect to the variance parameters, and A = 2 H^-1, at ``varpar``.

    ``deviance(x)`` and ``cov_beta(x)`` give the deviance and C at variance parameters
    ``x``; the derivatives are numerical (see :func:`_jacobian`, :func:`_hessian`).
    """
    cov_varpar, messages = _asymptotic_cov(_hessian(deviance, varpar))
    cov = cov_beta(varpar)
    p = len(cov)
    jac = _jacobian(lambda x: cov_beta(x).ravel(), varpar)
    return _Satterthwaite(cov, jac.T.reshape(len(varpar), p, p), cov_varpar, messages)


def _single_factor_pieces(varpar: np.ndarray, blocks: dict, reml: bool) -> _Satterthwaite:
    """:func:`_variance_pieces` of a model with one grouping factor (blockwise deviance)."""
    return _variance_pieces(varpar, lambda x: _deviance(x, blocks, reml), lambda x: _cov_beta(x, blocks))


def _fit_variance_pieces(fit: LmmResult) -> _Satterthwaite:
    """:func:`_variance_pieces` at a fit's estimate, its design rebuilt from the rows it was fitted to."""
    if fit.group is None:  # several random-effect terms
        from .sparse import _fit_variance_pieces as several_terms  # sparse imports this module

        return several_terms(fit)
    blocks = _blocks(_weighted(_design(fit.data, fit.formula, fit.group, fit.re_formula), fit.weights))
    varpar = np.append(_theta(fit.re_cov.to_numpy(), fit.sigma2), np.sqrt(fit.sigma2))
    return _single_factor_pieces(varpar, blocks, fit.reml)


def _asymptotic_cov(hessian: np.ndarray):
    """2 H^-1 over H's positive eigenvalues, with lmerTest's convergence warnings."""
    values, vectors = np.linalg.eigh(hessian)
    messages = []
    negative = values[values < -HESSIAN_TOL]
    zero = values[np.abs(values) <= HESSIAN_TOL]
    if negative.size:
        messages.append(f"Model failed to converge with {negative.size} negative "
                        f"eigenvalue(s) of the deviance Hessian: {negative}")
    if zero.size:
        messages.append(f"Model may not have converged with {zero.size} eigenvalue(s) "
                        f"of the deviance Hessian close to zero: {zero}")
    keep = values > HESSIAN_TOL
    inverse = vectors[:, keep] @ np.diag(1 / values[keep]) @ vectors[:, keep].T
    return 2 * inverse, messages


def _steps(x: np.ndarray) -> np.ndarray:
    return STEP * np.where(np.abs(x) > 1e-3, np.abs(x), 0.1)


def _richardson(estimate, levels: int = RICHARDSON_LEVELS):
    """Richardson-extrapolate estimate(h) (error even in h) over ``levels`` halved steps."""
    table = [estimate(2.0 ** -k) for k in range(levels)]
    for m in range(1, levels):
        table = [(4 ** m * fine - coarse) / (4 ** m - 1) for coarse, fine in itertools.pairwise(table)]
    return table[0]


def _jacobian(func, x: np.ndarray, levels: int = RICHARDSON_LEVELS) -> np.ndarray:
    """Central-difference Jacobian (outputs x parameters), Richardson-extrapolated over ``levels``."""
    h0 = _steps(x)

    def central(scale):
        cols = []
        for k, hk in enumerate(h0 * scale):
            e = np.zeros_like(x)
            e[k] = hk
            cols.append((func(x + e) - func(x - e)) / (2 * hk))
        return np.column_stack(cols)

    return _richardson(central, levels)


def _hessian(func, x: np.ndarray) -> np.ndarray:
    """Central second-difference Hessian of a scalar function, Richardson-extrapolated."""
    h0 = _steps(x)
    f0 = func(x)
    k = len(x)

    def second(scale):
        h = h0 * scale
        out = np.empty((k, k))
        for i in range(k):
            ei = np.eye(k)[i] * h[i]
            out[i, i] = (func(x + ei) - 2 * f0 + func(x - ei)) / h[i] ** 2
            for j in range(i):
                ej = np.eye(k)[j] * h[j]
                out[i, j] = out[j, i] = (func(x + ei + ej) - func(x + ei - ej)
                                         - func(x - ei + ej) + func(x - ei - ej)) / (4 * h[i] * h[j])
        return out

    return _richardson(second)
