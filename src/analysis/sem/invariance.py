r"""Measurement invariance across groups and across waves, as semTools' ``compareFit``.

A sequence of nested models is fitted, each level adding equality constraints to
the previous one:

``configural``  the same factor structure, every parameter free
``metric``      + loadings equal
``scalar``      + intercepts equal (latent means then free beyond the first group or wave)
``strict``      + residual variances equal

Across **groups** the constraints are lavaan's ``group.equal``. Across **waves**
(longitudinal invariance) the model is written once with ``{wave}`` in the
indicator names (``SE =~ gse_1_{wave} + gse_2_{wave} + gse_3_{wave}``); it is
repeated per wave with the factor named ``SE_<wave>``, residuals of the same
indicator are correlated across all waves, and equality is imposed by shared labels
(the first loading of each factor is the marker, fixed to 1). The table holds each
level's fit and the likelihood-ratio test against the previous level (with MLR the
Satorra-Bentler (2001) scaled difference, lavaan's ``lavTestLRT`` default) and the
change in CFI and RMSEA.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from .fitting import cfa
from .syntax import ModelSyntaxError, parse

__all__ = ["GROUP_EQUAL_BY_LEVEL", "LEVELS", "invariance", "longitudinal_syntax"]

LEVELS = ("configural", "metric", "scalar", "strict")
#: lavaan ``group.equal`` of each level.
GROUP_EQUAL_BY_LEVEL = {"configural": (), "metric": ("loadings",), "scalar": ("loadings", "intercepts"),
                        "strict": ("loadings", "intercepts", "residuals")}
PLACEHOLDER = "{wave}"
_TOKEN = "__wave__"  # stands for the placeholder while the template is parsed


def invariance(model: str, data: pd.DataFrame, group: str | None = None, waves=None, levels=LEVELS,
               estimator: str = "ML", missing: str = "fiml", return_fits: bool = False):
    """Fit the invariance levels and compare them.

    Parameters
    ----------
    model : str
        Measurement model (``=~`` formulas). For waves, indicator names contain
        ``{wave}``.
    data : pandas.DataFrame
        Wide data: one row per case.
    group : str, optional
        Column of groups (invariance across groups).
    waves : sequence, optional
        Wave labels substituted for ``{wave}`` (invariance across waves).
    levels : sequence of str
        Levels in order, from ``configural``, ``metric``, ``scalar``, ``strict``.
    estimator : {"ML", "MLR"}
    missing : {"fiml", "listwise"}
    return_fits : bool
        Also return the fitted models (a dict level -> SemResult).

    Returns
    -------
    pandas.DataFrame
        Index ``level``; columns ``npar``, ``chisq``, ``df``, ``pvalue``, ``cfi``,
        ``tli``, ``rmsea``, ``srmr``, ``aic``, ``bic`` (with MLR also
        ``chisq_scaled`` and ``chisq_scaling_factor``), and against the previous
        level ``chisq_diff``, ``df_diff``, ``p_diff``, ``cfi_diff``, ``rmsea_diff``
        (NaN in the first row).

    Raises
    ------
    ValueError
        Neither or both of ``group`` and ``waves``, an unknown or out-of-order
        level, fewer than two waves, a wave model without ``{wave}``.
    """
    levels = _check_levels(levels)
    if (group is None) == (waves is None):
        raise ValueError("invariance: give either group= (across groups) or waves= (across waves)")
    fits = {}
    for level in levels:
        if group is not None:
            fits[level] = cfa(model, data, group=group, estimator=estimator, missing=missing,
                              group_equal=GROUP_EQUAL_BY_LEVEL[level])
        else:
            fits[level] = cfa(longitudinal_syntax(model, waves, level), data, estimator=estimator,
                              missing=missing, meanstructure=True)
    table = compare(fits)
    return (table, fits) if return_fits else table


def _check_levels(levels) -> list[str]:
    levels = [levels] if isinstance(levels, str) else list(levels)
    unknown = [lv for lv in levels if lv not in LEVELS]
    if unknown or not levels:
        raise ValueError(f"invariance: unknown levels {unknown}; choose from {list(LEVELS)}")
    if [LEVELS.index(lv) for lv in levels] != sorted(LEVELS.index(lv) for lv in set(levels)):
        raise ValueError(f"invariance: levels must be distinct and in the order {list(LEVELS)}, got {levels}")
    return levels


def longitudinal_syntax(model: str, waves, level: str) -> str:
    """lavaan syntax of one longitudinal invariance level (see the module docstring).

    Parameters
    ----------
    model : str
        ``=~`` formulas whose indicator names contain ``{wave}``.
    waves : sequence
        Wave labels, at least two.
    level : str
        ``configural``, ``metric``, ``scalar`` or ``strict``.
    """
    waves = list(waves)
    if len(waves) < 2:
        raise ValueError(f"invariance: waves= needs at least two waves, got {waves}")
    formulas = parse(model.replace(PLACEHOLDER, _TOKEN)).formulas
    bad = [f"{f.lhs} {f.op} {f.rhs}" for f in formulas if f.op != "=~" or _TOKEN not in f.rhs]
    if bad:
        raise ModelSyntaxError(f"invariance: a wave model holds only '=~' formulas whose indicators contain "
                           f"{PLACEHOLDER}; not {bad}")
    factors = list(dict.fromkeys(f.lhs for f in formulas))
    items = {name: [f.rhs.replace(_TOKEN, PLACEHOLDER) for f in formulas if f.lhs == name] for name in factors}
    rank = LEVELS.index(level)
    lines = []
    for t, wave in enumerate(waves):
        for name in factors:
            terms = [item.format(wave=wave) for item in items[name]]
            if rank >= 1:
                terms = [terms[0]] + [f"l_{name}_{k}*{term}" for k, term in enumerate(terms[1:], start=2)]
            lines.append(f"{name}_{wave} =~ " + " + ".join(terms))
            for k, item in enumerate(items[name], start=1):
                observed = item.format(wave=wave)
                if rank >= 2:
                    lines.append(f"{observed} ~ n_{name}_{k}*1")
                if rank >= 3:
                    lines.append(f"{observed} ~~ r_{name}_{k}*{observed}")
            if rank >= 2 and t > 0:
                lines.append(f"{name}_{wave} ~ 1")
    for name in factors:
        for item in items[name]:
            names = [item.format(wave=wave) for wave in waves]
            lines += [f"{a} ~~ {b}" for i, a in enumerate(names) for b in names[i + 1:]]
    return "\n".join(lines)


def compare(fits: dict) -> pd.DataFrame:
    """Fit of each model and the difference tests between successive ones (``compareFit``)."""
    columns = ["npar", "chisq", "df", "pvalue", "cfi", "tli", "rmsea", "srmr", "aic", "bic"]
    robust = ["chisq_scaled", "chisq_scaling_factor"]
    rows = []
    previous = None
    for level, result in fits.items():
        fit = result.fit
        row = {c: fit[c] for c in columns + [c for c in robust if c in fit]}
        row.update(_difference(previous, fit).to_dict() if previous is not None else
                   {"chisq_diff": np.nan, "df_diff": np.nan, "p_diff": np.nan, "cfi_diff": np.nan,
                    "rmsea_diff": np.nan})
        rows.append(pd.Series(row, name=level))
        previous = fit
    return pd.DataFrame(rows).rename_axis("level")


def lrt(free, constrained) -> pd.Series:
    """Likelihood-ratio test of a constrained model against a freer one, as lavaan's ``lavTestLRT``.

    Parameters
    ----------
    free, constrained : SemResult
        Two fits of nested models to the same data, ``constrained`` the one with more
        degrees of freedom (fewer free parameters).

    Returns
    -------
    pandas.Series
        ``chisq_diff``, ``df_diff``, ``p_diff`` and the changes ``cfi_diff`` and
        ``rmsea_diff`` (constrained minus free). With MLR the difference is the
        Satorra-Bentler (2001) scaled one, lavaan's default for ``estimator = "MLR"``.

    Raises
    ------
    ValueError
        ``constrained`` does not have more degrees of freedom than ``free`` (the
        same number: nothing to test; fewer: the order is swapped), or one model is
        robust (MLR) and the other not.
    """
    if constrained.fit["df"] == free.fit["df"]:
        raise ValueError(f"lrt: both models have {free.fit['df']:g} df, so neither constrains the other "
                         "(e.g. lags held equal across a single group); there is nothing to test")
    if constrained.fit["df"] < free.fit["df"]:
        raise ValueError(f"lrt: the constrained model has {constrained.fit['df']:g} df and the free one "
                         f"{free.fit['df']:g}; give the freer model first")
    if ("chisq_scaling_factor" in free.fit) != ("chisq_scaling_factor" in constrained.fit):
        raise ValueError("lrt: one model is fitted by MLR and the other by ML; fit both with the same estimator")
    return _difference(free.fit, constrained.fit)


def _difference(free: pd.Series, constrained: pd.Series) -> pd.Series:
    """Likelihood-ratio test of the constrained model against the freer one (their fit measures)."""
    df_diff = constrained["df"] - free["df"]
    diff = constrained["chisq"] - free["chisq"]
    if "chisq_scaling_factor" in constrained:
        scale = ((constrained["df"] * constrained["chisq_scaling_factor"] - free["df"] * free["chisq_scaling_factor"])
                 / df_diff)
        diff = diff / scale
    return pd.Series({"chisq_diff": diff, "df_diff": df_diff,
                      "p_diff": stats.chi2.sf(diff, df_diff) if df_diff > 0 else np.nan,
                      "cfi_diff": constrained["cfi"] - free["cfi"], "rmsea_diff": constrained["rmsea"] - free["rmsea"]})
