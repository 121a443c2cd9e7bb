"""lme4's profiled deviance of a linear mixed model with one grouping factor and its gradient,
computed from per-group cross-products vectorised over groups (Bates et al. 2015, section 3).
"""

from __future__ import annotations

import numpy as np

from .design import _Design


def _blocks(design: _Design) -> dict:
    """Per-group cross-products Z'Z, Z'(X, y) and totals X'X, X'y, y'y.

    Rows are sorted by group once and each product summed over a group's run of
    rows with ``np.add.reduceat``, vectorised over groups (no loop over groups).
    Per-group stacks are stored with the group last (``ZtZ`` q x q x G, ``ZtXy``
    q x (p + 1) x G), so that the q x q algebra below runs on contiguous vectors.
    """
    order = np.argsort(design.codes, kind="stable")
    codes = design.codes[order]
    first = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    X, Z, y = design.X[order], design.Z[order], design.y[order]
    Xy = np.column_stack([X, y])
    return {
        "ZtZ": np.ascontiguousarray(
            np.add.reduceat(Z[:, :, None] * Z[:, None, :], first, axis=0).transpose(1, 2, 0)),
        "ZtXy": np.ascontiguousarray(
            np.add.reduceat(Z[:, :, None] * Xy[:, None, :], first, axis=0).transpose(1, 2, 0)),
        "XtX": X.T @ X,
        "Xty": X.T @ y,
        "yty": float(y @ y),
        "n": len(y),
    }


def _theta(cov_re: np.ndarray, scale: float) -> np.ndarray:
    """lme4's theta: lower triangle of the Cholesky factor of G / sigma^2."""
    factor = _cholesky_psd(cov_re / scale)
    return factor[np.tril_indices(len(factor))]


