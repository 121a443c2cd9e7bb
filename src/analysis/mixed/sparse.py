r"""lme4's profiled deviance for any number of random-effect terms, from a sparse Z.

With :math:`b = \Lambda_\theta u`, :math:`u \sim N(0, \sigma^2 I)`, the penalised
least-squares problem of Bates et al. (2015, JSS 67(1), section 3) has the
system matrix

.. math::

   \begin{pmatrix} A & \Lambda' Z' X \\ X' Z \Lambda & X'X \end{pmatrix}, \qquad
   A = \Lambda' Z' Z \Lambda + I,

and the profiled deviance needs :math:`\log|A|`, :math:`R_X' R_X = X'X - X'Z\Lambda
A^{-1} \Lambda' Z' X` and the penalised residual sum of squares, all from
:math:`(X, y)' Z \Lambda A^{-1} \Lambda' Z' (X, y)`.

Factorisation
-------------
lme4 orders the terms by decreasing number of levels, so the first term has the
most random effects, and its block :math:`A_{11}` of :math:`A` is block diagonal
(each row of the data belongs to one level): k x k blocks, factored with
per-level Cholesky factors vectorised over levels (as the single-factor path
does). The other terms enter through the Schur complement

.. math::

   S = A_{22} - M'M, \qquad M = L_{11}^{-1} A_{12}, \qquad
   \log|A| = \log|L_{11}|^2 + \log|S|,

a sparse q2 x q2 matrix (q2 = random effects of the other terms: therapists in a
three-level trial, items in a crossed design), factored by SuperLU with a
minimum-degree ordering and diagonal pivots (S is symmetric positive definite,
:math:`S \succeq I`). Nothing outside SciPy is needed, and it is fast: on a three-level
trial of 72,000 rows (1,500 therapists x 8 patients x 6 waves, q = 25,500) one
deviance evaluation takes about 10 ms, where CHOLMOD (scikit-sparse 0.4.16 on
SuiteSparse 5.12, factor of the whole A with the ordering analysed once) takes
about 20 ms; on a crossed 5,000 x 1,500 design the two are within 30%. The deviance is minimised
over theta by COBYQA (Powell's derivative-free trust-region method, the successor
of BOBYQA, which lme4 uses) within lme4's bounds, from lme4's start.

The conditional variances of the random effects need S^-1 only where S itself is
non-zero; those entries are gathered from S^-1 solved a chunk of columns at a time.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
from scipy import optimize, sparse
from scipy.sparse.linalg import SuperLU, splu

from .design import (
    _lambda_pattern,
    _lower_triangle,
    _terms_design,
    _TermsDesign,
    _weighted,
    _z_matrix,
)
from .deviance import _cholesky_psd, _cholesky_stack, _forward_stack, _left_lambda
from .formula import parse
from . import inference
from .inference import _hessian, _jacobian, _Satterthwaite
from .result import LmmResult

#: COBYQA's options: the final trust-region radius bounds the precision of theta.
OPTIMIZER_OPTIONS = {"final_tr_radius": 1e-7, "maxfev": 10_000}

#: Entries of the dense columns of S^-1 solved at once for conditional variances.
CHUNK_ENTRIES = 2 ** 22


@dataclass(frozen=True)
class _Model:
    """Cross-products of a model with several random-effect terms, computed once.

    Attributes
    ----------
    ZtZ11 : numpy.ndarray
        Z1'Z1 of the first term per level (k1 x k1 x levels).
    ZtZ12, ZtZ22 : scipy.sparse matrix
        Z1'Z2 (q1 x q2) and Z2'Z2 (q2 x q2), Z2 the columns of the other terms.
    ZtXy1, ZtXy2 : numpy.ndarray
        Z1'(X, y) and Z2'(X, y).
    XytXy : numpy.ndarray
        (X, y)'(X, y).
    n : int
        Rows.
    lambda1 : tuple of numpy.ndarray
        Rows, columns and theta elements of the first term's k1 x k1 template.
    lambda2 : tuple of numpy.ndarray
        CSC indices, pointers and the theta element of each non-zero of the other
        terms' Lambda (lme4's ``Lind``).
    diagonal : numpy.ndarray
        Which theta elements lie on Lambda's diagonal (lower bound 0).
    """

    ZtZ11: np.ndarray
    ZtZ12: sparse.csr_matrix
    ZtZ22: sparse.csc_matrix
    ZtXy1: np.ndarray
    ZtXy2: np.ndarray
    XytXy: np.ndarray
    n: int
    lambda1: tuple
    lambda2: tuple
    diagonal: np.ndarray

    @property
    def k1(self) -> int:
        """Random effects per level of the first term."""
        return len(self.ZtZ11)

    @property
    def q2(self) -> int:
        """Random effects of the other terms."""
        return len(self.ZtXy2)


@dataclass(frozen=True)
class _Factor:
    r"""The blocked factor of :math:`A = \Lambda'Z'Z\Lambda + I` at one theta.

    Attributes
    ----------
    T : scipy.sparse.bsr_matrix
        :math:`L_{11}^{-1} \Lambda_1'`, block diagonal (k1 x k1 blocks).
    M : scipy.sparse.csr_matrix
        :math:`L_{11}^{-1} A_{12}`.
    lambda2 : scipy.sparse.csc_matrix
        :math:`\Lambda_2`, the other terms' block of Lambda.
    schur : scipy.sparse.linalg.SuperLU
        The factor of :math:`S = A_{22} - M'M`.
    logdet : float
        :math:`\log|A|`.
    low_inverse : numpy.ndarray
        :math:`L_{11}^{-1}` per level (k1 x k1 x levels), for :func:`_spherical_solve`.
    """

    T: sparse.bsr_matrix
    M: sparse.csr_matrix
    lambda2: sparse.csc_matrix
    schur: SuperLU
    logdet: float
    low_inverse: np.ndarray | None = None


def _model(design: _TermsDesign) -> _Model:
    """The cross-products and Lambda's pattern of a design whose terms are in lme4's order."""
    first = design.terms[0]
    Z = _z_matrix(design.terms)
    Xy = np.column_stack([design.X, design.y])
    rows, cols, index = _lambda_pattern(design.terms)
    q1 = first.q
    Z1, Z2 = Z[:, :q1], Z[:, q1:]
    in_first = (rows < first.k) & (cols < first.k)
    rest = cols >= q1
    return _Model(
        ZtZ11=_per_level_products(first.X, first.codes, len(first.levels)),
        ZtZ12=(Z1.T @ Z2).tocsr(), ZtZ22=(Z2.T @ Z2).tocsc(),
        ZtXy1=Z1.T @ Xy, ZtXy2=Z2.T @ Xy, XytXy=Xy.T @ Xy, n=len(design.y),
        lambda1=(rows[in_first], cols[in_first], index[in_first]),
        lambda2=_csc_pattern(rows[rest] - q1, cols[rest] - q1, index[rest], Z.shape[1] - q1),
        diagonal=np.isin(np.arange(index.max() + 1), index[rows == cols]))


def _per_level_products(X: np.ndarray, codes: np.ndarray, levels: int) -> np.ndarray:
    """X_g'X_g for each level g (k x k x levels), summed with ``np.bincount``."""
    k = X.shape[1]
    out = np.empty((k, k, levels))
    for a in range(k):
        for b in range(k):
            out[a, b] = np.bincount(codes, weights=X[:, a] * X[:, b], minlength=levels)
    return out


