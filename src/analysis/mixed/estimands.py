r"""Estimated marginal means and their contrasts (as R's emmeans) and type III F tests (as
lmerTest's ``anova``), built on the variance pieces of :mod:`.inference`.

An F test of :math:`L \beta = 0` with :math:`L` of several rows follows lmerTest's
``contestMD``: :math:`L C L' = P D P'`, the rows of :math:`P'L` are independent
t statistics with Satterthwaite df :math:`\nu_m`, :math:`F` is the mean of their
squares and its denominator df is :math:`2E / (E - q)` with
:math:`E = \sum_m \nu_m / (\nu_m - 2)`. With ``ddf="kenward-roger"`` the pieces are
pbkrtest's (:mod:`.kenward`): means and contrasts take its adjusted covariance and
``Lb_ddf`` df (emmeans' ``lmer.df = "kenward-roger"``), and an F test is ``KRmodcomp``'s
scaled F with its df (lmerTest's ``anova(ddf = "Kenward-Roger")``).

Means and contrasts of a GLMM (:func:`~analysis.mixed.fit_glmm`) come from the same
reference grid (the offset at its mean), with the fit's covariance of the fixed effects
and asymptotic z tests (df = inf), as emmeans gives for ``glmer`` fits; on the response
scale means go through the inverse link and contrasts of a log or logit link become
ratios, their SEs by the delta method. Dunnett's adjustment is emmeans' ``"dunnettx"``
(:func:`_pdunnx`).
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

import numpy as np
import pandas as pd
import patsy
from scipy import optimize, stats

from .formula import _code_names
from .glmm import GlmmResult
from .inference import _fit_variance_pieces, _Satterthwaite
from .kenward import _kenward_roger, _KenwardRoger
from .mmrm import DDF_METHODS as MMRM_DDF_METHODS
from .mmrm import MmrmResult
from .pirls import _family
from .result import LmmResult


#: Denominator-df methods of :func:`emmeans`, :func:`contrast` and :func:`anova`.
DDF_METHODS = ("satterthwaite", "kenward-roger")

#: lmerTest's names of the df methods in the heading of its anova table.
ANOVA_METHODS = {"satterthwaite": "Satterthwaite's", "kenward-roger": "Kenward-Roger's", "residual": "residual df"}

#: Contrast families of :func:`contrast` (emmeans' ``method``).
CONTRAST_METHODS = ("trt.vs.ctrl", "pairwise")

#: Multiplicity adjustments of :func:`contrast` (emmeans' ``adjust``; "dunnett" is its "dunnettx").
ADJUSTMENTS = ("none", "bonferroni", "holm", "dunnett")

#: Scales of :func:`emmeans` and :func:`contrast` (emmeans' ``type``); the same for a linear model.
TYPES = ("link", "response")

#: Links whose contrasts emmeans back-transforms to ratios: link -> the contrasts' scale.
RATIO_SCALES = {"logit": "log odds ratio", "log": "log"}

#: Absolute tolerance of the root of Dunnett's critical value (emmeans' uniroot stops at 5e-4).
DUNNETT_XTOL = 1e-10

#: Confidence level of the intervals (emmeans' default).
LEVEL = 0.95

#: emmeans' ``cov.keep``: a numeric covariate with at most this many distinct values enters
#: the reference grid at each of them (and is averaged over) instead of at its mean.
COV_KEEP = 2

#: lmerTest's (``contestMD``) tolerance on the eigenvalues of Var(L beta), relative to the largest.
EIGEN_TOL = np.sqrt(np.finfo(float).eps)

#: lmerTest's threshold below which a row of a type III hypothesis matrix counts as zero.
ZERO_ROW_TOL = 1e-8

#: Doolittle's (lmerTest's type I hypotheses) threshold below which an entry is set to zero.
DOOLITTLE_EPS = 1e-6

#: Significant digits kept by R's ``zapsmall`` (``getOption("digits")``).
ZAPSMALL_DIGITS = 7

#: emmeans' footnotes of means and contrasts.
EMM_NOTE = ("Degrees-of-freedom method: {}", f"Confidence level used: {LEVEL}")

#: emmeans' ``parens`` option: levels matching this are put in parentheses in contrast labels.
PARENS = re.compile(r"-|\+|/|\*")


def emmeans(fit: LmmResult | GlmmResult, specs: str | list[str], at: dict | None = None,
            ddf: str | None = None, type: str = "link") -> pd.DataFrame:
    """Estimated marginal means, as R's ``emmeans(fit, specs, at = at)`` with ``lmer.df = "satterthwaite"``.

    Parameters
    ----------
    fit : LmmResult or GlmmResult
        A fit of :func:`fit_lmm` or :func:`fit_glmm`.
    specs : str or list of str
        The factor(s) whose levels the means are for, e.g. ``"arm"``.
    at : dict, optional
        Values of the reference grid: column -> value or list of values. A numeric
        variable given several values joins the index (as emmeans' ``by``); a factor
        given levels is restricted to them.
    ddf : {"satterthwaite", "kenward-roger"}, optional
        Default "satterthwaite"; for an MMRM fit (:func:`~analysis.mixed.mmrm`) its own ``ddf``
        (or any of its methods, "residual" too, as mmrm's emmeans support).
        Denominator df: Satterthwaite's (lmerTest) or Kenward-Roger's (pbkrtest: the SE
        from its adjusted covariance, the df its ``Lb_ddf``, as emmeans' ``lmer.df =
        "kenward-roger"``; REML fits only, see :mod:`analysis.mixed.kenward`). A GLMM has none:
        its means are asymptotic (df = inf, z intervals), as emmeans', and it
        takes only the default.
    type : {"link", "response"}, default "link"
        GLMM: the linear-predictor scale, or means through the inverse link
        (probabilities, rates: emmeans' ``type = "response"``; the interval is the
        link-scale interval back-transformed, the SE by the delta method). The same
        for a linear mixed model.

    Returns
    -------
    pandas.DataFrame
        Indexed by the levels of ``specs`` (a MultiIndex with several factors or a
        numeric variable given several values, the first factor varying fastest as
        emmeans lists them); columns ``estimate``, ``se``, ``df`` (by ``ddf``;
        inf for a GLMM) and the 95% t-interval (z for a GLMM) ``ci_low``, ``ci_high``.
        ``attrs["note"]`` holds emmeans' footnotes.

    Raises
    ------
    ValueError
        If ``specs`` names something other than a factor of the fit, or ``at`` a
        variable the fixed effects do not use or a level the factor does not have;
        an unknown ``type``; another ``ddf`` for a GLMM; ``ddf="kenward-roger"`` for an ML
        fit, or grouping factors that link more than ``kenward.MAX_BLOCK_ROWS`` rows.

    Notes
    -----
    The reference grid crosses every factor's levels with each numeric covariate at
    its mean over the fitted rows (at its values if it has at most ``COV_KEEP``
    distinct values, emmeans' ``cov.keep``), unless ``at`` gives values. The grid
    rows are built with patsy from the fit's design, so transformations in the
    formula are applied to the grid values; a mean is the equally weighted average
    of the predictions over the grid rows that share its levels. A GLMM's offset
    enters at its mean over the fitted rows (as emmeans' ``.offset.``) unless
    ``at`` gives values for its column.
    """
    ddf = _default_ddf(fit, ddf)
    _check_type(fit, type, ddf)
    _check_ddf(ddf, fit)
    grid = _reference_grid(fit, specs, at)
    pieces = _pieces(fit, ddf)
    table = _linear_functions(grid.coef, fit, pieces)
    table["estimate"] += grid.offset
    half = stats.t.ppf(0.5 + LEVEL / 2, table["df"]) * table["se"]
    table = table.assign(ci_low=table["estimate"] - half, ci_high=table["estimate"] + half)
    if _scale(fit, type)[1]:
        family = _family(fit.family, fit.link)
        table = _back_transform(table, family.linkinv, family.mu_eta)
    table.index = grid.index()
    table.attrs["note"] = _note(pieces, *_footnotes(fit, type, ddf=ddf))
    return table


def contrast(fit: LmmResult | GlmmResult, specs: str | list[str], at: dict | None = None,
             method: str = "trt.vs.ctrl", ddf: str | None = None,
             adjust: str = "none", type: str = "link") -> pd.DataFrame:
    """Contrasts of estimated marginal means, as R's ``contrast(emmeans(...), method, adjust)``.

    Parameters
    ----------
    fit : LmmResult or GlmmResult
        A fit of :func:`fit_lmm` or :func:`fit_glmm`.
    specs, at
        As in :func:`emmeans`; contrasts are taken within each value of a numeric
        variable given several values in ``at`` (emmeans' ``by``).
    method : {"trt.vs.ctrl", "pairwise"}, default "trt.vs.ctrl"
        ``"trt.vs.ctrl"``: each level minus the first (``"cbt - control"``);
        ``"pairwise"``: every pair, ``"a - b"`` for ``a`` listed before ``b``.
        With several factors in ``specs`` a level is their combination,
        labelled as emmeans does (``"cbt wave10"``: numeric-looking levels get
        their factor's name).
    ddf : {"satterthwaite", "kenward-roger"}, optional
        Denominator df, as in :func:`emmeans` (an MMRM fit's own by default). A GLMM takes only
        the default: its contrasts are z tests (df = inf), as emmeans'.
    adjust : {"none", "bonferroni", "holm", "dunnett"}, default "none"
        Multiplicity adjustment of the p-values and intervals within each ``by``
        group of k contrasts. Bonferroni and Holm: the intervals are Bonferroni
        intervals (emmeans gives Holm's p-values Bonferroni intervals too).
        ``"dunnett"`` is emmeans' ``adjust = "dunnett"``, which it runs as
        ``"dunnettx"`` (and names so in its footnotes): Dunnett's
        many-to-one distribution approximated by :func:`_pdunnx`, per contrast
        with its own df, for p-values and for the critical value of the intervals
        (the root of :func:`_pdunnx` = 0.95, found to ``DUNNETT_XTOL``; emmeans'
        ``uniroot`` stops within 5e-4 of it). The approximation ignores the
        contrasts' correlations; it is meant for ``"trt.vs.ctrl"``, but emmeans applies
        it, and so does this, to any ``method``. One contrast per group is left
        unadjusted (as emmeans).
    type : {"link", "response"}, default "link"
        GLMM: ``"response"`` turns contrasts of a logit link into odds ratios and of
        a log link into ratios (``"cbt / control"``; estimate and limits
        exponentiated, the SE by the delta method, ``z`` and ``p`` those of the
        log ratio, as emmeans' ``type = "response"``); a probit link's contrasts
        stay differences on the probit scale (emmeans: "contrasts are still on
        the probit scale"). The same as ``"link"`` for a linear mixed model.

    Returns
    -------
    pandas.DataFrame
        Indexed by ``contrast`` (and the ``by`` variable); columns ``estimate``,
        ``se``, ``df`` (by ``ddf``), ``t``, ``p`` and the 95% interval
        ``ci_low``, ``ci_high``; for a GLMM ``df`` is inf and ``z`` replaces ``t``.
        ``attrs["note"]`` holds emmeans' footnotes.

    Raises
    ------
    ValueError
        As :func:`emmeans`, for an unknown ``method``, ``adjust`` or ``type``, or
        fewer than two levels to contrast.
    """
    _check_choice("method", method, CONTRAST_METHODS)
    _check_choice("adjust", adjust, ADJUSTMENTS)
    ddf = _default_ddf(fit, ddf)
    _check_type(fit, type, ddf)
    _check_ddf(ddf, fit)
    grid = _reference_grid(fit, specs, at)
    ratio = _scale(fit, type, contrasts=True)[1]
    labels, coef, family = _contrast_rows(grid, method, "/" if ratio else "-")
    pieces = _pieces(fit, ddf)
    table = _linear_functions(coef, fit, pieces)
    statistic = "z" if isinstance(fit, GlmmResult) else "t"
    table[statistic] = table["estimate"] / table["se"]
    size = family.map(family.value_counts()).to_numpy()
    table["p"] = _p_values(table[statistic].to_numpy(), table["df"].to_numpy(), family, size, adjust)
    half = _critical_values(table["df"].to_numpy(), size, adjust) * table["se"]
    table = table.assign(ci_low=table["estimate"] - half, ci_high=table["estimate"] + half)
    if ratio:
        table = _back_transform(table, np.exp, np.exp)
    table.index = labels
    table.attrs["note"] = _note(pieces, *_footnotes(fit, type, adjust, int(size.max()), contrasts=True, ddf=ddf))
    return table


def anova(fit: LmmResult, type: int | str = 3, ddf: str | None = None) -> pd.DataFrame:
    """Type III F tests of the fixed-effect terms, as lmerTest's ``anova(fit, type = 3)``.

    Parameters
    ----------
    fit : LmmResult
        A fit of :func:`fit_lmm`.
    type : {3, "III"}, default 3
        SAS type III hypotheses, built as lmerTest builds them for treatment
        contrasts (patsy's default coding).
    ddf : {"satterthwaite", "kenward-roger"}, optional
        Default "satterthwaite" (an MMRM fit's own ``ddf``). Satterthwaite's (lmerTest's
        ``contestMD``) or Kenward-Roger's: pbkrtest's ``KRmodcomp`` F, scaled by its
        ``F.scaling``, with its df, as lmerTest's ``anova(ddf = "Kenward-Roger")`` reports
        it (REML fits only).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``term`` (patsy term names, the intercept left out); columns
        ``num_df``, ``den_df``, ``F`` and ``p``.

    Raises
    ------
    ValueError
        For another ``type``, or a factor whose coding is not patsy's treatment
        coding; ``ddf="kenward-roger"`` as in :func:`emmeans`.

    Notes
    -----
    lmerTest expresses each term's indicator (full dummy) columns in the model's
    coefficients, orthogonalises the columns of a term against those of the terms
    that contain it (SAS's containment: more factors, the same numeric variables),
    and tests the rows belonging to the term; a model with one term gets type I
    hypotheses (a Doolittle decomposition of :math:`X'X`), as in lmerTest. Each
    multi-row hypothesis is tested as lmerTest's ``contestMD`` does (module notes).
    """
    if isinstance(fit, GlmmResult):
        raise TypeError("anova: type III F tests with Satterthwaite df are lmerTest's, for linear mixed "
                        "models (fit_lmm); for a GLMM (fit_glmm) compare nested fits by a likelihood-ratio "
                        "test of their logLik, or test the term's contrasts with contrast()")
    if type not in (3, "3", "III"):
        raise ValueError(f"type must be 3 (lmerTest's type III), got {type!r}")
    ddf = _default_ddf(fit, ddf)
    _check_ddf(ddf, fit)
    pieces = _pieces(fit, ddf)
    beta = fit.fixed["estimate"].to_numpy()
    rows = {name: _f_test(hypothesis, beta, pieces)
            for name, hypothesis in _type3_hypotheses(fit).items()}
    table = pd.DataFrame.from_dict(rows, orient="index", columns=["num_df", "den_df", "F", "p"])
    table.index.name = "term"
    table.attrs["note"] = _note(pieces, f"Type III Analysis of Variance Table with {ANOVA_METHODS[ddf]} method")
    return table.astype({"num_df": int})


def _check_choice(name: str, value, choices: tuple) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


def _check_ddf(ddf: str, fit=None) -> None:
    _check_choice("ddf", ddf, tuple(MMRM_DDF_METHODS) if isinstance(fit, MmrmResult) else DDF_METHODS)


def _default_ddf(fit, ddf: str | None) -> str:
    """``ddf`` as given, else an MMRM fit's own method, else "satterthwaite"."""
    if ddf is not None:
        return ddf
    return fit.ddf if isinstance(fit, MmrmResult) else "satterthwaite"


def _check_type(fit: LmmResult | GlmmResult, type: str, ddf: str) -> None:
    """A known ``type``; a GLMM takes no denominator-df method (its tests are asymptotic)."""
    _check_choice("type", type, TYPES)
    if isinstance(fit, GlmmResult) and ddf != "satterthwaite":
        raise ValueError(f"ddf={ddf!r} does not apply to a GLMM ({fit.family}, {fit.link} link): its means "
                         "and contrasts are asymptotic z tests (df = inf), as emmeans gives for glmer fits; "
                         "leave ddf at its default")


@dataclass(frozen=True)
class _Asymptotic:
    """A GLMM's variance pieces: the fit's covariance of beta and infinite df (emmeans' z tests)."""

    cov_beta: np.ndarray
    messages: tuple = ()

    variance = _Satterthwaite.variance

    def df(self, contrasts: np.ndarray) -> np.ndarray:
        """Infinite df for each row of ``contrasts``."""
        return np.full(len(contrasts), np.inf)


def _pieces(fit: LmmResult | GlmmResult, ddf: str) -> _Satterthwaite | _KenwardRoger | _Asymptotic:
    """The variance pieces of a fit: Satterthwaite's or Kenward-Roger's (``ddf``) for a linear mixed
    model, asymptotic for a GLMM."""
    if isinstance(fit, GlmmResult):
        return _Asymptotic(fit.cov_beta.to_numpy())
    if isinstance(fit, MmrmResult):
        return fit.pieces(ddf)
    return _kenward_roger(fit) if ddf == "kenward-roger" else _fit_variance_pieces(fit)


def _scale(fit: LmmResult | GlmmResult, type: str, contrasts: bool = False) -> tuple[str | None, bool]:
    """The scale results are on before any back-transformation (None for a linear model), and
    whether they are back-transformed: GLMM means with ``type="response"``, and their contrasts
    if the link makes them ratios."""
    if not isinstance(fit, GlmmResult):
        return None, False
    scale = RATIO_SCALES.get(fit.link, fit.link) if contrasts else fit.link
    return scale, type == "response" and (not contrasts or fit.link in RATIO_SCALES)


def _footnotes(fit: LmmResult | GlmmResult, type: str, adjust: str = "none", size: int = 0,
               contrasts: bool = False, ddf: str = "satterthwaite") -> list[str]:
    """emmeans' footnotes in its order: the scale (or df method), the confidence level and its
    adjustment, the back-transformation, the p-value adjustment and the scale of the tests."""
    scale, back = _scale(fit, type, contrasts)
    if scale is None:
        head = [EMM_NOTE[0].format(ddf)]
    elif contrasts and fit.link not in RATIO_SCALES:
        head = [f"Note: contrasts are still on the {fit.link} scale"]
    else:
        head = [] if back else [f"Results are given on the {scale} (not the response) scale."]
    method = "dunnettx" if adjust == "dunnett" else adjust
    intervals = "dunnettx" if adjust == "dunnett" else "bonferroni"
    adjusted = adjust != "none"
    return [*head, EMM_NOTE[1],
            *([f"Conf-level adjustment: {intervals} method for {size} estimates"] if adjusted else []),
            *([f"Intervals are back-transformed from the {scale} scale"] if back else []),
            *([f"P value adjustment: {method} method for {size} tests"] if adjusted else []),
            *([f"Tests are performed on the {scale} scale"] if back and contrasts else [])]


def _back_transform(table: pd.DataFrame, inverse, derivative) -> pd.DataFrame:
    """emmeans' back-transformation: estimate and limits through ``inverse`` (increasing), the SE
    by the delta method (times ``derivative`` at the estimate)."""
    estimate = table["estimate"].to_numpy()
    return table.assign(estimate=inverse(estimate), se=table["se"] * np.abs(derivative(estimate)),
                        ci_low=inverse(table["ci_low"].to_numpy()), ci_high=inverse(table["ci_high"].to_numpy()))


def _note(pieces: _Satterthwaite, *lines: str) -> str:
    """Footnotes as emmeans and lmerTest print them, then any warnings about the deviance Hessian."""
    return "\n".join([*lines, *pieces.messages])


def _linear_functions(coef: np.ndarray, fit: LmmResult, pieces: _Satterthwaite) -> pd.DataFrame:
    """Estimate, SE and df (the pieces' method) of the linear functions ``coef @ beta`` (one per row)."""
    return pd.DataFrame({"estimate": coef @ fit.fixed["estimate"].to_numpy(),
                         "se": np.sqrt(pieces.variance(coef)),
                         "df": pieces.df(coef)})


# --- the reference grid ------------------------------------------------------------------------

@dataclass(frozen=True)
class _Grid:
    """Estimated marginal means as linear functions of beta.

    Attributes
    ----------
    levels : pandas.DataFrame
        One row per mean, one column per factor of ``specs`` then per ``by``
        variable, in emmeans' order (first column fastest).
    coef : numpy.ndarray
        The averaged design rows (one per mean, p columns).
    specs, by : list of str
    offset : numpy.ndarray
        The averaged offset of each mean (a GLMM's; zero without one).
    """

    levels: pd.DataFrame
    coef: np.ndarray
    specs: list[str]
    by: list[str]
    offset: np.ndarray

    def index(self) -> pd.Index:
        """The levels as an index: plain for one column, a MultiIndex for several."""
        if len(self.levels.columns) == 1:
            return pd.Index(self.levels.iloc[:, 0], name=self.levels.columns[0])
        return pd.MultiIndex.from_frame(self.levels)


def _reference_grid(fit: LmmResult, specs: str | list[str], at: dict | None) -> _Grid:
    """emmeans' reference grid of a fit, averaged over everything but ``specs`` and ``by``."""
    variables = _grid_variables(fit)
    specs = _check_specs(specs, variables)
    at = _check_at(at, variables)
    values = _grid_values(fit, variables, at)
    by = [name for name in at if variables[name] is None and len(at[name]) > 1]
    grid = pd.MultiIndex.from_product(list(values.values()), names=list(values)).to_frame(index=False)
    (design,) = patsy.build_design_matrices([fit.design_info], grid, NA_action="raise",
                                            return_type="matrix")
    offset = _offset(fit)
    design = np.column_stack([design, grid[offset] if offset else np.zeros(len(grid))])
    keys = specs + by
    combos = [combo[::-1] for combo in itertools.product(*(values[k] for k in reversed(keys)))]
    coef = np.array([design[np.all(grid[keys].to_numpy() == np.array(combo, dtype=object), axis=1)]
                     .mean(axis=0) for combo in combos])
    return _Grid(pd.DataFrame(combos, columns=keys), coef[:, :-1], specs, by, coef[:, -1])


def _offset(fit: LmmResult | GlmmResult) -> str | None:
    """The offset column of a GLMM, None without one."""
    return getattr(fit, "offset", None)


def _grid_variables(fit: LmmResult | GlmmResult) -> dict:
    """The data columns the fixed effects (and a GLMM's offset) use: name -> the levels of a factor,
    or None if numeric."""
    variables = {_offset(fit): None} if _offset(fit) else {}
    for factor, info in fit.design_info.factor_infos.items():
        for name in _code_names(factor.code):
            if name not in fit.data.columns:
                continue
            if info.type == "categorical":
                variables[name] = tuple(info.categories)
            else:
                variables.setdefault(name, None)
    return variables


def _factors(variables: dict) -> str:
    return ", ".join(name for name, levels in variables.items() if levels is not None) or "none"


def _check_specs(specs: str | list[str], variables: dict) -> list[str]:
    names = [specs] if isinstance(specs, str) else list(specs)
    if not names or len(set(names)) != len(names):
        raise ValueError(f"specs must name distinct factors of the fit, got {specs!r}; "
                         f"the fit's factors: {_factors(variables)}")
    for name in names:
        if name not in variables:
            raise ValueError(f"specs: {name!r} is not a factor of the fit; "
                             f"the fit's factors: {_factors(variables)}")
        if variables[name] is None:
            raise ValueError(f"specs: {name!r} is a numeric variable of the fit, not a factor; give its "
                             f"values in at= instead; the fit's factors: {_factors(variables)}")
    return names


def _check_at(at: dict | None, variables: dict) -> dict:
    """``at`` as name -> list of values, checked against the fit's variables and levels."""
    if at is None:
        return {}
    if not isinstance(at, dict):
        raise TypeError(f"at must be a dict (column -> value or list of values), got {type(at).__name__}")
    checked = {}
    for name, value in at.items():
        if name not in variables:
            raise ValueError(f"at: {name!r} is not a variable of the fit's fixed effects "
                             f"({', '.join(variables)}); the fit's factors: {_factors(variables)}")
        values = list(np.atleast_1d(np.asarray(value, dtype=object)))
        levels = variables[name]
        if not values:
            raise ValueError(f"at: no values given for {name!r}")
        if levels is None and not all(_is_number(v) for v in values):
            raise ValueError(f"at: {name!r} is numeric in the fit; give numbers, got {value!r}")
        unknown = [v for v in values if levels is not None and v not in levels]
        if unknown:
            raise ValueError(f"at: {unknown!r} not among the levels of {name!r} ({list(levels)})")
        checked[name] = [float(v) for v in values] if levels is None else values
    return checked


def _is_number(value) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, bool) and np.isfinite(value)


def _grid_values(fit: LmmResult, variables: dict, at: dict) -> dict:
    """Each variable's values in the grid: ``at``'s, a factor's levels, or a covariate's (or the
    offset's) mean."""
    values = {}
    for name, levels in variables.items():
        if name in at:
            values[name] = at[name]
        elif levels is not None:
            values[name] = list(levels)
        elif name == _offset(fit):
            values[name] = [float(fit.data[name].mean())]
        else:
            distinct = np.unique(fit.data[name].to_numpy(dtype=float))
            values[name] = list(distinct) if len(distinct) <= COV_KEEP else [float(fit.data[name].mean())]
    return values


# --- contrasts ---------------------------------------------------------------------------------

def _contrast_rows(grid: _Grid, method: str, operator: str = "-") -> tuple[pd.Index, np.ndarray, pd.Series]:
    """Labels (``"a - b"``, or ``"a / b"`` for ratios), coefficient rows and family (``by`` group
    number) of each contrast."""
    by_values = [tuple(row) for row in grid.levels[grid.by].to_numpy(dtype=object)]
    spec_labels = [" ".join(combo) for combo in _spec_labels(grid).itertuples(index=False)]
    labels, coefs, family = [], [], []
    for number, group in enumerate(dict.fromkeys(by_values)):
        rows = [i for i, value in enumerate(by_values) if value == group]
        names = [spec_labels[i] for i in rows]
        if len(names) < 2:
            raise ValueError(f"specs: {grid.specs} have {len(names)} level(s) in the grid; contrasts "
                             "need at least two")
        for first, second in _pairs(len(names), method):
            labels.append((f"{_parens(names[first])} {operator} {_parens(names[second])}", *group))
            coefs.append(grid.coef[rows[first]] - grid.coef[rows[second]])
            family.append(number)
    index = (pd.MultiIndex.from_tuples(labels, names=["contrast", *grid.by]) if grid.by
             else pd.Index([label[0] for label in labels], name="contrast"))
    return index, np.array(coefs), pd.Series(family)


def _pairs(k: int, method: str) -> list[tuple[int, int]]:
    """(minuend, subtrahend) positions: each level minus the first, or every pair in order."""
    if method == "trt.vs.ctrl":
        return [(i, 0) for i in range(1, k)]
    return list(itertools.combinations(range(k), 2))


def _spec_labels(grid: _Grid) -> pd.DataFrame:
    """Level labels of the ``specs`` columns; numeric-looking levels prefixed with their factor's
    name (``"wave10"``), as emmeans' ``enhance.levels`` does."""
    labels = grid.levels[grid.specs].map(_level_label)
    for name in grid.specs:
        if pd.to_numeric(labels[name], errors="coerce").notna().all():
            labels[name] = name + labels[name]
    return labels


def _level_label(value) -> str:
    return format(value, "g") if isinstance(value, (float, np.floating)) else str(value)


def _parens(label: str) -> str:
    return f"({label})" if PARENS.search(label) else label


def _adjust(p: np.ndarray, adjust: str) -> np.ndarray:
    """Bonferroni's or Holm's (step-down) adjustment of a family of p-values."""
    m = len(p)
    if adjust == "bonferroni":
        return np.minimum(1.0, m * p)
    if adjust == "holm":
        order = np.argsort(p)
        stepped = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
        return stepped[np.argsort(order)]
    return p


def _p_values(t: np.ndarray, df: np.ndarray, family: pd.Series, size: np.ndarray, adjust: str) -> np.ndarray:
    """Two-sided p-values of t (z with df = inf), adjusted within each family of ``size`` contrasts."""
    raw = pd.Series(2 * stats.t.sf(np.abs(t), df))
    if adjust == "dunnett":
        return np.where(size > 1, 1 - _pdunnx(np.abs(t), size, df), raw)
    return raw.groupby(family).transform(lambda p: _adjust(p.to_numpy(), adjust)).to_numpy()


def _critical_values(df: np.ndarray, size: np.ndarray, adjust: str) -> np.ndarray:
    """Critical values of the intervals: t's, Dunnett's (:func:`_qdunnx`), or Bonferroni's for
    Bonferroni's and Holm's p-values."""
    if adjust == "dunnett":
        return np.array([_qdunnx(LEVEL, k, nu) for k, nu in zip(size, df)])
    alpha = (1 - LEVEL) / (size if adjust != "none" else 1)
    return stats.t.ppf(1 - alpha / 2, df)


def _pdunnx(x, k, df):
    r"""emmeans' ``.pdunnx``: P(max_j |t_j| <= x) for k contrasts with a control, approximated.

    A mix, with weight (k - 1) / k, of the studentized range (Tukey) probability of
    :math:`\sqrt{2} x` for :math:`(1 + \sqrt{1 + 8k}) / 2` means (k pairs) and
    Sidak's :math:`P(|t| \le x)^k`; df may be inf.
    """
    tukey = stats.studentized_range.cdf(np.sqrt(2) * x, (1 + np.sqrt(1 + 8 * k)) / 2, df)
    sidak = (1 - 2 * stats.t.sf(x, df)) ** k
    weight = (k - 1) / k
    return weight * tukey + (1 - weight) * sidak


def _qdunnx(p: float, k: int, df: float) -> float:
    """emmeans' ``.qdunnx``: the x with ``_pdunnx(x, k, df) = p``, t's quantile for one contrast.

    The root lies between t's two-sided quantile and Bonferroni's; it is found to
    ``DUNNETT_XTOL`` (emmeans' ``uniroot`` stops within its tolerance, 5e-4).
    """
    low = stats.t.ppf(0.5 + p / 2, df)
    if k < 2:
        return float(low)
    high = stats.t.ppf(1 - (1 - p) / (2 * k), df) + 1
    return optimize.brentq(lambda x: _pdunnx(x, k, df) - p, low, high, xtol=DUNNETT_XTOL)


# --- type III F tests (lmerTest) ---------------------------------------------------------------

def _f_test(hypothesis: np.ndarray, beta: np.ndarray, pieces: _Satterthwaite | _KenwardRoger) -> tuple:
    """lmerTest's ``contestMD``: (num df, den df, F, p) of L beta = 0, L reduced to its q independent
    rows (the eigenvectors of Var(L beta) with eigenvalues above ``EIGEN_TOL`` of the largest)."""
    values, vectors = np.linalg.eigh(hypothesis @ pieces.cov_beta @ hypothesis.T)
    values, vectors = values[::-1], vectors[:, ::-1]
    keep = values > max(EIGEN_TOL * values[0], 0)
    rotated = vectors[:, keep].T @ hypothesis
    q = int(keep.sum())
    f_value, den_df = pieces.f_test(rotated, beta)
    return q, den_df, f_value, float(stats.f.sf(f_value, q, den_df))


def _type3_hypotheses(fit: LmmResult) -> dict[str, np.ndarray]:
    """lmerTest's type III hypothesis matrix of each term (``extract_contrasts_type3``)."""
    info = fit.design_info
    (X,) = patsy.build_design_matrices([info], fit.data, NA_action="raise", return_type="matrix")
    X = np.asarray(X)
    terms = [term for term in info.terms if term.factors]
    if X.shape[1] <= 1 or len(terms) <= 1:
        return _type1_hypotheses(X, info, terms)
    _check_treatment(info)
    dummies = {term: _full_dummies(term, fit.data) for term in info.terms}
    basic = _zapsmall(np.linalg.lstsq(X, np.column_stack(list(dummies.values())), rcond=None)[0].T)
    columns = np.arange(X.shape[1])
    containing = _containment(info, terms)
    for term in sorted(terms, key=lambda t: len(t.factors), reverse=True):
        if containing[term]:
            own = basic[:, info.term_slices[term]]
            others = basic[:, np.concatenate([columns[info.term_slices[t]] for t in containing[term]])]
            basic[:, info.term_slices[term]] = _zapsmall(
                own - others @ np.linalg.lstsq(others, own, rcond=None)[0])
    square = basic[_coefficient_rows(X, dummies, info)]
    hypotheses = {}
    for term in terms:
        rows = square[:, info.term_slices[term]].T
        hypotheses[term.name()] = rows[np.abs(rows).sum(axis=1) > ZERO_ROW_TOL]
    return hypotheses


def _type1_hypotheses(X: np.ndarray, info: patsy.DesignInfo, terms: list) -> dict[str, np.ndarray]:
    """lmerTest's type I hypotheses: the rows of t(L) of the Doolittle decomposition X'X = L U."""
    upper = np.linalg.cholesky(X.T @ X).T
    unit = upper / np.diag(upper)[:, None]
    unit[np.abs(unit) < DOOLITTLE_EPS] = 0.0
    return {term.name(): unit[info.term_slices[term]] for term in terms}


def _full_dummies(term: patsy.Term, data: pd.DataFrame) -> np.ndarray:
    """R's ``model.matrix(~ 0 + term)``: a column per cell of the term's factors (times its covariates)."""
    return np.asarray(patsy.dmatrix(patsy.ModelDesc([], [term]), data, NA_action="raise",
                                    return_type="matrix"))


def _coefficient_rows(X: np.ndarray, dummies: dict, info: patsy.DesignInfo) -> np.ndarray:
    """For each column of X, the indicator column (of its term) it equals: lmerTest's ``L[colnames(X), ]``."""
    rows, offset = np.empty(X.shape[1], dtype=int), 0
    for term, full in dummies.items():
        for j in np.arange(X.shape[1])[info.term_slices[term]]:
            rows[j] = offset + next(k for k in range(full.shape[1])
                                    if np.allclose(full[:, k], X[:, j], rtol=1e-12, atol=0))
        offset += full.shape[1]
    return rows


def _check_treatment(info: patsy.DesignInfo) -> None:
    """Refuse factors not coded by indicators (patsy's ``Treatment``), which lmerTest would remap."""
    for term, subterms in info.term_codings.items():
        for subterm in subterms:
            for factor, coding in subterm.contrast_matrices.items():
                if not (np.isin(coding.matrix, (0, 1)).all() and (coding.matrix.sum(axis=0) == 1).all()):
                    raise ValueError(f"type III tests need treatment-coded factors (patsy's default); "
                                     f"{factor.name()!r} in term {term.name()!r} is coded otherwise")


def _containment(info: patsy.DesignInfo, terms: list) -> dict:
    """The terms containing each term, by SAS's definition as lmerTest applies it (``term_contain``).

    F1 is contained in F2 if F2 has every variable of F1 and more, and the same numeric
    variables. A term's variables are those R's ``terms()`` codes 1 (with contrasts):
    dropping the variable leaves nothing, or a part of an earlier term (R's ``TermCode``).
    """
    variables = {}
    for i, term in enumerate(terms):
        earlier = [set(t.factors) for j, t in enumerate(terms)
                   if len(t.factors) < len(term.factors) or (len(t.factors) == len(term.factors) and j < i)]
        variables[term] = {f for f in term.factors
                           if not set(term.factors) - {f}
                           or any(set(term.factors) - {f} <= e for e in earlier)}
    numeric = {term: {f for f in vs if info.factor_infos[f].type == "numerical"}
               for term, vs in variables.items()}
    return {term: [other for other in terms
                   if variables[term] < variables[other] and numeric[term] == numeric[other]]
            for term in terms}


def _zapsmall(x: np.ndarray) -> np.ndarray:
    """R's ``zapsmall``: round to ``ZAPSMALL_DIGITS`` significant digits of the largest entry."""
    largest = np.max(np.abs(x), initial=0.0)
    if largest == 0:
        return x
    return np.round(x, max(0, ZAPSMALL_DIGITS - int(np.ceil(np.log10(largest)))))
