"""The methods paragraph of fitted mixed models (:func:`mixed_models`), reports 02 and 08.

Every sentence states what the results themselves record (REML or ML, the optimiser the fit used,
the df method of each table, the rows left out, whether each model converged), so the paragraph
stays true when a parameter or the data change.
"""

from __future__ import annotations

import re

import pandas as pd

from .common import MethodsText, cited

#: Denominator-df methods as the estimand tables' notes name them, and how the paragraph cites each.
DF_METHODS = {
    "satterthwaite": "Satterthwaite's approximation (Satterthwaite, 1946), as lmerTest computes it "
                     "(Kuznetsova et al., 2017)",
    "kenward-roger": "the Kenward–Roger approximation (Kenward & Roger, 1997), as pbkrtest computes it "
                     "(Halekoh & Højsgaard, 2014)",
}


def mixed_models(fits: dict, estimands: list[pd.DataFrame] = (), effect_sizes: list[pd.DataFrame] = ()
                 ) -> MethodsText:
    """The methods paragraph of a set of fitted mixed models (:mod:`analysis.mixed`).

    Parameters
    ----------
    fits : dict
        ``{name: LmmResult or GlmmResult}`` as fitted (the names appear in the text).
    estimands : list of pandas.DataFrame, optional
        Tables of :func:`analysis.mixed.emmeans`, :func:`~analysis.mixed.contrast` and
        :func:`~analysis.mixed.anova` shown in the report: their df method, confidence
        level and p-value adjustment (from their notes) are stated.
    effect_sizes : list of pandas.DataFrame, optional
        Tables of :func:`analysis.mixed.effect_sizes`: Feingold's d is described.

    Returns
    -------
    MethodsText

    Raises
    ------
    ValueError
        ``fits`` is empty or holds something other than mixed-model results.
    """
    from ...mixed import GlmmResult, LmmResult, model_table

    if not fits:
        raise ValueError("mixed_models needs at least one fitted model")
    wrong = sorted(name for name, fit in fits.items() if not isinstance(fit, (LmmResult, GlmmResult)))
    if wrong:
        raise ValueError(f"not mixed-model results (LmmResult or GlmmResult): {wrong}")
    table = model_table(fits)
    linear = {name: fit for name, fit in fits.items() if isinstance(fit, LmmResult)}
    generalised = {name: fit for name, fit in fits.items() if isinstance(fit, GlmmResult)}
    parts = [_linear_models(linear, table), _generalised_models(generalised, table), _convergence(table),
             _degrees_of_freedom(linear, estimands), _effect_sizes(effect_sizes), _missing_data(fits),
             _r_equivalents(linear, generalised)]
    return cited(" ".join(part for part in parts if part))


def _model_list(names: list[str], table: pd.DataFrame) -> str:
    """``name: lme4 formula (n observations; groups)`` for each model, separated by semicolons."""
    items = []
    for name in names:
        row = table.loc[name]
        formula = row["formula"] if "|" in row["formula"] else f"{row['formula']} + {row['random']}"
        items.append(f"{name}: {formula} ({row['nobs']:,} observations; {row['groups']})")
    return "; ".join(items)


def _linear_models(fits: dict, table: pd.DataFrame) -> str:
    if not fits:
        return ""
    criteria = sorted({"restricted maximum likelihood (REML)" if fit.reml else "maximum likelihood" for fit in
                       fits.values()})
    optimisers = {}
    for name, fit in fits.items():
        optimisers.setdefault(_optimiser(fit), []).append(name)
    how = "; ".join(f"{text} ({', '.join(names)})" for text, names in optimisers.items())
    return (f"Linear mixed-effects models (Laird & Ware, 1982) were fitted by {' and '.join(criteria)} with "
            f"lme4's profiled deviance (Bates et al., 2015): {_model_list(list(fits), table)}. "
            f"The deviance was minimised by {how}.")


def _optimiser(fit) -> str:
    """How an LmmResult's optimum was found, as the fit records it."""
    if fit.group is None:  # several random-effect terms: the sparse engine
        return "bounded COBYQA from lme4's default start"
    from_statsmodels = fit.engine == "statsmodels" or any("statsmodels start" in w for w in fit.warnings)
    return ("L-BFGS-B with the analytic gradient from lme4's default start"
            + (" and from statsmodels' MixedLM estimate (Seabold & Perktold, 2010)" if from_statsmodels else ""))


