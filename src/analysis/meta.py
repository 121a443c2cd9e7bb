r"""Meta-analysis that reads and computes like metafor: effect sizes and the (mixed-)effects model.

:func:`escalc` turns study summaries into effect sizes :math:`y_i` with sampling
variances :math:`v_i`, and :func:`rma` fits the meta-analytic model

.. math::

   y_i = x_i'\beta + u_i + e_i, \quad u_i \sim N(0, \tau^2), \quad e_i \sim N(0, v_i),

with the :math:`v_i` taken as known, as ``metafor::rma.uni`` (metafor 3.8-1) does:
the same :math:`\tau^2` estimators (FE/EE, DL, HE, HS, SJ, ML, REML, EB, PM), the
same Fisher-scoring iterations and convergence threshold, the same port of R's
``uniroot`` (Brent's ``zeroin``) for the Paule-Mandel estimator and the Q-profile
interval of :math:`\tau^2`, and the same tests (``"z"``, ``"t"``, ``"knha"``,
``"adhoc"``). Follow-ups mirror metafor's: ``predict`` (with prediction interval),
``egger`` (``regtest(model="rma", predictor="sei")``), ``trimfill`` and
``leave1out``. Names follow metafor (``yi``, ``vi``, ``tau2``, ``QE``, ``ci_lb``,
``intrcpt`` ...) so that a textbook example reads the same.

Weights are :math:`w_i = 1/(v_i + \hat\tau^2)` and
:math:`\hat\beta = (X'WX)^{-1}X'Wy` with variance :math:`s^2_w (X'WX)^{-1}`, where
:math:`s^2_w = 1` except for the Knapp-Hartung (``"knha"``) test,
:math:`s^2_w = \sum w_i (y_i - x_i'\hat\beta)^2/(k-p)` (``"adhoc"`` truncates it
below at 1). :math:`I^2 = 100\,\hat\tau^2/(\tilde v + \hat\tau^2)` and
:math:`H^2 = \hat\tau^2/\tilde v + 1` use the typical within-study variance
:math:`\tilde v = (k-p)/\mathrm{tr}(P)` with :math:`P = W - WX(X'WX)^{-1}X'W`,
:math:`W = \mathrm{diag}(1/v_i)`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import numpy as np
import pandas as pd
import patsy
from scipy import stats
from scipy.special import gammaln

__all__ = [
    "MetaInputError",
    "RmaResult",
    "EggerResult",
    "TrimfillResult",
    "escalc",
    "effect_sizes",
    "rma",
    "back_transform",
    "against_published",
    "MEASURES",
    "METHODS",
    "FIXED",
    "TESTS",
]

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
METHODS = ("FE", "EE", "DL", "HE", "HS", "SJ", "ML", "REML", "EB", "PM")
FIXED = ("FE", "EE")
TESTS = ("z", "t", "knha", "adhoc")
T_TESTS = ("t", "knha", "adhoc")
TRIMFILL_ESTIMATORS = ("L0", "R0", "Q0")

#: metafor's ``control`` defaults for ``rma.uni``: Fisher-scoring threshold and
#: iterations, ``uniroot`` tolerance, lower bound of the ``tau2.max`` search limit,
#: the eigenvalue tolerance of the full-rank check, and the iterations of the
#: Q-profile root search (``confint.rma.uni``).
THRESHOLD = 1e-5
MAXITER = 100
ROOT_TOL = np.finfo(float).eps ** 0.25
TAU2_MAX = 100.0
EVTOL = 1e-7
PROFILE_MAXITER = 1000
SHOWN = 5  # offending rows shown in an error message

#: Back-transformation to the natural scale of a measure (metafor's ``transf.ztor``
#: and ``exp``) and the name of that scale.
BACK_TRANSFORMS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "ZCOR": (np.tanh, "correlation"),
    "RR": (np.exp, "risk ratio"),
    "OR": (np.exp, "odds ratio"),
}


#: Names a moderator formula may use besides its columns: R's ``factor(x)`` treats ``x`` as categorical
#: (treatment-coded, first level the reference), like patsy's ``C(x)``.
FORMULA_NAMES: dict[str, Any] = {"factor": patsy.builtins.C}


class MetaInputError(ValueError):
    """Bad input to :func:`escalc` or :func:`rma`; the message names the argument, rows and values."""


# --------------------------------------------------------------------------- input helpers


def _problem(label: str, reason: str, values: pd.Series, mask: np.ndarray) -> MetaInputError:
    """An error naming the argument, the first offending rows (index labels) and their values."""
    rows = np.flatnonzero(mask)
    shown = ", ".join(f"row {_plain(values.index[i])!r}: {_plain(values.iloc[i])!r}" for i in rows[:SHOWN])
    more = f" (first {SHOWN} shown)" if len(rows) > SHOWN else ""
    return MetaInputError(f"{label}: {reason} — {len(rows)} row{'s' if len(rows) != 1 else ''}{more}: {shown}")


def _plain(value: Any) -> Any:
    """numpy scalars as Python numbers, so that messages read ``0.5`` and not ``np.float64(0.5)``."""
    return value.item() if isinstance(value, np.generic) else value


def _series(name: str, value: Any, data: pd.DataFrame | None) -> tuple[pd.Series, str]:
    """The values of an argument given as a column name of ``data`` or as an array."""
    if isinstance(value, str):
        if data is None:
            raise MetaInputError(f"{name}={value!r} names a column, but no data= was given")
        if value not in data.columns:
            raise MetaInputError(f"{name}: column {value!r} not in data (columns: {list(data.columns)})")
        return data[value], f"{name} (column {value!r})"
    if isinstance(value, pd.Series):
        return value, name
    array = np.asarray(value)
    if array.ndim != 1:
        raise MetaInputError(f"{name}: expected a column name or a one-dimensional array, got shape {array.shape}")
    return pd.Series(array), name


def _numeric(name: str, value: Any, data: pd.DataFrame | None) -> tuple[np.ndarray, pd.Series, str]:
    """Float values of an argument, with the raw series and its label for error messages."""
    raw, label = _series(name, value, data)
    numbers = pd.to_numeric(raw, errors="coerce")
    bad = (numbers.isna() & raw.notna()).to_numpy()
    if bad.any():
        raise _problem(label, "must be numeric", raw, bad)
    return numbers.to_numpy(float), raw, label


def _aligned(arguments: Mapping[str, Any], data: pd.DataFrame | None) -> dict[str, Any]:
    """The arguments with every pandas Series or DataFrame among them put in one row order, by index.

    The order is that of ``data``'s index when ``data`` is given, else that of the first
    pandas argument. A pandas argument whose index holds the same labels in another order
    is reordered; one whose labels differ is refused, because pairing its rows with the
    others by position would silently match different studies.

    Raises
    ------
    MetaInputError
        Naming the two arguments and labels that only one of them has.
    """
    pandas_args = {name: value for name, value in arguments.items() if isinstance(value, (pd.Series, pd.DataFrame))}
    if data is not None:
        reference_name, reference = "data", data.index
    elif pandas_args:
        reference_name, reference = next((name, value.index) for name, value in pandas_args.items())
    else:
        return dict(arguments)
    out = dict(arguments)
    for name, value in pandas_args.items():
        if value.index.equals(reference):
            continue
        same_rows = (len(value.index) == len(reference) and value.index.is_unique and reference.is_unique
                     and set(value.index) == set(reference))
        if not same_rows:
            raise MetaInputError(f"{name} and {reference_name} have different indexes "
                                 f"({_index_difference(value.index, reference, name, reference_name)}); "
                                 f"their rows cannot be matched by label: select the same studies in both, "
                                 f"or pass plain arrays to pair them by position")
        out[name] = value.reindex(reference)
    return out


def _index_difference(index: pd.Index, reference: pd.Index, name: str, reference_name: str) -> str:
    """What tells two indexes apart, in words: labels only one has, repeated labels, or lengths."""
    only = {name: [label for label in index if label not in reference],
            reference_name: [label for label in reference if label not in index]}
    parts = [f"only in {who}: {', '.join(repr(_plain(label)) for label in labels[:SHOWN])}"
             + (" ..." if len(labels) > SHOWN else "") for who, labels in only.items() if labels]
    parts += [f"{who} repeats labels" for who, labels in ((name, index), (reference_name, reference))
              if not labels.is_unique]
    return "; ".join(parts) or f"{len(index)} and {len(reference)} rows"


def _same_length(named: Mapping[str, np.ndarray]) -> None:
    lengths = {name: len(values) for name, values in named.items()}
    if len(set(lengths.values())) > 1:
        raise MetaInputError(f"arguments differ in length: {lengths}")


def _level(level: float) -> float:
    """metafor's ``.level``: 95 or 0.95 -> alpha = 0.05."""
    if not isinstance(level, (int, float)) or isinstance(level, bool) or not 0 <= level < 100:
        raise MetaInputError(f"level must be a number in [0, 100), e.g. 95; got {level!r}")
    if level == 0:
        return 1.0
    return (100 - level) / 100 if level >= 1 else (1 - level if level > 0.5 else level)


