r"""Bayesian models in PyMC: coupled SE and symptom growth, adherence, meta-analysis, mediation.

Every model here is built from the same blocks:

* a :class:`Design` holds the data as arrays (one ``pm.Data`` node each), the prior
  hyperparameters (also data), the coordinates and the *structure* (the options
  that change the model graph). The model functions build it from the user's table
  through :func:`analysis.io.model_frame` (columns, numbers, waves, arms) and
  :func:`analysis.io.check_design` (constant or collinear covariates), so that bad
  input is refused, naming columns, rows and values, before any model is built; a
  model registers only the data its structure uses;
* :func:`sample` draws from the posterior with nutpie (default), PyMC's own NUTS
  (``sampler="pymc"``) or NumPyro (``sampler="numpyro"``, needs ``jax`` and
  ``numpyro``; on a machine with a GPU, JAX uses it). A model is built and
  compiled once per structure and number of parameters and kept in memory
  (:data:`CACHE_SIZE` models); a later fit with the same structure but other data
  or priors swaps the data into the compiled model (nutpie's ``with_data``,
  ``pm.set_data``) instead of compiling again. nutpie compiles the log density
  with numba (its default; the JAX backend needs ``jax``);
* :func:`diagnose` checks R-hat, bulk and tail ESS, divergences, BFMI and the
  tree-depth limit, and writes a verdict ("converged" or what is wrong);
* :func:`fit` ties these together, stores the draws as NetCDF when asked and
  reuses the file while a fingerprint of data, priors, model and sampler
  settings is unchanged; :func:`prior_predictive`, :func:`posterior_predictive`,
  :func:`predictive_summary` and :func:`prior_sensitivity` work on any result.

Every model samples standardised parameters (outcomes centred and scaled by their
sample mean and SD, time divided by its largest absolute value, covariates
standardised) so that the sampler sees unit-scale posteriors, and reports every
quantity on the data's own scale as ``pm.Deterministic``.

Bivariate growth (:func:`bivariate_growth`)
-------------------------------------------
For participant :math:`i` at time :math:`t_{ij}` (the data's unit, weeks in the
trial contract) with self-efficacy :math:`x_{ij}` and symptoms :math:`y_{ij}`,

.. math::

   x_{ij} &= \alpha^x_i + \beta^x_i t_{ij} + e^x_{ij}, \qquad
   y_{ij} = \alpha^y_i + \beta^y_i t_{ij} + e^y_{ij}, \qquad
   (e^x_{ij}, e^y_{ij}) \sim N\!\left(0, \begin{pmatrix} \sigma_x^2 &
   \rho_e \sigma_x \sigma_y \\ \rho_e \sigma_x \sigma_y & \sigma_y^2 \end{pmatrix}\right) \\
   \alpha^o_i &= \mu^o + x_i'\gamma^o + a^o_i, \qquad
   \beta^o_i = \beta^o_{\mathrm{arm}(i)} + b^o_i, \qquad
   (a^x_i, a^y_i, b^x_i, b^y_i) \sim N(0, \Sigma), \quad
   \Sigma = \mathrm{diag}(\tau)\, \Omega\, \mathrm{diag}(\tau)

with a common baseline mean :math:`\mu^o` per outcome (arms are randomised),
person-level covariates :math:`x_i`, a mean slope per outcome and arm (the
reference arm's slope plus arm effects; arms as :func:`analysis.io.arm_factor`
reads them, and one mean slope per outcome for a single arm or without an arm
column) and :math:`\Omega` the correlation of the person effects. ``slope_corr``
is :math:`\mathrm{corr}(b^x, b^y)`. Rows with one outcome missing contribute that
outcome's marginal likelihood, so participants with missing waves or items stay in.

*Sampling.* The person effects are written as :math:`\Sigma`'s Cholesky factor
times standard normals, effect by effect (:func:`_person_effects`), and defined at
the middle of the observed follow-up :math:`\bar t` (levels :math:`\alpha_i +
\beta_i \bar t`), where levels and slopes are least correlated in the likelihood;
``re_sd``, ``re_corr`` and ``intercept_corr`` are transformed back to time 0 for
reporting. ``parameterization`` chooses which effects are centred (sampled as
themselves) or non-centred (sampled as the standard normals): the default
``"centred_levels"`` centres the person levels, which six waves pin down closely,
and non-centres the slopes, which they do not (fully non-centred, the sampler
mixed poorly for the level SDs and means on simulated trials: R-hat 1.02, bulk ESS
below 200 from 4000 draws). :math:`\Omega`'s Cholesky factor is built from
canonical partial correlations with Beta priors that make :math:`\Omega \sim
\mathrm{LKJ}(\eta)` exactly (PyMC's LKJ needs a constant :math:`\eta`; here it is
data, so prior-sensitivity refits reuse the compiled model).

*Priors*, on the standardised scale (outcome SD units; time in units of its
largest value) and applying to the person effects at :math:`\bar t`: baseline
means and reference slopes ``N(0, mean_sd)``; arm and covariate effects
``N(0, effect_sd)``; person-effect SDs ``HalfNormal(re_sd_scale)``;
:math:`\Omega \sim \mathrm{LKJ}(\text{lkj\_eta})`; residual SDs
``HalfNormal(sigma_scale)``; :math:`(\rho_e + 1)/2 \sim \mathrm{Beta}(\text{resid\_eta},
\text{resid\_eta})`. Defaults 1, 1, 1, 2, 1, 2 (:data:`GROWTH_PRIORS`).

Other models
------------
:func:`adherence`: sessions attended out of sessions offered,
:math:`\mathrm{Binomial}(n_{iw}, p_{iw})`, :math:`\mathrm{logit}\, p_{iw} =
\eta_0 + \eta_1 z_{i,w-1} + u_i`, :math:`u_i \sim N(0, \sigma_u^2)` (non-centred),
with :math:`z` the SE score at the previous wave standardised by the baseline mean
and SD. :func:`meta_analysis`: :math:`y_k \sim N(\theta_k, v_k)`,
:math:`\theta_k = \mu + \tau z_k`. :func:`mediation`: mediator and outcome
regressions sampled jointly; ACME :math:`= a b`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.metadata
import importlib.util
import itertools
import json
import logging
import os
import time as _time
import warnings
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from . import __version__, io, meta, mixed

__all__ = [
    "BayesInputError",
    "BayesResult",
    "Design",
    "Diagnostics",
    "SamplerUnavailableError",
    "adherence",
    "bivariate_growth",
    "clear_cache",
    "compare_lmm",
    "diagnose",
    "fit",
    "load",
    "mediation",
    "meta_analysis",
    "posterior_predictive",
    "predictive_summary",
    "prior_predictive",
    "prior_sensitivity",
    "sample",
    "save",
    "trajectories",
]

SAMPLERS = ("nutpie", "pymc", "numpyro")
#: Convergence thresholds of :func:`diagnose` (Vehtari et al., 2021).
RHAT_MAX = 1.01
#: R-hat limit for the quantities not reported (person effects, sampling parameters): with
#: thousands of them a few exceed 1.01 by chance, so only clear non-convergence is flagged.
RHAT_MAX_OTHERS = 1.05
ESS_MIN = 400
BFMI_MIN = 0.3
#: Probability of the equal-tailed credible intervals reported.
INTERVAL = 0.9
#: Predictive p-values below this or above 1 minus this are flagged as extreme.
EXTREME_P = 0.025
TARGET_ACCEPT = 0.8
#: Compiled models kept in memory (least recently used dropped first).
CACHE_SIZE = 8
SHOWN = 3  # parameters named per problem in a verdict

GROWTH_PRIORS = {"mean_sd": 1.0, "effect_sd": 1.0, "re_sd_scale": 1.0, "lkj_eta": 2.0,
                 "sigma_scale": 1.0, "resid_eta": 2.0}
ADHERENCE_PRIORS = {"intercept_sd": 1.5, "effect_sd": 1.0, "person_sd_scale": 1.0}
MEDIATION_PRIORS = {"intercept_sd": 1.0, "coef_sd": 1.0, "sigma_scale": 1.0}
TAU_PRIORS = ("half_cauchy", "half_normal")
PARAMETERIZATIONS = ("centred_levels", "centred", "non_centred")

_SOURCE_HASH = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()


class BayesInputError(ValueError):
    """An argument of a Bayesian model is invalid (the message names it and its value)."""


class SamplerUnavailableError(ImportError, ValueError):
    """The requested sampler needs packages that are not installed (the message names them)."""


# --------------------------------------------------------------------------- designs


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


# --------------------------------------------------------------------------- results


@dataclass(frozen=True, eq=False)
class Diagnostics:
    """Convergence diagnostics of one fit.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per reported scalar (``name[coord, ...]``): posterior ``mean``,
        ``sd``, the equal-tailed interval bounds (``5%``, ``95%`` for 90%),
        ``mcse_mean``, ``ess_bulk``, ``ess_tail`` and ``r_hat``.
    divergences : int
        Divergent transitions after tuning.
    draws, chains : int
        Draws per chain and chains.
    bfmi : tuple of float
        Bayesian fraction of missing information (energy), per chain.
    treedepth_hits : int
        Draws that stopped at the sampler's maximum tree depth.
    max_rhat_all : float
        Largest R-hat over every quantity in the posterior (NaN when all constant).
    problems : tuple of str
        What is wrong, one line each; empty when the fit converged.
    """

    table: pd.DataFrame
    divergences: int
    draws: int
    chains: int
    bfmi: tuple[float, ...]
    treedepth_hits: int
    max_rhat_all: float
    problems: tuple[str, ...]

    @property
    def converged(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    @property
    def verdict(self) -> str:
        """``"converged"`` or the problems found, separated by semicolons."""
        return "converged" if self.converged else "; ".join(self.problems)

    def summary(self) -> str:
        """The table and one line per diagnostic, then the verdict."""
        table = self.table.to_string(float_format=lambda v: f"{v:.4g}")
        bfmi = ", ".join(f"{b:.2f}" for b in self.bfmi) or "not available"
        return "\n".join([
            table,
            f"Divergent transitions: {self.divergences} of {self.draws * self.chains} draws; "
            f"BFMI per chain: {bfmi}; maximum tree depth reached: {self.treedepth_hits} times; "
            f"largest R-hat over all quantities: {self.max_rhat_all:.4f}",
            f"Verdict: {self.verdict}",
        ])


@dataclass(frozen=True, eq=False)
class BayesResult:
    """A fitted Bayesian model.

    Attributes
    ----------
    model : str
        Model name.
    idata : arviz.InferenceData
        ``posterior`` (named coordinates) and ``sample_stats``; the posterior's
        ``attrs`` hold the fingerprint and sampler settings.
    diagnostics : Diagnostics
    design : Design
        Data, priors and structure the model was fitted with.
    settings : dict
        ``draws``, ``tune``, ``chains``, ``seed``, ``sampler``, ``target_accept``.
    reused : bool
        True when the draws were read from a NetCDF file written for the same inputs.
    """

    model: str
    idata: az.InferenceData = field(repr=False)
    diagnostics: Diagnostics = field(repr=False)
    design: Design = field(repr=False)
    settings: dict
    reused: bool = False

    @property
    def verdict(self) -> str:
        """The diagnostics verdict: ``"converged"`` or what is wrong."""
        return self.diagnostics.verdict

    @property
    def warnings(self) -> list[str]:
        """Notes on the data used and the sampler (a fallback from nutpie), then every convergence problem."""
        sampler = [self.idata.posterior.attrs["sampler_note"]] if "sampler_note" in self.idata.posterior.attrs else []
        return [*self.design.notes, *sampler, *self.diagnostics.problems]

    def table(self) -> pd.DataFrame:
        """Posterior summary and diagnostics of the reported quantities."""
        return self.diagnostics.table

    def draws(self, name: str) -> xr.DataArray:
        """All posterior draws of one variable, chains stacked into ``sample``."""
        return self.idata.posterior[name].stack(sample=("chain", "draw"))

    def probability(self, name: str, below: float | None = None, above: float | None = None) -> float:
        """Posterior probability that a scalar variable lies below and/or above given values."""
        values = self.draws(name)
        if values.ndim != 1:
            raise BayesInputError(f"probability needs a scalar variable; {name!r} has dims {values.dims[:-1]}")
        inside = np.ones(values.shape, dtype=bool)
        if below is not None:
            inside &= values.values < below
        if above is not None:
            inside &= values.values > above
        return float(inside.mean())

    def summary(self) -> str:
        """Text summary: model, data, sampler, posterior table with diagnostics, verdict, warnings."""
        s = self.settings
        source = "draws read from NetCDF (inputs unchanged)" if self.reused else "sampled"
        lines = [
            f"Bayesian {self.model.replace('_', ' ')}: {self.design.description}",
            f"Sampler {s['sampler']}: {s['chains']} chains x {s['draws']} draws after {s['tune']} "
            f"tuning steps, target_accept {s['target_accept']}, seed {s['seed']} ({source})",
            f"Intervals: equal-tailed {INTERVAL:.0%}",
            "",
            self.diagnostics.summary(),
        ]
        if self.warnings:
            lines += ["", "Warnings:", *(f"  {w}" for w in self.warnings)]
        return "\n".join(lines)


# --------------------------------------------------------------------------- sampling


@dataclass
class _Entry:
    model: object
    compiled: object = None


_CACHE: OrderedDict = OrderedDict()


def clear_cache() -> None:
    """Forget every built and compiled model (the next fit builds and compiles again)."""
    _CACHE.clear()


def _entry(design: Design) -> _Entry:
    """The cached model for the design's key, holding the design's data."""
    import pymc as pm

    if design.key in _CACHE:
        _CACHE.move_to_end(design.key)
    else:
        _CACHE[design.key] = _Entry(_BUILDERS[design.model](design))
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    entry = _CACHE[design.key]
    pm.set_data(_values(design, entry.model), model=entry.model)
    return entry


def _whole(name: str, value, low: int) -> int:
    """``value`` as an int; anything but a whole number >= ``low`` raises, naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise BayesInputError(f"{name} must be a whole number >= {low}, got {value!r}")
    return int(value)


