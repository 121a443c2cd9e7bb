"""The parameter table of a fit, as lavaan's ``parameterEstimates()``.

Free and fixed rows of the model's table, then the defined parameters (``:=``) with
delta-method standard errors; Wald z, p and intervals. With bootstrap standard
errors (:mod:`analysis.sem.bootstrap`) the defined parameters' standard errors and all
intervals come from the replicates (percentile intervals), as lavaan's.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from . import estimation
from .bootstrap import BootstrapRecord, percentile_interval
from .result import PARAMETER_COLUMNS, wald
from .standardized import evaluate, std_all

__all__ = ["label_values", "parameter_estimates"]


def label_values(fitted, theta: np.ndarray) -> dict:
    """Value of every labelled parameter at ``theta`` (free or fixed)."""
    values = {}
    for label, free, value in fitted.table[["label", "free", "value"]].itertuples(index=False):
        if label and label not in values:
            values[label] = theta[free] if free >= 0 else value
    return values


def parameter_estimates(fitted, conf_level: float, boot: BootstrapRecord | None = None) -> pd.DataFrame:
    """parameterEstimates(): every row of the table, then the defined parameters.

    Parameters
    ----------
    fitted : analysis.sem.fitting.Fitted
    conf_level : float
        Level of the intervals.
    boot : BootstrapRecord, optional
        Replicates of a bootstrap (``fitted.vcov`` is then their covariance): the
        defined parameters' SEs and every interval come from them.
    """
    table = fitted.table
    free = table.free.to_numpy()
    estimate = np.where(free >= 0, fitted.theta[np.maximum(free, 0)], table.value.to_numpy(float))
    se = np.where(free >= 0, np.sqrt(np.clip(np.diag(fitted.vcov), 0, None))[np.maximum(free, 0)], 0.0)
    frame = table[["lhs", "op", "rhs", "group", "label"]].copy()
    frame["estimate"], frame["se"] = estimate, se
    std = std_all(table, estimate, fitted.problem.structures, fitted.theta)
    if fitted.parsed.definitions:
        frame = pd.concat([frame, _defined(fitted, std)], ignore_index=True)
        std = np.concatenate([std, _defined_std(fitted, table, std)])
    if boot is not None and fitted.parsed.definitions:
        frame.loc[frame.op == ":=", "se"] = _defined_values(fitted, boot.estimates).std(axis=0, ddof=1)
    for column, values in wald(frame.estimate.to_numpy(), frame.se.to_numpy(), conf_level).items():
        frame[column] = values
    if boot is not None:
        frame["ci_low"], frame["ci_high"] = _percentile(fitted, frame, boot, conf_level)
    frame["std_all"] = std
    return frame[PARAMETER_COLUMNS].reset_index(drop=True)


def _defined(fitted, std: np.ndarray) -> pd.DataFrame:
    """Defined parameters with delta-method standard errors (lavaan's ``:=``)."""
    definitions = fitted.parsed.definitions

    def values(theta):
        return _defined_values(fitted, theta[None])[0]

    estimate = values(fitted.theta)
    jac = estimation.jacobian(values, fitted.theta)
    se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", jac, fitted.vcov, jac), 0, None))
    return pd.DataFrame({"lhs": [d.name for d in definitions], "op": ":=",
                         "rhs": [d.expression.replace("**", "^").replace(" ", "") for d in definitions], "group": 0,
                         "label": [d.name for d in definitions], "estimate": estimate, "se": se})


def _defined_std(fitted, table: pd.DataFrame, std: np.ndarray) -> np.ndarray:
    labels = {}
    for label, value in zip(table.label, std):
        if label and label not in labels:
            labels[label] = value
    return np.array([evaluate(d, labels) for d in fitted.parsed.definitions])


def _defined_values(fitted, thetas: np.ndarray) -> np.ndarray:
    """The defined parameters at each row of ``thetas`` (rows x definitions)."""
    out = np.empty((len(thetas), len(fitted.parsed.definitions)))
    for i, theta in enumerate(thetas):
        labels = label_values(fitted, theta)
        out[i] = [evaluate(d, labels) for d in fitted.parsed.definitions]
    return out


def _percentile(fitted, frame: pd.DataFrame, boot: BootstrapRecord, conf_level: float):
    """Percentile intervals: free rows from their parameter's replicates, defined rows from the
    definitions at each replicate; fixed rows keep their value at both ends (as lavaan)."""
    low, high = frame.estimate.to_numpy(float).copy(), frame.estimate.to_numpy(float).copy()
    free_low, free_high = percentile_interval(boot.estimates, conf_level)
    free = fitted.table.free.to_numpy()
    rows = np.flatnonzero(free >= 0)
    low[rows], high[rows] = free_low[free[rows]], free_high[free[rows]]
    if fitted.parsed.definitions:
        defined = np.flatnonzero(frame.op.to_numpy() == ":=")
        low[defined], high[defined] = percentile_interval(_defined_values(fitted, boot.estimates), conf_level)
    return low, high
