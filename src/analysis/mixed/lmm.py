""":func:`fit_lmm` (lme4's profiled REML/ML deviance, minimised from lme4's start or statsmodels') and
:func:`lrt` (likelihood-ratio tests of nested fits, as lme4's ``anova``).

One grouping factor (``group=``/``re_formula=``, or a formula with one bar term) takes the
vectorised per-group path (``deviance``); several random-effect terms the sparse path
(``sparse``).
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf
from scipy import optimize, stats

from .. import io
from . import sparse
from .design import (
    _check_random,
    _check_terms,
    _Design,
    _design,
    _frame_weights,
    _log_weights,
    _lower_triangle,
    _model_frame,
    _ReTerm,
    _terms_design,
    _terms_frame,
    _varcorr_labels,
    _weighted,
    _z_matrix,
)
from .deviance import (
    _backward_stack,
    _blocks,
    _deviance,
    _gls,
    _inverse_stack,
    _lambda,
    _profiled_deviance,
    _profiled_gradient,
    _profiled_sigma,
    _theta,
    _woodbury,
)
from .formula import LmerFormula, parse
from .inference import _jacobian, _satterthwaite
from .result import LmmResult, _fixed_table_frame, _npar, _sd_corr

#: Engines of :func:`fit_lmm`: where the search for the optimum starts.
ENGINES = ("auto", "fast", "statsmodels")


#: statsmodels optimiser and options for the starting values, which are then
#: polished on lme4's profiled deviance (see ``_polish``) for lme4 parity.
START_OPTIMIZER = ("lbfgs", {"maxiter": 5000})


#: lme4's ``check.conv.grad`` tolerance on the scaled gradient of the deviance.
GRADIENT_TOL = 2e-3


#: lme4's ``isSingular`` tolerance on the diagonal of the relative Cholesky factor.
SINGULAR_TOL = 1e-4


SINGULAR_MESSAGE = ("boundary (singular) fit: see isSingular "
                    "(a random-effect variance ~0 or a correlation ~±1)")


def fit_lmm(data: pd.DataFrame, formula: str, group: str | None = None, re_formula: str = "~1",
            reml: bool = True, engine: str = "auto", weights: str | None = None) -> LmmResult:
    r"""Fit a linear mixed model and report it as lme4/lmerTest would.

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format data, one row per observation.
    formula : str
        Fixed-effects formula (patsy), e.g. ``"Reaction ~ Days"``, with one grouping
        factor given by ``group``; or an lme4 formula with random-effect terms, e.g.
        ``"phq9_total ~ time * arm + (time | participant_id) + (1 | therapist)"``,
        nested ``(1 | therapist/participant_id)``, crossed ``(1 | plate) + (1 | sample)``
        or uncorrelated ``(time || participant_id)`` (see
        :func:`analysis.mixed.formula.parse`); then ``group`` and ``re_formula`` are
        not given.
    group : str, optional
        Column identifying the grouping factor (e.g. participant).
    re_formula : str, default "~1"
        Random-effects formula, e.g. ``"~1"`` (intercepts) or ``"~time"``
        (correlated intercepts and slopes), as lme4's ``(time | group)``.
    reml : bool, default True
        Restricted maximum likelihood (True) or maximum likelihood.
    engine : {"auto", "fast", "statsmodels"}, default "auto"
        Where the search for the optimum starts with one grouping factor (see
        Notes). ``"fast"`` starts from lme4's default; ``"statsmodels"`` from
        statsmodels' MixedLM estimate (slow on large data, kept as the check);
        ``"auto"`` runs the fast engine and falls back to statsmodels' start only
        when the fast optimum fails lme4's gradient check. Several random-effect
        terms always start from lme4's default (``"statsmodels"`` is refused).
    weights : str, optional
        Column of prior weights, as lme4's ``weights=``: row i has residual variance
        :math:`\sigma^2 / w_i` (e.g. the number of items a score averages over).
        Weights must be > 0; a row with a missing weight is dropped like any other
        incomplete row. Not with ``engine="statsmodels"`` (MixedLM has no prior
        weights). See Notes.

    Returns
    -------
    LmmResult
        ``weights`` holds the prior weights of the rows fitted (None without).
        With several random-effect terms, ``re_cov``, ``re_sd_corr``,
        ``random_effects``, ``random_effects_sd`` and ``ngroups`` are dicts (see
        :class:`LmmResult`), ``group`` and ``re_formula`` are None.

    Raises
    ------
    ValueError
        If ``engine`` is not one of the above, the formula is malformed, it has
        random-effect terms and ``group`` or ``re_formula`` is given too, or it has
        none and ``group`` is missing, or ``weights`` comes with ``engine="statsmodels"``.
    TypeError
        If ``weights`` is not a column name.
    analysis.io.DataValidationError
        If a column named in ``formula``, ``re_formula``, ``group`` or ``weights`` is
        absent or not usable (see :func:`analysis.io.model_frame`; weights must be
        numbers > 0, the rows named otherwise), no complete rows remain,
        a fixed-effect column is zero, constant or collinear
        (:func:`analysis.io.check_design`), or the random effects are not identified
        (lme4's checks, naming the term: a grouping factor with one level, fewer
        observations than random effects, or a random slope on a variable that
        does not vary).

    Notes
    -----
    Rows with a missing value in any used column are dropped (``n_dropped``).
    A formula with one random-effect term whose grouping factor is a column
    is fitted exactly as the ``group``/``re_formula`` call.

    One grouping factor: every engine minimises lme4's profiled deviance over
    theta (the relative Cholesky factor, diagonal >= 0) with L-BFGS-B, using
    per-group cross-products computed once and vectorised over groups, and lme4's
    gradient check decides ``converged``; the engines differ only in their
    starting values. Several terms: the profiled deviance comes from a sparse Z
    and a blocked factorisation of Lambda'Z'Z Lambda + I (see
    :mod:`analysis.mixed.sparse`) and is minimised by COBYQA within lme4's bounds;
    lme4's gradient check (by central differences) decides ``converged``.
    Fixed-effect df use Satterthwaite's approximation with numerical derivatives,
    as lmerTest computes it; p-values and 95% intervals use the t distribution.

    Weights: as lme4, the rows of y, X and Z are scaled by :math:`\sqrt{w_i}` and the
    model fitted to the scaled rows; the deviance (REML criterion or -2 logLik), and
    so ``loglik``, AIC and BIC, then subtract :math:`\sum_i \log w_i` (lme4's
    ``ldW``), the log-density of the data rather than of the scaled rows. ``fitted``
    and the conditional modes are on the scale of the data. All weights 1 give the
    unweighted fit. A zero weight is refused (lme4 accepts it, but its criterion is
    then infinite and its optimiser stops at the start): drop the row instead. With
    ``engine="auto"`` a statsmodels fallback start (unweighted) is only a start; the
    weighted deviance is minimised from it. :func:`lrt` compares only fits with the
    same weights.
    """
    if engine not in ENGINES:
        raise ValueError(f"engine must be one of {ENGINES}, got {engine!r}")
    if weights is not None and engine == "statsmodels":
        raise ValueError(f"engine='statsmodels' cannot fit prior weights (weights={weights!r}): statsmodels' "
                         "MixedLM has none; use engine='auto' or 'fast'")
    parsed = parse(formula)
    if not parsed.random:
        if group is None:
            raise ValueError(f"formula {formula!r} has no random-effect term: give group= (and re_formula=) "
                             "or terms such as (1 | participant_id)")
        return _fit_one_factor(data, formula, group, re_formula, reml, engine, weights)
    if group is not None or re_formula != "~1":
        raise ValueError(f"formula {formula!r} has random-effect terms: give them there, not as group= "
                         "or re_formula= too")
    first = parsed.random[0]
    if len(parsed.random) == 1 and len(first.factors) == 1:
        return _fit_one_factor(data, parsed.fixed, first.group, f"~{first.expr}", reml, engine, weights)
    if engine == "statsmodels":
        raise ValueError("engine='statsmodels' fits one grouping factor only; use 'auto' with several "
                         "random-effect terms")
    return _fit_terms(data, parsed, formula, reml, engine, weights)


def _fit_one_factor(data: pd.DataFrame, formula: str, group: str, re_formula: str, reml: bool,
                    engine: str, weights: str | None = None) -> LmmResult:
    """:func:`fit_lmm` with one grouping factor: per-group cross-products vectorised over groups."""
    frame = _model_frame(data, formula, re_formula, group, weights)
    complete = frame.data
    design = _design(complete, formula, group, re_formula)
    io.check_design(design.X, design.exog_names, who="fit_lmm")
    _check_random(design, re_formula, group)
    prior = _frame_weights(frame, weights)
    blocks = _blocks(_weighted(design, prior))
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
    deviance = _deviance(varpar, blocks, reml) - _log_weights(prior)
    singular = bool(np.any(np.diag(lam) < SINGULAR_TOL))
    if singular:
        messages.append(SINGULAR_MESSAGE)
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
        ngroups={group: len(design.groups)},
        n_dropped=frame.n_dropped,
        reml=reml,
        formula=formula,
        group=group,
        re_formula=re_formula,
        data=complete,
        design_info=design.design_info,
        engine=engine,
        weights=prior,
    )


def _fit_terms(data: pd.DataFrame, parsed: LmerFormula, formula: str, reml: bool, engine: str,
               weights: str | None = None) -> LmmResult:
    """:func:`fit_lmm` with several random-effect terms: lme4's profiled deviance from a sparse Z."""
    frame = _terms_frame(data, parsed, weights)
    complete = frame.data
    design = _terms_design(complete, parsed)
    io.check_design(design.X, design.exog_names, who="fit_lmm")
    _check_terms(design.terms, len(design.y))
    prior = _frame_weights(frame, weights)
    model = sparse._model(_weighted(design, prior))
    theta, messages = sparse._optimum(model, reml)
    converged, gradient_messages = _check_terms_convergence(theta, model, reml)
    messages += gradient_messages
    varpar = np.append(theta, sparse._profiled_sigma(theta, model, reml))
    deviance = sparse._deviance(varpar, model, reml) - _log_weights(prior)
    singular = bool(np.any(theta[model.diagonal] < SINGULAR_TOL))
    if singular:
        messages.append(SINGULAR_MESSAGE)
    pieces = sparse._variance_pieces(varpar, model, reml)
    beta = pd.Series(sparse._gls(varpar, model)[1], index=design.exog_names)
    modes, mode_sd = sparse._conditional_modes(varpar, model, beta.to_numpy())
    covs = _term_covariances(varpar, design.terms)
    npar = len(beta) + len(theta) + 1
    return LmmResult(
        fixed=_fixed_table_frame(beta, pieces.cov_beta, pieces.df(np.eye(len(beta)))),
        re_cov=covs,
        re_sd_corr={label: pd.DataFrame(_sd_corr(cov.to_numpy()), index=cov.index, columns=cov.columns)
                    for label, cov in covs.items()},
        sigma2=float(varpar[-1] ** 2),
        loglik=-deviance / 2,
        aic=deviance + 2 * npar,
        bic=deviance + np.log(model.n) * npar,
        converged=converged,
        singular=singular,
        warnings=list(frame.notes) + messages + pieces.messages,
        random_effects=_per_factor(modes, design.terms),
        random_effects_sd=_per_factor(mode_sd, design.terms),
        cov_beta=pd.DataFrame(pieces.cov_beta, index=beta.index, columns=beta.index),
        fitted=pd.Series(design.X @ beta.to_numpy() + _z_matrix(design.terms) @ modes,
                         index=complete.index, name="fitted"),
        nobs=model.n,
        ngroups={t.term.group: len(t.levels) for t in design.terms},
        n_dropped=frame.n_dropped,
        reml=reml,
        formula=formula,
        group=None,
        re_formula=None,
        data=complete,
        design_info=design.design_info,
        engine=engine,
        weights=prior,
    )


