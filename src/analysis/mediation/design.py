"""Input checks, treatment coding and the design matrices of the mediator and outcome models.

Both models are built from blocks: the intercept, one indicator per arm other than
control, the moderator ``W`` and ``T x W`` (moderated mediation), the covariates;
the outcome model adds the mediator ``M``, ``T x M`` (``interaction``) and ``M x W``.
:meth:`_Design.mediator_rows` and :meth:`_Design.outcome_rows` give the same
matrices with the treatment (and mediator, moderator) set to counterfactual values,
as R's ``mediate`` predicts from ``model.matrix`` of edited data.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from .. import io
from .models import FAMILIES
from .result import CI_METHODS

METHODS = ("bootstrap", "quasi-bayes")


def _check_options(n_boot: int, ci: str, conf_level: float) -> None:
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 10:
        raise ValueError(f"n_boot must be an integer of at least 10, got {n_boot!r}")
    if ci not in CI_METHODS:
        raise ValueError(f"ci must be one of {CI_METHODS}, got {ci!r}")
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be in (0, 1), got {conf_level!r}")


def _check_models(mediator_model: str, outcome_model: str, method: str) -> None:
    for name, value in (("mediator_model", mediator_model), ("outcome_model", outcome_model)):
        if value not in FAMILIES:
            raise ValueError(f"{name} must be one of {FAMILIES}, got {value!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {METHODS}, got {method!r}")


# --- treatment coding ------------------------------------------------------------------

@dataclass(frozen=True)
class _Coding:
    """The two arms compared; every other arm enters the models as a further indicator."""

    column: str
    control: str
    treated: str

    @property
    def patsy_term(self) -> str:
        return f"C({self.column}, Treatment({self.control!r}))"

    @property
    def patsy_name(self) -> str:
        return f"{self.patsy_term}[T.{self.treated}]"

    def others(self, arms: pd.Series) -> list[str]:
        """The arms of a prepared (categorical) treatment column other than control, in order."""
        return [lvl for lvl in arms.cat.categories if lvl != self.control]

    def describe(self, arms: pd.Series) -> str:
        """The arms line of a result, control as the reference."""
        return io.describe_arms(pd.Categorical([], categories=[self.control, *self.others(arms)]))


def _numeric_codes(values: pd.Series) -> bool:
    """Whether a treatment column holds numeric or boolean codes (not text or categories)."""
    return pd.api.types.is_numeric_dtype(values.dtype) and not isinstance(values.dtype, pd.CategoricalDtype)


def _coding(levels: list[str], numeric: bool, column: str, control, treated) -> _Coding:
    """The arms compared: ``control`` (default the reference arm, ``levels[0]``) and ``treated``.

    ``levels`` are the arms as :func:`analysis.io.arm_factor` orders them; a numeric
    treatment with more than two codes needs both arms named (never a linear dose).
    """
    _require_two_arms(levels, column)
    if numeric and len(levels) > 2 and (control is None or treated is None):
        raise ValueError(f"treatment {column!r} has {len(levels)} numeric codes {levels}: they are read as arms, "
                         "not as a linear dose; name the two arms compared with both control= and treated= "
                         "(control_value= and treat_value=; the other arms enter the models as further "
                         "indicators), or use mediate_arms for one analysis per active arm")
    control = levels[0] if control is None else _arm(control, levels, column, "control")
    others = [lvl for lvl in levels if lvl != control]
    if treated is None:
        if len(others) > 1:
            raise ValueError(f"treatment {column!r} has {len(levels)} levels {levels}: name the treated level "
                             "with treated= (or use mediate_arms for one analysis per active arm)")
        return _Coding(column, control, others[0])
    treated = _arm(treated, levels, column, "treated")
    if treated == control:
        raise ValueError(f"treated={treated!r} is also the control arm of {column!r}; name another arm: {others}")
    return _Coding(column, control, treated)


def _require_two_arms(levels: list[str], column: str) -> None:
    """Refuse a treatment with a single arm (nothing to compare)."""
    if len(levels) < 2:
        raise ValueError(f"treatment {column!r} has a single arm {levels}: mediation compares two arms")


def _arm(value, levels: list[str], column: str, argument: str) -> str:
    """A ``control``/``treated`` argument as the arm label :func:`analysis.io.arm_factor` gives it."""
    label = str(io.arm_factor(pd.Series([value]), column=argument).categories[0])
    if label not in levels:
        raise ValueError(f"{argument}={value!r} is not a value of {column!r}; values: {levels}")
    return label


def _require_arms(coding: _Coding, arms: pd.Series, data: pd.DataFrame, columns: list[str], who: str) -> None:
    """Refuse when the control or treated arm has no row with all of ``columns`` observed.

    The problem names the columns missing in every row of that arm (e.g. an
    outcome never observed under treatment).
    """
    complete = data[columns].notna().all(axis=1).to_numpy()
    problems = []
    for role, level in (("control", coding.control), ("treated", coding.treated)):
        mine = (arms == level).to_numpy()
        if (mine & complete).any():
            continue
        rows = data.loc[mine, columns]
        empty = [c for c in columns if rows[c].isna().all()]
        lacking = (f"{', '.join(empty)} missing in all its {len(rows)} rows" if empty
                   else f"none of its {len(rows)} rows has {', '.join(columns)} all observed")
        problems.append(io.Problem(coding.column, f"{who}: the {role} arm {level!r} has no complete rows "
                                                  f"({lacking}), so it cannot be compared"))
    if problems:
        raise io.DataValidationError(problems)


# --- design ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Design:
    """The rows and columns of both models, observed or with counterfactual values."""

    coding: _Coding
    mediator: str
    outcome: str
    covariates: list
    arms: str
    indicators: np.ndarray  # (n, k) observed indicators of the arms other than control
    indicator_names: list
    treated_position: int  # the treated arm's column among the indicators
    covariate_block: np.ndarray
    covariate_names: list
    mediator_values: np.ndarray
    outcome_values: np.ndarray
    interaction: bool = False
    moderator: str | None = None
    moderator_column: np.ndarray | None = None

    @property
    def control(self) -> str:
        return self.coding.control

    @property
    def treated(self) -> str:
        return self.coding.treated

    @property
    def n(self) -> int:
        return len(self.outcome_values)

    @property
    def treat_name(self) -> str:
        return self.indicator_names[self.treated_position]

    @property
    def mediator_index(self) -> int:
        """Column of the treated arm's indicator in both matrices."""
        return 1 + self.treated_position

    @property
    def mediator_column(self) -> int:
        """Column of the mediator in the outcome matrix."""
        return len(self.mediator_names)

    @property
    def mediator_names(self) -> list[str]:
        moderated = [self.moderator, f"{self.treat_name}:{self.moderator}"] if self.moderator else []
        return ["(Intercept)", *self.indicator_names, *moderated, *self.covariate_names]

    @property
    def outcome_names(self) -> list[str]:
        extra = ([f"{self.treat_name}:{self.mediator}"] if self.interaction else []) + (
            [f"{self.mediator}:{self.moderator}"] if self.moderator else [])
        return [*self.mediator_names, self.mediator, *extra]

    @cached_property
    def mediator_matrix(self) -> np.ndarray:
        return self.mediator_rows()

    @cached_property
    def outcome_matrix(self) -> np.ndarray:
        return self.outcome_rows()

    def values(self) -> tuple[np.ndarray, np.ndarray]:
        """The mediator and the outcome of the model rows."""
        return self.mediator_values, self.outcome_values

    def mediator_rows(self, treated: float | None = None, moderator: float | None = None) -> np.ndarray:
        """Mediator-model matrix; ``treated`` (0/1) sets every row to control or treated."""
        indicators, w = self._treatment(treated), self._moderator(moderator)
        t = indicators[:, self.treated_position]
        blocks = [np.ones((self.n, 1)), indicators]
        if w is not None:
            blocks += [w[:, None], (t * w)[:, None]]
        return np.column_stack([*blocks, self.covariate_block])

    def outcome_rows(self, treated: float | None = None, mediator: float | None = None,
                     moderator: float | None = None) -> np.ndarray:
        """Outcome-model matrix; ``mediator`` sets every row's mediator value."""
        base = self.mediator_rows(treated, moderator)
        m = self.mediator_values if mediator is None else np.full(self.n, float(mediator))
        blocks = [base, m[:, None]]
        if self.interaction:
            blocks.append((base[:, self.mediator_index] * m)[:, None])
        if self.moderator:
            blocks.append((self._moderator(moderator) * m)[:, None])
        return np.column_stack(blocks)

    def _treatment(self, treated: float | None) -> np.ndarray:
        if treated is None:
            return self.indicators
        indicators = np.zeros_like(self.indicators)
        indicators[:, self.treated_position] = treated
        return indicators

    def _moderator(self, value: float | None) -> np.ndarray | None:
        if self.moderator is None or value is None:
            return self.moderator_column
        return np.full(self.n, float(value))


