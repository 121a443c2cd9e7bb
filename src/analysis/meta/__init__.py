r"""Meta-analysis that reads and computes like metafor: effect sizes, the (mixed-)effects model, multilevel models.

:func:`escalc` turns study summaries into effect sizes :math:`y_i` with sampling
variances :math:`v_i`, and :func:`rma` fits the meta-analytic model

.. math::

   y_i = x_i'\beta + u_i + e_i, \quad u_i \sim N(0, \tau^2), \quad e_i \sim N(0, v_i),

with the :math:`v_i` taken as known, as ``metafor::rma.uni`` (metafor 3.8-1) does:
the same :math:`\tau^2` estimators (FE/EE, DL, HE, HS, SJ, ML, REML, EB, PM), the
same Fisher-scoring iterations and convergence threshold, the same port of R's
``uniroot`` (Brent's ``zeroin``) for the Paule-Mandel estimator and the Q-profile
interval of :math:`\tau^2`, and the same tests (``"z"``, ``"t"``, ``"knha"``,
``"adhoc"``). Follow-ups mirror metafor's: ``predict`` (with prediction interval),
``egger`` (``regtest(model="rma", predictor="sei")``), ``trimfill``,
``leave1out`` and ``influence`` (with ``rstudent``, ``cooks_distance``).

Several effects per study are modelled by :func:`rma_mv` (``metafor::rma.mv``),

.. math::

   y = X\beta + \sum_{l} Z_l u_l + e, \quad u_l \sim N(0, \sigma^2_l I), \quad e \sim N(0, V),

with nested (``"~ 1 | study/es_id"``) or crossed random effects, a known sampling
covariance :math:`V` (diagonal, or correlated within studies as built by
:func:`impute_covariance`), variance components by REML or ML, the multilevel
:math:`I^2` per level, and :func:`robust` cluster-robust inference (metafor's CR1,
or clubSandwich's CR2 with Satterthwaite and HTZ tests) for either kind of fit.
Names follow metafor (``yi``, ``vi``, ``tau2``, ``sigma2``, ``QE``, ``ci_lb``,
``intrcpt`` ...) so that a textbook example reads the same.

Layout
------
``inputs`` (argument checks, model matrices, :class:`MetaInputError`), ``escalc``
(:func:`escalc`, :func:`effect_sizes`), ``tau2`` (the ``rma.uni`` estimators of
:math:`\tau^2` and the Q-profile interval), ``numerics`` (projections, R's
``uniroot``), ``wls`` (weighted least squares and the z/t/Q tests every model
shares), ``uni`` (:func:`rma`), ``result`` (:class:`RmaResult`,
:class:`RmaMvResult`), ``bias`` (:func:`egger`, :func:`regtest`, :func:`pet_peese`,
:func:`ranktest`, :func:`fsn`, :func:`trimfill`), ``selection`` (:func:`selmodel`),
``influence`` (leave-one-out, case diagnostics, ``cumul``, ``permutest``), ``blocks`` (blockwise linear algebra of a
covariance that is block-diagonal by study), ``mv`` (:func:`rma_mv`,
:func:`impute_covariance`), ``robust`` (:func:`robust`), ``mh`` (:func:`rma_mh`,
:func:`rma_peto`: Mantel-Haenszel and Peto) and ``teaching``
(:func:`back_transform`, :func:`against_published`). The public names are
importable from ``analysis.meta``.
"""

from .bias import TRIMFILL_ESTIMATORS, EggerResult, TrimfillResult, egger, trimfill
from .bias import FsnResult, PetPeeseResult, RanktestResult, RegtestResult, fsn, pet_peese, ranktest, regtest
from .escalc import MEASURES, effect_sizes, escalc
from .influence import cooks_distance, influence, leave1out, rstudent
from .inputs import FIXED, METHODS, T_TESTS, TESTS, MetaInputError, categorical_moderators
from .mh import MH_MEASURES, RmaMhResult, rma_mh, rma_peto
from .mv import MV_METHODS, MV_TESTS, impute_covariance, rma_mv
from .result import RmaMvResult, RmaResult
from .robust import RobustResult, robust
from .selection import SELMODEL_TYPES, SelmodelResult, selmodel
from .teaching import BACK_TRANSFORMS, against_published, back_transform
from .uni import rma

__all__ = [
    "FsnResult", "PetPeeseResult", "RanktestResult", "RegtestResult", "fsn", "pet_peese", "ranktest", "regtest",
    "SELMODEL_TYPES", "SelmodelResult", "selmodel", "categorical_moderators",
    "BACK_TRANSFORMS",
    "FIXED",
    "MEASURES",
    "METHODS",
    "MH_MEASURES",
    "MV_METHODS",
    "MV_TESTS",
    "TESTS",
    "TRIMFILL_ESTIMATORS",
    "T_TESTS",
    "EggerResult",
    "MetaInputError",
    "RmaMhResult",
    "RmaMvResult",
    "RmaResult",
    "RobustResult",
    "TrimfillResult",
    "against_published",
    "back_transform",
    "cooks_distance",
    "effect_sizes",
    "egger",
    "escalc",
    "impute_covariance",
    "influence",
    "leave1out",
    "rma",
    "rma_mh",
    "rma_mv",
    "rma_peto",
    "robust",
    "rstudent",
    "trimfill",
]
