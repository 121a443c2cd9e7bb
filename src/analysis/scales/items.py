"""Item matrices shared by the reliability estimators: validation, pairwise covariance, keying."""

from __future__ import annotations

import numpy as np
import pandas as pd

MISSING_METHODS = ("pairwise", "listwise")


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


def _squared_multiple_correlations(corr: np.ndarray) -> np.ndarray:
    """SMCs ``1 - 1/diag(R^-1)``, clipped to [0, 1] as in ``psych::smc``."""
    return np.clip(1.0 - 1.0 / np.diag(np.linalg.pinv(corr)), 0.0, 1.0)
