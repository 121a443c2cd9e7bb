r"""Several effects per study: the multilevel/multivariate model of ``metafor::rma.mv`` and ``impute_covariance``.

:func:`rma_mv` fits

.. math::

   y = X\beta + \sum_{l=1}^{L} Z_l u_l + e, \qquad u_l \sim N(0, \sigma^2_l I), \qquad e \sim N(0, V),

with known sampling covariance :math:`V` and one variance component per random
term ``~ 1 | f`` (``~ 1 | study/es_id`` is the nested pair ``study`` and
``study/es_id``; a list of terms gives crossed factors), so that
:math:`M = \mathrm{Var}(y) = V + \sum_l \sigma^2_l Z_lZ_l'`. The variance components
maximise the restricted (REML) or full (ML) log-likelihood, profiled over
:math:`\beta`, as metafor's ``.ll.rma.mv`` writes it:

.. math::

   \ell_{ML} = -\tfrac12\left[k\log 2\pi + \log|M| + r'M^{-1}r\right], \qquad
   \ell_{REML} = -\tfrac12\left[(k-p)\log 2\pi - \log|X'X| + \log|M| + \log|X'M^{-1}X| + r'M^{-1}r\right],

:math:`r = y - X\hat\beta`, :math:`\hat\beta = (X'M^{-1}X)^{-1}X'M^{-1}y`, over
:math:`\theta_l = \log\sigma^2_l` (metafor's parameterisation) by L-BFGS-B with the
analytic gradient (see :meth:`Blocks.gls`), from metafor's starting values. Every
product is taken blockwise over the independent blocks of :math:`M` (studies, for
nested models; see :mod:`.blocks`). Tests, :math:`Q_E` and :math:`Q_M` are those of
:mod:`.wls`; ``test="t"`` uses :math:`k - p` df for every coefficient (metafor's
default ``dfs="residual"``).

Heterogeneity by level (metafor's FAQ, Cheung 2014):
:math:`I^2_l = 100\,\sigma^2_l / (\sum_m \sigma^2_m + \tilde v)` with the typical
sampling variance :math:`\tilde v = (k-p)/\mathrm{tr}(P)`,
:math:`P = W - WX(X'WX)^{-1}X'W`, :math:`W = V^{-1}`, and ``total`` the sum over levels.
"""

from __future__ import annotations

import itertools
import re
from typing import Any

import numpy as np
import pandas as pd
import scipy.sparse as sp
from scipy import optimize

from .blocks import Blocks, block_labels
from .inputs import (
    SHOWN,
    MetaInputError,
    _aligned,
    _check_rank,
    _level,
    _model_matrix,
    _numeric,
    _same_length,
    _series,
    _unique,
)
from .result import RmaMvResult
from .wls import coefficient_tests, moderator_index, q_test, series

__all__ = ["MV_METHODS", "MV_TESTS", "impute_covariance", "rma_mv"]

MV_METHODS = ("REML", "ML")
MV_TESTS = ("z", "t")
#: metafor zeroes variance components at or below ten machine epsilons (``.ll.rma.mv``).
ZERO = 10 * np.finfo(float).eps
#: L-BFGS-B settings: relative change in the objective and projected gradient (in log sigma2).
FTOL, GTOL, OPT_MAXITER = 1e-15, 1e-9, 2000
#: Search range of log(sigma2) around metafor's starting value.
LOG_RANGE = 40.0
TERM = re.compile(r"^\s*~\s*1\s*\|\s*(.+?)\s*$")


# --------------------------------------------------------------------------- covariance


