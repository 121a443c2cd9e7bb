"""Internal consistency as ``psych::alpha``: alpha, item statistics, key check, reliability by wave."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import stats

from .instruments import Instrument, items_by_wave
from .items import (
    _covariance_to_correlation,
    _keyed,
    _squared_multiple_correlations,
)
from .responses import response_frequencies
from .schmid_leiman import _omega_total


@dataclass(frozen=True)
class Reliability:
    """Internal-consistency reliability of a set of items.

    Attributes
    ----------
    alpha : float
        Cronbach's alpha from the item covariance matrix.
    std_alpha : float
        Standardised alpha from the item correlation matrix.
    alpha_ci : tuple of float
        Feldt confidence interval for ``alpha`` at ``level``.
    omega : float
        McDonald's omega total from a one-factor minres solution, defined as in
        ``psych::omega(x, nfactors = 1)$omega.tot`` and evaluated at the exact
        minres optimum (see :func:`reliability`).
    n : int
        Respondents used.
    k : int
        Number of items.
    item_stats : pandas.DataFrame
        Indexed by item (psych's ``item.stats`` and ``alpha.drop``):
        ``raw_r`` (correlation of the item with the mean of the items),
        ``std_r`` (the same from the correlation matrix), ``r_cor`` (``std_r``
        corrected for item overlap and unreliability), ``r_drop`` (corrected
        item-total correlation), ``alpha_if_dropped``, ``mean``, ``sd``.
    level : float
        Confidence level of ``alpha_ci``.
    missing : str
        ``"pairwise"`` or ``"listwise"``.
    n_dropped : int
        Rows excluded: rows with no responses (pairwise) or with any missing
        response (listwise).
    g6 : float
        Guttman's lambda 6 (psych's ``G6(smc)``).
    average_r : float
        Mean inter-item correlation.
    flagged : tuple of str
        Items negatively correlated with the first principal component: those
        ``psych::alpha(check.keys = TRUE)`` reverses.
    check_keys : bool
        Whether the ``flagged`` items were reversed before everything else.
    response_freq : pandas.DataFrame or None
        psych's ``response.freq`` (:func:`~analysis.scales.response_frequencies`):
        per item, the share of each response value among its answers and the
        share missing (``miss``), from the responses as given (before any
        reversal; all rows with ``missing="pairwise"``, the complete rows with
        ``"listwise"``). None when psych gives none (more than 10 response
        values).
    """

    alpha: float
    std_alpha: float
    alpha_ci: tuple[float, float]
    omega: float
    n: int
    k: int
    item_stats: pd.DataFrame = field(repr=False)
    level: float = 0.95
    missing: str = "pairwise"
    n_dropped: int = 0
    g6: float = math.nan
    average_r: float = math.nan
    flagged: tuple[str, ...] = ()
    check_keys: bool = False
    response_freq: pd.DataFrame | None = field(default=None, repr=False)

    def summary(self) -> str:
        """Return a short plain-text table of the reliability estimates.

        Returns
        -------
        str
        """
        lower, upper = self.alpha_ci
        header = [
            (f"Reliability: n = {self.n} respondents ({self.missing}, "
             f"{self.n_dropped} rows dropped), k = {self.k} items"),
            (f"  alpha      {self.alpha:.3f}  "
             f"[{self.level:.0%} CI {lower:.3f}, {upper:.3f}] (Feldt)"),
            f"  std alpha  {self.std_alpha:.3f}",
            f"  G6 (smc)   {self.g6:.3f}",
            f"  average r  {self.average_r:.3f}",
            f"  omega tot  {self.omega:.3f}",
            f"  reversed   {', '.join(self.flagged) or 'none'}" if self.check_keys
            else f"  flagged    {', '.join(self.flagged) or 'none'} (negative on the first component)",
            "",
        ]
        return "\n".join(header) + self.item_stats.to_string(float_format="{:.3f}".format)

    def __str__(self) -> str:
        return self.summary()


def _alpha_from_covariance(cov: np.ndarray) -> float:
    """Cronbach's alpha ``k/(k-1) * (1 - tr(C)/sum(C))``."""
    k = cov.shape[0]
    return k / (k - 1) * (1.0 - np.trace(cov) / cov.sum())


