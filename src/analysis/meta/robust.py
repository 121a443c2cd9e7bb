r"""Cluster-robust inference for ``rma`` and ``rma_mv`` fits: metafor's ``robust()`` and clubSandwich's CR2.

With clusters :math:`c = 1..n` (studies), the model's weights :math:`W_c = M_c^{-1}`
(:math:`M` the fitted marginal covariance, block-diagonal by cluster), residuals
:math:`e_c = y_c - X_c\hat\beta` and :math:`V_{\hat\beta}` the model's covariance of
:math:`\hat\beta`, the sandwich estimators are

.. math::

   V^{CR} = V_{\hat\beta} \Big[\sum_c X_c'W_c A_c e_c e_c' A_c' W_c X_c\Big] V_{\hat\beta}.

**CR1** (metafor's default): :math:`A_c = I` and the factor :math:`n/(n-p)`; t tests
with :math:`n - p` df and :math:`F = Q_M/m` on :math:`(m, n-p)` df.

**CR2** (``clubsandwich=True``; Pustejovsky & Tipton 2018, as
``clubSandwich::vcovCR(type = "CR2")`` with the model's inverse-variance working
model): :math:`A_c = U_c' G_c^{-1/2} U_c` with :math:`M_c = U_c'U_c` (Cholesky) and
:math:`G_c = U_c (M_c - X_c (X'WX)^{-1} X_c') U_c'` (symmetric inverse square root
through the eigenvalues, those :math:`\le 10^{-12}` set to 0). Each coefficient has
Satterthwaite df :math:`\nu_j = 2E_j^2/V_j` (``coef_test``) and the omnibus test is
clubSandwich's HTZ (``Wald_test``): Hotelling's :math:`T^2` with :math:`\eta =
q(q+1)/\sum_{s,t}\mathrm{Var}_{st}`, :math:`F = \frac{\eta - q + 1}{\eta q} Q` on
:math:`(q, \eta - q + 1)` df. The moments come from clubSandwich's ``P_array``,

.. math::

   P_{cd} = \delta_{cd}\, g_c g_c' - h_c' h_d, \qquad
   g_c = C V_{\hat\beta} X_c'W_cA_c U_c', \quad h_c = L' X_c'A_c'W_c X_c V_{\hat\beta} C',

(:math:`LL' = (X'WX)^{-1}`, :math:`C` the tested contrasts), whose sums over all
pairs of clusters are reduced here to sums over clusters
(:math:`\sum_{cd}(h_c'h_d)^2 = \lVert\sum_c h_ch_c'\rVert_F^2`), so the cost is linear
in the number of clusters.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from .blocks import Blocks
from .inputs import MetaInputError, _series
from .result import RmaMvResult, RmaResult, _df_text, _omnibus_lines, _results_table
from .wls import coefficient_tests, series

__all__ = ["RobustResult", "robust"]

#: clubSandwich's ``matrix_power`` tolerance: eigenvalues at or below it count as 0.
EIGEN_TOL = 1e-12


@dataclass(frozen=True, eq=False)
class RobustResult:
    """Cluster-robust tests of a meta-analytic model (metafor's ``robust.rma``).

    Attributes
    ----------
    beta, se, tval, df, pval, ci_lb, ci_ub : pandas.Series
        Coefficients (unchanged), robust standard errors, t statistics, degrees of
        freedom (``n - p`` for CR1; Satterthwaite per coefficient for CR2),
        p-values and confidence limits.
    vb : pandas.DataFrame
        Robust covariance of the coefficients.
    QM, QMdf, QMp : float, tuple, float
        Omnibus test of the moderators: F on ``(m, n - p)`` df (CR1), clubSandwich's
        HTZ (CR2); for intercept-only models the squared t test of the intercept.
    vcov_type : {"CR1", "CR2"}
    n_clusters : int
    cluster_sizes : pandas.Series
        Effects per cluster.
    fit : RmaResult or RmaMvResult
        The model.
    """

    beta: pd.Series
    se: pd.Series
    tval: pd.Series
    df: pd.Series
    pval: pd.Series
    ci_lb: pd.Series
    ci_ub: pd.Series
    vb: pd.DataFrame
    QM: float
    QMdf: tuple
    QMp: float
    vcov_type: str
    n_clusters: int
    cluster_sizes: pd.Series = field(repr=False)
    fit: Any = field(repr=False)

    @property
    def coefficients(self) -> pd.DataFrame:
        """The coefficient table: estimate, se, tval, df, pval, ci_lb, ci_ub."""
        return pd.DataFrame({"estimate": self.beta, "se": self.se, "tval": self.tval, "df": self.df,
                             "pval": self.pval, "ci_lb": self.ci_lb, "ci_ub": self.ci_ub})

    def summary(self) -> str:
        """Text laid out like metafor's print of a ``robust.rma`` object."""
        sizes = self.cluster_sizes
        lines = [f"Cluster-robust inference ({self.vcov_type}) for the model fitted to k = {self.fit.k} effects",
                 (f"Number of clusters = {self.n_clusters}; outcomes per cluster: {sizes.min()}-{sizes.max()} "
                  f"(mean: {sizes.mean():.2f}, median: {sizes.median():g})")]
        if not self.fit.int_only:
            lines += _omnibus_lines(self.QM, self.QMp, self.QMdf, self.fit.btt, True)
        table = self.coefficients
        lines += _results_table(table.drop(columns="df") if self.vcov_type == "CR1" else table, self.pval,
                                self.fit.int_only)
        df_note = (f"t and F tests with df = {_df_text(self.n_clusters - self.fit.p)}" if self.vcov_type == "CR1"
                   else "Satterthwaite df per coefficient (clubSandwich), HTZ test of the moderators")
        lines += ["", f"Robust variance estimator: {self.vcov_type}; {df_note}"]
        return "\n".join(lines)


def robust(fit: RmaResult | RmaMvResult, cluster: Any, clubsandwich: bool = False,
           data: pd.DataFrame | None = None) -> RobustResult:
    r"""Cluster-robust standard errors and tests, as ``metafor::robust`` (and ``clubSandwich``).

    Parameters
    ----------
    fit : RmaResult or RmaMvResult
        A fitted model.
    cluster : array-like, Series or str
        Cluster of every effect used in the fit (a column of ``data``, or values in
        the order of the fit's effects).
    clubsandwich : bool
        False: metafor's CR1 (``adjust = TRUE``) with t tests on ``n - p`` df. True:
        CR2 with Satterthwaite df per coefficient and the HTZ omnibus test
        (``robust(..., clubSandwich = TRUE)``).
    data : DataFrame, optional
        Table for a column name in ``cluster`` (rows as the fit's effects).

    Returns
    -------
    RobustResult

    Raises
    ------
    MetaInputError
        ``cluster`` of the wrong length or with missing values; no more clusters
        than coefficients; for ``rma_mv`` fits, random effects (or sampling
        covariances) not nested within the clusters (clubSandwich's "Random effects
        are not nested within clustering variable.": robust variances need the
        marginal covariance block-diagonal by cluster).
    """
    labels, codes = _clusters(fit, cluster, data)
    n, p = codes.max() + 1, fit.p
    if n - p <= 0:
        raise MetaInputError(f"number of clusters ({n}) must be larger than the number of coefficients ({p})")
    vb = fit.vb.to_numpy()
    names = list(fit.X.columns)
    sizes = pd.Series(np.bincount(codes), index=labels, name="effects")
    beta = fit.beta.to_numpy()
    if not clubsandwich:
        vr = n / (n - p) * _cr0(fit, codes)
        tests = coefficient_tests(beta, vr, fit.btt, fit.alpha, n - p)
        df = np.full(p, float(n - p))
        qm, qmdf, qmp = tests.QM, tests.QMdf, tests.QMp
        kind = "CR1"
    else:
        blocks = _cluster_blocks(fit, codes)
        xwx_inv = np.linalg.inv(_xwx(blocks))
        vr, pieces = _cr2(blocks, vb, xwx_inv)
        df = _satterthwaite(pieces, vb, xwx_inv)
        tests = coefficient_tests(beta, vr, fit.btt, fit.alpha, df)
        if fit.int_only:
            qm, qmdf, qmp = max(0.0, float(tests.stat[0] ** 2)), (1, float(df[0])), float(tests.pval[0])
        else:
            qm, qmdf, qmp = _htz(pieces, vb, xwx_inv, beta, vr, fit.btt)
        kind = "CR2"
    return RobustResult(beta=fit.beta.copy(), se=series(tests.se, names), tval=series(tests.stat, names),
                        df=series(df, names), pval=series(tests.pval, names), ci_lb=series(tests.ci_lb, names),
                        ci_ub=series(tests.ci_ub, names), vb=pd.DataFrame(vr, index=names, columns=names),
                        QM=float(qm), QMdf=qmdf, QMp=float(qmp), vcov_type=kind, n_clusters=int(n),
                        cluster_sizes=sizes, fit=fit)


def _clusters(fit: RmaResult | RmaMvResult, cluster: Any, data: pd.DataFrame | None) -> tuple[pd.Index, np.ndarray]:
    """Cluster labels (sorted) and every effect's cluster code."""
    values = _series("cluster", cluster, data)[0]
    if len(values) != fit.k:
        raise MetaInputError(f"cluster has {len(values)} values but the model was fitted to {fit.k} effects")
    if values.isna().any():
        raise MetaInputError("cluster: missing values are not allowed")
    codes, labels = pd.factorize(values.to_numpy(), sort=True)
    return pd.Index(labels), codes


def _cr0(fit: RmaResult | RmaMvResult, codes: np.ndarray) -> np.ndarray:
    """metafor's CR0 sandwich: bread :math:`V_{\\hat\\beta}X'W` with the model's full :math:`W = M^{-1}`, meat by cluster."""
    X, e = fit.X.to_numpy(float), fit.residuals.to_numpy(float)
    if isinstance(fit, RmaMvResult):
        WX = fit.blocks.solve(fit.sigma2.to_numpy(), X)
    else:
        WX = X / (fit.vi.to_numpy(float) + fit.tau2)[:, None]
    scores = np.zeros((codes.max() + 1, X.shape[1]))
    np.add.at(scores, codes, WX * e[:, None])
    vb = fit.vb.to_numpy()
    return vb @ (scores.T @ scores) @ vb


def _cluster_blocks(fit: RmaResult | RmaMvResult, codes: np.ndarray) -> list[dict]:
    """Per cluster (stacked by size): the blocks of M and M^{-1}, X and the residuals."""
    X, e = fit.X.to_numpy(float), fit.residuals.to_numpy(float)
    if isinstance(fit, RmaMvResult):
        for name in fit.factors.columns:
            per_level = pd.Series(codes).groupby(fit.factors[name].to_numpy()).nunique()
            if (per_level > 1).any():
                raise MetaInputError("Random effects are not nested within clustering variable. "
                                     f"(levels of {name!r} span several clusters; clubSandwich refuses this too)")
        model_blocks = fit.blocks.labels
        spanning = pd.Series(codes).groupby(model_blocks).nunique()
        if (spanning > 1).any():
            raise MetaInputError("the sampling covariance V links effects of different clusters; "
                                 "robust variances need V block-diagonal by cluster")
        factor_codes = [pd.factorize(fit.factors[name])[0] for name in fit.factors.columns]
        by_cluster = Blocks(codes, e, X, fit.V, factor_codes)
        sigma2 = fit.sigma2.to_numpy()
    else:
        by_cluster = Blocks(codes, e, X, fit.vi.to_numpy(float) + fit.tau2, [])
        sigma2 = np.zeros(0)
    out = []
    for g, (Minv, _) in zip(by_cluster.groups, by_cluster.inverses(sigma2)):
        M = g.V + np.tensordot(sigma2, g.D, axes=1) if len(sigma2) else g.V
        out.append({"X": g.X, "e": g.y, "M": M, "Minv": Minv})
    return out


def _xwx(blocks: list[dict]) -> np.ndarray:
    """:math:`X'WX` summed over clusters."""
    return sum(np.einsum("bni,bnm,bmj->ij", b["X"], b["Minv"], b["X"]) for b in blocks)


def _inverse_sqrt(G: np.ndarray) -> np.ndarray:
    """clubSandwich's ``matrix_power(G, -1/2)`` for a stack of symmetric matrices."""
    values, vectors = np.linalg.eigh(G)
    scaled = np.where(values > EIGEN_TOL, np.abs(values) ** -0.5, 0.0)
    return vectors @ (scaled[:, :, None] * np.swapaxes(vectors, 1, 2))


def _cr2(blocks: list[dict], vb: np.ndarray, xwx_inv: np.ndarray) -> tuple[np.ndarray, list[dict]]:
    """The CR2 sandwich :math:`V_{\\hat\\beta}[\\sum_c E_c e_c e_c'E_c']V_{\\hat\\beta}`, :math:`E_c = X_c'W_cA_c`."""
    meat = np.zeros_like(vb)
    pieces = []
    for b in blocks:
        XW = np.swapaxes(b["Minv"] @ b["X"], 1, 2)  # X_c' W_c, (b, p, n)
        U = np.swapaxes(np.linalg.cholesky(b["M"]), 1, 2)  # M_c = U'U
        G = U @ (b["M"] - b["X"] @ xwx_inv @ np.swapaxes(b["X"], 1, 2)) @ np.swapaxes(U, 1, 2)
        E = XW @ np.swapaxes(U, 1, 2) @ _inverse_sqrt(G) @ U
        pieces.append({"E": E, "U": U, "X": b["X"]})
        u = np.einsum("bpn,bn->bp", E, b["e"])
        meat += u.T @ u
    return vb @ meat @ vb, pieces


def _gh(pieces: list[dict], vb: np.ndarray, xwx_inv: np.ndarray, contrasts: np.ndarray
        ) -> tuple[np.ndarray, np.ndarray]:
    """Per cluster: :math:`D_c = g_cg_c'` (q x q) and :math:`h_c` (q x p), clubSandwich's ``get_GH``."""
    L = np.linalg.cholesky(xwx_inv)
    D, H = [], []
    for piece in pieces:
        ME = contrasts @ vb @ piece["E"]  # (b, q, n)
        G = ME @ np.swapaxes(piece["U"], 1, 2)
        D.append(G @ np.swapaxes(G, 1, 2))
        H.append(ME @ piece["X"] @ L)
    return np.concatenate(D), np.concatenate(H)


def _pair_moments(D: np.ndarray, H: np.ndarray) -> np.ndarray:
    r""":math:`S_{abcd} = \sum_{j,k} P_{ab,jk} P_{cd,jk}` with :math:`P_{ab,jk} = \delta_{jk} D_{j,ab} - h_{ja}\cdot h_{kb}`."""
    R = np.einsum("jau,jbu->jab", H, H)
    S = np.einsum("jax,jcy->acxy", H, H)
    return (np.einsum("jab,jcd->abcd", D, D) - np.einsum("jab,jcd->abcd", D, R) - np.einsum("jab,jcd->abcd", R, D)
            + np.einsum("acxy,bdxy->abcd", S, S))


def _satterthwaite(pieces: list[dict], vb: np.ndarray, xwx_inv: np.ndarray) -> np.ndarray:
    """Satterthwaite df of every coefficient, :math:`2E^2/V` (clubSandwich's ``coef_test``)."""
    p = vb.shape[0]
    D, H = _gh(pieces, vb, xwx_inv, np.eye(p))
    expected = np.einsum("jaa->a", D) - np.einsum("jau,jau->a", H, H)
    moments = _pair_moments(D, H)
    return expected**2 / np.array([moments[a, a, a, a] for a in range(p)])


def _htz(pieces: list[dict], vb: np.ndarray, xwx_inv: np.ndarray, beta: np.ndarray, vr: np.ndarray,
         btt: np.ndarray) -> tuple[float, tuple, float]:
    """clubSandwich's HTZ Wald test that the coefficients ``btt`` are 0: F, (q, df), p."""
    q = len(btt)
    contrasts = np.eye(len(beta))[btt]
    D, H = _gh(pieces, vb, xwx_inv, contrasts)
    omega = D.sum(axis=0) - np.einsum("jau,jbu->ab", H, H)
    values, vectors = np.linalg.eigh(omega)
    root = vectors @ np.diag(np.where(values > EIGEN_TOL, values ** -0.5, 0.0)) @ vectors.T
    D = root @ D @ root
    H = np.einsum("st,jtu->jsu", root, H)
    moments = _pair_moments(D, H)
    var = np.array([[moments[s, t, t, s] + moments[s, s, t, t] for t in range(q)] for s in range(q)])
    eta = q * (q + 1) / var.sum()
    cb = contrasts @ beta
    Q = float(cb @ np.linalg.solve(contrasts @ vr @ contrasts.T, cb))
    delta = max((eta - q + 1) / eta, 0.0)
    df = eta - q + 1
    F = delta * Q / q
    pval = float(stats.f.sf(F, q, df)) if df > 0 else np.nan
    return max(0.0, F), (q, float(df)), pval
