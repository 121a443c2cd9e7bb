"""The methods paragraph of reliability, measurement invariance and latent growth analyses
(:mod:`analysis.scales`, :mod:`analysis.sem`), report 09."""

from __future__ import annotations

from .common import MethodsText, listing, sentences
from .panel import estimation, fit_statement


def measurement(reliability: dict, omega: dict | None = None, split_half: dict | None = None,
                invariance: dict | None = None, growth: dict | None = None) -> MethodsText:
    """The methods paragraph of the measurement analyses of a set of scales.

    Parameters
    ----------
    reliability : dict
        ``{scale: Reliability}`` (:func:`analysis.scales.reliability`).
    omega : dict, optional
        ``{scale: Omega}`` (:func:`analysis.scales.omega`).
    split_half : dict, optional
        ``{scale: SplitHalf}`` (:func:`analysis.scales.split_half`).
    invariance : dict, optional
        ``{what: {level: SemResult}}``: the fitted models of
        :func:`analysis.sem.invariance` (``return_fits=True``), e.g. across waves and arms.
    growth : dict, optional
        ``{description: SemResult}`` of latent growth models (:func:`analysis.sem.growth`).

    Returns
    -------
    MethodsText

    Raises
    ------
    ValueError
        No analysis given, or one of another kind.
    """
    from ...scales import Omega, Reliability, SplitHalf
    from ...sem import SemResult

    given = {"reliability": (reliability or {}, Reliability), "omega": (omega or {}, Omega),
             "split_half": (split_half or {}, SplitHalf), "growth": (growth or {}, SemResult)}
    given["invariance"] = ({f"{what} {level}": fit for what, fits in (invariance or {}).items()
                            for level, fit in fits.items()}, SemResult)
    if not any(items for items, _ in given.values()):
        raise ValueError("measurement needs at least one analysis (reliability, omega, split_half, invariance "
                         "or growth)")
    for name, (items, kind) in given.items():
        wrong = sorted(key for key, item in items.items() if not isinstance(item, kind))
        if wrong:
            raise ValueError(f"measurement: {name} holds results that are not {kind.__name__}: {wrong}")
    return sentences(_reliability(reliability or {}), _omega(omega or {}), _split_half(split_half or {}),
                     _invariance(invariance or {}), _growth(growth or {}),
                     _r_equivalents(reliability, omega, split_half, invariance, growth))


def _reliability(fits: dict) -> str:
    if not fits:
        return ""
    scales = "; ".join(f"{name}: {fit.k} items, n = {fit.n:,}" + (f" ({fit.n_dropped:,} rows left out)"
                                                                   if fit.n_dropped else "")
                       + (f", items {listing(fit.flagged)} reversed" if fit.check_keys and fit.flagged else "")
                       for name, fit in fits.items())
    missing = listing(sorted({fit.missing for fit in fits.values()}))
    levels = listing(sorted({f"{fit.level:.0%}" for fit in fits.values()}))
    return (f"Internal consistency was estimated by Cronbach's alpha (Cronbach, 1951) with Feldt {levels} "
            "confidence intervals (Feldt et al., 1987), standardised alpha, Guttman's lambda 6 (Guttman, 1945) and "
            f"omega total of a one-factor minres solution (McDonald, 1999), missing responses handled {missing}: "
            f"{scales}.")


def _omega(fits: dict) -> str:
    if not fits:
        return ""
    scales = "; ".join(f"{name}: {fit.k} items, {fit.nfactors} group factors, n = {fit.n:,}"
                       for name, fit in fits.items())
    return ("Omega hierarchical and omega total (Zinbarg et al., 2005) came from a Schmid–Leiman transformation "
            f"(Schmid & Leiman, 1957) of an oblique factor solution: {scales}.")


def _split_half(fits: dict) -> str:
    if not fits:
        return ""
    scales = "; ".join(f"{name}: {'a random sample of ' if s.sampled else 'all '}{s.n_splits:,} splits"
                       for name, s in fits.items())
    return f"Split-half reliabilities (lowest, mean and highest) were computed over {scales}."


def _invariance(tests: dict) -> str:
    if not tests:
        return ""
    from ...sem.criteria import CFI_DROP, RMSEA_RISE

    fits = [fit for levels in tests.values() for fit in levels.values()]
    estimators = sorted({(fit.estimator, fit.missing) for fit in fits})
    scaled = any(fit.estimator == "MLR" for fit in fits)
    what = "; ".join(f"{name}: {listing(levels)} models, n = {sum(next(iter(levels.values())).nobs):,}"
                     for name, levels in tests.items())
    trouble = [f"{name} {level}: {'; '.join(fit.warnings)}" for name, levels in tests.items()
               for level, fit in levels.items() if fit.warnings or not fit.converged]
    return (f"Measurement invariance was tested by nested confirmatory factor models of increasing constraint "
            f"(Vandenberg & Lance, 2000), {what}, estimated by "
            + " and ".join(estimation(*pair) for pair in estimators)
            + ". Each level was compared with the previous one by the chi-square difference test"
            + (" (Satorra–Bentler scaled; Satorra & Bentler, 2001)" if scaled else "")
            + f" and held when CFI dropped by at most {CFI_DROP:g} (Cheung & Rensvold, 2002) and RMSEA rose by "
              f"at most {RMSEA_RISE:g} (Chen, 2007), the change in SRMR shown beside them."
            + (" Warnings: " + " | ".join(trouble) + "." if trouble else ""))


def _growth(fits: dict) -> str:
    if not fits:
        return ""
    estimators = sorted({(fit.estimator, fit.missing) for fit in fits.values()})
    models = "; ".join(f"{name} (n = {sum(fit.nobs):,}): {fit_statement(fit.fit)}" for name, fit in fits.items())
    return ("Parallel-process latent growth models (Cheong et al., 2003) were estimated by "
            + " and ".join(estimation(*pair) for pair in estimators) + f", fit judged as above (Hu & Bentler, 1999): "
            f"{models}.")


def _r_equivalents(reliability, omega, split_half, invariance, growth) -> str:
    calls = [name for name, given in (("alpha()", reliability), ("omega()", omega), ("splitHalf()", split_half))
             if given]
    text = f"psych's {listing(calls)}" if calls else ""
    sem = [name for name, given in (("cfa() with group.equal", invariance), ("growth()", growth)) if given]
    if sem:
        text += (" and " if text else "") + f"lavaan's {listing(sem)} (Rosseel, 2012)"
    return f"In R these are {text}; the suite's estimates are tested against them."