def _cholesky_psd(matrix: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a positive semi-definite matrix (zero pivots kept 0)."""
    q = len(matrix)
    factor = np.zeros((q, q))
    for j in range(q):
        pivot = matrix[j, j] - factor[j, :j] @ factor[j, :j]
        factor[j, j] = np.sqrt(max(pivot, 0.0))
        if factor[j, j] > 0:
            factor[j + 1:, j] = (matrix[j + 1:, j] - factor[j + 1:, :j] @ factor[j, :j]) / factor[j, j]
    return factor


def _lambda(theta: np.ndarray, q: int) -> np.ndarray:
    factor = np.zeros((q, q))
    factor[np.tril_indices(q)] = theta
    return factor


def _cholesky_stack(matrices: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of a stack (q x q x G) of small positive definite matrices.

    Loops over the q x q entries and is vectorised over the stack, which is far
    faster than a LAPACK call per group when q is 1 to 3 and groups are many.
    """
    q = len(matrices)
    low = np.zeros_like(matrices)
    for j in range(q):
        low[j, j] = np.sqrt(matrices[j, j] - np.sum(low[j, :j] ** 2, axis=0))
        for i in range(j + 1, q):
            low[i, j] = (matrices[i, j] - np.sum(low[i, :j] * low[j, :j], axis=0)) / low[j, j]
    return low


def _forward_stack(low: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve L u = b for a stack of lower-triangular L (q x q x G) and b (q x m x G)."""
    out = np.empty_like(rhs)
    for i in range(len(low)):
        acc = rhs[i].copy()
        for k in range(i):
            acc -= low[i, k] * out[k]
        out[i] = acc / low[i, i]
    return out


def _backward_stack(low: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve L' x = b for a stack of lower-triangular L (q x q x G) and b (q x m x G)."""
    q = len(low)
    out = np.empty_like(rhs)
    for i in reversed(range(q)):
        acc = rhs[i].copy()
        for k in range(i + 1, q):
            acc -= low[k, i] * out[k]
        out[i] = acc / low[i, i]
    return out


def _inverse_stack(low: np.ndarray) -> np.ndarray:
    """(L L')^-1 for a stack of lower-triangular L (q x q x G)."""
    eye = np.broadcast_to(np.eye(len(low))[..., None], low.shape)
    return _backward_stack(low, _forward_stack(low, eye))


def _left_lambda(lam: np.ndarray, stack: np.ndarray) -> np.ndarray:
    """Lambda' S_g for each matrix S_g (q x m) of a stack (q x m x G), as one BLAS product."""
    return np.tensordot(lam.T, stack, axes=1)


def _woodbury(theta: np.ndarray, blocks: dict):
    """Lambda, the Cholesky factors L_i of M_i = I + Lambda'Z_i'Z_i Lambda, u_i = L_i^-1 Lambda'Z_i'(X_i, y_i)."""
    q = len(blocks["ZtZ"])
    lam = _lambda(theta, q)
    lam_c = _left_lambda(lam, blocks["ZtZ"])  # Lambda'C; Lambda'C Lambda is symmetric
    inner = _left_lambda(lam, lam_c.transpose(1, 0, 2)) + np.eye(q)[..., None]
    low = _cholesky_stack(inner)
    return lam, low, _forward_stack(low, _left_lambda(lam, blocks["ZtXy"]))


def _gls(varpar: np.ndarray, blocks: dict):
    """Scaled GLS pieces: P = s2 X'V^-1 X, beta, s2 r'V^-1 r, sum log|I + L'Z'ZL|.

    With M_i = L_i L_i' and u_i as in ``_woodbury``, sigma^2 (X, y)'V_i^-1 (X, y)
    = (X, y)'(X, y) - u_i'u_i (Woodbury identity), summed over groups.
    """
    _, low, solved = _woodbury(varpar[:-1], blocks)
    gram = sum(row @ row.T for row in solved)
    precision = blocks["XtX"] - gram[:-1, :-1]
    cross = blocks["Xty"] - gram[:-1, -1]
    yvy = blocks["yty"] - gram[-1, -1]
    beta = np.linalg.solve(precision, cross)
    logdet = 2 * sum(np.log(low[j, j]).sum() for j in range(len(low)))
    return precision, beta, yvy - cross @ beta, logdet


def _profiled_gradient(theta: np.ndarray, blocks: dict, reml: bool) -> np.ndarray:
    r"""Analytic gradient of ``_profiled_deviance`` with respect to theta.

    With C_i = Z_i'Z_i, R_i = Z_i'(X_i, y_i), A_i = M_i^-1 Lambda'R_i, B_i = R_i -
    C_i Lambda A_i and w = (-beta, 1) (so that B_i w = Z_i'e_i and A_i w is the
    spherical random effect u_i), the derivative along theta_k (the (r, c) element
    of Lambda) is 2 S1[r, c] - 2 d S2[r, c] / r^2 [- 2 T[r, c] for REML], with
    S1 = sum C_i Lambda M_i^-1 (from log|M|), S2 = sum (B_i w)(A_i w)' (the
    penalised residual sum of squares r^2 = d sigma^2, by the envelope theorem) and
    T = sum B_ix P^-1 A_ix' (from log|P|, x the columns of X).
    """
    lam, low, solved = _woodbury(theta, blocks)
    precision, beta, rss, _ = _gls(np.append(theta, 1.0), blocks)
    c_lam = _left_lambda(lam, blocks["ZtZ"]).transpose(1, 0, 2)
    a = _backward_stack(low, solved)
    b = blocks["ZtXy"] - np.einsum("ajg,jmg->amg", c_lam, a)
    w = np.append(-beta, 1.0)
    s1 = np.einsum("ajg,jcg->ac", c_lam, _inverse_stack(low))
    s2 = np.tensordot(b, w, axes=([1], [0])) @ np.tensordot(a, w, axes=([1], [0])).T
    dof = blocks["n"] - (len(beta) if reml else 0)
    grad = 2 * s1 - 2 * dof * s2 / rss
    if reml:
        b_scaled = np.einsum("rxg,xy->ryg", b[:, :-1], np.linalg.inv(precision))
        grad -= 2 * np.einsum("ryg,cyg->rc", b_scaled, a[:, :-1])
    return grad[np.tril_indices(len(lam))]


def _profiled_sigma(theta: np.ndarray, blocks: dict, reml: bool) -> float:
    """Residual SD maximising the (restricted) likelihood at theta."""
    precision, _, rss, _ = _gls(np.append(theta, 1.0), blocks)
    return float(np.sqrt(rss / (blocks["n"] - (len(precision) if reml else 0))))


def _profiled_deviance(theta: np.ndarray, blocks: dict, reml: bool) -> float:
    """The deviance at theta with beta and sigma profiled out (lme4's devfun), one GLS pass.

    At the profiled sigma^2 = rss / (n - p) (REML) or rss / n (ML) the deviance is
    log|M| [+ log|P|] + d (1 + log(2 pi sigma^2)) with d = n - p or n.
    """
    precision, _, rss, logdet = _gls(np.append(theta, 1.0), blocks)
    dof = blocks["n"] - (len(precision) if reml else 0)
    dev = logdet + dof * (1 + np.log(2 * np.pi * rss / dof))
    if reml:
        dev += np.linalg.slogdet(precision)[1]
    return float(dev)


def _deviance(varpar: np.ndarray, blocks: dict, reml: bool) -> float:
    """-2 log-likelihood (REML: restricted), profiled over beta, as lme4's devfun_vp."""
    sigma2 = varpar[-1] ** 2
    n = blocks["n"]
    precision, _, rss, logdet = _gls(varpar, blocks)
    dev = logdet + rss / sigma2 + n * np.log(2 * np.pi * sigma2)
    if not reml:
        return float(dev)
    p = len(precision)
    return float(dev + np.linalg.slogdet(precision)[1] - p * np.log(2 * np.pi * sigma2))


def _cov_beta(varpar: np.ndarray, blocks: dict) -> np.ndarray:
    """Var(beta_hat) = (X'V^-1 X)^-1 at the variance parameters."""
    return varpar[-1] ** 2 * np.linalg.inv(_gls(varpar, blocks)[0])
