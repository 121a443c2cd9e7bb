r"""Blockwise linear algebra for a marginal covariance that is block-diagonal by study.

In ``rma_mv`` the marginal covariance of the outcomes is

.. math::

   M(\sigma^2) = V + \sum_l \sigma^2_l D_l, \qquad (D_l)_{ij} = 1
   \text{ if rows } i, j \text{ share the level of factor } l,

and it is block-diagonal over the *blocks*: the connected groups of rows linked by a
shared level of any random factor or by a non-zero sampling covariance (studies,
for nested models; one block for factors crossed over all studies). Everything the
likelihood needs (:math:`\log|M|`, :math:`X'M^{-1}X`, :math:`M^{-1}(y - X\beta)` and
the traces of the gradient) is a sum over blocks, computed here for all blocks of
one size at once (batched Cholesky and inverse), so 2,000 studies with 5 effects
each cost a few small batched matrix operations per likelihood evaluation, never a
:math:`k \times k` matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import connected_components


def block_labels(codes: list[np.ndarray], V: np.ndarray | sp.spmatrix | None, k: int) -> np.ndarray:
    """Label of the block of every row: connected components of rows sharing a factor level or a covariance.

    Parameters
    ----------
    codes : list of int arrays
        Level codes (0..levels-1) of each random factor.
    V : 2-D array, sparse matrix or None
        Sampling covariance (None: diagonal).
    k : int
        Number of rows.
    """
    rows, cols = [np.arange(k)], [np.arange(k)]
    for code in codes:
        first = np.full(code.max() + 1, -1)
        order = np.arange(k)[::-1]
        first[code[order]] = order  # the first row of every level
        rows.append(np.arange(k))
        cols.append(first[code])
    if V is not None:
        coo = sp.coo_matrix(V)
        off = coo.row != coo.col
        rows.append(coo.row[off])
        cols.append(coo.col[off])
    graph = sp.coo_matrix((np.ones(sum(len(r) for r in rows)), (np.concatenate(rows), np.concatenate(cols))),
                          shape=(k, k))
    return connected_components(graph, directed=False)[1]


@dataclass
class Group:
    """All blocks of one size ``n``: their row indices and the stacked data.

    Attributes
    ----------
    rows : (b, n) int array
    y : (b, n) array
    X : (b, n, p) array
    V : (b, n, n) array
    D : (L, b, n, n) array
        Same-level indicators of every random factor.
    """

    rows: np.ndarray
    y: np.ndarray
    X: np.ndarray
    V: np.ndarray
    D: np.ndarray


class Blocks:
    """Rows grouped into independent blocks of :math:`M`, blocks of equal size stacked together.

    Parameters
    ----------
    labels : int array
        Block label of every row (see :func:`block_labels`).
    y, X : arrays
        Outcomes and model matrix.
    V : 1-D array, 2-D array or sparse matrix
        Sampling variances or covariance matrix.
    codes : list of int arrays
        Level codes of the random factors (may be empty).
    """

    def __init__(self, labels: np.ndarray, y: np.ndarray, X: np.ndarray, V: np.ndarray | sp.spmatrix,
                 codes: list[np.ndarray]):
        self.k, self.p = X.shape
        self.n_components = len(codes)
        self.labels = np.asarray(labels)
        order = np.argsort(labels, kind="stable")
        starts = np.flatnonzero(np.r_[True, np.diff(labels[order]) != 0])
        sizes = np.diff(np.r_[starts, len(order)])
        self.groups: list[Group] = []
        for n in np.unique(sizes):
            first = starts[sizes == n]
            rows = order[first[:, None] + np.arange(n)[None, :]]
            self.groups.append(self._group(rows, y, X, V, codes))

    @staticmethod
    def _group(rows: np.ndarray, y: np.ndarray, X: np.ndarray, V: np.ndarray | sp.spmatrix,
               codes: list[np.ndarray]) -> Group:
        b, n = rows.shape
        r_idx = np.repeat(rows[:, :, None], n, axis=2)
        c_idx = np.repeat(rows[:, None, :], n, axis=1)
        if sp.issparse(V):
            Vb = np.asarray(sp.csr_matrix(V)[r_idx.ravel(), c_idx.ravel()]).reshape(b, n, n)
        elif np.ndim(V) == 1:
            Vb = np.zeros((b, n, n))
            Vb[:, np.arange(n), np.arange(n)] = np.asarray(V)[rows]
        else:
            Vb = np.asarray(V)[r_idx, c_idx]
        D = np.stack([(code[r_idx] == code[c_idx]).astype(float) for code in codes]) if codes \
            else np.zeros((0, b, n, n))
        return Group(rows, y[rows], X[rows], Vb, D)

    @property
    def n_blocks(self) -> int:
        return sum(len(g.rows) for g in self.groups)

    @property
    def largest(self) -> int:
        return max(g.rows.shape[1] for g in self.groups)

    def inverses(self, sigma2: np.ndarray) -> list[tuple[np.ndarray, float]]:
        """:math:`M_b^{-1}` of every block (stacked per group) and :math:`\\log|M|`, summed per group.

        Raises
        ------
        numpy.linalg.LinAlgError
            Where a block of :math:`M` is not positive definite.
        """
        out = []
        for g in self.groups:
            M = g.V + np.tensordot(sigma2, g.D, axes=1) if len(sigma2) else g.V
            L = np.linalg.cholesky(M)
            logdet = 2 * np.sum(np.log(np.diagonal(L, axis1=1, axis2=2)))
            eye = np.broadcast_to(np.eye(M.shape[1]), M.shape)
            Linv = np.linalg.solve(L, eye)
            out.append((np.swapaxes(Linv, 1, 2) @ Linv, float(logdet)))
        return out

    def gls(self, sigma2: np.ndarray, gradient: bool = False) -> GlsFit:
        r"""Generalised least squares at :math:`\sigma^2`: :math:`\hat\beta`, :math:`(X'M^{-1}X)^{-1}`, the pieces of the likelihood.

        With ``gradient``, also the derivatives of the log-likelihoods in
        :math:`\sigma^2_l`: for ML :math:`-\tfrac12\mathrm{tr}(M^{-1}D_l) + \tfrac12 r'D_l r`,
        for REML :math:`-\tfrac12[\mathrm{tr}(M^{-1}D_l) - \mathrm{tr}(C F_l)] + \tfrac12 r'D_l r`,
        where :math:`r = M^{-1}(y - X\hat\beta)`, :math:`C = (X'M^{-1}X)^{-1}` and
        :math:`F_l = X'M^{-1}D_lM^{-1}X`.
        """
        inverses = self.inverses(sigma2)
        p = self.p
        xwx, xwy = np.zeros((p, p)), np.zeros(p)
        minv_x = []
        for g, (Minv, _) in zip(self.groups, inverses):
            MX = Minv @ g.X
            minv_x.append(MX)
            xwx += np.einsum("bni,bnj->ij", g.X, MX)
            xwy += np.einsum("bni,bn->i", MX, g.y)
        C = np.linalg.inv(xwx)
        beta = C @ xwy
        rss, logdet = 0.0, sum(ld for _, ld in inverses)
        L = self.n_components
        tr_md, tr_cf, rdr = np.zeros(L), np.zeros(L), np.zeros(L)
        for g, (Minv, _), MX in zip(self.groups, inverses, minv_x):
            e = g.y - g.X @ beta
            r = np.einsum("bnm,bm->bn", Minv, e)
            rss += float(np.sum(e * r))
            if gradient:
                for j in range(L):
                    D = g.D[j]
                    tr_md[j] += np.sum(Minv * D)
                    tr_cf[j] += np.sum(C * np.einsum("bni,bnm,bmj->ij", MX, D, MX))
                    rdr[j] += np.einsum("bn,bnm,bm->", r, D, r)
        return GlsFit(beta=beta, vb=C, xwx=xwx, logdet=logdet, rss=rss,
                      grad_ml=(-0.5 * tr_md + 0.5 * rdr) if gradient else None,
                      grad_reml=(-0.5 * (tr_md - tr_cf) + 0.5 * rdr) if gradient else None)

    def trace_p(self, sigma2: np.ndarray) -> float:
        r""":math:`\mathrm{tr}(P)`, :math:`P = W - WX(X'WX)^{-1}X'W`, :math:`W = M^{-1}`."""
        inverses = self.inverses(sigma2)
        p = self.p
        xwx, xwwx, tr_w = np.zeros((p, p)), np.zeros((p, p)), 0.0
        for g, (Minv, _) in zip(self.groups, inverses):
            MX = Minv @ g.X
            xwx += np.einsum("bni,bnj->ij", g.X, MX)
            xwwx += np.einsum("bni,bnj->ij", MX, MX)
            tr_w += float(np.trace(Minv, axis1=1, axis2=2).sum())
        return tr_w - float(np.sum(np.linalg.inv(xwx) * xwwx))

    def solve(self, sigma2: np.ndarray, rhs: np.ndarray) -> np.ndarray:
        """:math:`M^{-1} B` for a (k, m) matrix ``rhs``, blockwise."""
        out = np.empty_like(rhs, dtype=float)
        for g, (Minv, _) in zip(self.groups, self.inverses(sigma2)):
            out[g.rows] = Minv @ rhs[g.rows]
        return out


@dataclass(frozen=True)
class GlsFit:
    """GLS at given variance components: coefficients, their covariance and the likelihood pieces."""

    beta: np.ndarray
    vb: np.ndarray
    xwx: np.ndarray
    logdet: float
    rss: float
    grad_ml: np.ndarray | None
    grad_reml: np.ndarray | None

    def loglik(self, k: int, reml: bool, logdet_xx: float = 0.0) -> float:
        r"""metafor's log-likelihood (``.ll.rma.mv``); REML with metafor's :math:`+\tfrac12\log|X'X|` (``REMLf``)."""
        p = len(self.beta)
        if not reml:
            return -0.5 * k * np.log(2 * np.pi) - 0.5 * self.logdet - 0.5 * self.rss
        return (-0.5 * (k - p) * np.log(2 * np.pi) + 0.5 * logdet_xx - 0.5 * self.logdet
                - 0.5 * np.linalg.slogdet(self.xwx)[1] - 0.5 * self.rss)
