r"""Kenward and Roger's (1997) adjusted covariance of the fixed effects and denominator df, as
pbkrtest computes them (``vcovAdj``, ``Lb_ddf``, ``KRmodcomp``), for fits of :func:`fit_lmm`.

The variance parameters are pbkrtest's: the elements of the lower triangle of each
random-effect term's covariance matrix, then the residual variance, so that the
marginal covariance :math:`V = \sum_k \gamma_k G_k` is linear in them, with
:math:`G_k = Z_t E_k Z_t'` for element :math:`k` of term :math:`t` (:math:`E_k` the
symmetric indicator of the element in each level's block) and :math:`G = W^{-1}`
for the residual (:math:`W` the prior weights, the identity without). With
:math:`\Phi = (X'V^{-1}X)^{-1}`,

.. math::

   P_i = -X'V^{-1} G_i V^{-1} X, \quad
   Q_{ij} = X'V^{-1} G_i V^{-1} G_j V^{-1} X, \quad
   I_{ij} = \mathrm{tr}(G_i V^{-1} G_j V^{-1}) - 2\,\mathrm{tr}(\Phi Q_{ij})
            + \mathrm{tr}(\Phi P_i \Phi P_j),

:math:`\mathcal{W} = 2 I^{-1}` (a generalised inverse if :math:`I` is near singular)
and the adjusted covariance is

.. math::

   \Phi_A = \Phi + 2\, \Phi \Big(\sum_{ij} \mathcal{W}_{ij} (Q_{ij} - P_i \Phi P_j)\Big) \Phi

(pbkrtest drops the second derivatives of :math:`V`, zero in this parameterisation).
For a hypothesis :math:`L\beta = 0` of rank :math:`q`, with
:math:`\Theta = L'(L \Phi L')^{-1} L` and :math:`U_i = \Theta \Phi P_i \Phi`,
:math:`A_1 = \sum_{ij} \mathcal{W}_{ij} \mathrm{tr}(U_i) \mathrm{tr}(U_j)` and
:math:`A_2 = \sum_{ij} \mathcal{W}_{ij} \mathrm{tr}(U_i U_j)` give the denominator df
and the scaling :math:`\lambda` of :math:`F = \lambda (L\hat\beta)'(L \Phi_A L')^{-1}
(L\hat\beta) / q` (pbkrtest's ``.KR_adjust``; lmerTest reports this scaled F).

:math:`V` is block diagonal over the connected components of the grouping structure
(one block per participant with one grouping factor, per top-level group with nested
factors, one block for crossed factors), so every sum above is a sum over blocks; blocks
of equal size are stacked and computed together.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import sparse
from scipy.sparse import csgraph

from .design import _design, _lower_triangle, _terms_design
from .formula import parse
from .inference import _wald_f
from .result import LmmResult

#: The largest independent block of V (rows) whose dense inverse is computed.
MAX_BLOCK_ROWS = 20_000

#: Entries of the stacked (parameters x blocks x rows x rows) arrays computed at once.
CHUNK_ENTRIES = 2 ** 22

#: pbkrtest's threshold on min |eigenvalue| of the information below which its generalised inverse is used.
SINGULAR_TOL = 1e-10

#: MASS::ginv's tolerance, relative to the largest singular value.
GINV_TOL = np.sqrt(np.finfo(float).eps)

#: pbkrtest's ``.divZero`` tolerance, its zero tolerance of V0, and its |df - 2| below which F is not scaled.
DIVZERO_TOL = 1e-14
V0_TOL = 1e-10
SCALING_TOL = 0.01


@dataclass(frozen=True)
class _Term:
    """One random-effect term: its model matrix (n x k), each row's level, and its covariance (k x k)."""

    X: np.ndarray
    codes: np.ndarray
    cov: np.ndarray


