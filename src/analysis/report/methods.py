"""Methods paragraphs written from the fitted results, with their references, for :func:`analysis.report.paper.methods`.

Every sentence states what the results themselves record (REML or ML, the optimiser the fit used,
the df method of each table, the rows left out, whether each model converged), so the paragraph
stays true when a parameter or the data change. :func:`software` names the Python libraries the
kernel actually imported, with their installed versions.
"""

from __future__ import annotations

import platform
import re
import sys
from dataclasses import dataclass

import pandas as pd

from .. import __version__
from .dependencies import COMPUTING_LIBRARIES, library_versions

#: The methods papers and software the paragraphs cite, in APA style.
REFERENCES = {
    "Bates et al., 2015": "Bates, D., Mächler, M., Bolker, B., & Walker, S. (2015). Fitting linear mixed-effects "
                          "models using lme4. Journal of Statistical Software, 67(1), 1–48. "
                          "https://doi.org/10.18637/jss.v067.i01",
    "Kuznetsova et al., 2017": "Kuznetsova, A., Brockhoff, P. B., & Christensen, R. H. B. (2017). lmerTest package: "
                               "Tests in linear mixed effects models. Journal of Statistical Software, 82(13), 1–26. "
                               "https://doi.org/10.18637/jss.v082.i13",
    "Satterthwaite, 1946": "Satterthwaite, F. E. (1946). An approximate distribution of estimates of variance "
                           "components. Biometrics Bulletin, 2(6), 110–114. https://doi.org/10.2307/3002019",
    "Kenward & Roger, 1997": "Kenward, M. G., & Roger, J. H. (1997). Small sample inference for fixed effects from "
                             "restricted maximum likelihood. Biometrics, 53(3), 983–997. "
                             "https://doi.org/10.2307/2533558",
    "Halekoh & Højsgaard, 2014": "Halekoh, U., & Højsgaard, S. (2014). A Kenward-Roger approximation and parametric "
                                 "bootstrap methods for tests in linear mixed models – The R package pbkrtest. "
                                 "Journal of Statistical Software, 59(9), 1–32. "
                                 "https://doi.org/10.18637/jss.v059.i09",
    "Searle et al., 1980": "Searle, S. R., Speed, F. M., & Milliken, G. A. (1980). Population marginal means in the "
                           "linear model: An alternative to least squares means. The American Statistician, 34(4), "
                           "216–221. https://doi.org/10.1080/00031305.1980.10483031",
    "Laird & Ware, 1982": "Laird, N. M., & Ware, J. H. (1982). Random-effects models for longitudinal data. "
                          "Biometrics, 38(4), 963–974. https://doi.org/10.2307/2529876",
    "Feingold, 2009": "Feingold, A. (2009). Effect sizes for growth-modeling analysis for controlled clinical trials "
                      "in the same metric as for classical analysis. Psychological Methods, 14(1), 43–53. "
                      "https://doi.org/10.1037/a0014699",
    "Little & Rubin, 2019": "Little, R. J. A., & Rubin, D. B. (2019). Statistical analysis with missing data "
                            "(3rd ed.). Wiley. https://doi.org/10.1002/9781119482260",
    "Seabold & Perktold, 2010": "Seabold, S., & Perktold, J. (2010). Statsmodels: Econometric and statistical "
                                "modeling with Python. Proceedings of the 9th Python in Science Conference, 92–96. "
                                "https://doi.org/10.25080/Majora-92bf1922-011",
    "Harris et al., 2020": "Harris, C. R., Millman, K. J., van der Walt, S. J., et al. (2020). Array programming "
                           "with NumPy. Nature, 585(7825), 357–362. https://doi.org/10.1038/s41586-020-2649-2",
    "Virtanen et al., 2020": "Virtanen, P., Gommers, R., Oliphant, T. E., et al. (2020). SciPy 1.0: Fundamental "
                             "algorithms for scientific computing in Python. Nature Methods, 17(3), 261–272. "
                             "https://doi.org/10.1038/s41592-019-0686-2",
    "McKinney, 2010": "McKinney, W. (2010). Data structures for statistical computing in Python. Proceedings of the "
                      "9th Python in Science Conference, 56–61. https://doi.org/10.25080/Majora-92bf1922-00a",
    "Abril-Pla et al., 2023": "Abril-Pla, O., Andreani, V., Carroll, C., et al. (2023). PyMC: A modern, and "
                              "comprehensive probabilistic programming framework in Python. PeerJ Computer Science, "
                              "9, e1516. https://doi.org/10.7717/peerj-cs.1516",
    "Kumar et al., 2019": "Kumar, R., Carroll, C., Hartikainen, A., & Martin, O. (2019). ArviZ a unified library for "
                          "exploratory analysis of Bayesian models in Python. Journal of Open Source Software, 4(33), "
                          "1143. https://doi.org/10.21105/joss.01143",
}

