r"""Linear mixed-effects models that read like lme4's summary, fitted at lme4's speed.

:func:`fit_lmm` fits a linear mixed model with one grouping factor,

.. math::

   y_i = X_i \beta + Z_i b_i + \varepsilon_i, \quad b_i \sim N(0, G), \quad
   \varepsilon_i \sim N(0, \sigma^2 I), \quad
   V_i = Z_i G Z_i' + \sigma^2 I,

by (restricted) maximum likelihood, minimising lme4's profiled deviance with
per-group cross-products vectorised over groups (statsmodels' MixedLM can supply
the starting values instead, as the check and fallback), and
reports it in lme4/lmerTest terms: fixed effects with Satterthwaite denominator
degrees of freedom, random-effect variances, SDs and correlations, lme4's logLik,
AIC and BIC, and lme4's singular-fit check.

Satterthwaite's method
----------------------
As in lmerTest, the variance parameters are :math:`\phi = (\theta, \sigma)`, where
:math:`\theta` holds the lower triangle of the relative Cholesky factor
:math:`\Lambda` (:math:`G = \sigma^2 \Lambda \Lambda'`). For a contrast :math:`L`,

.. math::

   \nu = \frac{2\, (L' C L)^2}{g' A g}, \quad
   C(\phi) = (X' V^{-1} X)^{-1}, \quad g = \partial (L' C L) / \partial \phi, \quad
   A = 2\, H^{-1},

with :math:`H` the Hessian of the deviance (:math:`-2` times the restricted or full
log-likelihood, as fitted) at the estimate. :math:`C` and the deviance are computed
here blockwise over groups and differentiated numerically (central differences
with Richardson extrapolation), so the degrees of freedom are an approximation,
as lmerTest's ("numerical derivatives") are.

:func:`lrt` compares nested models by a likelihood-ratio test (as lme4's
``anova``), and :func:`decompose` splits a time-varying predictor into its
person mean and the deviation from it.
"""

from __future__ import annotations

import ast
import warnings
from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
import patsy
import statsmodels.formula.api as smf
from scipy import optimize, stats

from . import io, scales

__all__ = ["LmmResult", "fit_lmm", "lrt", "decompose", "growth", "within_between", "lagged",
           "sources", "adherence", "effect_sizes", "caseload", "model_table", "describe_effects",
           "SOURCES"]

#: Reliable-change category of participants without a baseline and a later score.
NO_FOLLOW_UP = "no follow-up"
#: Columns of Bandura's four sources of self-efficacy in the trial-data contract.
SOURCES = ("src_mastery", "src_vicarious", "src_persuasion", "src_physiological")

#: Engines of :func:`fit_lmm`: where the search for the optimum starts.
ENGINES = ("auto", "fast", "statsmodels")
#: statsmodels optimiser and options for the starting values, which are then
#: polished on lme4's profiled deviance (see ``_polish``) for lme4 parity.
START_OPTIMIZER = ("lbfgs", {"maxiter": 5000})
#: lme4's ``check.conv.grad`` tolerance on the scaled gradient of the deviance.
GRADIENT_TOL = 2e-3
#: lme4's ``isSingular`` tolerance on the diagonal of the relative Cholesky factor.
SINGULAR_TOL = 1e-4
#: lmerTest's tolerance for zero eigenvalues of the deviance Hessian.
HESSIAN_TOL = 1e-8
#: Initial relative step and number of halvings for the numerical derivatives (Satterthwaite).
#: Two levels (error O(h^4)) match lmerTest's df as closely as four (max 6.3e-5 vs 6.6e-5
#: relative over the lme4 reference fits) at 40% of the deviance evaluations.
STEP = 1e-2
RICHARDSON_LEVELS = 2
SATTERTHWAITE_NOTE = "Satterthwaite's method for denominator df (numerical derivatives)"


@dataclass(frozen=True, eq=False)
class LmmResult:
    r"""A fitted linear mixed model, reported as lme4/lmerTest report it.

    Attributes
    ----------
    fixed : pandas.DataFrame
        One row per fixed-effect term (patsy names): ``estimate``, ``se``,
        ``df`` (Satterthwaite, numerical derivatives), ``t``, ``p`` and the 95%
        t-interval ``ci_low``, ``ci_high``.
    re_cov : pandas.DataFrame
        Random-effect covariance matrix :math:`G`, named by the random terms.
    re_sd_corr : pandas.DataFrame
        Random-effect SDs on the diagonal, correlations off it.
    sigma2 : float
        Residual variance.
    loglik, aic, bic : float
        lme4's logLik (restricted log-likelihood for REML fits), AIC and BIC;
        the number of parameters counts fixed effects, the elements of
        :math:`G` and the residual variance.
    converged : bool
        lme4's gradient check at the optimum of the profiled deviance passed
        (see ``GRADIENT_TOL``); statsmodels, where used, only supplies starting
        values, and its messages are kept in ``warnings`` prefixed "statsmodels start".
    singular : bool
        lme4's ``isSingular``: a diagonal element of the relative Cholesky
        factor below ``SINGULAR_TOL`` (a variance ~0 or a correlation ~±1).
    warnings : list of str
        Optimiser, convergence, Hessian and singular-fit warnings.
    random_effects : pandas.DataFrame
        Conditional modes (BLUPs), one row per group.
    random_effects_sd : pandas.DataFrame
        Their conditional SDs (square roots of the diagonal of lme4's
        ``condVar``), for intervals such as a caterpillar plot.
    cov_beta : pandas.DataFrame
        Covariance matrix of the fixed effects (lme4's ``vcov``).
    fitted : pandas.Series
        Conditional fitted values :math:`X\hat\beta + Z\hat b`, indexed as ``data``.
    nobs, ngroups, n_dropped : int
        Rows used, groups, and rows dropped for missing values.
    reml : bool
    formula, group, re_formula : str
    data : pandas.DataFrame
        The complete-case rows the model was fitted to (used by :func:`lrt`).
    design_info : patsy.DesignInfo
        The fixed-effects design, reused by :meth:`predict`.
    engine : str
        The ``engine`` argument of :func:`fit_lmm` (reused by :func:`lrt`'s refit).
    arms : str
        The arms of the model families and the reference (e.g. "arms: control
        (reference), cbt, mindfulness"); empty for :func:`fit_lmm` alone.
    """

    fixed: pd.DataFrame
    re_cov: pd.DataFrame
    re_sd_corr: pd.DataFrame
    sigma2: float
    loglik: float
    aic: float
    bic: float
    converged: bool
    singular: bool
    warnings: list[str]
    random_effects: pd.DataFrame
    random_effects_sd: pd.DataFrame
    cov_beta: pd.DataFrame
    fitted: pd.Series
    nobs: int
    ngroups: int
    n_dropped: int
    reml: bool
    formula: str
    group: str
    re_formula: str
    data: pd.DataFrame = field(repr=False)
    design_info: patsy.DesignInfo = field(repr=False)
    engine: str = "auto"
    arms: str = ""

    @property
    def npar(self) -> int:
        """Number of parameters as lme4 counts them (fixed, variance, residual)."""
        return _npar(len(self.fixed), len(self.re_cov))

    @property
    def outcome(self) -> str:
        """Name of the response variable."""
        return self.formula.split("~")[0].strip()

    @property
    def residuals(self) -> pd.Series:
        """Conditional residuals: observed minus :attr:`fitted`."""
        return self.data[self.outcome] - self.fitted

    def predict(self, newdata: pd.DataFrame, level: float = 0.95) -> pd.DataFrame:
        r"""Population-level predictions (fixed effects only) with Wald intervals.

        Parameters
        ----------
        newdata : pandas.DataFrame
            Values of the fixed-effect variables (categorical levels as fitted).
        level : float, default 0.95
            Confidence level of the interval.

        Returns
        -------
        pandas.DataFrame
            ``newdata`` with ``estimate``, ``se``, ``ci_low`` and ``ci_high``
            added. The interval is :math:`x'\hat\beta \pm z\, \mathrm{se}` with
            :math:`\mathrm{se}^2 = x' \mathrm{Var}(\hat\beta) x`; it treats the
            variance components as known (as lme4 does for ``vcov``).
        """
        try:
            (design,) = patsy.build_design_matrices([self.design_info], newdata,
                                                    NA_action="raise", return_type="matrix")
        except patsy.PatsyError as exc:
            raise ValueError(f"cannot build the model's design from newdata: {exc}") from None
        design = np.asarray(design)
        estimate = design @ self.fixed["estimate"].to_numpy()
        se = np.sqrt(np.einsum("ij,jk,ik->i", design, self.cov_beta.to_numpy(), design))
        half = stats.norm.ppf(0.5 + level / 2) * se
        return newdata.assign(estimate=estimate, se=se, ci_low=estimate - half,
                              ci_high=estimate + half)

    def summary(self) -> str:
        """Text summary laid out like ``summary()`` of an lmerTest fit."""
        return "\n".join([
            _header(self),
            "",
            _random_table(self),
            f"Number of obs: {self.nobs}, groups:  {self.group}, {self.ngroups}"
            + (f" ({self.n_dropped} rows with missing values dropped)" if self.n_dropped else ""),
            *([self.arms.capitalize()] if self.arms else []),
            "",
            "Fixed effects:",
            _fixed_table(self.fixed),
            "---",
            f"{SATTERTHWAITE_NOTE}; df are an approximation.",
            *(["", "Warnings:"] + [f"  {w}" for w in self.warnings] if self.warnings else []),
        ])


