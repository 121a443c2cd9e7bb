"""Bayesian linear mediation: mediator and outcome regressions sampled jointly, beside the bootstrap."""

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
    _varying,
    registered,
)
from .fitting import fit
from .result import BayesResult, _beside, _expect
from .sampling import TARGET_ACCEPT

MEDIATION_PRIORS = {"intercept_sd": 1.0, "coef_sd": 1.0, "sigma_scale": 1.0}


MEDIATION = "bayes.mediation"


def mediation(data: pd.DataFrame, treatment: str, mediator: str, outcome: str, covariates: Sequence[str] = (),
              *, priors: Mapping[str, float] | None = None, draws: int = 1000, tune: int = 1000,
              chains: int = 4, seed: int = 0, sampler: str = "nutpie", target_accept: float = TARGET_ACCEPT,
              netcdf: str | Path | None = None) -> BayesResult:
    """Bayesian linear mediation: mediator and outcome regressions sampled jointly.

    .. math::

       M = a_0 + a T + x'\\gamma_M + e_M, \\qquad Y = b_0 + c' T + b M + x'\\gamma_Y + e_Y

    with normal errors. ACME :math:`= a b` (the effect through the mediator), ADE
    :math:`= c'`, total :math:`= a b + c'`, proportion mediated :math:`= a b /
    (a b + c')`, all per unit of ``treatment`` (0 to 1 for a binary arm). All
    variables are standardised for sampling; priors on that scale
    (:data:`MEDIATION_PRIORS`): intercepts ``N(0, intercept_sd)``, coefficients
    ``N(0, coef_sd)``, residual SDs ``HalfNormal(sigma_scale)``.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per participant.
    treatment, mediator, outcome : str
        Numeric columns (treatment typically 0/1).
    covariates : sequence of str
        Pre-treatment covariates in both regressions (text ones as indicators).
    priors : mapping, optional
        Overrides of :data:`MEDIATION_PRIORS`.
    draws, tune, chains, seed, sampler, target_accept, netcdf
        As :func:`fit`.

    Returns
    -------
    BayesResult
        ``a_path``, ``b_path``, ``acme``, ``ade``, ``total_effect``,
        ``prop_mediated``, ``sigma`` (coord ``equation``: mediator, outcome) and
        ``covariate_effect`` (covariate, equation). Rows with a missing value in a
        used column are left out (noted).

    Raises
    ------
    io.DataValidationError
        Before any model is built (see :func:`analysis.io.model_frame`): a column
        is missing or not numeric, treatment, mediator or a covariate is constant or
        collinear, or the outcome is constant.
    """
    covariates = _covariate_list(covariates)
    if len({treatment, mediator, outcome}) < 3:
        raise BayesInputError(f"treatment, mediator and outcome must be three different columns, got "
                              f"{treatment!r}, {mediator!r}, {outcome!r}")
    frame = io.model_frame(data, numeric=[treatment, mediator, outcome], other=covariates, who=MEDIATION)
    notes = [f"{frame.n_dropped} rows with a missing value were left out"] if frame.n_dropped else []
    main = frame.data[[treatment, mediator, outcome]].reset_index(drop=True)
    cov = _covariate_columns(frame.data, covariates).reset_index(drop=True)
    if len(main) < 4:
        raise BayesInputError(f"fewer than 4 complete rows ({len(main)})")
    _identified(pd.concat([main[[treatment, mediator]], cov], axis=1), MEDIATION)
    _varying(main[outcome], outcome, MEDIATION)
    standard, sd = _standardised(main)
    arrays = {"treatment": standard[:, 0], "m_value": main[mediator].to_numpy(float),
              "y_value": main[outcome].to_numpy(float), "t_sd": np.asarray(sd[0]),
              "m_center": np.asarray(main[mediator].mean()), "m_sd": np.asarray(sd[1]),
              "y_center": np.asarray(main[outcome].mean()), "y_sd": np.asarray(sd[2])}
    structure = (cov.shape[1] > 0,)
    coords = {"equation": ["mediator", "outcome"]}
    if structure[0]:
        arrays["cov_matrix"], arrays["cov_scale"] = _standardised(cov)
        coords["covariate"] = list(cov.columns)
    rows = pd.DataFrame({"treatment": main[treatment]})
    design = Design(
        model="mediation", data=arrays, priors={**MEDIATION_PRIORS, **_check_priors(priors, MEDIATION_PRIORS)},
        coords=coords, structure=structure,
        reported=("a_path", "b_path", "acme", "ade", "total_effect", "prop_mediated"),
        observed={"m_obs": rows.assign(observed=main[mediator]), "y_obs": rows.assign(observed=main[outcome])},
        frame=pd.concat([main, cov], axis=1), notes=tuple(notes),
        description=(f"{treatment} -> {mediator} -> {outcome}, {len(main)} rows"
                     + (f", covariates {list(cov.columns)}" if structure[0] else "")))
    return fit(design, draws=draws, tune=tune, chains=chains, seed=seed, sampler=sampler,
               target_accept=target_accept, netcdf=netcdf)


