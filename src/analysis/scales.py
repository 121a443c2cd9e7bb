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
``check.keys`` would reverse (``flagged``; reversed with ``check_keys=True``).
:func:`split_half` reproduces ``psych::splitHalf`` and :func:`icc` the six
Shrout and Fleiss intraclass correlations of ``psych::ICC``.
:func:`baseline_reliability` says which reliability reliable change uses: one
given, the alpha of the baseline items, or, without items, the instrument's
published alpha (``reference_alpha``: PHQ-9 0.89, GAD-7 0.92, CES-D 0.85,
BDI-II 0.92, PCL-5 0.94; none for the GSE).
:func:`reliable_change` implements the Jacobson and Truax (1991) reliable change
index and clinical-significance categories.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

__all__ = [
    "ICC_FORMS",
    "INSTRUMENTS",
    "Instrument",
    "Reliability",
    "SplitHalf",
    "baseline_reliability",
    "change_table",
    "get",
    "has_items",
    "icc",
    "jt_cutoff",
    "reliability",
    "reliability_by_wave",
    "reliable_change",
    "reliable_change_threshold",
    "reverse_keyed",
    "s_diff",
    "score",
    "severity",
    "split_half",
    "trial_pair",
]

CONSTRUCTS = ("self_efficacy", "depression", "anxiety", "ptsd", "other")
RELIABLE_CHANGE_CATEGORIES = ("deteriorated", "unchanged", "improved", "recovered")
MISSING_METHODS = ("pairwise", "listwise")
# psych's minres bounds each uniqueness below at 0.005 (communality <= 0.995).
_MIN_UNIQUENESS = 0.005


@dataclass(frozen=True)
class Instrument:
    """A self-report instrument and its scoring rules.

    Parameters
    ----------
    key : str
        Short identifier; item columns are ``f"{key}_{i}"`` and the total column
        is ``f"{key}_total"``.
    name : str
        Display name, e.g. ``"PHQ-9"``.
    n_items : int
        Number of items; 0 for instruments recorded as totals only.
    item_min, item_max : int or None
        Response range of each item; None for total-only instruments.
    total_min, total_max : int
        Range of the total score.
    reverse : tuple of int, default ()
        1-based numbers of reverse-keyed items (scored
        ``item_min + item_max - x``).
    bands : tuple of (int, str), default ()
        Severity bands as ``(lower_bound, label)`` pairs in increasing order;
        each band runs up to the next lower bound.
    max_missing : int, default 0
        Largest number of missing items for which a prorated total is still
        computed (``floor(0.2 * n_items)``: at most 20% missing).
    construct : str, default "depression"
        One of ``"self_efficacy"``, ``"depression"``, ``"anxiety"``, ``"ptsd"``,
        ``"other"`` (instruments defined in a mapping).
    higher_is_better : bool, default False
        Whether higher totals indicate better functioning.
    cutoff : float, optional
        Clinical cut-off used for "recovered" in :func:`change_table`: scores at or
        beyond it (at or above for symptoms) are on the dysfunctional side.
    reference_alpha : float, optional
        Published internal consistency, used as the reliability when the data
        hold the total only (no items to compute alpha from).
    citation : str, default ""
        Reference for the instrument, its bands, cut-off and reference alpha.
    """

    key: str
    name: str
    n_items: int
    item_min: int | None
    item_max: int | None
    total_min: int
    total_max: int
    reverse: tuple[int, ...] = ()
    bands: tuple[tuple[int, str], ...] = ()
    max_missing: int = 0
    construct: str = "depression"
    higher_is_better: bool = False
    cutoff: float | None = None
    reference_alpha: float | None = None
    citation: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if self.construct not in CONSTRUCTS:
            raise ValueError(
                f"construct must be one of {CONSTRUCTS}, got {self.construct!r}"
            )
        bad_reverse = [i for i in self.reverse if not 1 <= i <= self.n_items]
        if bad_reverse:
            raise ValueError(
                f"reverse must hold item numbers 1..{self.n_items}, got {bad_reverse}"
            )
        lower_bounds = [lower for lower, _ in self.bands]
        if self.bands and (
            lower_bounds[0] != self.total_min or lower_bounds != sorted(set(lower_bounds))
        ):
            raise ValueError(
                "bands must start at total_min and have strictly increasing lower "
                f"bounds, got {lower_bounds}"
            )

    @property
    def items(self) -> list[str]:
        """Item column names ``f"{key}_{i}"`` for i = 1..n_items."""
        return [f"{self.key}_{i}" for i in range(1, self.n_items + 1)]

    @property
    def total(self) -> str:
        """Total-score column name ``f"{key}_total"``."""
        return f"{self.key}_total"


INSTRUMENTS: dict[str, Instrument] = {
    "gse": Instrument(
        key="gse",
        name="GSE-10",
        n_items=10,
        item_min=1,
        item_max=4,
        total_min=10,
        total_max=40,
        max_missing=2,
        construct="self_efficacy",
        higher_is_better=True,
        citation=(
            "Schwarzer, R., & Jerusalem, M. (1995). Generalized Self-Efficacy "
            "scale. In J. Weinman, S. Wright, & M. Johnston (Eds.), Measures in "
            "health psychology: A user's portfolio. Causal and control beliefs "
            "(pp. 35-37). NFER-NELSON."
        ),
    ),
    "phq9": Instrument(
        key="phq9",
        name="PHQ-9",
        n_items=9,
        item_min=0,
        item_max=3,
        total_min=0,
        total_max=27,
        bands=(
            (0, "minimal"),
            (5, "mild"),
            (10, "moderate"),
            (15, "moderately severe"),
            (20, "severe"),
        ),
        max_missing=1,
        construct="depression",
        cutoff=10,
        reference_alpha=0.89,
        citation=(
            "Kroenke, K., Spitzer, R. L., & Williams, J. B. W. (2001). The PHQ-9: "
            "Validity of a brief depression severity measure. Journal of General "
            "Internal Medicine, 16(9), 606-613. Alpha 0.89 in the PHQ Primary "
            "Care Study."
        ),
    ),
    "gad7": Instrument(
        key="gad7",
        name="GAD-7",
        n_items=7,
        item_min=0,
        item_max=3,
        total_min=0,
        total_max=21,
        bands=((0, "minimal"), (5, "mild"), (10, "moderate"), (15, "severe")),
        max_missing=1,
        construct="anxiety",
        cutoff=10,
        reference_alpha=0.92,
        citation=(
            "Spitzer, R. L., Kroenke, K., Williams, J. B. W., & Lowe, B. (2006). A "
            "brief measure for assessing generalized anxiety disorder: The GAD-7. "
            "Archives of Internal Medicine, 166(10), 1092-1097. Alpha 0.92."
        ),
    ),
    "cesd": Instrument(
        key="cesd",
        name="CES-D-20",
        n_items=20,
        item_min=0,
        item_max=3,
        total_min=0,
        total_max=60,
        reverse=(4, 8, 12, 16),
        bands=((0, "below cut-off"), (16, "at or above cut-off")),
        max_missing=4,
        construct="depression",
        cutoff=16,
        reference_alpha=0.85,
        citation=(
            "Radloff, L. S. (1977). The CES-D Scale: A self-report depression "
            "scale for research in the general population. Applied Psychological "
            "Measurement, 1(3), 385-401. Alpha 0.85 in the general population."
        ),
    ),
    "bdi": Instrument(
        key="bdi",
        name="BDI-II",
        n_items=0,
        item_min=None,
        item_max=None,
        total_min=0,
        total_max=63,
        bands=((0, "minimal"), (14, "mild"), (20, "moderate"), (29, "severe")),
        construct="depression",
        cutoff=14,
        reference_alpha=0.92,
        citation=(
            "Beck, A. T., Steer, R. A., & Brown, G. K. (1996). Manual for the Beck "
            "Depression Inventory-II. Psychological Corporation. Cut-off 14 (end "
            "of the minimal band); alpha 0.92 in outpatients (manual)."
        ),
    ),
    "pcl5": Instrument(
        key="pcl5",
        name="PCL-5",
        n_items=0,
        item_min=None,
        item_max=None,
        total_min=0,
        total_max=80,
        bands=((0, "below cut-off"), (33, "probable PTSD")),
        construct="ptsd",
        cutoff=33,
        reference_alpha=0.94,
        citation=(
            "Weathers, F. W., Litz, B. T., Keane, T. M., Palmieri, P. A., Marx, B. "
            "P., & Schnurr, P. P. (2013). The PTSD Checklist for DSM-5 (PCL-5). "
            "National Center for PTSD. Cut-off 33: Bovin, M. J., et al. (2016). "
            "Psychological Assessment, 28(11), 1379-1391. Alpha 0.94: Blevins, C. "
            "A., et al. (2015). Journal of Traumatic Stress, 28(6), 489-498."
        ),
    ),
}