def _generalised_models(fits: dict, table: pd.DataFrame) -> str:
    if not fits:
        return ""
    kinds = sorted({f"{fit.family} with a {fit.link} link" for fit in fits.values()})
    quadrature = sorted({"the Laplace approximation" if fit.nagq <= 1
                         else f"adaptive Gauss–Hermite quadrature with {fit.nagq} points" for fit in fits.values()})
    return (f"Generalised linear mixed models ({'; '.join(kinds)}) were fitted by maximum likelihood with "
            f"{' and '.join(quadrature)}, as lme4's glmer (Bates et al., 2015), in glmer's two stages "
            f"(BFGS on the deviance): {_model_list(list(fits), table)}; their fixed effects have Wald z tests.")


def _convergence(table: pd.DataFrame) -> str:
    from ...mixed.lmm import GRADIENT_TOL, SINGULAR_TOL

    trouble = table[table["status"] != "ok"]
    verdict = ("all models converged without singular fits" if trouble.empty
               else "; ".join(f"{name}: {row['status']}" for name, row in trouble.iterrows()))
    return (f"Convergence was checked with lme4's criterion (scaled gradient of the deviance below {GRADIENT_TOL:g}) "
            f"and singular fits with its isSingular tolerance ({SINGULAR_TOL:g}): {verdict}.")


def _degrees_of_freedom(linear: dict, estimands: list[pd.DataFrame]) -> str:
    """The df methods used: Satterthwaite's for the fixed-effects t tests of LMMs, and those the
    estimand tables' notes name."""
    used = {"satterthwaite"} if linear else set()
    notes = "\n".join(str(table.attrs.get("note", "")) for table in estimands)
    for method in DF_METHODS:
        if re.search(method.replace("-", "[- ]"), notes, flags=re.IGNORECASE):
            used.add(method)
    if not used:
        return ""
    level = re.search(r"Confidence level used: ([0-9.]+)", notes)
    adjust = sorted(set(re.findall(r"P value adjustment: (\w+)", notes)) - {"none"})
    tables = ", estimated marginal means and contrasts (as emmeans; Searle et al., 1980)" if estimands else ""
    return (f"Denominator degrees of freedom of the t and F tests{tables} used "
            f"{' and '.join(DF_METHODS[m] for m in sorted(used))}"
            + (f"; intervals are {float(level.group(1)):.0%} confidence intervals" if level else "")
            + (f"; p values of contrasts were adjusted ({', '.join(adjust)})" if adjust else "") + ".")


def _effect_sizes(tables: list[pd.DataFrame]) -> str:
    if not tables:
        return ""
    durations = sorted({f"{table.attrs['duration']:g}" for table in tables if "duration" in table.attrs})
    return ("Arm differences at the end of follow-up (the slope difference times the duration"
            + (f", {' and '.join(durations)}" if durations else "")
            + ") were standardised by the pooled baseline SD (d; Feingold, 2009), the SD treated as known in "
              "the interval.")


def _missing_data(fits: dict) -> str:
    dropped = {name: fit.n_dropped for name, fit in fits.items() if fit.n_dropped}
    rows = ("; rows with a missing value in a model's variables were left out ("
            + ", ".join(f"{name}: {count:,}" for name, count in dropped.items()) + ")") if dropped else (
        "; no row had a missing value in a model's variables")
    return ("Each model used every observation available, so participants with missing waves contributed the "
            f"waves they had{rows}. The estimates are unbiased when data are missing at random given the "
            "observed variables (Little & Rubin, 2019).")


def _r_equivalents(linear: dict, generalised: dict) -> str:
    calls = []
    if linear:
        reml = sorted({"TRUE" if fit.reml else "FALSE" for fit in linear.values()})
        calls.append(f"lme4's lmer (REML = {' or '.join(reml)}) with lmerTest")
    if generalised:
        families = sorted({f"family = {fit.family}, nAGQ = {fit.nagq}" for fit in generalised.values()})
        calls.append(f"glmer ({'; '.join(families)})")
    return (f"In R these are {' and '.join(calls)} fits, with emmeans for marginal means and contrasts; the suite's "
            "estimates are tested against them.")
