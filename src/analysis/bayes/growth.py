"""Bivariate growth: coupled self-efficacy and symptom trajectories (model: see :mod:`analysis.bayes`)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import xarray as xr

from .. import io, mixed
from .design import (
    BayesInputError,
    Design,
    _check_priors,
    _covariate_columns,
    _covariate_list,
    _identified,
    _Nodes,
    _observed,
    _standardised,
    _varying,
    registered,
)
from .diagnostics import INTERVAL, _interval_names
from .fitting import fit
from .result import BayesResult, _beside, _expect
from .sampling import TARGET_ACCEPT

GROWTH_PRIORS = {"mean_sd": 1.0, "effect_sd": 1.0, "re_sd_scale": 1.0, "lkj_eta": 2.0,
                 "sigma_scale": 1.0, "resid_eta": 2.0}
PARAMETERIZATIONS = ("centred_levels", "centred", "non_centred")


GROWTH = "bayes.bivariate_growth"


def bivariate_growth(data: pd.DataFrame, x: str, y: str, time: str = "time", group: str = "participant_id",
                     covariates: Sequence[str] | None = None, *, arm: str | None = "arm",
                     wave: str | None = "wave", parameterization: str = "centred_levels",
                     priors: Mapping[str, float] | None = None, draws: int = 1000, tune: int = 1000,
                     chains: int = 4, seed: int = 0, sampler: str = "nutpie",
                     target_accept: float = TARGET_ACCEPT, netcdf: str | Path | None = None) -> BayesResult:
    """Parallel-process growth model of two outcomes with correlated person intercepts and slopes.

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, a row per participant and wave (the trial contract). Rows
        where one outcome is missing contribute the other; rows with neither are
        left out (noted).
    x, y : str
        The two outcomes, e.g. ``"gse_total"`` (self-efficacy) and ``"phq9_total"``.
    time : str, default "time"
        Time since baseline (slopes are per unit of it: weeks in the contract);
        must be observed wherever an outcome is.
    group : str, default "participant_id"
        Participant column.
    covariates : sequence of str, optional
        Person-level covariates (constant within participant; the first observed
        value is used) that shift both intercepts; text or categorical ones are
        coded as indicators. Participants without them are left out (noted).
    arm : str or None, default "arm"
        Arm column in any coding (text, 0/1 or 1/2 codes, booleans, categorical),
        read by :func:`analysis.io.arm_factor`: the reference arm (control-like
        name, else the categorical's first level, else the lowest code) has the
        reference slopes and each other arm shifts both mean slopes. A single arm,
        or None, fits one mean slope per outcome (no arm effects).
    wave : str or None, default "wave"
        Wave column, checked for one row per participant and wave; None when the
        data have none.
    parameterization : {"centred_levels", "centred", "non_centred"}
        Which person effects are sampled centred (see the module docstring):
        levels only (default), all, or none.
    priors : mapping, optional
        Overrides of :data:`GROWTH_PRIORS` (see the module docstring).
    draws, tune, chains, seed, sampler, target_accept, netcdf
        As :func:`fit`.

    Returns
    -------
    BayesResult
        Posterior variables (data scale; coords ``outcome`` = ``[x, y]``, ``arm``
        (reference first; ``["all"]`` when ``arm`` is None), ``treatment_arm``,
        ``effect`` = ``[x intercept, y intercept, x slope, y slope]``,
        ``participant``, ``covariate``): ``intercept_mean`` (outcome; at time 0 and
        average covariates), ``slope_mean`` (arm, outcome; points per unit of
        ``time``), ``arm_effect`` (treatment_arm, outcome; only with two or more
        arms), ``re_sd`` (effect; person-effect SDs at time 0), ``re_corr``
        (effect, effect_bis), ``slope_corr``, ``intercept_corr``, ``sigma``
        (outcome), ``resid_corr``, ``covariate_effect`` (covariate, outcome), and
        the standardised sampling parameters (``*_std``, person levels
        ``level_x``/``level_y`` and the standard normals ``z_*``). The summary's
        first line names the arms and the reference (:func:`analysis.io.describe_arms`).

    Raises
    ------
    io.DataValidationError
        Before any model is built, naming the column, rows (index labels) and
        values: a column is missing or not numeric; ``time`` or ``wave`` is
        missing where an outcome is observed; a (participant, wave) pair repeats;
        an arm is spelled two ways or changes within a participant; a covariate
        varies within a participant, or is constant or collinear with others;
        ``time`` or an outcome is constant.
    BayesInputError
        Bad priors or sampler settings, or too few observations or participants.
    """
    design = _growth_design(data, x, y, time, group, covariates, arm=arm, wave=wave, priors=priors,
                            parameterization=parameterization)
    return fit(design, draws=draws, tune=tune, chains=chains, seed=seed, sampler=sampler,
               target_accept=target_accept, netcdf=netcdf)


def _growth_design(data: pd.DataFrame, x: str, y: str, time: str = "time", group: str = "participant_id",
                   covariates: Sequence[str] | None = None, *, arm: str | None = "arm", wave: str | None = "wave",
                   priors: Mapping[str, float] | None = None, parameterization: str = "centred_levels") -> Design:
    """The :class:`Design` of :func:`bivariate_growth` (same arguments, without sampling)."""
    if parameterization not in PARAMETERIZATIONS:
        raise BayesInputError(f"parameterization must be one of {list(PARAMETERIZATIONS)}, got {parameterization!r}")
    if x == y:
        raise BayesInputError(f"x and y must be different columns, got {x!r} twice")
    covariates = _covariate_list(covariates)
    rows, notes = _growth_observations(data, x, y, time, group, arm, wave)
    person, dropped = _person_table(rows, group, arm, covariates)
    if dropped:
        notes.append(f"{dropped} participants with missing covariates were left out")
    rows = rows[rows[group].isin(person.index)]
    notes += _lost_arms(data, arm, person["_arm"], f"{x} or {y} observed" + (" and covariates" if covariates else ""))
    if rows[x].notna().sum() < 2 or rows[y].notna().sum() < 2:
        raise BayesInputError(f"x ({x!r}) and y ({y!r}) each need at least 2 observed values")
    if person.shape[0] < 3:
        raise BayesInputError(f"at least 3 participants are needed, got {person.shape[0]}")
    _identified(rows[[time]], GROWTH)
    cov = _covariate_columns(person, covariates)
    _identified(cov, GROWTH)
    ids = list(person.index)
    arms = list(person["_arm"].cat.categories)
    design_data, observed = _growth_rows(rows, group, time, pd.Series(np.arange(len(ids)), index=ids),
                                         person["_arm"], (x, y))
    structure = (len(arms) > 1, cov.shape[1] > 0, parameterization)
    effects = [f"{x} intercept", f"{y} intercept", f"{x} slope", f"{y} slope"]
    coords = {"outcome": [x, y], "arm": arms, "effect": effects, "effect_bis": effects,
              "participant": [str(i) for i in ids]}
    if structure[0]:
        design_data["arm_matrix"] = np.column_stack([(person["_arm"] == a).to_numpy(float) for a in arms[1:]])
        coords["treatment_arm"] = arms[1:]
    if structure[1]:
        design_data["cov_matrix"], design_data["cov_scale"] = _standardised(cov)
        coords["covariate"] = list(cov.columns)
    reported = tuple(r for r in ("intercept_mean", "slope_mean", "arm_effect", "re_sd", "slope_corr",
                                 "intercept_corr", "sigma", "resid_corr", "covariate_effect")
                     if (r != "arm_effect" or structure[0]) and (r != "covariate_effect" or structure[1]))
    frame_used = rows[[group, time, x, y, *covariates]].assign(arm=person["_arm"].reindex(rows[group]).to_numpy())
    arms_line = io.describe_arms(person["_arm"]) if arm is not None else "no arm column: one mean slope per outcome"
    description = (f"{x} and {y} over {time}, {len(ids)} participants, {int(rows[x].notna().sum())} {x} and "
                   f"{int(rows[y].notna().sum())} {y} observations, {arms_line}"
                   + (f", covariates {list(cov.columns)}" if structure[1] else ""))
    return Design(model="bivariate_growth", data=design_data, priors={**GROWTH_PRIORS, **_check_priors(
        priors, GROWTH_PRIORS)}, coords=coords, structure=structure, reported=reported, observed=observed,
        frame=frame_used.reset_index(drop=True), description=description, notes=tuple(notes))


def _growth_observations(data: pd.DataFrame, x: str, y: str, time: str, group: str, arm: str | None,
                         wave: str | None) -> tuple[pd.DataFrame, list[str]]:
    """The rows with ``x`` or ``y`` observed, checked by :func:`analysis.io.model_frame`, and notes.

    The outcomes become floats (NaN where one is not observed), ``time`` a float that
    must be observed wherever an outcome is, the arm a categorical with the reference
    first.
    """
    outcomes = {column: _observed(data, column, GROWTH) for column in (x, y)}
    used = ~(np.isnan(outcomes[x]) & np.isnan(outcomes[y]))
    frame = io.model_frame(data[used], numeric=[time], arm=arm, group=group, wave=wave, who=GROWTH)
    if frame.n_dropped:
        rows = data[used]
        raise io.DataValidationError([io._problem(c, "missing where an outcome is observed", rows[c], rows[c].isna(),
                                                  by_index=True) for c in (time, wave)
                                      if c is not None and rows[c].isna().any()])
    notes = [] if used.all() else [f"{int((~used).sum())} rows with neither {x} nor {y} observed were left out"]
    return frame.data.assign(**{column: values[used] for column, values in outcomes.items()}), notes


def _person_table(rows: pd.DataFrame, group: str, arm: str | None,
                  covariates: list[str]) -> tuple[pd.DataFrame, int]:
    """One row per participant (in order of appearance): ``_arm`` and the covariates.

    Covariates must be constant within a participant (the first observed value is
    used); participants without one are left out and counted. Without an arm column
    every participant is in arm ``"all"``.

    Returns
    -------
    person : pandas.DataFrame
        Indexed by participant; ``_arm`` categorical, reference first, unused levels dropped.
    dropped : int
        Participants left out for a missing covariate.
    """
    absent = [c for c in covariates if c not in rows.columns]
    if absent:
        raise io.DataValidationError([io.Problem(c, f"{GROWTH}: column not in the data (argument covariates)")
                                      for c in absent])
    _refuse_varying(rows, group, covariates)
    person = rows.drop_duplicates(group).set_index(group)
    person = pd.DataFrame({"_arm": person[arm] if arm is not None else pd.Categorical(["all"] * len(person))},
                          index=person.index)
    dropped = 0
    if covariates:
        values = io.model_frame(rows.groupby(group, sort=False, observed=True)[covariates].first(),
                                other=covariates, who=GROWTH)
        person, dropped = person.loc[values.data.index].join(values.data[covariates]), values.n_dropped
    return person.assign(_arm=person["_arm"].cat.remove_unused_categories()), dropped


def _refuse_varying(rows: pd.DataFrame, group: str, columns: list[str]) -> None:
    """Person-level columns must take one value per participant (missing values aside)."""
    problems = []
    for column in columns:
        varies = rows.groupby(group, sort=False, observed=True)[column].transform("nunique") > 1
        if varies.any():
            problems.append(io._problem(column, f"varies within a participant (must be constant per {group})",
                                        rows[column], varies, by_index=True))
    if problems:
        raise io.DataValidationError(problems)


def _lost_arms(data: pd.DataFrame, arm: str | None, kept: pd.Series, what: str) -> list[str]:
    """Notes naming the arms of ``data`` that no participant in the model belongs to."""
    if arm is None:
        return []
    levels = io.arm_factor(data[arm], column=arm, by_index=True).categories
    return [f"arm {level!r} has no participant with {what}; it is left out of the model"
            for level in levels if level not in kept.cat.categories]


def _growth_rows(rows: pd.DataFrame, group: str, time: str, position: pd.Series, arm_of: pd.Series,
                 names: tuple[str, str]):
    """Observation arrays of the growth model and the tables of the observed values (outcomes ``names``)."""
    x, y = names
    time_scale = float(rows[time].abs().max())
    person = position.reindex(rows[group]).to_numpy()
    scaled = rows[time].to_numpy(float) / time_scale
    has_x, has_y = rows[x].notna().to_numpy(), rows[y].notna().to_numpy()
    x_value, y_value = rows[x].to_numpy(float), rows[y].to_numpy(float)
    x_position = np.where(has_x, np.cumsum(has_x) - 1, 0)
    data = {
        "x_value": x_value[has_x], "x_person": person[has_x], "x_time": scaled[has_x],
        "y_value": y_value[has_y], "y_person": person[has_y], "y_time": scaled[has_y],
        "y_has_x": has_x[has_y].astype(float), "y_x_position": x_position[has_y],
        "time_scale": np.asarray(time_scale), "time_mid": np.asarray(scaled.mean()),
    }
    for key, column, values in (("x", x, x_value[has_x]), ("y", y, y_value[has_y])):
        _varying(values, column, GROWTH)
        data[f"{key}_center"], data[f"{key}_scale"] = np.asarray(values.mean()), np.asarray(values.std())
    info = pd.DataFrame({"participant": rows[group].astype(str).to_numpy(),
                         "arm": pd.Categorical(arm_of.reindex(rows[group]).to_numpy(),
                                               categories=arm_of.cat.categories),
                         "time": rows[time].to_numpy(float)})
    observed = {"x_obs": info[has_x].assign(outcome=x, observed=x_value[has_x]).reset_index(drop=True),
                "y_obs": info[has_y].assign(outcome=y, observed=y_value[has_y]).reset_index(drop=True)}
    return data, observed


@registered("bivariate_growth")
def _growth_model(design: Design):
    """The PyMC model of :func:`bivariate_growth` (standardised parameters, data-scale outputs)."""
    import pymc as pm
    import pytensor.tensor as pt

    has_arms, has_covariates, parameterization = design.structure
    with pm.Model(coords=design.coords) as model:
        d = _Nodes(design)
        intercept = pm.Normal("intercept_std", 0.0, d["prior_mean_sd"], dims="outcome")
        slope = pm.Normal("slope_std", 0.0, d["prior_mean_sd"], dims="outcome")
        mean_trend = slope[None, :]
        shifts = pt.zeros((1, 2))
        if has_arms:
            effect = pm.Normal("arm_effect_std", 0.0, d["prior_effect_sd"], dims=("treatment_arm", "outcome"))
            mean_trend = mean_trend + d["arm_matrix"] @ effect
            shifts = pt.concatenate([shifts, effect], axis=0)
        mean_level = intercept[None, :] + mean_trend * d["time_mid"]
        if has_covariates:
            gamma = pm.Normal("covariate_std", 0.0, d["prior_effect_sd"], dims=("covariate", "outcome"))
            mean_level = mean_level + d["cov_matrix"] @ gamma
        sds = pm.HalfNormal("re_sd_std", d["prior_re_sd_scale"], dims="effect")
        factor = _lkj_cholesky("re_cpc", d["prior_lkj_eta"], 4)
        corr = factor @ factor.T
        chol = sds[:, None] * factor
        centred = {"centred": (True,) * 4, "centred_levels": (True, True, False, False),
                   "non_centred": (False,) * 4}[parameterization]
        effects = _person_effects(("level_x", "level_y", "slope_x", "slope_y"), centred,
                                  pt.concatenate(pt.broadcast_arrays(mean_level, mean_trend), axis=1), chol)
        level, trend = effects[:, :2], effects[:, 2:]
        sigma = pm.HalfNormal("sigma_std", d["prior_sigma_scale"], dims="outcome")
        unit = pm.Beta("resid_corr_unit", d["prior_resid_eta"], d["prior_resid_eta"])
        rho = pm.Deterministic("resid_corr", 2.0 * unit - 1.0)
        center = pt.stack([d["x_center"], d["y_center"]])
        scale = pt.stack([d["x_scale"], d["y_scale"]])
        x_person, y_person = d["x_person"], d["y_person"]
        mu_x = d["x_center"] + d["x_scale"] * (level[:, 0][x_person]
                                               + trend[:, 0][x_person] * (d["x_time"] - d["time_mid"]))
        sd_x = d["x_scale"] * sigma[0]
        x_obs = pm.Normal("x_obs", mu_x, sd_x, observed=d["x_value"], shape=d["x_value"].shape)
        residual = d["y_has_x"] * (x_obs - mu_x)[d["y_x_position"]] / sd_x
        mu_y = d["y_center"] + d["y_scale"] * (level[:, 1][y_person]
                                               + trend[:, 1][y_person] * (d["y_time"] - d["time_mid"]))
        sd_y = d["y_scale"] * sigma[1]
        pm.Normal("y_obs", mu_y + rho * sd_y * residual, sd_y * pt.sqrt(1.0 - d["y_has_x"] * rho**2),
                  observed=d["y_value"], shape=d["y_value"].shape)
        per_time = scale / d["time_scale"]
        pm.Deterministic("intercept_mean", center + scale * intercept, dims="outcome")
        pm.Deterministic("slope_mean", per_time * (slope[None, :] + shifts), dims=("arm", "outcome"))
        if has_arms:
            pm.Deterministic("arm_effect", per_time * effect, dims=("treatment_arm", "outcome"))
        if has_covariates:
            pm.Deterministic("covariate_effect", scale[None, :] * gamma / d["cov_scale"][:, None],
                             dims=("covariate", "outcome"))
        at_zero = pt.eye(4) - d["time_mid"] * pt.eye(4, k=2)
        loading = pt.concatenate([scale, per_time])[:, None] * at_zero * sds[None, :]
        cov = loading @ corr @ loading.T
        re_sd = pm.Deterministic("re_sd", pt.sqrt(pt.diag(cov)), dims="effect")
        re_corr = pm.Deterministic("re_corr", cov / pt.outer(re_sd, re_sd), dims=("effect", "effect_bis"))
        pm.Deterministic("slope_corr", corr[2, 3])
        pm.Deterministic("intercept_corr", re_corr[0, 1])
        pm.Deterministic("sigma", scale * sigma, dims="outcome")
    return model


def _person_effects(names: Sequence[str], centred: Sequence[bool], mean, chol):
    """Person effects ``mean + chol @ z`` (participant x effect), effect by effect.

    Effect ``k`` given the earlier ones is normal with mean ``mean_k + chol[k, :k] @ z[:k]``
    and SD ``chol[k, k]``. A centred effect is sampled as that normal variable
    (named ``names[k]``) and its ``z_k`` recovered from it; a non-centred one samples
    ``z_k ~ N(0, 1)`` (named ``z_<name>``). Centring suits effects the data pin down
    well per person (levels), non-centring weakly identified ones (slopes).
    """
    import pymc as pm
    import pytensor.tensor as pt

    z, columns = [], []
    for k, (name, centre) in enumerate(zip(names, centred)):
        conditional = mean[:, k] + sum((chol[k, j] * z[j] for j in range(k)), pt.zeros(()))
        if centre:
            value = pm.Normal(name, conditional, chol[k, k], dims="participant")
            z.append((value - conditional) / chol[k, k])
        else:
            z.append(pm.Normal(f"z_{name}", 0.0, 1.0, dims="participant"))
            value = conditional + chol[k, k] * z[k]
        columns.append(value)
    return pt.stack(columns, axis=1)


def _lkj_cholesky(name: str, eta, n: int):
    """Cholesky factor of an n x n correlation matrix with an LKJ(eta) prior, eta may be data.

    PyMC's LKJ needs a constant eta; here the canonical partial correlations are
    independent, ``(cpc + 1) / 2 ~ Beta(a_i, a_i)`` with ``a_i = eta + (n - 2 - i) / 2`` for
    column ``i``, which makes the correlation matrix LKJ(eta) (Lewandowski, Kurowicka
    and Joe, 2009; Stan's ``lkj_corr_cholesky_rng``), and the factor is built from
    them as Stan's ``read_corr_L`` does.
    """
    import pymc as pm
    import pytensor.tensor as pt

    pairs = [(row, col) for col in range(n - 1) for row in range(col + 1, n)]
    alpha = eta + (n - 2 - np.array([col for _, col in pairs], dtype=float)) / 2
    cpc = 2.0 * pm.Beta(f"{name}_unit", alpha, alpha, shape=len(pairs)) - 1.0
    where = {pair: k for k, pair in enumerate(pairs)}
    zero = pt.as_tensor_variable(0.0)
    rows = []
    for row in range(n):
        remaining, entries = pt.as_tensor_variable(1.0), []
        for col in range(row):
            partial = cpc[where[(row, col)]]
            entries.append(partial * pt.sqrt(remaining))
            remaining = remaining * (1.0 - partial**2)
        rows.append(pt.stack([*entries, pt.sqrt(remaining), *[zero] * (n - row - 1)]))
    return pt.stack(rows)


def trajectories(result: BayesResult, times: Sequence[float] | None = None, prob: float = INTERVAL) -> pd.DataFrame:
    """Posterior mean trajectories by arm with credible bands (bivariate growth only).

    Parameters
    ----------
    result : BayesResult
        From :func:`bivariate_growth`.
    times : sequence of float, optional
        Times to evaluate; default the observed times.
    prob : float
        Probability of the equal-tailed band.

    Returns
    -------
    pandas.DataFrame
        Columns ``outcome``, ``arm``, ``time``, ``mean`` and the band bounds: the
        expected outcome of a participant with average covariates.
    """
    _expect(result, "bivariate_growth")
    if times is None:
        times = sorted(set(np.concatenate([t["time"].to_numpy() for t in result.design.observed.values()])))
    grid = xr.DataArray(np.asarray(times, dtype=float), dims="time", coords={"time": np.asarray(times, float)})
    path = result.idata.posterior["intercept_mean"] + result.idata.posterior["slope_mean"] * grid
    low, high = _interval_names(prob)
    dims = ("chain", "draw")
    table = xr.Dataset({"mean": path.mean(dims), low: path.quantile((1 - prob) / 2, dims).drop_vars("quantile"),
                        high: path.quantile((1 + prob) / 2, dims).drop_vars("quantile")})
    return table.to_dataframe().reset_index()[["outcome", "arm", "time", "mean", low, high]]


def compare_lmm(result: BayesResult) -> pd.DataFrame:
    """Bivariate growth posteriors next to separate REML mixed models of each outcome.

    Each outcome is fitted with :func:`analysis.mixed.fit_lmm` with the same
    fixed effects as the Bayesian model (common intercept, slope by arm,
    covariates centred at their participant mean) and correlated random
    intercepts and slopes. The joint model adds the cross-outcome correlations,
    which separate models cannot estimate.

    Returns
    -------
    pandas.DataFrame
        One row per shared quantity (labels as in the result's table):
        posterior ``bayes_mean`` and 95% interval, ``lmm_estimate`` with its 95%
        interval (fixed effects) and ``difference_sd`` (difference in posterior
        SDs). ``attrs["warnings"]`` holds the mixed models' warnings.
    """
    _expect(result, "bivariate_growth")
    design = result.design
    rows, messages = [], []
    for outcome, key in zip(design.coords["outcome"], ("x", "y")):
        lmm, terms = _outcome_lmm(design, key)
        messages += [f"{outcome}: {w}" for w in lmm.warnings]
        sd = lmm.re_sd_corr
        pairs = [(f"intercept_mean[{outcome}]", "Intercept"),
                 (f"slope_mean[{design.coords['arm'][0]}, {outcome}]", "time")]
        pairs += [(f"arm_effect[{a}, {outcome}]", t) for a, t in terms["arm"]]
        pairs += [(f"covariate_effect[{c}, {outcome}]", t) for c, t in terms["covariate"]]
        for label, term in pairs:
            fixed = lmm.fixed.loc[term]
            rows.append((label, fixed["estimate"], fixed["ci_low"], fixed["ci_high"]))
        rows += [(f"re_sd[{outcome} intercept]", sd.iloc[0, 0], np.nan, np.nan),
                 (f"re_sd[{outcome} slope]", sd.iloc[1, 1], np.nan, np.nan),
                 (f"sigma[{outcome}]", np.sqrt(lmm.sigma2), np.nan, np.nan)]
    out = _beside(result, rows, "lmm")
    out.attrs["warnings"] = messages
    return out


def _outcome_lmm(design: Design, key: str):
    """REML fit of one outcome with the Bayesian model's fixed effects; term names by role."""
    d = design.data
    person = pd.Series(d[f"{key}_person"])
    frame = pd.DataFrame({"value": d[f"{key}_value"], "person": person,
                          "time": d[f"{key}_time"] * float(d["time_scale"])})
    terms = {"arm": [], "covariate": []}
    if "arm_matrix" in d:
        for k, arm in enumerate(design.coords["treatment_arm"]):
            frame[f"arm{k}"] = d["arm_matrix"][person, k] * frame["time"]
            terms["arm"].append((arm, f"arm{k}"))
    if "cov_matrix" in d:
        for k, name in enumerate(design.coords["covariate"]):
            frame[f"cov{k}"] = d["cov_matrix"][person, k] * d["cov_scale"][k]
            terms["covariate"].append((name, f"cov{k}"))
    formula = " + ".join(["value ~ time", *(t for _, t in terms["arm"] + terms["covariate"])])
    return mixed.fit_lmm(frame, formula, "person", re_formula="~time"), terms
