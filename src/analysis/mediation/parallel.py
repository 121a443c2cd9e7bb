r"""Several mediators in parallel (PROCESS model 4, lavaan's defined parameters).

Each mediator :math:`M_j` gets a linear model :math:`M_j = \alpha_j + a_j T + \xi_j' X +
\varepsilon_j`; the outcome model holds all of them, :math:`Y = \alpha + c' T + \sum_j
b_j M_j + \xi' X + \varepsilon`. The specific indirect effect through :math:`M_j` is
:math:`a_j b_j`, the total indirect effect their sum, the direct effect :math:`c'`
and the total effect :math:`c' + \sum_j a_j b_j` (the coefficient of :math:`T` in the
outcome model without mediators, for least squares). Contrasts compare specific
indirect effects pairwise. Intervals come from one joint nonparametric bootstrap of
all models (every replicate refits every model on the same resample), so contrasts
and sums have the right covariance.
"""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd

from .. import io
from .design import _check_mediator_varies, _check_options, _coding, _design, _numeric_codes, _require_arms
from .inference import BATCH, effect_table, leave_one_out_weights, resample_counts
from .models import _weighted_ols, ols_table
from .result import ParallelMediationResult

__all__ = ["ParallelMediationResult", "mediate_parallel"]


def mediate_parallel(data: pd.DataFrame, treatment: str, mediators, outcome: str, covariates=(),
                     n_boot: int = 5000, seed: int = 0, ci: str = "bca", control=None, treated=None,
                     conf_level: float = 0.95) -> ParallelMediationResult:
    """Parallel mediators with linear models and a joint bootstrap.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit.
    treatment, outcome, covariates, n_boot, seed, ci, control, treated, conf_level
        As in :func:`analysis.mediation.mediate`.
    mediators : sequence of str
        Two or more numeric mediator columns.

    Returns
    -------
    ParallelMediationResult

    Raises
    ------
    analysis.io.DataValidationError
        As :func:`analysis.mediation.mediate` (missing or non-numeric columns, a
        mediator constant in an arm, collinear columns).
    ValueError
        Fewer than two distinct mediators, a mediator that is also the outcome
        or a covariate, a treatment with a single arm, or arguments out of range.

    Notes
    -----
    Missing values, repeated rows and unused categories are handled as by
    :func:`analysis.mediation.mediate`.
    """
    mediators = list(mediators)
    if len(mediators) < 2 or len(set(mediators)) != len(mediators):
        raise ValueError(f"mediators must name two or more distinct columns, got {mediators}")
    clash = set(mediators) & {outcome, *covariates}
    if clash:
        raise ValueError(f"mediators {sorted(clash)} are also the outcome or covariates")
    _check_options(n_boot, ci, conf_level)
    who = "mediate_parallel"
    covariates = list(covariates)
    frame = io.model_frame(data, numeric=[*mediators, outcome], other=covariates, arm=treatment, who=who)
    arms = pd.Series(io.arm_factor(data[treatment], column=treatment, by_index=True), index=data.index)
    coding = _coding(list(arms.cat.categories), _numeric_codes(data[treatment]), treatment, control, treated)
    _require_arms(coding, arms, data, [*mediators, outcome, *covariates], who)
    for mediator in mediators:
        _check_mediator_varies(frame.data, coding, mediator, who)
    design = _design(frame.data, coding, mediators[0], outcome, covariates)
    x_m = design.mediator_matrix
    m = frame.data[mediators].to_numpy(float)
    x_y = np.column_stack([x_m, m])
    y = design.outcome_values
    io.check_design(x_y, [*design.mediator_names, *mediators], who=who, intercept="(Intercept)")
    names = _rows(mediators)
    k = design.mediator_index

    def effects(weights):
        coef_m = [_weighted_ols(x_m, m[:, j], weights)[:, k] for j in range(len(mediators))]
        coef_y = _weighted_ols(x_y, y, weights)
        return _effects(np.column_stack(coef_m), coef_y[:, x_m.shape[1]:], coef_y[:, k])

    estimate = effects(np.ones((1, len(y))))[0]
    rng = np.random.default_rng(seed)
    draws = np.concatenate([effects(resample_counts(rng, len(y), min(BATCH, n_boot - start)))
                            for start in range(0, n_boot, BATCH)])
    jack = np.concatenate([effects(weights) for weights in leave_one_out_weights(len(y))])
    messages = []
    failed = np.isnan(draws).any(axis=1)
    if failed.any():
        messages.append(f"{int(failed.sum())} of {n_boot} bootstrap replicates dropped: a resample left a model "
                        "without variation in a column")
    table, ci_messages = effect_table(estimate, draws[~failed], jack[~np.isnan(jack).any(axis=1)], ci, conf_level,
                                      names)
    mediator_models = {name: ols_table(x_m, m[:, j], design.mediator_names) for j, name in enumerate(mediators)}
    outcome_model = ols_table(x_y, y, [*design.mediator_names, *mediators])
    paths = pd.DataFrame({**{f"a ({name})": mediator_models[name].iloc[k] for name in mediators},
                          **{f"b ({name})": outcome_model.loc[name] for name in mediators},
                          "c_prime": outcome_model.iloc[k]}).T
    return ParallelMediationResult(
        table=table, paths=paths, mediator_models=mediator_models, outcome_model=outcome_model,
        draws=pd.DataFrame(draws[~failed], columns=names), jackknife=pd.DataFrame(jack, columns=names),
        treatment=treatment, outcome=outcome, mediators=mediators, covariates=covariates,
        control=coding.control, treated=coding.treated, ci_method=ci, conf_level=conf_level, n_boot=n_boot,
        seed=seed, nobs=len(y), n_dropped=frame.n_dropped, warnings=messages + ci_messages + list(frame.notes))


def _rows(mediators: list[str]) -> list[str]:
    return ([f"ACME ({m})" for m in mediators] + ["ACME (total)"]
            + [f"ACME ({m1}) - ACME ({m2})" for m1, m2 in combinations(mediators, 2)] + ["ADE", "Total Effect"])


def _effects(a: np.ndarray, b: np.ndarray, direct: np.ndarray) -> np.ndarray:
    """Rows of :func:`_rows` from the a paths, b paths (columns: mediators) and c' (rows: fits)."""
    specific = a * b
    total = specific.sum(axis=1)
    contrasts = [specific[:, i] - specific[:, j] for i, j in combinations(range(a.shape[1]), 2)]
    return np.column_stack([specific, total, *contrasts, direct, direct + total])