def _covariate_block(frame: pd.DataFrame, covariates) -> tuple[np.ndarray, list[str]]:
    """Numeric covariates as they are, others dummy coded (first level dropped)."""
    blocks, names = [np.empty((len(frame), 0))], []
    for column in covariates:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) and not isinstance(values.dtype, pd.CategoricalDtype):
            blocks.append(values.to_numpy(float)[:, None])
            names.append(column)
        else:
            dummies = pd.get_dummies(values.astype("category"), drop_first=True, dtype=float)
            blocks.append(dummies.to_numpy())
            names += [f"{column}[T.{lvl}]" for lvl in dummies.columns]
    return np.column_stack(blocks), names


def _design(frame: pd.DataFrame, coding: _Coding, mediator: str, outcome: str, covariates,
            interaction: bool = False, moderator: str | None = None) -> _Design:
    """Both models' design from prepared rows (treatment categorical, as :func:`analysis.io.model_frame`)."""
    arms = frame[coding.column]
    others = coding.others(arms)
    plain = (coding.control, others) == ("0", ["1"])  # a 0/1 code is its own indicator, named as lm names it
    indicators = np.column_stack([(arms == lvl).to_numpy(float) for lvl in others])
    names = [coding.column] if plain else [f"{coding.column}[T.{lvl}]" for lvl in others]
    block, covariate_names = _covariate_block(frame, covariates)
    return _Design(coding, mediator, outcome, list(covariates), coding.describe(arms), indicators, names,
                   others.index(coding.treated), block, covariate_names, frame[mediator].to_numpy(float),
                   frame[outcome].to_numpy(float), interaction, moderator,
                   None if moderator is None else frame[moderator].to_numpy(float))


