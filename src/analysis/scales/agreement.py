"""Intraclass correlations (Shrout & Fleiss) as ``psych::ICC``."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

ICC_FORMS = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")


def _complete_ratings(ratings: pd.DataFrame | np.ndarray) -> tuple[np.ndarray, int]:
    """Numeric ratings of the complete rows, and how many rows were dropped."""
    frame = pd.DataFrame(ratings)
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise ValueError(f"ratings has non-numeric columns: {non_numeric}")
    if frame.shape[1] < 2:
        raise ValueError(f"ratings needs at least 2 raters (columns), got {list(frame.columns)}")
    complete = frame.dropna().to_numpy(dtype=float)
    if len(complete) < 2:
        raise ValueError(f"ratings needs at least 2 subjects rated by every rater, got {len(complete)}")
    if np.ptp(complete) == 0:
        raise ValueError("ratings has no variance among the complete rows")
    return complete, len(frame) - len(complete)


def _two_way_mean_squares(x: np.ndarray) -> dict[str, float]:
    """Mean squares of the two-way ANOVA ``rating ~ subject + rater`` (one rating per cell).

    ``MSB = k sum_i (xbar_i. - xbar)^2/(n - 1)`` (subjects),
    ``MSJ = n sum_j (xbar_.j - xbar)^2/(k - 1)`` (raters),
    ``MSE = SSE/((n - 1)(k - 1))`` (residual) and
    ``MSW = (SSJ + SSE)/(n(k - 1))`` (within subjects).
    """
    n, k = x.shape
    grand = x.mean()
    ss_subjects = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_raters = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_error = ((x - grand) ** 2).sum() - ss_subjects - ss_raters
    return {
        "MSB": ss_subjects / (n - 1),
        "MSJ": ss_raters / (k - 1),
        "MSE": ss_error / ((n - 1) * (k - 1)),
        "MSW": (ss_raters + ss_error) / (n * (k - 1)),
    }


def _spearman_brown(r: float, k: int) -> float:
    """Reliability of the mean of ``k`` ratings, ``k r / (1 + (k - 1) r)``."""
    return k * r / (1.0 + (k - 1) * r)


def _f_limits(f: float, df1: float, df2: float, q: float) -> tuple[float, float]:
    """``(F / F_q(df1, df2), F * F_q(df2, df1))``, the F bounds of Shrout & Fleiss."""
    return f / stats.f.ppf(q, df1, df2), f * stats.f.ppf(q, df2, df1)


def _icc2_interval(icc2: float, ms: dict[str, float], n: int, k: int,
                   q: float) -> tuple[float, float]:
    """Shrout & Fleiss (1979) approximate interval for ICC(2,1) with Satterthwaite df ``v``.

    ``v = (k-1)(n-1)(k r F_J + n(1 + (k-1) r) - k r)^2 /
    ((n-1) k^2 r^2 F_J^2 + (n(1 + (k-1) r) - k r)^2)`` with ``r`` = ICC2 and
    ``F_J = MSJ/MSE``; with ``F* = F_q(n-1, v)`` and ``F** = F_q(v, n-1)``,
    ``lower = n(MSB - F* MSE) / (F*(k MSJ + (kn - k - n) MSE) + n MSB)`` and
    ``upper = n(F** MSB - MSE) / (k MSJ + (kn - k - n) MSE + n F** MSB)``.
    """
    msb, msj, mse = ms["MSB"], ms["MSJ"], ms["MSE"]
    f_raters = msj / mse
    base = n * (1.0 + (k - 1) * icc2) - k * icc2
    v = ((k - 1) * (n - 1) * (k * icc2 * f_raters + base) ** 2
         / ((n - 1) * k**2 * icc2**2 * f_raters**2 + base**2))
    f_upper, f_lower = stats.f.ppf(q, n - 1, v), stats.f.ppf(q, v, n - 1)
    spread = k * msj + (k * n - k - n) * mse
    lower = n * (msb - f_upper * mse) / (f_upper * spread + n * msb)
    upper = n * (f_lower * msb - mse) / (spread + n * f_lower * msb)
    return lower, upper


def icc(ratings: pd.DataFrame | np.ndarray, level: float = 0.95) -> pd.DataFrame:
    """Shrout and Fleiss (1979) intraclass correlations, as ``psych::ICC``.

    Parameters
    ----------
    ratings : pandas.DataFrame or 2-D array
        Subjects in rows, raters (judges) in columns, numeric. Rows with a
        missing rating are dropped (complete cases).
    level : float, default 0.95
        Confidence level (psych's ``alpha = 1 - level``).

    Returns
    -------
    pandas.DataFrame
        Indexed ``ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k`` with columns ``icc``,
        ``F``, ``df1``, ``df2``, ``p`` (upper tail of the F test that the ICC is
        zero), ``ci_low`` and ``ci_high``. ``attrs`` holds ``n`` (subjects
        used), ``k`` (raters), ``n_dropped`` (incomplete rows) and the mean
        squares ``MSB``, ``MSJ``, ``MSE``, ``MSW``.

    Notes
    -----
    From the two-way ANOVA mean squares (:func:`_two_way_mean_squares`):

    - ICC1 (one-way random) ``(MSB - MSW)/(MSB + (k-1) MSW)``,
      ``F = MSB/MSW`` on ``(n-1, n(k-1))`` df;
    - ICC2 (two-way random, absolute agreement)
      ``(MSB - MSE)/(MSB + (k-1) MSE + k(MSJ - MSE)/n)``;
    - ICC3 (two-way mixed, consistency) ``(MSB - MSE)/(MSB + (k-1) MSE)``;
      ICC2 and ICC3 use ``F = MSB/MSE`` on ``(n-1, (n-1)(k-1))`` df;
    - the average-of-k forms ``(MSB - MSW)/MSB``,
      ``(MSB - MSE)/(MSB + (MSJ - MSE)/n)`` and ``(MSB - MSE)/MSB``.

    Bounds (psych's formulas): with ``q = (1 + level)/2``, ``F_L = F/F_q(df1,
    df2)`` and ``F_U = F F_q(df2, df1)``, ICC1 and ICC3 have
    ``((F_L - 1)/(F_L + k - 1), (F_U - 1)/(F_U + k - 1))`` and ICC1k and ICC3k
    ``(1 - 1/F_L, 1 - 1/F_U)``; ICC2 uses :func:`_icc2_interval` and ICC2k its
    Spearman-Brown step-up ``k L/(1 + (k-1) L)``.

    psych's ``ICC`` fits the variance components with ``lme4::lmer`` by
    default (``lmer = TRUE``), which on complete data equals these ANOVA
    values up to lme4's optimiser tolerance (about 1e-6 on Shrout & Fleiss's
    example); this function matches ``ICC(na.omit(x), lmer = FALSE)`` exactly.
    (psych's ``lmer = TRUE`` keeps incomplete rows, and ``lmer = FALSE``
    stops on them; complete cases is psych's ``missing = TRUE`` intent.)

    Raises
    ------
    ValueError
        On fewer than 2 raters or 2 complete subjects, non-numeric columns,
        constant ratings or a ``level`` outside (0, 1).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    x, n_dropped = _complete_ratings(ratings)
    n, k = x.shape
    ms = _two_way_mean_squares(x)
    msb, msj, mse, msw = ms["MSB"], ms["MSJ"], ms["MSE"], ms["MSW"]
    q = 1.0 - (1.0 - level) / 2.0
    one_way = (msb / msw, n - 1, n * (k - 1))
    two_way = (msb / mse, n - 1, (n - 1) * (k - 1))
    f1_low, f1_high = _f_limits(*one_way, q)
    f3_low, f3_high = _f_limits(*two_way, q)
    icc2 = (msb - mse) / (msb + (k - 1) * mse + k * (msj - mse) / n)
    icc2_low, icc2_high = _icc2_interval(icc2, ms, n, k, q)
    rows = {
        "ICC1": ((msb - msw) / (msb + (k - 1) * msw), one_way,
                 (f1_low - 1) / (f1_low + k - 1), (f1_high - 1) / (f1_high + k - 1)),
        "ICC2": (icc2, two_way, icc2_low, icc2_high),
        "ICC3": ((msb - mse) / (msb + (k - 1) * mse), two_way,
                 (f3_low - 1) / (f3_low + k - 1), (f3_high - 1) / (f3_high + k - 1)),
        "ICC1k": ((msb - msw) / msb, one_way, 1 - 1 / f1_low, 1 - 1 / f1_high),
        "ICC2k": ((msb - mse) / (msb + (msj - mse) / n), two_way,
                  _spearman_brown(icc2_low, k), _spearman_brown(icc2_high, k)),
        "ICC3k": ((msb - mse) / msb, two_way, 1 - 1 / f3_low, 1 - 1 / f3_high),
    }
    table = pd.DataFrame(
        [{"icc": value, "F": f, "df1": df1, "df2": df2, "p": stats.f.sf(f, df1, df2),
          "ci_low": low, "ci_high": high}
         for value, (f, df1, df2), low, high in rows.values()],
        index=pd.Index(ICC_FORMS, name="type"),
    )
    table.attrs.update(n=n, k=k, n_dropped=n_dropped, **{name: float(v) for name, v in ms.items()})
    return table
