r"""Delta-adjusted multiple imputation: a tipping-point analysis for data missing not at random.

The outcome is imputed once under MAR (:func:`analysis.missing.impute`, per arm).
For each :math:`\delta` of a grid, every *imputed* outcome value at a post-baseline
visit of a participant in a shifted arm is moved by :math:`\delta`,

.. math::

   \tilde y_{iw} = y^{MAR}_{iw} + \delta \quad (y_{iw} \text{ missing},\; w > w_0,\;
   \mathrm{arm}_i \in \text{shifted}),

the analysis is refitted to each completed table and pooled by Rubin's rules. In
outcome units: for a symptom scale (larger is worse) :math:`\delta > 0` says that
those who left fared worse than MAR predicts; for a scale where larger is better
(self-efficacy) use :math:`\delta < 0`. ``shift="active"`` moves the imputed values
of the non-reference arms only (the usual tipping point: how much worse must the
treated dropouts be for the benefit to vanish); ``"both"`` moves every arm's.

The shift is applied *after* imputation, not within the sampler as mice's ``post``
argument would (``imp$post["y"] <- "imp[[j]][, i] <- imp[[j]][, i] + delta"``). Within
the sampler a shifted visit feeds the imputation of later visits, so the shift that
reaches the last visit compounds with the visits' correlations and has no single
meaning in outcome units; after imputation :math:`\delta` is exactly the departure
from MAR of every imputed value. It also lets one set of MAR imputations serve every
:math:`\delta` (common random numbers), so the curve is smooth and the grid costs
almost nothing beyond one imputation; with the default analysis (ANCOVA at the last
visit, baseline not shifted) the pooled effect is exactly linear in :math:`\delta`.

The conclusion at :math:`\delta` is "significant" when the pooled p-value is below
``alpha``. Starting from the grid value nearest zero, the grid is walked outwards on
either side to the first :math:`\delta` where the conclusion differs
(``first_delta``); ``tipping_delta`` interpolates linearly, between that value and
its neighbour towards zero, the root of the margin :math:`|\bar Q| / \sqrt T -
t_{\nu, 1 - \alpha/2}` (zero exactly where :math:`p = \alpha`). Of the two sides,
the one nearer zero is reported; NaN where the conclusion never changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats

from .ancova import ancova_arrays, contrast_labels
from .fcs import impute
from .layout import completed_tables, skeleton
from .pooling import pool, with_imputations
from .result import Imputations, check_choice

SHIFTS = ("active", "both")


@dataclass(frozen=True, eq=False)
class TippingPoint:
    """A tipping-point analysis (:func:`tipping_point`).

    Attributes
    ----------
    table : pandas.DataFrame
        One row per term (the arm contrasts of the default analysis) and delta:
        ``term``, ``delta``, then the pooled columns of
        :func:`analysis.missing.pool` (``estimate``, ``se``, ``df``, ``p``,
        ``ci_low``, ``ci_high``, ``fmi``, ...) and ``significant`` (p < alpha):
        what a plot of the effect against delta needs.
    tipping : pandas.DataFrame
        Per term: ``reference_delta`` (grid value nearest 0),
        ``significant_at_reference``, ``first_delta`` (first grid value where the
        conclusion differs) and ``tipping_delta`` (interpolated; module docstring).
    shift : str
        ``"active"`` or ``"both"``.
    alpha : float
    imputations : Imputations
        The MAR imputations the shifts were applied to.
    """

    table: pd.DataFrame
    tipping: pd.DataFrame
    shift: str
    alpha: float
    imputations: Imputations

    @property
    def tipping_delta(self) -> float | pd.Series:
        """The interpolated tipping delta (a float for one term, else a Series by term)."""
        values = self.tipping["tipping_delta"]
        return float(values.iloc[0]) if len(values) == 1 else values


def tipping_point(data: pd.DataFrame, deltas: Sequence[float], *, outcome: str, arm: str = "arm", m: int = 20,
                  seed: int | None = None, shift: str = "active", fit: Callable[[pd.DataFrame], object] | None = None,
                  covariates: Sequence[str] = (), auxiliary: Sequence[str] = (), visits: Sequence[int] | None = None,
                  method: str = "pmm", alpha: float = 0.05, progress: bool = False, **options) -> TippingPoint:
    """Pooled effect over a grid of MNAR shifts of the imputed outcomes, and where the conclusion tips.

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial table.
    deltas : sequence of float
        Shifts in outcome units (sorted; module docstring for the sign).
    outcome : str
        Outcome column.
    arm : str, default "arm"
        Arm column; imputation is per arm.
    m : int, default 20
        Imputations.
    seed : int, optional
        Seed of the imputations.
    shift : {"active", "both"}, default "active"
        Shift the imputed values of the non-reference arms, or of every arm.
    fit : callable, optional
        The analysis of one completed table (as :func:`with_imputations` takes it).
        Default: :func:`analysis.missing.ancova` at the last visit, adjusted for the
        baseline outcome and ``covariates`` (computed on the wide arrays directly).
    covariates, auxiliary, visits, method
        As :func:`analysis.missing.impute`.
    alpha : float, default 0.05
        Significance level; the intervals are at level ``1 - alpha``.
    progress : bool, default False
        Progress bar of the imputation.
    **options
        Further arguments of :func:`analysis.missing.impute` (``maxit``, ``donors``).

    Returns
    -------
    TippingPoint

    Raises
    ------
    ValueError
        An unknown shift, deltas empty or not finite, alpha outside (0, 1), and
        as :func:`analysis.missing.impute`.
    """
    check_choice("shift", shift, SHIFTS, "tipping_point")
    deltas = _deltas(deltas)
    if not 0 < alpha < 1:
        raise ValueError(f"tipping_point: alpha must lie in (0, 1), got {alpha!r}")
    imps = impute(data, m, outcome=outcome, seed=seed, method=method, by=arm, visits=visits, auxiliary=auxiliary,
                  covariates=covariates, progress=progress, **options)
    shifted = _shifted_cells(imps, shift)
    analyse = _default_analysis(imps, 1 - alpha) if fit is None else _custom_analysis(imps, fit, 1 - alpha)
    rows = []
    for delta in deltas:
        values = imps.values.copy()
        values[..., 0] += delta * shifted
        rows.append(analyse(values).assign(delta=delta))
    table = pd.concat(rows).rename_axis("term").reset_index()
    table["significant"] = table["p"] < alpha
    table = table[["term", "delta", *[c for c in table.columns if c not in ("term", "delta")]]]
    tipping = pd.DataFrame([_tipping(group, alpha) for _, group in table.groupby("term", sort=False)],
                           index=pd.Index(table["term"].unique(), name="term"))
    return TippingPoint(table, tipping, shift, alpha, imps)


def _deltas(deltas: Sequence[float]) -> np.ndarray:
    values = np.atleast_1d(np.asarray(deltas, dtype=float))
    if values.ndim != 1 or not len(values) or not np.isfinite(values).all():
        raise ValueError(f"tipping_point: deltas must be a non-empty sequence of finite numbers, got {deltas!r}")
    return np.unique(values)


def _shifted_cells(imps: Imputations, shift: str) -> np.ndarray:
    """1.0 where an imputed outcome (post-baseline visit) of a shifted arm lies, shape (n, V)."""
    wide = imps.layout
    cells = np.isnan(wide.values[..., 0])
    cells[:, 0] = False
    if shift == "active":
        cells &= (np.asarray(wide.group.codes) > 0)[:, None]
    return cells.astype(float)


def _default_analysis(imps: Imputations, level: float) -> Callable[[np.ndarray], pd.DataFrame]:
    """ANCOVA at the last visit on the wide arrays, pooled per arm contrast."""
    wide = imps.layout
    codes, levels = np.asarray(wide.group.codes), len(wide.levels)
    if levels < 2:
        raise ValueError("tipping_point: one arm only: there is no arm difference to analyse (give fit=)")
    labels = contrast_labels(wide)

    def analyse(values: np.ndarray) -> pd.DataFrame:
        estimate, variance, df = ancova_arrays(values[..., -1, 0], values[..., 0, 0], codes, wide.design, levels)
        return pool(pd.DataFrame(estimate, columns=labels), variance, df, level)

    return analyse


def _custom_analysis(imps: Imputations, fit, level: float) -> Callable[[np.ndarray], pd.DataFrame]:
    """The user's analysis of each completed long table, pooled."""
    base, cells = skeleton(imps.layout)

    def analyse(values: np.ndarray) -> pd.DataFrame:
        return with_imputations(completed_tables(imps.layout, base, cells, values), fit, level=level)

    return analyse


def _tipping(group: pd.DataFrame, alpha: float) -> dict:
    """Where the conclusion of one term changes along the grid (module docstring)."""
    delta = group["delta"].to_numpy()
    significant = group["significant"].to_numpy()
    margin = np.abs(group["estimate"] / group["se"]).to_numpy() - stats.t.ppf(1 - alpha / 2, group["df"].to_numpy())
    start = int(np.argmin(np.abs(delta)))
    found = []
    for step in (1, -1):
        j = start + step
        while 0 <= j < len(delta) and significant[j] == significant[start]:
            j += step
        if 0 <= j < len(delta):
            i = j - step
            found.append((delta[i] + (delta[j] - delta[i]) * margin[i] / (margin[i] - margin[j]), delta[j]))
    tip, first = min(found, key=lambda pair: abs(pair[0])) if found else (np.nan, np.nan)
    return {"reference_delta": delta[start], "significant_at_reference": bool(significant[start]),
            "first_delta": first, "tipping_delta": tip}