def impute_covariance(vi: Any, cluster: Any, r: float, data: pd.DataFrame | None = None,
                      sparse: bool = False) -> np.ndarray | sp.csr_matrix:
    r"""Sampling covariance of effects within clusters under a constant correlation.

    As ``metafor::vcalc(vi, cluster, rho = r)`` (with distinct ``obs``) and
    ``clubSandwich::impute_covariance_matrix(vi, cluster, r)``:

    .. math::

       V_{ij} = \begin{cases} v_i & i = j \\ r\sqrt{v_i v_j} & i \ne j \text{ in the same cluster} \\
       0 & \text{otherwise.} \end{cases}

    Parameters
    ----------
    vi : array-like, Series or str
        Sampling variances (or a column of ``data``).
    cluster : array-like, Series or str
        Cluster (study) of every effect.
    r : float
        Correlation of the sampling errors within a cluster, in [-1, 1].
    data : DataFrame, optional
        Table for column names.
    sparse : bool
        Return a ``scipy.sparse.csr_matrix`` (use it for many effects: the matrix is
        block-diagonal) instead of a dense array.

    Returns
    -------
    numpy.ndarray or scipy.sparse.csr_matrix
        :math:`k \times k`, rows in the order of ``vi`` (not sorted by cluster).

    Raises
    ------
    MetaInputError
        Missing or negative variances, missing clusters, ``|r| > 1``, lengths that differ.
    """
    if not isinstance(r, (int, float)) or isinstance(r, bool) or not -1 <= r <= 1:
        raise MetaInputError(f"r must be a correlation in [-1, 1], got {r!r}")
    given = _aligned({"vi": vi, "cluster": cluster}, data)
    v, _, v_label = _numeric("vi", given["vi"], data)
    groups = _series("cluster", given["cluster"], data)[0]
    _same_length({"vi": v, "cluster": groups.to_numpy()})
    if np.isnan(v).any() or (v < 0).any():
        raise MetaInputError(f"{v_label}: sampling variances must be non-negative and not missing")
    if groups.isna().any():
        raise MetaInputError("cluster: missing values are not allowed")
    codes = pd.factorize(groups)[0]
    order = np.argsort(codes, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(codes[order])) + 1, len(order)]
    rows, cols = [], []
    for a, b in itertools.pairwise(starts):
        members = order[a:b]
        rows.append(np.repeat(members, len(members)))
        cols.append(np.tile(members, len(members)))
    rows, cols = np.concatenate(rows), np.concatenate(cols)
    sd = np.sqrt(v)
    values = np.where(rows == cols, v[rows], r * sd[rows] * sd[cols])
    matrix = sp.csr_matrix((values, (rows, cols)), shape=(len(v), len(v)))
    return matrix if sparse else matrix.toarray()


# --------------------------------------------------------------------------- inputs


def _random_terms(random: Any) -> list[tuple[str, list[str]]]:
    """Variance components of metafor's ``random`` formulas: (name, columns) in metafor's order.

    ``"~ 1 | a/b"`` gives ``a`` and ``a/b`` (b within a); a list of terms gives
    their components in turn (crossed factors).
    """
    terms = [random] if isinstance(random, str) else list(random) if random is not None else []
    if not terms:
        raise MetaInputError("random: give at least one term such as '~ 1 | study/es_id'")
    components: list[tuple[str, list[str]]] = []
    for term in terms:
        match = TERM.match(term) if isinstance(term, str) else None
        if match is None:
            raise MetaInputError(f"random: {term!r} is not a term '~ 1 | factor' or '~ 1 | outer/inner' "
                                 "(other rma.mv structures are not supported)")
        names = [name.strip() for name in match.group(1).split("/")]
        if any(not name for name in names):
            raise MetaInputError(f"random: {term!r} has an empty factor name")
        components += [("/".join(names[:j + 1]), names[:j + 1]) for j in range(len(names))]
    seen = [name for name, _ in components]
    if len(set(seen)) < len(seen):
        raise MetaInputError(f"random: the same variance component appears twice in {seen}")
    return components


