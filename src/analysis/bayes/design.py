"""Designs: a model's data, priors and structure, the checks of user input, and the model registry.

A model module builds a :class:`Design` from the user's table (with the input
checks here, which refuse bad input naming columns, rows and values) and registers
the function that builds its PyMC model with :func:`registered`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .. import io


class BayesInputError(ValueError):
    """An argument of a Bayesian model is invalid (the message names it and its value)."""


class SamplerUnavailableError(ImportError, ValueError):
    """The requested sampler needs packages that are not installed (the message names them)."""


#: PyMC model builders by model name (:attr:`Design.model`), filled by :func:`registered`.
BUILDERS: dict[str, Callable] = {}


def registered(model: str) -> Callable[[Callable], Callable]:
    """Decorator registering a function ``design -> pm.Model`` as the builder of ``model``."""
    def register(builder: Callable) -> Callable:
        BUILDERS[model] = builder
        return builder
    return register


@dataclass(frozen=True, eq=False)
class Design:
    """A model's data, priors and structure, ready to build and sample.

    Attributes
    ----------
    model : str
        Model name (``"bivariate_growth"``, ``"adherence"``, ``"meta_analysis"``,
        ``"mediation"``).
    data : mapping of str to numpy.ndarray
        Arrays fed to the model as ``pm.Data`` (observations, indices, scales).
    priors : mapping of str to float
        Prior hyperparameters (also ``pm.Data``, named ``prior_<name>``). Names ending
        in ``_eta`` are concentrations (larger is narrower); the others are scales.
    coords : mapping of str to list
        Coordinates of the parameter dimensions.
    structure : tuple
        Options that change the model graph; with the coordinate sizes it forms
        :attr:`key`, under which the compiled model is cached.
    reported : tuple of str
        Variables checked by :func:`diagnose` and shown in summaries.
    observed : mapping of str to pandas.DataFrame
        One table per observed variable, a row per observation: grouping columns
        (e.g. ``arm``, ``time``) and ``observed`` (the value).
    frame : pandas.DataFrame
        The rows of the input used, with the columns the model used.
    description : str
        One line saying what was fitted to what.
    notes : tuple of str
        What was done to the data (rows left out and why).
    """

    model: str
    data: Mapping[str, np.ndarray]
    priors: Mapping[str, float]
    coords: Mapping[str, list]
    structure: tuple
    reported: tuple[str, ...]
    observed: Mapping[str, pd.DataFrame] = field(repr=False)
    frame: pd.DataFrame = field(repr=False)
    description: str = ""
    notes: tuple[str, ...] = ()

    @property
    def key(self) -> tuple:
        """Cache key: model, structure and the size of every parameter dimension."""
        sizes = tuple(sorted((dim, len(values)) for dim, values in self.coords.items()))
        return (self.model, self.structure, sizes)

    def with_priors(self, **priors: float) -> Design:
        """A copy with some prior hyperparameters changed (same structure, same compiled model)."""
        return dataclasses.replace(self, priors={**self.priors, **_check_priors(priors, self.priors)})


def _check_priors(priors: Mapping[str, float] | None, defaults: Mapping[str, float]) -> dict:
    priors = dict(priors or {})
    unknown = sorted(set(priors) - set(defaults))
    if unknown:
        raise BayesInputError(f"priors: unknown name(s) {unknown}; allowed: {sorted(defaults)}")
    bad = {k: v for k, v in priors.items() if not _positive(v)}
    if bad:
        raise BayesInputError(f"priors: values must be positive finite numbers, got {bad}")
    return {k: float(v) for k, v in priors.items()}


def _positive(value) -> bool:
    return (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
            and bool(np.isfinite(value)) and value > 0)


def _values(design: Design, model=None) -> dict[str, np.ndarray]:
    """The ``pm.Data`` values of a design: data arrays and ``prior_<name>`` scalars.

    With ``model``, only those the model registered (a structure without arms or
    covariates, for example, never uses ``prior_effect_sd``).
    """
    values = {name: np.asarray(value) for name, value in design.data.items()}
    values.update({f"prior_{name}": np.asarray(float(value)) for name, value in design.priors.items()})
    if model is not None:
        registered = {node.name for node in model.data_vars}
        values = {name: value for name, value in values.items() if name in registered}
    return values


class _Nodes(dict):
    """``pm.Data`` nodes of a design, each registered on first use inside the model context.

    Data are keyed by name, priors as ``prior_<name>``. A model then holds only the
    data and priors its structure uses, and refits pass only those (see :func:`_values`).
    """

    def __init__(self, design: Design):
        super().__init__()
        self._values = _values(design)

    def __missing__(self, name: str):
        import pymc as pm

        node = self[name] = pm.Data(name, self._values[name])
        return node


def _whole(name: str, value, low: int) -> int:
    """``value`` as an int; anything but a whole number >= ``low`` raises, naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise BayesInputError(f"{name} must be a whole number >= {low}, got {value!r}")
    return int(value)


def _observed(data: pd.DataFrame, column: str, who: str) -> np.ndarray:
    """A column that may be missing in some rows, as floats in row order (NaN where missing).

    :func:`analysis.io.model_frame` checks and converts it (non-numbers are refused,
    naming rows and values).
    """
    return io.model_frame(data, partial=[column], who=who).data[column].to_numpy(float)


def _covariate_columns(frame: pd.DataFrame, covariates: Sequence[str]) -> pd.DataFrame:
    """Numeric covariates as they are, others as 0/1 indicators (first level dropped).

    A text covariate with a single level keeps its one indicator, so that
    :func:`_identified` refuses it as constant instead of it vanishing unnoticed.
    """
    parts = []
    for name in covariates:
        column = frame[name]
        if pd.api.types.is_numeric_dtype(column) and not pd.api.types.is_bool_dtype(column):
            parts.append(column.astype(float).rename(name))
            continue
        if isinstance(column.dtype, pd.CategoricalDtype):
            column = column.cat.remove_unused_categories()
        indicators = pd.get_dummies(column, prefix=name, prefix_sep="=", dtype=float)
        parts.append(indicators.iloc[:, 1:] if indicators.shape[1] > 1 else indicators)
    return pd.concat(parts, axis=1) if parts else pd.DataFrame(index=frame.index)


def _identified(columns: pd.DataFrame, who: str) -> None:
    """Refuse columns that are constant or collinear beside an intercept, naming them.

    See :func:`analysis.io.check_design`.
    """
    matrix = np.column_stack([np.ones(len(columns)), columns.to_numpy(float)])
    io.check_design(matrix, ["Intercept", *map(str, columns.columns)], who=who)


def _varying(values, column: str, who: str) -> None:
    """Refuse an outcome with one value in every row used: there is nothing to model."""
    values = np.asarray(values, dtype=float)
    if not values.std() > 0:
        raise io.DataValidationError([io.Problem(column, f"{who}: the outcome is constant "
                                                         f"({io._plain(values[0])!r}) in every row used")])


def _standardised(matrix: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Columns centred and scaled by their SD (checked to vary beforehand), and those SDs."""
    sd = matrix.std(ddof=0)
    return ((matrix - matrix.mean()) / sd).to_numpy(float), sd.to_numpy(float)


def _covariate_list(covariates) -> list[str]:
    if covariates is None:
        return []
    if isinstance(covariates, str):
        return [covariates]
    return list(covariates)