def _csc_pattern(rows: np.ndarray, cols: np.ndarray, index: np.ndarray, size: int) -> tuple:
    """CSC indices and pointers of a pattern, and the theta element of each stored entry."""
    order = np.lexsort((rows, cols))
    return rows[order], np.searchsorted(cols[order], np.arange(size + 1)), index[order]


def _factor(theta: np.ndarray, model: _Model) -> _Factor:
    """Factor A at theta: per-level Cholesky factors of A11, SuperLU of the Schur complement."""
    k1 = model.k1
    lam1 = np.zeros((k1, k1))
    rows, cols, index = model.lambda1
    lam1[rows, cols] = theta[index]
    indices, indptr, where = model.lambda2
    lam2 = sparse.csc_matrix((theta[where], indices, indptr), shape=(model.q2, model.q2))
    inner = _left_lambda(lam1, _left_lambda(lam1, model.ZtZ11).transpose(1, 0, 2))
    low = _cholesky_stack(inner + np.eye(k1)[..., None])
    inverse = _forward_stack(low, np.broadcast_to(np.eye(k1)[..., None], low.shape))
    T = _block_diagonal(np.einsum("ijg,kj->ikg", inverse, lam1))
    M = (T @ model.ZtZ12 @ lam2).tocsr()
    S = (lam2.T @ model.ZtZ22 @ lam2 + sparse.identity(model.q2) - M.T @ M).tocsc()
    schur = splu(S, permc_spec="MMD_AT_PLUS_A", diag_pivot_thresh=0.0, options={"SymmetricMode": True})
    logdet = 2 * sum(np.log(low[j, j]).sum() for j in range(k1)) + np.log(np.abs(schur.U.diagonal())).sum()
    return _Factor(T=T, M=M, lambda2=lam2, schur=schur, logdet=float(logdet), low_inverse=inverse)


