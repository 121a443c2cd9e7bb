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
    "RR": ("ai", "bi", "ci", "di"),
    "OR": ("ai", "bi", "ci", "di"),
    "RD": ("ai", "bi", "ci", "di"),
}
TWO_BY_TWO = ("RR", "OR", "RD")
CORRECTIONS = ("only0", "all", "if0all", "none")


def escalc(measure: str, data: pd.DataFrame | None = None, *, add: float = 0.5, to: str = "only0",
           drop00: bool = False, **columns: Any) -> pd.DataFrame:
    """Effect sizes ``yi`` and sampling variances ``vi``, as ``metafor::escalc``.

    Parameters
    ----------
    measure : {"COR", "ZCOR", "SMD", "MD", "SMCC", "RR", "OR", "RD"}
        ``COR`` raw correlation, ``ZCOR`` Fisher's r-to-z, ``SMD`` Hedges' g (exact
        gamma-function bias correction), ``MD`` raw mean difference, ``SMCC``
        standardised mean change (change-score standardisation, bias corrected),
        ``RR``/``OR`` log risk/odds ratio, ``RD`` risk difference.
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
        size); ``ai``, ``bi``, ``ci``, ``di`` (2x2 cells; ``n1i``, ``n2i`` may
        replace ``bi``, ``di``). Series are matched by index (to ``data``'s when
        given), as in :func:`rma`.

    Returns
    -------
    DataFrame
        ``yi`` and ``vi`` (appended to ``data`` when given); ``attrs["measure"]``
        holds the measure. Missing inputs give missing ``yi``/``vi``.

    Raises
    ------
    MetaInputError
        Unknown measure or arguments, missing or non-numeric columns, arrays of
        different length, Series whose indexes hold different studies, and impossible values (negative counts or SDs, events above
        the group size, ``|ri| > 1``, sample sizes too small for the variance), with
        the rows and values.
    """
    measure = _measure(measure)
    if to not in CORRECTIONS:
        raise MetaInputError(f"to must be one of {CORRECTIONS}, got {to!r}")
    needed = MEASURES[measure]
    allowed = set(needed) | ({"n1i", "n2i"} if measure in TWO_BY_TWO else set())
    unknown = sorted(set(columns) - allowed)
    if unknown:
        raise MetaInputError(f"{measure} takes {sorted(allowed)}; unknown arguments {unknown}")
    values = {name: _numeric(name, value, data) for name, value in _aligned(columns, data).items()}
    _same_length({name: v[0] for name, v in values.items()})
    if data is not None and values and len(next(iter(values.values()))[0]) != len(data):
        raise MetaInputError(f"arrays have {len(next(iter(values.values()))[0])} rows but data has {len(data)}")
    if measure in TWO_BY_TWO:
        yi, vi = _two_by_two(measure, values, add, to, drop00)
    else:
        missing = [name for name in needed if name not in values]
        if missing:
            raise MetaInputError(f"{measure} needs {list(needed)}; missing {missing}")
        yi, vi = _CONTINUOUS[measure](values)
    out = data.copy() if data is not None else pd.DataFrame(index=next(iter(values.values()))[1].index)
    out["yi"], out["vi"] = yi, vi
    out.attrs["measure"] = measure
    return out


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


def _change_score(values: dict) -> tuple[np.ndarray, np.ndarray]:
    for name in ("sd1i", "sd2i"):
        _check(values, name, lambda s: s < 0, "standard deviations must not be negative")
    _check(values, "ri", lambda r: np.abs(r) > 1, "correlations must lie in [-1, 1]")
    _check(values, "ni", lambda n: n <= 2, "sample sizes must exceed 2 for the bias correction")
    m1, m2, sd1, sd2, ri, ni = (values[name][0] for name in MEASURES["SMCC"])
    yi = _cmi(ni - 1) * (m1 - m2) / np.sqrt(sd1**2 + sd2**2 - 2 * ri * sd1 * sd2)
    return yi, 1 / ni + yi**2 / (2 * ni)


_CONTINUOUS = {
    "COR": _correlation("COR"),
    "ZCOR": _correlation("ZCOR"),
    "MD": _two_groups("MD"),
    "SMD": _two_groups("SMD"),
    "SMCC": _change_score,
}


def _two_by_two(measure: str, values: dict, add: float, to: str, drop00: bool) -> tuple[np.ndarray, np.ndarray]:
    """Log risk/odds ratios and risk differences with metafor's continuity correction."""
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
    if drop00:
        none_or_all = ((ai == 0) & (ci == 0)) | ((bi == 0) & (di == 0))
        for cells in (ai, bi, ci, di):
            cells[none_or_all] = np.nan
    zero = (ai == 0) | (bi == 0) | (ci == 0) | (di == 0)
    corrected = {"all": np.ones_like(zero), "only0": zero, "if0all": np.full_like(zero, zero.any()),
                 "none": np.zeros_like(zero)}[to]
    for cells in (ai, bi, ci, di):
        cells[corrected] += add
    n1, n2 = ai + bi, ci + di
    p1, p2 = ai / n1, ci / n2
    with np.errstate(divide="ignore", invalid="ignore"):
        if measure == "RR":
            yi, vi = np.log(p1) - np.log(p2), 1 / ai - 1 / n1 + 1 / ci - 1 / n2
        elif measure == "OR":
            yi, vi = np.log(p1 / (1 - p1)) - np.log(p2 / (1 - p2)), 1 / ai + 1 / bi + 1 / ci + 1 / di
        else:
            yi, vi = p1 - p2, p1 * (1 - p1) / n1 + p2 * (1 - p2) / n2
    infinite = ~np.isfinite(yi) | ~np.isfinite(vi)
    yi[infinite], vi[infinite] = np.nan, np.nan  # metafor recodes +-Inf to missing
    return yi, vi

