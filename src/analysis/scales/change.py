"""Jacobson and Truax (1991) reliable change and clinical significance, per participant of a trial."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from .alpha import reliability as _reliability
from .instruments import Instrument, get, has_items, reverse_keyed

RELIABLE_CHANGE_CATEGORIES = ("deteriorated", "unchanged", "improved", "recovered")


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
        alpha = _reliability(reverse_keyed(baseline, instrument), missing="listwise").alpha
        return alpha, f"Cronbach's alpha of the {instrument.name} items at baseline"
    if instrument.reference_alpha is not None:
        return instrument.reference_alpha, (f"the published alpha of the {instrument.name}, as these data "
                                            "hold its total only")
    return None, (f"{instrument.name} has no item columns in these data and no published reliability "
                  "(reference_alpha)")