def _settings(draws, tune, chains, seed, sampler, target_accept) -> dict:
    for name, value, low in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1), ("seed", seed, 0)):
        _whole(name, value, low)
    if sampler not in SAMPLERS:
        raise BayesInputError(f"sampler must be one of {list(SAMPLERS)}, got {sampler!r}")
    if not (isinstance(target_accept, (int, float)) and 0 < target_accept < 1):
        raise BayesInputError(f"target_accept must lie strictly between 0 and 1, got {target_accept!r}")
    return {"draws": int(draws), "tune": int(tune), "chains": int(chains), "seed": int(seed),
            "sampler": sampler, "target_accept": float(target_accept)}


def _require_numpyro() -> None:
    missing = [name for name in ("jax", "numpyro") if importlib.util.find_spec(name) is None]
    if missing:
        raise SamplerUnavailableError(
            f"sampler='numpyro' needs the package(s) {', '.join(missing)}, which are not installed; "
            "install them (e.g. `pip install numpyro jax`, or jax[cuda12] for a GPU) or use "
            "sampler='nutpie' or sampler='pymc'"
        )


@contextmanager
def _quiet():
    """Silence PyMC's progress logging and compile-time warnings while sampling."""
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            warnings.simplefilter("ignore", category=FutureWarning)
            warnings.simplefilter("ignore", category=RuntimeWarning)
            yield
    finally:
        logger.setLevel(level)


