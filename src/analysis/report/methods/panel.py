"""The methods paragraph of cross-lagged panel models (:mod:`analysis.panel`), report 05."""

from __future__ import annotations

from .common import MethodsText, expect, listing, sentences

#: Fit indices stated for each model: key of ``fit`` -> name in the text.
FIT_INDICES = {"cfi": "CFI", "tli": "TLI", "rmsea": "RMSEA", "srmr": "SRMR"}


def estimation(estimator: str, missing: str = "fiml") -> str:
    """How a lavaan-type model was estimated: ML or MLR, and FIML for missing values."""
    how = ("maximum likelihood with robust (Huber–White) standard errors and the Yuan–Bentler scaled chi-square "
           "(MLR; Yuan & Bentler, 2000)" if estimator == "MLR" else "maximum likelihood (ML)")
    fiml = {"fiml": ", missing values handled by full-information maximum likelihood (FIML; Enders & Bandalos, "
                    "2001), every observed value of a person used",
            "listwise": ", people with a missing value left out (listwise deletion)",
            "complete": ", the data having no missing values"}[missing]
    return how + fiml


def fit_statement(fit) -> str:
    """``chi-square(df) = x (scaled y), CFI .., TLI .., RMSEA .. [90% CI], SRMR ..`` from a ``fit`` Series."""
    scaled = f", scaled {fit['chisq_scaled']:.2f}" if "chisq_scaled" in fit else ""
    text = f"chi-square({fit['df']:.0f}) = {fit['chisq']:.2f}{scaled}, " + ", ".join(
        f"{name} {fit[key]:.3f}" for key, name in FIT_INDICES.items() if key in fit)
    if "rmsea_ci_lower" in fit:
        text = text.replace(f"RMSEA {fit['rmsea']:.3f}",
                            f"RMSEA {fit['rmsea']:.3f} [90% CI {fit['rmsea_ci_lower']:.3f}, "
                            f"{fit['rmsea_ci_upper']:.3f}]")
    return text


def cross_lagged(results: dict) -> MethodsText:
    """The methods paragraph of fitted (RI-)CLPMs.

    Parameters
    ----------
    results : dict
        ``{name: PanelResult}`` (the names appear in the text).

    Returns
    -------
    MethodsText

    Raises
    ------
    ValueError
        ``results`` is empty or holds something other than a ``PanelResult``.
    """
    from ...panel import PanelResult

    expect(results, (PanelResult,), "panel result", "cross_lagged")
    models = "; ".join(_model(name, result) for name, result in results.items())
    estimators = sorted({(r.estimator, r.sem.missing) for r in results.values()})
    fits = "; ".join(f"{name}: {fit_statement(r.fit)}" for name, r in results.items())
    trouble = [f"{name}: {'; '.join(r.warnings)}" for name, r in results.items() if r.warnings or not r.converged]
    return sentences(
        f"Cross-lagged panel models were fitted: {models}.",
        "They were estimated by " + " and ".join(estimation(*pair) for pair in estimators) + ".",
        f"Lagged effects are reported unstandardised with {_levels(results)} Wald confidence intervals and "
        "standardised (lavaan's std.all, delta-method standard errors). Model fit was judged by the chi-square "
        f"test, CFI, TLI, RMSEA and SRMR (Hu & Bentler, 1999): {fits}.",
        ("All models converged with admissible estimates." if not trouble else "Warnings: " + " | ".join(trouble)
         + "."),
        "In R these are lavaan (Rosseel, 2012) sem() fits with missing = \"ml\" and estimator = "
        + " or ".join(f'"{e}"' for e in sorted({e for e, _ in estimators}))
        + "; the suite's estimates are tested against them.")


def _model(name: str, result) -> str:
    kind = ("random-intercept cross-lagged panel model (RI-CLPM; Hamaker et al., 2015), stable between-person "
            "differences separated from within-person fluctuations by random intercepts" if result.model == "RI-CLPM"
            else "classic cross-lagged panel model (CLPM), without random intercepts")
    lags = "lagged effects held equal over waves" if result.equal_lags else "lagged effects free at each wave"
    third = f", with {result.z} as a third variable" if result.z else ""
    groups = f", groups {listing(result.groups)}" if result.groups != [None] else ""
    dropped = f" ({result.n_dropped:,} without any observed value left out)" if result.n_dropped else ""
    return (f"{name}: a {kind}, of {result.x} and {result.y}{third} at waves {listing(result.waves)}, {lags}"
            f"{groups}; {result.nobs:,} people{dropped}, {result.n_patterns} missing-data patterns")


def _levels(results: dict) -> str:
    return listing(sorted({f"{r.conf_level:.0%}" for r in results.values()}))
