"""The methods paragraph of a meta-analysis (:mod:`analysis.meta`), report 06."""

from __future__ import annotations

from .common import MethodsText, listing, sentences

#: Effect-size measures in words.
MEASURES = {"ZCOR": "Fisher's r-to-z transformed correlations", "COR": "raw correlations",
            "MD": "raw mean differences", "SMD": "standardised mean differences (Hedges' g)",
            "SMCC": "standardised mean changes (change-score standardisation)",
            "SMCR": "standardised mean changes (raw-score standardisation)", "RR": "log risk ratios",
            "OR": "log odds ratios", "RD": "risk differences", "PETO": "log odds ratios (Peto)"}

#: tau² estimators (metafor's ``method``) in words, with their citation.
ESTIMATORS = {"REML": "restricted maximum likelihood (REML; Viechtbauer, 2005)", "ML": "maximum likelihood",
              "EB": "the empirical Bayes estimator", "PM": "the Paule–Mandel estimator",
              "DL": "the DerSimonian–Laird estimator (DerSimonian & Laird, 1986)", "HE": "the Hedges estimator",
              "HS": "the Hunter–Schmidt estimator", "SJ": "the Sidik–Jonkman estimator"}

#: Tests of the coefficients (metafor's ``test``) in words.
TESTS = {"z": "Wald z tests and normal-theory intervals",
         "t": "t tests and intervals on k − p degrees of freedom",
         "knha": "the Knapp–Hartung adjustment, t tests on k − p degrees of freedom (Knapp & Hartung, 2003)",
         "adhoc": "the Knapp–Hartung adjustment truncated at 1, t tests on k − p degrees of freedom "
                  "(Knapp & Hartung, 2003)"}


def meta_analysis(fit, *, regression=None, multilevel=None, robust=None, bias=(), bayesian=None) -> MethodsText:
    """The methods paragraph of a meta-analysis.

    Parameters
    ----------
    fit : RmaResult
        The random- or equal-effects model (:func:`analysis.meta.rma`).
    regression : RmaResult, optional
        A meta-regression on moderators.
    multilevel : RmaMvResult, optional
        A multilevel model of dependent effects (:func:`analysis.meta.rma_mv`).
    robust : RobustResult, optional
        Cluster-robust tests of ``multilevel`` (or ``fit``).
    bias : sequence
        Small-study and publication-bias analyses, any of ``RegtestResult`` (Egger's
        test), ``TrimfillResult``, ``SelmodelResult``, ``PetPeeseResult``,
        ``RanktestResult``, ``FsnResult``.
    bayesian : BayesResult, optional
        The Bayesian random-effects model (:func:`analysis.bayes.meta_analysis`).

    Returns
    -------
    MethodsText

    Raises
    ------
    ValueError
        ``fit`` is not an ``RmaResult``, or an entry of ``bias`` is not a bias analysis.
    """
    from ... import meta

    if not isinstance(fit, meta.RmaResult):
        raise ValueError(f"meta_analysis needs an RmaResult (analysis.meta.rma), got {type(fit).__name__}")
    kinds = (meta.RegtestResult, meta.TrimfillResult, meta.SelmodelResult, meta.PetPeeseResult,
             meta.RanktestResult, meta.FsnResult)
    wrong = [type(item).__name__ for item in bias if not isinstance(item, kinds)]
    if wrong:
        raise ValueError(f"meta_analysis: bias holds results that are not bias analyses: {wrong}")
    return sentences(_model(fit), _heterogeneity(fit), _regression(regression), _multilevel(multilevel),
                     _robust(robust), _bias(bias), _bayesian(bayesian),
                     _r_equivalents(fit, regression, multilevel, robust, bias))


def _model(fit) -> str:
    from ...meta import FIXED

    measure = MEASURES.get(fit.measure, f"effect sizes ({fit.measure})") if fit.measure else "effect sizes"
    if fit.method in FIXED:
        model = "an equal-effects model (inverse-variance weights)"
    else:
        model = f"a random-effects model, the between-study variance tau² estimated by {ESTIMATORS[fit.method]}"
    return (f"The {measure} of {fit.k} studies were pooled in {model} with metafor's estimators (Viechtbauer, 2010); "
            f"the pooled effect has {TESTS[fit.test]} at the {_level(fit.level)} level.")


def _level(level: float) -> str:
    """A confidence level as metafor records it (95) or as a share (0.95), in per cent."""
    return f"{level:g}%" if level > 1 else f"{level:.0%}"


