"""Longitudinal mediation: change scores (:func:`mediate_change`) and multilevel (:func:`mediate_multilevel`)."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd

from .. import io, mixed
from .design import _check_options, _coding, _numeric_codes, _prepare, _require_arms
from .effects import product_effects
from .inference import effect_table
from .result import EFFECTS, MediationResult
from .single_level import _single_level

#: Columns of a path's row in ``MediationResult.paths``.
PATH_COLUMNS = ["estimate", "se", "df", "t", "p", "ci_low", "ci_high"]
SHOWN = 5


def mediate_change(data: pd.DataFrame, treatment: str, mediator: str, outcome: str,
                   group: str = "participant_id", wave: str = "wave", waves=None, covariates=(),
                   n_boot: int = 5000, seed: int = 0, ci: str = "bca", control=None, treated=None,
                   conf_level: float = 0.95) -> MediationResult:
    """Longitudinal mediation: treatment -> mediator change by mid-treatment -> outcome change by the end.

    From long data, one row per person is built with the mediator change from
    ``baseline`` to ``mid``, the outcome change from ``baseline`` to ``end`` and the
    baseline mediator and outcome, and passed to :func:`mediate` with the baseline
    values as covariates (added before ``covariates``). The mediator is thus
    measured before the outcome's end point. Starting the outcome change at
    ``mid`` instead would share the mid-treatment measurement between mediator and
    outcome change, whose noise (and regression to the mean) biases the ``b`` path.

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, one row per person and wave.
    treatment, mediator, outcome : str
        As in :func:`mediate`; the treatment and ``covariates`` must be constant
        within a person (their first row is used).
    group, wave : str
        Person and wave columns.
    waves : (baseline, mid, end), optional
        Waves to use; default the first, the middle (``sorted_waves[len // 2]``)
        and the last wave.
    covariates, n_boot, seed, ci, control, treated, conf_level
        As in :func:`mediate`.

    Returns
    -------
    MediationResult
        ``kind == "change"``; ``mediator`` and ``outcome`` name the change columns
        (``{mediator}_change``, ``{outcome}_change``); ``data`` holds one row per
        person; ``n_dropped`` counts people without the three waves.

    Raises
    ------
    analysis.io.DataValidationError
        As :func:`mediate`, and for text waves, repeated (person, wave) rows or a
        treatment that changes within a person (:func:`analysis.io.model_frame`).
    ValueError
        As :func:`mediate`, and for waves not in the data or not increasing, or a
        covariate that changes within a person.

    Notes
    -----
    Rows with a missing covariate are left out before the changes are formed.
    """
    _check_options(n_boot, ci, conf_level)
    person, (baseline, mid, end), checked = _change_rows(data, treatment, [mediator], outcome, group, wave, waves,
                                                         covariates, "mediate_change")
    coding = _coding(checked.levels, _numeric_codes(data[treatment]), treatment, control, treated)
    frame, design = _prepare(person, treatment, f"{mediator}_change", f"{outcome}_change",
                             [f"{mediator}_baseline", f"{outcome}_baseline", *covariates], coding.control,
                             coding.treated, "mediate_change")
    result = _single_level(frame, design, n_boot, seed, ci, conf_level)[0]
    notes = [f"mediator: change in {mediator} from wave {baseline} to {mid}; outcome: change in "
             f"{outcome} from wave {baseline} to {end}; both models adjust for baseline {mediator} and "
             f"{outcome}; the mediator is measured at wave {mid}, before the outcome's end point",
             "people without all three waves are left out (complete cases): unbiased if they are "
             "missing completely at random", *checked.notes] + result.notes
    return replace(result, kind="change", notes=notes, waves=(baseline, mid, end))


def change_scores(data: pd.DataFrame, treatment: str, mediators, outcome: str, group: str = "participant_id",
                  wave: str = "wave", waves=None, covariates=()) -> tuple[pd.DataFrame, tuple]:
    """One row per person with mediator and outcome changes, as :func:`mediate_change` builds them.

    For several mediators (e.g. for :func:`analysis.mediation.mediate_parallel`).

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, one row per person and wave.
    treatment, outcome, group, wave, waves, covariates
        As in :func:`mediate_change`.
    mediators : sequence of str
        Mediator columns.

    Returns
    -------
    frame : pandas.DataFrame
        Indexed by person: the treatment, covariates, ``{m}_baseline`` and
        ``{m}_change`` (baseline to mid) per mediator, ``{outcome}_baseline`` and
        ``{outcome}_change`` (baseline to end); missing where a wave is missing.
    waves : tuple
        ``(baseline, mid, end)``.
    """
    person, used, _ = _change_rows(data, treatment, list(mediators), outcome, group, wave, waves, covariates,
                                   "change_scores")
    return person, used


def _change_rows(data, treatment, mediators, outcome, group, wave, waves, covariates, who):
    checked = io.model_frame(data, partial=[*mediators, outcome], optional=covariates, arm=treatment, group=group,
                             wave=wave, who=who)
    long = checked.data
    _check_constant(long, group, covariates)
    baseline, mid, end = _change_waves(long[wave], waves)
    person = long.groupby(group, sort=True, observed=True)[[treatment, *covariates]].first()
    wide = long.pivot(index=group, columns=wave, values=[*mediators, outcome]).reindex(person.index)
    columns = {}
    for mediator in mediators:
        columns[f"{mediator}_baseline"] = wide[mediator][baseline]
        columns[f"{mediator}_change"] = wide[mediator][mid] - wide[mediator][baseline]
    columns[f"{outcome}_baseline"] = wide[outcome][baseline]
    columns[f"{outcome}_change"] = wide[outcome][end] - wide[outcome][baseline]
    return person.assign(**columns), (baseline, mid, end), checked


def mediate_multilevel(data: pd.DataFrame, treatment: str, mediator: str, outcome: str,
                       group: str = "participant_id", wave: str = "wave", time: str = "time",
                       covariates=(), n_sims: int = 5000, seed: int = 0, control=None, treated=None,
                       conf_level: float = 0.95, cluster: str | None = None) -> MediationResult:
    """Multilevel (2-1-1) mediation over waves with lagged within-person effects.

    Two linear mixed models are fitted with :func:`analysis.mixed.fit_lmm` (REML,
    lme4 formulas):

    * ``a`` path: ``mediator ~ time * treatment + covariates + (time | group)``,
      correlated random intercepts and slopes of time by person; ``a`` is the
      treatment's effect on the mediator's change per unit of ``time``.
    * ``b`` path: ``next outcome ~ mediator_within + mediator_between +
      outcome_within + next time * treatment + covariates + (1 | group)``, on pairs
      of consecutive waves; ``_within`` is the deviation from the person's own mean
      and ``_between`` that mean (:func:`analysis.mixed.decompose`); the random
      intercept carries the person's outcome level. ``b`` is the effect of a
      within-person rise of the mediator on the outcome at the next wave;
      ``c_prime`` (ADE) the treatment's effect on the outcome's change per unit of
      time beyond it.

    With ``cluster`` (patients nested in therapists or therapy groups) both models
    gain that level's random intercept, ``+ (1 | cluster)``, as lme4 fits
    ``lmer(y ~ ... + (time | participant_id) + (1 | therapist))``: the paths are
    then estimated with patients of one therapist correlated, and their standard
    errors (Satterthwaite df, as lmerTest) widen accordingly.

    ACME = a x b per unit of time. Intervals by the Monte Carlo method: ``n_sims``
    draws of a, b and c' from the normal distributions of the estimates (seeded, so
    the same ``seed`` gives the same intervals).

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, one row per person and wave; at least three waves.
    treatment, mediator, outcome, covariates, control, treated, conf_level
        As in :func:`mediate`; covariates enter both models (patsy names).
    group, wave, time : str
        Person, wave and time (e.g. weeks) columns; consecutive waves are
        neighbours in the sorted wave values.
    n_sims : int, default 5000
        Monte Carlo draws.
    seed : int, default 0
    cluster : str, optional
        Column of the level above the person (``"therapist"``): constant within a
        person, never missing, at least two values.

    Returns
    -------
    MediationResult
        ``kind == "multilevel"``, ``ci_method == "monte carlo"``, no sensitivity;
        ``cluster`` names the cluster column (None without).

    Raises
    ------
    analysis.io.DataValidationError
        As :func:`mediate_change`; also fewer than three waves, a person whose
        ``cluster`` changes between rows, a missing ``cluster`` (a partially nested
        trial is not supported here), a ``cluster`` with one value, the control or
        treated arm without a pair of consecutive waves with the outcome observed,
        or a model whose design is not identified (:func:`analysis.mixed.fit_lmm`).
    ValueError
        As :func:`mediate`, and for ``cluster`` equal to ``group``.
    """
    _check_options(n_sims, "percentile", conf_level)
    who = "mediate_multilevel"
    if cluster is not None and cluster == group:
        raise ValueError(f"cluster={cluster!r} is the person column (group); name the level above it, "
                         "e.g. cluster='therapist'")
    clusters = [] if cluster is None else [cluster]
    frame = io.model_frame(data, numeric=[time], partial=[mediator, outcome], other=covariates,
                           optional=clusters, clusters=clusters, arm=treatment, group=group, wave=wave, who=who)
    _check_multilevel(frame.data, wave, cluster, who)
    coding = _coding(frame.levels, _numeric_codes(data[treatment]), treatment, control, treated)
    extra = "".join(f" + {c}" for c in covariates)
    level = "" if cluster is None else f" + (1 | {cluster})"
    long = mixed.decompose(mixed.decompose(frame.data, mediator, group), outcome, group)
    _require_arms(coding, long[treatment], long, [mediator], who)
    fit_a = mixed.fit_lmm(long, f"{mediator} ~ {time} * {coding.patsy_term}{extra} + ({time} | {group}){level}")
    pairs = _next_wave(long, group, wave, [outcome, time])
    _require_arms(coding, pairs[treatment], pairs, [mediator, outcome, f"{outcome}_next"], who)
    lagged = pairs.dropna(subset=[f"{outcome}_next", f"{time}_next"])
    predictors = (f"{mediator}_within + {mediator}_between + {outcome}_within + {time}_next * "
                  f"{coding.patsy_term}{extra}")
    fit_b = mixed.fit_lmm(lagged, f"{outcome}_next ~ {predictors} + (1 | {group}){level}")
    rows = {"a": (fit_a, f"{time}:{coding.patsy_name}"), "b": (fit_b, f"{mediator}_within"),
            "c_prime": (fit_b, f"{time}_next:{coding.patsy_name}")}
    paths = pd.DataFrame({k: fit.fixed.loc[name, PATH_COLUMNS] for k, (fit, name) in rows.items()}).T.astype(float)
    rng = np.random.default_rng(seed)
    a, b, c = (rng.normal(paths.loc[k, "estimate"], paths.loc[k, "se"], n_sims) for k in ("a", "b", "c_prime"))
    draws = product_effects(a * b, c)
    estimate = product_effects(np.array([paths.loc["a", "estimate"] * paths.loc["b", "estimate"]]),
                               np.array([paths.loc["c_prime", "estimate"]]))[0]
    table, messages = effect_table(estimate, draws, None, "percentile", conf_level, EFFECTS)
    messages = ([f"mediator model: {w}" for w in fit_a.warnings]
                + [f"outcome model: {w}" for w in fit_b.warnings] + messages)
    nesting = ([] if cluster is None else
               [f"both models have a random intercept of {cluster} ({long[cluster].nunique()} levels): "
                f"people of one {cluster} are correlated"])
    return MediationResult(
        table=table, paths=paths, mediator_model=fit_a.fixed, outcome_model=fit_b.fixed,
        draws=pd.DataFrame(draws, columns=list(EFFECTS)), jackknife=None, sensitivity=None,
        kind="multilevel", treatment=treatment, mediator=mediator, outcome=outcome,
        covariates=list(covariates), control=coding.control, treated=coding.treated,
        ci_method="monte carlo", conf_level=conf_level, n_boot=n_sims, seed=seed,
        nobs=fit_b.nobs, n_dropped=len(data) - fit_b.nobs,
        notes=[f"effects per unit of {time}: a is the treatment's effect on the {mediator} slope, b "
               f"the effect of a within-person rise in {mediator} on {outcome} at the next wave",
               "the ACME assumes that a treatment-induced rise in the mediator acts like a "
               "within-person rise; person-mean centring with a lagged outcome carries a bias of "
               "order 1/waves (the RI-CLPM in analysis.panel models the dynamics directly)",
               "a, b and c' are drawn independently (they come from two models; fit_lmm reports "
               "the standard errors of b and c', not their covariance)", *nesting,
               f"nobs counts the pairs of consecutive waves in the outcome model "
               f"({fit_a.nobs} rows in the mediator model)", *frame.notes],
        warnings=messages, data=lagged, arms=coding.describe(long[treatment]), cluster=cluster,
    )


def _check_multilevel(data: pd.DataFrame, wave: str, cluster: str | None, who: str) -> None:
    """Refuse fewer than three waves, and a cluster column that is missing somewhere or has one value."""
    waves = [io._plain(w) for w in sorted(data[wave].unique())]
    problems = []
    if len(waves) < 3:
        problems.append(io.Problem(wave, f"{who}: {len(waves)} wave(s) {waves}; at least 3 are needed (a random "
                                         "slope per person and the outcome at a next wave)"))
    if cluster is not None:
        missing = data[cluster].isna()
        if missing.any():
            problems.append(io._problem(cluster, f"{who}: missing {cluster} (every person needs one; a partially "
                                                 "nested trial is not supported here)", data[cluster], missing,
                                        by_index=True))
        elif data[cluster].nunique() < 2:
            problems.append(io.Problem(cluster, f"{who}: a single {cluster} "
                                                f"({io._plain(data[cluster].iloc[0])!r}) in all rows: its random "
                                                "intercept is not identified; leave out cluster="))
    if problems:
        raise io.DataValidationError(problems)


def _check_constant(data: pd.DataFrame, group: str, columns: list[str]) -> None:
    for column in columns:
        counts = data.groupby(group, observed=True)[column].nunique()
        changing = counts[counts > 1]
        if len(changing):
            raise ValueError(f"column {column!r} must be constant within a person, but changes for "
                             f"{len(changing)} people, e.g. {list(changing.index[:SHOWN])}")


def _change_waves(wave: pd.Series, waves) -> tuple:
    available = [io._plain(w) for w in sorted(wave.dropna().unique())]
    if waves is None:
        if len(available) < 3:
            raise ValueError(f"column {wave.name!r}: mediate_change needs 3 waves, found {available}")
        return available[0], available[len(available) // 2], available[-1]
    waves = tuple(waves)
    unknown = [w for w in waves if w not in available]
    if len(waves) != 3 or unknown or not waves[0] < waves[1] < waves[2]:
        raise ValueError(f"waves must be (baseline, mid, end), increasing, from {available}; got {waves}")
    return waves


def _next_wave(data: pd.DataFrame, group: str, wave: str, columns: list[str]) -> pd.DataFrame:
    """Rows with ``{column}_next`` from the person's next wave (missing unless that wave is the next one)."""
    order = {w: k for k, w in enumerate(sorted(data[wave].dropna().unique()))}
    frame = data.sort_values([group, wave]).copy()
    position = frame[wave].map(order)
    following = frame.groupby(group, observed=True)[[*columns]].shift(-1)
    step = frame.assign(_position=position).groupby(group, observed=True)["_position"].shift(-1) - position
    for column in columns:
        frame[f"{column}_next"] = following[column].where(step == 1)
    return frame
