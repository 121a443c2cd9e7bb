r"""Missing outcomes in trials: multiple imputation, Rubin's rules and MNAR sensitivity analyses.

* :func:`impute`: multiple imputation by chained equations of the outcome across
  visits (with auxiliary variables and baseline covariates), within each arm, as
  mice does it (``pmm`` or ``norm``); returns :class:`Imputations`.
* :func:`pool` and :func:`with_imputations`: Rubin's rules with Barnard and Rubin's
  degrees of freedom, as mice's ``pool.scalar`` and ``pool``.
* :func:`ancova`: the default analysis of a completed table, the arm differences at
  the last visit adjusted for baseline and covariates.
* :func:`tipping_point`: delta-adjusted imputation (missing not at random) over a
  grid of shifts, the pooled effect per shift and where the conclusion tips.
* :func:`patterns` and :func:`dropout`: missingness patterns by arm, and a discrete-time
  dropout hazard on what was observed (does self-efficacy predict leaving?).
* :func:`reference_based`: reference-based imputation (J2R, CR, CIR, MAR) after
  Carpenter, Roger and Kenward (2013), by a Gibbs sampler of a multivariate normal
  model per arm.

Every random draw comes from ``numpy.random.SeedSequence(seed)``: the same call with
the same seed gives the same tables.

Layout
------
``layout`` (long table to the wide layout and back), ``result`` (:class:`Imputations`),
``fcs`` (chained equations), ``pooling`` (Rubin's rules), ``ancova``,
``sensitivity`` (:func:`tipping_point`), ``reference`` (:func:`reference_based`), ``dropout``
(:func:`patterns`, :func:`dropout`).
"""

from .ancova import ancova
from .dropout import dropout, patterns
from .fcs import impute
from .pooling import pool, with_imputations
from .reference import reference_based
from .result import Imputations
from .sensitivity import TippingPoint, tipping_point

__all__ = ["Imputations", "TippingPoint", "ancova", "dropout", "impute", "patterns", "pool", "reference_based",
           "tipping_point", "with_imputations"]