def _factor_levels(components: list[tuple[str, list[str]]], data: pd.DataFrame | None, k: int) -> pd.DataFrame:
    """The level of every effect for every variance component (text; nested levels joined by "/")."""
    if data is None:
        raise MetaInputError("random names columns, but no data= was given")
    if len(data) != k:
        raise MetaInputError(f"data has {len(data)} rows but there are {k} outcomes")
    codes = {}
    for name, columns in components:
        absent = [column for column in columns if column not in data.columns]
        if absent:
            raise MetaInputError(f"random: columns {absent} not in data (columns: {list(data.columns)})")
        frame = data[columns].reset_index(drop=True)
        if frame.isna().any().any():
            raise MetaInputError(f"random: missing values in {columns} (metafor allows none)")
        text = frame.iloc[:, 0].astype(str)
        for column in columns[1:]:
            text = text + "/" + frame[column].astype(str)
        codes[name] = text.to_numpy()
    return pd.DataFrame(codes)


def _sampling_covariance(V: Any, data: pd.DataFrame | None, k: int) -> tuple[np.ndarray, Any, str]:
    """Sampling variances (diagonal) and the covariance as given: a vector, a dense or a sparse matrix."""
    if sp.issparse(V) or (not isinstance(V, (str, pd.Series)) and np.ndim(V) == 2):
        matrix = sp.csr_matrix(V, dtype=float) if sp.issparse(V) else np.asarray(V, dtype=float)
        if matrix.shape != (k, k):
            raise MetaInputError(f"V is {matrix.shape[0]} x {matrix.shape[1]} but there are {k} outcomes")
        asym = abs(matrix - matrix.T).max() if sp.issparse(matrix) else np.nanmax(np.abs(matrix - matrix.T))
        scale = abs(matrix).max() if sp.issparse(matrix) else np.nanmax(np.abs(matrix))
        if asym > 1e-10 * max(scale, 1e-300):
            raise MetaInputError("V must be symmetric")
        return np.asarray(matrix.diagonal(), float), matrix, "V"
    v, _, label = _numeric("V", V, data)
    return v, v, label


def _subset(V: Any, keep: np.ndarray) -> Any:
    """The sampling covariance of the rows kept."""
    if np.ndim(V) == 1 and not sp.issparse(V):
        return V[keep]
    index = np.flatnonzero(keep)
    return V[index][:, index] if sp.issparse(V) else V[np.ix_(index, index)]


def _check_positive_definite(blocks: Blocks, labels: np.ndarray) -> None:
    """Raise naming the first block of V that is not positive definite."""
    for g in blocks.groups:
        eig_min = np.linalg.eigvalsh(g.V)[:, 0]
        bad = np.flatnonzero(eig_min <= 0)
        if len(bad):
            shown = [", ".join(labels[g.rows[b]]) for b in bad[:SHOWN]]
            raise MetaInputError(
                f"V is not positive definite: {len(bad)}{'+' if len(blocks.groups) > 1 else ''} block(s) of the "
                f"sampling covariance have eigenvalues <= 0 (smallest {eig_min[bad[0]]:.3g}); rows "
                + "; ".join(f"[{rows}]" for rows in shown)
                + ". Check the variances (all > 0) and the correlations (|r| < 1, a valid correlation matrix)")


# --------------------------------------------------------------------------- rma_mv