def _term_covariances(varpar: np.ndarray, terms: list[_ReTerm]) -> dict[str, pd.DataFrame]:
    """sigma^2 Lambda_t Lambda_t' of each term, keyed by lme4's VarCorr labels."""
    covs, start = {}, 0
    for label, re_term in zip(_varcorr_labels(terms), terms):
        rows, cols = _lower_triangle(re_term.k)
        lam = np.zeros((re_term.k, re_term.k))
        lam[rows, cols] = varpar[start:start + len(rows)]
        start += len(rows)
        covs[label] = pd.DataFrame(varpar[-1] ** 2 * lam @ lam.T, index=re_term.names, columns=re_term.names)
    return covs


def _per_factor(values: np.ndarray, terms: list[_ReTerm]) -> dict[str, pd.DataFrame]:
    """Per-random-effect values (Z's column order) as one table per grouping factor, as lme4's ``ranef``."""
    tables: dict[str, list[pd.DataFrame]] = {}
    start = 0
    for re_term in terms:
        block = values[start:start + re_term.q].reshape(len(re_term.levels), re_term.k)
        start += re_term.q
        tables.setdefault(re_term.term.group, []).append(
            pd.DataFrame(block, index=re_term.levels, columns=re_term.names))
    return {group: pd.concat(parts, axis=1) for group, parts in tables.items()}


