"""Prior and posterior predictive draws and the check of observed statistics against them."""

from __future__ import annotations

from collections.abc import Sequence

import arviz as az
import numpy as np
import pandas as pd

from .design import BayesInputError, Design, _whole
from .diagnostics import INTERVAL, _interval_names
from .result import BayesResult
from .sampling import _entry, _quiet, _relabel

#: Predictive p-values below this or above 1 minus this are flagged as extreme.
EXTREME_P = 0.025


def prior_predictive(result: BayesResult | Design, draws: int = 500, seed: int = 0) -> az.InferenceData:
    """Draws of the parameters and observations from the prior alone.

    Returns
    -------
    arviz.InferenceData
        Groups ``prior`` and ``prior_predictive`` (observed variables on the data's scale).
    """
    import pymc as pm

    design = result.design if isinstance(result, BayesResult) else result
    draws, seed = _whole("draws", draws, 1), _whole("seed", seed, 0)
    with _quiet():
        idata = pm.sample_prior_predictive(draws=draws, model=_entry(design).model, random_seed=seed)
    return az.InferenceData(prior=_relabel(idata.prior, design.coords), prior_predictive=idata.prior_predictive)


def posterior_predictive(result: BayesResult, seed: int = 0) -> az.InferenceData:
    """Replicated observations, one set per posterior draw.

    Returns
    -------
    arviz.InferenceData
        Group ``posterior_predictive`` with one variable per observed variable.
    """
    import pymc as pm

    seed = _whole("seed", seed, 0)
    with _quiet():
        idata = pm.sample_posterior_predictive(result.idata, model=_entry(result.design).model,
                                               var_names=list(result.design.observed), random_seed=seed,
                                               progressbar=False)
    return az.InferenceData(posterior_predictive=idata.posterior_predictive)


def predictive_summary(result: BayesResult | Design, predictive: az.InferenceData,
                       by: Sequence[str] | None = None, prob: float = INTERVAL) -> pd.DataFrame:
    """Observed statistics against their predictive distribution.

    Parameters
    ----------
    result : BayesResult or Design
    predictive : arviz.InferenceData
        From :func:`prior_predictive` or :func:`posterior_predictive`.
    by : sequence of str, optional
        Columns of the observation tables (``design.observed``) to group by, e.g.
        ``["arm", "time"]``; None summarises each variable as a whole.
    prob : float
        Probability of the predictive interval.

    Returns
    -------
    pandas.DataFrame
        One row per variable, group and statistic (``mean``, ``sd``): ``observed``,
        predictive ``predicted`` mean, interval bounds, ``p`` = P(replicated
        statistic >= observed), near 0 or 1 when the model misses the data, and
        ``extreme`` (``p`` below :data:`EXTREME_P` or above ``1 - EXTREME_P``).
    """
    design = result.design if isinstance(result, BayesResult) else result
    group = "posterior_predictive" if "posterior_predictive" in predictive.groups() else "prior_predictive"
    draws = predictive[group]
    low, high = _interval_names(prob)
    rows = []
    for name, table in design.observed.items():
        replicated = draws[name].stack(sample=("chain", "draw")).transpose("sample", ...).values
        absent = [c for c in (by or []) if c not in table.columns]
        if absent:
            raise BayesInputError(f"by: column(s) {absent} not in the observations of {name!r}; "
                                  f"available: {[c for c in table.columns if c != 'observed']}")
        groups = table.groupby(list(by), observed=True, sort=True).indices if by else {(): np.arange(len(table))}
        for labels, index in groups.items():
            labels = labels if isinstance(labels, tuple) else (labels,)
            for stat, func in (("mean", np.mean), ("sd", np.std)):
                observed = float(func(table["observed"].to_numpy()[index]))
                values = func(replicated[:, index], axis=1)
                rows.append({"variable": name, **dict(zip(by or [], labels)), "statistic": stat,
                             "observed": observed, "predicted": float(values.mean()),
                             low: float(np.quantile(values, (1 - prob) / 2)),
                             high: float(np.quantile(values, (1 + prob) / 2)),
                             "p": float((values >= observed).mean())})
    table = pd.DataFrame(rows)
    table["extreme"] = (table["p"] < EXTREME_P) | (table["p"] > 1 - EXTREME_P)
    return table
