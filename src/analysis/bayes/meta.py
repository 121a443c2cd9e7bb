"""Bayesian random-effects meta-analysis with known sampling variances, beside :func:`analysis.meta.rma`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from .. import io
from ..meta import FIXED
from .design import BayesInputError, Design, _Nodes, _positive, registered
from .fitting import fit
from .result import BayesResult, _beside, _expect

TAU_PRIORS = ("half_cauchy", "half_normal")


def meta_analysis(yi, vi, studies: Sequence[str] | None = None, *, tau_prior: str = "half_cauchy",
                  tau_scale: float = 0.5, mu_sd: float = 1.0, draws: int = 1000, tune: int = 1000,
                  chains: int = 4, seed: int = 0, sampler: str = "nutpie", target_accept: float = 0.95,
                  netcdf: str | Path | None = None) -> BayesResult:
    """Bayesian random-effects meta-analysis with known sampling variances.

    .. math::

       y_k \\sim N(\\theta_k, v_k), \\quad \\theta_k = \\mu + \\tau z_k, \\quad z_k \\sim N(0, 1),
       \\quad \\mu \\sim N(0, \\text{mu\\_sd}^2), \\quad \\tau \\sim \\text{half-Cauchy or
       half-normal}(\\text{tau\\_scale})

    Parameters
    ----------
    yi, vi : array-like
        Effect sizes and their sampling variances (e.g. from ``escalc``), same length >= 2.
    studies : sequence of str, optional
        Study labels; default the index of ``yi`` if it is a Series, else 1..k.
    tau_prior : {"half_cauchy", "half_normal"}
        Prior family of the between-study SD.
    tau_scale, mu_sd : float
        Prior scale of tau and prior SD of mu, on the effect-size scale (the
        defaults suit log ratios, standardised differences and Fisher's z).
    draws, tune, chains, seed, sampler, target_accept, netcdf
        As :func:`fit` (target_accept defaults to 0.95: few studies make a funnel).

    Returns
    -------
    BayesResult
        ``mu``, ``tau``, ``theta`` (shrunken study effects, coord ``study``) and
        ``theta_new`` (the effect in a new study).
    """
    y = _vector(yi, "yi")
    v = _vector(vi, "vi")
    if len(y) != len(v):
        raise BayesInputError(f"yi and vi must have the same length, got {len(y)} and {len(v)}")
    if len(y) < 2:
        raise BayesInputError(f"at least 2 studies are needed, got {len(y)}")
    if studies is None:
        studies = list(yi.index) if isinstance(yi, pd.Series) else list(range(1, len(y) + 1))
    studies = [str(s) for s in studies]
    if len(studies) != len(y) or len(set(studies)) != len(studies):
        raise BayesInputError(f"studies must be {len(y)} distinct labels, got {studies!r}")
    problems = [_study_problem(name, values, bad, reason) for name, values, bad, reason in (
        ("yi", y, ~np.isfinite(y), "must be finite numbers"),
        ("vi", v, ~(np.isfinite(v) & (v > 0)), "must be positive finite numbers")) if bad.any()]
    if problems:
        raise io.DataValidationError(problems)
    if tau_prior not in TAU_PRIORS:
        raise BayesInputError(f"tau_prior must be one of {list(TAU_PRIORS)}, got {tau_prior!r}")
    for name, value in (("tau_scale", tau_scale), ("mu_sd", mu_sd)):
        if not _positive(value):
            raise BayesInputError(f"{name} must be a positive finite number, got {value!r}")
    priors = {"tau_scale": float(tau_scale), "mu_sd": float(mu_sd)}
    table = pd.DataFrame({"study": studies, "observed": y, "vi": v})
    design = Design(
        model="meta_analysis", data={"yi": y, "vi": v}, priors=priors, coords={"study": studies},
        structure=(tau_prior,), reported=("mu", "tau", "theta", "theta_new"), observed={"y_obs": table},
        frame=table.rename(columns={"observed": "yi"}),
        description=f"{len(y)} studies, tau ~ {tau_prior}({tau_scale:g}), mu ~ N(0, {mu_sd:g}^2)")
    return fit(design, draws=draws, tune=tune, chains=chains, seed=seed, sampler=sampler,
               target_accept=target_accept, netcdf=netcdf)


def compare_rma(result: BayesResult, rma_result) -> pd.DataFrame:
    """Bayesian meta-analysis beside a frequentist :func:`analysis.meta.rma` fit of the same studies.

    Rows ``mu`` (pooled effect: estimate and confidence interval), ``tau`` (square root of
    tau2 and of its Q-profile limits) and ``theta_new`` (the predicted effect in a new study:
    the prediction interval). With few studies the posterior of tau, and so the width of
    every interval, depends on its prior; REML's tau2 can sit at 0 where the posterior cannot.

    Returns
    -------
    pandas.DataFrame
        As :func:`compare_lmm`, with columns ``rma_estimate``, ``rma_ci_low``, ``rma_ci_high``.
    """
    _expect(result, "meta_analysis")
    if rma_result.beta.size != 1:
        raise BayesInputError("compare_rma needs an rma fit without moderators")
    pooled = rma_result.predict().iloc[0]
    if rma_result.method in FIXED:
        tau = pd.Series([0.0, np.nan, np.nan], index=["estimate", "ci_lb", "ci_ub"])
    else:
        tau = np.sqrt(rma_result.confint().loc["tau^2"])
    rows = [("mu", pooled["pred"], pooled["ci_lb"], pooled["ci_ub"]),
            ("tau", tau["estimate"], tau["ci_lb"], tau["ci_ub"]),
            ("theta_new", pooled["pred"], pooled.get("pi_lb", np.nan), pooled.get("pi_ub", np.nan))]
    return _beside(result, rows, "rma")


def _study_problem(name: str, values: np.ndarray, bad: np.ndarray, reason: str) -> io.Problem:
    """A problem naming the studies (1-based positions, shown as rows) and their values."""
    where = np.flatnonzero(bad)
    shown = where[:io.SHOWN]
    return io.Problem(name, reason, rows=tuple(int(k) + 1 for k in shown),
                      values=tuple(io._plain(values[k]) for k in shown), count=len(where))


def _vector(values, name: str) -> np.ndarray:
    try:
        array = np.asarray(values, dtype=float)
    except (TypeError, ValueError):
        raise BayesInputError(f"{name} must be numbers, got {values!r}") from None
    if array.ndim != 1:
        raise BayesInputError(f"{name} must be one-dimensional, got shape {array.shape}")
    return array


@registered("meta_analysis")
def _meta_model(design: Design):
    import pymc as pm

    (tau_prior,) = design.structure
    with pm.Model(coords=design.coords) as model:
        d = _Nodes(design)
        mu = pm.Normal("mu", 0.0, d["prior_mu_sd"])
        family = pm.HalfCauchy if tau_prior == "half_cauchy" else pm.HalfNormal
        tau = family("tau", d["prior_tau_scale"])
        z = pm.Normal("z", 0.0, 1.0, dims="study")
        theta = pm.Deterministic("theta", mu + tau * z, dims="study")
        pm.Normal("y_obs", theta, pm.math.sqrt(d["vi"]), observed=d["yi"], shape=d["yi"].shape)
        z_new = pm.Normal("z_new", 0.0, 1.0)
        pm.Deterministic("theta_new", mu + tau * z_new)
    return model