def get(key: str | Instrument, data: pd.DataFrame | pd.Series | None = None) -> Instrument:
    """Look up an instrument among those ``data`` carry, then in :data:`INSTRUMENTS`.

    Parameters
    ----------
    key : str or Instrument
        Instrument key such as ``"phq9"``; an :class:`Instrument` is returned as is.
    data : DataFrame or Series, optional
        A table from :func:`analysis.io.load_trial` (or a column of it), whose
        ``attrs["instruments"]`` holds the instruments found in it, including
        those defined in the mapping's ``instruments:`` section.

    Returns
    -------
    Instrument

    Raises
    ------
    ValueError
        If ``key`` is neither carried by ``data`` nor registered; the message lists
        the known keys.
    """
    if isinstance(key, Instrument):
        return key
    known = {**INSTRUMENTS, **_carried(data)}
    try:
        return known[key]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown instrument {key!r}; known instruments: {sorted(known)}"
        ) from None


def _carried(data: pd.DataFrame | pd.Series | None) -> dict[str, Instrument]:
    """The instruments a loaded table carries in ``attrs["instruments"]``."""
    carried = getattr(data, "attrs", {}).get("instruments")
    if not isinstance(carried, dict):
        return {}
    return {key: inst for key, inst in carried.items() if isinstance(inst, Instrument)}


def has_items(data: pd.DataFrame, instrument: str | Instrument) -> bool:
    """Whether ``data`` hold every item column of an item instrument (else only its total counts)."""
    instrument = get(instrument, data)
    return instrument.n_items > 0 and set(instrument.items) <= set(data.columns)


def trial_pair(data: pd.DataFrame, se_instrument: str | None,
               symptom_instruments) -> tuple[Instrument | None, Instrument | None, str | None]:
    """The SE instrument and the first symptom instrument a report can use, or why not.

    Parameters
    ----------
    data : pandas.DataFrame
        A table from :func:`analysis.io.load_trial` (its ``attrs["instruments"]``).
    se_instrument : str or None
        The report's SE instrument key; None when the study has no SE measure.
    symptom_instruments : sequence of str
        Symptom instrument keys in order of preference.

    Returns
    -------
    se, symptom : Instrument or None
    reason : str or None
        Why the SE-and-symptom analyses cannot run (None when they can).
    """
    present = data.attrs.get("instruments", {})
    symptoms = [key for key in symptom_instruments if key in present]
    if se_instrument is None:
        return None, None, "the study has no self-efficacy measure (`se_instrument` is null)"
    if se_instrument not in present:
        return None, None, f"the data have no {se_instrument!r} scores (instruments found: {sorted(present)})"
    if not symptoms:
        return None, None, (f"none of the symptom instruments {list(symptom_instruments)} is in the data "
                            f"(instruments found: {sorted(present)})")
    return get(se_instrument, data), get(symptoms[0], data), None


# --------------------------------------------------------------------------- scoring


def _require_items(instrument: Instrument) -> None:
    if instrument.n_items == 0:
        raise ValueError(
            f"instrument {instrument.key!r} ({instrument.name}) has no items; it is "
            f"recorded as a total in column {instrument.total!r}"
        )


def _item_frame(data: pd.DataFrame, instrument: Instrument) -> pd.DataFrame:
    """Return the instrument's item columns as floats, checking presence and range."""
    missing = [column for column in instrument.items if column not in data.columns]
    if missing:
        raise ValueError(f"data is missing {instrument.name} item columns: {missing}")
    items = data[instrument.items]
    non_numeric = [c for c in items.columns if not pd.api.types.is_numeric_dtype(items[c])]
    if non_numeric:
        raise ValueError(f"{instrument.name} item columns are not numeric: {non_numeric}")
    items = items.astype(float)
    for column in items.columns:
        values = items[column].dropna()
        out_of_range = values[(values < instrument.item_min) | (values > instrument.item_max)]
        if not out_of_range.empty:
            raise ValueError(
                f"column {column!r} has values outside {instrument.item_min}.."
                f"{instrument.item_max}: {sorted(out_of_range.unique().tolist())}"
            )
    return items


def reverse_keyed(data: pd.DataFrame, instrument: str | Instrument) -> pd.DataFrame:
    """Return the item columns with reverse-keyed items recoded.

    Parameters
    ----------
    data : pandas.DataFrame
        Holds the instrument's item columns (other columns are ignored).
    instrument : str or Instrument
        Instrument key (looked up with :func:`get` in ``data`` and the registry) or
        instrument.

    Returns
    -------
    pandas.DataFrame
        Float item columns, reverse items scored ``item_min + item_max - x``;
        missing responses stay missing.

    Raises
    ------
    ValueError
        If the instrument has no items, item columns are missing or non-numeric,
        or responses fall outside the item range.
    """
    instrument = get(instrument, data)
    _require_items(instrument)
    items = _item_frame(data, instrument)
    reverse_columns = [instrument.items[i - 1] for i in instrument.reverse]
    items[reverse_columns] = instrument.item_min + instrument.item_max - items[reverse_columns]
    return items


def score(data: pd.DataFrame, instrument: str | Instrument) -> pd.Series:
    """Score an item instrument, prorating totals with few missing items.

    Parameters
    ----------
    data : pandas.DataFrame
        Holds the item columns ``f"{key}_{i}"``.
    instrument : str or Instrument
        Instrument key (found with :func:`get` in the data or the registry) or
        instrument.

    Returns
    -------
    pandas.Series
        Float totals named ``instrument.total`` with the index of ``data``. A
        complete row gets the sum of its (reverse-keyed) items. A row with
        1..``max_missing`` missing items gets the prorated total, the mean of the
        answered items times ``n_items``, which is not rounded. A row with more
        missing items gets NaN.

    Raises
    ------
    ValueError
        If the instrument is total-only, item columns are missing (named in the
        message) or non-numeric, or responses are outside the item range.
    """
    instrument = get(instrument, data)
    items = reverse_keyed(data, instrument)
    n_missing = items.isna().sum(axis=1)
    prorated = items.mean(axis=1) * instrument.n_items
    total = prorated.where(n_missing <= instrument.max_missing)
    return total.astype(float).rename(instrument.total)


