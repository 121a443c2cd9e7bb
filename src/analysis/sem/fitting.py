"""``fit``, ``cfa`` and ``growth``: lavaan's ``sem()``, ``cfa()`` and ``growth()``."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from .. import io
from . import estimation, robust, robust_fit
from . import bootstrap as resampling
from .estimation import GroupData, ModelIdentificationError, Problem
from .fit import baseline_loglik, fit_measures, srmr
from .model import FLAVOURS, Names, Structure, fill_exo, parameter_table, variable_names
from .parameters import parameter_estimates
from .result import SemResult
from .syntax import ParsedModel, parse

__all__ = ["cfa", "fit", "growth", "lavaan"]

ESTIMATORS = ("ML", "MLR")
MISSING = ("fiml", "listwise")
STANDARD_ERRORS = ("standard", "robust", "bootstrap")


@dataclass(frozen=True)
class SeOptions:
    """How standard errors are computed: ``se`` (None: robust for MLR, else standard) and the bootstrap's
    replicates, seed and progress bar."""

    se: str | None = None
    bootstrap: int = 1000
    seed: int | None = 0
    progress: bool = False


def fit(model: str, data: pd.DataFrame, group: str | None = None, estimator: str = "ML", missing: str = "fiml",
        group_equal: tuple = (), conf_level: float = 0.95, meanstructure: bool | None = None,
        se: str | None = None, bootstrap: int = 1000, seed: int | None = 0, progress: bool = False
        ) -> SemResult:
    """Fit a structural equation model by maximum likelihood, as ``lavaan::sem()``.

    Parameters
    ----------
    model : str
        lavaan model syntax (:mod:`analysis.sem.syntax`).
    data : pandas.DataFrame
        One row per case, a column per observed variable named in the model.
    group : str, optional
        Column of groups for a multi-group model (groups in order of appearance);
        parameters are free in every group unless labelled alike or held equal by
        ``group_equal``.
    estimator : {"ML", "MLR"}
        ``"MLR"``: ML estimates with Huber-White (sandwich) standard errors and the
        Yuan-Bentler scaled chi-square, as lavaan's ``estimator = "MLR"``, with the
        scaled and robust CFI, TLI and RMSEA (:mod:`analysis.sem.robust_fit`).
    missing : {"fiml", "listwise"}
        With missing values, ``"fiml"`` uses every observed value (lavaan's
        ``missing = "ml"``: a mean structure, observed-information standard
        errors); ``"listwise"`` drops incomplete cases. Complete data are fitted as
        lavaan fits them by default (expected information).
    group_equal : tuple of str
        Classes held equal across groups, as lavaan's ``group.equal``:
        ``loadings``, ``intercepts``, ``means``, ``residuals``,
        ``residual.covariances``, ``lv.variances``, ``lv.covariances``,
        ``regressions``.
    conf_level : float
        Level of the intervals (Wald; percentile with ``se="bootstrap"``).
    meanstructure : bool, optional
        Model the means (intercepts of observed variables free, latent means 0).
        Default as lavaan: with ``~ 1`` in the model, several groups, FIML, or
        for :func:`growth`.
    se : {"standard", "robust", "bootstrap"}, optional
        Standard errors: inverse information (default with ML), Huber-White
        sandwich (lavaan's ``se = "robust.huber.white"``, the default with MLR) or
        lavaan's ``se = "bootstrap"``: ``bootstrap`` replicates of the cases (drawn
        within each group), each refitted from the estimates; SEs are the
        replicates' SDs, intervals percentile intervals (:mod:`analysis.sem.bootstrap`);
        replicates that fail are dropped, counted in ``result.bootstrap`` and in a
        warning.
    bootstrap : int
        Bootstrap replicates.
    seed : int, optional
        Seed of the bootstrap's resampling.
    progress : bool
        Show a progress bar over the bootstrap replicates.

    Returns
    -------
    SemResult

    Raises
    ------
    analysis.sem.syntax.ModelSyntaxError
        Model syntax that cannot be read.
    analysis.io.DataValidationError
        A variable of the model missing from the data or not numeric.
    ValueError
        A group with no more cases than observed variables, a sample covariance
        matrix that is not positive definite (the collinear variables are named),
        an unknown estimator, missing-data method or kind of standard error.
    ConvergenceFailure
        Fewer than two bootstrap replicates could be fitted.
    ModelIdentificationError
        More free parameters than sample moments, or a singular information matrix.
    """
    return _fit(model, data, "sem", group, estimator, missing, group_equal, conf_level, meanstructure,
                se_options=SeOptions(se, bootstrap, seed, progress))


def cfa(model: str, data: pd.DataFrame, group: str | None = None, estimator: str = "ML", missing: str = "fiml",
        group_equal: tuple = (), conf_level: float = 0.95, meanstructure: bool | None = None,
        se: str | None = None, bootstrap: int = 1000, seed: int | None = 0, progress: bool = False
        ) -> SemResult:
    """Confirmatory factor analysis, as ``lavaan::cfa()`` (the defaults of :func:`fit`).

    The first loading of each factor is fixed to 1 (marker variable), residual and
    factor variances and factor covariances are free. Parameters as :func:`fit`.
    """
    return _fit(model, data, "cfa", group, estimator, missing, group_equal, conf_level, meanstructure,
                se_options=SeOptions(se, bootstrap, seed, progress))


def growth(model: str, data: pd.DataFrame, group: str | None = None, estimator: str = "ML",
           missing: str = "fiml", group_equal: tuple = (), conf_level: float = 0.95,
           meanstructure: bool | None = None, se: str | None = None, bootstrap: int = 1000,
           seed: int | None = 0, progress: bool = False) -> SemResult:
    """Latent growth model, as ``lavaan::growth()``.

    A mean structure with the intercepts of the observed variables fixed to 0 and
    the latent means (growth factors) free; residual variances are free per wave
    unless labelled alike. Write the loadings as fixed values, e.g.
    ``i =~ 1*y1 + 1*y2 + 1*y3`` and ``s =~ 0*y1 + 1*y2 + 2*y3``. Parameters as
    :func:`fit`.
    """
    return _fit(model, data, "growth", group, estimator, missing, group_equal, conf_level, meanstructure,
                se_options=SeOptions(se, bootstrap, seed, progress))


def lavaan(model: str, data: pd.DataFrame, group: str | None = None, estimator: str = "ML",
           missing: str = "fiml", group_equal: tuple = (), conf_level: float = 0.95,
           meanstructure: bool | None = None, int_ov_free: bool = False,
           information: str | None = None, start: dict | None = None, se: str | None = None,
           bootstrap: int = 1000, seed: int | None = 0, progress: bool = False) -> SemResult:
    """Fit a model as the bare ``lavaan::lavaan()``: only what the syntax writes is in the model.

    Unwritten (residual) variances are fixed at 0, no covariance is added by itself,
    no loading is fixed to 1, latent means are 0 (``auto.var``, ``auto.cov.lv.x``,
    ``auto.cov.y``, ``auto.fix.first`` off); covariates keep ``fixed.x``. Parameters as
    :func:`fit`, and:

    Parameters
    ----------
    int_ov_free : bool, default False
        Free the intercepts of the observed variables (lavaan's ``int.ov.free``).
    information : {"expected", "observed"}, optional
        Information matrix of the standard errors; by default observed with
        missing values under FIML, expected otherwise. lavaan's ``missing = "ml"``
        uses the observed information also on complete data: pass ``"observed"``.
    start : dict, optional
        Start values of free parameters by ``(lhs, op, rhs)`` (all groups); the
        others start at lavaan's simple values (variances of latent variables 0.05,
        which can be far from the data when no residual variance is free).
    """
    if information not in (None, "expected", "observed"):
        raise ValueError(f"sem.lavaan: information must be 'expected' or 'observed', got {information!r}")
    return _fit(model, data, "lavaan", group, estimator, missing, group_equal, conf_level, meanstructure,
                {"int_ov_free": int_ov_free}, information, start, SeOptions(se, bootstrap, seed, progress))


@dataclass(frozen=True)
class Fitted:
    """What later computations need: the problem, estimates, tables and data."""

    problem: Problem
    theta: np.ndarray
    table: pd.DataFrame
    parsed: ParsedModel
    names: Names
    vcov: np.ndarray
    meanstructure: bool


def _fit(model, data, flavour, group, estimator, missing, group_equal, conf_level, meanstructure,
         switches: dict | None = None, information: str | None = None, start: dict | None = None,
         se_options: SeOptions = SeOptions()) -> SemResult:
    who = {"sem": "sem.fit", "cfa": "sem.cfa", "growth": "sem.growth", "lavaan": "sem.lavaan"}[flavour]
    _check_arguments(who, estimator, missing, conf_level)
    se = _check_se(who, se_options, estimator)
    parsed = parse(model)
    names = variable_names(parsed.formulas)
    groups, labels = _groups(data, names, group, missing, who)
    fiml = any(g.patterns is not None for g in groups)
    options = FLAVOURS[flavour]
    if meanstructure is None:
        meanstructure = (options.meanstructure or fiml or len(groups) > 1
                         or any(f.op == "~1" for f in parsed.formulas))
    elif fiml and not meanstructure:
        raise ValueError(f"{who}: full-information ML (missing values with missing='fiml') needs a mean structure")
    options = replace(options, meanstructure=meanstructure, group_equal=tuple(group_equal), **(switches or {}))
    table = fill_exo(parameter_table(parsed, len(groups), options), names, groups)
    _check_labels(parsed, table, who)
    n_x = len(names.ov_x) if options.fixed_x else 0
    _check_moments(table, len(names.ov), n_x, meanstructure, len(groups), who)
    structures = [Structure.build(table, names, g, meanstructure) for g in range(1, len(groups) + 1)]
    problem = Problem(structures, groups)
    theta, converged, _ = estimation.optimise(problem, _given_start(_start(table, names, groups), table, start))
    kind = information or ("observed" if fiml else "expected")
    information = estimation.information(problem, theta, kind)
    covariance, trouble = estimation.vcov(information, estimation.frame_labels(table))
    fitted = Fitted(problem, theta, table, parsed, names, covariance, meanstructure)
    measures = _measures(fitted, n_x)
    messages = [] if converged else ["the optimiser did not converge: estimates are unreliable"]
    messages += [trouble] if trouble else []
    messages += [f"group {g.label}: EM for the unrestricted model did not converge; chi-square is approximate"
                 for g in groups if not g.em_converged]
    if estimator == "MLR" or se == "robust":
        parts = robust.h1_parts(problem)
        vcov, scaled = robust.mlr(fitted, information, kind, measures, parts)
        if estimator == "MLR":
            measures = pd.concat([measures, scaled])
            measures = pd.concat([measures, robust_fit.robust_indices(problem, theta, measures, n_x > 0, parts)])
        if se == "robust":
            fitted, kind = replace(fitted, vcov=vcov), "observed"
    boot = None
    if se == "bootstrap":
        boot = resampling.run(fitted, se_options.bootstrap, se_options.seed, se_options.progress, who)
        fitted = replace(fitted, vcov=boot.vcov)
        messages += [boot.message()] if boot.failed else []
    names_k = estimation.frame_labels(table)
    return SemResult(
        parameters=parameter_estimates(fitted, conf_level, boot), fit=measures, se=se, bootstrap=boot,
        vcov=pd.DataFrame(fitted.vcov, index=names_k, columns=names_k), groups=labels,
        nobs=[g.n for g in groups], estimator=estimator,
        missing="fiml" if fiml else ("listwise" if missing == "listwise" else "complete"),
        information=kind, converged=converged, warnings=messages, state=fitted)


def _check_arguments(who: str, estimator: str, missing: str, conf_level: float) -> None:
    if estimator not in ESTIMATORS:
        raise ValueError(f"{who}: estimator must be one of {ESTIMATORS}, got {estimator!r}")
    if missing not in MISSING:
        raise ValueError(f"{who}: missing must be one of {MISSING}, got {missing!r}")
    if not 0 < conf_level < 1:
        raise ValueError(f"{who}: conf_level must be in (0, 1), got {conf_level!r}")


def _check_se(who: str, options: SeOptions, estimator: str) -> str:
    """The kind of standard errors (robust by default for MLR), with the bootstrap's settings checked."""
    se = options.se or ("robust" if estimator == "MLR" else "standard")
    if se not in STANDARD_ERRORS:
        raise ValueError(f"{who}: se must be one of {STANDARD_ERRORS}, got {options.se!r}")
    if se == "bootstrap" and (isinstance(options.bootstrap, bool) or not isinstance(options.bootstrap, int)
                              or options.bootstrap < 2):
        raise ValueError(f"{who}: bootstrap must be a whole number of replicates of at least 2, "
                         f"got {options.bootstrap!r}")
    return se


