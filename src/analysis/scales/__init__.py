"""Instrument registry, scoring, reliability and reliable change.

The registry (:data:`INSTRUMENTS`) describes the self-report instruments used in
the analyses. Item instruments are scored from their item columns
(``f"{key}_{i}"``); total-only instruments (BDI-II, PCL-5) are recorded as totals
(``f"{key}_total"``) and can be banded but not scored.

========  ==========  =====  =======  =========  =======================================
key       instrument  items  range    prorating  severity bands (lower bound: label)
========  ==========  =====  =======  =========  =======================================
``gse``   GSE-10      1-4    10-40    <= 2       none (higher is better)
``phq9``  PHQ-9       0-3    0-27     <= 1       0 minimal, 5 mild, 10 moderate,
                                                 15 moderately severe, 20 severe
``gad7``  GAD-7       0-3    0-21     <= 1       0 minimal, 5 mild, 10 moderate, 15 severe
``cesd``  CES-D-20    0-3    0-60     <= 4       0 below cut-off, 16 at or above cut-off
``bdi``   BDI-II      total  0-63     n/a        0 minimal, 14 mild, 20 moderate, 29 severe
``pcl5``  PCL-5       total  0-80     n/a        0 below cut-off, 33 probable PTSD
========  ==========  =====  =======  =========  =======================================

Instruments the registry lacks are defined in a mapping's ``instruments:`` section
(:func:`analysis.io.read.define_instrument`); the loaded table carries every
instrument it holds in ``data.attrs["instruments"]`` (``{key: Instrument}``), and
``get(key, data)`` finds them there as well as in the registry. Every function
here that takes a table and an instrument key looks the key up that way.

Prorating rule: a total is computed when at most 20% of the items are missing,
``floor(0.2 * n_items)`` items (GSE 2, PHQ-9 1, GAD-7 1, CES-D 4). The prorated
total is the mean of the answered items times the number of items; it is not
rounded, so prorated totals can be fractional. With more items missing the total
is missing. CES-D items 4, 8, 12 and 16 are reverse keyed before summing.

:func:`reliability` reproduces R's ``psych::alpha`` (raw and standardised alpha,
Feldt confidence interval, corrected item-total correlations, alpha if item
dropped), with psych's pairwise handling of missing responses by default, and
the omega total of ``psych::omega(x, nfactors = 1)`` evaluated at the exact
minres optimum (psych's own value stops at its optimiser tolerance).
:func:`reliability` also gives psych's item statistics (``raw_r``, ``std_r``,
``r_cor``), Guttman's lambda 6, the average inter-item correlation and the items
``check.keys`` would reverse (``flagged``; reversed with ``check_keys=True``)
and psych's response frequencies (``response_freq``,
:func:`response_frequencies`).
:func:`omega` reproduces ``psych::omega``: the Schmid-Leiman omega
hierarchical, omega total, the per-group-factor omegas and the explained common
variance (``GPArotation``'s oblimin; minres factoring, or psych's ``fm =
"pa"``, ``"ml"``, ``"wls"``, ``"gls"``).
:func:`split_half` reproduces ``psych::splitHalf`` and :func:`icc` the six
Shrout and Fleiss intraclass correlations of ``psych::ICC``.
:func:`baseline_reliability` says which reliability reliable change uses: one
given, the alpha of the baseline items, or, without items, the instrument's
published alpha (``reference_alpha``: PHQ-9 0.89, GAD-7 0.92, CES-D 0.85,
BDI-II 0.92, PCL-5 0.94; none for the GSE).
:func:`reliable_change` implements the Jacobson and Truax (1991) reliable change
index and clinical-significance categories.

The package's modules: :mod:`~analysis.scales.instruments` (registry and
scoring), :mod:`~analysis.scales.alpha` (alpha, item statistics, key check),
:mod:`~analysis.scales.schmid_leiman` (omega total and hierarchical),
:mod:`~analysis.scales.factor` (psych's factoring methods and oblimin rotation),
:mod:`~analysis.scales.responses` (response frequencies),
:mod:`~analysis.scales.split_halves`, :mod:`~analysis.scales.agreement` (ICC) and
:mod:`~analysis.scales.change` (reliable change).
"""

from __future__ import annotations

from .agreement import ICC_FORMS, icc
from .alpha import Reliability, reliability, reliability_by_wave
from .change import (
    RELIABLE_CHANGE_CATEGORIES,
    baseline_reliability,
    change_table,
    jt_cutoff,
    reliable_change,
    reliable_change_threshold,
    s_diff,
)
from .instruments import (
    CONSTRUCTS,
    INSTRUMENTS,
    Instrument,
    get,
    has_items,
    items_by_wave,
    reverse_keyed,
    score,
    severity,
    trial_pair,
)
from .factor import FACTOR_METHODS
from .items import MISSING_METHODS
from .responses import response_frequencies
from .schmid_leiman import Omega, omega, omega_by_wave
from .split_halves import SplitHalf, split_half

__all__ = [
    "CONSTRUCTS",
    "FACTOR_METHODS",
    "ICC_FORMS",
    "INSTRUMENTS",
    "MISSING_METHODS",
    "RELIABLE_CHANGE_CATEGORIES",
    "Instrument",
    "Omega",
    "Reliability",
    "SplitHalf",
    "baseline_reliability",
    "change_table",
    "get",
    "has_items",
    "icc",
    "items_by_wave",
    "jt_cutoff",
    "omega",
    "omega_by_wave",
    "reliability",
    "reliability_by_wave",
    "reliable_change",
    "reliable_change_threshold",
    "response_frequencies",
    "reverse_keyed",
    "s_diff",
    "score",
    "severity",
    "split_half",
    "trial_pair",
]