def fit_lmm(data: pd.DataFrame, formula: str, group: str, re_formula: str = "~1",
            reml: bool = True, engine: str = "auto") -> LmmResult:
    """Fit a linear mixed model and report it as lme4/lmerTest would.

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format data, one row per observation.
    formula : str
        Fixed-effects formula (patsy), e.g. ``"Reaction ~ Days"``.
    group : str
        Column identifying the grouping factor (e.g. participant).
    re_formula : str, default "~1"
        Random-effects formula, e.g. ``"~1"`` (intercepts) or ``"~time"``
        (correlated intercepts and slopes), as lme4's ``(time | group)``.
    reml : bool, default True
        Restricted maximum likelihood (True) or maximum likelihood.
    engine : {"auto", "fast", "statsmodels"}, default "auto"
        Where the search for the optimum starts (see Notes). ``"fast"`` starts
        from lme4's default; ``"statsmodels"`` from statsmodels' MixedLM estimate
        (slow on large data, kept as the check); ``"auto"`` runs the fast engine
        and falls back to statsmodels' start only when the fast optimum fails
        lme4's gradient check.

    Returns
    -------
    LmmResult

    Raises
    ------
    ValueError
        If ``engine`` is not one of the above.
    analysis.io.DataValidationError
        If a column named in ``formula``, ``re_formula`` or ``group`` is absent or
        not usable (see :func:`analysis.io.model_frame`), no complete rows remain,
        a fixed-effect column is zero, constant or collinear
        (:func:`analysis.io.check_design`), or the random effects are not identified
        (lme4's check: fewer observations than random effects, or a random slope
        on a variable that does not vary).

    Notes
    -----
    Rows with a missing value in any used column are dropped (``n_dropped``).
    Every engine minimises lme4's profiled deviance over theta (the relative
    Cholesky factor, diagonal >= 0) with L-BFGS-B, using per-group cross-products
    computed once and vectorised over groups, and lme4's gradient check decides
    ``converged``; the engines differ only in their starting values. Fixed-effect
    df use Satterthwaite's approximation with numerical derivatives, as lmerTest
    computes it; p-values and 95% intervals use the t distribution.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    frame = _model_frame(data, formula, re_formula, group)
    complete = frame.data
    design = _design(complete, formula, group, re_formula)
    io.check_design(design.X, design.exog_names, who="fit_lmm")
    _check_random(design, re_formula, group)
    blocks = _blocks(design)
    q = len(design.re_names)
    starts, messages = [], []
    if engine != "statsmodels":
        starts.append(_default_theta(q))
        theta = _optimum(starts, blocks, reml)
        converged, gradient_messages = _check_convergence(theta, blocks, reml)
    if engine == "statsmodels" or (engine == "auto" and not converged):
        extra, messages = _starts(complete, formula, group, re_formula, reml)
        if engine == "auto":
            messages.insert(0, "fast engine failed the gradient check from lme4's start; "
                               "statsmodels start tried too")
        starts += [s for s in extra if engine == "statsmodels" or not np.allclose(s, starts[0])]
        theta = _optimum(starts, blocks, reml)
        converged, gradient_messages = _check_convergence(theta, blocks, reml)
    messages += gradient_messages
    varpar = np.append(theta, _profiled_sigma(theta, blocks, reml))
    lam = _lambda(theta, q)
    cov_re = varpar[-1] ** 2 * lam @ lam.T
    deviance = _deviance(varpar, blocks, reml)
    singular = bool(np.any(np.diag(lam) < SINGULAR_TOL))
    if singular:
        messages.append("boundary (singular) fit: see isSingular "
                        "(a random-effect variance ~0 or a correlation ~±1)")
    cov_beta, df, hessian_messages = _satterthwaite(varpar, blocks, reml)
    beta = pd.Series(_gls(varpar, blocks)[1], index=design.exog_names)
    npar = _npar(len(beta), q)
    modes, mode_sd = _random_effects(varpar, blocks, beta.to_numpy(), design.groups, design.re_names)
    return LmmResult(
        fixed=_fixed_table_frame(beta, cov_beta, df),
        re_cov=pd.DataFrame(cov_re, index=design.re_names, columns=design.re_names),
        re_sd_corr=pd.DataFrame(_sd_corr(cov_re), index=design.re_names, columns=design.re_names),
        sigma2=float(varpar[-1] ** 2),
        loglik=-deviance / 2,
        aic=deviance + 2 * npar,
        bic=deviance + np.log(blocks["n"]) * npar,
        converged=converged,
        singular=singular,
        warnings=list(frame.notes) + messages + hessian_messages,
        random_effects=modes,
        random_effects_sd=mode_sd,
        cov_beta=pd.DataFrame(cov_beta, index=beta.index, columns=beta.index),
        fitted=_fitted(design, complete.index, beta.to_numpy(), modes),
        nobs=int(blocks["n"]),
        ngroups=len(design.groups),
        n_dropped=frame.n_dropped,
        reml=reml,
        formula=formula,
        group=group,
        re_formula=re_formula,
        data=complete,
        design_info=design.design_info,
        engine=engine,
    )


def lrt(smaller: LmmResult, larger: LmmResult, refit: bool = True) -> pd.DataFrame:
    """Likelihood-ratio test of two nested models, laid out like lme4's ``anova``.

    Parameters
    ----------
    smaller, larger : LmmResult
        Nested fits to the same rows; ``smaller`` has fewer parameters.
    refit : bool, default True
        Refit REML fits by ML first, as lme4's ``anova`` does by default. With
        ``refit=False`` REML fits are compared as they are, which is valid only
        when the fixed effects are identical; if they differ, both models are
        refitted by ML regardless.

    Returns
    -------
    pandas.DataFrame
        Rows ``smaller`` and ``larger``; columns ``npar``, ``AIC``, ``BIC``,
        ``logLik``, ``deviance``, ``Chisq``, ``Df``, ``Pr(>Chisq)``. ``attrs["note"]``
        says whether the models were refitted by ML; the p-value is conservative
        when the larger model adds variance parameters (null on the boundary).

    Raises
    ------
    ValueError
        If the fits use different rows, groups, or are not ordered by size.
    """
    _check_nested(smaller, larger)
    same_fixed = list(smaller.fixed.index) == list(larger.fixed.index)
    refitted = (refit or not same_fixed) and (smaller.reml or larger.reml)
    if refitted:
        smaller, larger = _ml(smaller), _ml(larger)
    table = pd.DataFrame(
        {"npar": [smaller.npar, larger.npar], "AIC": [smaller.aic, larger.aic],
         "BIC": [smaller.bic, larger.bic], "logLik": [smaller.loglik, larger.loglik],
         "deviance": [-2 * smaller.loglik, -2 * larger.loglik]},
        index=["smaller", "larger"])
    chisq = max(table["deviance"].iloc[0] - table["deviance"].iloc[1], 0.0)
    dof = larger.npar - smaller.npar
    table["Chisq"] = [np.nan, chisq]
    table["Df"] = [np.nan, dof]
    table["Pr(>Chisq)"] = [np.nan, stats.chi2.sf(chisq, dof)]
    table.attrs["note"] = ("models refitted with ML (instead of REML)" if refitted
                           else f"models compared as fitted ({'REML' if larger.reml else 'ML'})")
    return table


def decompose(data: pd.DataFrame, var: str, group: str) -> pd.DataFrame:
    """Person-mean centring: split ``var`` into between- and within-person parts.

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format data.
    var : str
        Time-varying numeric column to decompose.
    group : str
        Column identifying persons.

    Returns
    -------
    pandas.DataFrame
        A copy of ``data`` with ``{var}_between`` (the person's mean over their
        non-missing values of ``var``) and ``{var}_within`` (value minus person
        mean; missing where ``var`` is missing).

    Raises
    ------
    ValueError
        If ``var`` or ``group`` is not a column of ``data``.
    """
    out = data.copy()
    out[var] = io.model_frame(data, partial=[var], group=group, who="decompose").data[var]
    out[f"{var}_between"] = out.groupby(group, observed=True)[var].transform("mean")
    out[f"{var}_within"] = out[var] - out[f"{var}_between"]
    return out


# --- ready-made model families (trial-data contract column names) ---------------

def growth(data: pd.DataFrame, outcome: str, *, time: str = "time", arm: str = "arm",
           group: str = "participant_id", random_slope: bool = True,
           reml: bool = True, wave: str = "wave") -> LmmResult:
    """Growth model of an outcome by arm: ``outcome ~ time * arm + (time | group)``.

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial data.
    outcome : str
        Column of the outcome, e.g. ``"phq9_total"`` or ``"gse_total"``.
    time, arm, group : str
        Columns of time since baseline, arm and participant. The reference arm is
        chosen by :func:`analysis.io.arm_factor` (a control-like level, else the
        first category, else the lowest code) and named in ``arms``; with a single
        arm the model is ``outcome ~ time``.
    random_slope : bool, default True
        Random intercepts and slopes for time (correlated), else intercepts only.
        A random slope that the data cannot identify (at most two waves per
        participant) falls back to intercepts, with a warning in the result.
    reml : bool, default True
    wave : str, default "wave"
        Wave column; where the data have it, one row per participant and wave is
        required (duplicated rows are refused).

    Returns
    -------
    LmmResult
        ``time`` is the reference arm's mean slope per time unit and
        ``time:arm[T.a]`` the difference of arm ``a``'s mean slope from it.
    """
    frame = io.model_frame(data, numeric=[outcome, time], arm=arm, group=group, wave=_present(data, wave),
                           who="growth")
    formula = f"{outcome} ~ {_growth_terms(frame, time)}"
    return _family_fit(frame, formula, group, time if random_slope else None, reml)


def within_between(data: pd.DataFrame, outcome: str, predictor: str, *, time: str = "time",
                   arm: str = "arm", group: str = "participant_id", random_slope: bool = True,
                   reml: bool = True, wave: str = "wave") -> LmmResult:
    """Outcome on a time-varying predictor split into within- and between-person parts.

    Fits ``outcome ~ time * arm + {predictor}_within + {predictor}_between +
    (time | group)`` after :func:`decompose`. The ``_within`` coefficient answers
    whether a person's own rise in the predictor (above their usual level) goes with
    a change in their outcome at the same wave; the ``_between`` coefficient whether
    people with a higher usual level have a different outcome.

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial data.
    outcome, predictor : str
        Columns, e.g. ``"phq9_total"`` and ``"gse_total"``.
    time, arm, group : str
        As in :func:`growth`.
    random_slope, reml : bool
        As in :func:`growth`.
    wave : str, default "wave"
        As in :func:`growth`.

    Returns
    -------
    LmmResult

    Notes
    -----
    The person mean is taken over the waves where both variables are observed.
    Measurement error in the predictor attenuates the within-person coefficient
    (toward 0) more than the between-person one, because within-person variation is
    a smaller share of a scale's reliable variance.
    """
    frame = io.model_frame(data, numeric=[outcome, predictor, time], arm=arm, group=group,
                           wave=_present(data, wave), who="within_between")
    parts = decompose(frame.data, predictor, group)
    formula = (f"{outcome} ~ {_growth_terms(frame, time)}"
               f" + {predictor}_within + {predictor}_between")
    return _family_fit(replace(frame, data=parts), formula, group, time if random_slope else None, reml)


def lagged(data: pd.DataFrame, outcome: str, predictor: str, *, wave: str = "wave",
           time: str = "time", arm: str = "arm", group: str = "participant_id",
           reml: bool = True) -> LmmResult:
    """Predictor at the previous wave predicting the outcome, adjusting for its own past.

    Fits ``outcome ~ {predictor}_lag + {outcome}_lag + time * arm + (1 | group)``,
    where ``_lag`` is the value at the study's previous wave (missing when that wave
    was not observed; waves numbered 0, 3, 6 lag as 0, 1, 2).

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial data with integer waves.
    outcome, predictor : str
        Columns, e.g. ``"phq9_total"`` and ``"gse_total"``.
    wave, time, arm, group : str
        Columns of wave number, time, arm and participant.
    reml : bool, default True

    Returns
    -------
    LmmResult

    Notes
    -----
    A lagged outcome with random intercepts is biased in short panels (the lagged
    outcome correlates with the intercept); the random-intercept cross-lagged panel
    model (:func:`analysis.panel.riclpm`) separates the two properly. Read this
    model as a description of prospective association.
    """
    checked = io.model_frame(data, numeric=[time], partial=[outcome, predictor], arm=arm, group=group,
                             wave=wave, who="lagged")
    lags = _lag(checked.data, [outcome, predictor], group, wave)
    used = [outcome, f"{outcome}_lag", f"{predictor}_lag", time]
    frame = io.model_frame(lags, numeric=used, arm=arm, group=group, who="lagged")
    formula = (f"{outcome} ~ {predictor}_lag + {outcome}_lag"
               f" + {_growth_terms(frame, time)}")
    return _family_fit(frame, formula, group, None, reml)


def sources(data: pd.DataFrame, outcome: str = "gse_total", columns: tuple[str, ...] = SOURCES,
            *, time: str = "time", arm: str = "arm", group: str = "participant_id",
            reml: bool = True, wave: str = "wave") -> LmmResult:
    """Bandura's four sources of self-efficacy predicting SE, within and between persons.

    Fits ``outcome ~ time * arm + sum_k (src_k_within + src_k_between) +
    (time | group)``. A source's ``_within`` coefficient is the SE change that goes
    with a rise of that source one rating point above the person's usual level,
    other sources held fixed.

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial data.
    outcome : str, default "gse_total"
    columns : tuple of str, default :data:`SOURCES`
        Source columns.
    time, arm, group, wave : str
        As in :func:`growth`.
    reml : bool, default True

    Returns
    -------
    LmmResult
    """
    frame = io.model_frame(data, numeric=[outcome, *columns, time], arm=arm, group=group,
                           wave=_present(data, wave), who="sources")
    parts = frame.data
    for column in columns:
        parts = decompose(parts, column, group)
    terms = " + ".join(f"{c}_within + {c}_between" for c in columns)
    formula = f"{outcome} ~ {_growth_terms(frame, time)} + {terms}"
    return _family_fit(replace(frame, data=parts), formula, group, time, reml)


def adherence(data: pd.DataFrame, predictor: str = "gse_total", *,
              attended: str = "sessions_attended", offered: str = "sessions_offered",
              wave: str = "wave", arm: str = "arm", group: str = "participant_id",
              reml: bool = True) -> LmmResult:
    """SE before an interval predicting the share of that interval's sessions attended.

    Fits ``adherence ~ {predictor}_lag_within + {predictor}_lag_between + arm +
    (1 | group)`` on the rows with sessions offered, where ``adherence`` is
    ``attended / offered`` in the interval ending at wave ``w`` and the predictor is
    measured at wave ``w - 1``.

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial data with session counts.
    predictor : str, default "gse_total"
    attended, offered : str
        Session-count columns.
    wave, arm, group : str
        Columns of wave number, arm and participant.
    reml : bool, default True

    Returns
    -------
    LmmResult

    Notes
    -----
    A linear model for a proportion (coefficients are differences in the share
    attended per SE point); :mod:`analysis.bayes` has the binomial model with a
    logit link.
    """
    checked = io.model_frame(data, partial=[attended, offered, predictor], arm=arm, group=group,
                             wave=wave, counts=(attended, offered), who="adherence")
    lags = _lag(checked.data, [predictor], group, wave)
    lags = lags[lags[offered] > 0].assign(adherence=lambda d: d[attended] / d[offered])
    frame = io.model_frame(lags, numeric=[f"{predictor}_lag", "adherence"], arm=arm, group=group,
                           who="adherence")
    lags = decompose(frame.data, f"{predictor}_lag", group)
    formula = f"adherence ~ {predictor}_lag_within + {predictor}_lag_between"
    if frame.has_arms:
        formula += f" + {arm}"
    return _family_fit(replace(frame, data=lags), formula, group, None, reml)


def effect_sizes(fit: LmmResult, time: str = "time", arm: str = "arm") -> pd.DataFrame:
    """Arm x time differences of a growth model as standardised effect sizes.

    Feingold's (2009) effect size for growth models: the difference in mean slopes
    times the study's duration, divided by the pooled within-arm SD of the outcome
    at baseline, :math:`d = \\delta_{slope} T / SD_{baseline}`.

    Parameters
    ----------
    fit : LmmResult
        A fit with ``time:arm[T.a]`` terms (e.g. from :func:`growth`).
    time, arm : str
        Columns of time and arm in ``fit.data``.

    Returns
    -------
    pandas.DataFrame
        One row per non-reference arm: ``slope_difference`` (per time unit),
        ``difference`` at the end of follow-up with its 95% ``ci_low``, ``ci_high``
        (Satterthwaite t), and ``d`` with ``d_ci_low``, ``d_ci_high``. ``attrs`` hold
        ``duration``, ``sd_baseline`` and ``reference`` arm. The interval treats the
        baseline SD as known.

    Raises
    ------
    ValueError
        If the fit has no ``time:arm`` terms.
    """
    prefix = f"{time}:{arm}[T."
    terms = [t for t in fit.fixed.index if t.startswith(prefix)]
    if not terms:
        raise ValueError(f"the model has no {time}:{arm} terms (formula: {fit.formula})")
    data = fit.data
    duration = float(data[time].max() - data[time].min())
    baseline = data.loc[data[time] == data[time].min()]
    by_arm = baseline.groupby(arm, observed=True)[fit.outcome].agg(["var", "count"])
    sd = float(np.sqrt((by_arm["var"] * (by_arm["count"] - 1)).sum()
                       / (by_arm["count"] - 1).sum()))
    rows = fit.fixed.loc[terms]
    table = pd.DataFrame({
        "slope_difference": rows["estimate"].to_numpy(),
        "difference": rows["estimate"].to_numpy() * duration,
        "ci_low": rows["ci_low"].to_numpy() * duration,
        "ci_high": rows["ci_high"].to_numpy() * duration,
    }, index=pd.Index([t[len(prefix):-1] for t in terms], name=arm))
    table["d"] = table["difference"] / sd
    table["d_ci_low"] = table["ci_low"] / sd
    table["d_ci_high"] = table["ci_high"] / sd
    table.attrs.update(duration=duration, sd_baseline=sd,
                       reference=io.reference_arm(data[arm]))
    return table


def caseload(fit: LmmResult, instrument: str | scales.Instrument, time: str = "time", arm: str = "arm",
             reliability: float | None = None) -> pd.DataFrame:
    """Each participant's model-based slope beside their reliable-change status.

    Parameters
    ----------
    fit : LmmResult
        A model with ``time`` as a fixed effect (and, usually, a random slope),
        e.g. from :func:`growth`.
    instrument : str or analysis.scales.Instrument
        Instrument of the outcome (for the reliable change index); a key is looked
        up among the instruments the data carry (a mapping's ``instruments:``), then
        in the registry.
    time, arm : str
        Columns of time and arm.
    reliability : float, optional
        Reliability for the reliable change index; by default as
        :func:`analysis.scales.baseline_reliability` chooses (baseline alpha of the
        items, else the instrument's published alpha).

    Returns
    -------
    pandas.DataFrame
        One row per participant: ``arm``, ``slope`` (the person's predicted change
        per time unit: fixed part plus their random slope), ``slope_low``,
        ``slope_high`` (95% interval from the random slope's conditional SD),
        ``arm_slope`` (the fixed part alone), ``fitted_last`` (the model's value at
        the last observed wave) and the columns of
        :func:`analysis.scales.change_table` (``pre``, ``post``, reliable change
        index and ``category``; ``category`` is ``NO_FOLLOW_UP`` for those without
        a baseline and a later score).
        Sorted for review: reliable deterioration first, then by slope from the
        worst direction (rising symptoms, falling self-efficacy) to the best.
    """
    inst = scales.get(instrument, fit.data)
    if inst.total != fit.outcome:
        raise ValueError(f"caseload: instrument {inst.key!r} is scored as {inst.total!r}, "
                         f"but the model's outcome is {fit.outcome!r}; name the fitted outcome's instrument")
    data = fit.data
    first = data.groupby(fit.group, observed=True).head(1).set_index(fit.group)
    at = [patsy.build_design_matrices([fit.design_info], first.assign(**{time: t}),
                                      return_type="matrix")[0] for t in (0.0, 1.0)]
    arm_slope = pd.Series(np.asarray(at[1] - at[0]) @ fit.fixed["estimate"].to_numpy(),
                          index=first.index)
    random = (fit.random_effects[time] if time in fit.random_effects
              else pd.Series(0.0, index=first.index))
    random_sd = (fit.random_effects_sd[time] if time in fit.random_effects_sd
                 else pd.Series(0.0, index=first.index))
    slope = arm_slope + random.reindex(first.index)
    half = stats.norm.ppf(0.975) * random_sd.reindex(first.index)
    table = pd.DataFrame({
        arm: first[arm], "slope": slope, "slope_low": slope - half, "slope_high": slope + half,
        "arm_slope": arm_slope,
        "fitted_last": fit.fitted.groupby(data[fit.group], observed=True).last(),
    })
    changes = scales.change_table(data.rename(columns={fit.group: "participant_id"}), inst, reliability)
    changes = changes.drop(columns="arm").set_index("participant_id")
    table = table.join(changes, how="left").rename_axis(fit.group).reset_index()
    table["category"] = table["category"].cat.add_categories(NO_FOLLOW_UP).fillna(NO_FOLLOW_UP)
    worst_first = table["slope"] if inst.higher_is_better else -table["slope"]
    order = np.lexsort([worst_first, table["category"] != "deteriorated"])
    return table.iloc[order].reset_index(drop=True)


def model_table(fits: dict[str, LmmResult]) -> pd.DataFrame:
    """One row per named fit: size, fit statistics and convergence status.

    Parameters
    ----------
    fits : dict of str to LmmResult

    Returns
    -------
    pandas.DataFrame
        ``formula``, ``random``, ``nobs``, ``groups``, ``logLik``, ``AIC``, ``BIC``,
        ``converged``, ``singular``, ``warnings`` (count) and ``status``: "ok",
        "singular fit", or "did not converge".
    """
    rows = {}
    for name, fit in fits.items():
        status = ("did not converge" if not fit.converged
                  else "singular fit" if fit.singular else "ok")
        rows[name] = {"formula": fit.formula, "random": f"({fit.re_formula[1:]} | {fit.group})",
                      "nobs": fit.nobs, "groups": fit.ngroups, "logLik": fit.loglik,
                      "AIC": fit.aic, "BIC": fit.bic, "converged": fit.converged,
                      "singular": fit.singular, "warnings": len(fit.warnings),
                      "status": status}
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def describe_effects(table: pd.DataFrame, outcome: str, higher_is_better: bool,
                     unit: str = "weeks") -> list[str]:
    """Plain-language sentences for :func:`effect_sizes`, one per arm.

    Parameters
    ----------
    table : pandas.DataFrame
        Output of :func:`effect_sizes`.
    outcome : str
        Name of the outcome for the text (e.g. "PHQ-9").
    higher_is_better : bool
        Direction of the scale (True for self-efficacy, False for symptoms).
    unit : str, default "weeks"
        Unit of the time variable (weeks in the trial-data contract).

    Returns
    -------
    list of str
        E.g. "cbt vs control: PHQ-9 fell 4.2 points more over 10 weeks (95% CI 3.1
        to 5.2), d = -0.79 (-0.99 to -0.59); favours cbt."
    """
    duration, reference = table.attrs["duration"], table.attrs["reference"]
    sentences = []
    for arm, row in table.iterrows():
        direction = "rose" if row["difference"] > 0 else "fell"
        if row["ci_low"] <= 0 <= row["ci_high"]:
            verdict = "the interval includes no difference"
        else:
            better = (row["difference"] > 0) == higher_is_better
            verdict = f"favours {arm if better else reference}"
        sentences.append(
            f"{arm} vs {reference}: {outcome} {direction} {abs(row['difference']):.1f} points "
            f"more over {duration:g} {unit} (95% CI {row['ci_low']:.1f} to "
            f"{row['ci_high']:.1f}), d = {row['d']:.2f} ({row['d_ci_low']:.2f} to "
            f"{row['d_ci_high']:.2f}); {verdict}.")
    return sentences


def _growth_terms(frame: io.ModelFrame, time: str) -> str:
    """``time * arm``, or ``time`` alone when the data hold a single arm."""
    return f"{time} * {frame.arm}" if frame.has_arms else time


def _present(data: pd.DataFrame, column: str) -> str | None:
    """``column`` if the data have it (an optional key such as the wave), else None."""
    return column if column in data.columns else None


def _family_fit(frame: io.ModelFrame, formula: str, group: str, slope: str | None,
                reml: bool) -> LmmResult:
    """Fit a model family on prepared rows; a random slope the data cannot identify becomes intercepts."""
    notes = list(frame.notes)
    if slope is not None and not _slope_identified(frame.data, group):
        notes.append(f"random slope for {slope} not identified (at most two observations per {group}: "
                     f"lme4 refuses it); fitted with random intercepts only")
        slope = None
    fit = fit_lmm(frame.data, formula, group, f"~{slope}" if slope else "~1", reml)
    return replace(fit, warnings=notes + fit.warnings, n_dropped=frame.n_dropped + fit.n_dropped,
                   arms=frame.describe())


def _slope_identified(data: pd.DataFrame, group: str) -> bool:
    """lme4's ``check.nobs.vs.nRE`` for (1 + slope | group): more rows than random effects."""
    return len(data) > 2 * data[group].nunique()


def _lag(data: pd.DataFrame, columns: list[str], group: str, wave: str) -> pd.DataFrame:
    """Add ``{column}_lag``: the same person's value at the study's previous wave (else missing).

    The study's waves are the distinct wave numbers in the data, so waves numbered
    0, 3, 6 (months) lag as 0, 1, 2 would; a person's value is lagged only from the
    wave just before, never across a wave they missed.
    """
    _require_columns(data, [*columns, group, wave])
    waves = np.sort(data[wave].dropna().unique())
    following = dict(zip(waves[:-1], waves[1:]))
    previous = data[[group, wave, *columns]].assign(**{wave: data[wave].map(following)})
    previous = previous.dropna(subset=[wave]).astype({wave: data[wave].dtype})
    previous = previous.rename(columns={c: f"{c}_lag" for c in columns})
    return data.merge(previous, on=[group, wave], how="left", validate="one_to_one").set_axis(
        data.index)


# --- data and fitting -------------------------------------------------------

def _require_columns(data: pd.DataFrame, columns: list[str]) -> None:
    missing = [c for c in columns if c not in data.columns]
    if missing:
        raise ValueError(f"column(s) not in data: {', '.join(map(repr, missing))}")


def _formula_variables(formula: str) -> list[str]:
    """Names of the data columns a patsy formula refers to."""
    names = []
    desc = patsy.ModelDesc.from_formula(formula)
    for term in desc.lhs_termlist + desc.rhs_termlist:
        for factor in term.factors:
            names.extend(_code_names(factor.code))
    return list(dict.fromkeys(names))


def _code_names(code: str) -> list[str]:
    """Variable names in one patsy factor's Python code (``Q("a.b")`` included)."""
    tree = ast.parse(code, mode="eval")
    callees = {id(node.func) for node in ast.walk(tree) if isinstance(node, ast.Call)}
    attributes = {id(node.value) for node in ast.walk(tree) if isinstance(node, ast.Attribute)}
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and id(node) not in callees | attributes:
            names.append(node.id)
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
              and node.func.id == "Q" and node.args and isinstance(node.args[0], ast.Constant)):
            names.append(node.args[0].value)
    return names


def _model_frame(data: pd.DataFrame, formula: str, re_formula: str, group: str) -> io.ModelFrame:
    """The complete rows of the columns a model uses; the response must be numeric."""
    outcome = _formula_variables(formula.split("~")[0] + "~ 1")
    used = _formula_variables(formula) + _formula_variables(re_formula)
    return io.model_frame(data, numeric=outcome, other=[c for c in used if c not in outcome],
                          group=group, who="fit_lmm")


def _check_random(design: _Design, re_formula: str, group: str) -> None:
    """lme4's checks of the random effects: more rows than random effects, slopes on varying columns."""
    n, q, groups = len(design.y), len(design.re_names), len(design.groups)
    problems = []
    if n <= q * groups:
        problems.append(io.Problem(
            f"({re_formula[1:]} | {group})", f"number of observations ({n}) <= number of random effects "
            f"({q * groups}): the random-effects parameters and the residual variance are not identified "
            "(e.g. a random slope with two waves per participant); use random intercepts (re_formula='~1')"))
    problems += [io.Problem(name, f"random slope on a column that does not vary ({design.Z[0, j]:g} in "
                                  "every complete row): not identified")
                 for j, name in enumerate(design.re_names) if name != "Intercept" and np.ptp(design.Z[:, j]) == 0]
    if problems:
        raise io.DataValidationError(problems)


def _starts(data, formula, group, re_formula, reml):
    """Starting thetas and warning texts: statsmodels' estimate, and lme4's start if needed."""
    method, options = START_OPTIMIZER
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model = smf.mixedlm(formula, data, groups=data[group], re_formula=re_formula)
        try:
            fit = model.fit(reml=reml, method=method, **options)
        except np.linalg.LinAlgError as exc:  # a step to a singular V
            fit = None
            caught.append(warnings.WarningMessage(exc, RuntimeWarning, "", 0))
    messages = [f"statsmodels start: {w.category.__name__}: {w.message}" for w in caught]
    starts = []
    if fit is not None and np.all(np.isfinite(fit.cov_re)):
        starts.append(_theta(np.asarray(fit.cov_re, dtype=float), fit.scale))
    if fit is None or not fit.converged:
        starts.append(_default_theta(model.k_re))
        messages.append("statsmodels start did not converge; lme4's default start tried too")
    return starts, messages


def _default_theta(q: int) -> np.ndarray:
    """lme4's default start: Lambda = I (random effects as variable as the residual)."""
    return np.eye(q)[np.tril_indices(q)]


def _optimum(starts: list[np.ndarray], blocks: dict, reml: bool) -> np.ndarray:
    """The polished start with the lowest profiled deviance."""
    return min((_polish(start, blocks, reml) for start in starts),
               key=lambda x: _profiled_deviance(x, blocks, reml))


@dataclass(frozen=True)
class _Design:
    """Model matrices in data-row order and each row's group (index into ``groups``)."""

    y: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    codes: np.ndarray
    groups: pd.Index
    exog_names: list[str]
    re_names: list[str]
    design_info: patsy.DesignInfo


def _design(data: pd.DataFrame, formula: str, group: str, re_formula: str) -> _Design:
    """Build y, X (fixed) and Z (random) with patsy; groups sorted as statsmodels sorts them."""
    y, X = patsy.dmatrices(formula, data, NA_action="raise", return_type="matrix")
    Z = patsy.dmatrix(re_formula, data, NA_action="raise", return_type="matrix")
    codes, labels = pd.factorize(data[group], sort=True)
    return _Design(y=np.asarray(y, dtype=float)[:, 0], X=np.asarray(X, dtype=float),
                   Z=np.asarray(Z, dtype=float), codes=codes,
                   groups=pd.Index(labels, name=group), exog_names=X.design_info.column_names,
                   re_names=Z.design_info.column_names, design_info=X.design_info)


def _npar(n_fixed: int, q: int) -> int:
    """lme4's parameter count: fixed effects, the q(q+1)/2 elements of G, the residual variance."""
    return n_fixed + q * (q + 1) // 2 + 1


def _random_effects(varpar: np.ndarray, blocks: dict, beta: np.ndarray,
                    groups: pd.Index, re_names: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Conditional modes and their SDs, as lme4's ``ranef(condVar = TRUE)``.

    b_i = Lambda M_i^-1 Lambda'Z_i'(y_i - X_i beta) and Var(b_i | y) = sigma^2 Lambda
    M_i^-1 Lambda' with M_i = I + Lambda'Z_i'Z_i Lambda (beta treated as known).
    """
    lam, low, solved = _woodbury(varpar[:-1], blocks)
    spherical = np.tensordot(_backward_stack(low, solved), np.append(-beta, 1.0), axes=([1], [0]))
    cond_var = varpar[-1] ** 2 * np.einsum("rj,jkg,rk->gr", lam, _inverse_stack(low), lam)
    return (pd.DataFrame((lam @ spherical).T, index=groups, columns=re_names),
            pd.DataFrame(np.sqrt(cond_var), index=groups, columns=re_names))


def _fitted(design: _Design, index: pd.Index, beta: np.ndarray, modes: pd.DataFrame) -> pd.Series:
    """X beta + Z b for each row, with each row's group's conditional modes."""
    per_row = modes.to_numpy()[design.codes]
    return pd.Series(design.X @ beta + np.sum(design.Z * per_row, axis=1),
                     index=index, name="fitted")


def _fixed_table_frame(estimates: pd.Series, cov_beta: np.ndarray, df: np.ndarray) -> pd.DataFrame:
    se = np.sqrt(np.diag(cov_beta))
    t = estimates.to_numpy() / se
    half = stats.t.ppf(0.975, df) * se
    return pd.DataFrame(
        {"estimate": estimates.to_numpy(), "se": se, "df": df, "t": t,
         "p": 2 * stats.t.sf(np.abs(t), df),
         "ci_low": estimates.to_numpy() - half, "ci_high": estimates.to_numpy() + half},
        index=pd.Index(estimates.index, name="term"))


def _sd_corr(cov: np.ndarray) -> np.ndarray:
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    with np.errstate(divide="ignore", invalid="ignore"):
        out = cov / np.outer(sd, sd)
    np.fill_diagonal(out, sd)
    return out


def _check_nested(smaller: LmmResult, larger: LmmResult) -> None:
    if smaller.nobs != larger.nobs or not smaller.data.index.equals(larger.data.index):
        raise ValueError(f"models were fitted to different rows "
                         f"(nobs {smaller.nobs} and {larger.nobs})")
    if smaller.group != larger.group:
        raise ValueError(f"models use different groups: {smaller.group!r} and {larger.group!r}")
    if smaller.npar >= larger.npar:
        raise ValueError(f"smaller model has {smaller.npar} parameters, larger has "
                         f"{larger.npar}: pass the nested (smaller) model first")


def _ml(result: LmmResult) -> LmmResult:
    if not result.reml:
        return result
    return fit_lmm(result.data, result.formula, result.group, result.re_formula, reml=False,
                   engine=result.engine)


# --- deviance as a function of (theta, sigma), blockwise over groups ---------

def _blocks(design: _Design) -> dict:
    """Per-group cross-products Z'Z, Z'(X, y) and totals X'X, X'y, y'y.

    Rows are sorted by group once and each product summed over a group's run of
    rows with ``np.add.reduceat``, vectorised over groups (no loop over groups).
    Per-group stacks are stored with the group last (``ZtZ`` q x q x G, ``ZtXy``
    q x (p + 1) x G), so that the q x q algebra below runs on contiguous vectors.
    """
    order = np.argsort(design.codes, kind="stable")
    codes = design.codes[order]
    first = np.flatnonzero(np.r_[True, codes[1:] != codes[:-1]])
    X, Z, y = design.X[order], design.Z[order], design.y[order]
    Xy = np.column_stack([X, y])
    return {
        "ZtZ": np.ascontiguousarray(
            np.add.reduceat(Z[:, :, None] * Z[:, None, :], first, axis=0).transpose(1, 2, 0)),
        "ZtXy": np.ascontiguousarray(
            np.add.reduceat(Z[:, :, None] * Xy[:, None, :], first, axis=0).transpose(1, 2, 0)),
        "XtX": X.T @ X,
        "Xty": X.T @ y,
        "yty": float(y @ y),
        "n": len(y),
    }


def _theta(cov_re: np.ndarray, scale: float) -> np.ndarray:
    """lme4's theta: lower triangle of the Cholesky factor of G / sigma^2."""
    factor = _cholesky_psd(cov_re / scale)
    return factor[np.tril_indices(len(factor))]


def _cholesky_psd(matrix: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor of a positive semi-definite matrix (zero pivots kept 0)."""
    q = len(matrix)
    factor = np.zeros((q, q))
    for j in range(q):
        pivot = matrix[j, j] - factor[j, :j] @ factor[j, :j]
        factor[j, j] = np.sqrt(max(pivot, 0.0))
        if factor[j, j] > 0:
            factor[j + 1:, j] = (matrix[j + 1:, j] - factor[j + 1:, :j] @ factor[j, :j]) / factor[j, j]
    return factor


def _lambda(theta: np.ndarray, q: int) -> np.ndarray:
    factor = np.zeros((q, q))
    factor[np.tril_indices(q)] = theta
    return factor


def _cholesky_stack(matrices: np.ndarray) -> np.ndarray:
    """Lower Cholesky factors of a stack (q x q x G) of small positive definite matrices.

    Loops over the q x q entries and is vectorised over the stack, which is far
    faster than a LAPACK call per group when q is 1 to 3 and groups are many.
    """
    q = len(matrices)
    low = np.zeros_like(matrices)
    for j in range(q):
        low[j, j] = np.sqrt(matrices[j, j] - np.sum(low[j, :j] ** 2, axis=0))
        for i in range(j + 1, q):
            low[i, j] = (matrices[i, j] - np.sum(low[i, :j] * low[j, :j], axis=0)) / low[j, j]
    return low


def _forward_stack(low: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve L u = b for a stack of lower-triangular L (q x q x G) and b (q x m x G)."""
    out = np.empty_like(rhs)
    for i in range(len(low)):
        acc = rhs[i].copy()
        for k in range(i):
            acc -= low[i, k] * out[k]
        out[i] = acc / low[i, i]
    return out


def _backward_stack(low: np.ndarray, rhs: np.ndarray) -> np.ndarray:
    """Solve L' x = b for a stack of lower-triangular L (q x q x G) and b (q x m x G)."""
    q = len(low)
    out = np.empty_like(rhs)
    for i in reversed(range(q)):
        acc = rhs[i].copy()
        for k in range(i + 1, q):
            acc -= low[k, i] * out[k]
        out[i] = acc / low[i, i]
    return out


def _inverse_stack(low: np.ndarray) -> np.ndarray:
    """(L L')^-1 for a stack of lower-triangular L (q x q x G)."""
    eye = np.broadcast_to(np.eye(len(low))[..., None], low.shape)
    return _backward_stack(low, _forward_stack(low, eye))


def _left_lambda(lam: np.ndarray, stack: np.ndarray) -> np.ndarray:
    """Lambda' S_g for each matrix S_g (q x m) of a stack (q x m x G), as one BLAS product."""
    return np.tensordot(lam.T, stack, axes=1)


def _woodbury(theta: np.ndarray, blocks: dict):
    """Lambda, the Cholesky factors L_i of M_i = I + Lambda'Z_i'Z_i Lambda, u_i = L_i^-1 Lambda'Z_i'(X_i, y_i)."""
    q = len(blocks["ZtZ"])
    lam = _lambda(theta, q)
    lam_c = _left_lambda(lam, blocks["ZtZ"])  # Lambda'C; Lambda'C Lambda is symmetric
    inner = _left_lambda(lam, lam_c.transpose(1, 0, 2)) + np.eye(q)[..., None]
    low = _cholesky_stack(inner)
    return lam, low, _forward_stack(low, _left_lambda(lam, blocks["ZtXy"]))


def _gls(varpar: np.ndarray, blocks: dict):
    """Scaled GLS pieces: P = s2 X'V^-1 X, beta, s2 r'V^-1 r, sum log|I + L'Z'ZL|.

    With M_i = L_i L_i' and u_i as in ``_woodbury``, sigma^2 (X, y)'V_i^-1 (X, y)
    = (X, y)'(X, y) - u_i'u_i (Woodbury identity), summed over groups.
    """
    _, low, solved = _woodbury(varpar[:-1], blocks)
    gram = sum(row @ row.T for row in solved)
    precision = blocks["XtX"] - gram[:-1, :-1]
    cross = blocks["Xty"] - gram[:-1, -1]
    yvy = blocks["yty"] - gram[-1, -1]
    beta = np.linalg.solve(precision, cross)
    logdet = 2 * sum(np.log(low[j, j]).sum() for j in range(len(low)))
    return precision, beta, yvy - cross @ beta, logdet


def _profiled_gradient(theta: np.ndarray, blocks: dict, reml: bool) -> np.ndarray:
    r"""Analytic gradient of ``_profiled_deviance`` with respect to theta.

    With C_i = Z_i'Z_i, R_i = Z_i'(X_i, y_i), A_i = M_i^-1 Lambda'R_i, B_i = R_i -
    C_i Lambda A_i and w = (-beta, 1) (so that B_i w = Z_i'e_i and A_i w is the
    spherical random effect u_i), the derivative along theta_k (the (r, c) element
    of Lambda) is 2 S1[r, c] - 2 d S2[r, c] / r^2 [- 2 T[r, c] for REML], with
    S1 = sum C_i Lambda M_i^-1 (from log|M|), S2 = sum (B_i w)(A_i w)' (the
    penalised residual sum of squares r^2 = d sigma^2, by the envelope theorem) and
    T = sum B_ix P^-1 A_ix' (from log|P|, x the columns of X).
    """
    lam, low, solved = _woodbury(theta, blocks)
    precision, beta, rss, _ = _gls(np.append(theta, 1.0), blocks)
    c_lam = _left_lambda(lam, blocks["ZtZ"]).transpose(1, 0, 2)
    a = _backward_stack(low, solved)
    b = blocks["ZtXy"] - np.einsum("ajg,jmg->amg", c_lam, a)
    w = np.append(-beta, 1.0)
    s1 = np.einsum("ajg,jcg->ac", c_lam, _inverse_stack(low))
    s2 = np.tensordot(b, w, axes=([1], [0])) @ np.tensordot(a, w, axes=([1], [0])).T
    dof = blocks["n"] - (len(beta) if reml else 0)
    grad = 2 * s1 - 2 * dof * s2 / rss
    if reml:
        b_scaled = np.einsum("rxg,xy->ryg", b[:, :-1], np.linalg.inv(precision))
        grad -= 2 * np.einsum("ryg,cyg->rc", b_scaled, a[:, :-1])
    return grad[np.tril_indices(len(lam))]


def _profiled_sigma(theta: np.ndarray, blocks: dict, reml: bool) -> float:
    """Residual SD maximising the (restricted) likelihood at theta."""
    precision, _, rss, _ = _gls(np.append(theta, 1.0), blocks)
    return float(np.sqrt(rss / (blocks["n"] - (len(precision) if reml else 0))))


def _profiled_deviance(theta: np.ndarray, blocks: dict, reml: bool) -> float:
    """The deviance at theta with beta and sigma profiled out (lme4's devfun), one GLS pass.

    At the profiled sigma^2 = rss / (n - p) (REML) or rss / n (ML) the deviance is
    log|M| [+ log|P|] + d (1 + log(2 pi sigma^2)) with d = n - p or n.
    """
    precision, _, rss, logdet = _gls(np.append(theta, 1.0), blocks)
    dof = blocks["n"] - (len(precision) if reml else 0)
    dev = logdet + dof * (1 + np.log(2 * np.pi * rss / dof))
    if reml:
        dev += np.linalg.slogdet(precision)[1]
    return float(dev)


def _polish(theta: np.ndarray, blocks: dict, reml: bool) -> np.ndarray:
    """Minimise lme4's profiled deviance from a start theta; returns diag(Lambda) >= 0.

    Keeps the start unless the L-BFGS-B search (analytic gradient, exact to
    rounding where finite differences of a deviance of size ~n are not) lowers the
    deviance. The deviance is even in the sign of each column of Lambda, so the
    search runs unbounded (a zero diagonal, where a bounded search can stall, is
    a stationary point) and the columns are then flipped to a non-negative
    diagonal; boundary (singular) optima are approached as lme4 reaches them.
    """
    q = len(blocks["ZtZ"])
    rows, cols = np.tril_indices(q)
    found = optimize.minimize(_profiled_deviance, theta, args=(blocks, reml), method="L-BFGS-B",
                              jac=_profiled_gradient,
                              options={"ftol": 1e-15, "gtol": 1e-9, "maxiter": 2000})
    best = found.x if found.fun < _profiled_deviance(theta, blocks, reml) else theta
    signs = np.sign(best[rows == cols])
    return best * np.where(signs == 0, 1.0, signs)[cols]


def _check_convergence(theta: np.ndarray, blocks: dict, reml: bool) -> tuple[bool, list[str]]:
    """lme4's gradient check at the optimum: max |scaled gradient| below ``GRADIENT_TOL``.

    The gradient of the profiled deviance (analytic) and its Hessian (central
    differences of that gradient, as lme4's ``deriv12`` takes plain central
    differences) are taken over the elements of theta not at their bound (a zero
    diagonal of Lambda is a boundary optimum, reported by the singular-fit check
    instead); the gradient is scaled by the Cholesky factor of the Hessian as in
    lme4's ``checkConv``.
    """
    rows, cols = np.tril_indices(len(blocks["ZtZ"]))
    free = ~((rows == cols) & (theta < SINGULAR_TOL))
    if not free.any():
        return True, []

    def gradient_at(x):
        full = theta.copy()
        full[free] = x
        return _profiled_gradient(full, blocks, reml)[free]

    gradient = gradient_at(theta[free])
    hessian = _jacobian(gradient_at, theta[free], levels=1)
    try:
        gradient = np.linalg.solve(np.linalg.cholesky((hessian + hessian.T) / 2).T, gradient)
    except np.linalg.LinAlgError:
        pass  # Hessian not positive definite: lme4 also falls back to the raw gradient
    worst = float(np.max(np.abs(gradient)))
    if worst < GRADIENT_TOL:
        return True, []
    return False, [f"Model failed to converge with max|grad| = {worst:.3g} "
                   f"(tol = {GRADIENT_TOL})"]


def _deviance(varpar: np.ndarray, blocks: dict, reml: bool) -> float:
    """-2 log-likelihood (REML: restricted), profiled over beta, as lme4's devfun_vp."""
    sigma2 = varpar[-1] ** 2
    n = blocks["n"]
    precision, _, rss, logdet = _gls(varpar, blocks)
    dev = logdet + rss / sigma2 + n * np.log(2 * np.pi * sigma2)
    if not reml:
        return float(dev)
    p = len(precision)
    return float(dev + np.linalg.slogdet(precision)[1] - p * np.log(2 * np.pi * sigma2))


def _cov_beta(varpar: np.ndarray, blocks: dict) -> np.ndarray:
    """Var(beta_hat) = (X'V^-1 X)^-1 at the variance parameters."""
    return varpar[-1] ** 2 * np.linalg.inv(_gls(varpar, blocks)[0])


# --- Satterthwaite ---------------------------------------------------------

def _satterthwaite(varpar: np.ndarray, blocks: dict, reml: bool):
    """Covariance of beta_hat, Satterthwaite df per coefficient, and Hessian warnings."""
    hessian = _hessian(lambda x: _deviance(x, blocks, reml), varpar)
    cov_varpar, messages = _asymptotic_cov(hessian)
    cov_beta = _cov_beta(varpar, blocks)
    jac = _jacobian(lambda x: np.diag(_cov_beta(x, blocks)), varpar)
    denom = np.einsum("bk,kl,bl->b", jac, cov_varpar, jac)
    return cov_beta, 2 * np.diag(cov_beta) ** 2 / denom, messages


def _asymptotic_cov(hessian: np.ndarray):
    """2 H^-1 over H's positive eigenvalues, with lmerTest's convergence warnings."""
    values, vectors = np.linalg.eigh(hessian)
    messages = []
    negative = values[values < -HESSIAN_TOL]
    zero = values[np.abs(values) <= HESSIAN_TOL]
    if negative.size:
        messages.append(f"Model failed to converge with {negative.size} negative "
                        f"eigenvalue(s) of the deviance Hessian: {negative}")
    if zero.size:
        messages.append(f"Model may not have converged with {zero.size} eigenvalue(s) "
                        f"of the deviance Hessian close to zero: {zero}")
    keep = values > HESSIAN_TOL
    inverse = vectors[:, keep] @ np.diag(1 / values[keep]) @ vectors[:, keep].T
    return 2 * inverse, messages


def _steps(x: np.ndarray) -> np.ndarray:
    return STEP * np.where(np.abs(x) > 1e-3, np.abs(x), 0.1)


def _richardson(estimate, levels: int = RICHARDSON_LEVELS):
    """Richardson-extrapolate estimate(h) (error even in h) over ``levels`` halved steps."""
    table = [estimate(2.0 ** -k) for k in range(levels)]
    for m in range(1, levels):
        table = [(4 ** m * fine - coarse) / (4 ** m - 1) for coarse, fine in zip(table, table[1:])]
    return table[0]


def _jacobian(func, x: np.ndarray, levels: int = RICHARDSON_LEVELS) -> np.ndarray:
    """Central-difference Jacobian (outputs x parameters), Richardson-extrapolated over ``levels``."""
    h0 = _steps(x)

    def central(scale):
        cols = []
        for k, hk in enumerate(h0 * scale):
            e = np.zeros_like(x)
            e[k] = hk
            cols.append((func(x + e) - func(x - e)) / (2 * hk))
        return np.column_stack(cols)

    return _richardson(central, levels)


def _hessian(func, x: np.ndarray) -> np.ndarray:
    """Central second-difference Hessian of a scalar function, Richardson-extrapolated."""
    h0 = _steps(x)
    f0 = func(x)
    k = len(x)

    def second(scale):
        h = h0 * scale
        out = np.empty((k, k))
        for i in range(k):
            ei = np.eye(k)[i] * h[i]
            out[i, i] = (func(x + ei) - 2 * f0 + func(x - ei)) / h[i] ** 2
            for j in range(i):
                ej = np.eye(k)[j] * h[j]
                out[i, j] = out[j, i] = (func(x + ei + ej) - func(x + ei - ej)
                                         - func(x - ei + ej) + func(x - ei - ej)) / (4 * h[i] * h[j])
        return out

    return _richardson(second)


# --- summary text ------------------------------------------------------------

def _header(result: LmmResult) -> str:
    method = "REML" if result.reml else "maximum likelihood"
    lines = [f"Linear mixed model fit by {method}. t-tests use Satterthwaite's method",
             f"Formula: {result.formula}, random: {result.re_formula} | {result.group}",
             ""]
    deviance = -2 * result.loglik
    if result.reml:
        lines.append(f"REML criterion at convergence: {deviance:.1f}")
    else:
        lines.append(f"{'AIC':>9}{'BIC':>9}{'logLik':>9}{'deviance':>9}{'df.resid':>9}")
        lines.append(f"{result.aic:9.1f}{result.bic:9.1f}{result.loglik:9.1f}"
                     f"{deviance:9.1f}{result.nobs - result.npar:9d}")
    return "\n".join(lines)


def _random_table(result: LmmResult) -> str:
    names = list(result.re_cov.index)
    sd_corr = result.re_sd_corr.to_numpy()
    rows = []
    for i, name in enumerate(names):
        corr = " ".join(f"{sd_corr[i, j]:5.2f}" for j in range(i))
        rows.append((result.group if i == 0 else "", name, result.re_cov.iloc[i, i],
                     sd_corr[i, i], corr))
    rows.append(("Residual", "", result.sigma2, np.sqrt(result.sigma2), ""))
    width = max(len(r[0]) for r in rows) + 1
    name_width = max(len(r[1]) for r in rows) + 1
    lines = ["Random effects:",
             f" {'Groups':<{width}}{'Name':<{name_width}}{'Variance':>10} {'Std.Dev.':>9} Corr"]
    lines += [f" {g:<{width}}{n:<{name_width}}{v:10.4g} {s:9.4g} {c}".rstrip()
              for g, n, v, s, c in rows]
    return "\n".join(lines)


def _fixed_table(fixed: pd.DataFrame) -> str:
    table = fixed[["estimate", "se", "df", "t", "p"]].copy()
    table.columns = ["Estimate", "Std. Error", "df", "t value", "Pr(>|t|)"]
    return table.to_string(float_format=lambda v: f"{v:.4g}")