#: The paper to cite for each computing library, where it has one.
LIBRARY_CITATIONS = {"numpy": "Harris et al., 2020", "scipy": "Virtanen et al., 2020", "pandas": "McKinney, 2010",
                     "statsmodels": "Seabold & Perktold, 2010", "pymc": "Abril-Pla et al., 2023",
                     "arviz": "Kumar et al., 2019"}

#: Denominator-df methods as the estimand tables' notes name them, and how the paragraph cites each.
DF_METHODS = {
    "satterthwaite": "Satterthwaite's approximation (Satterthwaite, 1946), as lmerTest computes it "
                     "(Kuznetsova et al., 2017)",
    "kenward-roger": "the Kenward–Roger approximation (Kenward & Roger, 1997), as pbkrtest computes it "
                     "(Halekoh & Højsgaard, 2014)",
}


@dataclass(frozen=True)
class MethodsText:
    """A methods paragraph and the references its citations stand for.

    Attributes
    ----------
    text : str
        The paragraph, citations in APA's (Author, year) form.
    references : tuple of str
        Full references, as in :data:`REFERENCES`.
    """

    text: str
    references: tuple[str, ...] = ()

    @property
    def markdown(self) -> str:
        """The paragraph, then its references as a Markdown list under a bold heading."""
        return self.text + ("\n\n**References**\n\n" + "\n".join(f"- {ref}" for ref in self.references)
                            if self.references else "")

    @property
    def plain(self) -> str:
        """The paragraph, then its references, as plain text."""
        return self.text + ("\n\nReferences\n\n" + "\n".join(self.references) if self.references else "")


def cited(text: str) -> MethodsText:
    """``text`` with the references of the citations in it that :data:`REFERENCES` knows, sorted."""
    return MethodsText(text, tuple(sorted(ref for key, ref in REFERENCES.items() if key in text)))


def combine(*parts: str | MethodsText) -> MethodsText:
    """One paragraph from several parts (strings or :class:`MethodsText`), references merged and sorted."""
    texts = [part.text if isinstance(part, MethodsText) else str(part) for part in parts]
    references = {ref for part in parts if isinstance(part, MethodsText) for ref in part.references}
    joined = " ".join(text.strip() for text in texts if text.strip())
    return MethodsText(joined, tuple(sorted(references | set(cited(joined).references))))


def software(modules: dict | None = None) -> MethodsText:
    """The sentence naming Python, this suite and the computing libraries in use, with their versions.

    Parameters
    ----------
    modules : dict, optional
        The imported modules (default ``sys.modules``): a library of
        :data:`~analysis.report.dependencies.COMPUTING_LIBRARIES` is named when imported.
    """
    modules = sys.modules if modules is None else modules
    versions = library_versions()
    used = [name for name in COMPUTING_LIBRARIES if name in modules]
    libraries = ", ".join(f"{name} {versions[name]}" + (f" ({LIBRARY_CITATIONS[name]})" if name in LIBRARY_CITATIONS
                                                        else "") for name in used)
    return cited(f"Analyses were run in Python {platform.python_version()} with the analysis suite "
                 f"{__version__}" + (f" and {libraries}" if libraries else "") + ".")


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
    from ..mixed import GlmmResult, LmmResult, model_table

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
    from ..mixed.lmm import GRADIENT_TOL, SINGULAR_TOL

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
