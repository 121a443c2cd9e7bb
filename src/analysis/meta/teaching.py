"""Teaching helpers: back-transformations of measures and our numbers beside published ones."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["BACK_TRANSFORMS", "against_published", "back_transform"]

#: Back-transformation to the natural scale of a measure (metafor's ``transf.ztor``
#: and ``exp``) and the name of that scale.
BACK_TRANSFORMS: dict[str, tuple[Callable[[Any], Any], str]] = {
    "ZCOR": (np.tanh, "correlation"),
    "RR": (np.exp, "risk ratio"),
    "OR": (np.exp, "odds ratio"),
}




def back_transform(measure: str | None) -> tuple[Callable[[Any], Any] | None, str]:
    """The back-transformation of a measure to its natural scale and that scale's name.

    ``"ZCOR"`` -> (``np.tanh``, "correlation"), ``"RR"``/``"OR"`` -> (``np.exp``,
    "risk ratio"/"odds ratio"); other measures -> (None, the measure's name).
    """
    return BACK_TRANSFORMS.get(str(measure).upper(), (None, str(measure)))


def against_published(rows: Mapping[str, tuple[float, str]]) -> pd.DataFrame:
    """Our numbers beside published ones, each compared to the digits the publication shows.

    Parameters
    ----------
    rows : mapping
        Quantity -> (our value, the published value as printed, e.g. ``"0.4894"``).

    Returns
    -------
    DataFrame
        ``ours``, ``published``, ``ours_rounded`` (to the published decimals) and
        ``matches``: whether our value rounds to the published one.
    """
    out = []
    for name, (ours, printed) in rows.items():
        decimals = len(printed.split(".")[1]) if "." in printed else 0
        published = float(printed)
        matches = abs(ours - published) <= 0.5 * 10**-decimals * (1 + 1e-9)
        out.append((name, ours, printed, f"{ours:.{decimals}f}", bool(matches)))
    return pd.DataFrame(out, columns=["quantity", "ours", "published", "ours_rounded", "matches"]).set_index("quantity")