def sample(design: Design, *, draws: int = 1000, tune: int = 1000, chains: int = 4, seed: int = 0,
           sampler: str = "nutpie", target_accept: float = TARGET_ACCEPT) -> az.InferenceData:
    """Draw from a design's posterior.

    Parameters
    ----------
    design : Design
        What to fit (see the model functions, e.g. :func:`bivariate_growth`).
    draws, tune, chains : int
        Draws kept per chain, tuning steps per chain, chains (run in parallel on
        up to ``os.cpu_count()`` cores).
    seed : int
        Seed of every random step; the same inputs give the same draws.
    sampler : {"nutpie", "pymc", "numpyro"}
        nutpie (numba-compiled, compiled once per model structure and reused),
        PyMC's NUTS, or NumPyro's NUTS through JAX (uses a GPU when JAX has one).
    target_accept : float
        Target acceptance rate of the step-size adaptation.

    Returns
    -------
    arviz.InferenceData
        ``posterior`` with the design's coordinates and ``sample_stats``;
        ``posterior.attrs`` holds ``compile_seconds`` (nutpie; 0 when the compiled
        model was reused) and ``sampling_seconds``.

    Raises
    ------
    BayesInputError
        A setting is out of range or the sampler unknown.
    SamplerUnavailableError
        ``sampler="numpyro"`` without ``jax`` and ``numpyro`` installed.
    """
    settings = _settings(draws, tune, chains, seed, sampler, target_accept)
    if sampler == "numpyro":
        _require_numpyro()
    cores = min(settings["chains"], os.cpu_count() or 1)
    note = ""
    with _quiet():
        entry = _entry(design)
        if sampler == "nutpie":
            try:
                idata, compile_seconds, seconds = _sample_nutpie(entry, design, settings, cores)
            except (ImportError, NotImplementedError) as exc:  # nutpie missing, or an Op numba cannot compile
                note = f"nutpie could not sample this model ({_first_line(exc)}); PyMC's NUTS was used instead"
                idata, compile_seconds, seconds = _sample_pymc(entry, {**settings, "sampler": "pymc"}, cores)
        else:
            idata, compile_seconds, seconds = _sample_pymc(entry, settings, cores)
    out = az.InferenceData(posterior=_relabel(idata.posterior, design.coords),
                           sample_stats=idata.sample_stats)
    out.posterior.attrs.update({"compile_seconds": compile_seconds, "sampling_seconds": seconds})
    if note:
        out.posterior.attrs["sampler_note"] = note
    return out


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def _sample_nutpie(entry: _Entry, design: Design, settings: dict, cores: int):
    import nutpie

    start = _time.perf_counter()
    if entry.compiled is None:
        entry.compiled = nutpie.compile_pymc_model(entry.model, backend="numba")
    compile_seconds = _time.perf_counter() - start
    compiled = entry.compiled.with_data(**_values(design, entry.model))
    start = _time.perf_counter()
    idata = nutpie.sample(compiled, draws=settings["draws"], tune=settings["tune"], chains=settings["chains"],
                          cores=cores, seed=settings["seed"], save_warmup=False, progress_bar=False,
                          target_accept=settings["target_accept"])
    return idata, compile_seconds, _time.perf_counter() - start