# --------------------------------------------------------------------------- escalc


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


# --------------------------------------------------------------------------- linear algebra and roots


def _proj(X: np.ndarray, w: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(X'WX)^{-1}`` and ``P = W - WX(X'WX)^{-1}X'W`` for weights ``w``."""
    WX = X * w[:, None]
    inv = np.linalg.inv(X.T @ WX)
    return inv, np.diag(w) - WX @ inv @ WX.T


def _zeroin(f: Callable[[float], float], a: float, b: float, fa: float, fb: float,
            tol: float, maxiter: int) -> tuple[float, bool]:
    """Brent's root finder exactly as R's ``R_zeroin2`` (stats/src/zeroin.c), so that
    roots match ``uniroot`` to the last iteration; returns (root, converged)."""
    eps = np.finfo(float).eps
    c, fc = a, fa
    if fa == 0:
        return a, True
    if fb == 0:
        return b, True
    for _ in range(maxiter + 1):
        prev_step = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol_act = 2 * eps * abs(b) + tol / 2
        new_step = (c - b) / 2
        if abs(new_step) <= tol_act or fb == 0:
            return b, True
        if abs(prev_step) >= tol_act and abs(fa) > abs(fb):
            cb = c - b
            if a == c:
                t1 = fb / fa
                p, q = cb * t1, 1 - t1
            else:
                q, t1, t2 = fa / fc, fb / fc, fb / fa
                p = t2 * (cb * q * (q - t1) - (b - a) * (t1 - 1))
                q = (q - 1) * (t1 - 1) * (t2 - 1)
            if p > 0:
                q = -q
            else:
                p = -p
            if p < 0.75 * cb * q - abs(tol_act * q) / 2 and p < abs(prev_step * q / 2):
                new_step = p / q
        if abs(new_step) < tol_act:
            new_step = tol_act if new_step > 0 else -tol_act
        a, fa = b, fb
        b += new_step
        fb = f(b)
        if (fb > 0 and fc > 0) or (fb < 0 and fc < 0):
            c, fc = a, fa
    return b, False


def _uniroot(f: Callable[[float], float], lower: float, upper: float, maxiter: int) -> tuple[float, bool]:
    """R's ``uniroot(f, c(lower, upper), tol=.Machine$double.eps^0.25)``."""
    return _zeroin(f, lower, upper, f(lower), f(upper), ROOT_TOL, maxiter)


def _qe(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float) -> float:
    """Generalised Q statistic ``y' P(tau2) y`` (metafor's ``.QE.func``)."""
    return float(y @ _proj(X, 1 / (v + tau2))[1] @ y)


# --------------------------------------------------------------------------- tau2 estimators


def _tau2(y: np.ndarray, v: np.ndarray, X: np.ndarray, method: str, messages: list[str]) -> tuple[float, float]:
    """Estimate tau2 and its standard error exactly as ``rma.uni`` does; notes go to ``messages``."""
    k, p = X.shape
    ymc = y - y.mean()  # metafor estimates tau2 from the centred outcomes
    if method == "HS":
        w = 1 / v
        P = _proj(X, w)[1]
        tau2 = max(0.0, (ymc @ P @ ymc - k) / w.sum())
        se = math.sqrt(1 / w.sum() ** 2 * (2 * (k - p) + 4 * tau2 * np.trace(P) + 2 * tau2**2 * np.sum(P * P)))
        return tau2, se
    if method == "DL":
        w = 1 / v
        P = _proj(X, w)[1]
        trP = np.trace(P)
        tau2 = max(0.0, (ymc @ P @ ymc - (k - p)) / trP)
        return tau2, math.sqrt(1 / trP**2 * (2 * (k - p) + 4 * tau2 * trP + 2 * tau2**2 * np.sum(P * P)))
    if method == "SJ":
        tau2_0 = float(np.var(ymc))
        P = _proj(X, 1 / (v + tau2_0))[1]
        PV = P * v[None, :]
        tau2 = max(0.0, tau2_0 * (ymc @ P @ ymc) / (k - p))
        return tau2, math.sqrt(tau2_0**2 / (k - p) ** 2 * (2 * np.sum(PV * PV.T) + 4 * tau2 * np.sum(PV * P)
                                                           + 2 * tau2**2 * np.sum(P * P)))
    if method == "PM":
        tau2 = _paule_mandel(ymc, v, X, messages)
        w = 1 / (v + tau2)
        return tau2, math.sqrt(2 * k**2 / (k - p) / w.sum() ** 2)
    P0 = np.eye(k) - X @ np.linalg.inv(X.T @ X) @ X.T
    PV = P0 * v[None, :]
    trPV = np.trace(PV)
    tau2 = (ymc @ P0 @ ymc - trPV) / (k - p)
    if method == "HE":
        tau2 = max(0.0, tau2)
        return tau2, math.sqrt(1 / (k - p) ** 2 * (2 * np.sum(PV * PV.T) + 4 * tau2 * trPV + 2 * tau2**2 * (k - p)))
    return _fisher_scoring(ymc, v, X, method, max(0.0, tau2), messages)


def _paule_mandel(ymc: np.ndarray, v: np.ndarray, X: np.ndarray, messages: list[str]) -> float:
    k, p = X.shape
    tau2_max = max(TAU2_MAX, 10 * (1.4826 * np.median(np.abs(ymc - np.median(ymc)))) ** 2)

    def excess(tau2: float) -> float:
        return _qe(ymc, v, X, tau2) - (k - p)

    if excess(0.0) < 0:
        return 0.0
    if excess(tau2_max) > 0:
        messages.append(f"Paule-Mandel: Q still above its expectation at tau2 = {tau2_max:g} "
                        "(the search limit); tau2 set to that limit")
        return tau2_max
    root, converged = _uniroot(excess, 0.0, tau2_max, MAXITER)
    if not converged:
        messages.append(f"Paule-Mandel: root search did not converge in {MAXITER} iterations")
    return root


def _fisher_scoring(ymc: np.ndarray, v: np.ndarray, X: np.ndarray, method: str, tau2: float,
                    messages: list[str]) -> tuple[float, float]:
    """ML, REML and EB by metafor's Fisher scoring (step halving at the zero bound)."""
    k, p = X.shape
    change, iterations, converged = THRESHOLD + 1, 0, True
    while change > THRESHOLD:
        iterations += 1
        old = tau2
        w = 1 / (v + tau2)
        P = _proj(X, w)[1]
        if method == "EB":
            adj = (ymc @ P @ ymc * k / (k - p) - k) / w.sum()
        else:
            PP = P @ P
            if method == "ML":
                adj = (ymc @ PP @ ymc - w.sum()) / np.sum(w**2)
            else:
                adj = (ymc @ PP @ ymc - np.trace(P)) / np.trace(PP)
        adj = 0.0 if np.isnan(adj) else float(adj)
        while tau2 + adj < 0:
            adj /= 2
        tau2 = tau2 + adj
        change = abs(old - tau2)
        if iterations > MAXITER:
            converged = False
            messages.append(f"Fisher scoring ({method}) did not converge in {MAXITER} iterations; "
                            "the estimates are not reliable")
            break
    if converged and method in ("ML", "REML") and tau2 > THRESHOLD:
        if _loglik(ymc, v, X, 0.0, method) - _loglik(ymc, v, X, tau2, method) > ROOT_TOL:
            messages.append("Fisher scoring may have stopped at a local maximum: the likelihood is higher "
                            "at tau2 = 0, so tau2 was set to 0 (as metafor does)")
            tau2 = 0.0
    w = 1 / (v + tau2)
    if method == "ML":
        return tau2, math.sqrt(2 / np.sum(w**2))
    if method == "REML":
        P = _proj(X, w)[1]
        return tau2, math.sqrt(2 / np.sum(P * P))
    return tau2, math.sqrt(2 * k**2 / (k - p) / w.sum() ** 2)


def _loglik(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, method: str) -> float:
    """(Restricted) log-likelihood as in metafor's local-maximum check."""
    k, p = X.shape
    w = 1 / (v + tau2)
    inv = _proj(X, w)[0]
    beta = inv @ (X.T @ (w * y))
    rss = np.sum(w * (y - X @ beta) ** 2)
    if method == "ML":
        return -k / 2 * math.log(2 * math.pi) - np.sum(np.log(v + tau2)) / 2 - rss / 2
    logdet = np.linalg.slogdet(X.T @ (X * w[:, None]))[1]
    return -(k - p) / 2 * math.log(2 * math.pi) - np.sum(np.log(v + tau2)) / 2 - logdet / 2 - rss / 2


def _qprofile(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, alpha: float,
              messages: list[str]) -> tuple[float, float]:
    """Q-profile confidence limits of tau2 as ``confint.rma.uni`` (type="QP")."""
    k, p = X.shape
    tau2_min, tau2_max = 0.0, max(TAU2_MAX, 10 * tau2)
    crit_u = stats.chi2.isf(alpha / 2, k - p)
    crit_l = stats.chi2.ppf(alpha / 2, k - p)
    q_min, q_max = _qe(y, v, X, tau2_min), _qe(y, v, X, tau2_max)

    def limit(crit: float) -> float:
        root, converged = _uniroot(lambda t: _qe(y, v, X, t) - crit, tau2_min, tau2_max, PROFILE_MAXITER)
        if not converged:
            messages.append("Q-profile: root search for a tau2 limit did not converge")
        return root

    if q_min < crit_l:
        lower = upper = tau2_min
        messages.append("Q-profile: Q is below its lower critical value even at tau2 = 0, so the "
                        "confidence interval of tau2 is empty; both limits are reported as 0")
    else:
        if q_max > crit_l:
            upper = tau2_max
            messages.append(f"Q-profile: the upper limit of tau2 lies above the search limit {tau2_max:g}")
        else:
            upper = limit(crit_l)
    if q_max > crit_u:
        lower = upper = tau2_max
        messages.append(f"Q-profile: both limits of tau2 lie above the search limit {tau2_max:g}")
    elif q_min < crit_u:
        lower = tau2_min
    else:
        lower = limit(crit_u)
    return lower, upper


# --------------------------------------------------------------------------- results


@dataclass(frozen=True)
class EggerResult:
    """Regression test for funnel-plot asymmetry (``metafor::regtest``, model="rma", predictor="sei").

    Attributes
    ----------
    zval, pval : float
        Test statistic of the standard-error coefficient (a t value with ``dof``
        degrees of freedom for t-type tests) and its two-sided p-value.
    dof : int or None
        Degrees of freedom for t-type tests, else None.
    estimate, ci_lb, ci_ub : float or None
        Limit estimate as the standard error goes to 0 (the intercept) with its
        confidence interval; None for models with moderators.
    method, test : str
        Estimator and test of the model (the same as the fitted model's).
    """

    zval: float
    pval: float
    dof: int | None
    estimate: float | None
    ci_lb: float | None
    ci_ub: float | None
    method: str
    test: str

    def summary(self) -> str:
        """Text laid out like metafor's ``print.regtest``."""
        stat = "t" if self.dof is not None else "z"
        df = f", df = {self.dof}" if self.dof is not None else ""
        lines = ["Regression Test for Funnel Plot Asymmetry", "",
                 f"Model:     {'equal-effects' if self.method in FIXED else 'mixed-effects'} meta-regression model",
                 "Predictor: standard error", "",
                 f"Test for Funnel Plot Asymmetry: {stat} = {self.zval:.4f}{df}, p = {_pval(self.pval)}"]
        if self.estimate is not None:
            lines.append(f"Limit Estimate (as sei -> 0):   b = {self.estimate:.4f} "
                         f"(CI: {self.ci_lb:.4f}, {self.ci_ub:.4f})")
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class TrimfillResult:
    """Trim-and-fill analysis (``metafor::trimfill``).

    Attributes
    ----------
    k0, se_k0 : int, float
        Estimated number of missing studies and its standard error.
    side : {"left", "right"}
        Side of the funnel plot on which studies were imputed.
    estimator : {"L0", "R0", "Q0"}
    p_k0 : float or None
        p-value of the R0 test that no studies are missing (R0 only).
    fit : RmaResult
        The model refitted to the observed plus the ``k0`` filled-in studies (with
        test "z", as metafor refits it; the original model when ``k0 == 0``).
    fill : numpy.ndarray of bool
        Which rows of ``fit`` are filled-in studies.
    """

    k0: int
    se_k0: float
    side: str
    estimator: str
    p_k0: float | None
    fit: RmaResult
    fill: np.ndarray = field(repr=False)

    def summary(self) -> str:
        """Text laid out like metafor's ``print`` of a trim-and-fill object."""
        head = f"Estimated number of missing studies on the {self.side} side: {self.k0} (SE = {self.se_k0:.4f})"
        if self.p_k0 is not None:
            head += f"\nTest of H0: no missing studies on the {self.side} side:     p-val = {_pval(self.p_k0)}"
        return head + "\n\n" + self.fit.summary()

    def funnel(self, **kwargs: Any):
        """Funnel plot of the filled-in data; filled studies drawn hollow (see :func:`analysis.plots.meta.funnel`)."""
        from .plots import meta as meta_plots

        return meta_plots.funnel(self.fit, fill=self.fill, **kwargs)


@dataclass(frozen=True, eq=False)
class RmaResult:
    """A fitted meta-analytic model, named and computed as ``metafor::rma.uni`` does.

    Attributes
    ----------
    beta, se, zval, pval, ci_lb, ci_ub : pandas.Series
        Coefficients (``intrcpt`` first), standard errors, test statistics (t values
        for t-type tests; also available as :attr:`tval`), two-sided p-values and
        confidence limits, indexed by term.
    vb : pandas.DataFrame
        Variance-covariance matrix of the coefficients (scaled by ``s2w`` for knha).
    tau2, se_tau2 : float
        Estimated (residual) heterogeneity variance and its standard error
        (0 and NaN for FE/EE models).
    tau2_ci, I2_ci, H2_ci : tuple of float or None
        Q-profile confidence limits (lower, upper) of tau2 and the implied limits of
        I2 and H2; None for FE/EE models and for internal refits.
    I2, H2 : float
        Heterogeneity in percent of the total variability, and total over sampling
        variability.
    R2 : float or None
        Models with moderators and an intercept: percent of heterogeneity accounted
        for, ``(tau2_0 - tau2)/tau2_0`` against the intercept-only model (random
        effects), or the adjusted R2 of the weighted regression (FE/EE), as metafor
        reports it; None otherwise.
    QE, QEp : float
        Test for (residual) heterogeneity and its p-value.
    QM, QMp : float
        Omnibus test of the moderators (all coefficients but the intercept; the
        intercept alone in intercept-only models): chi-square with ``QMdf[0]`` df, or
        F with ``QMdf`` df for t-type tests.
    QMdf : tuple
        (m, None) for test "z", (m, k - p) for t-type tests.
    k, p : int
        Number of studies used and of coefficients.
    dof : int
        Residual degrees of freedom ``k - p`` (used by t-type tests).
    s2w : float
        Knapp-Hartung scale factor (1 unless test is "knha" or "adhoc").
    vt : float
        Typical within-study variance used for I2 and H2.
    method, test : str
    level : float
        Confidence level as given (95 means 95%).
    yi, vi : pandas.Series
        Outcomes and sampling variances used, indexed by study label.
    X : pandas.DataFrame
        Model matrix, indexed by study label.
    measure : str or None
        Effect-size measure, when known (from :func:`escalc` output).
    warnings : list of str
        Everything that went wrong or needs a caveat: omitted studies, boundary
        estimates, non-convergence, Q-profile limits at the search bound.
    """

    beta: pd.Series
    se: pd.Series
    zval: pd.Series
    pval: pd.Series
    ci_lb: pd.Series
    ci_ub: pd.Series
    vb: pd.DataFrame
    tau2: float
    se_tau2: float
    tau2_ci: tuple[float, float] | None
    I2: float
    H2: float
    I2_ci: tuple[float, float] | None
    H2_ci: tuple[float, float] | None
    R2: float | None
    QE: float
    QEp: float
    QM: float
    QMp: float
    QMdf: tuple[int, int | None]
    k: int
    p: int
    dof: int
    s2w: float
    vt: float
    method: str
    test: str
    level: float
    yi: pd.Series
    vi: pd.Series
    X: pd.DataFrame
    measure: str | None
    warnings: list[str]
    design_info: Any = field(default=None, repr=False)

    # ----------------------------------------------------------------- views
    @property
    def tval(self) -> pd.Series:
        """t statistics of t-type tests (``"t"``, ``"knha"``, ``"adhoc"``)."""
        if self.test not in T_TESTS:
            raise AttributeError(f"test={self.test!r} gives z values; use .zval")
        return self.zval

    @property
    def int_only(self) -> bool:
        """Whether the model has no moderators (intercept only)."""
        return list(self.X.columns) == ["intrcpt"]

    @property
    def alpha(self) -> float:
        return _level(self.level)

    @property
    def weights(self) -> pd.Series:
        """Percent weight of each study, ``100 w_i / sum(w)`` with ``w_i = 1/(v_i + tau2)``."""
        w = 1 / (self.vi + self.tau2)
        return 100 * w / w.sum()

    @property
    def residuals(self) -> pd.Series:
        """Observed minus fitted outcomes, ``y_i - x_i' beta``."""
        return self.yi - self.X @ self.beta

    @property
    def coefficients(self) -> pd.DataFrame:
        """The coefficient table: estimate, se, zval (tval), pval, ci_lb, ci_ub."""
        stat = "tval" if self.test in T_TESTS else "zval"
        return pd.DataFrame({"estimate": self.beta, "se": self.se, stat: self.zval, "pval": self.pval,
                             "ci_lb": self.ci_lb, "ci_ub": self.ci_ub})

    # ----------------------------------------------------------------- follow-ups
    def confint(self) -> pd.DataFrame:
        """Heterogeneity with Q-profile confidence limits, as ``confint(res)$random`` in metafor.

        Returns
        -------
        DataFrame
            Rows ``tau^2``, ``tau``, ``I^2(%)``, ``H^2``; columns ``estimate``,
            ``ci_lb``, ``ci_ub``.
        """
        if self.tau2_ci is None:
            raise MetaInputError(f"a {self.method} model has no random-effects component to profile")
        return pd.DataFrame({"estimate": [self.tau2, math.sqrt(self.tau2), self.I2, self.H2],
                             "ci_lb": [self.tau2_ci[0], math.sqrt(self.tau2_ci[0]), self.I2_ci[0], self.H2_ci[0]],
                             "ci_ub": [self.tau2_ci[1], math.sqrt(self.tau2_ci[1]), self.I2_ci[1], self.H2_ci[1]]},
                            index=["tau^2", "tau", "I^2(%)", "H^2"])

    def predict(self, newmods: Any = None, transf: Callable[[Any], Any] | None = None) -> pd.DataFrame:
        """Predicted (average) effects with confidence and prediction intervals (``predict.rma``).

        Parameters
        ----------
        newmods : array-like or DataFrame, optional
            Moderator values (without the intercept) at which to predict: one row
            per prediction, columns in the order of the moderators; for a model given
            as a formula, a DataFrame of the raw variables (factor levels as text).
            Omitted: the pooled effect of an intercept-only model, or the fitted
            value of every study.
        transf : callable, optional
            Applied to the prediction and the limits (e.g. ``np.exp`` for log risk
            ratios, ``np.tanh`` for Fisher's z); the standard error is then NaN.

        Returns
        -------
        DataFrame
            ``pred``, ``se``, ``ci_lb``, ``ci_ub`` and, for random-effects models,
            ``pi_lb``, ``pi_ub``: the prediction interval
            ``pred ± crit sqrt(se^2 + tau2)`` for the true effect of a new study (crit
            from the normal, or from t with k - p df for t-type tests).
        """
        X_new, index = self._new_rows(newmods)
        pred = X_new @ self.beta.to_numpy()
        vpred = np.einsum("ij,jk,ik->i", X_new, self.vb.to_numpy(), X_new)
        se = np.sqrt(np.where(vpred < 0, np.nan, vpred))
        crit = self._crit()
        table = {"pred": pred, "se": se, "ci_lb": pred - crit * se, "ci_ub": pred + crit * se}
        if self.method not in FIXED:
            half = crit * np.sqrt(vpred + self.tau2)
            table |= {"pi_lb": pred - half, "pi_ub": pred + half}
        out = pd.DataFrame(table, index=index)
        return _transformed(out, transf, ("pred", "ci_lb", "ci_ub", "pi_lb", "pi_ub"))

    def _new_rows(self, newmods: Any) -> tuple[np.ndarray, pd.Index]:
        if newmods is None:
            if self.int_only:
                return np.ones((1, 1)), pd.Index(["pooled"])
            return self.X.to_numpy(), self.X.index
        if self.int_only:
            raise MetaInputError("newmods given, but the model has no moderators")
        if isinstance(newmods, pd.DataFrame) and self.design_info is not None:
            try:
                matrix = patsy.build_design_matrices([self.design_info], newmods, return_type="dataframe")[0]
            except patsy.PatsyError as exc:
                raise MetaInputError(f"newmods: cannot build the model's moderators ({exc})") from None
            return matrix.to_numpy(float), newmods.index
        moderators = np.asarray(newmods, dtype=float)
        intercept = int(self.X.columns[0] == "intrcpt")
        p_mods = self.p - intercept
        if moderators.ndim == 1:
            moderators = moderators[:, None] if p_mods == 1 else moderators[None, :]
        if moderators.shape[1] != p_mods:
            raise MetaInputError(f"newmods has {moderators.shape[1]} columns but the model has {p_mods} "
                                 f"moderators {list(self.X.columns[intercept:])}")
        index = newmods.index if isinstance(newmods, pd.DataFrame) else pd.RangeIndex(len(moderators))
        return np.column_stack([np.ones((len(moderators), intercept)), moderators]), index

    def _crit(self) -> float:
        if self.test in T_TESTS:
            return float(stats.t.isf(self.alpha / 2, self.dof)) if self.dof > 0 else np.nan
        return float(stats.norm.isf(self.alpha / 2))

    def egger(self) -> EggerResult:
        """Egger's regression test: the model refitted with the standard errors as an extra moderator.

        As ``regtest(x, model="rma", predictor="sei")``: same estimator, test and
        level as the fitted model; the test statistic is that of the ``sqrt(vi)``
        coefficient. For intercept-only models the intercept is the limit estimate
        (the effect expected in a study of infinite precision).
        """
        X = np.column_stack([self.X.to_numpy(), np.sqrt(self.vi.to_numpy())])
        fit = _fit(self.yi, self.vi, pd.DataFrame(X, index=self.X.index, columns=[*self.X.columns, "sei"]),
                   self.method, self.test, self.level, profile=False)
        limit = (fit.beta.iloc[0], fit.ci_lb.iloc[0], fit.ci_ub.iloc[0]) if self.int_only else (None, None, None)
        return EggerResult(float(fit.zval.iloc[-1]), float(fit.pval.iloc[-1]),
                           fit.dof if self.test in T_TESTS else None, *limit, self.method, self.test)

    def trimfill(self, side: str | None = None, estimator: str = "L0", maxiter: int = 100) -> TrimfillResult:
        """Duval and Tweedie's trim-and-fill method, as ``metafor::trimfill``.

        Parameters
        ----------
        side : {"left", "right"}, optional
            Side on which studies are missing; by default chosen from the sign of the
            Egger-type slope (refit with ``sqrt(vi)`` as moderator): imputed on the
            left if the slope is positive, else on the right.
        estimator : {"L0", "R0", "Q0"}
            Estimator of the number of missing studies (metafor's default L0).
        maxiter : int
            Maximum number of trim-and-fill iterations.

        Returns
        -------
        TrimfillResult
        """
        if not self.int_only:
            raise MetaInputError("trim-and-fill applies only to models without moderators")
        if estimator not in TRIMFILL_ESTIMATORS:
            raise MetaInputError(f"estimator must be one of {TRIMFILL_ESTIMATORS}, got {estimator!r}")
        if side is None:
            X = np.column_stack([np.ones(self.k), np.sqrt(self.vi.to_numpy())])
            slope = _fit(self.yi, self.vi, pd.DataFrame(X, index=self.X.index, columns=["intrcpt", "sei"]),
                         self.method, "z", self.level, profile=False).beta.iloc[1]
            side = "right" if slope < 0 else "left"
        elif side not in ("left", "right"):
            raise MetaInputError(f"side must be 'left' or 'right', got {side!r}")
        k0, se_k0, filled_y, filled_v = _trim_and_fill(self, side, estimator, maxiter)
        p_k0 = None
        if estimator == "R0":
            p_k0 = float(1 - np.sum(0.5 ** (np.arange(-1, k0) + 2)))
        if k0 == 0:
            return TrimfillResult(0, se_k0, side, estimator, p_k0, self, np.zeros(self.k, bool))
        labels = [*map(str, self.yi.index), *(f"Filled {i}" for i in range(1, k0 + 1))]
        yi = pd.Series(np.append(self.yi.to_numpy(), filled_y), index=labels)
        vi = pd.Series(np.append(self.vi.to_numpy(), filled_v), index=labels)
        fit = _fit(yi, vi, pd.DataFrame({"intrcpt": 1.0}, index=labels), self.method, "z", self.level,
                   profile=True, measure=self.measure)
        return TrimfillResult(k0, se_k0, side, estimator, p_k0, fit, np.arange(len(labels)) >= self.k)

    def leave1out(self, transf: Callable[[Any], Any] | None = None) -> pd.DataFrame:
        """The model refitted with each study left out in turn (``metafor::leave1out``).

        Returns
        -------
        DataFrame
            One row per left-out study: ``estimate``, ``se``, ``zval`` (``tval``),
            ``pval``, ``ci_lb``, ``ci_ub``, ``Q``, ``Qp``, ``tau2`` (not for FE/EE),
            ``I2``, ``H2``; ``transf`` is applied to the estimate and limits.
        """
        if not self.int_only:
            raise MetaInputError("leave-one-out applies only to models without moderators")
        rows = []
        for label in self.yi.index:
            keep = self.yi.index != label
            try:
                fit = _fit(self.yi[keep], self.vi[keep], self.X[keep], self.method, self.test, self.level,
                           profile=False)
            except MetaInputError:  # too few studies left: a row of NaN, as metafor's try()
                rows.append([np.nan] * 11)
                continue
            rows.append([fit.beta.iloc[0], fit.se.iloc[0], fit.zval.iloc[0], fit.pval.iloc[0], fit.ci_lb.iloc[0],
                         fit.ci_ub.iloc[0], fit.QE, fit.QEp, fit.tau2, fit.I2, fit.H2])
        stat = "tval" if self.test in T_TESTS else "zval"
        out = pd.DataFrame(rows, index=self.yi.index,
                           columns=["estimate", "se", stat, "pval", "ci_lb", "ci_ub", "Q", "Qp", "tau2", "I2", "H2"])
        if self.method in FIXED:
            out = out.drop(columns="tau2")
        return _transformed(out, transf, ("estimate", "ci_lb", "ci_ub"))

    # ----------------------------------------------------------------- output
    def summary(self) -> str:
        """Text laid out like metafor's ``print.rma.uni``, followed by any warnings."""
        lines = [f"{self.model_name} (k = {self.k}"
                 + (f"; tau^2 estimator: {self.method})" if self.method not in FIXED else ")"), ""]
        if self.method not in FIXED:
            which = "total" if self.int_only else "residual"
            lines += [f"tau^2 (estimated amount of {which} heterogeneity): {self.tau2:.4f} (SE = {self.se_tau2:.4f})",
                      f"tau (square root of estimated tau^2 value):      {math.sqrt(self.tau2):.4f}"]
            if self.tau2_ci is not None:
                lines.append(f"{100 * (1 - self.alpha):g}% Q-profile CI for tau^2:             "
                             f"[{self.tau2_ci[0]:.4f}, {self.tau2_ci[1]:.4f}]")
        lines += [f"I^2 ({'total' if self.int_only else 'residual'} heterogeneity / "
                  f"{'total' if self.int_only else 'unaccounted'} variability):   {self.I2:.2f}%",
                  f"H^2 ({'total' if self.int_only else 'unaccounted'} variability / sampling variability):  "
                  f"{self.H2:.2f}"]
        if self.R2 is not None:
            lines.append(f"R^2 (amount of heterogeneity accounted for):            {self.R2:.2f}%")
        lines += ["", f"Test for {'Heterogeneity' if self.int_only else 'Residual Heterogeneity'}:",
                  f"{'Q' if self.int_only else 'QE'}(df = {self.dof}) = {self.QE:.4f}, p-val {_pval(self.QEp, True)}"]
        if not self.int_only:
            test = (f"F(df1 = {self.QMdf[0]}, df2 = {self.QMdf[1]})" if self.test in T_TESTS
                    else f"QM(df = {self.QMdf[0]})")
            lines += ["", f"Test of Moderators (coefficient{'s' if self.QMdf[0] > 1 else ''} "
                      f"{', '.join(str(i) for i in range(2, self.p + 1))}):",
                      f"{test} = {self.QM:.4f}, p-val {_pval(self.QMp, True)}"]
        table = self.coefficients.copy()
        table["pval"] = [_pval(p) for p in table["pval"]]
        table[""] = [_stars(p) for p in self.pval]
        lines += ["", "Model Results:", "",
                  table.to_string(float_format=lambda x: f"{x:.4f}", index=not self.int_only)]
        if self.test == "knha" or self.test == "adhoc":
            lines += ["", f"Knapp-Hartung adjustment: s2w = {self.s2w:.4f}; tests and CIs use t({self.dof})"]
        if self.warnings:
            lines += ["", "Warnings:", *(f"  - {w}" for w in self.warnings)]
        return "\n".join(lines)

    @property
    def model_name(self) -> str:
        """metafor's name of the model: Random-, Mixed-, Fixed- or Equal-Effects Model."""
        if self.method in FIXED:
            return "Equal-Effects Model" if self.method == "EE" else "Fixed-Effects Model"
        return "Random-Effects Model" if self.int_only else "Mixed-Effects Model"

    def forest(self, **kwargs: Any):
        """Forest plot (see :func:`analysis.plots.meta.forest`)."""
        from .plots import meta as meta_plots

        return meta_plots.forest(self, **kwargs)

    def funnel(self, **kwargs: Any):
        """Funnel plot (see :func:`analysis.plots.meta.funnel`)."""
        from .plots import meta as meta_plots

        return meta_plots.funnel(self, **kwargs)


def _transformed(table: pd.DataFrame, transf: Callable[[Any], Any] | None, columns: tuple[str, ...]) -> pd.DataFrame:
    """Apply a back-transformation as metafor does: to estimates and limits, se set to NaN, limits re-sorted."""
    if transf is None:
        return table
    out = table.copy()
    for column in columns:
        if column in out:
            out[column] = transf(out[column].to_numpy())
    if "se" in out:
        out["se"] = np.nan
    for lower, upper in (("ci_lb", "ci_ub"), ("pi_lb", "pi_ub")):
        if lower in out:
            out[lower], out[upper] = np.fmin(out[lower], out[upper]), np.fmax(out[lower], out[upper])
    return out


def _pval(p: float, equals: bool = False) -> str:
    """metafor's p-value format: ``<.0001`` or four decimals (``= 0.0012`` for the Q tests)."""
    if np.isnan(p):
        return "NA"
    if p < 1e-4:
        return "< .0001" if equals else "<.0001"
    return f"= {p:.4f}" if equals else f"{p:.4f}"


def _stars(p: float) -> str:
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "." if p < 0.1 else ""


def _trim_and_fill(fit: RmaResult, side: str, estimator: str, maxiter: int
                   ) -> tuple[int, float, np.ndarray, np.ndarray]:
    """metafor's trim-and-fill iterations; returns k0, its SE and the filled outcomes and variances."""
    sign = -1.0 if side == "right" else 1.0
    order = np.argsort(sign * fit.yi.to_numpy(), kind="stable")
    yi, vi = sign * fit.yi.to_numpy()[order], fit.vi.to_numpy()[order]
    k = len(yi)
    k0, k0_previous, iterations = 0, -1, 0
    while k0 != k0_previous:
        k0_previous = k0
        iterations += 1
        if iterations > maxiter:
            raise RuntimeError(f"trim-and-fill did not converge in {maxiter} iterations")
        kept = slice(0, k - k0)
        beta = _fit(pd.Series(yi[kept]), pd.Series(vi[kept]), pd.DataFrame({"intrcpt": np.ones(k - k0)}),
                    fit.method, "z", fit.level, profile=False).beta.iloc[0]
        centred = yi - beta
        signed = np.sign(centred) * stats.rankdata(np.abs(centred), method="ordinal")
        if estimator == "R0":
            k0 = (k - np.max(-signed[signed < 0])) - 1
            se_k0 = math.sqrt(2 * max(0, k0) + 2)
        else:
            sr = signed[signed > 0].sum()  # Wilcoxon rank sum of the studies right of the estimate
            if estimator == "L0":
                k0 = (4 * sr - k * (k + 1)) / (2 * k - 1)
            else:
                k0 = k - 0.5 - math.sqrt(2 * k**2 - 4 * sr + 0.25)
            var_sr = (k * (k + 1) * (2 * k + 1) + 10 * k0**3 + 27 * k0**2 + 17 * k0 - 18 * k * k0**2
                      - 18 * k * k0 + 6 * k**2 * k0) / 24
            se_k0 = (4 * math.sqrt(var_sr) / (2 * k - 1) if estimator == "L0"
                     else 2 * math.sqrt(var_sr) / math.sqrt((k - 0.5) ** 2 - k0 * (2 * k - k0 - 1)))
        k0 = max(0, int(np.round(k0)))
        se_k0 = max(0.0, se_k0)
    return k0, se_k0, -sign * (centred - beta)[k - k0:], vi[k - k0:]


# --------------------------------------------------------------------------- rma


def rma(yi: Any, vi: Any, mods: Any = None, method: str = "REML", test: str = "z", level: float = 95,
        data: pd.DataFrame | None = None, slab: Any = None) -> RmaResult:
    """Fit the meta-analytic fixed-, random- or mixed-effects model (``metafor::rma.uni``).

    Parameters
    ----------
    yi, vi : array-like, Series or str
        Outcomes and their sampling variances, or column names of ``data``. Series
        (and a DataFrame or Series of ``mods``, a Series of ``slab``) are matched by
        index, to ``data``'s when it is given: same labels in another order are put in
        order; different labels are refused.
    mods : array-like, DataFrame or str, optional
        Moderators: an array or DataFrame (one column per moderator; an intercept is
        added, as metafor does) or a formula such as ``"~ ablat + year"`` evaluated
        in ``data`` (text columns become treatment-coded factors, and so do numeric
        ones written as ``factor(x)`` as in R or ``C(x)``; ``"~ 0 + x"`` drops the
        intercept).
    method : {"REML", "ML", "EB", "PM", "DL", "HE", "HS", "SJ", "FE", "EE"}
        Estimator of tau2; FE and EE fit the equal-effects model.
    test : {"z", "t", "knha", "adhoc"}
        Normal tests, t tests with k - p df, the Hartung-Knapp-Sidik-Jonkman
        adjustment, or that adjustment truncated at 1 (``"adhoc"``).
    level : float
        Confidence level in percent (95) or as a proportion (0.95).
    data : DataFrame, optional
        Table for column names and the formula; an :func:`escalc` result carries its
        measure along.
    slab : array-like or str, optional
        Study labels (default 1..k).

    Returns
    -------
    RmaResult

    Raises
    ------
    MetaInputError
        Unknown method or test; unknown columns; arguments of different length;
        non-numeric values; Series whose indexes hold different studies; zero or
        negative sampling variances (rows and values named); fewer studies than
        parameters; collinear moderators.

    Notes
    -----
    Studies with a missing outcome, variance or moderator are left out, as in
    metafor, and the result's ``warnings`` name them.
    """
    method, test = str(method).upper(), str(test).lower()
    if method not in METHODS:
        raise MetaInputError(f"unknown method {method!r}; choose one of {METHODS}")
    if test not in TESTS:
        raise MetaInputError(f"unknown test {test!r}; choose one of {TESTS}")
    _level(level)
    given = _aligned({"yi": yi, "vi": vi, "mods": mods, "slab": slab}, data)
    yi, vi, mods, slab = given["yi"], given["vi"], given["mods"], given["slab"]
    y, y_raw, _ = _numeric("yi", yi, data)
    v, v_raw, v_label = _numeric("vi", vi, data)
    labels = _unique(_series("slab", slab, data)[0].astype(str).to_numpy() if slab is not None
                     else np.arange(1, len(y) + 1).astype(str))
    _same_length({"yi": y, "vi": v, "slab": labels})
    X, design_info = _model_matrix(mods, data, len(y))
    missing = np.isnan(y) | np.isnan(v) | np.isnan(X).any(axis=1)
    bad_v = (v <= 0) & ~missing
    if bad_v.any():
        raise _problem(v_label, "sampling variances must be positive", v_raw, bad_v)
    messages = []
    if missing.any():
        messages.append(f"{missing.sum()} stud{'ies' if missing.sum() > 1 else 'y'} with missing values "
                        f"omitted: {', '.join(labels[missing][:SHOWN])}{' ...' if missing.sum() > SHOWN else ''}")
    keep = ~missing
    Xk = X.loc[keep]
    ratio = v[keep].max() / v[keep].min()
    if ratio >= 1 / EVTOL:
        messages.append(f"largest/smallest sampling variance = {ratio:.3g}: results may be unstable")
    measure = data.attrs.get("measure") if data is not None else None
    Xk.index = labels[keep]
    return _fit(pd.Series(y[keep], index=labels[keep]), pd.Series(v[keep], index=labels[keep]), Xk,
                method, test, level, profile=True, measure=measure, design_info=design_info, messages=messages)


def _unique(labels: np.ndarray) -> np.ndarray:
    """Study labels made unique as R's ``make.unique``: repeats get ``.1``, ``.2`` ..."""
    seen: dict[str, int] = {}
    out = []
    for label in labels:
        count = seen.get(label, 0)
        out.append(label if count == 0 else f"{label}.{count}")
        seen[label] = count + 1
    return np.array(out, dtype=object)


def _model_matrix(mods: Any, data: pd.DataFrame | None, k: int) -> tuple[pd.DataFrame, Any]:
    """Model matrix with the intercept named ``intrcpt`` first (NaN rows kept for omission)."""
    if mods is None:
        return pd.DataFrame({"intrcpt": np.ones(k)}), None
    if isinstance(mods, str):
        if data is None:
            raise MetaInputError(f"mods={mods!r} is a formula, but no data= was given")
        if not mods.strip().startswith("~"):
            raise MetaInputError(f"mods={mods!r}: a formula must start with '~', e.g. '~ ablat + year'")
        frame = data.reset_index(drop=True)
        try:
            matrix = patsy.dmatrix(mods, frame, NA_action="drop", return_type="dataframe",
                                   eval_env=patsy.EvalEnvironment.capture(0).with_outer_namespace(FORMULA_NAMES))
        except patsy.PatsyError as exc:
            raise MetaInputError(f"mods={mods!r}: {str(exc).splitlines()[0]}") from None
        design_info = matrix.design_info
        return matrix.reindex(frame.index).rename(columns={"Intercept": "intrcpt"}), design_info
    if isinstance(mods, pd.DataFrame):
        frame = mods.reset_index(drop=True)
    else:
        array = np.asarray(mods)
        if array.ndim == 1:
            frame = pd.DataFrame({"mods": array})
        elif array.ndim == 2:
            frame = pd.DataFrame(array, columns=[f"mods{j + 1}" for j in range(array.shape[1])])
        else:
            raise MetaInputError(f"mods must be one- or two-dimensional, got shape {array.shape}")
    if len(frame) != k:
        raise MetaInputError(f"mods has {len(frame)} rows but there are {k} outcomes")
    numeric = frame.apply(pd.to_numeric, errors="coerce")
    for column in frame.columns:
        bad = (numeric[column].isna() & frame[column].notna()).to_numpy()
        if bad.any():
            raise _problem(f"mods (column {column!r})", "must be numeric (use a formula for factors)",
                           frame[column], bad)
    return pd.concat([pd.DataFrame({"intrcpt": np.ones(k)}), numeric.astype(float)], axis=1), None


def _check_rank(X: pd.DataFrame) -> None:
    """Raise naming the moderators that are linear combinations of the others."""
    values = X.to_numpy()
    eigen = np.linalg.eigvalsh(values.T @ values)
    if np.all(eigen > EVTOL):
        return
    kept: list[int] = []
    for j in range(values.shape[1]):  # like lm(): a column is redundant if the earlier ones span it
        if np.linalg.matrix_rank(values[:, kept + [j]]) > len(kept):
            kept.append(j)
    redundant = [X.columns[j] for j in range(values.shape[1]) if j not in kept] or list(X.columns)
    raise MetaInputError(f"the model matrix is not of full rank: {redundant} "
                         "are (near) linear combinations of the other columns")


def _fit(y: pd.Series, v: pd.Series, X: pd.DataFrame, method: str, test: str, level: float, *, profile: bool,
         measure: str | None = None, design_info: Any = None, messages: list[str] | None = None) -> RmaResult:
    """The estimation behind :func:`rma`; ``profile`` adds the Q-profile limits and R2."""
    messages = list(messages or [])
    yv, vv, Xv = y.to_numpy(float), v.to_numpy(float), X.to_numpy(float)
    k, p = Xv.shape
    needed = p + (0 if method in FIXED else 1)
    if k < needed:
        raise MetaInputError(f"{k} stud{'y' if k == 1 else 'ies'} cannot estimate {p} coefficient{'s' if p > 1 else ''}"
                             + ("" if method in FIXED else " and tau2") + f": at least {needed} are needed")
    _check_rank(X)
    alpha = _level(level)
    tau2, se_tau2 = (0.0, np.nan) if method in FIXED else _tau2(yv, vv, Xv, method, messages)
    w = 1 / (vv + tau2)
    inv = _proj(Xv, w)[0]
    beta = inv @ (Xv.T @ (w * yv))
    s2w = 1.0
    if test in ("knha", "adhoc"):
        rss = np.sum(w * (yv - Xv @ beta) ** 2)
        s2w = rss / (k - p) if rss > np.finfo(float).eps else 0.0
        if test == "adhoc":
            s2w = max(1.0, s2w)
        if method in FIXED:
            messages.append("the Knapp-Hartung adjustment is not meant for equal-effects models")
    vb = s2w * inv
    se = np.sqrt(np.diag(vb))
    zval = beta / se
    has_intercept = "intrcpt" in X.columns
    btt = np.arange(1, p) if p > 1 and has_intercept else np.arange(p)
    qm = float(beta[btt] @ np.linalg.solve(vb[np.ix_(btt, btt)], beta[btt]))
    dof = k - p
    if test in T_TESTS:
        qm /= len(btt)
        qmdf: tuple[int, int | None] = (len(btt), dof)
        qmp = float(stats.f.sf(qm, len(btt), dof)) if dof > 0 else np.nan
        pval = 2 * stats.t.sf(np.abs(zval), dof) if dof > 0 else np.full(p, np.nan)
        crit = stats.t.isf(alpha / 2, dof) if dof > 0 else np.nan
    else:
        qmdf = (len(btt), None)
        qmp = float(stats.chi2.sf(qm, len(btt)))
        pval = 2 * stats.norm.sf(np.abs(zval))
        crit = stats.norm.isf(alpha / 2)
    qe, qep, i2, h2, vt = _heterogeneity(yv, vv, Xv, tau2, method)
    tau2_ci = i2_ci = h2_ci = None
    r2 = None
    if profile and method not in FIXED:
        tau2_ci = _qprofile(yv, vv, Xv, tau2, alpha, messages)
        i2_ci = tuple(100 * t / (vt + t) for t in tau2_ci)
        h2_ci = tuple(t / vt + 1 for t in tau2_ci)
    if profile and p > 1 and has_intercept:
        r2 = _fe_r2(yv, vv, Xv) if method in FIXED else _pseudo_r2(y, v, method, test, level, tau2)
    if method not in FIXED and tau2 == 0:
        messages.append("tau2 was estimated at its lower bound 0 (no detectable heterogeneity)")
    names = list(X.columns)

    def series(values: Any) -> pd.Series:
        return pd.Series(np.asarray(values, float), index=names)

    return RmaResult(
        beta=series(beta), se=series(se), zval=series(zval), pval=series(pval),
        ci_lb=series(beta - crit * se), ci_ub=series(beta + crit * se),
        vb=pd.DataFrame(vb, index=names, columns=names), tau2=float(tau2), se_tau2=float(se_tau2),
        tau2_ci=tau2_ci, I2=i2, H2=h2, I2_ci=i2_ci, H2_ci=h2_ci, R2=r2, QE=qe, QEp=qep, QM=qm, QMp=qmp,
        QMdf=qmdf, k=k, p=p, dof=dof, s2w=float(s2w), vt=vt, method=method, test=test, level=level,
        yi=y, vi=v, X=X, measure=measure, warnings=messages, design_info=design_info,
    )


def _heterogeneity(y: np.ndarray, v: np.ndarray, X: np.ndarray, tau2: float, method: str
                   ) -> tuple[float, float, float, float, float]:
    """QE, its p-value, I2, H2 and the typical within-study variance (metafor's definitions)."""
    k, p = X.shape
    if k <= p:
        return 0.0, 1.0, 0.0, 1.0, 0.0
    P = _proj(X, 1 / v)[1]
    ymc = y - y.mean()
    qe = max(0.0, float(ymc @ P @ ymc))
    vt = (k - p) / np.trace(P)
    if method in FIXED:
        i2, h2 = (max(0.0, 100 * (qe - (k - p)) / qe) if qe > 0 else 0.0), qe / (k - p)
    else:
        i2, h2 = 100 * tau2 / (vt + tau2), tau2 / vt + 1
    return qe, float(stats.chi2.sf(qe, k - p)), float(i2), float(h2), float(vt)


def _fe_r2(y: np.ndarray, v: np.ndarray, X: np.ndarray) -> float:
    """metafor's R2 of equal-effects models: adjusted R2 (percent) of the weighted regression, weights 1/v."""
    k, p = X.shape
    if np.var(y) == 0:
        return 0.0
    w = 1 / v
    fitted = X @ (_proj(X, w)[0] @ (X.T @ (w * y)))
    rss = np.sum(w * (y - fitted) ** 2)
    mss = np.sum(w * (fitted - np.sum(w * fitted) / w.sum()) ** 2)
    return max(0.0, 100 * (1 - (1 - mss / (mss + rss)) * (k - 1) / (k - p)))


def _pseudo_r2(y: pd.Series, v: pd.Series, method: str, test: str, level: float, tau2: float) -> float:
    """Percent of tau2 accounted for: ``(tau2_RE - tau2) / tau2_RE`` against the intercept-only model."""
    null = _fit(y, v, pd.DataFrame({"intrcpt": 1.0}, index=y.index), method, test, level, profile=False)
    return 0.0 if null.tau2 == 0 else max(0.0, 100 * (null.tau2 - tau2) / null.tau2)


# --------------------------------------------------------------------------- teaching helpers


def back_transform(measure: str | None) -> tuple[Callable[[Any], Any] | None, str]:
    """The back-transformation of a measure to its natural scale and that scale's name.

    ``"ZCOR"`` -> (``np.tanh``, "correlation"), ``"RR"``/``"OR"`` -> (``np.exp``,
    "risk ratio"/"odds ratio"); other measures -> (None, the measure's name).
    """
    return BACK_TRANSFORMS.get(str(measure).upper(), (None, str(measure)))


def against_published(rows: Mapping[str, tuple[float, str]]) -> pd.DataFrame:
    """Our numbers beside published ones, each compared to the digits the publication shows.

    Parameters
    ----------
    rows : mapping
        Quantity -> (our value, the published value as printed, e.g. ``"0.4894"``).

    Returns
    -------
    DataFrame
        ``ours``, ``published``, ``ours_rounded`` (to the published decimals) and
        ``matches``: whether our value rounds to the published one.
    """
    out = []
    for name, (ours, printed) in rows.items():
        decimals = len(printed.split(".")[1]) if "." in printed else 0
        published = float(printed)
        matches = abs(ours - published) <= 0.5 * 10**-decimals * (1 + 1e-9)
        out.append((name, ours, printed, f"{ours:.{decimals}f}", bool(matches)))
    return pd.DataFrame(out, columns=["quantity", "ours", "published", "ours_rounded", "matches"]).set_index("quantity")
