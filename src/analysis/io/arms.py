"""What an arm is: the one definition every loader and model function uses.

Trial exports code arms as text (``"CBT"``, ``"control"``), numbers (0/1, 1/2),
booleans or pandas categoricals. :func:`arm_factor` turns any of them into a
categorical whose first level is the reference arm:

1. a control-like level (:data:`CONTROL_NAMES`: control, waitlist, TAU, usual care,
   placebo, any case), else
2. the first level of the mapping's ``values: {arm: ...}`` order (or of a
   categorical's own categories), else
3. the lowest code (numbers compared as numbers, text alphabetically).

Numbers become their canonical text (``1``, ``1.0`` and ``True`` all read ``"1"``).
Spellings that differ only in case or surrounding spaces (``"Control "`` and
``"control"``) are refused with both spellings named, because silently merging or
splitting them changes the analysis; recode them in the mapping's ``values``
section to say which is meant. A single arm is allowed: models then have no arm
effects.
"""

from __future__ import annotations

from typing import Sequence

import pandas as pd

from .errors import DataValidationError, Problem, _problem
from .read import _value_key

CONTROL_NAMES = ("control", "controls", "waitlist", "wait-list", "wait list", "tau",
                 "treatment as usual", "usual care", "placebo", "care as usual", "cau")


def arm_factor(values: pd.Series, *, order: Sequence | None = None, reference: str | None = None,
               column: str = "arm", by_index: bool = False) -> pd.Categorical:
    """Arms as a categorical with the reference level first.

    Parameters
    ----------
    values : pandas.Series
        Arm of each row: text, numeric or boolean codes, pandas nullable or
        categorical dtypes. Missing values stay missing.
    order : sequence, optional
        Preferred level order (e.g. the targets of the mapping's ``values: {arm:
        ...}`` section); levels not listed follow in their natural order. A
        categorical's own categories are used when ``order`` is not given.
    reference : str, optional
        The reference level, overriding the rules of the module docstring.
    column : str, default "arm"
        Column name used in error messages.
    by_index : bool, default False
        Errors name rows by index label (a DataFrame given to a model) instead of
        spreadsheet row numbers (a file).

    Returns
    -------
    pandas.Categorical
        Unused levels dropped; ``categories[0]`` is the reference.

    Raises
    ------
    DataValidationError
        Two spellings of one arm differ only in case or spaces, or ``reference``
        is not a level of the data.
    """
    values = pd.Series(values)
    if not by_index:
        values = values.reset_index(drop=True)
    if order is None and isinstance(values.dtype, pd.CategoricalDtype):
        order = [_value_key(c) for c in values.cat.categories]
    labels = values.astype(object).map(_value_key, na_action="ignore")
    present = list(pd.unique(labels.dropna()))
    _refuse_variants(values, column, by_index)
    levels = _ordered(present, [_value_key(o) for o in order or ()])
    if reference is not None:
        if _value_key(reference) not in levels:
            raise DataValidationError([Problem(column, f"reference arm {reference!r} is not in the data "
                                                       f"(arms are {levels})")])
        levels.remove(_value_key(reference))
        levels.insert(0, _value_key(reference))
    return pd.Categorical(labels, categories=levels)


def reference_arm(arm: pd.Series | pd.Categorical) -> str | None:
    """The reference level of an arm categorical made by :func:`arm_factor` (None if no arm)."""
    categories = pd.Categorical(arm).categories
    return str(categories[0]) if len(categories) else None


def describe_arms(arm: pd.Series | pd.Categorical) -> str:
    """One line naming the arms and the reference, for results and reports.

    Examples
    --------
    >>> describe_arms(arm_factor(pd.Series(["cbt", "control", "mindfulness"])))
    'arms: control (reference), cbt, mindfulness'
    """
    levels = [str(c) for c in pd.Categorical(arm).categories]
    if len(levels) == 1:
        return f"single arm ({levels[0]}): no arm effects"
    return "arms: " + ", ".join([f"{levels[0]} (reference)", *levels[1:]])


def _refuse_variants(values: pd.Series, column: str, by_index: bool) -> None:
    """Refuse arms spelled two ways (case or spaces) with both spellings and their rows."""
    raw = values.astype(object).map(lambda v: v if isinstance(v, str) else None, na_action="ignore")
    spellings = pd.unique(raw.dropna())
    folded: dict[str, list[str]] = {}
    for spelling in spellings:
        folded.setdefault(spelling.strip().casefold(), []).append(spelling)
    problems = []
    for variants in (v for v in folded.values() if len(v) > 1):
        target = min(variants, key=lambda v: (v != v.strip(), v != v.strip().lower(), v)).strip()
        recode = ", ".join(f"{v!r}: {target!r}" for v in variants if v != target)
        listed = " and ".join(repr(v) for v in variants)
        problems.append(_problem(
            column, f"one arm is spelled {len(variants)} ways ({listed}); say which is meant in the mapping's "
                    f"values section, e.g. values: {{{column}: {{{recode}}}}}",
            values.astype(object), raw.isin(variants).to_numpy(), by_index=by_index))
    if problems:
        raise DataValidationError(problems)


def _ordered(present: list[str], order: list[str]) -> list[str]:
    """Levels in reference-first order (see the module docstring)."""
    listed = [level for level in dict.fromkeys(order) if level in present]
    rest = sorted((level for level in present if level not in listed), key=_natural)
    levels = listed + rest
    controls = [level for level in levels if level.casefold() in CONTROL_NAMES]
    return controls[:1] + [level for level in levels if level not in controls[:1]]


def _natural(level: str):
    """Sort key: numbers as numbers before text."""
    try:
        return (0, float(level), "")
    except ValueError:
        return (1, 0.0, level)
