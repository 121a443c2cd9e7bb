r"""Who is missing and why: missingness patterns by arm, and whether dropout follows what was observed.

:func:`patterns` counts participants by their pattern of observed (``o``) and missing
(``.``) outcomes across the visits, as mice's ``md.pattern`` does, per arm, and marks
monotone patterns (dropout: nothing observed after the first missing visit).

:func:`dropout` fits a discrete-time dropout hazard: among participants observed at
visit :math:`w` (not the last visit), the log odds that :math:`w` is their last observed
visit,

.. math::

   \operatorname{logit} P(\text{drop after } w \mid \text{observed at } w)
       = \alpha + \gamma' x_{iw} + \delta_{\text{arm}},

with :math:`x_{iw}` the predictors observed at :math:`w` (self-efficacy, the outcome).
Dropout that depends on them is consistent with missing at random given what was
observed (what multiple imputation and mixed models assume); it cannot show that
dropout does not also depend on the unobserved later values (MNAR), which is what the
tipping-point and reference-based analyses probe.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
import statsmodels.api as sm
from scipy import stats

from .. import io
from .layout import ID, WAVE, layout

#: Level of the odds-ratio intervals of :func:`dropout`.
LEVEL = 0.95


def patterns(data: pd.DataFrame, outcome: str, *, arm: str = "arm",
             visits: Sequence[int] | None = None) -> pd.DataFrame:
    """Participants by pattern of observed and missing outcomes across visits, per arm.

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial table.
    outcome : str
        Outcome column.
    arm : str, default "arm"
        Arm column.
    visits : sequence of int, optional
        Waves (default: every wave in the data).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``pattern`` (one character per visit: ``o`` observed, ``.``
        missing), most frequent first; one column of counts per arm, ``total`` and
        ``monotone`` (True for complete data and dropout patterns).
    """
    wide = layout(data, outcome, group=arm, visits=visits, who="patterns")
    seen = ~np.isnan(wide.values[:, :, 0])
    labels = np.array(["".join("o" if s else "." for s in row) for row in seen])
    table = pd.crosstab(pd.Series(labels, name="pattern"), pd.Series(wide.group, name=arm))
    table.columns = table.columns.astype(str)
    table["total"] = table.sum(axis=1)
    table["monotone"] = [not ("." in p and "o" in p[p.index("."):]) for p in table.index]
    return table.sort_values("total", ascending=False)


def dropout(data: pd.DataFrame, outcome: str, predictors: Sequence[str] = (), *,
            arm: str = "arm") -> pd.DataFrame:
    """Discrete-time dropout hazard: do the values observed at a visit predict leaving after it?

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial table.
    outcome : str
        Outcome column; a participant's last visit with it observed is where they left
        (unless it is the study's last visit).
    predictors : sequence of str
        Columns observed at the visit (e.g. ``["gse_total"]``); the outcome itself is
        always a predictor.
    arm : str, default "arm"
        Arm column (a predictor when the data have several arms).

    Returns
    -------
    pandas.DataFrame
        Indexed by term: ``odds_ratio`` per unit of the predictor, its 95% interval
        ``ci_low``, ``ci_high``, the log-odds ``estimate``, ``se``, ``z`` and ``p``.
        ``attrs`` holds ``n_at_risk`` (participant-visits), ``n_dropped`` and
        ``n_participants``.

    Raises
    ------
    analysis.io.DataValidationError
        As :func:`analysis.io.model_frame`; or when nobody, or everybody, left.
    """
    columns = list(dict.fromkeys([*predictors, outcome]))
    frame = io.model_frame(data, partial=columns, arm=arm, group=ID, wave=WAVE, who="dropout")
    rows = frame.data[frame.data[outcome].notna()]
    last = rows.groupby(ID, observed=True)[WAVE].transform("max")
    at_risk = rows[rows[WAVE] < frame.data[WAVE].max()].dropna(subset=columns)
    dropped = (at_risk[WAVE] == last.loc[at_risk.index]).astype(float)
    if dropped.nunique() < 2:
        raise io.DataValidationError([io.Problem(outcome, f"dropout: {int(dropped.sum())} of {len(dropped)} "
                                                          "participant-visits at risk were followed by dropout: "
                                                          "nothing to model")])
    design = _design(at_risk, columns, arm if frame.has_arms else None)
    io.check_design(design.to_numpy(), list(design.columns), who="dropout", intercept="const")
    fit = sm.GLM(dropped.to_numpy(), design, family=sm.families.Binomial()).fit()
    table = _odds_ratios(fit.params, fit.bse)
    table.attrs.update(n_at_risk=len(at_risk), n_dropped=int(dropped.sum()),
                       n_participants=int(at_risk[ID].nunique()))
    return table


def _design(rows: pd.DataFrame, columns: list[str], arm: str | None) -> pd.DataFrame:
    """Intercept, the predictors and the arm's treatment dummies."""
    design = sm.add_constant(rows[columns].astype(float), has_constant="add")
    if arm is not None:
        dummies = pd.get_dummies(rows[arm], prefix=arm, prefix_sep="[T.", drop_first=True, dtype=float)
        design = design.join(dummies.rename(columns=lambda c: f"{c}]"))
    return design


def _odds_ratios(estimate: pd.Series, se: pd.Series) -> pd.DataFrame:
    """Wald z tests and odds ratios with their intervals."""
    z = estimate / se
    half = stats.norm.ppf(0.5 + LEVEL / 2) * se
    table = pd.DataFrame({"odds_ratio": np.exp(estimate), "ci_low": np.exp(estimate - half),
                          "ci_high": np.exp(estimate + half), "estimate": estimate, "se": se, "z": z,
                          "p": 2 * stats.norm.sf(np.abs(z))})
    return table.rename(index={"const": "Intercept"}).rename_axis("term")