def _check_moments(table: pd.DataFrame, p: int, n_x: int, meanstructure: bool, n_groups: int, who: str) -> None:
    """Refuse more free parameters than sample moments."""
    moments = _moments(p, n_x, meanstructure) * n_groups
    n_par = int(table.free.max()) + 1
    if n_par > moments:
        raise ModelIdentificationError(f"{who}: the model is not identified: {n_par} free parameters but only "
                                       f"{moments} sample moments (variances, covariances"
                                       f"{' and means' if meanstructure else ''} of {p} observed "
                                       "variables); fix or constrain parameters")


def _moments(p: int, n_x: int, meanstructure: bool) -> int:
    """Sample moments of one group (those of fixed covariates excluded)."""
    count = p * (p + 1) // 2 - n_x * (n_x + 1) // 2
    return count + (p - n_x if meanstructure else 0)


def _groups(data: pd.DataFrame, names: Names, group: str | None, missing: str, who: str):
    """Per-group data of the observed variables, checked."""
    if not isinstance(data, pd.DataFrame):
        raise TypeError(f"{who}: data must be a pandas DataFrame, got {type(data).__name__}")
    absent = [v for v in names.ov if v not in data.columns]
    if absent:
        raise io.DataValidationError([io.Problem(v, f"{who}: the model names {v!r}, which is neither a column of "
                                                    "the data nor a latent variable (defined with =~)")
                                      for v in absent])
    if names.lv and set(names.lv) & set(data.columns):
        both = sorted(set(names.lv) & set(data.columns))
        raise ValueError(f"{who}: {both} are latent variables of the model (defined with =~) and also columns "
                         "of the data; rename the latent variables")
    checked = io.model_frame(data, partial=list(names.ov), other=[group] if group else [], who=who).data
    levels = list(pd.unique(checked[group])) if group else [None]
    out = []
    for level in levels:
        rows = checked if group is None else checked[checked[group] == level]
        values = rows[list(names.ov)].to_numpy(float)
        values = values[~np.isnan(values).all(axis=1)]
        if missing == "listwise":
            values = values[~np.isnan(values).any(axis=1)]
        where = f"group {group} = {io._plain(level)!r}: " if group else ""
        p = values.shape[1]
        if len(values) <= p:
            raise ValueError(f"{who}: {where}{len(values)} cases for {p} observed variables; the sample "
                             f"covariance matrix needs at least {p + 1} cases")
        if names.ov_x and np.isnan(values[:, [names.ov.index(x) for x in names.ov_x]]).any():
            raise ValueError(f"{who}: {where}covariates {list(names.ov_x)} have missing values; exogenous "
                             "covariates must be complete (drop those cases or model the covariates)")
        _check_covariance(values, names.ov, where, who)
        out.append(GroupData.from_values(level, values, fiml=missing == "fiml"))
    return out, levels