@dataclass(frozen=True)
class _KenwardRoger:
    r"""What Kenward-Roger inference on any contrast needs (pbkrtest's PhiA with its ``P`` and ``W``).

    Attributes
    ----------
    cov_beta : numpy.ndarray
        :math:`\Phi_A`, the adjusted covariance of the fixed effects (p x p).
    phi : numpy.ndarray
        :math:`\Phi`, the unadjusted one.
    P : numpy.ndarray
        :math:`P_i`, one p x p matrix per variance parameter.
    W : numpy.ndarray
        :math:`\mathcal{W} = 2 I^{-1}`.
    messages : list of str
        A note when the information of the variance parameters is singular.
    """

    cov_beta: np.ndarray
    phi: np.ndarray
    P: np.ndarray
    W: np.ndarray
    messages: list[str]

    def variance(self, contrasts: np.ndarray) -> np.ndarray:
        r""":math:`L' \Phi_A L` for each row :math:`L` of ``contrasts`` (m x p)."""
        return np.einsum("mi,ij,mj->m", contrasts, self.cov_beta, contrasts)

    def df(self, contrasts: np.ndarray) -> np.ndarray:
        """Kenward-Roger df of each row of ``contrasts`` (m x p), as pbkrtest's ``Lb_ddf``."""
        left = contrasts @ self.phi
        traces = np.einsum("ma,iab,mb->mi", left, self.P, left) / np.einsum("ma,ma->m", left, contrasts)[:, None]
        a = np.einsum("mi,ij,mj->m", traces, self.W, traces)  # A1 = A2 for one row
        return _df_scaling(a, a, 1)[0]

    def f_test(self, contrasts: np.ndarray, beta: np.ndarray) -> tuple[float, float]:
        """Scaled F and denominator df of ``contrasts @ beta = 0`` (rows of full rank), as ``.KR_adjust``."""
        q = len(contrasts)
        theta = contrasts.T @ np.linalg.solve(contrasts @ self.phi @ contrasts.T, contrasts)
        u = theta @ self.phi @ self.P @ self.phi
        traces = np.einsum("iaa->i", u)
        a1 = traces @ self.W @ traces
        a2 = np.einsum("ij,iab,jba->", self.W, u, u)
        df, scaling = _df_scaling(np.array([a1]), np.array([a2]), q)
        return float(scaling[0] * _wald_f(contrasts, beta, self.cov_beta)), float(df[0])


def _df_scaling(a1: np.ndarray, a2: np.ndarray, q: int) -> tuple[np.ndarray, np.ndarray]:
    """pbkrtest's denominator df and F scaling from A1, A2 and the rank q (vectorised over A1, A2)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        b = (a1 + 6 * a2) / (2 * q)
        g = ((q + 1) * a1 - (q + 4) * a2) / ((q + 2) * a2)
        denominator = 3 * q + 2 * (1 - g)
        v0 = 1 + g / denominator * b
        v1 = 1 - (q - g) / denominator * b
        v2 = 1 - (q + 2 - g) / denominator * b
        v0 = np.where(np.abs(v0) < V0_TOL, 0.0, v0)
        shrink = 1 - a2 / q
        ratio = np.where((np.abs(shrink) < DIVZERO_TOL) & (np.abs(v1) < DIVZERO_TOL), 1.0, shrink / v1)
        rho = ratio ** 2 * v0 / (q * v2)
        df = 4 + (q + 2) / (q * rho - 1)
        scaling = np.where(np.abs(df - 2) < SCALING_TOL, 1.0, df * shrink / (df - 2))
    return df, scaling


def _kenward_roger(fit: LmmResult) -> _KenwardRoger:
    """Kenward-Roger pieces at a REML fit's estimate, its design rebuilt from the rows it was fitted to.

    Raises
    ------
    ValueError
        For an ML fit, or a block of V above ``MAX_BLOCK_ROWS`` rows.
    """
    if not fit.reml:
        raise ValueError("Kenward-Roger's method needs a REML fit (lmerTest refuses ML fits; pbkrtest refits "
                         "them by REML): refit with reml=True, or use ddf='satterthwaite'")
    X, terms = _fit_design(fit)
    return _pieces(X, terms, fit.sigma2, getattr(fit, "weights", None))


def _fit_design(fit: LmmResult) -> tuple[np.ndarray, list[_Term]]:
    """X and the random-effect terms with their estimated covariances, in lme4's term order."""
    if fit.group is not None:
        design = _design(fit.data, fit.formula, fit.group, fit.re_formula)
        return design.X, [_Term(design.Z, design.codes, fit.re_cov.to_numpy())]
    design = _terms_design(fit.data, parse(fit.formula))
    return design.X, [_Term(t.X, t.codes, cov.to_numpy()) for t, cov in zip(design.terms, fit.re_cov.values())]


def _pieces(X: np.ndarray, terms: list[_Term], sigma2: float, weights: np.ndarray | None) -> _KenwardRoger:
    """pbkrtest's ``vcovAdj`` of a model: PhiA, P and W from the sums over the blocks of V."""
    gamma = np.concatenate([*(t.cov[_lower_triangle(t.X.shape[1])] for t in terms), [sigma2]])
    inverse_weights = np.ones(len(X)) if weights is None else 1 / np.asarray(weights, dtype=float)
    xtvx, P, Q, K = _block_sums(X, terms, gamma, inverse_weights)
    phi = np.linalg.inv(xtvx)
    phi_p = np.einsum("ab,ibc->iac", phi, P)
    information = K - 2 * np.einsum("ab,ijab->ij", phi, Q) + np.einsum("iab,jba->ij", phi_p, phi_p)
    W, messages = _twice_inverse(information)
    R = Q - np.einsum("iab,jbc->ijac", P, phi_p)
    adjusted = phi + 2 * phi @ np.einsum("ij,ijab->ab", W, R) @ phi
    return _KenwardRoger(cov_beta=adjusted, phi=phi, P=P, W=W, messages=messages)