def compare_mediate(result: BayesResult, mediate_result) -> pd.DataFrame:
    """Bayesian mediation beside :func:`analysis.mediation.mediate` on the same data and model.

    Rows ``acme``, ``ade``, ``total_effect`` and ``prop_mediated`` with the bootstrap
    estimate and interval of ``mediate_result`` (the interval type it was run with).

    Returns
    -------
    pandas.DataFrame
        As :func:`compare_lmm`, with columns ``boot_estimate``, ``boot_ci_low``, ``boot_ci_high``.
    """
    _expect(result, "mediation")
    table = mediate_result.table
    rows = [(name, *table.loc[label, ["estimate", "ci_low", "ci_high"]])
            for name, label in (("acme", "ACME"), ("ade", "ADE"), ("total_effect", "Total Effect"),
                                ("prop_mediated", "Prop. Mediated"))]
    return _beside(result, rows, "boot")


@registered("mediation")
def _mediation_model(design: Design):
    import pymc as pm

    (has_covariates,) = design.structure
    with pm.Model(coords=design.coords) as model:
        d = _Nodes(design)
        intercept = pm.Normal("intercept_std", 0.0, d["prior_intercept_sd"], dims="equation")
        a = pm.Normal("a_std", 0.0, d["prior_coef_sd"])
        b = pm.Normal("b_std", 0.0, d["prior_coef_sd"])
        c = pm.Normal("c_std", 0.0, d["prior_coef_sd"])
        sigma = pm.HalfNormal("sigma_std", d["prior_sigma_scale"], dims="equation")
        m_part = intercept[0] + a * d["treatment"]
        y_part = intercept[1] + c * d["treatment"]
        if has_covariates:
            gamma = pm.Normal("covariate_std", 0.0, d["prior_coef_sd"], dims=("covariate", "equation"))
            m_part = m_part + d["cov_matrix"] @ gamma[:, 0]
            y_part = y_part + d["cov_matrix"] @ gamma[:, 1]
        m_obs = pm.Normal("m_obs", d["m_center"] + d["m_sd"] * m_part, d["m_sd"] * sigma[0],
                          observed=d["m_value"], shape=d["m_value"].shape)
        y_part = y_part + b * (m_obs - d["m_center"]) / d["m_sd"]
        pm.Normal("y_obs", d["y_center"] + d["y_sd"] * y_part, d["y_sd"] * sigma[1],
                  observed=d["y_value"], shape=d["y_value"].shape)
        a_path = pm.Deterministic("a_path", a * d["m_sd"] / d["t_sd"])
        b_path = pm.Deterministic("b_path", b * d["y_sd"] / d["m_sd"])
        ade = pm.Deterministic("ade", c * d["y_sd"] / d["t_sd"])
        acme = pm.Deterministic("acme", a_path * b_path)
        total = pm.Deterministic("total_effect", acme + ade)
        pm.Deterministic("prop_mediated", acme / total)
        scales = pm.math.stack([d["m_sd"], d["y_sd"]])
        pm.Deterministic("sigma", scales * sigma, dims="equation")
        if has_covariates:
            pm.Deterministic("covariate_effect", scales[None, :] * gamma / d["cov_scale"][:, None],
                             dims=("covariate", "equation"))
    return model