def _check_covariance(values: np.ndarray, ov: tuple, where: str, who: str) -> None:
    """A sample covariance matrix that is not positive definite names the constant or collinear variables."""
    complete = values[~np.isnan(values).any(axis=1)]
    if len(complete) > values.shape[1]:
        try:
            io.check_design(np.column_stack([np.ones(len(complete)), complete]), ["Intercept", *ov],
                            who=f"{who}: {where}sample covariance matrix not positive definite")
        except io.DataValidationError as error:
            raise ValueError(str(error)) from None
    else:
        constant = [v for v, column in zip(ov, values.T) if np.nanstd(column) == 0]
        if constant:
            raise ValueError(f"{who}: {where}{constant} constant: the sample covariance matrix is not "
                             "positive definite")


def _check_labels(parsed: ParsedModel, table: pd.DataFrame, who: str) -> None:
    known = set(table.label) - {""}
    for definition in parsed.definitions:
        unknown = [label for label in definition.labels if label not in known]
        if unknown:
            raise ValueError(f"{who}: defined parameter {definition.name!r} uses {unknown}, which label no "
                             "parameter of the model")


def _start(table: pd.DataFrame, names: Names, groups: list) -> np.ndarray:
    """lavaan's simple start values: loadings 1, regressions and covariances 0, residual variances
    half the sample variance, latent variances 0.05, intercepts the sample means, latent means 0."""
    n_par = int(table.free.max()) + 1
    theta = np.zeros(n_par)
    seen = set()
    index = {v: i for i, v in enumerate(names.ov)}
    for lhs, op, rhs, group, free in table[["lhs", "op", "rhs", "group", "free"]].itertuples(index=False):
        if free < 0 or free in seen:
            continue
        seen.add(free)
        data = groups[group - 1]
        if op == "=~":
            theta[free] = 1.0
        elif op == "~~" and lhs == rhs:
            theta[free] = 0.5 * data.cov[index[lhs], index[lhs]] if lhs in index else 0.05
        elif op == "~1" and lhs in index:
            theta[free] = data.mean[index[lhs]]
    return theta