def rma_mv(yi: Any, V: Any, data: pd.DataFrame | None = None, random: Any = "~ 1 | study/es_id", mods: Any = None,
           method: str = "REML", test: str = "z", level: float = 95, slab: Any = None,
           sigma2: Any = None) -> RmaMvResult:
    r"""Fit the multilevel/multivariate meta-analytic model (``metafor::rma.mv``).

    Parameters
    ----------
    yi : array-like, Series or str
        Outcomes, or a column name of ``data``.
    V : array-like, Series, str, 2-D array, DataFrame or scipy sparse matrix
        Sampling variances (a column name or vector), or the full :math:`k \times k`
        sampling covariance (correlated sampling errors; e.g. from
        :func:`impute_covariance`; sparse for many effects).
    data : DataFrame, optional
        Table for column names, the random factors and a moderator formula.
    random : str or list of str
        metafor's terms: ``"~ 1 | study/es_id"`` (effects within studies; variance
        components ``study`` and ``study/es_id``), ``"~ 1 | district/school"``, or a
        list such as ``["~ 1 | study", "~ 1 | outcome"]`` for crossed factors.
    mods : array-like, DataFrame or str, optional
        Moderators as in :func:`analysis.meta.rma`: a numeric matrix or DataFrame (an
        intercept is added) or a formula evaluated in ``data``.
    method : {"REML", "ML"}
    test : {"z", "t"}
        Normal tests, or t tests (and F for the moderators) with :math:`k - p` df.
    level : float
        Confidence level in percent (95) or as a proportion (0.95).
    slab : array-like or str, optional
        Labels of the effects (default 1..k).
    sigma2 : sequence of float or None, optional
        metafor's ``sigma2``: one entry per variance component, ``None`` (or NaN) to
        estimate it, a number >= 0 to fix it there; e.g. ``[0, None]`` fixes the first
        component at 0 to test it with :meth:`RmaMvResult.anova`.

    Returns
    -------
    RmaMvResult

    Raises
    ------
    MetaInputError
        Unknown method or test; random terms that are not ``~ 1 | f``; unknown
        columns; arguments of different length; missing values in a random factor;
        a sampling covariance that is not symmetric or not positive definite (the
        block named); fewer effects than coefficients; collinear moderators.

    Notes
    -----
    Effects with a missing outcome, variance or moderator are left out (metafor's
    default) and named in ``warnings``; a factor with a single level has its
    variance component fixed at 0, as metafor does. The cost grows with the size of
    the largest block of :math:`M`: nested models are cheap (one block per study),
    whereas a factor crossed over all studies makes one dense block of all effects.
    """
    method, test = str(method).upper(), str(test).lower()
    if method not in MV_METHODS:
        raise MetaInputError(f"unknown method {method!r}; rma_mv fits {MV_METHODS}")
    if test not in MV_TESTS:
        raise MetaInputError(f"unknown test {test!r}; rma_mv offers {MV_TESTS}")
    alpha = _level(level)
    components = _random_terms(random)
    given = _aligned({"yi": yi, "mods": mods, "slab": slab}
                     | ({"V": V} if isinstance(V, pd.Series) else {}), data)
    y, _, _ = _numeric("yi", given["yi"], data)
    k_all = len(y)
    v, Vgiven, _ = _sampling_covariance(given.get("V", V), data, k_all)
    labels = _unique(_series("slab", given["slab"], data)[0].astype(str).to_numpy() if slab is not None
                     else np.arange(1, k_all + 1).astype(str))
    _same_length({"yi": y, "V": v, "slab": labels})
    X, design_info = _model_matrix(given["mods"], data, k_all)
    levels = _factor_levels(components, data, k_all)
    missing = np.isnan(y) | np.isnan(v) | np.isnan(X.to_numpy(float)).any(axis=1)
    messages = []
    if missing.any():
        messages.append(f"{missing.sum()} effect{'s' if missing.sum() > 1 else ''} with missing values omitted: "
                        f"{', '.join(labels[missing][:SHOWN])}{' ...' if missing.sum() > SHOWN else ''}")
    keep = ~missing
    y, v, labels = y[keep], v[keep], labels[keep]
    Vk = _subset(Vgiven, keep)
    if not sp.issparse(Vk) and np.ndim(Vk) == 2 and np.isnan(Vk).any():
        raise MetaInputError("V has missing covariances among the effects used")
    X = X.loc[keep].set_axis(labels)
    levels = levels.loc[keep].set_axis(labels)
    codes = levels.apply(lambda column: pd.factorize(column, sort=True)[0])
    k, p = X.shape
    if k <= p:
        raise MetaInputError(f"{k} effects cannot estimate {p} coefficients and the variance components")
    _check_rank(X)
    nlevels = codes.nunique().to_numpy()
    fixed = _fixed_components(sigma2, list(codes.columns))
    for name in codes.columns[(nlevels <= 1) & np.isnan(fixed)]:
        messages.append(f"the factor {name!r} has a single level: its variance component is fixed at 0 (as metafor)")
    free = (nlevels > 1) & np.isnan(fixed)
    start = np.where(np.isnan(fixed), 0.0, fixed)
    Xv = X.to_numpy(float)
    code_list = [codes[name].to_numpy() for name in codes.columns]
    matrix = None if np.ndim(Vk) == 1 and not sp.issparse(Vk) else Vk
    blocks = Blocks(block_labels(code_list, matrix, k), y, Xv, Vk, code_list)
    _check_positive_definite(blocks, labels)
    sigma2, converged = _estimate(blocks, y, v, Xv, start, free, method == "REML", messages)
    return _result(blocks, sigma2, free, nlevels, y, v, X, Vk, levels, labels, method, test, level, alpha,
                   converged, messages, design_info, data.attrs.get("measure") if data is not None else None)