def severity(totals: pd.Series | np.ndarray, instrument: str | Instrument) -> pd.Series:
    """Classify totals into the instrument's severity bands.

    Parameters
    ----------
    totals : pandas.Series or array-like
        Total scores (prorated, fractional totals are allowed).
    instrument : str or Instrument
        Instrument key (found with :func:`get` in the data or the registry) or
        instrument.

    Returns
    -------
    pandas.Series
        Ordered categorical of band labels with the index of ``totals`` (a
        default index for arrays); a total falls in the band with the largest
        lower bound not above it. Missing totals stay missing.

    Raises
    ------
    ValueError
        If the instrument has no bands, or totals fall outside
        ``total_min..total_max``.
    """
    instrument = get(instrument, totals)
    if not instrument.bands:
        raise ValueError(
            f"instrument {instrument.key!r} ({instrument.name}) has no severity bands"
        )
    totals = pd.Series(totals, dtype=float)
    present = totals.dropna()
    out_of_range = present[(present < instrument.total_min) | (present > instrument.total_max)]
    if not out_of_range.empty:
        raise ValueError(
            f"totals outside {instrument.total_min}..{instrument.total_max} for "
            f"{instrument.name}: {sorted(out_of_range.unique().tolist())}"
        )
    lower_bounds = np.array([lower for lower, _ in instrument.bands], dtype=float)
    codes = np.searchsorted(lower_bounds, totals.to_numpy(), side="right") - 1
    codes[totals.isna().to_numpy()] = -1
    labels = [label for _, label in instrument.bands]
    bands = pd.Categorical.from_codes(codes, categories=labels, ordered=True)
    return pd.Series(bands, index=totals.index, name=f"{instrument.key}_severity")


# ----------------------------------------------------------------------- reliability


@dataclass(frozen=True)
class Reliability:
    """Internal-consistency reliability of a set of items.

    Attributes
    ----------
    alpha : float
        Cronbach's alpha from the item covariance matrix.
    std_alpha : float
        Standardised alpha from the item correlation matrix.
    alpha_ci : tuple of float
        Feldt confidence interval for ``alpha`` at ``level``.
    omega : float
        McDonald's omega total from a one-factor minres solution, defined as in
        ``psych::omega(x, nfactors = 1)$omega.tot`` and evaluated at the exact
        minres optimum (see :func:`reliability`).
    n : int
        Respondents used.
    k : int
        Number of items.
    item_stats : pandas.DataFrame
        Indexed by item (psych's ``item.stats`` and ``alpha.drop``):
        ``raw_r`` (correlation of the item with the mean of the items),
        ``std_r`` (the same from the correlation matrix), ``r_cor`` (``std_r``
        corrected for item overlap and unreliability), ``r_drop`` (corrected
        item-total correlation), ``alpha_if_dropped``, ``mean``, ``sd``.
    level : float
        Confidence level of ``alpha_ci``.
    missing : str
        ``"pairwise"`` or ``"listwise"``.
    n_dropped : int
        Rows excluded: rows with no responses (pairwise) or with any missing
        response (listwise).
    g6 : float
        Guttman's lambda 6 (psych's ``G6(smc)``).
    average_r : float
        Mean inter-item correlation.
    flagged : tuple of str
        Items negatively correlated with the first principal component: those
        ``psych::alpha(check.keys = TRUE)`` reverses.
    check_keys : bool
        Whether the ``flagged`` items were reversed before everything else.
    """

    alpha: float
    std_alpha: float
    alpha_ci: tuple[float, float]
    omega: float
    n: int
    k: int
    item_stats: pd.DataFrame = field(repr=False)
    level: float = 0.95
    missing: str = "pairwise"
    n_dropped: int = 0
    g6: float = math.nan
    average_r: float = math.nan
    flagged: tuple[str, ...] = ()
    check_keys: bool = False

    def summary(self) -> str:
        """Return a short plain-text table of the reliability estimates.

        Returns
        -------
        str
        """
        lower, upper = self.alpha_ci
        header = [
            (f"Reliability: n = {self.n} respondents ({self.missing}, "
             f"{self.n_dropped} rows dropped), k = {self.k} items"),
            (f"  alpha      {self.alpha:.3f}  "
             f"[{self.level:.0%} CI {lower:.3f}, {upper:.3f}] (Feldt)"),
            f"  std alpha  {self.std_alpha:.3f}",
            f"  G6 (smc)   {self.g6:.3f}",
            f"  average r  {self.average_r:.3f}",
            f"  omega tot  {self.omega:.3f}",
            f"  reversed   {', '.join(self.flagged) or 'none'}" if self.check_keys
            else f"  flagged    {', '.join(self.flagged) or 'none'} (negative on the first component)",
            "",
        ]
        return "\n".join(header) + self.item_stats.to_string(float_format="{:.3f}".format)

    def __str__(self) -> str:
        return self.summary()


def _alpha_from_covariance(cov: np.ndarray) -> float:
    """Cronbach's alpha ``k/(k-1) * (1 - tr(C)/sum(C))``."""
    k = cov.shape[0]
    return k / (k - 1) * (1.0 - np.trace(cov) / cov.sum())


def _feldt_interval(alpha: float, n: int, k: int, level: float) -> tuple[float, float]:
    """Feldt, Woodruff and Salih (1987) interval, as ``psych::alpha.ci``."""
    tail = (1.0 - level) / 2.0
    df_between, df_within = n - 1, (n - 1) * (k - 1)
    lower = 1.0 - (1.0 - alpha) * stats.f.ppf(1.0 - tail, df_between, df_within)
    upper = 1.0 - (1.0 - alpha) * stats.f.ppf(tail, df_between, df_within)
    return float(lower), float(upper)


def _corrected_item_total(cov: np.ndarray) -> np.ndarray:
    """Correlation of each item with the sum of the other items (psych ``r.drop``)."""
    k = cov.shape[0]
    r_drop = np.empty(k)
    for i in range(k):
        rest = np.delete(np.arange(k), i)
        covariance_with_rest = cov[i, rest].sum()
        r_drop[i] = covariance_with_rest / math.sqrt(cov[i, i] * cov[np.ix_(rest, rest)].sum())
    return r_drop


def _alpha_if_dropped(cov: np.ndarray) -> np.ndarray:
    k = cov.shape[0]
    return np.array(
        [_alpha_from_covariance(np.delete(np.delete(cov, i, 0), i, 1)) for i in range(k)]
    )


def _squared_multiple_correlations(corr: np.ndarray) -> np.ndarray:
    """SMCs ``1 - 1/diag(R^-1)``, clipped to [0, 1] as in ``psych::smc``."""
    return np.clip(1.0 - 1.0 / np.diag(np.linalg.pinv(corr)), 0.0, 1.0)