def _sample_pymc(entry: _Entry, settings: dict, cores: int):
    import pymc as pm

    start = _time.perf_counter()
    idata = pm.sample(draws=settings["draws"], tune=settings["tune"], chains=settings["chains"],
                      cores=cores, random_seed=settings["seed"], target_accept=settings["target_accept"],
                      nuts_sampler=settings["sampler"], progressbar=False, compute_convergence_checks=False,
                      model=entry.model)
    return idata, float("nan"), _time.perf_counter() - start


def _relabel(dataset: xr.Dataset, coords: Mapping[str, list]) -> xr.Dataset:
    """The dataset with the design's labels on its dimensions (a reused model keeps old ones)."""
    return dataset.assign_coords({dim: list(values) for dim, values in coords.items() if dim in dataset.dims})


# --------------------------------------------------------------------------- diagnostics


def _flat(dataset: xr.Dataset) -> pd.Series:
    """One value per scalar of every variable, labelled ``name[coord, ...]``."""
    out = {}
    for name, array in dataset.data_vars.items():
        if array.ndim == 0:
            out[name] = float(array)
            continue
        labels = [array[dim].values for dim in array.dims]
        for index in itertools.product(*(range(n) for n in array.shape)):
            text = ", ".join(str(labels[k][i]) for k, i in enumerate(index))
            out[f"{name}[{text}]"] = float(array.values[index])
    return pd.Series(out, dtype=float)