def lrt(smaller: LmmResult, larger: LmmResult, refit: bool = True) -> pd.DataFrame:
    """Likelihood-ratio test of two nested models, laid out like lme4's ``anova``.

    Parameters
    ----------
    smaller, larger : LmmResult
        Nested fits to the same rows (with the same prior weights, if any);
        ``smaller`` has fewer parameters.
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
        If the fits use different rows, groups or prior weights, or are not ordered by size.
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


def _check_nested(smaller: LmmResult, larger: LmmResult) -> None:
    if smaller.nobs != larger.nobs or not smaller.data.index.equals(larger.data.index):
        raise ValueError(f"models were fitted to different rows "
                         f"(nobs {smaller.nobs} and {larger.nobs})")
    if smaller.group and larger.group and smaller.group != larger.group:
        raise ValueError(f"models use different groups: {smaller.group!r} and {larger.group!r}")
    if not _same_weights(smaller.weights, larger.weights):
        raise ValueError("models were fitted with different prior weights: their likelihoods are of "
                         "different data and cannot be compared")
    if smaller.npar >= larger.npar:
        raise ValueError(f"smaller model has {smaller.npar} parameters, larger has "
                         f"{larger.npar}: pass the nested (smaller) model first")


def _same_weights(first: np.ndarray | None, second: np.ndarray | None) -> bool:
    """Both fits unweighted, or weighted alike row by row."""
    if first is None or second is None:
        return first is None and second is None
    return np.array_equal(first, second)


#: Column holding a fit's prior weights when :func:`lrt` refits it (R's model-frame name).
WEIGHTS_COLUMN = "(weights)"


def _ml(result: LmmResult) -> LmmResult:
    if not result.reml:
        return result
    data, weights = result.data, None
    if result.weights is not None:
        data, weights = data.assign(**{WEIGHTS_COLUMN: result.weights}), WEIGHTS_COLUMN
    if result.group is None:
        return fit_lmm(data, result.formula, reml=False, engine=result.engine, weights=weights)
    return fit_lmm(data, result.formula, result.group, result.re_formula, reml=False,
                   engine=result.engine, weights=weights)


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
    return _gradient_verdict(gradient, _jacobian(gradient_at, theta[free], levels=1))


def _check_terms_convergence(theta: np.ndarray, model: sparse._Model, reml: bool) -> tuple[bool, list[str]]:
    """lme4's gradient check for several terms: gradient and Hessian by central differences over the
    elements of theta not at their bound (see ``_check_convergence``)."""
    free = ~(model.diagonal & (theta < SINGULAR_TOL))
    if not free.any():
        return True, []
    return _gradient_verdict(*sparse._free_derivatives(theta, free, model, reml))


def _gradient_verdict(gradient: np.ndarray, hessian: np.ndarray) -> tuple[bool, list[str]]:
    """lme4's ``checkConv``: the gradient scaled by the Cholesky factor of the Hessian below ``GRADIENT_TOL``."""
    try:
        gradient = np.linalg.solve(np.linalg.cholesky((hessian + hessian.T) / 2).T, gradient)
    except np.linalg.LinAlgError:
        pass  # Hessian not positive definite: lme4 also falls back to the raw gradient
    worst = float(np.max(np.abs(gradient)))
    if worst < GRADIENT_TOL:
        return True, []
    return False, [f"Model failed to converge with max|grad| = {worst:.3g} (tol = {GRADIENT_TOL})"]