def _feldt_interval(alpha: float, n: int, k: int, level: float) -> tuple[float, float]:
    """Feldt, Woodruff and Salih (1987) interval, as ``psych::alpha.ci``."""
    tail = (1.0 - level) / 2.0
    df_between, df_within = n - 1, (n - 1) * (k - 1)
    lower = 1.0 - (1.0 - alpha) * stats.f.ppf(1.0 - tail, df_between, df_within)
    upper = 1.0 - (1.0 - alpha) * stats.f.ppf(tail, df_between, df_within)
    return float(lower), float(upper)


def _corrected_item_total(cov: np.ndarray) -> np.ndarray:
    """Correlation of each item with the sum of the other items (psych ``r.drop``)."""
    k = cov.shape[0]
    r_drop = np.empty(k)
    for i in range(k):
        rest = np.delete(np.arange(k), i)
        covariance_with_rest = cov[i, rest].sum()
        r_drop[i] = covariance_with_rest / math.sqrt(cov[i, i] * cov[np.ix_(rest, rest)].sum())
    return r_drop


def _alpha_if_dropped(cov: np.ndarray) -> np.ndarray:
    k = cov.shape[0]
    return np.array(
        [_alpha_from_covariance(np.delete(np.delete(cov, i, 0), i, 1)) for i in range(k)]
    )


def _item_total_correlations(used: pd.DataFrame) -> np.ndarray:
    """psych's ``raw.r``: pairwise correlation of each item with the row mean of the answered items."""
    total = used.mean(axis=1)
    return used.corrwith(total).to_numpy()


def _item_whole_correlations(corr: np.ndarray, diagonal: np.ndarray | None = None) -> np.ndarray:
    """``colSums(R) / sqrt(sum(R))``: psych's ``std.r``, or ``r.cor`` with ``diagonal = smc(R)``."""
    corr = corr.copy()
    if diagonal is not None:
        np.fill_diagonal(corr, diagonal)
    return corr.sum(axis=0) / math.sqrt(corr.sum())


def _guttman_lambda6(corr: np.ndarray) -> float:
    """Guttman's lambda 6, ``1 - (k - sum(smc)) / 1'R1`` (psych's ``G6(smc)``)."""
    k = corr.shape[0]
    return float(1.0 - (k - _squared_multiple_correlations(corr).sum()) / corr.sum())


def _average_correlation(corr: np.ndarray) -> float:
    """Mean off-diagonal correlation ``(1'R1 - k) / (k (k - 1))``."""
    k = corr.shape[0]
    return float((corr.sum() - k) / (k * (k - 1)))


def _item_statistics(used: pd.DataFrame, cov: np.ndarray, corr: np.ndarray) -> pd.DataFrame:
    """psych's ``item.stats`` (raw.r, std.r, r.cor, r.drop, mean, sd) and ``alpha.drop$raw_alpha``."""
    return pd.DataFrame(
        {
            "raw_r": _item_total_correlations(used),
            "std_r": _item_whole_correlations(corr),
            "r_cor": _item_whole_correlations(corr, _squared_multiple_correlations(corr)),
            "r_drop": _corrected_item_total(cov),
            "alpha_if_dropped": _alpha_if_dropped(cov),
            "mean": used.mean().to_numpy(),
            "sd": used.std().to_numpy(),
        },
        index=pd.Index(used.columns, name="item"),
    )