def _fixed_components(sigma2: Any, names: list[str]) -> np.ndarray:
    """metafor's ``sigma2`` argument as an array: NaN where estimated, the fixed value elsewhere."""
    if sigma2 is None:
        return np.full(len(names), np.nan)
    values = [np.nan if value is None else value for value in np.atleast_1d(np.asarray(sigma2, dtype=object))]
    try:
        fixed = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise MetaInputError(f"sigma2 must hold numbers or None, got {list(sigma2)!r}") from None
    if len(fixed) != len(names):
        raise MetaInputError(f"sigma2 has {len(fixed)} entries but the model has {len(names)} variance components "
                             f"({', '.join(names)})")
    bad = ~np.isnan(fixed) & ~(np.isfinite(fixed) & (fixed >= 0))
    if bad.any():
        raise MetaInputError(f"sigma2 must be None (estimated) or a finite value >= 0; got {fixed[bad].tolist()} for "
                             f"{', '.join(np.asarray(names)[bad])}")
    return fixed


def _estimate(blocks: Blocks, y: np.ndarray, v: np.ndarray, X: np.ndarray, start_sigma2: np.ndarray,
              free: np.ndarray, reml: bool, messages: list[str]) -> tuple[np.ndarray, bool]:
    """Variance components maximising the (restricted) likelihood over log(sigma2), from metafor's start.

    ``start_sigma2`` holds the fixed components' values (and 0 where ``free``).
    """
    k, _ = X.shape
    n_comp = len(free)
    sigma2 = start_sigma2.astype(float).copy()
    if not free.any():
        return sigma2, True
    fe = blocks.gls(np.zeros(n_comp))
    spread = np.var(y - X @ fe.beta, ddof=1) - 1 / np.mean(1 / v)
    total = max(0.001 * n_comp, spread)
    start = np.log(np.full(free.sum(), total / n_comp))
    logdet_xx = np.linalg.slogdet(X.T @ X)[1]

    def objective(theta: np.ndarray) -> tuple[float, np.ndarray]:
        sigma2[free] = np.exp(theta)
        current = np.where(sigma2 <= ZERO, 0.0, sigma2)
        try:
            fit = blocks.gls(current, gradient=True)
        except np.linalg.LinAlgError:
            return np.inf, np.zeros_like(theta)
        gradient = (fit.grad_reml if reml else fit.grad_ml)[free] * sigma2[free]
        return -fit.loglik(k, reml, logdet_xx), -gradient

    bounds = [(s - LOG_RANGE, s + LOG_RANGE) for s in start]
    result = optimize.minimize(objective, start, jac=True, method="L-BFGS-B", bounds=bounds,
                               options={"ftol": FTOL, "gtol": GTOL, "maxiter": OPT_MAXITER, "maxcor": 20})
    sigma2[free] = np.exp(result.x)
    sigma2 = np.where(sigma2 <= ZERO, 0.0, sigma2)
    converged = bool(result.success) or "ABNORMAL" in str(result.message).upper()
    if not converged:
        messages.append(f"the optimiser did not converge ({result.message}); the estimates are not reliable")
    small = free & (sigma2 < 1e-8 * max(sigma2.max(), 1e-300))
    for j in np.flatnonzero(small | (free & (sigma2 == 0))):
        messages.append(f"variance component {j + 1} was estimated at (nearly) 0")
    return sigma2, converged


