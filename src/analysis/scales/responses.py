"""Response frequencies of items as ``psych::response.frequencies`` (``psych::alpha()$response.freq``)."""

from __future__ import annotations

import numpy as np
import pandas as pd

# psych's default limit on the number of response categories (``max = 10``).
MAX_CATEGORIES = 10


def _category_label(value: float) -> str:
    """A response value as R's ``as.character`` writes it (``1``, ``1.5``), 15 significant digits."""
    return format(value, ".15g")


def response_frequencies(items: pd.DataFrame, max_categories: int = MAX_CATEGORIES) -> pd.DataFrame | None:
    """Share of each response value per item, and the share missing, as ``psych::response.frequencies``.

    Parameters
    ----------
    items : pandas.DataFrame
        Item responses, rows respondents, numeric columns; every row counts
        towards ``miss``, including rows with no responses at all.
    max_categories : int, default 10
        psych's ``max``: items whose range (maximum minus minimum) is
        ``max_categories + 1`` or more are left out, and no table is made when
        the items kept show more than this many distinct values.

    Returns
    -------
    pandas.DataFrame or None
        Indexed by item (the items kept), one column per response value seen
        on any kept item, in increasing order and labelled as R labels them
        (``"1"``, ``"2"``, ``"1.5"``), holding the share of the item's
        non-missing responses with that value, and ``miss``, the share of rows
        with the item missing. None where psych returns ``NULL``: no item is
        kept, or the kept items show more than ``max_categories`` distinct
        values, counting a missing response as one value as psych does (so
        ten response values and some missing responses give None).

    Raises
    ------
    ValueError
        On non-numeric columns or a ``max_categories`` below 1.

    Notes
    -----
    psych 2.2.9 mis-tabulates the case where exactly one item is within the
    range limit (it recycles that item over a matrix); here that item gets
    its proper row.
    """
    if isinstance(max_categories, bool) or not isinstance(max_categories, int) or max_categories < 1:
        raise ValueError(f"max_categories must be a positive integer, got {max_categories!r}")
    non_numeric = [c for c in items.columns if not pd.api.types.is_numeric_dtype(items[c])]
    if non_numeric:
        raise ValueError(f"items has non-numeric columns: {non_numeric}")
    items = items.astype(float)
    ranges = items.max() - items.min()
    kept = items.loc[:, (ranges < max_categories + 1).to_numpy()]
    responses = kept.to_numpy()
    values = np.unique(responses[~np.isnan(responses)])
    missing_counts_as_value = bool(np.isnan(responses).any())
    if kept.shape[1] == 0 or values.size + missing_counts_as_value > max_categories:
        return None
    answered = kept.notna().sum()
    shares = {_category_label(value): (kept == value).sum() / answered for value in values}
    table = pd.DataFrame(shares)
    table["miss"] = 1.0 - answered / len(kept)
    return table.rename_axis("item")
