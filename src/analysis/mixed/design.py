"""Model matrices of the complete rows: y, X (fixed) and Z (random), and lme4's checks that they
identify the model.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy

from .. import io
from .formula import _formula_variables


def _require_columns(data: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(f"column(s) not in data: {', '.join(map(repr, missing))}")


def _model_frame(data: pd.DataFrame, formula: str, re_formula: str, group: str) -> io.ModelFrame:
    """The complete rows of the columns a model uses; the response must be numeric."""
    outcome = _formula_variables(formula.split("~")[0] + "~ 1")
    used = _formula_variables(formula) + _formula_variables(re_formula)
    return io.model_frame(data, numeric=outcome, other=[c for c in used if c not in outcome],
                          group=group, who="fit_lmm")


def _check_random(design: _Design, re_formula: str, group: str) -> None:
    """lme4's checks of the random effects: more rows than random effects, slopes on varying columns."""
    n, q, groups = len(design.y), len(design.re_names), len(design.groups)
    problems = []
    if n <= q * groups:
        problems.append(io.Problem(
            f"({re_formula[1:]} | {group})", f"number of observations ({n}) <= number of random effects "
            f"({q * groups}): the random-effects parameters and the residual variance are not identified "
            "(e.g. a random slope with two waves per participant); use random intercepts (re_formula='~1')"))
    problems += [io.Problem(name, f"random slope on a column that does not vary ({design.Z[0, j]:g} in "
                                  "every complete row): not identified")
                 for j, name in enumerate(design.re_names) if name != "Intercept" and np.ptp(design.Z[:, j]) == 0]
    if problems:
        raise io.DataValidationError(problems)


@dataclass(frozen=True)
class _Design:
    """Model matrices in data-row order and each row's group (index into ``groups``)."""

    y: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    codes: np.ndarray
    groups: pd.Index
    exog_names: list[str]
    re_names: list[str]
    design_info: patsy.DesignInfo


def _design(data: pd.DataFrame, formula: str, group: str, re_formula: str) -> _Design:
    """Build y, X (fixed) and Z (random) with patsy; groups sorted as statsmodels sorts them."""
    y, X = patsy.dmatrices(formula, data, NA_action="raise", return_type="matrix")
    Z = patsy.dmatrix(re_formula, data, NA_action="raise", return_type="matrix")
    codes, labels = pd.factorize(data[group], sort=True)
    return _Design(y=np.asarray(y, dtype=float)[:, 0], X=np.asarray(X, dtype=float),
                   Z=np.asarray(Z, dtype=float), codes=codes,
                   groups=pd.Index(labels, name=group), exog_names=X.design_info.column_names,
                   re_names=Z.design_info.column_names, design_info=X.design_info)