def _result(blocks: Blocks, sigma2: np.ndarray, free: np.ndarray, nlevels: np.ndarray, y: np.ndarray,
            v: np.ndarray, X: pd.DataFrame, V: Any, levels: pd.DataFrame, labels: np.ndarray, method: str, test: str,
            level: float, alpha: float, converged: bool, messages: list[str], design_info: Any,
            measure: str | None) -> RmaMvResult:
    """Coefficients, tests, fit statistics and heterogeneity of the fitted components."""
    k, p = X.shape
    names = list(X.columns)
    Xv = X.to_numpy(float)
    fit = blocks.gls(sigma2)
    dof = k - p
    tests = coefficient_tests(fit.beta, fit.vb, moderator_index(names), alpha, dof if test == "t" else None)
    fixed = blocks.gls(np.zeros_like(sigma2))
    qe, qep = q_test(fixed.rss, dof)
    logdet_xx = np.linalg.slogdet(Xv.T @ Xv)[1]
    ll = {"ML": fit.loglik(k, False), "REML": fit.loglik(k, True, logdet_xx)}
    parms = p + int(free.sum())
    ll_saturated = -0.5 * k * np.log(2 * np.pi) - 0.5 * fixed.logdet
    stats = pd.DataFrame({
        "ML": [ll["ML"], -2 * (ll["ML"] - ll_saturated), -2 * ll["ML"] + 2 * parms, -2 * ll["ML"] + parms * np.log(k),
               -2 * ll["ML"] + 2 * parms * max(k, parms + 2) / (max(k, parms + 2) - parms - 1)],
        "REML": [ll["REML"], -2 * ll["REML"], -2 * ll["REML"] + 2 * parms, -2 * ll["REML"] + parms * np.log(k - p),
                 -2 * ll["REML"] + 2 * parms * max(k - p, parms + 2) / (max(k - p, parms + 2) - parms - 1)],
    }, index=["ll", "dev", "AIC", "BIC", "AICc"])
    vt = dof / blocks.trace_p(np.zeros_like(sigma2)) if dof > 0 else np.nan
    share = 100 * np.r_[sigma2, sigma2.sum()] / (sigma2.sum() + vt)
    component_names = list(levels.columns)
    return RmaMvResult(
        beta=series(fit.beta, names), se=series(tests.se, names), zval=series(tests.stat, names),
        pval=series(tests.pval, names), ci_lb=series(tests.ci_lb, names), ci_ub=series(tests.ci_ub, names),
        vb=pd.DataFrame(fit.vb, index=names, columns=names),
        sigma2=pd.Series(sigma2, index=component_names, name="sigma2"),
        sigma2_nlevels=pd.Series(nlevels, index=component_names, name="nlevels"),
        sigma2_fixed=pd.Series(~free, index=component_names, name="fixed"),
        I2_levels=pd.Series(share, index=[*component_names, "total"], name="I2"), vt=float(vt),
        QE=qe, QEp=qep, QM=tests.QM, QMp=tests.QMp, QMdf=tests.QMdf, k=k, p=p, dof=dof, parms=parms,
        fit_stats=stats, method=method, test=test, level=level, yi=pd.Series(y, index=labels),
        vi=pd.Series(v, index=labels), X=X, factors=levels, V=V, blocks=blocks,
        converged=converged, measure=measure, warnings=messages, design_info=design_info,
    )
