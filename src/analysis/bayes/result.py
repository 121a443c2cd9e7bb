"""A fitted Bayesian model (:class:`BayesResult`) and the tables setting it beside frequentist fits."""

from __future__ import annotations

from dataclasses import dataclass, field

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

from .design import BayesInputError, Design
from .diagnostics import INTERVAL, Diagnostics, _interval_names, _posterior_table


@dataclass(frozen=True, eq=False)
class BayesResult:
    """A fitted Bayesian model.

    Attributes
    ----------
    model : str
        Model name.
    idata : arviz.InferenceData
        ``posterior`` (named coordinates) and ``sample_stats``; the posterior's
        ``attrs`` hold the fingerprint and sampler settings.
    diagnostics : Diagnostics
    design : Design
        Data, priors and structure the model was fitted with.
    settings : dict
        ``draws``, ``tune``, ``chains``, ``seed``, ``sampler``, ``target_accept``.
    reused : bool
        True when the draws were read from a NetCDF file written for the same inputs.
    """

    model: str
    idata: az.InferenceData = field(repr=False)
    diagnostics: Diagnostics = field(repr=False)
    design: Design = field(repr=False)
    settings: dict
    reused: bool = False

    @property
    def verdict(self) -> str:
        """The diagnostics verdict: ``"converged"`` or what is wrong."""
        return self.diagnostics.verdict

    @property
    def warnings(self) -> list[str]:
        """Notes on the data used and the sampler (a fallback from nutpie), then every convergence problem."""
        sampler = [self.idata.posterior.attrs["sampler_note"]] if "sampler_note" in self.idata.posterior.attrs else []
        return [*self.design.notes, *sampler, *self.diagnostics.problems]

    def table(self) -> pd.DataFrame:
        """Posterior summary and diagnostics of the reported quantities."""
        return self.diagnostics.table

    def draws(self, name: str) -> xr.DataArray:
        """All posterior draws of one variable, chains stacked into ``sample``."""
        return self.idata.posterior[name].stack(sample=("chain", "draw"))

    def probability(self, name: str, below: float | None = None, above: float | None = None) -> float:
        """Posterior probability that a scalar variable lies below and/or above given values."""
        values = self.draws(name)
        if values.ndim != 1:
            raise BayesInputError(f"probability needs a scalar variable; {name!r} has dims {values.dims[:-1]}")
        inside = np.ones(values.shape, dtype=bool)
        if below is not None:
            inside &= values.values < below
        if above is not None:
            inside &= values.values > above
        return float(inside.mean())

    def summary(self) -> str:
        """Text summary: model, data, sampler, posterior table with diagnostics, verdict, warnings."""
        s = self.settings
        source = "draws read from NetCDF (inputs unchanged)" if self.reused else "sampled"
        lines = [
            f"Bayesian {self.model.replace('_', ' ')}: {self.design.description}",
            f"Sampler {s['sampler']}: {s['chains']} chains x {s['draws']} draws after {s['tune']} "
            f"tuning steps, target_accept {s['target_accept']}, seed {s['seed']} ({source})",
            f"Intervals: equal-tailed {INTERVAL:.0%}",
            "",
            self.diagnostics.summary(),
        ]
        if self.warnings:
            lines += ["", "Warnings:", *(f"  {w}" for w in self.warnings)]
        return "\n".join(lines)


def _expect(result: BayesResult, model: str) -> None:
    if not isinstance(result, BayesResult) or result.model != model:
        found = result.model if isinstance(result, BayesResult) else type(result).__name__
        raise BayesInputError(f"needs a result of {model}, got {found}")


def _beside(result: BayesResult, rows: list[tuple], prefix: str) -> pd.DataFrame:
    """Posterior mean and 95% interval of each ``(parameter, estimate, ci_low, ci_high)`` row beside it.

    The posterior interval is equal-tailed 95%, like the frequentist intervals it sits beside.
    ``difference_sd`` is the posterior mean minus the frequentist estimate, in posterior SDs.
    """
    low, high = _interval_names(0.95)
    out = pd.DataFrame(rows, columns=["parameter", f"{prefix}_estimate", f"{prefix}_ci_low", f"{prefix}_ci_high"])
    variables = sorted({label.split("[")[0] for label in out["parameter"]})
    table = _posterior_table(result.idata.posterior[variables], 0.95)
    bayes = table.loc[out["parameter"], ["mean", "sd", low, high]].to_numpy()
    out.insert(1, "bayes_mean", bayes[:, 0])
    out.insert(2, f"bayes_{low}", bayes[:, 2])
    out.insert(3, f"bayes_{high}", bayes[:, 3])
    out["difference_sd"] = (out["bayes_mean"] - out[f"{prefix}_estimate"]) / bayes[:, 1]
    return out