def _block_diagonal(stack: np.ndarray) -> sparse.bsr_matrix:
    """The block-diagonal sparse matrix of a stack of k x k blocks (k x k x levels)."""
    k, _, levels = stack.shape
    return sparse.bsr_matrix((np.ascontiguousarray(stack.transpose(2, 0, 1)), np.arange(levels),
                              np.arange(levels + 1)), shape=(k * levels, k * levels))


def _forward(factor: _Factor, v1: np.ndarray, v2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""The forward step for :math:`r = \Lambda' v`: :math:`z_1 = L_{11}^{-1} r_1`, :math:`z_2 = r_2 - M' z_1`.

    Then :math:`r' A^{-1} r = z_1' z_1 + z_2' S^{-1} z_2`.
    """
    z1 = factor.T @ v1
    return z1, factor.lambda2.T @ v2 - factor.M.T @ z1


def _spherical_solve(factor: _Factor, v1: np.ndarray, v2: np.ndarray) -> np.ndarray:
    r""":math:`A^{-1}\Lambda' v` (all random effects, Z's column order) for :math:`v = (v_1, v_2)`.

    After :func:`_forward`, :math:`u_2 = S^{-1} z_2` and :math:`u_1 = L_{11}'^{-1}(z_1 - M u_2)`
    (the spherical modes of PIRLS in :mod:`analysis.mixed.pirls`).
    """
    z1, z2 = _forward(factor, v1, v2)
    u2 = factor.schur.solve(z2)
    inverse = factor.low_inverse
    k1, levels = inverse.shape[0], inverse.shape[2]
    rest = (z1 - factor.M @ u2).reshape(levels, k1, *z1.shape[1:])
    u1 = np.einsum("ijg,gi...->gj...", inverse, rest).reshape(z1.shape)
    return np.concatenate([u1, u2])


def _reweighted(model: _Model, Z1: sparse.csc_matrix, Z2: sparse.csc_matrix, first_X: np.ndarray,
                first_codes: np.ndarray, Xy: np.ndarray, weights: np.ndarray) -> _Model:
    r"""The cross-products of :func:`_model` with row weights: :math:`Z'WZ`, :math:`Z'W(X, y)`, ...

    ``model`` supplies Lambda's pattern; ``Z1``, ``Z2`` are the first term's and the other
    terms' columns of Z, ``first_X`` and ``first_codes`` the first term's model matrix and
    levels, ``weights`` (>= 0) the diagonal of W. :func:`_factor` of the result factors
    :math:`\Lambda'Z'WZ\Lambda + I`, the matrix of each PIRLS step of a generalized
    linear mixed model (:mod:`analysis.mixed.pirls`; the linear model is W = I).
    """
    Z2w = Z2.copy()
    Z2w.data = Z2w.data * weights[Z2w.indices]
    WXy = weights[:, None] * Xy
    levels = model.ZtZ11.shape[2]
    return replace(model, ZtZ11=_per_level_products(first_X * np.sqrt(weights)[:, None], first_codes, levels),
                   ZtZ12=(Z1.T @ Z2w).tocsr(), ZtZ22=(Z2.T @ Z2w).tocsc(), ZtXy1=Z1.T @ WXy, ZtXy2=Z2.T @ WXy,
                   XytXy=Xy.T @ WXy, n=len(Xy))


def _gls(varpar: np.ndarray, model: _Model):
    """Scaled GLS pieces: P = s2 X'V^-1 X, beta, s2 r'V^-1 r, log|A| (as ``deviance._gls``)."""
    factor = _factor(varpar[:-1], model)
    z1, z2 = _forward(factor, model.ZtXy1, model.ZtXy2)
    gram = model.XytXy - z1.T @ z1 - z2.T @ factor.schur.solve(z2)
    precision, cross = gram[:-1, :-1], gram[:-1, -1]
    beta = np.linalg.solve(precision, cross)
    return precision, beta, gram[-1, -1] - cross @ beta, factor.logdet


def _profiled_deviance(theta: np.ndarray, model: _Model, reml: bool) -> float:
    """lme4's deviance at theta with beta and sigma profiled out (REML criterion or -2 logLik)."""
    precision, _, rss, logdet = _gls(np.append(theta, 1.0), model)
    dof = model.n - (len(precision) if reml else 0)
    dev = logdet + dof * (1 + np.log(2 * np.pi * rss / dof))
    if reml:
        dev += np.linalg.slogdet(precision)[1]
    return float(dev)


def _profiled_sigma(theta: np.ndarray, model: _Model, reml: bool) -> float:
    """Residual SD maximising the (restricted) likelihood at theta."""
    precision, _, rss, _ = _gls(np.append(theta, 1.0), model)
    return float(np.sqrt(rss / (model.n - (len(precision) if reml else 0))))


def _deviance(varpar: np.ndarray, model: _Model, reml: bool) -> float:
    """-2 log-likelihood (REML: restricted) at (theta, sigma), beta profiled (lmerTest's devfun_vp)."""
    sigma2 = varpar[-1] ** 2
    precision, _, rss, logdet = _gls(varpar, model)
    dev = logdet + rss / sigma2 + model.n * np.log(2 * np.pi * sigma2)
    if reml:
        dev += np.linalg.slogdet(precision)[1] - len(precision) * np.log(2 * np.pi * sigma2)
    return float(dev)


def _cov_beta(varpar: np.ndarray, model: _Model) -> np.ndarray:
    """Var(beta_hat) = sigma^2 (R_X'R_X)^-1 at the variance parameters."""
    return varpar[-1] ** 2 * np.linalg.inv(_gls(varpar, model)[0])


def _optimum(model: _Model, reml: bool) -> tuple[np.ndarray, list[str]]:
    """Minimise the profiled deviance from lme4's start (1 on Lambda's diagonal, 0 off it).

    Bounds as lme4's: diagonal elements >= 0, the others free. Returns theta and
    the optimiser's message when it stopped without success.
    """
    lower = np.where(model.diagonal, 0.0, -np.inf)
    found = optimize.minimize(_profiled_deviance, model.diagonal.astype(float), args=(model, reml),
                              method="COBYQA", bounds=optimize.Bounds(lower, np.inf),
                              options=OPTIMIZER_OPTIONS)
    return found.x, ([] if found.success else [f"optimizer (COBYQA): {found.message}"])


def _free_derivatives(theta: np.ndarray, free: np.ndarray, model: _Model,
                      reml: bool) -> tuple[np.ndarray, np.ndarray]:
    """Gradient and Hessian of the profiled deviance over the free elements of theta (central
    differences, Richardson-extrapolated; lme4's ``deriv12`` takes plain central differences)."""

    def deviance_at(x):
        full = theta.copy()
        full[free] = x
        return _profiled_deviance(full, model, reml)

    gradient = _jacobian(lambda x: np.array([deviance_at(x)]), theta[free])[0]
    return gradient, _hessian(deviance_at, theta[free])


def _variance_pieces(varpar: np.ndarray, model: _Model, reml: bool) -> _Satterthwaite:
    """lmerTest's Satterthwaite pieces (:func:`analysis.mixed.inference._variance_pieces`) of this model."""
    return inference._variance_pieces(varpar, lambda x: _deviance(x, model, reml), lambda x: _cov_beta(x, model))


def _fit_variance_pieces(fit: LmmResult) -> _Satterthwaite:
    """:func:`_variance_pieces` at a several-term fit's estimate, rebuilt from its rows and formula."""
    model = _model(_weighted(_terms_design(fit.data, parse(fit.formula)), fit.weights))
    theta = [_cholesky_psd(cov.to_numpy() / fit.sigma2)[_lower_triangle(len(cov))]
             for cov in fit.re_cov.values()]
    return _variance_pieces(np.append(np.concatenate(theta), np.sqrt(fit.sigma2)), model, fit.reml)


def _conditional_modes(varpar: np.ndarray, model: _Model, beta: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Conditional modes b and their conditional SDs, all random effects in Z's column order.

    :math:`b = \Lambda A^{-1} \Lambda' Z'(y - X\beta)` and :math:`\mathrm{Var}(b \mid y) =
    \sigma^2 \Lambda A^{-1} \Lambda'` (lme4's ``ranef(condVar = TRUE)``, beta treated as
    known). With the blocked inverse of A, the first term's block is
    :math:`T'T + T'M S^{-1} M'T` and the others' :math:`\Lambda_2 S^{-1} \Lambda_2'`.
    """
    factor = _factor(varpar[:-1], model)
    weights = np.append(-beta, 1.0)
    z1, z2 = _forward(factor, model.ZtXy1 @ weights, model.ZtXy2 @ weights)
    x2 = factor.schur.solve(z2)
    modes = np.concatenate([factor.T.T @ (z1 - factor.M @ x2), factor.lambda2 @ x2])
    first = np.asarray(factor.T.multiply(factor.T).sum(axis=0)).ravel()
    first += _inverse_quadratic_diagonal(factor.schur, (factor.M.T @ factor.T).tocsc())
    other = _inverse_quadratic_diagonal(factor.schur, factor.lambda2.T.tocsc())
    return modes, varpar[-1] * np.sqrt(np.concatenate([first, other]))


def _inverse_quadratic_diagonal(schur: SuperLU, R: sparse.csc_matrix) -> np.ndarray:
    """diag(R' S^-1 R) for a sparse R (q2 x m).

    Only the entries of S^-1 where two rows of R share a column are needed; S^-1 is
    solved for a chunk of its columns at a time and those entries gathered.
    """
    column, row, partner, weight = _column_pairs(R)
    size = R.shape[0]
    chunk = max(1, CHUNK_ENTRIES // max(size, 1))
    order = np.argsort(partner, kind="stable")
    bounds = np.searchsorted(partner[order], np.arange(0, size + chunk, chunk))
    inverse_entries = np.empty(len(row))
    for start, lo, hi in zip(range(0, size, chunk), bounds, bounds[1:]):
        if lo == hi:
            continue
        unit = np.zeros((size, min(chunk, size - start)))
        unit[np.arange(start, start + unit.shape[1]), np.arange(unit.shape[1])] = 1.0
        chosen = order[lo:hi]
        inverse_entries[chosen] = schur.solve(unit)[row[chosen], partner[chosen] - start]
    return np.bincount(column, weights=weight * inverse_entries, minlength=R.shape[1])


def _column_pairs(R: sparse.csc_matrix) -> tuple[np.ndarray, ...]:
    """For each column of R, every pair of its non-zeros: the column, both rows and the product."""
    counts = np.diff(R.indptr)
    owner = np.repeat(np.arange(R.shape[1]), counts)
    partners = counts[owner]
    first = np.repeat(np.arange(R.nnz), partners)
    position = np.arange(len(first)) - np.repeat(np.cumsum(partners) - partners, partners)
    second = R.indptr[owner[first]] + position
    return owner[first], R.indices[first], R.indices[second], R.data[first] * R.data[second]
