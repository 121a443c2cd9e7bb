"""Convergence diagnostics (R-hat, bulk and tail ESS, divergences, BFMI, tree depth) and posterior tables."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import arviz as az
import pandas as pd
import xarray as xr

from .design import BayesInputError

#: Convergence thresholds of :func:`diagnose` (Vehtari et al., 2021).
RHAT_MAX = 1.01
#: R-hat limit for the quantities not reported (person effects, sampling parameters): with
#: thousands of them a few exceed 1.01 by chance, so only clear non-convergence is flagged.
RHAT_MAX_OTHERS = 1.05
ESS_MIN = 400
BFMI_MIN = 0.3
#: Probability of the equal-tailed credible intervals reported.
INTERVAL = 0.9
SHOWN = 3  # parameters named per problem in a verdict


@dataclass(frozen=True, eq=False)
class Diagnostics:
    """Convergence diagnostics of one fit.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per reported scalar (``name[coord, ...]``): posterior ``mean``,
        ``sd``, the equal-tailed interval bounds (``5%``, ``95%`` for 90%),
        ``mcse_mean``, ``ess_bulk``, ``ess_tail`` and ``r_hat``.
    divergences : int
        Divergent transitions after tuning.
    draws, chains : int
        Draws per chain and chains.
    bfmi : tuple of float
        Bayesian fraction of missing information (energy), per chain.
    treedepth_hits : int
        Draws that stopped at the sampler's maximum tree depth.
    max_rhat_all : float
        Largest R-hat over every quantity in the posterior (NaN when all constant).
    problems : tuple of str
        What is wrong, one line each; empty when the fit converged.
    """

    table: pd.DataFrame
    divergences: int
    draws: int
    chains: int
    bfmi: tuple[float, ...]
    treedepth_hits: int
    max_rhat_all: float
    problems: tuple[str, ...]

    @property
    def converged(self) -> bool:
        """True when no problem was found."""
        return not self.problems

    @property
    def verdict(self) -> str:
        """``"converged"`` or the problems found, separated by semicolons."""
        return "converged" if self.converged else "; ".join(self.problems)

    def summary(self) -> str:
        """The table and one line per diagnostic, then the verdict."""
        table = self.table.to_string(float_format=lambda v: f"{v:.4g}")
        bfmi = ", ".join(f"{b:.2f}" for b in self.bfmi) or "not available"
        return "\n".join([
            table,
            f"Divergent transitions: {self.divergences} of {self.draws * self.chains} draws; "
            f"BFMI per chain: {bfmi}; maximum tree depth reached: {self.treedepth_hits} times; "
            f"largest R-hat over all quantities: {self.max_rhat_all:.4f}",
            f"Verdict: {self.verdict}",
        ])


def _flat(dataset: xr.Dataset) -> pd.Series:
    """One value per scalar of every variable, labelled ``name[coord, ...]``."""
    out = {}
    for name, array in dataset.data_vars.items():
        if array.ndim == 0:
            out[name] = float(array)
            continue
        labels = [array[dim].values for dim in array.dims]
        for index in itertools.product(*(range(n) for n in array.shape)):
            text = ", ".join(str(labels[k][i]) for k, i in enumerate(index))
            out[f"{name}[{text}]"] = float(array.values[index])
    return pd.Series(out, dtype=float)


def _interval_names(prob: float) -> tuple[str, str]:
    tail = 100 * (1 - prob) / 2
    return f"{tail:g}%", f"{100 - tail:g}%"


def _posterior_table(posterior: xr.Dataset, prob: float = INTERVAL) -> pd.DataFrame:
    low, high = _interval_names(prob)
    dims = ("chain", "draw")
    return pd.DataFrame({
        "mean": _flat(posterior.mean(dims)),
        "sd": _flat(posterior.std(dims, ddof=1)),
        low: _flat(posterior.quantile((1 - prob) / 2, dims).drop_vars("quantile")),
        high: _flat(posterior.quantile((1 + prob) / 2, dims).drop_vars("quantile")),
    })


def _named(series: pd.Series, mask: pd.Series, fmt: str) -> str:
    """The first few labels where mask holds, with their values."""
    hits = series[mask]
    text = ", ".join(f"{name} ({fmt.format(value)})" for name, value in hits.iloc[:SHOWN].items())
    more = len(hits) - SHOWN
    return text + (f" and {more} more" if more > 0 else "")


def diagnose(idata: az.InferenceData, var_names: Sequence[str], *, rhat_max: float = RHAT_MAX,
             ess_min: float = ESS_MIN, bfmi_min: float = BFMI_MIN, prob: float = INTERVAL) -> Diagnostics:
    """Check a posterior sample: R-hat, bulk and tail ESS, divergences, BFMI, tree depth.

    Parameters
    ----------
    idata : arviz.InferenceData
        With ``posterior`` and ``sample_stats`` (nutpie's or PyMC's names).
    var_names : sequence of str
        The reported variables: R-hat and both ESS are checked for each of their
        scalars; R-hat is also checked over every other quantity in the posterior.
    rhat_max, ess_min, bfmi_min : float
        Thresholds: rank-normalised split R-hat at most ``rhat_max``, bulk and tail
        ESS at least ``ess_min``, E-BFMI at least ``bfmi_min`` in every chain. Every
        other quantity in the posterior must have R-hat at most
        :data:`RHAT_MAX_OTHERS`.
    prob : float
        Probability of the equal-tailed interval in the table.

    Returns
    -------
    Diagnostics
    """
    posterior = idata.posterior
    missing = [name for name in var_names if name not in posterior]
    if missing:
        raise BayesInputError(f"var_names not in the posterior: {missing}; it has {list(posterior.data_vars)}")
    reported = posterior[list(var_names)]
    table = _posterior_table(reported, prob)
    table["mcse_mean"] = _flat(az.mcse(reported, method="mean"))
    table["ess_bulk"] = _flat(az.ess(reported, method="bulk"))
    table["ess_tail"] = _flat(az.ess(reported, method="tail"))
    table["r_hat"] = _flat(az.rhat(reported))
    stats = idata.sample_stats
    divergences = int(stats["diverging"].sum())
    depth_flag = next((stats[n] for n in ("maxdepth_reached", "reached_max_treedepth") if n in stats), None)
    treedepth_hits = int(depth_flag.sum()) if depth_flag is not None else 0
    bfmi = tuple(float(b) for b in az.bfmi(idata)) if "energy" in stats else ()
    others = posterior[[name for name in posterior.data_vars if name not in var_names]]
    rhat_others = _flat(az.rhat(others)).dropna() if others.data_vars else pd.Series(dtype=float)
    max_rhat_all = float(pd.concat([table["r_hat"], rhat_others]).max())
    problems = _problems(table, divergences, bfmi, treedepth_hits, rhat_others,
                         posterior.sizes["draw"] * posterior.sizes["chain"], rhat_max, ess_min, bfmi_min)
    return Diagnostics(table=table, divergences=divergences, draws=int(posterior.sizes["draw"]),
                       chains=int(posterior.sizes["chain"]), bfmi=bfmi, treedepth_hits=treedepth_hits,
                       max_rhat_all=max_rhat_all, problems=tuple(problems))


def _problems(table, divergences, bfmi, treedepth_hits, rhat_others, total, rhat_max, ess_min, bfmi_min):
    problems = []
    if divergences:
        problems.append(f"{divergences} divergent transition{'s' if divergences != 1 else ''} of {total} draws "
                        "(the posterior was not fully explored; raise target_accept or reparameterise)")
    high = table["r_hat"] > rhat_max
    if high.any():
        problems.append(f"R-hat above {rhat_max}: {_named(table['r_hat'], high, '{:.3f}')}")
    for column, kind in (("ess_bulk", "bulk"), ("ess_tail", "tail")):
        low = table[column] < ess_min
        if low.any():
            problems.append(f"{kind} ESS below {ess_min:g}: {_named(table[column], low, '{:.0f}')}")
    weak = [f"chain {k} ({b:.2f})" for k, b in enumerate(bfmi) if b < bfmi_min]
    if weak:
        problems.append(f"energy BFMI below {bfmi_min}: {', '.join(weak)}")
    if treedepth_hits:
        problems.append(f"maximum tree depth reached in {treedepth_hits} of {total} draws")
    other_high = rhat_others > RHAT_MAX_OTHERS
    if other_high.any():
        problems.append(f"R-hat above {RHAT_MAX_OTHERS} for {int(other_high.sum())} of {len(rhat_others)} "
                        f"other quantities (largest {rhat_others.max():.3f})")
    return problems