def _interval_names(prob: float) -> tuple[str, str]:
    tail = 100 * (1 - prob) / 2
    return f"{tail:g}%", f"{100 - tail:g}%"


def _posterior_table(posterior: xr.Dataset, prob: float = INTERVAL) -> pd.DataFrame:
    low, high = _interval_names(prob)
    dims = ("chain", "draw")
    return pd.DataFrame({
        "mean": _flat(posterior.mean(dims)),
        "sd": _flat(posterior.std(dims, ddof=1)),
        low: _flat(posterior.quantile((1 - prob) / 2, dims).drop_vars("quantile")),
        high: _flat(posterior.quantile((1 + prob) / 2, dims).drop_vars("quantile")),
    })


def _named(series: pd.Series, mask: pd.Series, fmt: str) -> str:
    """The first few labels where mask holds, with their values."""
    hits = series[mask]
    text = ", ".join(f"{name} ({fmt.format(value)})" for name, value in hits.iloc[:SHOWN].items())
    more = len(hits) - SHOWN
    return text + (f" and {more} more" if more > 0 else "")


def diagnose(idata: az.InferenceData, var_names: Sequence[str], *, rhat_max: float = RHAT_MAX,
             ess_min: float = ESS_MIN, bfmi_min: float = BFMI_MIN, prob: float = INTERVAL) -> Diagnostics:
    """Check a posterior sample: R-hat, bulk and tail ESS, divergences, BFMI, tree depth.

    Parameters
    ----------
    idata : arviz.InferenceData
        With ``posterior`` and ``sample_stats`` (nutpie's or PyMC's names).
    var_names : sequence of str
        The reported variables: R-hat and both ESS are checked for each of their
        scalars; R-hat is also checked over every other quantity in the posterior.
    rhat_max, ess_min, bfmi_min : float
        Thresholds: rank-normalised split R-hat at most ``rhat_max``, bulk and tail
        ESS at least ``ess_min``, E-BFMI at least ``bfmi_min`` in every chain. Every
        other quantity in the posterior must have R-hat at most
        :data:`RHAT_MAX_OTHERS`.
    prob : float
        Probability of the equal-tailed interval in the table.

    Returns
    -------
    Diagnostics
    """
    posterior = idata.posterior
    missing = [name for name in var_names if name not in posterior]
    if missing:
        raise BayesInputError(f"var_names not in the posterior: {missing}; it has {list(posterior.data_vars)}")
    reported = posterior[list(var_names)]
    table = _posterior_table(reported, prob)
    table["mcse_mean"] = _flat(az.mcse(reported, method="mean"))
    table["ess_bulk"] = _flat(az.ess(reported, method="bulk"))
    table["ess_tail"] = _flat(az.ess(reported, method="tail"))
    table["r_hat"] = _flat(az.rhat(reported))
    stats = idata.sample_stats
    divergences = int(stats["diverging"].sum())
    depth_flag = next((stats[n] for n in ("maxdepth_reached", "reached_max_treedepth") if n in stats), None)
    treedepth_hits = int(depth_flag.sum()) if depth_flag is not None else 0
    bfmi = tuple(float(b) for b in az.bfmi(idata)) if "energy" in stats else ()
    others = posterior[[name for name in posterior.data_vars if name not in var_names]]
    rhat_others = _flat(az.rhat(others)).dropna() if others.data_vars else pd.Series(dtype=float)
    max_rhat_all = float(pd.concat([table["r_hat"], rhat_others]).max())
    problems = _problems(table, divergences, bfmi, treedepth_hits, rhat_others,
                         posterior.sizes["draw"] * posterior.sizes["chain"], rhat_max, ess_min, bfmi_min)
    return Diagnostics(table=table, divergences=divergences, draws=int(posterior.sizes["draw"]),
                       chains=int(posterior.sizes["chain"]), bfmi=bfmi, treedepth_hits=treedepth_hits,
                       max_rhat_all=max_rhat_all, problems=tuple(problems))