def reliability(
    items: pd.DataFrame, level: float = 0.95, missing: str = "pairwise",
    check_keys: bool = False,
) -> Reliability:
    """Cronbach's alpha, its Feldt interval, item statistics and omega total.

    Reproduces R's ``psych::alpha(items, check.keys = check_keys)`` (with its
    ``response.freq``) and ``psych::omega(items, nfactors = 1)$omega.tot``. Items should already be
    keyed in the same direction (see :func:`reverse_keyed`); ``flagged`` names
    those that seem not to be, and ``check_keys=True`` reverses them.

    Parameters
    ----------
    items : pandas.DataFrame
        Item responses, rows respondents, at least 3 numeric columns.
    level : float, default 0.95
        Confidence level of the Feldt interval.
    missing : {"pairwise", "listwise"}, default "pairwise"
        ``"pairwise"`` matches psych's default (``use = "pairwise"``): item
        covariances and correlations use all pairwise-complete responses, item
        means and SDs all available responses, and ``n`` (used by the Feldt
        interval) counts every row with at least one response (psych counts all
        rows; the two agree unless some rows are entirely empty, which are
        dropped here). ``"listwise"`` drops rows with any missing item first.
        The number of rows dropped is reported as ``n_dropped``.
    check_keys : bool, default False
        Reverse the items negatively correlated with the first principal
        component of the (pairwise) item correlation matrix, as
        ``psych::alpha(check.keys = TRUE)``: ``x -> min + max - x`` with the
        minimum and maximum over all items' responses. The items concerned are
        reported in ``flagged`` either way.

    Returns
    -------
    Reliability

    Notes
    -----
    ``alpha = k/(k-1) (1 - tr(C)/1'C1)`` with ``C`` the item covariance matrix;
    ``std_alpha`` is the same formula on ``R = cov2cor(C)``,
    ``g6 = 1 - (k - sum_i smc_i)/1'R1`` (Guttman's lambda 6 with squared
    multiple correlations ``smc_i = 1 - 1/(R^-1)_ii``) and
    ``average_r = (1'R1 - k)/(k(k - 1))``. Item statistics (psych's names in
    brackets): ``raw_r`` (raw.r) is the pairwise correlation of the item with
    each respondent's mean of the answered items; ``std_r`` (std.r) is
    ``(R1)_i / sqrt(1'R1)``; ``r_cor`` (r.cor) the same with ``smc`` on the
    diagonal of ``R``; ``r_drop`` (r.drop) is the correlation of an item with
    the sum of the other items and ``alpha_if_dropped`` (alpha.drop raw_alpha)
    is alpha of the remaining items, both from ``C``. The
    Feldt interval is ``1 - (1 - alpha) F_{q}(n - 1, (n - 1)(k - 1))`` with
    ``q = (1 + level)/2`` for the lower and ``(1 - level)/2`` for the upper limit.
    Omega total follows psych's one-factor definition: with minres loadings
    ``l`` fitted to the item correlation matrix ``R`` (pairwise or listwise as
    above; items with negative loadings reflected),
    ``omega = (1'R1 - sum(1 - l^2)) / 1'R1``. The minres problem is psych's
    (same parameterisation, start and uniqueness bound 0.005) solved to a
    relative tolerance of 1e-15. psych stops earlier, so its printed omega
    differs from this value by up to about 1e-5 in ordinary cases and more
    (1e-4 or so) when a uniqueness sits at the bound (Heywood case).

    Raises
    ------
    ValueError
        On fewer than 3 items, non-numeric or constant items, item pairs with
        fewer than 2 joint responses, an unknown ``missing`` method or a
        ``level`` outside (0, 1).
    RuntimeError
        If the minres fit for omega does not converge.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    used, n_dropped, flagged, cov = _keyed(items, missing, check_keys, min_columns=3)
    answered = items if missing == "pairwise" else items.dropna()
    corr = _covariance_to_correlation(cov)
    alpha = _alpha_from_covariance(cov)
    n, k = used.shape
    return Reliability(
        alpha=float(alpha),
        std_alpha=float(_alpha_from_covariance(corr)),
        alpha_ci=_feldt_interval(alpha, n, k, level),
        omega=_omega_total(used.corr().to_numpy()),
        n=n,
        k=k,
        item_stats=_item_statistics(used, cov, corr),
        level=level,
        missing=missing,
        n_dropped=n_dropped,
        g6=_guttman_lambda6(corr),
        average_r=_average_correlation(corr),
        flagged=flagged,
        check_keys=check_keys,
        response_freq=response_frequencies(answered),
    )


def reliability_by_wave(data: pd.DataFrame, instrument: str | Instrument) -> pd.DataFrame:
    """Alpha (with its Feldt interval) and omega of an instrument at every wave.

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial table with ``wave`` and the instrument's item columns.
    instrument : str or Instrument
        An item instrument.

    Returns
    -------
    pandas.DataFrame
        Indexed by wave: ``n``, ``alpha``, ``alpha_low``, ``alpha_high``,
        ``omega``, computed on the reverse-keyed items with listwise deletion
        (``n`` says how many answered every item).
    """
    rows = {}
    for wave, items in items_by_wave(data, instrument):
        fit = reliability(items, missing="listwise")
        rows[wave] = {"n": fit.n, "alpha": fit.alpha, "alpha_low": fit.alpha_ci[0],
                      "alpha_high": fit.alpha_ci[1], "omega": fit.omega}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("wave")