def _given_start(theta: np.ndarray, table: pd.DataFrame, start: dict | None) -> np.ndarray:
    """Start values given by ``(lhs, op, rhs)`` replace the simple ones."""
    if not start:
        return theta
    theta = theta.copy()
    for lhs, op, rhs, free in table[["lhs", "op", "rhs", "free"]].itertuples(index=False):
        if free >= 0 and (lhs, op, rhs) in start:
            theta[free] = start[(lhs, op, rhs)]
    return theta


def _measures(fitted: Fitted, n_x: int) -> pd.Series:
    """Fit measures; with fixed covariates the log-likelihoods are conditional on them, as lavaan's."""
    problem = fitted.problem
    groups = problem.groups
    p = len(fitted.names.ov)
    implied = [s.moments(fitted.theta) for s in problem.structures]
    if not fitted.meanstructure:
        implied = [(g.mean, sigma) for g, (_, sigma) in zip(groups, implied)]
    base_npar = (p - n_x) * (2 if fitted.meanstructure else 1) * len(groups)
    x_index = [fitted.names.ov.index(x) for x in fitted.names.ov_x] if n_x else []
    covariates = sum(_covariate_loglik(g, x_index) for g in groups)
    return fit_measures(
        loglik=problem.loglik(fitted.theta) - covariates,
        h1_loglik=sum(g.h1_loglik for g in groups) - covariates,
        base_loglik=sum(baseline_loglik(g, x_index) for g in groups) - covariates, npar=problem.n_par,
        moments=_moments(p, n_x, fitted.meanstructure) * len(groups), base_npar=base_npar,
        n=problem.n_total, groups=len(groups), srmr_value=srmr(groups, implied, fitted.meanstructure))


def _covariate_loglik(group: GroupData, x_index: list) -> float:
    """Normal log-likelihood of the fixed covariates (observed variables ``x_index``) at their sample moments."""
    if not x_index:
        return 0.0
    cov = group.cov[np.ix_(x_index, x_index)]
    return -group.n / 2 * (len(x_index) * np.log(2 * np.pi) + np.linalg.slogdet(cov)[1] + len(x_index))