def _twice_inverse(information: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """2 I^-1, or 2 times MASS::ginv(I) when min |eigenvalue| <= ``SINGULAR_TOL`` (as pbkrtest)."""
    smallest = float(np.min(np.abs(np.linalg.eigvalsh(information))))
    if smallest > SINGULAR_TOL:
        return 2 * np.linalg.inv(information), []
    message = (f"Kenward-Roger: the information of the variance parameters is singular (min |eigenvalue| "
               f"{smallest:.1e}, e.g. a variance estimated at 0); its generalised inverse is used, as pbkrtest does")
    return 2 * np.linalg.pinv(information, rcond=GINV_TOL), [message]


def _block_sums(X: np.ndarray, terms: list[_Term], gamma: np.ndarray, inverse_weights: np.ndarray):
    """X'V^-1X, P_i, Q_ij and tr(G_i V^-1 G_j V^-1), each summed over the blocks of V."""
    p, k = X.shape[1], len(gamma)
    sums = [np.zeros((p, p)), np.zeros((k, p, p)), np.zeros((k, k, p, p)), np.zeros((k, k))]
    for rows in _blocks(terms, len(X)):
        size = rows.shape[1]
        step = max(1, CHUNK_ENTRIES // (k * size * size))
        for start in range(0, len(rows), step):
            chunk = rows[start:start + step]
            for total, part in zip(sums, _chunk_sums(X[chunk], _derivatives(chunk, terms, inverse_weights), gamma)):
                total += part
    return sums


def _chunk_sums(X: np.ndarray, G: np.ndarray, gamma: np.ndarray):
    """The sums of :func:`_block_sums` over a stack of equal-size blocks (X: blocks x m x p, G: k x blocks x m x m)."""
    inverse = np.linalg.inv(np.tensordot(gamma, G, axes=1))
    solved = inverse @ X
    O = G @ solved
    H = G @ inverse
    xtvx = np.einsum("bma,bmc->ac", X, solved)
    P = -np.einsum("bma,ibmc->iac", solved, O)
    Q = np.tensordot(O, inverse @ O, axes=([1, 2], [1, 2])).transpose(0, 2, 1, 3)
    K = np.tensordot(H, H.transpose(0, 1, 3, 2), axes=([1, 2, 3], [1, 2, 3]))
    return xtvx, P, Q, K


def _derivatives(rows: np.ndarray, terms: list[_Term], inverse_weights: np.ndarray) -> np.ndarray:
    """dV/d gamma_k on each block's rows (k x blocks x m x m): Z_t E_k Z_t', then diag(1/w)."""
    out = []
    for term in terms:
        codes = term.codes[rows]
        same = codes[:, :, None] == codes[:, None, :]
        Z = term.X[rows]
        for a, c in zip(*_lower_triangle(Z.shape[2])):
            outer = Z[:, :, a, None] * Z[:, None, :, c]
            out.append(same * (outer if a == c else outer + outer.transpose(0, 2, 1)))
    out.append(np.eye(rows.shape[1]) * inverse_weights[rows][:, :, None])
    return np.stack(out)


def _blocks(terms: list[_Term], n: int) -> list[np.ndarray]:
    """Row indices of the independent blocks of V, one (blocks x size) array per block size.

    Raises
    ------
    ValueError
        If a block has more than ``MAX_BLOCK_ROWS`` rows.
    """
    labels = _components(terms, n)
    order = np.argsort(labels, kind="stable")
    sizes = np.bincount(labels)
    if sizes.max() > MAX_BLOCK_ROWS:
        raise ValueError(
            f"Kenward-Roger: the grouping factors link {sizes.max()} rows into one block of the marginal "
            f"covariance (e.g. crossed factors), more than {MAX_BLOCK_ROWS}; its dense inverse "
            f"({sizes.max() ** 2 * 8 / 1e9:.0f} GB per matrix) is not computed. Use ddf='satterthwaite'")
    starts = np.cumsum(sizes) - sizes
    return [order[starts[sizes == size][:, None] + np.arange(size)] for size in np.unique(sizes)]


def _components(terms: list[_Term], n: int) -> np.ndarray:
    """Each row's connected component in the graph linking rows to the levels of every term."""
    offsets = np.cumsum([n] + [t.codes.max() + 1 for t in terms])
    rows = np.tile(np.arange(n), len(terms))
    levels = np.concatenate([offset + t.codes for offset, t in zip(offsets, terms)])
    graph = sparse.coo_matrix((np.ones(len(rows)), (rows, levels)), shape=(offsets[-1], offsets[-1]))
    return csgraph.connected_components(graph, directed=False)[1][:n]
