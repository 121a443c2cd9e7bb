"""Effect sizes and their sampling variances from study summaries, as ``metafor::escalc``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
from scipy.special import gammaln

from .inputs import MetaInputError, _aligned, _numeric, _problem, _same_length

__all__ = ["MEASURES", "effect_sizes", "escalc"]

#: Arguments each effect-size measure needs (2x2 measures also take ``n1i``/``n2i``
#: in place of ``bi``/``di``).
MEASURES: dict[str, tuple[str, ...]] = {
    "COR": ("ri", "ni"),
    "ZCOR": ("ri", "ni"),
    "MD": ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"),
    "SMD": ("m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i"),
    "SMCC": ("m1i", "m2i", "sd1i", "sd2i", "ri", "ni"),
    "SMCR": ("m1i", "m2i", "sd1i", "ri", "ni"),
    "RR": ("ai", "bi", "ci", "di"),
    "OR": ("ai", "bi", "ci", "di"),
    "RD": ("ai", "bi", "ci", "di"),
    "PETO": ("ai", "bi", "ci", "di"),
}
TWO_BY_TWO = ("RR", "OR", "RD", "PETO")
CORRECTIONS = ("only0", "all", "if0all", "none")


def escalc(measure: str, data: pd.DataFrame | None = None, *, add: float = 0.5, to: str = "only0",
           drop00: bool = False, **columns: Any) -> pd.DataFrame:
    r"""Effect sizes ``yi`` and sampling variances ``vi``, as ``metafor::escalc``.

    Parameters
    ----------
    measure : {"COR", "ZCOR", "SMD", "MD", "SMCC", "SMCR", "RR", "OR", "RD", "PETO"}
        ``COR`` raw correlation, ``ZCOR`` Fisher's r-to-z, ``SMD`` Hedges' g (exact
        gamma-function bias correction), ``MD`` raw mean difference, ``SMCC`` and
        ``SMCR`` standardised mean change with change-score or raw-score (pre-test
        SD) standardisation, bias corrected (see Notes), ``RR``/``OR`` log risk/odds
        ratio, ``RD`` risk difference, ``PETO`` Peto's log odds ratio
        :math:`(a_i - E_i)/V_i` with variance :math:`1/V_i` (see :func:`rma_peto`).
    data : DataFrame, optional
        Table holding the columns named in ``columns``; the result is a copy of it
        with ``yi`` and ``vi`` appended (replaced if present).
    add, to, drop00
        Continuity correction of 2x2 tables (metafor's defaults): ``add`` is added to
        every cell of the tables with a zero cell (``to="only0"``), of all tables
        (``"all"``), of all tables if any has a zero (``"if0all"``) or none
        (``"none"``); ``drop00=True`` sets studies with no events (or only events)
        in both groups to missing.
    **columns
        The measure's arguments with metafor's names (see :data:`MEASURES`), each a
        column name of ``data`` or an array: ``ri``, ``ni`` (correlations);
        ``m1i``, ``m2i``, ``sd1i``, ``sd2i``, ``n1i``, ``n2i`` (two groups; for SMCC
        the two time points with ``ri`` their correlation and ``ni`` the sample
        size; SMCR takes no ``sd2i``: ``sd1i`` is the standardiser, the pre-test
        SD); ``ai``, ``bi``, ``ci``, ``di`` (2x2 cells; ``n1i``, ``n2i`` may
        replace ``bi``, ``di``). Series are matched by index (to ``data``'s when
        given), as in :func:`rma`.

    Returns
    -------
    DataFrame
        ``yi`` and ``vi`` (appended to ``data`` when given); ``attrs["ni"]`` the
        total sample sizes (for :meth:`RmaResult.regtest`'s ``ni`` predictors); ``attrs["measure"]``
        holds the measure. Missing inputs give missing ``yi``/``vi``, and so do
        infinite values (metafor recodes :math:`\pm\infty` to ``NA``).

    Raises
    ------
    MetaInputError
        Unknown measure or arguments, missing or non-numeric columns, arrays of
        different length, Series whose indexes hold different studies, and impossible values (negative counts or SDs, events above
        the group size, ``|ri| > 1``, sample sizes too small for the variance), with
        the rows and values.

    Notes
    -----
    The standardised mean changes of ``ni`` subjects measured twice (means
    :math:`m_{1i}`, :math:`m_{2i}`, SDs :math:`s_{1i}`, :math:`s_{2i}`, correlation
    :math:`r_i`) are, as metafor 3.8 computes them (``vtype="LS"``), with the exact
    bias correction :math:`c(m) = \Gamma(m/2) / (\sqrt{m/2}\,\Gamma((m-1)/2))`,

    .. math::

       \text{SMCC:}\quad y_i = c(n_i - 1)\,\frac{m_{1i} - m_{2i}}{\sqrt{s_{1i}^2 + s_{2i}^2 - 2 r_i s_{1i} s_{2i}}},
       \qquad v_i = \frac{1}{n_i} + \frac{y_i^2}{2 n_i};

       \text{SMCR:}\quad y_i = c(n_i - 1)\,\frac{m_{1i} - m_{2i}}{s_{1i}},
       \qquad v_i = \frac{2 (1 - r_i)}{n_i} + \frac{y_i^2}{2 n_i}.

    For a pre-post change give the post-test mean as ``m1i``, the pre-test mean as
    ``m2i`` and the pre-test SD as ``sd1i`` (Becker 1988; Morris 2008).
    """
    measure = _measure(measure)
    if to not in CORRECTIONS:
        raise MetaInputError(f"to must be one of {CORRECTIONS}, got {to!r}")
    values = _values(measure, columns, data)
    if measure in TWO_BY_TWO:
        yi, vi = _two_by_two(measure, _cells(measure, values), add, to, drop00)
    else:
        missing = [name for name in MEASURES[measure] if name not in values]
        if missing:
            raise MetaInputError(f"{measure} needs {list(MEASURES[measure])}; missing {missing}")
        yi, vi = _CONTINUOUS[measure](values)
    infinite = ~np.isfinite(yi) | ~np.isfinite(vi)
    yi, vi = np.where(infinite, np.nan, yi), np.where(infinite, np.nan, vi)  # metafor recodes +-Inf to NA
    out = data.copy() if data is not None else pd.DataFrame(index=next(iter(values.values()))[1].index)
    out["yi"], out["vi"] = yi, vi
    out.attrs["measure"] = measure
    out.attrs["ni"] = tuple(_sample_sizes(values).tolist())  # a tuple: pandas compares attrs with ==
    return out


def _sample_sizes(values: dict) -> np.ndarray:
    """Each study's total sample size, as metafor's escalc keeps it (``ni``; ``n1i + n2i``; the four cells)."""
    if "ni" in values:
        return values["ni"][0]
    if "n1i" in values and "n2i" in values:
        return values["n1i"][0] + values["n2i"][0]
    return sum(values[cell][0] for cell in ("ai", "bi", "ci", "di"))


def effect_sizes(studies: pd.DataFrame, measure: str, **columns: Any) -> pd.DataFrame:
    """The effect sizes of a table of studies: its own ``yi`` and ``vi`` when it has them, else :func:`escalc`.

    Extraction sheets and metafor's data sets often hold the effect sizes already
    (``yi``, with sampling variances ``vi``); those are used as they are, on the scale
    that ``measure`` names.

    Parameters
    ----------
    studies : DataFrame
        One row per study.
    measure : str
        The effect-size measure (see :data:`MEASURES`): computed by :func:`escalc`, or
        the one the table's ``yi`` are on.
    **columns
        :func:`escalc`'s arguments, used when the table has no ``yi``/``vi`` columns.

    Returns
    -------
    DataFrame
        ``studies`` with ``yi`` and ``vi``; ``attrs["measure"]`` holds the measure and
        ``attrs["precomputed"]`` whether ``yi``/``vi`` came with the table.

    Raises
    ------
    MetaInputError
        Unknown measure, or :func:`escalc`'s errors.
    """
    measure = _measure(measure)
    precomputed = {"yi", "vi"} <= set(studies.columns)
    out = studies.copy() if precomputed else escalc(measure, data=studies, **columns)
    out.attrs.update(measure=measure, precomputed=precomputed)
    return out


def _measure(measure: str) -> str:
    """A measure's name as :data:`MEASURES` spells it; unknown measures are refused."""
    name = str(measure).upper()
    if name not in MEASURES:
        raise MetaInputError(f"unknown measure {name!r}; choose one of {sorted(MEASURES)}")
    return name


def _values(measure: str, columns: dict[str, Any], data: pd.DataFrame | None) -> dict:
    """A measure's arguments as ``name -> (float values, raw Series, label)``, aligned by index and checked.

    Refuses arguments the measure does not take, and arrays of different lengths
    (from each other or from ``data``).
    """
    allowed = set(MEASURES[measure]) | ({"n1i", "n2i"} if measure in TWO_BY_TWO else set())
    unknown = sorted(set(columns) - allowed)
    if unknown:
        raise MetaInputError(f"{measure} takes {sorted(allowed)}; unknown arguments {unknown}")
    values = {name: _numeric(name, value, data) for name, value in _aligned(columns, data).items()}
    _same_length({name: v[0] for name, v in values.items()})
    if data is not None and values and len(next(iter(values.values()))[0]) != len(data):
        raise MetaInputError(f"arrays have {len(next(iter(values.values()))[0])} rows but data has {len(data)}")
    return values


def _check(values: dict, name: str, bad: Callable[[np.ndarray], np.ndarray], reason: str) -> None:
    array, raw, label = values[name]
    with np.errstate(invalid="ignore"):
        mask = bad(array) & ~np.isnan(array)
    if mask.any():
        raise _problem(label, reason, raw, mask)


def _cmi(mi: np.ndarray) -> np.ndarray:
    """Exact small-sample bias correction of standardised mean differences (metafor's ``.cmicalc``)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(mi <= 1, np.nan, np.exp(gammaln(mi / 2) - np.log(np.sqrt(mi / 2)) - gammaln((mi - 1) / 2)))


def _correlation(measure: str) -> Callable[[dict], tuple[np.ndarray, np.ndarray]]:
    def compute(values: dict) -> tuple[np.ndarray, np.ndarray]:
        _check(values, "ri", lambda r: np.abs(r) > 1, "correlations must lie in [-1, 1]")
        _check(values, "ni", lambda n: n <= 3, "sample sizes must exceed 3 for a sampling variance")
        ri, ni = values["ri"][0], values["ni"][0]
        if measure == "ZCOR":
            _check(values, "ri", lambda r: np.abs(r) == 1, "Fisher's z is infinite for correlations of ±1")
            return np.arctanh(ri), 1 / (ni - 3)
        return ri.copy(), (1 - ri**2) ** 2 / (ni - 1)

    return compute


def _two_groups(measure: str) -> Callable[[dict], tuple[np.ndarray, np.ndarray]]:
    def compute(values: dict) -> tuple[np.ndarray, np.ndarray]:
        for name in ("sd1i", "sd2i"):
            _check(values, name, lambda s: s < 0, "standard deviations must not be negative")
        for name in ("n1i", "n2i"):
            _check(values, name, lambda n: n <= 0, "group sizes must be positive")
        m1, m2, sd1, sd2, n1, n2 = (values[name][0] for name in MEASURES[measure])
        if measure == "MD":
            return m1 - m2, sd1**2 / n1 + sd2**2 / n2
        mi = n1 + n2 - 2
        if np.any(mi <= 1):
            raise _problem("n1i + n2i", "must exceed 3 for the bias correction", pd.Series(n1 + n2), mi <= 1)
        sdpi = np.sqrt(((n1 - 1) * sd1**2 + (n2 - 1) * sd2**2) / mi)
        yi = _cmi(mi) * (m1 - m2) / sdpi
        return yi, 1 / n1 + 1 / n2 + yi**2 / (2 * (n1 + n2))

    return compute


def _change_score(measure: str) -> Callable[[dict], tuple[np.ndarray, np.ndarray]]:
    """SMCC (change-score SD) or SMCR (pre-test SD): :math:`y_i = c(n_i-1)(m_{1i}-m_{2i})/s_i`,
    :math:`v_i = a_i/n_i + y_i^2/(2n_i)` with :math:`a_i = 1` (SMCC) or :math:`2(1-r_i)` (SMCR)."""

    def compute(values: dict) -> tuple[np.ndarray, np.ndarray]:
        for name in MEASURES[measure]:
            if name.startswith("sd"):
                _check(values, name, lambda s: s < 0, "standard deviations must not be negative")
        _check(values, "ri", lambda r: np.abs(r) > 1, "correlations must lie in [-1, 1]")
        _check(values, "ni", lambda n: n <= 2, "sample sizes must exceed 2 for the bias correction")
        m1, m2, sd1, ri, ni = (values[name][0] for name in ("m1i", "m2i", "sd1i", "ri", "ni"))
        if measure == "SMCC":
            sd2 = values["sd2i"][0]
            sd, scale = np.sqrt(sd1**2 + sd2**2 - 2 * ri * sd1 * sd2), 1.0
        else:
            sd, scale = sd1, 2 * (1 - ri)
        with np.errstate(divide="ignore", invalid="ignore"):
            yi = _cmi(ni - 1) * (m1 - m2) / sd
        return yi, scale / ni + yi**2 / (2 * ni)

    return compute


_CONTINUOUS = {
    "COR": _correlation("COR"),
    "ZCOR": _correlation("ZCOR"),
    "MD": _two_groups("MD"),
    "SMD": _two_groups("SMD"),
    "SMCC": _change_score("SMCC"),
    "SMCR": _change_score("SMCR"),
}


def _cells(measure: str, values: dict) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The cells ``ai, bi, ci, di`` of the 2x2 tables (``bi``/``di`` from ``n1i``/``n2i`` if given), checked.

    Raises
    ------
    MetaInputError
        A missing cell, group sizes that disagree with the cells, events above the
        group size, negative counts.
    """
    for cell, total, event in (("bi", "n1i", "ai"), ("di", "n2i", "ci")):
        if event not in values:
            raise MetaInputError(f"{measure} needs {event}")
        if cell not in values and total not in values:
            raise MetaInputError(f"{measure} needs {cell} or {total}")
        if cell in values and total in values:
            _check(values, total, lambda n, c=cell, e=event: n != values[e][0] + values[c][0],
                   f"must equal {event} + {cell}")
        if total in values:
            _check(values, event, lambda a, t=total: a > values[t][0], f"events exceed the group size {total}")
    for name in ("ai", "bi", "ci", "di", "n1i", "n2i"):
        if name in values:
            _check(values, name, lambda x: x < 0, "counts must not be negative")
    ai, ci = values["ai"][0].copy(), values["ci"][0].copy()
    bi = values["bi"][0].copy() if "bi" in values else values["n1i"][0] - ai
    di = values["di"][0].copy() if "di" in values else values["n2i"][0] - ci
    return ai, bi, ci, di


def no_events(ai: np.ndarray, bi: np.ndarray, ci: np.ndarray, di: np.ndarray) -> np.ndarray:
    """Tables without events (or with only events) in both groups, metafor's ``drop00`` rows."""
    return ((ai == 0) & (ci == 0)) | ((bi == 0) & (di == 0))


def _two_by_two(measure: str, cells: tuple[np.ndarray, ...], add: float, to: str, drop00: bool
                ) -> tuple[np.ndarray, np.ndarray]:
    r"""Log risk/odds ratios, risk differences and Peto's log odds ratios with metafor's continuity correction.

    With :math:`n_{1i} = a_i + b_i`, :math:`n_{2i} = c_i + d_i`, :math:`N_i = n_{1i} + n_{2i}`
    and the corrected cells: RR :math:`\log(p_{1i}/p_{2i})`,
    :math:`1/a_i - 1/n_{1i} + 1/c_i - 1/n_{2i}`; OR :math:`\log(a_i d_i / (b_i c_i))`,
    :math:`1/a_i + 1/b_i + 1/c_i + 1/d_i`; RD :math:`p_{1i} - p_{2i}`,
    :math:`p_{1i}(1-p_{1i})/n_{1i} + p_{2i}(1-p_{2i})/n_{2i}`; PETO :math:`(a_i - E_i)/V_i`,
    :math:`1/V_i` with :math:`E_i = (a_i + c_i) n_{1i}/N_i` and
    :math:`V_i = (a_i + c_i)(b_i + d_i) n_{1i} n_{2i} / (N_i^2 (N_i - 1))`.
    """
    ai, bi, ci, di = (cells_.copy() for cells_ in cells)
    if drop00:
        none_or_all = no_events(ai, bi, ci, di)
        for cells_ in (ai, bi, ci, di):
            cells_[none_or_all] = np.nan
    zero = (ai == 0) | (bi == 0) | (ci == 0) | (di == 0)
    corrected = {"all": np.ones_like(zero), "only0": zero, "if0all": np.full_like(zero, zero.any()),
                 "none": np.zeros_like(zero)}[to]
    for cells_ in (ai, bi, ci, di):
        cells_[corrected] += add
    n1, n2 = ai + bi, ci + di
    p1, p2 = ai / n1, ci / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "RR":
            return np.log(p1) - np.log(p2), 1 / ai - 1 / n1 + 1 / ci - 1 / n2
        if measure == "OR":
            return np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2)), 1 / ai + 1 / bi + 1 / ci + 1 / di
        if measure == "PETO":
            expected, variance = peto_moments(ai, bi, ci, di)
            return (ai - expected) / variance, 1 / variance
        return p1 - p2, p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2


def peto_moments(ai: np.ndarray, bi: np.ndarray, ci: np.ndarray, di: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Hypergeometric mean and variance of :math:`a_i` given the margins: :math:`E_i = (a_i+c_i)\,n_{1i}/N_i`,
    :math:`V_i = (a_i+c_i)(b_i+d_i)\,n_{1i} n_{2i}/(N_i^2 (N_i-1))`."""
    n1, n2 = ai + bi, ci + di
    total, events, non_events = n1 + n2, ai + ci, bi + di
    with np.errstate(divide="ignore", invalid="ignore"):
        return events * n1 / total, events * non_events * (n1 / total) * (n2 / total) / (total - 1)
