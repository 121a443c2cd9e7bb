r"""Linear mixed-effects models that read like lme4's summary, fitted at lme4's speed.

:func:`fit_lmm` fits a linear mixed model with one grouping factor,

.. math::

   y_i = X_i \beta + Z_i b_i + \varepsilon_i, \quad b_i \sim N(0, G), \quad
   \varepsilon_i \sim N(0, \sigma^2 I), \quad
   V_i = Z_i G Z_i' + \sigma^2 I,

by (restricted) maximum likelihood, minimising lme4's profiled deviance with
per-group cross-products vectorised over groups (statsmodels' MixedLM can supply
the starting values instead, as the check and fallback), and
reports it in lme4/lmerTest terms: fixed effects with Satterthwaite denominator
degrees of freedom, random-effect variances, SDs and correlations, lme4's logLik,
AIC and BIC, and lme4's singular-fit check. A formula with lme4's random-effect
terms, ``"y ~ time * arm + (time | participant_id) + (1 | therapist)"`` (nested
``g1/g2``, crossed factors, uncorrelated ``||``), is fitted with several grouping
factors (``sparse``: Z sparse, Lambda(theta) block-diagonal, the profiled deviance
from a blocked sparse Cholesky factorisation); a single plain ``(expr | g)`` term
takes the one-factor path above.

Satterthwaite's method
----------------------
As in lmerTest, the variance parameters are :math:`\phi = (\theta, \sigma)`, where
:math:`\theta` holds the lower triangle of the relative Cholesky factor
:math:`\Lambda` (:math:`G = \sigma^2 \Lambda \Lambda'`). For a contrast :math:`L`,

.. math::

   \nu = \frac{2\, (L' C L)^2}{g' A g}, \quad
   C(\phi) = (X' V^{-1} X)^{-1}, \quad g = \partial (L' C L) / \partial \phi, \quad
   A = 2\, H^{-1},

with :math:`H` the Hessian of the deviance (:math:`-2` times the restricted or full
log-likelihood, as fitted) at the estimate. :math:`C` and the deviance are computed
here blockwise over groups and differentiated numerically (central differences
with Richardson extrapolation), so the degrees of freedom are an approximation,
as lmerTest's ("numerical derivatives") are.

:func:`lrt` compares nested models by a likelihood-ratio test (as lme4's
``anova``), and :func:`decompose` splits a time-varying predictor into its
person mean and the deviation from it.

Layout
------
``result`` (:class:`LmmResult` and its lme4-style summary), ``formula`` (lme4
formulas and the columns a formula uses), ``design`` (y, X, Z and lme4's
identification checks), ``deviance`` (the profiled deviance and its gradient,
blockwise over groups), ``sparse`` (several random-effect terms), ``inference``
(Satterthwaite's df), ``kenward`` (Kenward-Roger's adjusted covariance and df, as pbkrtest),
``estimands`` (:func:`emmeans`, :func:`contrast`, :func:`anova`), ``lmm``
(:func:`fit_lmm`, :func:`lrt`), ``glmm`` (:func:`fit_glmm`, :class:`GlmmResult`: lme4's
``glmer``) on ``pirls`` (families, PIRLS, Laplace, AGQ), ``mmrm`` (:func:`mmrm`,
:class:`MmrmResult`: R's mmrm, a mixed model for repeated measures) and ``models`` (the model
families on the trial-data contract). The public names are importable from
``analysis.mixed``.
"""

from .estimands import anova, contrast, emmeans
from .glmm import GlmmResult, fit_glmm
from .lmm import ENGINES, fit_lmm, lrt
from .mmrm import MmrmResult, mmrm
from .models import (NO_CLUSTER, NO_FOLLOW_UP, SOURCES, adherence, caseload, cluster_icc, decompose, describe_effects,
                     effect_sizes, growth, lagged, level_ignored, model_table, primary, remission, sources,
                     within_between)
from .result import LmmResult

__all__ = ["LmmResult", "fit_lmm", "lrt", "GlmmResult", "fit_glmm", "decompose", "growth", "within_between",
           "lagged", "sources", "adherence", "effect_sizes", "caseload", "model_table", "describe_effects",
           "remission", "primary", "cluster_icc", "level_ignored", "SOURCES", "NO_FOLLOW_UP", "NO_CLUSTER", "ENGINES",
           "emmeans", "contrast", "anova", "mmrm", "MmrmResult"]
