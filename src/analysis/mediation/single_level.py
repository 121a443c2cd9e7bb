"""``mediate``: one mediator, linear or binary models, bootstrap or quasi-Bayesian inference.

Also :func:`mediate_arms` (one analysis per active arm of a multi-arm trial) and
:func:`test_tm_interaction` (R's ``test.TMint``).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from .. import io
from .design import (
    _arm,
    _check_models,
    _check_options,
    _Design,
    _moderator_values,
    _prepare,
    _require_two_arms,
)
from .effects import basic_effects, compact_effects, full_effects
from .inference import (
    bootstrap_fits,
    effect_table,
    jackknife_fits,
    mediation_p,
    percentile,
    quasi_bayes_estimate,
    quasi_bayes_fits,
)
from .models import fit_model, model_table
from .result import EFFECTS, FULL_EFFECTS, MediationResult, MediationSet
from .sensitivity import medsens

#: Rows of the index of moderated mediation (differences between moderator values).
MODERATED_ROWS = ("ACME (control)", "ACME (treated)", "ADE (control)", "ADE (treated)")


def mediate(data: pd.DataFrame, treatment: str, mediator: str, outcome: str, covariates=(),
            n_boot: int = 5000, seed: int = 0, ci: str = "bca", control=None, treated=None,
            conf_level: float = 0.95, *, mediator_model: str = "linear", outcome_model: str = "linear",
            interaction: bool = False, method: str = "bootstrap", sims: int | None = None,
            moderator: str | None = None, moderator_values=None, treat_value=None,
            control_value=None) -> MediationResult | MediationSet:
    """Causal mediation analysis as R's ``mediate`` (Imai, Keele & Tingley, 2010).

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit (person).
    treatment : str
        Treatment column: arms as numeric or boolean codes (0/1, 1/2), text or a
        categorical (e.g. the trial's ``arm``); see :mod:`analysis.mediation`.
    mediator, outcome : str
        Numeric columns (pandas nullable dtypes included); 0/1 for a logit or
        probit model.
    covariates : sequence of str, default ()
        Pre-treatment covariates in both models; non-numeric ones are dummy coded.
    n_boot : int, default 5000
        Bootstrap replicates (``method="bootstrap"``).
    seed : int, default 0
        Seed of the resampling or of the draws (``numpy.random.default_rng``).
    ci : {"bca", "percentile"}, default "bca"
        Bootstrap interval method for ``table``; :meth:`MediationResult.ci` gives
        the other. Quasi-Bayesian intervals are percentile intervals.
    control, treated : optional
        Arms compared, as codes or labels (``1`` and ``"1"`` name the same arm).
        ``control`` defaults to the reference arm (:func:`analysis.io.arm_factor`),
        ``treated`` to the other arm when there are two. Name ``treated`` when
        there are more arms, and both when the treatment has more than two
        numeric codes (e.g. arms coded 0/1/2): they are never a linear dose.
    conf_level : float, default 0.95
    mediator_model, outcome_model : {"linear", "logit", "probit"}, default "linear"
        ``lm`` or binomial ``glm`` with that link; binary models' effects are
        on the probability scale.
    interaction : bool, default False
        Add the treatment x mediator term to the outcome model (ACME and ADE then
        differ between arms; :func:`test_tm_interaction` tests the difference).
    method : {"bootstrap", "quasi-bayes"}, default "bootstrap"
        Nonparametric bootstrap, or R's quasi-Bayesian Monte Carlo (``boot =
        FALSE``): ``sims`` draws of each model's coefficients from the normal
        distribution of its estimates; the estimates are then the means of the
        draws (medians for the proportions mediated), as R reports them.
    sims : int, optional
        Quasi-Bayesian draws; default ``n_boot``.
    moderator : str, optional
        Numeric moderator ``W``: mediator model ``M ~ T*W + X``, outcome model
        ``Y ~ T*W + M*W + X`` (plus ``T:M`` with ``interaction``).
    moderator_values : sequence of float
        Values of ``W`` to estimate the effects at (R's ``covariates = list(W =
        v)``), within the observed range; required with ``moderator``.
    treat_value, control_value : optional
        R's names for ``treated`` and ``control``.

    Returns
    -------
    MediationResult or MediationSet
        A :class:`MediationSet` with one result per moderator value and the
        index of moderated mediation (``index``: differences of the effects from
        those at the first value, R's ``test.modmed``) when ``moderator`` is given.

    Raises
    ------
    analysis.io.DataValidationError
        A column is missing or not numeric, a treatment value is missing, the
        control or treated arm has no complete rows, the mediator is constant in
        the control or treated arm, a logit/probit column has values other than
        0/1 (naming rows and values), a binary model does not converge
        (separation), or a covariate is constant or collinear.
    ValueError
        The treatment has a single arm, ``control`` or ``treated`` is not an arm of
        the data, a numeric treatment with more than two codes lacks them, several
        arms are compared with control and ``treated`` is not named, a moderator
        value lies outside the data, or an argument is out of range.

    Notes
    -----
    Rows with a missing value in any used column are dropped (``n_dropped``); an
    arm left without complete rows is dropped and named in ``notes``. Each row is a
    unit: with no person column a repeated row cannot be told from another person
    with the same values, so it counts twice, as in R's ``lm`` (the longitudinal
    forms refuse a repeated person and wave, :func:`analysis.io.model_frame`).
    Unused categories (of the treatment or a categorical covariate) are ignored.
    The input frame is never modified.
    """
    control = _alias(control, control_value, "control", "control_value")
    treated = _alias(treated, treat_value, "treated", "treat_value")
    draws = n_boot if sims is None else sims
    _check_options(draws, ci, conf_level)
    _check_models(mediator_model, outcome_model, method)
    families = (mediator_model, outcome_model)
    frame, design = _prepare(data, treatment, mediator, outcome, covariates, control, treated, "mediate",
                             interaction=bool(interaction), moderator=moderator, families=families)
    if moderator is None:
        return _single_level(frame, design, draws, seed, ci, conf_level, families, method)[0]
    values = _moderator_values(design, moderator_values)
    results = _single_level(frame, design, draws, seed, ci, conf_level, families, method, values)
    return MediationSet(moderator, dict(zip(values, results)), _moderation_index(results))


def mediate_arms(data: pd.DataFrame, treatment: str, mediator: str, outcome: str, covariates=(), *,
                 control=None, **options) -> MediationSet:
    """One mediation analysis per active arm against the reference arm (multi-arm trials).

    Every analysis uses all rows: the arms not compared enter both models through
    their own indicators, as :func:`mediate` does.

    Parameters
    ----------
    data, treatment, mediator, outcome, covariates
        As in :func:`mediate`.
    control : optional
        The reference arm; default as :func:`mediate`'s.
    **options
        Further arguments of :func:`mediate` (not ``treated`` nor ``moderator``).

    Returns
    -------
    MediationSet
        ``by == "treated arm"``; ``results`` keyed by arm; ``table`` stacks the
        tables with the arm as the first index level.

    Raises
    ------
    ValueError
        The treatment has a single arm, ``treated`` or ``moderator`` is passed,
        and as :func:`mediate`.
    """
    refused = {"treated", "treat_value", "moderator"} & set(options)
    if refused:
        raise ValueError(f"mediate_arms compares every active arm with control; do not pass {sorted(refused)}")
    levels = list(io.arm_factor(data[treatment], column=treatment, by_index=True).categories)
    _require_two_arms(levels, treatment)
    reference = levels[0] if control is None else _arm(control, levels, treatment, "control")
    results = {arm: mediate(data, treatment, mediator, outcome, covariates, control=reference, treated=arm,
                            **options) for arm in levels if arm != reference}
    return MediationSet("treated arm", results, None)


def test_tm_interaction(result: MediationResult) -> pd.Series:
    """Test of ACME(treated) - ACME(control) = 0, R's ``test.TMint``.

    Parameters
    ----------
    result : MediationResult
        From :func:`mediate` with ``interaction=True``.

    Returns
    -------
    pandas.Series
        ``estimate`` (ACME(treated) - ACME(control)), ``p`` (``mediation``'s
        p-value from the draws of the difference), ``ci_low``, ``ci_high``
        (percentile limits at the result's ``conf_level``).

    Raises
    ------
    ValueError
        A result without the treatment x mediator interaction.
    """
    if not result.interaction:
        raise ValueError("test_tm_interaction needs a result of mediate(..., interaction=True): without the "
                         "treatment x mediator term the ACME is the same in both arms")
    difference = result.table.loc["ACME (treated)", "estimate"] - result.table.loc["ACME (control)", "estimate"]
    draws = (result.draws["ACME (treated)"] - result.draws["ACME (control)"]).to_numpy()[:, None]
    low, high = percentile(draws, result.conf_level)
    return pd.Series({"estimate": difference, "p": mediation_p(draws, np.array([difference]))[0],
                      "ci_low": low[0], "ci_high": high[0]}, name="ACME(treated) - ACME(control)")


# --- estimation ------------------------------------------------------------------------------

def _single_level(frame, design: _Design, n_draws: int, seed: int, ci: str, conf_level: float,
                  families: tuple[str, str] = ("linear", "linear"), method: str = "bootstrap",
                  at: list | None = None) -> list[MediationResult]:
    """Estimates and draws on prepared rows, one result per moderator value in ``at``."""
    at = at or [None]
    y_m, y_y = design.values()
    x_m, x_y = design.mediator_matrix, design.outcome_matrix
    fit_m = fit_model(x_m, y_m, families[0], design.mediator, "mediate")
    fit_y = fit_model(x_y, y_y, families[1], design.outcome, "mediate")
    compact = families == ("linear", "linear") and not design.interaction and design.moderator is None
    names, summarise = (EFFECTS, compact_effects) if compact else (FULL_EFFECTS, full_effects)
    rng = np.random.default_rng(seed)
    bootstrap = method == "bootstrap"
    batches = (bootstrap_fits(x_m, y_m, x_y, y_y, families, n_draws, rng) if bootstrap
               else quasi_bayes_fits(fit_m, fit_y, n_draws, rng))
    draws, dropped = _collect(batches, design, families, at)
    messages = []
    if dropped:
        messages.append(f"{dropped} of {n_draws} bootstrap replicates dropped: a resample left a model without "
                        "variation in a column (e.g. no one in an arm) or a binary model without convergence")
    jack = None
    if bootstrap:
        jack, unused = _collect(jackknife_fits(x_m, y_m, x_y, y_y, families), design, families, at)
        if unused:
            messages.append(f"{unused} rows left out of the jackknife for the BCa acceleration: without them a "
                            "model is not identified (leverage 1, e.g. a category held by one row)")
    results = []
    for k, value in enumerate(at):
        values = summarise(draws[k])
        if bootstrap:
            estimate = summarise(basic_effects(design, families, fit_m.coef[None], fit_y.coef[None], fit_m.sigma,
                                               None, value))[0]
            table, ci_messages = effect_table(estimate, values, summarise(jack[k]), ci, conf_level, names)
        else:
            table, ci_messages = effect_table(quasi_bayes_estimate(values, names), values, None, "percentile",
                                              conf_level, names)
        results.append(_result(frame, design, families, table, values, None if jack is None else summarise(jack[k]),
                               "bca" if bootstrap and ci == "bca" else "percentile" if bootstrap else "monte carlo",
                               conf_level, n_draws, seed, messages + ci_messages, value, compact))
    return results


def _collect(batches, design: _Design, families, at) -> tuple[list[np.ndarray], int]:
    """d0, d1, z0, z1 of every batch at each moderator value; fits that failed are dropped."""
    out = [[] for _ in at]
    for coef_m, coef_y, sigma, weights in batches:
        for k, value in enumerate(at):
            out[k].append(basic_effects(design, families, coef_m, coef_y, sigma, weights, value))
    stacked = [np.concatenate(rows) for rows in out]
    failed = np.isnan(stacked[0]).any(axis=1)
    return [rows[~failed] for rows in stacked], int(failed.sum())


def _result(frame, design: _Design, families, table, draws, jack, ci_method, conf_level, n_draws, seed, messages,
            value, compact) -> MediationResult:
    if table.loc["Total Effect", "ci_low"] <= 0 <= table.loc["Total Effect", "ci_high"]:
        messages = messages + ["the total effect's interval includes 0: the proportion mediated is unstable and "
                               "hard to interpret"]
    result = MediationResult(
        table=table, paths=_paths(design, families),
        mediator_model=model_table(design.mediator_matrix, design.mediator_values, design.mediator_names,
                                   families[0]),
        outcome_model=model_table(design.outcome_matrix, design.outcome_values, design.outcome_names, families[1]),
        draws=pd.DataFrame(draws, columns=list(table.index)),
        jackknife=None if jack is None else pd.DataFrame(jack, columns=list(table.index)),
        sensitivity=None, kind="single-level", treatment=design.coding.column, mediator=design.mediator,
        outcome=design.outcome, covariates=design.covariates, control=design.control, treated=design.treated,
        ci_method=ci_method, conf_level=conf_level, n_boot=n_draws, seed=seed, nobs=len(frame.data),
        n_dropped=frame.n_dropped, notes=_notes(design, families, compact, ci_method, value) + list(frame.notes),
        warnings=messages, data=frame.data, arms=design.arms, mediator_family=families[0],
        outcome_family=families[1], interaction=design.interaction, moderator=design.moderator,
        moderator_value=value)
    return replace(result, sensitivity=medsens(result)) if compact else result


def _notes(design: _Design, families, compact: bool, ci_method: str, value) -> list[str]:
    notes = []
    if compact:
        notes.append("ACME and ADE are the same under treatment and control (no treatment-mediator "
                     "interaction); their common value is reported")
    else:
        notes.append("ACME and ADE are reported under control and treatment (they differ with an interaction "
                     "or a binary model), with their averages, as summary.mediate")
    if "linear" != families[1]:
        notes.append(f"effects of {design.outcome} are differences of probabilities ({families[1]} model)")
    elif set(np.unique(design.outcome_values)) <= {0.0, 1.0}:
        notes.append(f"{design.outcome} takes only 0 and 1 and is fitted as a linear probability model; "
                     "outcome_model='logit' or 'probit' fits a binary model, as R's glm")
    if design.moderator is not None:
        notes.append(f"effects with {design.moderator} = {value:g} in every row (R's covariates = "
                     f"list({design.moderator} = {value:g}))")
    if ci_method == "monte carlo":
        notes.append("quasi-Bayesian Monte Carlo: coefficients drawn from the normal distribution of each "
                     "model's estimates; the mediator's distribution is integrated exactly rather than drawn")
    notes.append("causal reading assumes sequential ignorability: no unmeasured confounding of "
                 "treatment-mediator, treatment-outcome and mediator-outcome"
                 + ("; see sensitivity" if compact else ""))
    return notes


def _paths(design: _Design, families) -> pd.DataFrame:
    """a, b, c' and c (outcome on the mediator model's terms) from the fitted models."""
    k = design.mediator_index
    med = model_table(design.mediator_matrix, design.mediator_values, design.mediator_names, families[0])
    out = model_table(design.outcome_matrix, design.outcome_values, design.outcome_names, families[1])
    total = model_table(design.mediator_matrix, design.outcome_values, design.mediator_names, families[1])
    return pd.DataFrame({"a": med.iloc[k], "b": out.iloc[design.mediator_column], "c_prime": out.iloc[k],
                         "c": total.iloc[k]}).T


def _moderation_index(results: list[MediationResult]) -> pd.DataFrame:
    """Differences of the effects from those at the first moderator value (R's ``test.modmed``)."""
    first = results[0]
    rows = {}
    for other in results[1:]:
        label = f"{other.moderator_value:g} - {first.moderator_value:g}"
        for effect in MODERATED_ROWS:
            difference = other.table.loc[effect, "estimate"] - first.table.loc[effect, "estimate"]
            draws = (other.draws[effect] - first.draws[effect]).to_numpy()[:, None]
            low, high = percentile(draws, first.conf_level)
            rows[(label, effect)] = {"estimate": difference, "ci_low": low[0], "ci_high": high[0],
                                     "p": mediation_p(draws, np.array([difference]))[0]}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis([f"{first.moderator} values", "effect"])


def _alias(value, r_value, name: str, r_name: str):
    if value is not None and r_value is not None:
        raise ValueError(f"{name}= and {r_name}= name the same arm; give one of them")
    return value if r_value is None else r_value