def _problems(table, divergences, bfmi, treedepth_hits, rhat_others, total, rhat_max, ess_min, bfmi_min):
    problems = []
    if divergences:
        problems.append(f"{divergences} divergent transition{'s' if divergences != 1 else ''} of {total} draws "
                        "(the posterior was not fully explored; raise target_accept or reparameterise)")
    high = table["r_hat"] > rhat_max
    if high.any():
        problems.append(f"R-hat above {rhat_max}: {_named(table['r_hat'], high, '{:.3f}')}")
    for column, kind in (("ess_bulk", "bulk"), ("ess_tail", "tail")):
        low = table[column] < ess_min
        if low.any():
            problems.append(f"{kind} ESS below {ess_min:g}: {_named(table[column], low, '{:.0f}')}")
    weak = [f"chain {k} ({b:.2f})" for k, b in enumerate(bfmi) if b < bfmi_min]
    if weak:
        problems.append(f"energy BFMI below {bfmi_min}: {', '.join(weak)}")
    if treedepth_hits:
        problems.append(f"maximum tree depth reached in {treedepth_hits} of {total} draws")
    other_high = rhat_others > RHAT_MAX_OTHERS
    if other_high.any():
        problems.append(f"R-hat above {RHAT_MAX_OTHERS} for {int(other_high.sum())} of {len(rhat_others)} "
                        f"other quantities (largest {rhat_others.max():.3f})")
    return problems


# --------------------------------------------------------------------------- fitting and storage


