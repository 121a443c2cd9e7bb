"""The methods paragraph of a trial's primary analysis and its missing-data sensitivity analyses
(:func:`analysis.mixed.primary`, :mod:`analysis.missing`), report 08."""

from __future__ import annotations

from .common import MethodsText, listing, sentences

#: Reference-based imputation assumptions in words.
REFERENCE_METHODS = {"J2R": "jump to reference", "CR": "copy reference",
                     "CIR": "copy increments in reference", "MAR": "missing at random"}


def primary_analysis(mmrm, imputations=None, tipping=None, reference: dict | None = None) -> MethodsText:
    """The methods paragraph of an MMRM primary analysis and its multiple-imputation sensitivity analyses.

    Parameters
    ----------
    mmrm : analysis.mixed.MmrmResult
        The primary analysis (:func:`analysis.mixed.primary` or :func:`~analysis.mixed.mmrm`).
    imputations : analysis.missing.Imputations, optional
        Multiple imputation under MAR (:func:`analysis.missing.impute`).
    tipping : analysis.missing.TippingPoint, optional
        The delta-adjusted tipping-point analysis.
    reference : dict, optional
        ``{label: Imputations}`` of :func:`analysis.missing.reference_based`.

    Returns
    -------
    MethodsText

    Raises
    ------
    ValueError
        An argument is not the result named.
    """
    from ...missing import Imputations, TippingPoint
    from ...mixed import MmrmResult

    for name, value, kind in (("mmrm", mmrm, MmrmResult), ("imputations", imputations, Imputations),
                              ("tipping", tipping, TippingPoint)):
        if value is not None and not isinstance(value, kind):
            raise ValueError(f"primary_analysis: {name} must be a {kind.__name__}, got {type(value).__name__}")
    if mmrm is None:
        raise ValueError("primary_analysis needs the MMRM of the primary analysis")
    wrong = sorted(label for label, imps in (reference or {}).items() if not isinstance(imps, Imputations))
    if wrong:
        raise ValueError(f"primary_analysis: reference holds results that are not Imputations: {wrong}")
    return sentences(_mmrm(mmrm), _imputation(imputations), _tipping(tipping), _reference(reference or {}),
                     _r_equivalents(mmrm, imputations, tipping, reference))


def _mmrm(fit) -> str:
    from ...mixed.mmrm import COV_TYPES

    criterion = "restricted maximum likelihood (REML)" if fit.reml else "maximum likelihood"
    ddf = {"kenward-roger": "the Kenward–Roger adjusted covariance of the estimates and its degrees of freedom "
                            "(Kenward & Roger, 1997)",
           "satterthwaite": "Satterthwaite's degrees of freedom (Satterthwaite, 1946)"}.get(
        fit.ddf, "residual degrees of freedom")
    dropped = f"; {fit.n_dropped:,} rows with a missing value were left out" if fit.n_dropped else ""
    return (f"The primary analysis was a mixed model for repeated measures (MMRM; Mallinckrodt et al., 2001), "
            f"{fit.formula}, with an {COV_TYPES.get(fit.cov_type, fit.cov_type)} covariance of the "
            f"{fit.n_visits} post-baseline visits within participants, fitted by {criterion} to {fit.n_obs:,} "
            f"observations of {fit.n_subjects:,} participants{dropped}; the fit "
            f"{'converged' if fit.converged else 'did not converge'}. Arm contrasts used {ddf}. The MMRM uses "
            "every observed visit and is valid when data are missing at random (MAR; Little & Rubin, 2019).")


def _imputation(imps) -> str:
    if imps is None:
        return ""
    s = imps.settings
    how = ({"pmm": f"predictive mean matching with {s.get('donors')} donors (Little, 1988)",
            "norm": "Bayesian linear regression"}.get(imps.method, imps.method))
    by = f", separately within each level of {imps.group}" if imps.group else ""
    auxiliary = list(imps.layout.variables[1:]) if imps.layout is not None else []
    covariates = list(imps.layout.covariates) if imps.layout is not None else []
    predictors = ([f"auxiliary variables {listing(auxiliary)}"] if auxiliary else []) + (
        [f"baseline covariates {listing(covariates)}"] if covariates else [])
    return (f"As a sensitivity analysis under MAR, the missing {imps.outcome} values at visits "
            f"{listing(imps.visits)} were multiply imputed by chained equations (van Buuren & Groothuis-Oudshoorn, "
            f"2011) with {how}, {s.get('maxit')} iterations{by}"
            + (f", with {listing(predictors)} as predictors" if predictors else "")
            + f": {len(imps)} imputations, seed {imps.seed}. Each completed data set was analysed by ANCOVA of the "
              "last visit adjusted for baseline, and the results pooled by Rubin's rules (Rubin, 1987) with "
              "Barnard–Rubin degrees of freedom (Barnard & Rubin, 1999).")


def _tipping(tipping) -> str:
    if tipping is None:
        return ""
    deltas = sorted(float(d) for d in tipping.table["delta"].unique())
    arms = "the active arms" if tipping.shift == "active" else "every arm"
    return (f"Departures from MAR were explored by delta adjustment (Ratitch et al., 2013): the imputed values in "
            f"{arms} were shifted by each of {listing(f'{d:g}' for d in deltas)} points before analysis, and the "
            f"tipping point is the shift at which the conclusion at alpha = {tipping.alpha:g} changes "
            f"({len(tipping.imputations)} imputations).")


def _reference(reference: dict) -> str:
    if not reference:
        return ""
    parts = []
    for label, imps in reference.items():
        s = imps.settings
        parts.append(f"{label}: {REFERENCE_METHODS.get(imps.method, imps.method)} with reference arm "
                     f"{s.get('reference')}, {len(imps)} imputations, {s.get('burnin')} burn-in and "
                     f"{s.get('thin')} thinning iterations of the Gibbs sampler, seed {imps.seed}")
    return ("Reference-based multiple imputation (Carpenter et al., 2013) imputed the visits after dropout from "
            "a multivariate normal model of each arm's visits: " + "; ".join(parts)
            + "; each analysed and pooled as above.")


def _r_equivalents(mmrm, imputations, tipping, reference) -> str:
    method = {"kenward-roger": "Kenward-Roger", "satterthwaite": "Satterthwaite"}.get(mmrm.ddf, "Residual")
    calls = [f"the R package mmrm ({mmrm.cov_type}() covariance, method = \"{method}\")"]
    if imputations is not None or tipping is not None:
        calls.append("mice with pool()")
    text = f"In R these are {listing(calls)}, against which the suite's estimates are tested"
    return text + ("; rbmi implements the same reference-based assumptions." if reference else ".")
