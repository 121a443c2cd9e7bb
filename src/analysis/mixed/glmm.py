r"""Generalized linear mixed models fitted as lme4's ``glmer``: PIRLS, the Laplace approximation and AGQ.

:func:`fit_glmm` fits a binomial (logit or probit link) or Poisson (log link, with an
optional offset) model with any of lme4's random-effect terms (one term; nested,
crossed, ``||`` or several terms per factor, as :func:`analysis.mixed.formula.parse`
expands them),

.. math::

   \eta = o + X\beta + Z\Lambda_\theta u, \quad u \sim N(0, I), \quad
   y_i \mid u \sim \text{binomial}(n_i, g^{-1}(\eta_i)) \text{ or Poisson}(g^{-1}(\eta_i)),

as lme4 does (Bates et al. 2015, JSS 67(1); lme4's ``glmer`` source):

PIRLS
    For given :math:`(\theta, \beta)` the conditional modes :math:`\hat u` minimise
    the penalised deviance :math:`\sum_i d_i(y_i, \mu_i) + \|u\|^2` by penalised
    iteratively reweighted least squares with step halving. With one grouping
    factor :math:`M = \Lambda'Z'WZ\Lambda + I` is block diagonal, one
    :math:`q \times q` block per group, so each step is a stack of small Cholesky
    factorisations vectorised over groups. With several terms, Z is sparse and
    :math:`\Lambda(\theta)` block diagonal, built as lme4's ``mkReTrms`` builds them
    (:mod:`analysis.mixed.design`), and each step factors M with the blocked sparse
    Cholesky of :mod:`analysis.mixed.sparse` (per-level factors of the first term's
    block, SuperLU for the Schur complement of the others), the linear mixed model's
    factorisation with the working weights W in place of I.
Laplace
    The deviance :math:`-2\log L \approx -2\log p(y \mid \hat u) + \|\hat u\|^2 +
    \log|M|` (lme4's ``aic + sqrL + ldL2``), :math:`W` the working weights at the mode.
AGQ
    For ``nagq > 1`` and one scalar random effect, adaptive Gauss-Hermite
    quadrature around each group's mode with scale :math:`1/L_g`, summed on lme4's
    deviance-residual scale (so, as in lme4, its logLik is comparable with other
    AGQ fits but not with Laplace fits of binomial counts or Poisson data).

The fit runs lme4's two stages: first :math:`\theta` with :math:`\beta` updated
inside PIRLS (``nAGQ = 0``), then :math:`(\theta, \beta)` jointly on the Laplace
(or AGQ) deviance (``nAGQ >= 1``). Both searches are quasi-Newton (BFGS, whitened by
the curvature at the start) on the deviance's gradient: with one term analytic for
the Laplace deviance (``pirls._laplace_gradient``), central differences otherwise
(AGQ, and every model with several terms, whose PIRLS takes one more Newton step past
its tolerance so that the deviance is exact to rounding). The deviance is
even in the sign of each column of :math:`\Lambda`, so the searches run unbounded
and the columns are flipped to a non-negative diagonal. PIRLS is converged far
below lme4's tolerance (see ``PIRLS_TOL``): the deviance is then the Laplace (or
AGQ) deviance itself, smooth in the parameters, as lme4's is with
``glmerControl(tolPwrss = 1e-12)``, and the fit matches that lme4 fit.

At the optimum, the gradient and the Hessian of the deviance over
:math:`(\theta, \beta)` give lme4's convergence checks and, as lme4's default
``vcov`` for ``glmer`` fits, the covariance of :math:`\hat\beta` (twice the
:math:`\beta` block of the inverse Hessian); where that Hessian is not positive
definite the covariance comes from :math:`R_X` of PIRLS, with lme4's warning. With
several terms the Hessian is by central second differences (step ``DERIV_DELTA``, as
lme4's ``deriv12``) and AGQ (``nagq > 1``) is refused, as in lme4.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
import patsy

from .. import io
from . import sparse as _sparse
from .design import (
    _lambda_pattern,
    _lme4_order,
    _lower_triangle,
    _re_term,
    _ReTerm,
    _TermsDesign,
    _varcorr_labels,
    _z_matrix,
)
from .deviance import (
    _lambda,
)
from .formula import LmerFormula, RandomTerm, _formula_variables, parse
from .lmm import GRADIENT_TOL, SINGULAR_TOL
from .pirls import (
    GTOL,
    MAX_AGQ,
    PIRLS_MAXIT,
    STAGE1_GTOL,
    _boundary,
    _check_convergence,
    _cov_beta,
    _derivatives,
    _Deviance,
    _Family,
    _family,
    _GlmmData,
    _hessian,
    _minimise,
    _Mode,
    _rx,
    _terms_rx,
    _TermsData,
    _TermsDeviance,
    _whitening,
)
from .result import _varcorr_frame, _varcorr_table, _wald_frame


class _TermModes(NamedTuple):
    """One random-effect term of a fit: its grouping factor, its design and its modes (one row per level)."""

    group: str
    design_info: patsy.DesignInfo
    modes: pd.DataFrame


@dataclass(frozen=True, eq=False)
class GlmmResult:
    r"""A fitted generalized linear mixed model, reported as lme4 reports a ``glmer`` fit.

    Attributes
    ----------
    fixed : pandas.DataFrame
        One row per fixed-effect term (patsy names, e.g. ``Intercept``, ``time``,
        ``arm[T.cbt]``): ``estimate``, ``se`` (lme4's default ``vcov``), Wald
        ``z`` and ``p``, and the 95% Wald interval ``ci_low``, ``ci_high``.
    varcorr : pandas.DataFrame
        Random-effect variances and covariances as R's
        ``as.data.frame(VarCorr(fit))``: ``grp``, ``var1``, ``var2``, ``vcov``,
        ``sdcor`` (no residual row); with several terms, every term in lme4's
        order (by decreasing number of levels), labelled as
        :attr:`analysis.mixed.LmmResult.varcorr` labels them (``participant_id.1``
        for a factor's second term; a nested factor ``a/b`` as ``a:b``).
    loglik, aic, bic : float
        lme4's logLik (minus half the Laplace or AGQ deviance), AIC and BIC; the
        parameters are the fixed effects and the elements of theta.
    converged : bool
        lme4's checks at the optimum passed: the scaled gradient of the deviance
        below ``GRADIENT_TOL``, its Hessian positive definite, PIRLS converged.
    singular : bool
        lme4's ``isSingular``: a diagonal element of :math:`\Lambda` below ``SINGULAR_TOL``.
    warnings : list of str
        Convergence, Hessian, covariance and singular-fit messages, as lme4's.
    random_effects : pandas.DataFrame or dict
        Conditional modes :math:`\Lambda\hat u` (lme4's ``ranef``), one row per
        level; with several random-effect terms a dict {grouping factor: table} in
        lme4's order, the terms of one factor side by side (as
        :attr:`analysis.mixed.LmmResult.random_effects`). The levels of an
        interaction or nested factor ``a:b`` are labelled ``"a-level:b-level"``.
    cov_beta : pandas.DataFrame
        Covariance matrix of the fixed effects.
    fitted : pandas.Series
        Conditional means :math:`g^{-1}(\hat\eta)` (proportions for the binomial),
        indexed as the data.
    pearson_residuals : pandas.Series
        :math:`(y - \hat\mu)\sqrt{n / V(\hat\mu)}`, the summary's scaled residuals.
    theta : numpy.ndarray
        lme4's theta: the lower triangle of :math:`\Lambda`, row by row (lme4
        lists it column by column, the same order for up to two random effects);
        with several terms, term by term in lme4's order, each column by column,
        exactly as lme4's ``getME(fit, "theta")``.
    nobs, n_dropped : int
        Rows used, and rows dropped for missing values.
    ngroups : dict
        {grouping factor: number of levels}, every factor in lme4's order (``ngrps``).
    family, link, formula : str
    nagq : int
        Quadrature points (1: Laplace).
    trials, offset : str or None
        Columns of the binomial trials and of the offset.
    data : pandas.DataFrame
        The complete rows the model was fitted to.
    arms : str
        The arms of the model families and the reference (e.g. "arms: control
        (reference), cbt"); empty for :func:`fit_glmm` alone.
    re_terms : tuple
        With several terms, each term's grouping factor, design and modes (used by
        :meth:`predict`); empty with one term.
    """

    fixed: pd.DataFrame
    varcorr: pd.DataFrame
    loglik: float
    aic: float
    bic: float
    converged: bool
    singular: bool
    warnings: list[str]
    random_effects: pd.DataFrame | dict[str, pd.DataFrame]
    cov_beta: pd.DataFrame
    fitted: pd.Series
    pearson_residuals: pd.Series
    theta: np.ndarray
    nobs: int
    ngroups: dict
    n_dropped: int
    family: str
    link: str
    formula: str
    nagq: int
    trials: str | None
    offset: str | None
    data: pd.DataFrame = field(repr=False)
    design_info: patsy.DesignInfo = field(repr=False)
    re_design_info: patsy.DesignInfo = field(repr=False)
    arms: str = ""
    re_terms: tuple = field(default=(), repr=False)

    @property
    def group(self) -> str:
        """The grouping factor (with several, the first in lme4's order: most levels)."""
        return next(iter(self.ngroups))

    @property
    def npar(self) -> int:
        """Number of parameters as lme4 counts them (fixed effects and theta)."""
        return len(self.fixed) + len(self.theta)

    def predict(self, newdata: pd.DataFrame, type: str = "response", re: bool = False,
                allow_new_levels: bool = False) -> pd.Series:
        """Predictions for new rows, as lme4's ``predict``.

        Parameters
        ----------
        newdata : pandas.DataFrame
            The fixed-effect variables (factor levels as fitted), the offset column
            if the model has one, and with ``re=True`` the random-effect variables
            and the grouping factor.
        type : {"response", "link"}, default "response"
            Mean (probability or rate) or linear predictor.
        re : bool, default False
            Include the conditional modes of each row's level of every random-effect
            term (lme4's ``re.form = NULL``); by default the population level
            (``re.form = NA``).
        allow_new_levels : bool, default False
            With ``re=True``, a level not in the fit contributes 0 (the population
            level for that term), as lme4's ``allow.new.levels = TRUE``; by default
            such a level is an error, as in lme4.

        Returns
        -------
        pandas.Series
            Indexed as ``newdata``.

        Raises
        ------
        ValueError
            Unknown ``type``, a design that cannot be built from ``newdata``, a
            missing offset or grouping column, or (with ``re=True`` and without
            ``allow_new_levels``) a level not in the fit.
        """
        if type not in ("response", "link"):
            raise ValueError(f"type must be 'response' or 'link', got {type!r}")
        eta = _design_rows(self.design_info, newdata) @ self.fixed["estimate"].to_numpy()
        if self.offset is not None:
            eta = eta + _column(newdata, self.offset).to_numpy(dtype=float)
        if re:
            eta = eta + sum(_random_part(term, newdata, allow_new_levels) for term in self._terms())
        values = _family(self.family, self.link).linkinv(eta) if type == "response" else eta
        return pd.Series(values, index=newdata.index, name=type)

    def _terms(self) -> tuple[_TermModes, ...]:
        """Every random-effect term with its modes (one term: from ``random_effects``)."""
        if self.re_terms:
            return self.re_terms
        return (_TermModes(self.group, self.re_design_info, self.random_effects),)

    def summary(self) -> str:
        """Text summary laid out like ``summary()`` of an lme4 ``glmer`` fit."""
        method = ("Laplace Approximation" if self.nagq <= 1
                  else f"Adaptive Gauss-Hermite Quadrature, nAGQ = {self.nagq}")
        quartiles = np.percentile(self.pearson_residuals, [0, 25, 50, 75, 100])
        fixed = self.fixed[["estimate", "se", "z", "p"]].set_axis(
            ["Estimate", "Std. Error", "z value", "Pr(>|z|)"], axis=1).rename_axis(None)
        return "\n".join([
            f"Generalized linear mixed model fit by maximum likelihood ({method})",
            f" Family: {self.family}  ( {self.link} )",
            f"Formula: {self.formula}" + (f", trials: {self.trials}" if self.trials else "")
            + (f", offset: {self.offset}" if self.offset else ""),
            "",
            f"{'AIC':>10}{'BIC':>10}{'logLik':>10}{'-2*log(L)':>10}{'df.resid':>10}",
            "".join(f"{value:10.1f}" for value in (self.aic, self.bic, self.loglik, -2 * self.loglik))
            + f"{self.nobs - self.npar:10d}",
            "",
            "Scaled residuals:",
            "".join(f"{name:>9}" for name in ("Min", "1Q", "Median", "3Q", "Max")),
            "".join(f"{value:9.4f}" for value in quartiles),
            "",
            _varcorr_table(self.varcorr),
            f"Number of obs: {self.nobs}, groups:  "
            + "; ".join(f"{group}, {count}" for group, count in self.ngroups.items())
            + (f" ({self.n_dropped} rows with missing values dropped)" if self.n_dropped else ""),
            *([self.arms.capitalize()] if self.arms else []),
            "",
            "Fixed effects:",
            fixed.to_string(float_format=lambda v: f"{v:.4g}"),
            *(["", "Warnings:"] + [f"  {w}" for w in self.warnings] if self.warnings else []),
        ])


def _random_part(term: _TermModes, newdata: pd.DataFrame, allow_new_levels: bool) -> np.ndarray:
    """One term's :math:`z_i'b` for the rows of ``newdata`` (0 for a new level when allowed)."""
    factors = term.group.split(":")
    keys = (_column(newdata, factors[0]).astype(str) if len(factors) == 1
            else pd.concat([_column(newdata, f) for f in factors], axis=1).astype(str).agg(":".join, axis=1))
    modes = term.modes.set_axis(term.modes.index.astype(str))
    known = keys.isin(modes.index).to_numpy()
    if not known.all() and not allow_new_levels:
        unknown = sorted(set(keys[~known]), key=str)
        raise ValueError(f"new levels of {term.group!r} not in the fit: {unknown[:5]} "
                         "(lme4's allow.new.levels = FALSE; pass allow_new_levels=True for 0)")
    values = np.zeros((len(keys), modes.shape[1]))
    values[known] = modes.loc[keys[known]].to_numpy()
    return np.sum(_design_rows(term.design_info, newdata) * values, axis=1)


def _column(frame: pd.DataFrame, name: str) -> pd.Series:
    if name not in frame.columns:
        raise ValueError(f"newdata has no column {name!r}, which the model needs")
    return frame[name]


def _design_rows(info: patsy.DesignInfo, newdata: pd.DataFrame) -> np.ndarray:
    try:
        (design,) = patsy.build_design_matrices([info], newdata, NA_action="raise", return_type="matrix")
    except patsy.PatsyError as exc:
        raise ValueError(f"cannot build the model's design from newdata: {exc}") from None
    return np.asarray(design, dtype=float)


def fit_glmm(data: pd.DataFrame, formula: str, family: str = "binomial", trials: str | None = None,
             nagq: int = 1, offset: str | None = None, link: str | None = None) -> GlmmResult:
    """Fit a generalized linear mixed model as lme4's ``glmer`` and report it as lme4 does.

    Parameters
    ----------
    data : pandas.DataFrame
        Long-format data, one row per observation.
    formula : str
        lme4 formula with one or more random-effect terms, e.g.
        ``"remission ~ time * arm + (1 | participant_id)"``,
        ``"remission ~ time + arm + (1 + time | participant_id)"``,
        ``"remission ~ time * arm + (1 | participant_id) + (1 | therapist)"``,
        ``"remission ~ time * arm + (1 | therapist/participant_id)"`` (nested),
        crossed factors, or ``(time || participant_id)`` (uncorrelated). The
        response is a column: 0/1 (binomial without ``trials``), successes
        (binomial with ``trials``) or counts (Poisson).
    family : {"binomial", "poisson"}, default "binomial"
    trials : str, optional
        Binomial only: the column of trials (the response then counts successes,
        as lme4's ``cbind(successes, trials - successes)``). Rows with 0 trials
        carry no information, as in lme4.
    nagq : int, default 1
        Quadrature points: 1 for the Laplace approximation; 2 to 100 for adaptive
        Gauss-Hermite quadrature (one term with one scalar random effect only); 0 for lme4's
        ``nAGQ = 0`` (fixed effects from PIRLS, the first stage alone).
    offset : str, optional
        Column added to the linear predictor (e.g. log exposure for a Poisson rate).
    link : str, optional
        ``"logit"`` (default) or ``"probit"`` for the binomial; ``"log"`` for the Poisson.

    Returns
    -------
    GlmmResult

    Raises
    ------
    ValueError
        An unknown family, link or ``nagq``; ``trials`` with the Poisson family; a
        response that is an expression rather than a column; a formula without a
        random-effect term; ``nagq > 1`` with a vector random effect or several
        terms (as lme4).
    analysis.io.DataValidationError
        Columns absent or not numbers (:func:`analysis.io.model_frame`); a binary
        response other than 0/1; successes above trials or not whole numbers >= 0;
        counts that are negative or not whole numbers; a constant response; a
        zero, constant or collinear fixed-effect column
        (:func:`analysis.io.check_design`); a grouping factor with one level or
        as many levels as rows, or a random slope on a column that does not vary
        (with several terms the problem names the term, e.g. ``(1 | site)``).

    Notes
    -----
    Rows with a missing value in a used column (a grouping factor included) are
    dropped (``n_dropped``). The fit follows lme4's two stages (see the module docstring) and its checks; the
    fixed-effect covariance is lme4's default for glmer fits, from the Hessian of
    the deviance over (theta, beta). PIRLS is converged fully, so the estimates are
    those of lme4 with ``glmerControl(tolPwrss = 1e-12)``; lme4's default tolerance
    (1e-7) leaves its Laplace deviance slightly too high (up to ~0.02 on the
    reference fits), its estimates a little off the optimum (up to ~0.006 of
    max(|estimate|, SE)) and its SEs up to ~2% off, and its logLik a little lower.
    The AGQ deviance is, as in lme4, on the deviance-residual scale: for binomial
    counts and Poisson data its logLik is not comparable with a Laplace fit's.
    """
    fam = _family(family, link)
    parsed = _parse(formula)
    _check_arguments(fam, trials, nagq)
    if len(parsed.random) > 1:
        return _fit_terms(data, parsed, formula, fam, trials, nagq, offset)
    term, fixed_formula = parsed.random[0], parsed.fixed
    frame = _glmm_frame(data, fixed_formula, [term], trials, offset)
    complete = frame.data
    glmm_data, X_info, Z_info, labels = _glmm_design(complete, fixed_formula, term, fam, trials, offset)
    if nagq > 1 and glmm_data.q != 1:
        raise ValueError("nAGQ > 1 is only available for models with a single, scalar random-effects term")
    return _result(_optimise(glmm_data, fam, nagq), glmm_data, fam, nagq, frame, formula, trials, offset,
                   X_info, Z_info, labels)


def _parse(formula: str) -> LmerFormula:
    parsed = parse(formula)
    if not parsed.random:
        raise ValueError(f"fit_glmm: no random-effect term (expr | group) in {formula!r}")
    return parsed


def _check_arguments(family: _Family, trials: str | None, nagq: int) -> None:
    if trials is not None and family.name != "binomial":
        raise ValueError(f"fit_glmm: trials= is for the binomial family, not {family.name!r}")
    if not isinstance(nagq, (int, np.integer)) or not 0 <= nagq <= MAX_AGQ:
        raise ValueError(f"fit_glmm: nagq must be a whole number from 0 to {MAX_AGQ}, got {nagq!r}")


def _glmm_frame(data: pd.DataFrame, fixed_formula: str, terms: list[RandomTerm], trials: str | None,
                offset: str | None) -> io.ModelFrame:
    """The complete rows of the used columns, via :func:`analysis.io.model_frame`.

    With one term on one factor, that factor is the frame's ``group`` (never missing);
    with several terms, rows missing a grouping factor are dropped, as other columns.
    """
    response = fixed_formula.split("~")[0].strip()
    if not response.isidentifier() and response not in data.columns:
        raise ValueError(f"fit_glmm: the response must be a column of the data, got {response!r} "
                         "(compute it first, e.g. data['remission'] = data['phq9_total'] < 5)")
    numeric = [c for c in (response, trials, offset) if c is not None]
    used = _formula_variables(fixed_formula) + [name for term in terms for name in _formula_variables(f"~ {term.expr}")]
    factors = list(dict.fromkeys(factor for term in terms for factor in term.factors))
    group = factors[0] if len(factors) == 1 and len(terms) == 1 else None
    other = list(dict.fromkeys([c for c in used if c not in numeric] + (factors if group is None else [])))
    counts = {"counts": (response, trials)} if trials is not None else {}
    return io.model_frame(data, numeric=numeric, other=other, group=group, who="fit_glmm", **counts)


def _glmm_design(complete: pd.DataFrame, fixed_formula: str, term: RandomTerm, family: _Family,
                 trials: str | None, offset: str | None):
    """Checked response and model matrices, sorted by group; the designs and the group labels."""
    response = fixed_formula.split("~")[0].strip()
    X = patsy.dmatrix(fixed_formula.split("~", 1)[1], complete, NA_action="raise", return_type="matrix")
    Z = patsy.dmatrix(term.expr, complete, NA_action="raise", return_type="matrix")
    io.check_design(np.asarray(X), X.design_info.column_names, who="fit_glmm")
    counts = complete[response].to_numpy(dtype=float)
    weights = complete[trials].to_numpy(dtype=float) if trials is not None else np.ones(len(complete))
    _check_response(complete[response], counts, family, trials)
    keys = complete[term.factors].astype(str).agg(":".join, axis=1) if len(term.factors) > 1 \
        else complete[term.group]
    codes, labels = pd.factorize(keys, sort=True)
    _check_random(term, np.asarray(Z), Z.design_info.column_names, len(labels))
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    data = _GlmmData(
        y=np.divide(counts, weights, out=np.zeros_like(counts), where=weights > 0)[order],
        weights=weights[order], X=np.asarray(X, dtype=float)[order], Z=np.asarray(Z, dtype=float)[order],
        offset=(complete[offset].to_numpy(dtype=float)[order] if offset is not None else np.zeros(len(order))),
        codes=sorted_codes, first=np.flatnonzero(np.r_[True, sorted_codes[1:] != sorted_codes[:-1]]),
        order=order)
    return data, X.design_info, Z.design_info, pd.Index(labels, name=term.group)


def _check_response(values: pd.Series, counts: np.ndarray, family: _Family, trials: str | None) -> None:
    """Binary responses are 0/1, Poisson counts whole numbers >= 0, and the response varies (as lme4)."""
    column = str(values.name)
    problems = []
    if family.name == "binomial" and trials is None:
        bad = ~np.isin(counts, (0.0, 1.0))
        reason = "a binomial response without trials= must be 0 or 1 (give trials= for successes out of trials)"
    elif family.name == "poisson":
        bad = (counts < 0) | (counts % 1 != 0)
        reason = "Poisson counts must be whole numbers >= 0"
    else:
        bad = np.zeros(len(counts), dtype=bool)
    if bad.any():
        problems.append(io._problem(column, reason, values, bad, by_index=True))
    elif np.ptp(counts) == 0 and trials is None:
        problems.append(io.Problem(column, f"fit_glmm: the response is constant ({io._plain(counts[0])!r}) in "
                                           "every complete row"))
    if problems:
        raise io.DataValidationError(problems)


def _check_random(term: RandomTerm, Z: np.ndarray, names: list[str], n_levels: int) -> None:
    """lme4's checks of the grouping factor (more than one level, fewer than the rows) and of random slopes."""
    n = len(Z)
    problems = []
    if n_levels < 2:
        problems.append(io.Problem(term.group, f"{term}: the grouping factor has {n_levels} level; a random effect "
                                               "needs at least two"))
    elif n_levels >= n:
        problems.append(io.Problem(term.group, f"{term}: {n_levels} levels for {n} complete rows; the number of "
                                               "levels must be less than the number of observations"))
    problems += [io.Problem(name, f"{term}: random slope on a column that does not vary ({Z[0, j]:g} in every "
                                  "complete row): not identified")
                 for j, name in enumerate(names) if name != "Intercept" and np.ptp(Z[:, j]) == 0]
    if problems:
        raise io.DataValidationError(problems)


@dataclass(frozen=True)
class _Optimum:
    """The optimum of lme4's two stages: parameters (theta, beta), deviance, modes and checks."""

    pars: np.ndarray
    deviance: float
    mode: _Mode
    cov_beta: np.ndarray
    converged: bool
    messages: list[str]


def _optimise(data: _GlmmData, family: _Family, nagq: int) -> _Optimum:
    """lme4's stages: theta with beta from PIRLS, then (theta, beta) on the Laplace or AGQ deviance.

    Each search is whitened (:func:`_minimise`) by the Hessian at its start (of the
    Laplace deviance for AGQ). At the optimum the gradient and the Hessian give lme4's
    convergence checks (skipped for a singular fit, as in lme4) and its default
    covariance of beta. With ``nagq = 0`` the first stage is the fit, the covariance
    comes from :math:`R_X`, and its gradient, scaled by the Hessian at the start,
    decides convergence (lme4 checks nothing there).
    """
    q = data.q
    deviance = _Deviance(data, family, nagq)
    n_theta = deviance.n_theta
    theta = deviance.start()
    theta, first = _minimise(deviance.stage1_and_gradient, theta, _whitening(_hessian(deviance.stage1_gradient, theta)),
                             n_theta, q, STAGE1_GTOL if nagq else GTOL)
    if nagq == 0:
        theta = _boundary(deviance.stage1, theta, q)
        mode, value = deviance.evaluate(theta, joint=True)
        worst = float(np.max(np.abs(first.jac)))
        converged = mode.converged and worst <= GRADIENT_TOL
        message = (f"Model failed to converge with max|grad| = {worst:.6g} (tol = {GRADIENT_TOL}; nAGQ = 0, "
                   "gradient scaled by the Hessian at the start)")
        return _Optimum(np.r_[theta, mode.beta], value, mode, np.linalg.inv(_rx(theta, mode, data, family)),
                        converged, [] if converged else [message])
    start = np.r_[theta, deviance.evaluate(theta, joint=True)[0].beta]
    scale = _whitening(_hessian(deviance.laplace_gradient, start))
    pars, second = _minimise(deviance.stage2_and_gradient, start, scale, n_theta, q, GTOL)
    pars = _boundary(deviance.stage2, pars, q)
    hessian = deviance.hessian(pars)
    converged, messages = ((True, []) if _is_singular(pars[:n_theta], q)
                           else _check_convergence(deviance.gradient(pars), hessian, n_theta))
    if not converged and not second.success:
        messages.append(f"optimizer: {second.message}")
    mode, value = deviance.evaluate(pars)
    if not mode.converged:
        converged = False
        messages.append(f"PIRLS did not converge in {PIRLS_MAXIT} iterations at the optimum")
    cov, cov_messages = _cov_beta(hessian, _rx(pars[:n_theta], mode, data, family), n_theta)
    return _Optimum(pars, value, mode, cov, converged, messages + cov_messages)


def _theta_lower(q: int) -> np.ndarray:
    """lme4's lower bounds of theta: 0 on the diagonal of Lambda, none below it."""
    rows, cols = np.tril_indices(q)
    return np.where(rows == cols, 0.0, -np.inf)


def _is_singular(theta: np.ndarray, q: int) -> bool:
    """lme4's ``isSingular``: a diagonal element of Lambda below ``SINGULAR_TOL``."""
    return bool(np.any(theta[_theta_lower(q) == 0] < SINGULAR_TOL))


def _result(optimum: _Optimum, data: _GlmmData, family: _Family, nagq: int, frame: io.ModelFrame,
            formula: str, trials: str | None, offset: str | None, X_info: patsy.DesignInfo,
            Z_info: patsy.DesignInfo, groups: pd.Index) -> GlmmResult:
    """The :class:`GlmmResult` of an optimum (rows back in data order)."""
    n_theta = len(optimum.pars) - data.X.shape[1]
    theta, names = optimum.pars[:n_theta], Z_info.column_names
    lam = _lambda(theta, data.q)
    shared = _shared_fields(optimum, n_theta, data.y, data.weights, family, _is_singular(theta, data.q), frame,
                            frame.data.index, np.argsort(data.order), X_info)
    return GlmmResult(
        **shared,
        varcorr=_varcorr_frame(groups.name, names, lam @ lam.T),
        random_effects=pd.DataFrame((lam @ optimum.mode.u).T, index=groups, columns=names),
        ngroups={groups.name: len(groups)},
        nagq=nagq, formula=formula, trials=trials, offset=offset, data=frame.data, re_design_info=Z_info,
    )


def _shared_fields(optimum: _Optimum, n_theta: int, y: np.ndarray, weights: np.ndarray, family: _Family,
                   singular: bool, frame: io.ModelFrame, index: pd.Index, data_order: np.ndarray | slice,
                   X_info: patsy.DesignInfo) -> dict:
    """The :class:`GlmmResult` fields every optimum fills alike: coefficients, fit statistics, messages,
    fitted values and Pearson residuals (``data_order`` puts the fit's rows back in ``index``'s order)."""
    beta = pd.Series(optimum.pars[n_theta:], index=X_info.column_names)
    npar = len(optimum.pars)
    mu = family.linkinv(optimum.mode.eta)
    pearson = (y - mu) * np.sqrt(weights / family.variance(mu))
    messages = list(frame.notes) + optimum.messages
    if singular:
        messages.append("boundary (singular) fit: see help('isSingular')")
    return dict(
        fixed=_wald_frame(beta, optimum.cov_beta),
        loglik=-optimum.deviance / 2,
        aic=optimum.deviance + 2 * npar,
        bic=optimum.deviance + np.log(len(y)) * npar,
        converged=optimum.converged,
        singular=singular,
        warnings=messages,
        cov_beta=pd.DataFrame(optimum.cov_beta, index=beta.index, columns=beta.index),
        fitted=pd.Series(mu[data_order], index=index, name="fitted"),
        pearson_residuals=pd.Series(pearson[data_order], index=index, name="pearson"),
        theta=optimum.pars[:n_theta],
        nobs=len(y),
        n_dropped=frame.n_dropped,
        family=family.name,
        link=family.link,
        design_info=X_info,
    )


# --- several random-effect terms -------------------------------------------------------------------


#: Largest whitened gradient at the optimum of the second stage with several terms: the
#: gradient is by central differences, and 1e-4 of the curvature puts the estimates within
#: ~1e-4 of their SEs of the optimum, well inside lme4's own precision, at a fraction of the
#: evaluations 1e-6 takes.
TERMS_GTOL = 1e-4


def _fit_terms(data: pd.DataFrame, parsed: LmerFormula, formula: str, family: _Family, trials: str | None,
               nagq: int, offset: str | None) -> GlmmResult:
    """:func:`fit_glmm` with several random-effect terms: PIRLS on the sparse Z (see the module docstring)."""
    if nagq > 1:
        raise ValueError("nAGQ > 1 is only available for models with a single, scalar random-effects term")
    frame = _glmm_frame(data, parsed.fixed, list(parsed.random), trials, offset)
    complete = frame.data
    response = parsed.response
    X = patsy.dmatrix(parsed.fixed.split("~", 1)[1], complete, NA_action="raise", return_type="matrix")
    io.check_design(np.asarray(X), X.design_info.column_names, who="fit_glmm")
    counts = complete[response].to_numpy(dtype=float)
    weights = complete[trials].to_numpy(dtype=float) if trials is not None else np.ones(len(complete))
    _check_response(complete[response], counts, family, trials)
    terms = [_re_term(complete, term) for term in parsed.random]
    terms = [terms[i] for i in _lme4_order([len(t.levels) for t in terms])]
    _check_terms(terms, len(complete))
    glmm_data = _terms_data(
        terms, y=np.divide(counts, weights, out=np.zeros_like(counts), where=weights > 0), weights=weights,
        X=np.asarray(X, dtype=float),
        offset=complete[offset].to_numpy(dtype=float) if offset is not None else np.zeros(len(complete)))
    optimum = _optimise_terms(glmm_data, family, nagq)
    return _terms_result(optimum, glmm_data, terms, complete, family, nagq, frame, formula, trials, offset,
                         X.design_info)


def _check_terms(terms: list[_ReTerm], n: int) -> None:
    """lme4's checks of each term (``check.nlev.gtr.1``, ``check.nobs.vs.nlev``) and of its random slopes."""
    problems = []
    for re_term in terms:
        label, levels = str(re_term.term), len(re_term.levels)
        if levels < 2:
            problems.append(io.Problem(label, f"{label}: grouping factor {re_term.term.group!r} has {levels} "
                                              "level; a random effect needs at least two"))
        elif levels >= n:
            problems.append(io.Problem(label, f"{label}: {levels} levels of {re_term.term.group!r} for {n} "
                                              "complete rows; the number of levels must be less than the "
                                              "number of observations"))
        problems += [io.Problem(label, f"{label}: random slope on {name!r}, which does not vary "
                                       f"({re_term.X[0, j]:g} in every complete row): not identified")
                     for j, name in enumerate(re_term.names) if name != "Intercept" and np.ptp(re_term.X[:, j]) == 0]
    if problems:
        raise io.DataValidationError(problems)


def _terms_data(terms: list[_ReTerm], y: np.ndarray, weights: np.ndarray, X: np.ndarray,
                offset: np.ndarray) -> _TermsData:
    """The sparse Z, Lambda's pattern and the cross-product template of the terms (lme4's order)."""
    design = _TermsDesign(y=y, X=X, exog_names=[], design_info=None, terms=terms)
    model = _sparse._model(design)
    Z = _z_matrix(terms)
    rows, cols, index = _lambda_pattern(terms)
    diagonal_of, start = [], 0
    for re_term in terms:
        row, col = _lower_triangle(re_term.k)
        position = {(r, c): start + j for j, (r, c) in enumerate(zip(row, col))}
        diagonal_of += [position[(c, c)] for c in col]
        start += len(row)
    diagonal_of = np.array(diagonal_of)
    q1 = terms[0].q
    return _TermsData(y=y, weights=weights, X=X, offset=offset, Z=Z.tocsr(), Z1=Z[:, :q1].tocsc(),
                      Z2=Z[:, q1:].tocsc(), first_X=terms[0].X, first_codes=terms[0].codes, model=model,
                      lam_pattern=(rows, cols, index), diagonal_of=diagonal_of,
                      diagonal=diagonal_of == np.arange(len(diagonal_of)))


def _optimise_terms(data: _TermsData, family: _Family, nagq: int) -> _Optimum:
    """:func:`_optimise` for several terms: the same stages, searches and checks, finite-difference derivatives.

    Each search is whitened by the Hessian of its objective at its start (central
    second differences); at the optimum the gradient and Hessian are lme4's ``deriv12``.
    """
    deviance = _TermsDeviance(data, family)
    n_theta = data.n_theta
    theta = deviance.start()
    theta, first = _minimise(deviance.stage1_and_gradient, theta,
                             _whitening(_derivatives(deviance.stage1, theta)[1]), n_theta, 0,
                             STAGE1_GTOL if nagq else GTOL, diagonal_of=data.diagonal_of)
    if nagq == 0:
        theta = _boundary(deviance.stage1, theta, 0, data.diagonal)
        mode, value = deviance.evaluate(theta, joint=True)
        worst = float(np.max(np.abs(first.jac)))
        converged = mode.converged and worst <= GRADIENT_TOL
        message = (f"Model failed to converge with max|grad| = {worst:.6g} (tol = {GRADIENT_TOL}; nAGQ = 0, "
                   "gradient scaled by the Hessian at the start)")
        return _Optimum(np.r_[theta, mode.beta], value, mode, np.linalg.inv(_terms_rx(mode)),
                        converged, [] if converged else [message])
    start_mode = deviance.evaluate(theta, joint=True)[0]
    start = np.r_[theta, start_mode.beta]
    pars, second = _minimise(deviance.stage2_and_gradient, start, _start_scale(deviance, start, start_mode),
                             n_theta, 0, TERMS_GTOL, diagonal_of=data.diagonal_of)
    pars = _boundary(deviance.stage2, pars, 0, data.diagonal)
    gradient, hessian = _derivatives(deviance.stage2, pars)
    singular = bool(np.any(pars[:n_theta][data.diagonal] < SINGULAR_TOL))
    converged, messages = (True, []) if singular else _check_convergence(gradient, hessian, n_theta)
    if not converged and not second.success:
        messages.append(f"optimizer: {second.message}")
    mode, value = deviance.evaluate(pars)
    if not mode.converged:
        converged = False
        messages.append(f"PIRLS did not converge in {PIRLS_MAXIT} iterations at the optimum")
    cov, cov_messages = _cov_beta(hessian, _terms_rx(mode), n_theta)
    return _Optimum(pars, value, mode, cov, converged, messages + cov_messages)


def _start_scale(deviance: _TermsDeviance, start: np.ndarray, mode) -> np.ndarray:
    r"""The whitening of the second stage's search: block diagonal, from the curvature at its start.

    Theta's block by second differences of the deviance in theta (beta held), beta's
    from :math:`2R_X'R_X` (the Laplace deviance's curvature in beta, but for the
    derivatives of :math:`\log|M|`): a few evaluations instead of the whole Hessian's.
    """
    n_theta = deviance.n_theta

    def in_theta(theta):
        return deviance.stage2(np.r_[theta, start[n_theta:]])

    scale = np.zeros((len(start), len(start)))
    scale[:n_theta, :n_theta] = _whitening(_derivatives(in_theta, start[:n_theta])[1])
    scale[n_theta:, n_theta:] = _whitening(2 * _terms_rx(mode))
    return scale


def _terms_result(optimum: _Optimum, data: _TermsData, terms: list[_ReTerm], complete: pd.DataFrame,
                  family: _Family, nagq: int, frame: io.ModelFrame, formula: str, trials: str | None,
                  offset: str | None, X_info: patsy.DesignInfo) -> GlmmResult:
    """The :class:`GlmmResult` of a several-term optimum: every term's variances and modes."""
    n_theta = data.n_theta
    theta = optimum.pars[:n_theta]
    singular = bool(np.any(theta[data.diagonal] < SINGULAR_TOL))
    modes = data.lam(theta) @ optimum.mode.u
    labels = _varcorr_labels(terms)
    re_terms, varcorr, start, offset_q = [], [], 0, 0
    for label, re_term in zip(labels, terms):
        rows, cols = _lower_triangle(re_term.k)
        lam = np.zeros((re_term.k, re_term.k))
        lam[rows, cols] = theta[start:start + len(rows)]
        start += len(rows)
        varcorr.append(_varcorr_frame(label, re_term.names, lam @ lam.T))
        table = pd.DataFrame(modes[offset_q:offset_q + re_term.q].reshape(len(re_term.levels), re_term.k),
                             index=re_term.levels, columns=re_term.names)
        offset_q += re_term.q
        info = patsy.dmatrix("~ " + re_term.term.expr, complete, NA_action="raise",
                             return_type="matrix").design_info
        re_terms.append(_TermModes(re_term.term.group, info, table))
    per_factor: dict[str, list[pd.DataFrame]] = {}
    for term_modes in re_terms:
        per_factor.setdefault(term_modes.group, []).append(term_modes.modes)
    shared = _shared_fields(optimum, n_theta, data.y, data.weights, family, singular, frame, complete.index,
                            slice(None), X_info)
    return GlmmResult(
        **shared,
        varcorr=pd.concat(varcorr, ignore_index=True),
        random_effects={group: pd.concat(parts, axis=1) for group, parts in per_factor.items()},
        ngroups={re_term.term.group: len(re_term.levels) for re_term in terms},
        nagq=nagq, formula=formula, trials=trials, offset=offset, data=complete,
        re_design_info=re_terms[0].design_info, re_terms=tuple(re_terms),
    )
