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
  with numba (its default; the JAX backend needs ``jax``), and its compiled
  callbacks are kept on disk between processes, keyed by the model's structure,
  the code and the library versions (:mod:`~analysis.bayes.compiled`), and those
  not used for 30 days are removed (:func:`prune_cache`);
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
times standard normals, effect by effect (:func:`~analysis.bayes.growth._person_effects`), and defined at
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

The package's modules: :mod:`~analysis.bayes.design` (designs, input checks, the
model registry), :mod:`~analysis.bayes.sampling` (samplers, settings, compiled
models kept in memory), :mod:`~analysis.bayes.compiled` (nutpie's compiled
models kept on disk), :mod:`~analysis.bayes.diagnostics`,
:mod:`~analysis.bayes.result`, :mod:`~analysis.bayes.fitting` (fingerprints and
NetCDF storage), :mod:`~analysis.bayes.predictive`,
:mod:`~analysis.bayes.sensitivity`, and one module per model:
:mod:`~analysis.bayes.growth`, :mod:`~analysis.bayes.adherence`,
:mod:`~analysis.bayes.meta` and :mod:`~analysis.bayes.mediation` (the last two
functions share their modules' names; the package exports the functions).
"""

from __future__ import annotations

from .adherence import ADHERENCE_PRIORS, adherence
from .design import BayesInputError, Design, SamplerUnavailableError
from .diagnostics import (
    BFMI_MIN,
    ESS_MIN,
    INTERVAL,
    RHAT_MAX,
    RHAT_MAX_OTHERS,
    Diagnostics,
    diagnose,
)
from .fitting import fit, load, save
from .growth import (
    GROWTH_PRIORS,
    PARAMETERIZATIONS,
    _growth_design,  # noqa: F401  (the design without sampling; tests of input checks use it)
    bivariate_growth,
    compare_lmm,
    trajectories,
)
from .compiled import prune_cache
from .mediation import MEDIATION_PRIORS, compare_mediate, mediation
from .meta import TAU_PRIORS, compare_rma, meta_analysis
from .predictive import (
    EXTREME_P,
    posterior_predictive,
    predictive_summary,
    prior_predictive,
)
from .result import BayesResult
from .sampling import CACHE_SIZE, SAMPLERS, TARGET_ACCEPT, clear_cache, sample
from .sensitivity import prior_sensitivity

__all__ = [
    "ADHERENCE_PRIORS",
    "BFMI_MIN",
    "CACHE_SIZE",
    "ESS_MIN",
    "EXTREME_P",
    "GROWTH_PRIORS",
    "INTERVAL",
    "MEDIATION_PRIORS",
    "PARAMETERIZATIONS",
    "RHAT_MAX",
    "RHAT_MAX_OTHERS",
    "SAMPLERS",
    "TARGET_ACCEPT",
    "TAU_PRIORS",
    "BayesInputError",
    "BayesResult",
    "Design",
    "Diagnostics",
    "SamplerUnavailableError",
    "adherence",
    "bivariate_growth",
    "clear_cache",
    "compare_lmm",
    "compare_mediate",
    "compare_rma",
    "diagnose",
    "fit",
    "load",
    "mediation",
    "meta_analysis",
    "posterior_predictive",
    "predictive_summary",
    "prior_predictive",
    "prior_sensitivity",
    "prune_cache",
    "sample",
    "save",
    "trajectories",
]