def _fingerprint(design: Design, settings: dict) -> str:
    """SHA-256 of the data, priors, structure, coordinates, settings and code versions."""
    digest = hashlib.sha256()
    described = {"model": design.model, "structure": repr(design.structure), "priors": dict(design.priors),
            "coords": {k: [str(v) for v in values] for k, values in design.coords.items()},
            "settings": settings, "source": _SOURCE_HASH,
            "versions": [__version__, *map(_installed_version, ("pymc", "nutpie", "arviz"))]}
    digest.update(json.dumps(described, sort_keys=True).encode())
    for name in sorted(design.data):
        array = np.ascontiguousarray(design.data[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _with_posterior_dtype(idata: az.InferenceData, dtype: str) -> az.InferenceData:
    """The same InferenceData with the posterior's floating-point draws cast to ``dtype``."""
    posterior = idata.posterior.map(
        lambda values: values.astype(dtype) if values.dtype.kind == "f" else values, keep_attrs=True)
    return az.InferenceData(**{group: (posterior if group == "posterior" else getattr(idata, group))
                               for group in idata.groups()})


def _single_precision(idata: az.InferenceData) -> az.InferenceData:
    """Posterior draws rounded to float32, as :func:`save` stores them, held as float64.

    Fresh and reused fits then give the same numbers to the last digit; the rounding
    (7 significant digits) is far below the Monte Carlo error of any summary.
    """
    return _with_posterior_dtype(_with_posterior_dtype(idata, "float32"), "float64")


def _installed_version(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def save(result: BayesResult | az.InferenceData, path: str | Path) -> Path:
    """Write a result's draws (or any InferenceData) to a compressed NetCDF file.

    Posterior draws are stored in single precision (half the size; see
    :func:`_single_precision`); the fingerprint stays in the posterior's attrs.
    The file is written beside and moved into place, so an interrupted write leaves
    no half file under ``path``.
    """
    idata = result.idata if isinstance(result, BayesResult) else result
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    _with_posterior_dtype(idata, "float32").to_netcdf(str(temporary), engine="h5netcdf")
    temporary.replace(path)
    return path


def load(path: str | Path) -> az.InferenceData:
    """Read draws written by :func:`save` into memory (float64; the file is closed afterwards)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such NetCDF file")
    return _with_posterior_dtype(az.from_netcdf(str(path), engine="h5netcdf"), "float64")


def _stored(path: Path | None, fingerprint: str) -> az.InferenceData | None:
    """Draws from ``path`` if the file holds a fit with this fingerprint, else None."""
    if path is None or not path.is_file():
        return None
    try:
        idata = load(path)
    except (OSError, ValueError, KeyError):
        return None
    return idata if idata.posterior.attrs.get("fingerprint") == fingerprint else None


def fit(design: Design, *, draws: int = 1000, tune: int = 1000, chains: int = 4, seed: int = 0,
        sampler: str = "nutpie", target_accept: float = TARGET_ACCEPT,
        netcdf: str | Path | None = None) -> BayesResult:
    """Sample a design (or reuse stored draws) and diagnose the fit.

    Parameters
    ----------
    design : Design
    draws, tune, chains, seed, sampler, target_accept
        As :func:`sample`.
    netcdf : str or Path, optional
        NetCDF file for the draws. If it holds a fit whose fingerprint (a hash of
        the data, priors, model structure, sampler settings and the versions of
        this module, PyMC, nutpie and ArviZ) matches, its draws are reused and
        nothing is sampled; otherwise the model is sampled and the file written.

    Returns
    -------
    BayesResult
    """
    settings = _settings(draws, tune, chains, seed, sampler, target_accept)
    fingerprint = _fingerprint(design, settings)
    path = Path(netcdf) if netcdf is not None else None
    idata = _stored(path, fingerprint)
    reused = idata is not None
    if idata is None:
        idata = _single_precision(sample(design, **settings))
        idata.posterior.attrs.update({"fingerprint": fingerprint, "model": design.model,
                                      "settings": json.dumps(settings)})
        if path is not None:
            save(idata, path)
    return BayesResult(model=design.model, idata=idata, diagnostics=diagnose(idata, design.reported),
                       design=design, settings=settings, reused=reused)


# --------------------------------------------------------------------------- predictive checks


def prior_predictive(result: BayesResult | Design, draws: int = 500, seed: int = 0) -> az.InferenceData:
    """Draws of the parameters and observations from the prior alone.

    Returns
    -------
    arviz.InferenceData
        Groups ``prior`` and ``prior_predictive`` (observed variables on the data's scale).
    """
    import pymc as pm

    design = result.design if isinstance(result, BayesResult) else result
    draws, seed = _whole("draws", draws, 1), _whole("seed", seed, 0)
    with _quiet():
        idata = pm.sample_prior_predictive(draws=draws, model=_entry(design).model, random_seed=seed)
    return az.InferenceData(prior=_relabel(idata.prior, design.coords), prior_predictive=idata.prior_predictive)


def posterior_predictive(result: BayesResult, seed: int = 0) -> az.InferenceData:
    """Replicated observations, one set per posterior draw.

    Returns
    -------
    arviz.InferenceData
        Group ``posterior_predictive`` with one variable per observed variable.
    """
    import pymc as pm

    seed = _whole("seed", seed, 0)
    with _quiet():
        idata = pm.sample_posterior_predictive(result.idata, model=_entry(result.design).model,
                                               var_names=list(result.design.observed), random_seed=seed,
                                               progressbar=False)
    return az.InferenceData(posterior_predictive=idata.posterior_predictive)


def predictive_summary(result: BayesResult | Design, predictive: az.InferenceData,
                       by: Sequence[str] | None = None, prob: float = INTERVAL) -> pd.DataFrame:
    """Observed statistics against their predictive distribution.

    Parameters
    ----------
    result : BayesResult or Design
    predictive : arviz.InferenceData
        From :func:`prior_predictive` or :func:`posterior_predictive`.
    by : sequence of str, optional
        Columns of the observation tables (``design.observed``) to group by, e.g.
        ``["arm", "time"]``; None summarises each variable as a whole.
    prob : float
        Probability of the predictive interval.

    Returns
    -------
    pandas.DataFrame
        One row per variable, group and statistic (``mean``, ``sd``): ``observed``,
        predictive ``predicted`` mean, interval bounds, ``p`` = P(replicated
        statistic >= observed), near 0 or 1 when the model misses the data, and
        ``extreme`` (``p`` below :data:`EXTREME_P` or above ``1 - EXTREME_P``).
    """
    design = result.design if isinstance(result, BayesResult) else result
    group = "posterior_predictive" if "posterior_predictive" in predictive.groups() else "prior_predictive"
    draws = predictive[group]
    low, high = _interval_names(prob)
    rows = []
    for name, table in design.observed.items():
        replicated = draws[name].stack(sample=("chain", "draw")).transpose("sample", ...).values
        absent = [c for c in (by or []) if c not in table.columns]
        if absent:
            raise BayesInputError(f"by: column(s) {absent} not in the observations of {name!r}; "
                                  f"available: {[c for c in table.columns if c != 'observed']}")
        groups = table.groupby(list(by), observed=True, sort=True).indices if by else {(): np.arange(len(table))}
        for labels, index in groups.items():
            labels = labels if isinstance(labels, tuple) else (labels,)
            for stat, func in (("mean", np.mean), ("sd", np.std)):
                observed = float(func(table["observed"].to_numpy()[index]))
                values = func(replicated[:, index], axis=1)
                rows.append({"variable": name, **dict(zip(by or [], labels)), "statistic": stat,
                             "observed": observed, "predicted": float(values.mean()),
                             low: float(np.quantile(values, (1 - prob) / 2)),
                             high: float(np.quantile(values, (1 + prob) / 2)),
                             "p": float((values >= observed).mean())})
    table = pd.DataFrame(rows)
    table["extreme"] = (table["p"] < EXTREME_P) | (table["p"] > 1 - EXTREME_P)
    return table


# --------------------------------------------------------------------------- prior sensitivity


def _scaled_priors(priors: Mapping[str, float], factor: float) -> dict:
    """Scales multiplied by ``factor``, concentrations (``*_eta``) divided by it."""
    return {k: v / factor if k.endswith("_eta") else v * factor for k, v in priors.items()}


def prior_sensitivity(result: BayesResult, factor: float = 2.0, var_names: Sequence[str] | None = None,
                      netcdf: str | Path | None = None) -> pd.DataFrame:
    """Refit under a wider and a narrower prior and show how the reported posteriors move.

    "Wider" multiplies every prior scale by ``factor`` and divides every
    concentration (LKJ and Beta ``eta``) by it; "narrower" does the opposite. The
    refits reuse the compiled model (priors are data) and the result's sampler
    settings.

    Parameters
    ----------
    result : BayesResult
    factor : float, default 2.0
        How much wider and narrower, > 1.
    var_names : sequence of str, optional
        Reported variables to tabulate (default all).
    netcdf : str or Path, optional
        If given, the refits are stored beside it as ``<stem>_wider.nc`` and
        ``<stem>_narrower.nc`` and reused while the inputs are unchanged.

    Returns
    -------
    pandas.DataFrame
        One row per reported scalar and prior (``narrower``, ``default``,
        ``wider``): ``mean``, ``sd``, interval bounds and ``shift`` (change of the
        mean in units of the default posterior SD). ``attrs["verdicts"]`` holds each
        fit's diagnostics verdict and ``attrs["priors"]`` its prior hyperparameters.
    """
    if not _positive(factor) or factor <= 1:
        raise BayesInputError(f"factor must be a number > 1, got {factor!r}")
    names = list(var_names or result.design.reported)
    unknown = sorted(set(names) - set(result.design.reported))
    if unknown:
        raise BayesInputError(f"var_names: {unknown} are not reported variables; choose from "
                              f"{list(result.design.reported)}")
    keep = result.diagnostics.table.index.str.replace(r"\[.*", "", regex=True).isin(names)
    base = result.diagnostics.table[keep]
    fits = {"default": result}
    for label, scale in (("narrower", 1 / factor), ("wider", factor)):
        path = None if netcdf is None else Path(netcdf).with_name(f"{Path(netcdf).stem}_{label}.nc")
        design = result.design.with_priors(**_scaled_priors(result.design.priors, scale))
        fits[label] = fit(design, netcdf=path, **result.settings)
    parts = []
    labels = ("narrower", "default", "wider")
    for label in labels:
        table = fits[label].diagnostics.table[keep]
        part = table[["mean", "sd", *_interval_names(INTERVAL)]].copy()
        part["shift"] = (table["mean"] - base["mean"]) / base["sd"]
        part.insert(0, "prior", label)
        parts.append(part.rename_axis("parameter").reset_index())
    out = pd.concat(parts, ignore_index=True)
    out.attrs["verdicts"] = {label: fits[label].verdict for label in labels}
    out.attrs["priors"] = {label: dict(fits[label].design.priors) for label in labels}
    return out


# --------------------------------------------------------------------------- input checks


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


# --------------------------------------------------------------------------- bivariate growth


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


def _expect(result: BayesResult, model: str) -> None:
    if not isinstance(result, BayesResult) or result.model != model:
        found = result.model if isinstance(result, BayesResult) else type(result).__name__
        raise BayesInputError(f"needs a result of {model}, got {found}")


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


def _beside(result: BayesResult, rows: list[tuple], prefix: str) -> pd.DataFrame:
    """Posterior mean and 95% interval of each ``(parameter, estimate, ci_low, ci_high)`` row beside it.

    The posterior interval is equal-tailed 95%, like the frequentist intervals it sits beside.
    ``difference_sd`` is the posterior mean minus the frequentist estimate, in posterior SDs.
    """
    low, high = _interval_names(0.95)
    out = pd.DataFrame(rows, columns=["parameter", f"{prefix}_estimate", f"{prefix}_ci_low", f"{prefix}_ci_high"])
    variables = sorted({label.split("[")[0] for label in out["parameter"]})
    table = _posterior_table(result.idata.posterior[variables], 0.95)
    bayes = table.loc[out["parameter"], ["mean", "sd", low, high]].to_numpy()
    out.insert(1, "bayes_mean", bayes[:, 0])
    out.insert(2, f"bayes_{low}", bayes[:, 2])
    out.insert(3, f"bayes_{high}", bayes[:, 3])
    out["difference_sd"] = (out["bayes_mean"] - out[f"{prefix}_estimate"]) / bayes[:, 1]
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


# --------------------------------------------------------------------------- adherence


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


# --------------------------------------------------------------------------- meta-analysis


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
    if rma_result.method in meta.FIXED:
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


# --------------------------------------------------------------------------- mediation


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


_BUILDERS = {
    "bivariate_growth": _growth_model,
    "adherence": _adherence_model,
    "meta_analysis": _meta_model,
    "mediation": _mediation_model,
}
