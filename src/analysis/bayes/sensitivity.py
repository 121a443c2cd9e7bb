"""Prior sensitivity: refits under wider and narrower priors, reusing the compiled model."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd

from .design import BayesInputError, _positive
from .diagnostics import INTERVAL, _interval_names
from .fitting import fit
from .result import BayesResult


def _scaled_priors(priors: Mapping[str, float], factor: float) -> dict:
    """Scales multiplied by ``factor``, concentrations (``*_eta``) divided by it."""
    return {k: v / factor if k.endswith("_eta") else v * factor for k, v in priors.items()}


def prior_sensitivity(result: BayesResult, factor: float = 2.0, var_names: Sequence[str] | None = None,
                      netcdf: str | Path | None = None) -> pd.DataFrame:
    """Refit under a wider and a narrower prior and show how the reported posteriors move.

    "Wider" multiplies every prior scale by ``factor`` and divides every
    concentration (LKJ and Beta ``eta``) by it; "narrower" does the opposite. The
    refits reuse the compiled model (priors are data) and the result's sampler
    settings.

    Parameters
    ----------
    result : BayesResult
    factor : float, default 2.0
        How much wider and narrower, > 1.
    var_names : sequence of str, optional
        Reported variables to tabulate (default all).
    netcdf : str or Path, optional
        If given, the refits are stored beside it as ``<stem>_wider.nc`` and
        ``<stem>_narrower.nc`` and reused while the inputs are unchanged.

    Returns
    -------
    pandas.DataFrame
        One row per reported scalar and prior (``narrower``, ``default``,
        ``wider``): ``mean``, ``sd``, interval bounds and ``shift`` (change of the
        mean in units of the default posterior SD). ``attrs["verdicts"]`` holds each
        fit's diagnostics verdict and ``attrs["priors"]`` its prior hyperparameters.
    """
    if not _positive(factor) or factor <= 1:
        raise BayesInputError(f"factor must be a number > 1, got {factor!r}")
    names = list(var_names or result.design.reported)
    unknown = sorted(set(names) - set(result.design.reported))
    if unknown:
        raise BayesInputError(f"var_names: {unknown} are not reported variables; choose from "
                              f"{list(result.design.reported)}")
    keep = result.diagnostics.table.index.str.replace(r"\[.*", "", regex=True).isin(names)
    base = result.diagnostics.table[keep]
    fits = {"default": result}
    for label, scale in (("narrower", 1 / factor), ("wider", factor)):
        path = None if netcdf is None else Path(netcdf).with_name(f"{Path(netcdf).stem}_{label}.nc")
        design = result.design.with_priors(**_scaled_priors(result.design.priors, scale))
        fits[label] = fit(design, netcdf=path, **result.settings)
    parts = []
    labels = ("narrower", "default", "wider")
    for label in labels:
        table = fits[label].diagnostics.table[keep]
        part = table[["mean", "sd", *_interval_names(INTERVAL)]].copy()
        part["shift"] = (table["mean"] - base["mean"]) / base["sd"]
        part.insert(0, "prior", label)
        parts.append(part.rename_axis("parameter").reset_index())
    out = pd.concat(parts, ignore_index=True)
    out.attrs["verdicts"] = {label: fits[label].verdict for label in labels}
    out.attrs["priors"] = {label: dict(fits[label].design.priors) for label in labels}
    return out