def _first_factor(reduced: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Loadings ``sqrt(lambda_1) v_1`` of a reduced correlation matrix, with its eigensystem."""
    eigenvalues, eigenvectors = np.linalg.eigh(reduced)
    loadings = math.sqrt(max(eigenvalues[-1], 0.0)) * eigenvectors[:, -1]
    return loadings, eigenvalues, eigenvectors


def _minres_loadings(corr: np.ndarray) -> np.ndarray:
    """One-factor minimum-residual loadings, parameterised as in ``psych::fa``.

    For uniquenesses ``psi`` the loadings are the first principal axis of the
    correlation matrix with ``1 - psi`` on the diagonal,
    ``l(psi) = sqrt(lambda_1) v_1``; ``psi`` minimises the sum of squared
    off-diagonal residuals ``sum_{i<j} (r_ij - l_i l_j)^2`` subject to
    ``0.005 <= psi <= 1``, starting from ``1 - SMC``: psych's problem for
    ``fm = "minres"``. psych stops at ``optim``'s default L-BFGS-B tolerance
    (relative change 1e7 * machine epsilon) with an approximate gradient; this
    uses the exact gradient and a relative tolerance of 1e-15, so it returns the
    optimum that psych approximates.
    """
    off_diagonal = corr - np.diag(np.diag(corr))

    def objective(psi: np.ndarray) -> tuple[float, np.ndarray]:
        loadings, eigenvalues, eigenvectors = _first_factor(off_diagonal + np.diag(1.0 - psi))
        residual = off_diagonal - np.outer(loadings, loadings)
        np.fill_diagonal(residual, 0.0)
        # dl/dpsi_m = -v_m^2 / (2 root) v - root v_m P e_m, with v the first
        # eigenvector, root = sqrt(lambda_1) and P = sum_k v_k v_k' / (lambda_1 - lambda_k).
        vector = eigenvectors[:, -1]
        root = math.sqrt(max(eigenvalues[-1], np.finfo(float).eps))
        others = eigenvectors[:, :-1]
        resolvent = (others / (eigenvalues[-1] - eigenvalues[:-1])) @ others.T
        pull = residual @ loadings
        gradient = vector**2 * (vector @ pull) / root + 2.0 * root * vector * (resolvent @ pull)
        return 0.5 * float((residual**2).sum()), gradient

    start = 1.0 - _squared_multiple_correlations(corr)
    fit = optimize.minimize(
        objective,
        start,
        jac=True,
        method="L-BFGS-B",
        bounds=[(_MIN_UNIQUENESS, 1.0)] * len(start),
        options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000},
    )
    if not fit.success:
        raise RuntimeError(f"minres factor analysis did not converge: {fit.message}")
    return _first_factor(off_diagonal + np.diag(1.0 - fit.x))[0]


def _omega_total(corr: np.ndarray) -> float:
    """Omega total as ``psych::omega(x, nfactors = 1)$omega.tot``.

    ``omega_t = (V_t - sum(u2)) / V_t``, where ``V_t`` is the sum of the item
    correlation matrix after reflecting items with negative loadings and
    ``u2 = 1 - h2`` are the minres uniquenesses.
    """
    loadings = _minres_loadings(corr)
    key = np.where(loadings < 0, -1.0, 1.0)
    total_variance = (corr * np.outer(key, key)).sum()
    uniqueness = 1.0 - loadings**2
    return float((total_variance - uniqueness.sum()) / total_variance)


def _validated_items(items: pd.DataFrame, missing: str,
                     min_columns: int = 3) -> tuple[pd.DataFrame, int]:
    """Check the item frame and drop rows per ``missing``; return rows dropped."""
    if missing not in MISSING_METHODS:
        raise ValueError(f"missing must be one of {MISSING_METHODS}, got {missing!r}")
    non_numeric = [c for c in items.columns if not pd.api.types.is_numeric_dtype(items[c])]
    if non_numeric:
        raise ValueError(f"items has non-numeric columns: {non_numeric}")
    if items.shape[1] < min_columns:
        raise ValueError(f"items needs at least {min_columns} columns, got {list(items.columns)}")
    items = items.astype(float)
    keep = items.notna().all(axis=1) if missing == "listwise" else items.notna().any(axis=1)
    used = items[keep]
    constant = [c for c in used.columns if not used[c].std() > 0]
    if constant:
        raise ValueError(f"items has columns with no variance among rows used: {constant}")
    return used, int((~keep).sum())


def _require_complete_pairs(cov: np.ndarray, columns: pd.Index) -> None:
    """Raise if some item pairs have too few joint responses for a covariance."""
    rows, cols = np.nonzero(np.triu(np.isnan(cov)))
    if rows.size:
        pairs = [(columns[i], columns[j]) for i, j in zip(rows, cols, strict=True)]
        raise ValueError(f"items has pairs with fewer than 2 joint responses: {pairs}")


def _pairwise_covariance(used: pd.DataFrame) -> np.ndarray:
    """Pairwise-complete item covariance matrix (R's ``cov(x, use = "pairwise")``), checked."""
    cov = used.cov().to_numpy()
    _require_complete_pairs(cov, used.columns)
    return cov


def _covariance_to_correlation(cov: np.ndarray) -> np.ndarray:
    """``R = D^-1/2 C D^-1/2`` with ``D = diag(C)`` (R's ``cov2cor``)."""
    sd = np.sqrt(np.diag(cov))
    return cov / np.outer(sd, sd)


def _negative_on_first_component(corr: np.ndarray, columns: pd.Index) -> tuple[str, ...]:
    """Items with a negative loading on the first principal component, as psych keys them.

    The loadings are ``sqrt(lambda_1) v_1`` of ``corr``, reflected when they sum
    to less than zero (``psych::principal`` with one component); psych's
    ``check.keys`` reverses the items whose loading is then negative.
    """
    eigenvectors = np.linalg.eigh(corr)[1]
    first = eigenvectors[:, -1]
    if first.sum() < 0:
        first = -first
    return tuple(str(column) for column, loading in zip(columns, first, strict=True) if loading < 0)


def _reverse_items(used: pd.DataFrame, columns: tuple[str, ...]) -> pd.DataFrame:
    """Reverse ``columns`` as psych's ``check.keys``: ``min + max - x``, min and max over all items."""
    if not columns:
        return used
    reversed_items = used.copy()
    values = used.to_numpy()
    adjust = np.nanmin(values) + np.nanmax(values)
    reversed_items[list(columns)] = adjust - used[list(columns)]
    return reversed_items


def _keyed(items: pd.DataFrame, missing: str, check_keys: bool,
           min_columns: int) -> tuple[pd.DataFrame, int, tuple[str, ...], np.ndarray]:
    """Validated items, rows dropped, the flagged items and the covariance, keyed if asked.

    Items are flagged from the pairwise correlation matrix (psych's
    ``principal(x)``); with ``check_keys`` they are reversed by
    :func:`_reverse_items` before the covariance is taken.
    """
    used, n_dropped = _validated_items(items, missing, min_columns)
    cov = _pairwise_covariance(used)
    flagged = _negative_on_first_component(used.corr().to_numpy(), used.columns)
    if check_keys and flagged:
        used = _reverse_items(used, flagged)
        cov = _pairwise_covariance(used)
    return used, n_dropped, flagged, cov


def _item_total_correlations(used: pd.DataFrame) -> np.ndarray:
    """psych's ``raw.r``: pairwise correlation of each item with the row mean of the answered items."""
    total = used.mean(axis=1)
    return used.corrwith(total).to_numpy()


def _item_whole_correlations(corr: np.ndarray, diagonal: np.ndarray | None = None) -> np.ndarray:
    """``colSums(R) / sqrt(sum(R))``: psych's ``std.r``, or ``r.cor`` with ``diagonal = smc(R)``."""
    corr = corr.copy()
    if diagonal is not None:
        np.fill_diagonal(corr, diagonal)
    return corr.sum(axis=0) / math.sqrt(corr.sum())


def _guttman_lambda6(corr: np.ndarray) -> float:
    """Guttman's lambda 6, ``1 - (k - sum(smc)) / 1'R1`` (psych's ``G6(smc)``)."""
    k = corr.shape[0]
    return float(1.0 - (k - _squared_multiple_correlations(corr).sum()) / corr.sum())


def _average_correlation(corr: np.ndarray) -> float:
    """Mean off-diagonal correlation ``(1'R1 - k) / (k (k - 1))``."""
    k = corr.shape[0]
    return float((corr.sum() - k) / (k * (k - 1)))


def _item_statistics(used: pd.DataFrame, cov: np.ndarray, corr: np.ndarray) -> pd.DataFrame:
    """psych's ``item.stats`` (raw.r, std.r, r.cor, r.drop, mean, sd) and ``alpha.drop$raw_alpha``."""
    return pd.DataFrame(
        {
            "raw_r": _item_total_correlations(used),
            "std_r": _item_whole_correlations(corr),
            "r_cor": _item_whole_correlations(corr, _squared_multiple_correlations(corr)),
            "r_drop": _corrected_item_total(cov),
            "alpha_if_dropped": _alpha_if_dropped(cov),
            "mean": used.mean().to_numpy(),
            "sd": used.std().to_numpy(),
        },
        index=pd.Index(used.columns, name="item"),
    )


def reliability(
    items: pd.DataFrame, level: float = 0.95, missing: str = "pairwise",
    check_keys: bool = False,
) -> Reliability:
    """Cronbach's alpha, its Feldt interval, item statistics and omega total.

    Reproduces R's ``psych::alpha(items, check.keys = check_keys)`` and
    ``psych::omega(items, nfactors = 1)$omega.tot``. Items should already be
    keyed in the same direction (see :func:`reverse_keyed`); ``flagged`` names
    those that seem not to be, and ``check_keys=True`` reverses them.

    Parameters
    ----------
    items : pandas.DataFrame
        Item responses, rows respondents, at least 3 numeric columns.
    level : float, default 0.95
        Confidence level of the Feldt interval.
    missing : {"pairwise", "listwise"}, default "pairwise"
        ``"pairwise"`` matches psych's default (``use = "pairwise"``): item
        covariances and correlations use all pairwise-complete responses, item
        means and SDs all available responses, and ``n`` (used by the Feldt
        interval) counts every row with at least one response (psych counts all
        rows; the two agree unless some rows are entirely empty, which are
        dropped here). ``"listwise"`` drops rows with any missing item first.
        The number of rows dropped is reported as ``n_dropped``.
    check_keys : bool, default False
        Reverse the items negatively correlated with the first principal
        component of the (pairwise) item correlation matrix, as
        ``psych::alpha(check.keys = TRUE)``: ``x -> min + max - x`` with the
        minimum and maximum over all items' responses. The items concerned are
        reported in ``flagged`` either way.

    Returns
    -------
    Reliability

    Notes
    -----
    ``alpha = k/(k-1) (1 - tr(C)/1'C1)`` with ``C`` the item covariance matrix;
    ``std_alpha`` is the same formula on ``R = cov2cor(C)``,
    ``g6 = 1 - (k - sum_i smc_i)/1'R1`` (Guttman's lambda 6 with squared
    multiple correlations ``smc_i = 1 - 1/(R^-1)_ii``) and
    ``average_r = (1'R1 - k)/(k(k - 1))``. Item statistics (psych's names in
    brackets): ``raw_r`` (raw.r) is the pairwise correlation of the item with
    each respondent's mean of the answered items; ``std_r`` (std.r) is
    ``(R1)_i / sqrt(1'R1)``; ``r_cor`` (r.cor) the same with ``smc`` on the
    diagonal of ``R``; ``r_drop`` (r.drop) is the correlation of an item with
    the sum of the other items and ``alpha_if_dropped`` (alpha.drop raw_alpha)
    is alpha of the remaining items, both from ``C``. The
    Feldt interval is ``1 - (1 - alpha) F_{q}(n - 1, (n - 1)(k - 1))`` with
    ``q = (1 + level)/2`` for the lower and ``(1 - level)/2`` for the upper limit.
    Omega total follows psych's one-factor definition: with minres loadings
    ``l`` fitted to the item correlation matrix ``R`` (pairwise or listwise as
    above; items with negative loadings reflected),
    ``omega = (1'R1 - sum(1 - l^2)) / 1'R1``. The minres problem is psych's
    (same parameterisation, start and uniqueness bound 0.005) solved to a
    relative tolerance of 1e-15. psych stops earlier, so its printed omega
    differs from this value by up to about 1e-5 in ordinary cases and more
    (1e-4 or so) when a uniqueness sits at the bound (Heywood case).

    Raises
    ------
    ValueError
        On fewer than 3 items, non-numeric or constant items, item pairs with
        fewer than 2 joint responses, an unknown ``missing`` method or a
        ``level`` outside (0, 1).
    RuntimeError
        If the minres fit for omega does not converge.
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    used, n_dropped, flagged, cov = _keyed(items, missing, check_keys, min_columns=3)
    corr = _covariance_to_correlation(cov)
    alpha = _alpha_from_covariance(cov)
    n, k = used.shape
    return Reliability(
        alpha=float(alpha),
        std_alpha=float(_alpha_from_covariance(corr)),
        alpha_ci=_feldt_interval(alpha, n, k, level),
        omega=_omega_total(used.corr().to_numpy()),
        n=n,
        k=k,
        item_stats=_item_statistics(used, cov, corr),
        level=level,
        missing=missing,
        n_dropped=n_dropped,
        g6=_guttman_lambda6(corr),
        average_r=_average_correlation(corr),
        flagged=flagged,
        check_keys=check_keys,
    )


# ------------------------------------------------------------------- split half


@dataclass(frozen=True)
class SplitHalf:
    """Split-half reliabilities of a set of items (``psych::splitHalf``).

    Attributes
    ----------
    max : float
        Largest split-half reliability (psych's ``maxrb``, Guttman's lambda 4).
    min : float
        Smallest split-half reliability (``minrb``, Revelle's beta when all
        splits are seen).
    mean : float
        psych's ``meanr``: the sum of the split-half reliabilities over the
        number of splits psych divides by (see :func:`split_half`).
    n_splits : int
        Splits evaluated.
    sampled : bool
        Whether the splits were drawn at random instead of enumerated.
    k : int
        Number of items.
    flagged : tuple of str
        Items negatively correlated with the first principal component.
    check_keys : bool
        Whether the ``flagged`` items were reversed.
    """

    max: float
    min: float
    mean: float
    n_splits: int
    sampled: bool
    k: int
    flagged: tuple[str, ...] = ()
    check_keys: bool = True


def _split_indicators(k: int, n_sample: int,
                      rng: np.random.Generator) -> tuple[np.ndarray, float, bool]:
    """Indicator rows of the first halves psych evaluates, psych's divisor, and whether sampled.

    With ``m = floor(k/2)`` and ``count = choose(k, m)/2``: when
    ``count <= n_sample`` the first ``ceil(count)`` ``m``-subsets of the items
    in lexicographic order (psych's ``combn`` walk; for even ``k`` these are
    all distinct splits, each once), divisor ``count``; otherwise ``n_sample``
    random ``m``-subsets, divisor ``n_sample``.
    """
    m = k // 2
    count = math.comb(k, m) / 2
    if count <= n_sample:
        subsets = list(itertools.islice(itertools.combinations(range(k), m), math.ceil(count)))
        divisor, sampled = count, False
    else:
        subsets = [rng.choice(k, size=m, replace=False) for _ in range(n_sample)]
        divisor, sampled = float(n_sample), True
    halves = np.zeros((len(subsets), k))
    for row, subset in enumerate(subsets):
        halves[row, list(subset)] = 1.0
    return halves, divisor, sampled


def split_half(items: pd.DataFrame, check_keys: bool = True, n_sample: int = 10_000,
               seed: int | np.random.Generator | None = None) -> SplitHalf:
    """Maximum, minimum and mean split-half reliability, as ``psych::splitHalf(items)``.

    Parameters
    ----------
    items : pandas.DataFrame
        Item responses, rows respondents, at least 2 numeric columns; missing
        responses are handled pairwise (psych's ``use = "pairwise"``).
    check_keys : bool, default True
        Reverse items negatively correlated with the first principal component
        of ``R`` first (psych's default), by reflecting their rows and columns
        of ``R``.
    n_sample : int, default 10000
        psych's ``n.sample``: splits are enumerated when
        ``choose(k, floor(k/2))/2 <= n_sample`` (k <= 16 items with the default)
        and drawn at random otherwise.
    seed : int or numpy.random.Generator, optional
        Randomness for the sampled splits (R's ``sample`` cannot be reproduced,
        so sampled results match psych's only in distribution).

    Returns
    -------
    SplitHalf

    Notes
    -----
    ``R = cov2cor(C)`` with ``C`` the pairwise item covariance matrix. A split
    into halves with indicator vectors ``a`` and ``b = 1 - a`` has reliability
    ``4 a'Rb / 1'R1`` (Guttman's lambda 4 for that split). The first half has
    ``m = floor(k/2)`` items. With ``count = choose(k, m)/2`` psych evaluates,
    when ``count <= n_sample``, the first ``ceil(count)`` ``m``-subsets in
    lexicographic order and reports ``meanr = sum / count``. For even ``k``
    these are exactly the distinct splits, so ``max``, ``min`` and ``mean`` are
    over all splits. For odd ``k`` they are only some of the ``choose(k, m)``
    splits and ``count`` is not their number (e.g. ``k = 7``: 18 splits summed,
    divided by 17.5); this function reproduces psych there too, so its ``mean``
    is then psych's number rather than a true mean. Otherwise ``n_sample``
    random ``m``-subsets are used and ``mean`` is their mean.

    Raises
    ------
    ValueError
        On fewer than 2 items, non-numeric or constant items, item pairs with
        fewer than 2 joint responses, or ``n_sample < 1``.
    """
    if n_sample < 1:
        raise ValueError(f"n_sample must be at least 1, got {n_sample!r}")
    used, _ = _validated_items(items, "pairwise", min_columns=2)
    corr = _covariance_to_correlation(_pairwise_covariance(used))
    flagged = _negative_on_first_component(corr, used.columns)
    if check_keys:
        keys = np.where(used.columns.isin(flagged), -1.0, 1.0)
        corr = corr * np.outer(keys, keys)
    halves, divisor, sampled = _split_indicators(used.shape[1], n_sample, np.random.default_rng(seed))
    lambda4 = 4.0 * np.einsum("si,ij,sj->s", halves, corr, 1.0 - halves) / corr.sum()
    return SplitHalf(max=float(lambda4.max()), min=float(lambda4.min()),
                     mean=float(lambda4.sum() / divisor), n_splits=len(halves), sampled=sampled,
                     k=used.shape[1], flagged=flagged, check_keys=check_keys)


# -------------------------------------------------------------------------- ICC

ICC_FORMS = ("ICC1", "ICC2", "ICC3", "ICC1k", "ICC2k", "ICC3k")


def _complete_ratings(ratings: pd.DataFrame | np.ndarray) -> tuple[np.ndarray, int]:
    """Numeric ratings of the complete rows, and how many rows were dropped."""
    frame = pd.DataFrame(ratings)
    non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
    if non_numeric:
        raise ValueError(f"ratings has non-numeric columns: {non_numeric}")
    if frame.shape[1] < 2:
        raise ValueError(f"ratings needs at least 2 raters (columns), got {list(frame.columns)}")
    complete = frame.dropna().to_numpy(dtype=float)
    if len(complete) < 2:
        raise ValueError(f"ratings needs at least 2 subjects rated by every rater, got {len(complete)}")
    if np.ptp(complete) == 0:
        raise ValueError("ratings has no variance among the complete rows")
    return complete, len(frame) - len(complete)


def _two_way_mean_squares(x: np.ndarray) -> dict[str, float]:
    """Mean squares of the two-way ANOVA ``rating ~ subject + rater`` (one rating per cell).

    ``MSB = k sum_i (xbar_i. - xbar)^2/(n - 1)`` (subjects),
    ``MSJ = n sum_j (xbar_.j - xbar)^2/(k - 1)`` (raters),
    ``MSE = SSE/((n - 1)(k - 1))`` (residual) and
    ``MSW = (SSJ + SSE)/(n(k - 1))`` (within subjects).
    """
    n, k = x.shape
    grand = x.mean()
    ss_subjects = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_raters = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_error = ((x - grand) ** 2).sum() - ss_subjects - ss_raters
    return {
        "MSB": ss_subjects / (n - 1),
        "MSJ": ss_raters / (k - 1),
        "MSE": ss_error / ((n - 1) * (k - 1)),
        "MSW": (ss_raters + ss_error) / (n * (k - 1)),
    }


def _spearman_brown(r: float, k: int) -> float:
    """Reliability of the mean of ``k`` ratings, ``k r / (1 + (k - 1) r)``."""
    return k * r / (1.0 + (k - 1) * r)


def _f_limits(f: float, df1: float, df2: float, q: float) -> tuple[float, float]:
    """``(F / F_q(df1, df2), F * F_q(df2, df1))``, the F bounds of Shrout & Fleiss."""
    return f / stats.f.ppf(q, df1, df2), f * stats.f.ppf(q, df2, df1)


def _icc2_interval(icc2: float, ms: dict[str, float], n: int, k: int,
                   q: float) -> tuple[float, float]:
    """Shrout & Fleiss (1979) approximate interval for ICC(2,1) with Satterthwaite df ``v``.

    ``v = (k-1)(n-1)(k r F_J + n(1 + (k-1) r) - k r)^2 /
    ((n-1) k^2 r^2 F_J^2 + (n(1 + (k-1) r) - k r)^2)`` with ``r`` = ICC2 and
    ``F_J = MSJ/MSE``; with ``F* = F_q(n-1, v)`` and ``F** = F_q(v, n-1)``,
    ``lower = n(MSB - F* MSE) / (F*(k MSJ + (kn - k - n) MSE) + n MSB)`` and
    ``upper = n(F** MSB - MSE) / (k MSJ + (kn - k - n) MSE + n F** MSB)``.
    """
    msb, msj, mse = ms["MSB"], ms["MSJ"], ms["MSE"]
    f_raters = msj / mse
    base = n * (1.0 + (k - 1) * icc2) - k * icc2
    v = ((k - 1) * (n - 1) * (k * icc2 * f_raters + base) ** 2
         / ((n - 1) * k**2 * icc2**2 * f_raters**2 + base**2))
    f_upper, f_lower = stats.f.ppf(q, n - 1, v), stats.f.ppf(q, v, n - 1)
    spread = k * msj + (k * n - k - n) * mse
    lower = n * (msb - f_upper * mse) / (f_upper * spread + n * msb)
    upper = n * (f_lower * msb - mse) / (spread + n * f_lower * msb)
    return lower, upper


def icc(ratings: pd.DataFrame | np.ndarray, level: float = 0.95) -> pd.DataFrame:
    """Shrout and Fleiss (1979) intraclass correlations, as ``psych::ICC``.

    Parameters
    ----------
    ratings : pandas.DataFrame or 2-D array
        Subjects in rows, raters (judges) in columns, numeric. Rows with a
        missing rating are dropped (complete cases).
    level : float, default 0.95
        Confidence level (psych's ``alpha = 1 - level``).

    Returns
    -------
    pandas.DataFrame
        Indexed ``ICC1, ICC2, ICC3, ICC1k, ICC2k, ICC3k`` with columns ``icc``,
        ``F``, ``df1``, ``df2``, ``p`` (upper tail of the F test that the ICC is
        zero), ``ci_low`` and ``ci_high``. ``attrs`` holds ``n`` (subjects
        used), ``k`` (raters), ``n_dropped`` (incomplete rows) and the mean
        squares ``MSB``, ``MSJ``, ``MSE``, ``MSW``.

    Notes
    -----
    From the two-way ANOVA mean squares (:func:`_two_way_mean_squares`):

    - ICC1 (one-way random) ``(MSB - MSW)/(MSB + (k-1) MSW)``,
      ``F = MSB/MSW`` on ``(n-1, n(k-1))`` df;
    - ICC2 (two-way random, absolute agreement)
      ``(MSB - MSE)/(MSB + (k-1) MSE + k(MSJ - MSE)/n)``;
    - ICC3 (two-way mixed, consistency) ``(MSB - MSE)/(MSB + (k-1) MSE)``;
      ICC2 and ICC3 use ``F = MSB/MSE`` on ``(n-1, (n-1)(k-1))`` df;
    - the average-of-k forms ``(MSB - MSW)/MSB``,
      ``(MSB - MSE)/(MSB + (MSJ - MSE)/n)`` and ``(MSB - MSE)/MSB``.

    Bounds (psych's formulas): with ``q = (1 + level)/2``, ``F_L = F/F_q(df1,
    df2)`` and ``F_U = F F_q(df2, df1)``, ICC1 and ICC3 have
    ``((F_L - 1)/(F_L + k - 1), (F_U - 1)/(F_U + k - 1))`` and ICC1k and ICC3k
    ``(1 - 1/F_L, 1 - 1/F_U)``; ICC2 uses :func:`_icc2_interval` and ICC2k its
    Spearman-Brown step-up ``k L/(1 + (k-1) L)``.

    psych's ``ICC`` fits the variance components with ``lme4::lmer`` by
    default (``lmer = TRUE``), which on complete data equals these ANOVA
    values up to lme4's optimiser tolerance (about 1e-6 on Shrout & Fleiss's
    example); this function matches ``ICC(na.omit(x), lmer = FALSE)`` exactly.
    (psych's ``lmer = TRUE`` keeps incomplete rows, and ``lmer = FALSE``
    stops on them; complete cases is psych's ``missing = TRUE`` intent.)

    Raises
    ------
    ValueError
        On fewer than 2 raters or 2 complete subjects, non-numeric columns,
        constant ratings or a ``level`` outside (0, 1).
    """
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1), got {level!r}")
    x, n_dropped = _complete_ratings(ratings)
    n, k = x.shape
    ms = _two_way_mean_squares(x)
    msb, msj, mse, msw = ms["MSB"], ms["MSJ"], ms["MSE"], ms["MSW"]
    q = 1.0 - (1.0 - level) / 2.0
    one_way = (msb / msw, n - 1, n * (k - 1))
    two_way = (msb / mse, n - 1, (n - 1) * (k - 1))
    f1_low, f1_high = _f_limits(*one_way, q)
    f3_low, f3_high = _f_limits(*two_way, q)
    icc2 = (msb - mse) / (msb + (k - 1) * mse + k * (msj - mse) / n)
    icc2_low, icc2_high = _icc2_interval(icc2, ms, n, k, q)
    rows = {
        "ICC1": ((msb - msw) / (msb + (k - 1) * msw), one_way,
                 (f1_low - 1) / (f1_low + k - 1), (f1_high - 1) / (f1_high + k - 1)),
        "ICC2": (icc2, two_way, icc2_low, icc2_high),
        "ICC3": ((msb - mse) / (msb + (k - 1) * mse), two_way,
                 (f3_low - 1) / (f3_low + k - 1), (f3_high - 1) / (f3_high + k - 1)),
        "ICC1k": ((msb - msw) / msb, one_way, 1 - 1 / f1_low, 1 - 1 / f1_high),
        "ICC2k": ((msb - mse) / (msb + (msj - mse) / n), two_way,
                  _spearman_brown(icc2_low, k), _spearman_brown(icc2_high, k)),
        "ICC3k": ((msb - mse) / msb, two_way, 1 - 1 / f3_low, 1 - 1 / f3_high),
    }
    table = pd.DataFrame(
        [{"icc": value, "F": f, "df1": df1, "df2": df2, "p": stats.f.sf(f, df1, df2),
          "ci_low": low, "ci_high": high}
         for value, (f, df1, df2), low, high in rows.values()],
        index=pd.Index(ICC_FORMS, name="type"),
    )
    table.attrs.update(n=n, k=k, n_dropped=n_dropped, **{name: float(v) for name, v in ms.items()})
    return table


# ------------------------------------------------------------------ reliable change


def _check_sd_and_reliability(sd_pre: float, reliability: float) -> None:
    if not sd_pre > 0:
        raise ValueError(f"sd_pre must be positive, got {sd_pre!r}")
    if not 0.0 <= reliability < 1.0:
        raise ValueError(f"reliability must be in [0, 1), got {reliability!r}")


def s_diff(sd_pre: float, reliability: float) -> float:
    """Standard error of the difference between two scores (Jacobson & Truax, 1991).

    Parameters
    ----------
    sd_pre : float
        Standard deviation of pre-treatment scores (positive).
    reliability : float
        Reliability ``r_xx`` of the measure, in [0, 1).

    Returns
    -------
    float
        ``sqrt(2) * SE_meas`` with ``SE_meas = sd_pre * sqrt(1 - r_xx)``.
    """
    _check_sd_and_reliability(sd_pre, reliability)
    return math.sqrt(2.0) * sd_pre * math.sqrt(1.0 - reliability)


def reliable_change_threshold(sd_pre: float, reliability: float, z: float = 1.96) -> float:
    """Smallest change that counts as reliable: ``z * S_diff``.

    Parameters
    ----------
    sd_pre : float
        Standard deviation of pre-treatment scores.
    reliability : float
        Reliability ``r_xx`` of the measure, in [0, 1).
    z : float, default 1.96
        Critical value of the reliable change index.

    Returns
    -------
    float
        A change is reliable when its absolute value exceeds this threshold.
    """
    if not z > 0:
        raise ValueError(f"z must be positive, got {z!r}")
    return z * s_diff(sd_pre, reliability)


def jt_cutoff(mean_clin: float, sd_clin: float, mean_norm: float, sd_norm: float) -> float:
    """Jacobson and Truax (1991) criterion c between two populations.

    Parameters
    ----------
    mean_clin, sd_clin : float
        Mean and SD of the clinical (dysfunctional) population.
    mean_norm, sd_norm : float
        Mean and SD of the normative (functional) population.

    Returns
    -------
    float
        ``c = (sd_clin * mean_norm + sd_norm * mean_clin) / (sd_clin + sd_norm)``,
        the point equally likely under both populations in SD units.
    """
    sds = {"sd_clin": sd_clin, "sd_norm": sd_norm}
    bad = {name: value for name, value in sds.items() if not value > 0}
    if bad:
        raise ValueError(f"standard deviations must be positive, got {bad}")
    return (sd_clin * mean_norm + sd_norm * mean_clin) / (sd_clin + sd_norm)


def _aligned_scores(
    pre: pd.Series | np.ndarray, post: pd.Series | np.ndarray
) -> tuple[pd.Series, pd.Series]:
    """Return ``pre`` and ``post`` as float Series sharing ``pre``'s index."""
    pre = pd.Series(pre, dtype=float)
    if isinstance(post, pd.Series):
        if not post.index.equals(pre.index):
            raise ValueError("post must have the same index as pre")
        post = post.astype(float)
    else:
        post_values = np.asarray(post, dtype=float)
        if post_values.shape != (len(pre),):
            raise ValueError(
                f"post must have the same length as pre ({len(pre)}), "
                f"got shape {post_values.shape}"
            )
        post = pd.Series(post_values, index=pre.index)
    return pre, post


def reliable_change(
    pre: pd.Series | np.ndarray,
    post: pd.Series | np.ndarray,
    sd_pre: float,
    reliability: float,
    higher_is_better: bool = False,
    cutoff: float | None = None,
    z: float = 1.96,
) -> pd.DataFrame:
    """Jacobson and Truax (1991) reliable change and clinical significance.

    Parameters
    ----------
    pre, post : pandas.Series or array-like
        Scores before and after; a ``post`` Series must share ``pre``'s index.
    sd_pre : float
        Standard deviation of pre-treatment scores (e.g. the baseline SD of the
        sample or of a normative clinical sample).
    reliability : float
        Reliability ``r_xx`` of the measure (e.g. alpha or test-retest), in [0, 1).
    higher_is_better : bool, default False
        Direction of improvement; False for symptom scales, True for e.g.
        self-efficacy.
    cutoff : float, optional
        Clinical cut-off (e.g. from :func:`jt_cutoff`). A score is on the
        functional side when strictly better than the cutoff (below it when lower
        is better, above it when higher is better) and on the dysfunctional side
        otherwise.
    z : float, default 1.96
        Critical value; a change is reliable when ``|RCI| > z``, i.e. when
        ``|post - pre|`` exceeds :func:`reliable_change_threshold`.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``pre``, with columns ``change`` (post - pre), ``rci``
        (``change / S_diff``), ``reliable`` (nullable boolean) and ``category``,
        an ordered categorical "deteriorated" < "unchanged" < "improved" <
        "recovered". Recovered: reliable improvement from the dysfunctional to the
        functional side of ``cutoff`` (only when a cutoff is given); improved:
        any other reliable improvement; deteriorated: reliable worsening;
        unchanged: otherwise. Rows with a missing score are missing throughout.

    Raises
    ------
    ValueError
        If ``sd_pre`` is not positive, ``reliability`` is outside [0, 1), ``z``
        is not positive, or ``post`` does not align with ``pre``.
    """
    pre, post = _aligned_scores(pre, post)
    threshold = reliable_change_threshold(sd_pre, reliability, z)
    change = post - pre
    rci = change / s_diff(sd_pre, reliability)
    observed = change.notna()
    reliable = (change.abs() > threshold).astype("boolean").where(observed, pd.NA)
    direction = 1.0 if higher_is_better else -1.0
    improved = reliable.fillna(False) & (direction * change > 0)
    deteriorated = reliable.fillna(False) & (direction * change < 0)
    if cutoff is None:
        recovered = pd.Series(False, index=pre.index)
    else:
        dysfunctional_before = direction * (pre - cutoff) <= 0
        functional_after = direction * (post - cutoff) > 0
        recovered = improved & dysfunctional_before & functional_after
    labels = np.select(
        [~observed, recovered, improved, deteriorated],
        [None, "recovered", "improved", "deteriorated"],
        default="unchanged",
    )
    category = pd.Categorical(labels, categories=RELIABLE_CHANGE_CATEGORIES, ordered=True)
    return pd.DataFrame(
        {"change": change, "rci": rci, "reliable": reliable, "category": category},
        index=pre.index,
    )


# ------------------------------------------------------------- long trial data


def reliability_by_wave(data: pd.DataFrame, instrument: str | Instrument) -> pd.DataFrame:
    """Alpha (with its Feldt interval) and omega of an instrument at every wave.

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial table with ``wave`` and the instrument's item columns.
    instrument : str or Instrument
        An item instrument.

    Returns
    -------
    pandas.DataFrame
        Indexed by wave: ``n``, ``alpha``, ``alpha_low``, ``alpha_high``,
        ``omega``, computed on the reverse-keyed items with listwise deletion
        (``n`` says how many answered every item).
    """
    instrument = get(instrument, data)
    _require_items(instrument)
    rows = {}
    for wave, at_wave in data.groupby("wave"):
        fit = reliability(reverse_keyed(at_wave, instrument), missing="listwise")
        rows[wave] = {"n": fit.n, "alpha": fit.alpha, "alpha_low": fit.alpha_ci[0],
                      "alpha_high": fit.alpha_ci[1], "omega": fit.omega}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("wave")


def change_table(data: pd.DataFrame, instrument: str | Instrument,
                 reliability: float | None = None) -> pd.DataFrame:
    """Reliable change from baseline to each participant's last observed wave.

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial table with ``participant_id``, ``wave``, ``arm`` and the
        instrument's total.
    instrument : str or Instrument
        The instrument (a key is found with :func:`get` in ``data`` or the registry).
    reliability : float, optional
        Reliability for the Jacobson-Truax index; default as
        :func:`baseline_reliability` chooses.

    Returns
    -------
    pandas.DataFrame
        One row per participant with a baseline and a later total:
        ``participant_id``, ``arm``, ``pre``, ``post``, ``last_wave`` and the
        columns of :func:`reliable_change` (with the instrument's ``cutoff`` and
        direction). ``attrs`` holds ``reliability``, ``reliability_source`` (where
        it came from, in words), ``sd_pre`` and ``threshold`` (the smallest
        reliable change, in points).

    Raises
    ------
    ValueError
        No reliability is given, the data hold no items, and the instrument has no
        published ``reference_alpha``.
    """
    instrument = get(instrument, data)
    scored = data.dropna(subset=[instrument.total]).sort_values(["participant_id", "wave"])
    first = scored.groupby("participant_id", observed=True).first()
    last = scored.groupby("participant_id", observed=True).last()
    baseline_wave = data["wave"].min()
    keep = (first["wave"] == baseline_wave) & (last["wave"] > baseline_wave)
    pre, post = first.loc[keep, instrument.total], last.loc[keep, instrument.total]
    reliability, source = baseline_reliability(data, instrument, reliability)
    if reliability is None:
        raise ValueError(f"{source}; pass reliability=")
    sd_pre = float(first.loc[first["wave"] == baseline_wave, instrument.total].std())
    table = reliable_change(pre, post, sd_pre, reliability,
                            higher_is_better=instrument.higher_is_better, cutoff=instrument.cutoff)
    table.insert(0, "arm", first.loc[keep, "arm"])
    table.insert(1, "pre", pre)
    table.insert(2, "post", post)
    table.insert(3, "last_wave", last.loc[keep, "wave"])
    table.attrs.update(reliability=float(reliability), reliability_source=source, sd_pre=sd_pre,
                       threshold=reliable_change_threshold(sd_pre, reliability))
    return table.reset_index()


def baseline_reliability(data: pd.DataFrame, instrument: str | Instrument,
                         given: float | None = None) -> tuple[float | None, str]:
    """The reliability reliable change uses for an instrument, and where it comes from.

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial table with ``wave``.
    instrument : str or Instrument
        The instrument (a key is found with :func:`get` in ``data`` or the registry).
    given : float, optional
        A reliability chosen by the user; it wins.

    Returns
    -------
    value : float or None
        ``given`` when given; else Cronbach's alpha of the baseline items
        (listwise) when the data hold the items; else the instrument's published
        ``reference_alpha``; else None.
    source : str
        Where the value comes from, in words (why there is none, when None).
    """
    instrument = get(instrument, data)
    if given is not None:
        return float(given), "as given"
    baseline = data[data["wave"] == data["wave"].min()]
    if has_items(baseline, instrument):
        alpha = reliability(reverse_keyed(baseline, instrument), missing="listwise").alpha
        return alpha, f"Cronbach's alpha of the {instrument.name} items at baseline"
    if instrument.reference_alpha is not None:
        return instrument.reference_alpha, (f"the published alpha of the {instrument.name}, as these data "
                                            "hold its total only")
    return None, (f"{instrument.name} has no item columns in these data and no published reliability "
                  "(reference_alpha)")
