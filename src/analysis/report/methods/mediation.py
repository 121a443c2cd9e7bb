"""The methods paragraph of causal mediation analyses (:mod:`analysis.mediation`), report 04."""

from __future__ import annotations

from .common import MethodsText, expect, listing, sentences

#: How each outcome or mediator model family is named.
FAMILIES = {"linear": "linear regression", "logit": "logistic regression", "probit": "probit regression"}


def mediation_analyses(results: dict) -> MethodsText:
    """The methods paragraph of a set of mediation analyses.

    Parameters
    ----------
    results : dict
        ``{name: MediationResult, MediationSet or ParallelMediationResult}`` (the
        names appear in the text): single-level, change-score and multilevel
        analyses, per moderator value or arm, and parallel mediators.

    Returns
    -------
    MethodsText

    Raises
    ------
    ValueError
        ``results`` is empty or holds something else.
    """
    from ...mediation import MediationResult, MediationSet, ParallelMediationResult

    expect(results, (MediationResult, MediationSet, ParallelMediationResult), "mediation result",
           "mediation_analyses")
    described = [_describe(name, result) for name, result in results.items()]
    named = {name: list(result.results.values()) if isinstance(result, MediationSet) else [result]
             for name, result in results.items()}
    flat = [one for ones in named.values() for one in ones]
    sensitivity = [r for r in flat if isinstance(r, MediationResult) and r.sensitivity is not None]
    return sentences(
        "Average causal mediation effects (ACME), average direct effects (ADE) and total effects were estimated "
        "in the potential-outcomes framework (Imai, Keele, & Tingley, 2010): " + "; ".join(described) + ".",
        _inference(named), _sensitivity(sensitivity),
        "Causal readings assume sequential ignorability: no unmeasured confounding of the treatment-mediator, "
        "treatment-outcome and mediator-outcome relations.",
        _r_equivalent(flat))


def _describe(name: str, result) -> str:
    from ...mediation import MediationSet, ParallelMediationResult

    if isinstance(result, MediationSet):
        first = next(iter(result.results.values()))
        return f"{name}, one analysis per {result.by} ({listing(result.results)}): {_design(first, each=False)}"
    if isinstance(result, ParallelMediationResult):
        return (f"{name}: parallel mediators {listing(result.mediators)} of {result.treatment} ({result.treated} vs "
                f"{result.control}) on {result.outcome}, linear regression models, {_sample(result)}")
    return f"{name}: {_design(result)}"


def _design(result, each: bool = True) -> str:
    """The analysis in words; ``each=False`` leaves out the moderator value (one of a set's)."""
    arms = f"{result.treatment} ({result.treated} vs {result.control})"
    covariates = f", adjusted for {listing(result.covariates)}" if result.covariates else ""
    if result.kind == "multilevel":
        return (f"multilevel (2-1-1) mediation of {arms} on {result.outcome} through {result.mediator} over waves "
                "(Bauer et al., 2006), the a path from a linear mixed model of the mediator's change with random "
                "intercepts and slopes, the b path from a random-intercept model of the next wave's outcome on the "
                f"within-person mediator{covariates}, both by REML, {_sample(result)}")
    models = (f"a {FAMILIES[result.mediator_family]} of the mediator and a {FAMILIES[result.outcome_family]} of "
              "the outcome" + (" with the treatment-by-mediator interaction" if result.interaction else ""))
    change = (f" as change scores from wave {result.waves[0]} to {result.waves[1]} (mediator) and to "
              f"{result.waves[2]} (outcome)" if result.kind == "change" and result.waves else "")
    moderator = (f", effects at {result.moderator} = {result.moderator_value:g}" if result.moderator is not None
                 and each else "")
    return (f"{arms} on {result.outcome} through {result.mediator}{change}, {models}{covariates}{moderator}, "
            f"{_sample(result)}")


def _sample(result) -> str:
    unit = "people" if getattr(result, "kind", "") == "change" else "rows"
    return f"{result.nobs:,} {unit}" + (f" ({result.n_dropped:,} left out for missing values)"
                                         if result.n_dropped else "")


def _inference(named: dict) -> str:
    methods = {}
    for name, ones in named.items():
        for result in ones:
            methods.setdefault(_interval_method(result), []).append(name)
    return "Intervals and p values came from " + "; ".join(
        f"{text} ({listing(dict.fromkeys(names))})" for text, names in methods.items()) + "."


def _interval_method(result) -> str:
    if result.ci_method == "monte carlo":
        text = (f"{result.n_boot:,} quasi-Bayesian Monte Carlo draws of the model coefficients from their "
                "estimated sampling distributions, percentile intervals (King et al., 2000"
                + ("; Preacher & Selig, 2012" if getattr(result, "kind", "") == "multilevel" else "") + ")")
    else:
        kind = ("bias-corrected and accelerated (BCa) intervals (Efron, 1987)" if result.ci_method == "bca"
                else "percentile intervals")
        text = f"{result.n_boot:,} nonparametric bootstrap replicates, {kind}"
    return f"{text}, {result.conf_level:.0%} level, seed {result.seed}"


def _sensitivity(results: list) -> str:
    if not results:
        return ""
    rho = "; ".join(f"{r.treatment} on {r.outcome} through {r.mediator}: {r.sensitivity.rho_zero:.2f}"
                    for r in results)
    return ("Sensitivity to mediator-outcome confounding was assessed by the correlation rho of the two models' "
            "errors at which the ACME would be 0 (Imai, Keele, & Yamamoto, 2010): " + rho + ".")


def _r_equivalent(results: list) -> str:
    calls = ["mediate() of the R package mediation (Tingley et al., 2014)"
             + (" with boot = TRUE" if any(r.ci_method != "monte carlo" for r in results) else "")]
    if any(getattr(r, "sensitivity", None) is not None for r in results):
        calls.append("medsens()")
    if any(getattr(r, "kind", "") == "multilevel" for r in results):
        calls.append("lme4's lmer for the multilevel paths")
    return f"In R these are {listing(calls)}; the suite's estimates are tested against them."
