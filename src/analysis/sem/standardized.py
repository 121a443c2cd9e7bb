"""lavaan's completely standardized solution (``std.all``).

Every parameter is rescaled by the model-implied total standard deviations of the
variables it links (observed and latent alike): a loading or regression by
SD(predictor) / SD(outcome), a (residual) variance by the total variance, an
intercept or mean by its variable's SD. A (residual) covariance becomes the
correlation of the two residuals: it is divided by the square roots of the two
(residual) variance parameters, as lavaan does. A defined parameter
is its expression evaluated at the standardized values of its labels.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from .syntax import Definition

__all__ = ["evaluate", "std_all"]

_FUNCTIONS = {"sqrt": np.sqrt, "exp": np.exp, "log": np.log, "abs": np.abs}


def evaluate(definition: Definition, values: dict) -> float:
    """Value of a defined parameter given label values."""
    return float(eval(compile(definition.expression, "<defined>", "eval"),
                      {"__builtins__": {}}, {**_FUNCTIONS, **values}))


def std_all(table: pd.DataFrame, estimates: np.ndarray, structures: list, theta: np.ndarray) -> np.ndarray:
    """std.all of each row of the parameter table (estimates given per row)."""
    out = np.full(len(table), np.nan)
    for g, structure in enumerate(structures, start=1):
        _, cov, _ = structure.implied(theta)
        residual = dict(zip(structure.names.all, np.diag(structure.matrices(theta)[1])))
        with np.errstate(invalid="ignore"):
            sd = dict(zip(structure.names.all, np.sqrt(np.diag(cov))))
        rows = np.flatnonzero(table.group.to_numpy() == g)
        for i in rows:
            lhs, op, rhs = table.lhs.iat[i], table.op.iat[i], table.rhs.iat[i]
            est = estimates[i]
            with np.errstate(divide="ignore", invalid="ignore"):
                if op == "=~":
                    out[i] = est * sd[lhs] / sd[rhs]
                elif op == "~":
                    out[i] = est * sd[rhs] / sd[lhs]
                elif op == "~~" and lhs == rhs:
                    out[i] = est / sd[lhs] ** 2
                elif op == "~~":
                    out[i] = est / np.sqrt(residual[lhs] * residual[rhs])
                else:
                    out[i] = est / sd[lhs]
    return out
