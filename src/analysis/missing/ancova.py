r"""The default analysis of a completed trial: ANCOVA of the outcome at one visit.

The arm differences at visit :math:`w` are the arm coefficients of the linear model

.. math::

   y_{iw} = \beta_0 + \sum_{a \ne ref} \tau_a [\mathrm{arm}_i = a]
            + \gamma\, y_{i0} + x_i'\eta + \varepsilon_i,
   \quad \varepsilon_i \sim N(0, \sigma^2),

fitted by least squares (QR) to the participants with both values observed:
:math:`\hat\tau_a` with :math:`\mathrm{Var}(\hat\tau_a) = \hat\sigma^2
[(X'X)^{-1}]_{aa}`, :math:`\hat\sigma^2 = \mathrm{RSS}/(n - p)` and :math:`n - p`
degrees of freedom, as R's ``lm``. On multiply imputed data the :math:`\hat\tau_a`
are pooled by Rubin's rules with :math:`\nu_{com} = n - p`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .layout import Layout, layout


def ancova(data: pd.DataFrame, outcome: str, *, arm: str = "arm", visit: int | None = None,
           baseline: int | None = None, covariates: Sequence[str] = (), level: float = 0.95) -> pd.DataFrame:
    """Arm differences in the outcome at one visit, adjusted for its baseline value and covariates.

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial table (a completed table of :func:`analysis.missing.impute`, or
        incomplete data: participants missing either value are left out).
    outcome : str
        Outcome column.
    arm : str, default "arm"
        Arm column; each arm is compared with the reference (first level of
        :func:`analysis.io.arm_factor`).
    visit : int, optional
        Wave compared (default: the last wave).
    baseline : int, optional
        Wave of the baseline value adjusted for (default: the first wave).
    covariates : sequence of str
        Further baseline covariates (text columns become dummies).
    level : float, default 0.95
        Confidence level of the intervals.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``contrast`` (``"cbt - control"``), columns ``estimate``, ``se``,
        ``df`` (:math:`n - p`), ``t``, ``p``, ``ci_low``, ``ci_high``: what
        :func:`analysis.missing.with_imputations` pools.
    """
    wide = layout(data, outcome, group=arm, covariates=covariates, who="ancova")
    last, first = (_position(wide, w, default, what) for w, default, what in
                   ((visit, -1, "visit"), (baseline, 0, "baseline")))
    if len(wide.levels) < 2:
        raise ValueError(f"ancova: one arm only ({wide.levels[0]!r}): there is no arm difference to estimate")
    y, y0 = wide.values[:, last, 0], wide.values[:, first, 0]
    used = ~np.isnan(y) & ~np.isnan(y0)
    estimate, variance, df = ancova_arrays(y[used], y0[used], np.asarray(wide.group.codes)[used],
                                           wide.design[used], len(wide.levels))
    se = np.sqrt(variance)
    t = estimate / se
    half = stats.t.ppf(0.5 + level / 2, df) * se
    return pd.DataFrame({"estimate": estimate, "se": se, "df": float(df), "t": t, "p": 2 * stats.t.sf(np.abs(t), df),
                         "ci_low": estimate - half, "ci_high": estimate + half},
                        index=pd.Index(contrast_labels(wide), name="contrast"))


def _position(wide: Layout, wave: int | None, default: int, what: str) -> int:
    if wave is None:
        return default % len(wide.visits)
    if wave not in wide.visits:
        raise ValueError(f"ancova: {what} wave {wave!r} is not in the data (waves are {list(wide.visits)})")
    return wide.visits.index(wave)


def contrast_labels(wide: Layout) -> list[str]:
    """``"level - reference"`` for each non-reference arm (as :func:`analysis.mixed.contrast` labels them)."""
    return [f"{level} - {wide.levels[0]}" for level in wide.levels[1:]]


def ancova_arrays(y: np.ndarray, baseline: np.ndarray, codes: np.ndarray, design: np.ndarray,
                  levels: int) -> tuple[np.ndarray, np.ndarray, int]:
    """The ANCOVA arm coefficients for a stack of completed outcome vectors.

    Parameters
    ----------
    y, baseline : numpy.ndarray, shape (..., n)
        Outcome at the visit compared, and at baseline.
    codes : numpy.ndarray of int, shape (n,)
        Arm of each participant (0 the reference).
    design : numpy.ndarray, shape (n, d)
        Covariate columns.
    levels : int
        Number of arms.

    Returns
    -------
    estimate, variance : numpy.ndarray, shape (..., levels - 1)
        :math:`\\hat\\tau_a` and :math:`\\hat\\sigma^2 [(X'X)^{-1}]_{aa}`.
    df : int
        :math:`n - p`.
    """
    y, baseline = np.asarray(y, dtype=float), np.asarray(baseline, dtype=float)
    n = y.shape[-1]
    arms = (codes[:, None] == np.arange(1, levels)).astype(float)
    fixed = np.column_stack([np.ones(n), arms])
    stack = y.shape[:-1]
    x = np.concatenate([np.broadcast_to(fixed, (*stack, *fixed.shape)), baseline[..., None],
                        np.broadcast_to(design, (*stack, *design.shape))], axis=-1)
    p = x.shape[-1]
    if n <= p:
        raise ValueError(f"ancova: {p} coefficients but only {n} participants with both values observed")
    q, r = np.linalg.qr(x)
    inverse = np.linalg.inv(r)
    coef = np.einsum("...ij,...j->...i", inverse, np.einsum("...rj,...r->...j", q, y))
    residuals = y - np.einsum("...rp,...p->...r", x, coef)
    sigma2 = (residuals**2).sum(axis=-1) / (n - p)
    variance = sigma2[..., None] * (inverse[..., 1:levels, :] ** 2).sum(axis=-1)
    return coef[..., 1:levels], variance, n - p
