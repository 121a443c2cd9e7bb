"""The methods paragraph of fitted Bayesian models (:mod:`analysis.bayes`), reports 03 and 06."""

from __future__ import annotations

import pandas as pd

from .common import MethodsText, expect, listing, sentences

#: How each sampler of :data:`analysis.bayes.sampling.SAMPLERS` is named in the text.
SAMPLER_NAMES = {"nutpie": "nutpie's implementation", "pymc": "PyMC's implementation",
                 "numpyro": "NumPyro's implementation"}


def bayesian_models(fits: dict, sensitivity: pd.DataFrame | None = None,
                    predictive_checks: bool = False) -> MethodsText:
    """The methods paragraph of a set of fitted Bayesian models.

    Parameters
    ----------
    fits : dict
        ``{name: BayesResult}`` (the names appear in the text).
    sensitivity : pandas.DataFrame, optional
        :func:`analysis.bayes.prior_sensitivity` of one of the fits: the alternative
        priors and their verdicts are stated.
    predictive_checks : bool, default False
        Whether the report shows prior and posterior predictive checks.

    Returns
    -------
    MethodsText

    Raises
    ------
    ValueError
        ``fits`` is empty or holds something other than a ``BayesResult``.
    """
    from ...bayes import BayesResult

    expect(fits, (BayesResult,), "Bayesian result", "bayesian_models")
    return sentences(fitted(fits), _sensitivity(sensitivity), _predictive(predictive_checks),
                     "In R, the same models can be written for brms (Bürkner, 2017), which samples them with "
                     "Stan's NUTS.")


def fitted(fits: dict) -> str:
    """The sentences on the models, their priors, sampler settings, diagnostics and intervals."""
    return " ".join([_models(fits), _priors(fits), _diagnostics(fits), _intervals()])


def sampler_sentence(name: str, fit) -> str:
    """``name: description (chains x draws after tune warm-up steps, target acceptance, seed; note)``."""
    s = fit.settings
    note = fit.idata.posterior.attrs.get("sampler_note")
    return (f"{name}: {fit.design.description} ({s['chains']} chains of {s['draws']:,} draws after "
            f"{s['tune']:,} warm-up steps, target acceptance {s['target_accept']:g}, seed {s['seed']}"
            + (f"; {note}" if note else "") + ")")


def _models(fits: dict) -> str:
    samplers = sorted({SAMPLER_NAMES[fit.settings["sampler"]] for fit in fits.values()})
    return (f"Bayesian models were written in PyMC (Abril-Pla et al., 2023) and sampled with the No-U-Turn "
            f"sampler (Hoffman & Gelman, 2014), {' and '.join(samplers)}: "
            + "; ".join(sampler_sentence(name, fit) for name, fit in fits.items()) + ".")


def _priors(fits: dict) -> str:
    parts = []
    for name, fit in fits.items():
        priors = ", ".join(f"{key} = {value:g}" for key, value in fit.design.priors.items())
        scale = " (on the standardised scale of each outcome)" if fit.design.model == "bivariate_growth" else ""
        kinds = [kind for kind in fit.design.structure if kind in ("half_cauchy", "half_normal")]
        tau = (f"; tau had a {kinds[0].replace('_', '-')} prior"
               + (" (Gelman, 2006)" if kinds[0] == "half_cauchy" else "")) if kinds else ""
        parts.append(f"{name}: {priors}{scale}{tau}")
    lkj = any(key.endswith("_eta") for fit in fits.values() for key in fit.design.priors)
    return ("Prior hyperparameters (scales of the normal and half-normal priors): " + "; ".join(parts) + "."
            + (" Correlation matrices had LKJ priors with the concentrations named _eta (Lewandowski et al., 2009)."
               if lkj else ""))


def _diagnostics(fits: dict) -> str:
    from ...bayes.diagnostics import BFMI_MIN, ESS_MIN, RHAT_MAX, RHAT_MAX_OTHERS

    found = []
    for name, fit in fits.items():
        d = fit.diagnostics
        found.append(f"{name}: largest R-hat {d.table['r_hat'].max():.3f}, smallest bulk and tail ESS "
                     f"{d.table['ess_bulk'].min():,.0f} and {d.table['ess_tail'].min():,.0f}, "
                     f"{d.divergences} divergent transition{'s' if d.divergences != 1 else ''}, verdict "
                     f"{d.verdict}")
    return (f"Convergence was checked on the reported quantities: rank-normalised split R-hat at most {RHAT_MAX:g} "
            f"(at most {RHAT_MAX_OTHERS:g} for every other quantity), bulk and tail effective sample sizes of at "
            f"least {ESS_MIN:g} (Vehtari et al., 2021), no divergent transitions, energy BFMI of at least "
            f"{BFMI_MIN:g} in every chain and no draw at the maximum tree depth; " + "; ".join(found) + ".")


def _intervals() -> str:
    from ...bayes.diagnostics import INTERVAL

    return (f"Posterior summaries are means with equal-tailed {INTERVAL:.0%} credible intervals and posterior "
            "probabilities.")


def _sensitivity(table: pd.DataFrame | None) -> str:
    if table is None:
        return ""
    verdicts = table.attrs.get("verdicts", {})
    priors = list(dict.fromkeys(table["prior"]))
    return (f"Prior sensitivity was assessed by refitting under the priors {listing(priors)} and comparing the "
            "posterior means in units of the default posterior SD"
            + (" (sampler verdicts: " + "; ".join(f"{label}: {_short(verdict)}" for label, verdict in verdicts.items())
               + ")" if verdicts else "") + ".")


def _short(verdict: str) -> str:
    """A diagnostics verdict, its problems counted rather than listed."""
    if verdict == "converged":
        return verdict
    count = len(verdict.split("; "))
    return f"{count} convergence problem{'s' if count != 1 else ''}"


def _predictive(shown: bool) -> str:
    return ("Prior and posterior predictive checks compared data simulated from the model with the observed "
            "data (Gabry et al., 2019)." if shown else "")
