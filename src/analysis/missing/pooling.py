r"""Rubin's rules with Barnard and Rubin's degrees of freedom, as mice's ``pool``.

For one parameter with estimates :math:`\hat Q_j` and squared standard errors
:math:`U_j` from the :math:`m` completed data sets (mice's ``pool.scalar`` and
``pool``, rule "rubin1987"):

.. math::

   \bar Q = \frac1m \sum_j \hat Q_j, \quad
   \bar U = \frac1m \sum_j U_j, \quad
   B = \frac{1}{m-1} \sum_j (\hat Q_j - \bar Q)^2, \quad
   T = \bar U + \Big(1 + \frac1m\Big) B,

.. math::

   r = \frac{(1 + 1/m)\, B}{\bar U}, \quad
   \lambda = \frac{(1 + 1/m)\, B}{T}, \quad
   \nu_{old} = \frac{m - 1}{\lambda_*^2}, \quad
   \nu_{obs} = \frac{\nu_{com} + 1}{\nu_{com} + 3}\, \nu_{com} (1 - \lambda_*), \quad
   \nu = \frac{\nu_{old}\, \nu_{obs}}{\nu_{old} + \nu_{obs}},

with :math:`\lambda_* = \max(\lambda, 10^{-4})` (mice's floor; :math:`\lambda` itself
is reported unfloored) and :math:`\nu = \nu_{old}` when the complete-data df
:math:`\nu_{com}` is infinite; the fraction of missing information is
:math:`\gamma = (r + 2/(\nu + 3)) / (r + 1)`. The interval is
:math:`\bar Q \pm t_{\nu, 1-\alpha/2} \sqrt T` and the p-value
:math:`2\, P(t_{\max(\nu, 0.001)} > |\bar Q| / \sqrt T)` (mice's ``summary``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import numpy as np
import pandas as pd
from scipy import stats

from .result import check_m

#: Columns of :func:`pool` and :func:`with_imputations`, in order.
POOLED = ("estimate", "se", "statistic", "df", "p", "ci_low", "ci_high", "m", "ubar", "b", "t", "dfcom", "riv",
          "lambda", "fmi")
LAMBDA_FLOOR = 1e-4


def pool(estimates, variances, dfcom: float | Iterable[float] | None = None,
         level: float = 0.95) -> pd.Series | pd.DataFrame:
    r"""Combine estimates from m completed data sets by Rubin's rules (mice's ``pool.scalar``).

    Parameters
    ----------
    estimates : array-like, shape (m,) or (m, k)
        :math:`\hat Q_j`, one row per imputation (a DataFrame's columns name the
        parameters).
    variances : array-like, same shape
        :math:`U_j`, the squared standard errors.
    dfcom : float or array of k floats, optional
        Complete-data degrees of freedom :math:`\nu_{com}` (e.g. ``n - p`` of a linear
        model); None or inf: infinite (mice's ``pool.scalar(n = Inf)``).
    level : float, default 0.95
        Confidence level of the interval.

    Returns
    -------
    pandas.Series or pandas.DataFrame
        For one parameter a Series, for several a DataFrame (one row each), with
        :data:`POOLED`: ``estimate`` (:math:`\bar Q`), ``se`` (:math:`\sqrt T`),
        ``statistic``, ``df`` (:math:`\nu`), ``p``, ``ci_low``, ``ci_high``, ``m``,
        ``ubar``, ``b``, ``t``, ``dfcom``, ``riv`` (:math:`r`), ``lambda``, ``fmi``
        (mice's ``qbar, ubar, b, t, df, r, lambda, fmi``).

    Raises
    ------
    ValueError
        Fewer than two imputations, shapes that differ, values that are not finite,
        negative variances or a ``dfcom`` that is not positive.

    Examples
    --------
    >>> pool([1.21, 0.93, 1.47, 1.12, 1.30], [0.041, 0.052, 0.047, 0.039, 0.050])["df"].round(4)
    np.float64(15.0806)
    """
    names = list(estimates.columns) if isinstance(estimates, pd.DataFrame) else None
    q, u = np.asarray(estimates, dtype=float), np.asarray(variances, dtype=float)
    single = q.ndim == 1
    q, u = q.reshape(len(q), -1), u.reshape(len(u), -1)
    _check_inputs(q, u)
    m = q.shape[0]
    nu_com = _dfcom(dfcom, q.shape[1])
    qbar, ubar, b = q.mean(axis=0), u.mean(axis=0), q.var(axis=0, ddof=1)
    t = ubar + (m + 1) * b / m
    df = barnard_rubin(m, b, t, nu_com)
    with np.errstate(divide="ignore", invalid="ignore"):
        riv = (1 + 1 / m) * b / ubar
        lam = (1 + 1 / m) * b / t
        fmi = (riv + 2 / (df + 3)) / (riv + 1)
        se = np.sqrt(t)
        statistic = qbar / se
    p = 2 * stats.t.sf(np.abs(statistic), np.maximum(df, 0.001))
    half = stats.t.ppf(0.5 + level / 2, df) * se
    table = pd.DataFrame({"estimate": qbar, "se": se, "statistic": statistic, "df": df, "p": p,
                          "ci_low": qbar - half, "ci_high": qbar + half, "m": m, "ubar": ubar, "b": b, "t": t,
                          "dfcom": nu_com, "riv": riv, "lambda": lam, "fmi": fmi},
                         index=names)
    return table.iloc[0].rename(None) if single else table


def barnard_rubin(m: int, b, t, dfcom) -> np.ndarray:
    r"""Barnard and Rubin's (1999) degrees of freedom :math:`\nu` (mice's ``barnard.rubin``; module docstring)."""
    lam = np.maximum((1 + 1 / m) * np.asarray(b, dtype=float) / np.asarray(t, dtype=float), LAMBDA_FLOOR)
    old = (m - 1) / lam**2
    dfcom = np.broadcast_to(np.asarray(dfcom, dtype=float), old.shape)
    finite = np.isfinite(dfcom)
    com = np.where(finite, dfcom, 1.0)
    observed = (com + 1) / (com + 3) * com * (1 - lam)
    return np.where(finite, old * observed / (old + observed), old)


def with_imputations(imps, fit: Callable[[pd.DataFrame], object], *, dfcom: float | None = None,
                     level: float = 0.95) -> pd.DataFrame:
    """Fit a model to every completed table and pool each coefficient (mice's ``pool(with(imp, ...))``).

    Parameters
    ----------
    imps : Imputations or sequence of pandas.DataFrame
        The completed tables (:func:`analysis.missing.impute`, or any list).
    fit : callable
        Takes one completed table and returns one of

        * an :class:`analysis.mixed.LmmResult` (or anything with a ``.fixed``
          table of ``estimate`` and ``se``; its ``df`` column gives the
          complete-data df),
        * a DataFrame with ``estimate`` and ``se`` columns, and optionally ``df``
          (e.g. :func:`analysis.mixed.contrast`, :func:`analysis.missing.ancova`),
        * a statsmodels results object (``params``, ``bse``, ``df_resid``),
        * a Series with ``estimate`` and ``se`` (and optionally ``df``) for one
          parameter, or a tuple ``(estimates, standard_errors)`` of Series.
    dfcom : float, optional
        Complete-data df of every parameter. Default: per parameter, the median over
        the tables of the df the fits report (mice takes the first fit's residual
        df; for a linear model every table gives the same); infinite when the fits
        report none.
    level : float, default 0.95
        Confidence level of the intervals.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``term`` (the fits' row labels), columns :data:`POOLED`: the
        figures of mice's ``summary(pool(fit), type = "all", conf.int = TRUE)``
        (``se`` is ``std.error``, ``p`` is ``p.value``, ``ci_low``/``ci_high`` the
        interval limits).

    Raises
    ------
    ValueError
        Fewer than two tables, or fits that do not report the same terms.
    TypeError
        A fit result of another kind.
    """
    tables = list(getattr(imps, "tables", imps))
    check_m(len(tables), "with_imputations")
    results = [estimates_of(fit(table)) for table in tables]
    terms = results[0].index
    for j, result in enumerate(results[1:], start=2):
        if not result.index.equals(terms):
            raise ValueError(f"with_imputations: the fit to table {j} reports terms {list(result.index)}, the fit "
                             f"to table 1 {list(terms)}; each fit must report the same terms")
    q = pd.DataFrame([r["estimate"].to_numpy() for r in results], columns=terms)
    u = pd.DataFrame([r["se"].to_numpy() ** 2 for r in results], columns=terms)
    if dfcom is None:
        dfs = np.array([r["df"].to_numpy(dtype=float) for r in results])
        dfcom = np.median(dfs, axis=0)
    table = pool(q, u, dfcom, level)
    table.index.name = "term"
    return table


def estimates_of(result) -> pd.DataFrame:
    """A fit result as a table of ``estimate``, ``se`` and ``df`` (inf when not reported), one row per term."""
    if isinstance(getattr(result, "fixed", None), pd.DataFrame):
        result = result.fixed
    elif hasattr(result, "params") and hasattr(result, "bse"):
        result = pd.DataFrame({"estimate": result.params, "se": result.bse,
                               "df": getattr(result, "df_resid", np.inf)})
    elif isinstance(result, tuple) and len(result) == 2:
        result = pd.DataFrame({"estimate": pd.Series(result[0]), "se": pd.Series(result[1])})
    elif isinstance(result, pd.Series) and {"estimate", "se"} <= set(result.index):
        result = result.to_frame(result.name if result.name is not None else "estimate").T
    if not isinstance(result, pd.DataFrame) or not {"estimate", "se"} <= set(result.columns):
        raise TypeError("with_imputations: fit must return an LmmResult, a statsmodels result, a DataFrame with "
                        "estimate and se columns, a Series with estimate and se, or (estimates, standard errors); "
                        f"got {type(result).__name__}")
    table = pd.DataFrame({"estimate": result["estimate"].astype(float), "se": result["se"].astype(float),
                          "df": result["df"].astype(float) if "df" in result.columns else np.inf})
    if isinstance(table.index, pd.MultiIndex):
        table.index = [" | ".join(map(str, label)) for label in table.index]
    return table


def _check_inputs(q: np.ndarray, u: np.ndarray) -> None:
    if q.shape != u.shape:
        raise ValueError(f"pool: estimates {q.shape} and variances {u.shape} differ in shape")
    check_m(q.shape[0], "pool")
    if not (np.isfinite(q).all() and np.isfinite(u).all()):
        raise ValueError("pool: estimates and variances must be finite numbers")
    if (u < 0).any():
        raise ValueError("pool: variances (squared standard errors) must be >= 0")


def _dfcom(dfcom, k: int) -> np.ndarray:
    values = np.broadcast_to(np.asarray(np.inf if dfcom is None else dfcom, dtype=float), (k,)).copy()
    if np.isnan(values).any() or (values <= 0).any():
        raise ValueError(f"pool: dfcom must be > 0 (or None for infinite), got {dfcom!r}")
    return values