def _prepare(data, treatment, mediator, outcome, covariates, control, treated, who: str, *,
             interaction: bool = False, moderator: str | None = None,
             families: tuple[str, str] = ("linear", "linear")) -> tuple[io.ModelFrame, _Design]:
    """Checked complete rows (:func:`analysis.io.model_frame`) and identified design matrices."""
    covariates = list(covariates)
    if moderator is not None and moderator in covariates:
        raise ValueError(f"moderator {moderator!r} is also among the covariates; name it once, as moderator=")
    numeric = [mediator, outcome, *([moderator] if moderator is not None else [])]
    frame = io.model_frame(data, numeric=numeric, other=covariates, arm=treatment, who=who)
    arms = pd.Series(io.arm_factor(data[treatment], column=treatment, by_index=True), index=data.index)
    coding = _coding(list(arms.cat.categories), _numeric_codes(data[treatment]), treatment, control, treated)
    _require_arms(coding, arms, data, [mediator, outcome, *covariates], who)
    _check_binary(frame.data, [(mediator, families[0]), (outcome, families[1])], who)
    _check_mediator_varies(frame.data, coding, mediator, who)
    design = _design(frame.data, coding, mediator, outcome, covariates, interaction, moderator)
    io.check_design(design.outcome_matrix, design.outcome_names, who=who, intercept="(Intercept)")
    n, p = design.outcome_matrix.shape
    if n <= p:
        raise io.DataValidationError([io.Problem(
            ", ".join(design.outcome_names[1:]), f"{who}: {n} complete rows for the {p} coefficients of the outcome "
                                                 f"model; at least {p + 1} are needed to estimate its residual "
                                                 "variance")])
    return frame, design


def _check_binary(frame: pd.DataFrame, columns: list[tuple[str, str]], who: str) -> None:
    """Refuse a logit/probit mediator or outcome with values other than 0 and 1."""
    problems = []
    for column, family in columns:
        if family == "linear":
            continue
        values = frame[column]
        bad = ~values.isin([0, 1])
        if bad.any():
            problems.append(io._problem(column, f"{who}: a {family} model needs 0/1 values", values, bad,
                                        by_index=True))
    if problems:
        raise io.DataValidationError(problems)


def _check_mediator_varies(frame: pd.DataFrame, coding: _Coding, mediator: str, who: str) -> None:
    """Refuse a mediator that takes one value in every row of the control or treated arm."""
    arms = frame[coding.column]
    problems = []
    for role, level in (("control", coding.control), ("treated", coding.treated)):
        values = frame.loc[(arms == level).to_numpy(), mediator]
        if values.nunique() == 1:
            problems.append(io.Problem(mediator, f"{who}: the mediator is {io._plain(values.iloc[0])!r} in all "
                                                 f"{len(values)} rows of the {role} arm {level!r}, so its "
                                                 "response to treatment cannot be estimated"))
    if problems:
        raise io.DataValidationError(problems)


def _moderator_values(design: _Design, values) -> list[float]:
    """The moderator values to evaluate the effects at, each within the observed range."""
    observed = design.moderator_column
    if values is None:
        raise ValueError(f"moderator {design.moderator!r}: name the values to estimate the effects at with "
                         "moderator_values= (e.g. [0, 1] for a 0/1 moderator)")
    low, high = float(np.min(observed)), float(np.max(observed))
    out = []
    for value in ([values] if np.ndim(values) == 0 else list(values)):
        value = io._plain(value)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
            raise ValueError(f"moderator_values: {value!r} is outside the values of {design.moderator!r} in "
                             f"the data ({low:g} to {high:g}); effects there would be extrapolated")
        out.append(float(value))
    return out
