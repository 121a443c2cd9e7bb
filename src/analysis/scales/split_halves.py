"""Split-half reliability as ``psych::splitHalf``."""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from .items import (
    _covariance_to_correlation,
    _negative_on_first_component,
    _pairwise_covariance,
    _validated_items,
)


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