def _heterogeneity(fit) -> str:
    from ...meta import FIXED

    text = f"Heterogeneity was tested by Cochran's Q (Q({fit.dof}) = {fit.QE:.2f}) and quantified by I²"
    if fit.method in FIXED:
        return text + f" = {fit.I2:.1f}% (Higgins & Thompson, 2002)."
    return (text + f" = {fit.I2:.1f}% and tau² = {fit.tau2:.4f} (Higgins & Thompson, 2002), with Q-profile "
            "confidence intervals (Viechtbauer, 2007); the prediction interval gives the range of true effects.")


def _regression(fit) -> str:
    if fit is None:
        return ""
    names = fit.design_info.term_names if fit.design_info is not None else list(fit.X.columns)
    terms = [name for name in names if name not in ("intrcpt", "Intercept")]
    return (f"A mixed-effects meta-regression on {listing(terms)} ({fit.k} effects, the same tau² estimator) "
            f"tested the moderators jointly (QM on {fit.QMdf[0]} df) and gives R² as the share of tau² accounted for.")


def _multilevel(fit) -> str:
    if fit is None:
        return ""
    levels = listing(fit.sigma2.index) if hasattr(fit.sigma2, "index") else ""
    return (f"Dependent effects ({fit.k} effects) were modelled in a multilevel model with variance components "
            f"{levels} (Konstantopoulos, 2011), fitted by {ESTIMATORS.get(fit.method, fit.method)}, with "
            f"{TESTS.get(fit.test, fit.test)}.")


def _robust(result) -> str:
    if result is None:
        return ""
    if result.vcov_type == "CR2":
        how = ("the CR2 bias-reduced sandwich estimator with Satterthwaite degrees of freedom per coefficient "
               "(Tipton, 2015; Pustejovsky & Tipton, 2018), as clubSandwich computes it")
    else:
        how = "the CR1 sandwich estimator with n − p degrees of freedom, as metafor's robust() computes it"
    return f"Cluster-robust tests used {how}, over {result.n_clusters} clusters."


def _bias(items) -> str:
    parts = [_one_bias(item) for item in items]
    return ("Small-study effects and publication bias were examined by " + "; ".join(parts) + ".") if parts else ""


def _one_bias(item) -> str:
    from ... import meta

    if isinstance(item, meta.RegtestResult):
        predictor = {"sei": "the standard error", "vi": "the sampling variance", "ni": "the sample size",
                     "ninv": "the inverse sample size"}.get(item.predictor, item.predictor)
        return f"Egger's regression test with {predictor} as predictor in the {item.model} model (Egger et al., 1997)"
    if isinstance(item, meta.TrimfillResult):
        return (f"trim and fill with the {item.estimator} estimator on the {item.side} side, {item.k0} studies "
                "imputed (Duval & Tweedie, 2000)")
    if isinstance(item, meta.SelmodelResult):
        steps = listing(f"{step:g}" for step in item.steps)
        return (f"a {item.type} selection model fitted by maximum likelihood (Vevea & Hedges, 1995), p-value "
                f"cut-points {steps}, one-sided p values for effects {item.alternative} than 0, likelihood-ratio "
                f"test of no selection on {item.LRTdf} df")
    if isinstance(item, meta.PetPeeseResult):
        return (f"PET-PEESE with a {item.sided}-sided PET test at alpha {item.alpha:g} (Stanley & Doucouliagos, "
                f"2014), {item.selected} selected")
    if isinstance(item, meta.RanktestResult):
        return "the rank correlation test (Begg & Mazumdar, 1994)" + (" with the exact p value" if item.exact else "")
    return f"the {item.type} fail-safe N" + (" (Rosenthal, 1979)" if item.type == "Rosenthal" else "")


def _bayesian(result) -> str:
    if result is None:
        return ""
    from .bayes import fitted

    return "The random-effects model was also fitted as a Bayesian model. " + fitted({"Bayesian model": result})


def _r_equivalents(fit, regression, multilevel, robust, bias) -> str:
    calls = [f"rma(method = \"{fit.method}\", test = \"{fit.test}\")"]
    if multilevel is not None:
        calls.append(f"rma.mv(method = \"{multilevel.method}\")")
    if robust is not None:
        calls.append("robust(clubSandwich = TRUE)" if robust.vcov_type == "CR2" else "robust()")
    names = {"RegtestResult": "regtest()", "TrimfillResult": "trimfill()", "SelmodelResult": "selmodel()",
             "RanktestResult": "ranktest()", "FsnResult": "fsn()"}
    calls += list(dict.fromkeys(names[type(item).__name__] for item in bias if type(item).__name__ in names))
    return f"In R these are metafor's {listing(calls)}; the suite's estimates are tested against them."
