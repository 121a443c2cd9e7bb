"""Adherence: a binomial model of sessions attended out of sessions offered, on lagged self-efficacy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io
from .design import (
    BayesInputError,
    Design,
    _check_priors,
    _covariate_columns,
    _covariate_list,
    _identified,
    _Nodes,
    _standardised,
    _whole,
    registered,
)
from .fitting import fit
from .result import BayesResult
from .sampling import TARGET_ACCEPT

ADHERENCE_PRIORS = {"intercept_sd": 1.5, "effect_sd": 1.0, "person_sd_scale": 1.0}


ADHERENCE = "bayes.adherence"


def adherence(data: pd.DataFrame, predictor: str = "gse_total", attended: str = "sessions_attended",
              offered: str = "sessions_offered", group: str = "participant_id", wave: str = "wave",
              lag: int = 1, covariates: Sequence[str] = (), *, arm: str | None = "arm",
              priors: Mapping[str, float] | None = None, draws: int = 1000, tune: int = 1000, chains: int = 4,
              seed: int = 0, sampler: str = "nutpie", target_accept: float = TARGET_ACCEPT,
              netcdf: str | Path | None = None) -> BayesResult:
    """Binomial model of sessions attended out of sessions offered, on self-efficacy.

    .. math::

       \\text{attended}_{iw} \\sim \\mathrm{Binomial}(\\text{offered}_{iw}, p_{iw}), \\quad
       \\mathrm{logit}\\, p_{iw} = \\eta_0 + \\eta_1 z_{i,w-\\text{lag}} + x_{iw}'\\beta + \\sigma_u u_i,
       \\quad u_i \\sim N(0, 1)

    with :math:`z` the predictor at wave ``w - lag`` of the same participant,
    standardised by its mean and SD (ddof 1) at the first wave where it is
    observed. Priors: :math:`\\eta_0 \\sim N(0, \\text{intercept\\_sd})`,
    :math:`\\eta_1, \\beta \\sim N(0, \\text{effect\\_sd})` (covariates standardised),
    :math:`\\sigma_u \\sim \\mathrm{HalfNormal}(\\text{person\\_sd\\_scale})`;
    :data:`ADHERENCE_PRIORS`.

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial data.
    predictor : str, default "gse_total"
        Self-efficacy score.
    attended, offered : str
        Session counts; rows with none offered, or a missing count or covariate,
        are left out (noted).
    group, wave : str
        Participant and wave columns; one row per participant and wave.
    lag : int, default 1
        Waves between the predictor and the sessions (0: same wave).
    covariates : sequence of str
        Row-level covariates (text or categorical ones as indicators).
    arm : str or None, default "arm"
        Arm column (any coding, see :func:`analysis.io.arm_factor`; constant within
        participant). Not in the model: it labels the observations, so that
        :func:`predictive_summary` can check them by arm. None when the data have none.
    priors : mapping, optional
        Overrides of :data:`ADHERENCE_PRIORS`.
    draws, tune, chains, seed, sampler, target_accept, netcdf
        As :func:`fit`.

    Returns
    -------
    BayesResult
        Variables ``intercept`` (log-odds of attending at the baseline-mean
        predictor), ``se_effect`` (log-odds per baseline SD), ``odds_ratio``,
        ``person_sd``, ``covariate_effect`` (log-odds per covariate unit).

    Raises
    ------
    io.DataValidationError
        Before any model is built, naming the column, rows (index labels) and
        values: a column is missing or not numeric, counts are not whole numbers
        >= 0 or more sessions are attended than offered, a (participant, wave) pair
        repeats, the arm changes within a participant, the predictor does not vary
        at the first wave, or a covariate is constant or collinear.
    BayesInputError
        Bad priors, ``lag`` or sampler settings, or fewer than 2 usable rows.
    """
    covariates = _covariate_list(covariates)
    lag = _whole("lag", lag, 0)
    scores = _lagged_scores(data, predictor, group, wave, lag)
    sessions, offered_rows = _sessions(data, attended, offered, group, wave, covariates, arm)
    rows = sessions.merge(scores, on=[group, wave], how="left", validate="many_to_one")
    usable = rows["_z"].notna().to_numpy()
    notes = [f"{offered_rows - int(usable.sum())} of {offered_rows} rows with sessions offered were left out "
             f"(missing count, {predictor} at wave - {lag} or a covariate)"] if offered_rows > usable.sum() else []
    rows = rows[usable].reset_index(drop=True)
    if arm is not None:
        rows[arm] = rows[arm].cat.remove_unused_categories()
    if len(rows) < 2:
        raise BayesInputError(f"fewer than 2 usable rows: sessions offered with {attended} and {predictor} at "
                              f"wave - {lag} observed")
    cov = _covariate_columns(rows, covariates)
    _identified(pd.concat([rows["_z"].rename(f"{predictor} at wave - {lag}"), cov], axis=1), ADHERENCE)
    ids = list(pd.unique(rows[group]))
    data_arrays = {"attended": rows[attended].to_numpy(np.int64), "offered": rows[offered].to_numpy(np.int64),
                   "person": pd.Series(np.arange(len(ids)), index=ids).reindex(rows[group]).to_numpy(),
                   "predictor": rows["_z"].to_numpy(float)}
    structure = (cov.shape[1] > 0,)
    coords = {"participant": [str(i) for i in ids]}
    if structure[0]:
        data_arrays["cov_matrix"], data_arrays["cov_scale"] = _standardised(cov)
        coords["covariate"] = list(cov.columns)
    info = pd.DataFrame({"participant": rows[group].astype(str), "wave": rows[wave],
                         "offered": rows[offered], "observed": rows[attended]})
    if arm is not None:
        info.insert(1, "arm", rows[arm])
    reported = ("intercept", "se_effect", "odds_ratio", "person_sd") + (("covariate_effect",) if structure[0] else ())
    design = Design(
        model="adherence", data=data_arrays,
        priors={**ADHERENCE_PRIORS, **_check_priors(priors, ADHERENCE_PRIORS)}, coords=coords,
        structure=structure, reported=reported, observed={"attended_obs": info},
        frame=rows.drop(columns=["_z"]), notes=tuple(notes),
        description=(f"{attended} of {offered} on {predictor} at wave - {lag} (standardised at the first wave), "
                     f"{len(rows)} rows, {len(ids)} participants"
                     + (f", covariates {list(cov.columns)}" if structure[0] else "")))
    return fit(design, draws=draws, tune=tune, chains=chains, seed=seed, sampler=sampler,
               target_accept=target_accept, netcdf=netcdf)


def _lagged_scores(data: pd.DataFrame, predictor: str, group: str, wave: str, lag: int) -> pd.DataFrame:
    """``group``, ``wave`` moved on by ``lag`` and ``_z``, the predictor standardised at its first wave."""
    scores = io.model_frame(data, numeric=[predictor], group=group, wave=wave, who=ADHERENCE).data
    first = scores[wave].min()
    baseline = scores.loc[scores[wave] == first, predictor]
    if len(baseline) < 2 or not baseline.std() > 0:
        raise io.DataValidationError([io.Problem(predictor, f"{ADHERENCE}: needs at least 2 different values at "
                                                            f"its first wave ({wave} {first}) to standardise it")])
    return pd.DataFrame({group: scores[group], wave: scores[wave] + lag,
                         "_z": (scores[predictor] - baseline.mean()) / baseline.std()})


def _sessions(data: pd.DataFrame, attended: str, offered: str, group: str, wave: str, covariates: list[str],
              arm: str | None) -> tuple[pd.DataFrame, int]:
    """Rows with sessions offered and the counts and covariates observed; how many rows offered sessions."""
    offering = io.model_frame(data, numeric=[offered], group=group, wave=wave, counts=(attended, offered),
                              who=ADHERENCE).data
    offering = offering[offering[offered] > 0]
    if offering.empty:
        raise io.DataValidationError([io.Problem(offered, f"{ADHERENCE}: no row has sessions offered")])
    sessions = io.model_frame(offering, numeric=[attended, offered], other=covariates, arm=arm, group=group,
                              wave=wave, counts=(attended, offered), who=ADHERENCE).data
    return sessions, len(offering)


@registered("adherence")
def _adherence_model(design: Design):
    import pymc as pm

    (has_covariates,) = design.structure
    with pm.Model(coords=design.coords) as model:
        d = _Nodes(design)
        intercept = pm.Normal("intercept", 0.0, d["prior_intercept_sd"])
        effect = pm.Normal("se_effect", 0.0, d["prior_effect_sd"])
        person_sd = pm.HalfNormal("person_sd", d["prior_person_sd_scale"])
        u = pm.Normal("u", 0.0, 1.0, dims="participant")
        eta = intercept + effect * d["predictor"] + person_sd * u[d["person"]]
        if has_covariates:
            beta = pm.Normal("covariate_std", 0.0, d["prior_effect_sd"], dims="covariate")
            eta = eta + d["cov_matrix"] @ beta
            pm.Deterministic("covariate_effect", beta / d["cov_scale"], dims="covariate")
        pm.Binomial("attended_obs", n=d["offered"], logit_p=eta, observed=d["attended"],
                    shape=d["attended"].shape)
        pm.Deterministic("odds_ratio", pm.math.exp(effect))
    return model
