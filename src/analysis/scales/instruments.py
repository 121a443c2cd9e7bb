"""The instrument registry (:data:`INSTRUMENTS`), look-up and scoring of item instruments."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

CONSTRUCTS = ("self_efficacy", "depression", "anxiety", "ptsd", "other")


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


def items_by_wave(data: pd.DataFrame, instrument: str | Instrument) -> Iterator[tuple[object, pd.DataFrame]]:
    """The instrument's reverse-keyed item columns at each wave of a long trial table.

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial table with ``wave`` and the instrument's item columns.
    instrument : str or Instrument
        An item instrument (found with :func:`get` in the data or the registry).

    Yields
    ------
    wave : object
        The wave, in increasing order.
    items : pandas.DataFrame
        :func:`reverse_keyed` items of the rows at that wave.

    Raises
    ------
    ValueError
        As :func:`reverse_keyed`.
    """
    instrument = get(instrument, data)
    _require_items(instrument)
    for wave, at_wave in data.groupby("wave"):
        yield wave, reverse_keyed(at_wave, instrument)


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
