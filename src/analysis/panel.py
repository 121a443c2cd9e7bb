r"""Random-intercept cross-lagged panel models (RI-CLPM), fitted as lavaan fits them.

Does self-efficacy (SE) at one wave predict symptoms at the next, or the other way
round? :func:`riclpm` fits the random-intercept cross-lagged panel model of
Hamaker, Kuiper & Grasman (2015) for two variables ``x`` and ``y`` (and optionally a
third, ``z``) measured at waves :math:`t = 1, \dots, T`:

.. math::

   x_{it} &= \mu_{xt} + RI_{xi} + w_{x,it}, \qquad
   y_{it} = \mu_{yt} + RI_{yi} + w_{y,it} \\
   w_{x,it} &= \alpha\, w_{x,i,t-1} + \beta\, w_{y,i,t-1} + u_{x,it} \\
   w_{y,it} &= \gamma\, w_{x,i,t-1} + \delta\, w_{y,i,t-1} + u_{y,it}

The random intercepts :math:`RI` hold each person's stable level (their covariance
is the *between-person* part); the within-person deviations :math:`w` follow a VAR(1)
whose lagged effects are ``x_on_x`` (:math:`\alpha`), ``x_on_y`` (:math:`\beta`, y at
t-1 -> x at t), ``y_on_x`` (:math:`\gamma`, x at t-1 -> y at t) and ``y_on_y``
(:math:`\delta`) (with ``z``: the nine effects ``a_on_b`` of a 3 x 3 lag matrix), held
equal over waves or free per wave. Wave-1 deviations and the later innovations
:math:`u_t` have free covariances per wave, the wave means :math:`\mu` are free, and
the random intercepts are uncorrelated with the wave-1 deviations. :func:`clpm` fits
the classic cross-lagged panel model: the same model without random intercepts, in
which stable differences between people leak into the lagged effects.

Time-invariant ``covariates`` predict the between part, the random intercepts
(``RIx + RIy ~ age + female``; in the CLPM the wave-1 components, ``wx1 + wy1 ~ age +
female``); ``groups`` fits one model per group (e.g. arm) with every parameter free
in each group (multi-group), or with the lagged effects held equal across the groups
(``equal_groups=True``); :func:`lrt` tests such nested models against each other
(do the lags differ between arms?).

Estimation
----------
The model is written in lavaan syntax as Mulder & Hamaker (2021) write it
(:func:`syntax`) and fitted by :func:`analysis.sem.fitting.lavaan`, lavaan's
``lavaan(model, missing = "ml", meanstructure = TRUE, int.ov.free = TRUE)``:
maximum likelihood with missing waves by full-information ML (people with no
observed value are dropped), observed-information standard errors (or MLR:
Huber-White standard errors and the Yuan-Bentler scaled chi-square), the chi-square
against the unrestricted model estimated by EM, CFI and TLI against lavaan's
independence baseline, RMSEA and SRMR. Estimation is without bounds, as in lavaan,
so a negative variance (Heywood case) can appear and is reported in ``warnings``.
Standardized lagged effects (lavaan's ``std.all``) scale a lag by the model-implied
SDs of the within-person predictor and outcome at their waves; their standard
errors, the random-intercept correlation and :func:`directions` use the delta method
on the covariance matrix of the estimates.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from itertools import combinations_with_replacement

import numpy as np
import pandas as pd

from . import io
from .sem.estimation import ConvergenceFailure, ModelIdentificationError, jacobian
from .sem.fitting import lavaan
from .sem.invariance import lrt as sem_lrt
from .sem.result import SemResult, wald
from .sem.standardized import std_all

__all__ = ["PanelResult", "riclpm", "clpm", "compare", "directions", "lrt", "syntax", "LAGS"]

#: Lagged effects of two variables: name -> (outcome, predictor); 0 is x, 1 is y.
LAGS = {"x_on_x": (0, 0), "x_on_y": (0, 1), "y_on_x": (1, 0), "y_on_y": (1, 1)}
#: A random-intercept variance below this share of the variable's variance is called ~0.
BOUNDARY_SHARE = 1e-3
#: The fit measures of a result, with the names this module has always used.
FIT_NAMES = {"logl": "loglik", "unrestricted_logl": "unrestricted_loglik", "ntotal": "nobs"}
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True, eq=False)
class PanelResult:
    """A fitted (RI-)CLPM, laid out like lavaan's ``summary()`` and ``fitMeasures()``.

    Attributes
    ----------
    model : str
        ``"RI-CLPM"`` or ``"CLPM"``.
    x, y : str
        The two variables; ``x_on_y`` is the effect of ``y`` at wave t-1 on ``x``
        at wave t, ``y_on_x`` that of ``x`` on later ``y``.
    waves : list
        Wave labels in order (the data's ``wave`` values).
    equal_lags : bool
        Whether the lagged effects are held equal over waves.
    equal_groups : bool
        Whether each lagged effect is held equal across the groups (test it against
        the model with lags free per group with :func:`lrt`).
    lagged : pandas.DataFrame
        Lagged effects (unstandardized): index ``effect`` (``x_on_x``, ``x_on_y``,
        ``y_on_x``, ``y_on_y``; with ``z`` also ``x_on_z``, ``z_on_x``, ...), or
        ``(effect, wave)`` with free lags (``wave`` is the later wave); columns
        ``estimate``, ``se``, ``z``, ``p``, ``ci_low``, ``ci_high`` (Wald).
    standardized : pandas.DataFrame
        lavaan's ``std.all`` lagged effects, index ``(effect, wave)`` for every
        transition, same columns (delta-method standard errors).
    between : pandas.DataFrame
        Random-intercept variances and covariances (index ``var_x``, ``var_y``,
        ``cov``; with ``z``: ``var_z``, ``cov_xy``, ``cov_xz``, ``cov_yz``) and the
        correlations (``corr``, or ``corr_xy`` ...); empty for the CLPM. With
        covariates these are residual (co)variances.
    within : pandas.DataFrame
        Index ``(quantity, wave)`` with quantity ``var_x``, ``var_y``, ``cov`` (with
        ``z`` as in ``between``): at the first wave the within-person
        (co)variances, later the innovation (residual) (co)variances.
    means : pandas.DataFrame
        Wave means of the variables (index ``(variable, wave)``) with standard errors.
    covariates : pandas.DataFrame
        Effects of the covariates (index ``(outcome, covariate)``, outcomes ``RIx``
        .. or, in the CLPM, ``wx1`` ..); empty without covariates.
    parameters : pandas.DataFrame
        Every free parameter as in lavaan's ``parameterEstimates()``: ``lhs``,
        ``op``, ``rhs``, ``group``, ``label``, ``estimate``, ``se``, ``z``, ``p``,
        ``ci_low``, ``ci_high``, ``std_all``; variables named by position (``x1`` ..
        ``xT``, within components ``wx1`` .., random intercepts ``RIx``, ``RIy``).
    fit : pandas.Series
        lavaan's ``fitMeasures()`` (:attr:`analysis.sem.SemResult.fit`), with
        ``loglik``, ``unrestricted_loglik`` and ``nobs`` for lavaan's ``logl``,
        ``unrestricted.logl`` and ``ntotal``.
    vcov : pandas.DataFrame
        Covariance matrix of the free parameters.
    sem : analysis.sem.SemResult
        The fitted model of the SEM engine (its ``state`` holds the estimates and
        the parameter table from which further quantities are derived).
    converged : bool
    warnings : list of str
        Convergence, inadmissible (negative variance, not positive definite) and
        boundary warnings, and dropped people.
    nobs, n_dropped, n_patterns : int
        People used, people dropped (no observed value), missingness patterns.
    conf_level : float
    z : str or None
        The third variable, if any.
    groups : list
        Group values of a multi-group model (``[None]`` for one group); with
        several groups every table has a leading ``group`` index level.
    estimator : str
        ``"ML"`` or ``"MLR"``.
    """

    model: str
    x: str
    y: str
    waves: list
    equal_lags: bool
    lagged: pd.DataFrame
    standardized: pd.DataFrame
    between: pd.DataFrame
    within: pd.DataFrame
    means: pd.DataFrame
    covariates: pd.DataFrame
    parameters: pd.DataFrame
    fit: pd.Series
    vcov: pd.DataFrame = field(repr=False)
    sem: SemResult = field(repr=False)
    converged: bool = True
    warnings: list[str] = field(default_factory=list)
    nobs: int = 0
    n_dropped: int = 0
    n_patterns: int = 1
    conf_level: float = 0.95
    z: str | None = None
    groups: list = field(default_factory=lambda: [None])
    estimator: str = "ML"
    equal_groups: bool = False

    def labels(self, x_label: str | None = None, y_label: str | None = None,
               z_label: str | None = None) -> dict:
        """Letter -> display name of the model's processes (x, y and, when fitted, z); the
        column names where no label is given."""
        names = {"x": x_label or self.x, "y": y_label or self.y}
        if self.z:
            names["z"] = z_label or self.z
        return names

    def summary(self) -> str:
        """Text summary: model, fit, lagged effects, between- and within-person parts, warnings."""
        fit = self.fit
        lags = "equal over waves" if self.equal_lags else "free per wave"
        lags += ", equal across groups" if self.equal_groups else ""
        third = f" and {self.z} (z)" if self.z else ""
        information = "observed-information" if self.estimator == "ML" else "robust (MLR)"
        lines = [
            f"{self.model} of {self.x} (x), {self.y} (y){third}, {len(self.waves)} waves, lagged effects {lags}",
            f"Estimator {self.estimator}; missing waves by full-information ML; {information} standard errors",
            f"Number of people: {self.nobs} ({self.n_patterns} missingness pattern"
            f"{'s' if self.n_patterns != 1 else ''})"
            + (f"; {self.n_dropped} with no observed value dropped" if self.n_dropped else "")
            + (f"; groups {self.groups}" if len(self.groups) > 1 else ""),
            "",
            f"Chi-square {fit['chisq']:.3f}, df {fit['df']:.0f}, p {fit['pvalue']:.3g}; "
            f"CFI {fit['cfi']:.3f}, TLI {fit['tli']:.3f}, RMSEA {fit['rmsea']:.3f}, SRMR {fit['srmr']:.3f}",
            f"Log-likelihood {fit['loglik']:.3f} (unrestricted {fit['unrestricted_loglik']:.3f}); "
            f"AIC {fit['aic']:.1f}, BIC {fit['bic']:.1f}; {fit['npar']:.0f} parameters",
        ]
        if "chisq_scaled" in fit:
            lines.append(f"Scaled chi-square {fit['chisq_scaled']:.3f} (scaling factor "
                         f"{fit['chisq_scaling_factor']:.3f}), p {fit['pvalue_scaled']:.3g}")
        lines += ["", "Lagged effects (within person; x_on_y: y at t-1 -> x at t):", _table(self.lagged),
                  "", "Standardized lagged effects (std.all):", _table(self.standardized)]
        if len(self.between):
            lines += ["", "Between person (random intercepts):", _table(self.between)]
        lines += ["", "Within person (wave 1: (co)variances; later waves: innovations):", _table(self.within)]
        if len(self.covariates):
            lines += ["", "Covariates:", _table(self.covariates)]
        if self.warnings:
            lines += ["", "Warnings:"] + [f"  {w}" for w in self.warnings]
        return "\n".join(lines)


def riclpm(data: pd.DataFrame, x: str, y: str, group: str = "participant_id", wave: str = "wave",
           equal_lags: bool = True, conf_level: float = 0.95, z: str | None = None,
           covariates: list[str] | tuple = (), groups: str | None = None,
           estimator: str = "ML", equal_groups: bool = False) -> PanelResult:
    """Fit the random-intercept cross-lagged panel model (Hamaker et al., 2015) by ML.

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, one row per person and wave.
    x, y : str
        Numeric columns of the two variables (e.g. ``"gse_total"``, ``"phq9_total"``).
    group : str, default "participant_id"
        Column identifying people.
    wave : str, default "wave"
        Column identifying waves; every distinct value is one wave, in sorted order,
        and consecutive waves are one lag apart.
    equal_lags : bool, default True
        Hold the lagged effects equal over waves (otherwise free per wave).
    conf_level : float, default 0.95
        Level of the Wald intervals.
    z : str, optional
        A third variable (e.g. adherence): a 3 x 3 lag matrix.
    covariates : list of str, optional
        Time-invariant numeric columns (one value per person, e.g. age, a 0/1
        indicator) predicting the random intercepts (the CLPM: the wave-1
        components). They must be observed for everyone (``fixed.x``).
    groups : str, optional
        Column of groups (constant within a person, e.g. the arm) for a multi-group
        model with every parameter free per group.
    estimator : {"ML", "MLR"}
        ``"MLR"``: robust (Huber-White) standard errors and the Yuan-Bentler scaled
        chi-square, as lavaan's ``estimator = "MLR"``.
    equal_groups : bool, default False
        With ``groups``: hold each lagged effect equal across the groups (one label
        for every group, as lavaan does), every other parameter free per group. Test
        it against the model with lags free per group with :func:`lrt`.

    Returns
    -------
    PanelResult

    Raises
    ------
    analysis.io.DataValidationError
        If a column is missing, a variable is not numeric, waves are not whole
        numbers, a person has two rows for one wave (:func:`analysis.io.model_frame`),
        a variable is constant at a wave, a covariate or the group changes within a
        person, or, among the people observed at every wave, one variable is a
        linear function of others (:func:`analysis.io.check_design`); each problem
        names the variable and wave.
    ValueError
        If two of ``x``, ``y``, ``z`` are the same column, fewer than 3 waves are
        present, a variable has fewer than 2 observed values at a wave, there are
        not more people than observed variables (the message says how many are
        needed), the model is not identified on the data (no ``LinAlgError``
        escapes), a covariate has missing values, ``conf_level`` is not in (0, 1) or
        ``equal_groups`` is asked for without ``groups``.

    Notes
    -----
    Matches lavaan's ``lavaan(model, missing="ml", meanstructure=TRUE,
    int.ov.free=TRUE)`` with the Mulder & Hamaker (2021) syntax (:func:`syntax`;
    ``tests/reference/lavaan_riclpm.R`` and ``lavaan_riclpm_ext.R``).
    """
    return _fit(data, _Request(x, y, z, group, wave, equal_lags, conf_level, tuple(covariates), groups,
                               estimator, random_intercepts=True, equal_groups=equal_groups))


def clpm(data: pd.DataFrame, x: str, y: str, group: str = "participant_id", wave: str = "wave",
         equal_lags: bool = True, conf_level: float = 0.95, z: str | None = None,
         covariates: list[str] | tuple = (), groups: str | None = None, estimator: str = "ML",
         equal_groups: bool = False) -> PanelResult:
    """Fit the classic cross-lagged panel model: :func:`riclpm` without random intercepts.

    Parameters and return value as :func:`riclpm` (at least 2 waves; covariates
    predict the wave-1 components). Stable differences between people are not
    separated from within-person change, so the lagged effects mix the two;
    compare with :func:`compare`.
    """
    return _fit(data, _Request(x, y, z, group, wave, equal_lags, conf_level, tuple(covariates), groups,
                               estimator, random_intercepts=False, equal_groups=equal_groups))


def syntax(letters: str, n_waves: int, random_intercepts: bool = True, equal_lags: bool = True,
           covariates: tuple = (), n_groups: int = 1, equal_groups: bool = False) -> str:
    """The lavaan syntax of the (RI-)CLPM as Mulder & Hamaker (2021) write it.

    Parameters
    ----------
    letters : str
        One letter per variable (``"xy"`` or ``"xyz"``); the observed variables are
        ``x1`` .. ``xT``, the within components ``wx1`` .., the random intercepts ``RIx`` ...
    n_waves : int
    random_intercepts : bool
        RI-CLPM (True) or CLPM.
    equal_lags : bool
        Label each lag ``a_on_b`` (per group ``a_on_b_g1`` ..) so that it is equal over waves.
    covariates : tuple of str
        Time-invariant predictors of the random intercepts (without them: of the wave-1
        within components).
    n_groups : int
    equal_groups : bool
        Give each lag one label for every group (``a_on_b``, per wave ``a_on_b_t3`` when
        the lags are free over waves), which holds it equal across the groups.

    Returns
    -------
    str
    """
    waves = range(1, n_waves + 1)
    pairs = list(combinations_with_replacement(letters, 2))
    lines = []
    if random_intercepts:
        lines += [f"RI{a} =~ " + " + ".join(f"1*{a}{t}" for t in waves) for a in letters]
        lines += [f"RI{a} ~~ RI{b}" for a, b in pairs]
    lines += [f"w{a}{t} =~ 1*{a}{t}" for a in letters for t in waves]
    for t in waves[1:]:
        for out in letters:
            terms = [f"{_lag_label(out, pred, t, n_groups, equal_lags, equal_groups)}w{pred}{t - 1}"
                     for pred in letters]
            lines.append(f"w{out}{t} ~ " + " + ".join(terms))
    lines += [f"w{a}{t} ~~ w{b}{t}" for t in waves for a, b in pairs]
    if covariates:
        outcomes = [f"RI{a}" if random_intercepts else f"w{a}1" for a in letters]
        lines.append(" + ".join(outcomes) + " ~ " + " + ".join(covariates))
    return "\n".join(lines)


def _lag_label(out: str, pred: str, t: int, n_groups: int, equal_lags: bool, equal_groups: bool) -> str:
    """Modifier of the lag ``out_on_pred`` into wave ``t``: a label shared over waves and/or groups, or none."""
    across_groups = equal_groups and n_groups > 1
    if not equal_lags and not across_groups:
        return ""
    name = f"{out}_on_{pred}" + ("" if equal_lags else f"_t{t}")
    if n_groups == 1 or across_groups:
        return f"{name}*"
    return "c(" + ", ".join(f"{name}_g{g}" for g in range(1, n_groups + 1)) + ")*"


def compare(*results: PanelResult) -> pd.DataFrame:
    """Fit and lagged effects of several fitted models side by side.

    Parameters
    ----------
    *results : PanelResult
        Single-group models fitted to the same data (e.g. the RI-CLPM and the CLPM).

    Returns
    -------
    pandas.DataFrame
        One row per model (``model``, with ``(free lags)`` when so fitted): ``npar``,
        ``loglik``, ``aic``, ``bic``, ``chisq``, ``df``, ``pvalue``, ``cfi``,
        ``rmsea`` and, for equal lags, each lagged effect's estimate and interval
        (``y_on_x``, ``y_on_x_low``, ``y_on_x_high``, ...).

    Raises
    ------
    ValueError
        If no result is given or the results differ in variables or people.
    """
    if not results:
        raise ValueError("compare() needs at least one fitted model")
    first = results[0]
    for other in results[1:]:
        if (other.x, other.y, other.z, other.nobs, other.waves) != (first.x, first.y, first.z, first.nobs,
                                                                    first.waves):
            raise ValueError(f"models differ in variables, people or waves: {first.model} "
                             f"({first.x}, {first.y}, N={first.nobs}) vs {other.model} "
                             f"({other.x}, {other.y}, N={other.nobs})")
    rows = {}
    for res in results:
        name = res.model + ("" if res.equal_lags else " (free lags)") + (" (lags equal across groups)"
                                                                        if res.equal_groups else "")
        row = res.fit[["npar", "loglik", "aic", "bic", "chisq", "df", "pvalue", "cfi", "rmsea"]].to_dict()
        if res.equal_lags and len(res.groups) == 1:
            for effect, lag in res.lagged.iterrows():
                row.update({effect: lag["estimate"], f"{effect}_low": lag["ci_low"],
                            f"{effect}_high": lag["ci_high"]})
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def lrt(free: PanelResult, constrained: PanelResult) -> pd.Series:
    """Likelihood-ratio test of a constrained panel model against a freer one (lavaan's ``lavTestLRT``).

    The test of lags equal across groups: ``lrt(riclpm(..., groups="arm"),
    riclpm(..., groups="arm", equal_groups=True))``; also lags equal over waves
    against free lags (``equal_lags``), or the CLPM against the RI-CLPM.

    Parameters
    ----------
    free, constrained : PanelResult
        Fits to the same people, variables, waves and groups by the same estimator.

    Returns
    -------
    pandas.Series
        As :func:`analysis.sem.lrt`: ``chisq_diff``, ``df_diff``, ``p_diff`` (with MLR
        the Satorra-Bentler scaled difference), ``cfi_diff``, ``rmsea_diff``.

    Raises
    ------
    ValueError
        The two fits are not of the same data, or ``constrained`` has no more degrees
        of freedom than ``free``.
    """
    for result in (free, constrained):
        if not isinstance(result, PanelResult):
            raise TypeError(f"lrt: needs two PanelResults of riclpm or clpm, got {type(result).__name__}")
    described = [(r.x, r.y, r.z, r.nobs, r.waves, r.groups, r.estimator) for r in (free, constrained)]
    if described[0] != described[1]:
        raise ValueError(f"lrt: the two fits differ in variables, people, waves, groups or estimator: "
                         f"{described[0]} vs {described[1]}")
    return sem_lrt(free.sem, constrained.sem)


def directions(result: PanelResult, x_label: str | None = None, y_label: str | None = None,
               z_label: str | None = None, pair: tuple[str, str] = ("x", "y")) -> pd.DataFrame:
    """The two cross-lagged directions between two processes side by side, and their difference.

    Parameters
    ----------
    result : PanelResult
    x_label, y_label, z_label : str, optional
        Names used in the row labels (default the column names).
    pair : (str, str), default ("x", "y")
        The two processes, by their letters: ``("x", "z")`` or ``("y", "z")`` compare
        a third process (``z``) with x or y.

    Returns
    -------
    pandas.DataFrame
        Rows ``"a -> b"`` (``b_on_a``), ``"b -> a"`` (``a_on_b``) and
        ``"difference"`` (first minus second), for ``pair = (a, b)``; with several
        groups a leading ``group`` index level. Columns ``estimate``, ``ci_low``,
        ``ci_high``, ``p`` of the unstandardized lag (averaged over waves when free)
        and ``std``, ``std_low``, ``std_high``, ``std_p`` of the standardized lag
        averaged over transitions; the difference of standardized effects compares
        the strength of the directions on a common scale. Intervals are Wald
        intervals with delta-method standard errors.

    Raises
    ------
    ValueError
        ``pair`` is not two different processes of the model.
    """
    names = result.labels(x_label, y_label, z_label)
    if (not isinstance(pair, (tuple, list)) or len(pair) != 2 or pair[0] == pair[1]
            or not set(pair) <= set(names)):
        raise ValueError(f"pair must be two different processes of the model, from {list(names)}; got {pair!r}")
    a, b = pair
    effects = {f"{names[a]} -> {names[b]}": f"{b}_on_{a}", f"{names[b]} -> {names[a]}": f"{a}_on_{b}"}
    fitted = result.sem.state
    n_waves = len(result.waves)
    tables = []
    for g in range(1, len(result.groups) + 1):
        rows = [_rows(fitted, [_lag_key(e, t) for t in range(2, n_waves + 1)], g) for e in effects.values()]
        columns = {}
        for prefix, values in (("", _estimates), ("std", _std_values)):
            def func(theta, values=values):
                means = [values(fitted, theta, r).mean() for r in rows]
                return np.array([*means, means[0] - means[1]])
            table = _delta(func, fitted, result.conf_level, [*effects, "difference"])
            names_out = {"estimate": prefix or "estimate", "ci_low": f"{prefix}_low" if prefix else "ci_low",
                         "ci_high": f"{prefix}_high" if prefix else "ci_high", "p": f"{prefix}_p" if prefix else "p"}
            columns.update({names_out[k]: table[k] for k in names_out})
        tables.append(pd.DataFrame(columns))
    return _by_group(tables, result.groups)


# --- data --------------------------------------------------------------------

@dataclass(frozen=True)
class _Request:
    """What the user asked for."""

    x: str
    y: str
    z: str | None
    group: str
    wave: str
    equal_lags: bool
    conf_level: float
    covariates: tuple
    groups: str | None
    estimator: str
    random_intercepts: bool
    equal_groups: bool = False

    @property
    def who(self) -> str:
        return "riclpm" if self.random_intercepts else "clpm"

    @property
    def variables(self) -> list[str]:
        return [self.x, self.y] + ([self.z] if self.z else [])

    @property
    def letters(self) -> str:
        return "xyz"[:len(self.variables)]


def _wide(data: pd.DataFrame, request: _Request):
    """Wide frame (people x [x1..xT, y1..yT, (z1..zT), covariates, groups]), wave labels, people dropped.

    The columns are checked by :func:`analysis.io.model_frame` (numbers, whole-number
    waves, one row per person and wave); rows without any of the variables are left out.
    """
    who, person, wave, variables = request.who, request.group, request.wave, request.variables
    extra = list(request.covariates) + ([request.groups] if request.groups else [])
    checked = io.model_frame(data, partial=[*variables, *request.covariates],
                             other=[request.groups] if request.groups else [], group=person, wave=wave,
                             who=who).data
    frame = checked.dropna(subset=variables, how="all")
    waves = sorted(frame[wave].unique())
    min_waves = 3 if request.random_intercepts else 2
    if len(waves) < min_waves:
        raise ValueError(f"{who}: column {wave!r}: the model needs at least {min_waves} waves with data, "
                         f"found {len(waves)}: {waves}")
    wide = frame.pivot(index=person, columns=wave, values=variables)
    _check_observed(wide, who)
    columns = {f"{letter}{t + 1}": wide[name][w] for letter, name in zip(request.letters, variables)
               for t, w in enumerate(waves)}
    table = pd.DataFrame(columns)
    if extra:
        table = table.join(_per_person(checked, person, extra, who))
    return table, [io._plain(w) for w in waves], data[person].nunique() - len(table)


def _per_person(checked: pd.DataFrame, person: str, columns: list, who: str) -> pd.DataFrame:
    """One value per person of time-invariant columns; a column that changes within a person is refused."""
    varying = [io.Problem(c, f"{who}: changes within a person (e.g. {person} "
                             f"{io._plain(counts.index[counts > 1][0])!r}); it must be time-invariant")
               for c in columns if ((counts := checked.groupby(person)[c].nunique()) > 1).any()]
    if varying:
        raise io.DataValidationError(varying)
    values = checked.groupby(person)[columns].first()
    missing = [io.Problem(c, f"{who}: missing for {_people(int(gap.sum()))} (e.g. {person} "
                             f"{io._plain(values.index[gap][0])!r}); a covariate must be observed for everyone "
                             "(its moments are fixed at the sample values, lavaan's fixed.x)")
               for c in columns if (gap := values[c].isna().to_numpy()).any()]
    if missing:
        raise io.DataValidationError(missing)
    return values


def _people(n: int) -> str:
    return f"{n} person" if n == 1 else f"{n} people"


def _check_observed(wide: pd.DataFrame, who: str) -> None:
    """Every variable needs at least two observed values at every wave, not all equal."""
    counts = wide.count()
    sparse = counts[counts < 2]
    if len(sparse):
        shown = ", ".join(f"{column} at wave {w}: {int(c)}" for (column, w), c in sparse.items())
        raise ValueError(f"{who}: every variable needs at least 2 observed values at every wave; observed: {shown}")
    constant = [io.Problem(column, f"{who}: constant at wave {io._plain(w)} (all {counts[(column, w)]} observed "
                                   f"values are {io._plain(wide[column][w].dropna().iloc[0])}): its variance is 0, "
                                   "so the model is not identified; leave this wave out or check the data")
                for (column, w), distinct in wide.nunique().items() if distinct < 2]
    if constant:
        raise io.DataValidationError(constant)


def _check_request(request: _Request) -> None:
    who = request.who
    if not 0 < request.conf_level < 1:
        raise ValueError(f"conf_level must be in (0, 1), got {request.conf_level!r}")
    if request.x == request.y:
        raise ValueError(f"{who}: x and y are both {request.x!r}; a cross-lagged model needs two different "
                         "variables")
    if request.z in (request.x, request.y):
        raise ValueError(f"{who}: z is {request.z!r}, which is already x or y; the third variable must differ")
    if request.equal_groups and not request.groups:
        raise ValueError(f"{who}: equal_groups holds the lags equal across groups; give the groups column "
                         "(groups=...)")
    variables = request.variables
    for c in request.covariates:
        if not isinstance(c, str) or not _NAME.match(c) or c in variables or re.match(r"^(w?[xyz]\d+|RI[xyz])$", c):
            raise ValueError(f"{who}: covariate {c!r} must be a column name made of letters, digits and _ that is "
                             "not one of the model's variables or its internal names (x1, wx1, RIx, ...)")


def _check_identified(values: pd.DataFrame, request: _Request, waves: list) -> None:
    """Refuse too few people, and constant or collinear variables among people seen at every wave.

    The unrestricted (h1) model estimates the covariance matrix of the observed
    variables, which needs more people than variables. The design check
    (:func:`analysis.io.check_design`) runs on the people observed at every wave
    when there are enough of them; otherwise a singular matrix is caught in the fit.
    """
    who, variables = request.who, request.variables
    names = {f"{letter}{t + 1}": f"{name} at wave {w}" for letter, name in zip(request.letters, variables)
             for t, w in enumerate(waves)}
    block = values[list(names)].to_numpy(float)
    n, p = block.shape
    if n <= p:
        listed = " and ".join(variables)
        raise ValueError(f"{who}: {n} people with data, but {listed} at {len(waves)} waves ({p} variables) "
                         f"need at least {p + 1} people to estimate their covariance matrix")
    order = [f"{letter}{t + 1}" for t in range(len(waves)) for letter in request.letters]
    complete = values[order].dropna().to_numpy(float)
    if len(complete) > p:
        io.check_design(np.column_stack([np.ones(len(complete)), complete]), ["Intercept", *map(names.get, order)],
                        who=who)


# --- fitting -------------------------------------------------------------------

def _fit(data: pd.DataFrame, request: _Request) -> PanelResult:
    """Check the data, write the syntax, fit it with the SEM engine and lay out the tables."""
    _check_request(request)
    values, waves, n_dropped = _wide(data, request)
    _check_identified(values, request, waves)
    n_groups = values[request.groups].nunique() if request.groups else 1
    model = syntax(request.letters, len(waves), request.random_intercepts, request.equal_lags, request.covariates,
                   n_groups, request.equal_groups)
    try:
        result = lavaan(model, values, group=request.groups, estimator=request.estimator, missing="fiml",
                        conf_level=request.conf_level, meanstructure=True, int_ov_free=True,
                        information="observed", start=_variance_start(values, request, len(waves)))
    except (np.linalg.LinAlgError, ConvergenceFailure, ModelIdentificationError) as error:
        raise ValueError(f"{request.who}: the model is not identified on these data ({error}): the covariance "
                         f"matrix of {' and '.join(request.variables)} over waves {waves} is singular, e.g. a "
                         "variable that is constant or a linear function of others among the people observed "
                         "together, or too few people in a pattern of missing waves") from None
    return _result(result, request, waves, n_dropped)


def _variance_start(values: pd.DataFrame, request: _Request, n_waves: int) -> dict:
    """Start values of the variances: half of each variable's variance within and (averaged
    over waves) between persons; lavaan's simple 0.05 is far from the data on most scales."""
    start = {}
    for letter in request.letters:
        variances = [np.nanvar(values[f"{letter}{t}"]) for t in range(1, n_waves + 1)]
        start.update({(f"w{letter}{t}", "~~", f"w{letter}{t}"): v / 2 for t, v in enumerate(variances, start=1)})
        start[(f"RI{letter}", "~~", f"RI{letter}")] = np.mean(variances) / 2
    return start


def _result(result: SemResult, request: _Request, waves: list, n_dropped: int) -> PanelResult:
    fitted = result.state
    free = fitted.table.free.to_numpy() >= 0
    groups = result.groups
    conf = request.conf_level
    tables = {name: _by_group([build(fitted, request, waves, g, conf) for g in range(1, len(groups) + 1)], groups)
              for name, build in (("lagged", _lagged_table), ("standardized", _standardized_table),
                                  ("between", _between_table), ("within", _within_table),
                                  ("means", _means_table), ("covariates", _covariates_table))}
    messages = list(result.warnings) + _admissibility(fitted, request, waves, groups)
    n = sum(result.nobs)
    if n_dropped:
        messages.append(f"{n_dropped} people with no observed {' or '.join(request.variables)} were dropped")
    if n <= fitted.problem.n_par:
        messages.append(f"only {n} people for {fitted.problem.n_par} parameters: estimates are unstable")
    patterns = sum(1 if g.patterns is None else sum(len(p.n) for p in g.patterns) for g in fitted.problem.groups)
    return PanelResult(
        model="RI-CLPM" if request.random_intercepts else "CLPM", x=request.x, y=request.y, waves=waves,
        equal_lags=request.equal_lags, equal_groups=request.equal_groups, **tables,
        parameters=result.parameters[free].reset_index(drop=True), fit=result.fit.rename(FIT_NAMES),
        vcov=result.vcov, sem=result, converged=result.converged, warnings=messages, nobs=n,
        n_dropped=n_dropped, n_patterns=patterns, conf_level=conf, z=request.z, groups=groups,
        estimator=request.estimator)


def _admissibility(fitted, request: _Request, waves: list, groups: list) -> list[str]:
    """lavaan's admissibility checks, and random-intercept variances at the boundary."""
    messages = []
    letters, names = request.letters, dict(zip(request.letters, request.variables))
    for g, structure in enumerate(fitted.problem.structures, start=1):
        where = f" in group {groups[g - 1]}" if len(groups) > 1 else ""
        s = structure.matrices(fitted.theta)[1]
        index = {v: i for i, v in enumerate(structure.names.all)}
        sample = np.diag(fitted.problem.groups[g - 1].cov)
        if request.random_intercepts:
            ri = [index[f"RI{a}"] for a in letters]
            for a, i in zip(letters, ri):
                share = s[i, i] / np.mean([sample[index[f"{a}{t + 1}"]] for t in range(len(waves))])
                if share < 0:
                    messages.append(f"negative random-intercept variance of {names[a]}{where} "
                                    f"({s[i, i]:.4g}): inadmissible solution")
                elif share < BOUNDARY_SHARE:
                    messages.append(f"random-intercept variance of {names[a]}{where} is ~0 ({s[i, i]:.3g}): "
                                    "a boundary estimate; stable differences are negligible")
            block = s[np.ix_(ri, ri)]
            if np.linalg.eigvalsh(block).min() < 0 <= np.diag(block).min():
                messages.append(f"random-intercept covariance matrix{where} is not positive definite "
                                "(correlation beyond ±1): inadmissible solution")
        for t, label in enumerate(waves):
            cells = [index[f"w{a}{t + 1}"] for a in letters]
            block = s[np.ix_(cells, cells)]
            part = "within-person" if t == 0 else "innovation"
            for a, value in zip(letters, np.diag(block)):
                if value < 0:
                    messages.append(f"negative {part} variance of {names[a]} at wave {label}{where} "
                                    f"({value:.4g}): inadmissible solution")
            if np.linalg.eigvalsh(block).min() < 0 <= np.diag(block).min():
                messages.append(f"{part} covariance matrix at wave {label}{where} is not positive definite")
    return messages


# --- tables --------------------------------------------------------------------

def _rows(fitted, keys: list[tuple], group: int) -> np.ndarray:
    """Row numbers of the parameter table for (lhs, op, rhs) keys in one group."""
    table = fitted.table
    lookup = {key: i for i, key in enumerate(zip(table.lhs, table.op, table.rhs, table.group))}
    return np.array([lookup[(*key, group)] for key in keys], dtype=int)


def _estimates(fitted, theta: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Values of parameter-table rows at ``theta`` (fixed rows at their value)."""
    free = fitted.table.free.to_numpy()[rows]
    return np.where(free >= 0, theta[np.maximum(free, 0)], fitted.table.value.to_numpy(float)[rows])


def _std_values(fitted, theta: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """lavaan's std.all of parameter-table rows at ``theta``."""
    return std_all(fitted.table.iloc[rows], _estimates(fitted, theta, rows), fitted.problem.structures, theta)


def _delta(func, fitted, conf_level: float, index) -> pd.DataFrame:
    """Estimate and Wald interval of func(theta), delta-method standard errors."""
    estimate = np.atleast_1d(func(fitted.theta))
    jac = jacobian(func, fitted.theta)
    se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", jac, fitted.vcov, jac), 0, None))
    return _frame(estimate, se, conf_level, index)


def _select(fitted, keys: list[tuple], group: int, conf_level: float, index) -> pd.DataFrame:
    """Estimates of free parameters by (lhs, op, rhs) with Wald intervals."""
    rows = _rows(fitted, keys, group)
    free = fitted.table.free.to_numpy()[rows]
    se = np.sqrt(np.clip(np.diag(fitted.vcov), 0, None))[free]
    return _frame(fitted.theta[free], se, conf_level, index)


def _frame(estimate, se, conf_level: float, index) -> pd.DataFrame:
    estimate, se = np.asarray(estimate, float), np.asarray(se, float)
    return pd.DataFrame({"estimate": estimate, "se": se, **wald(estimate, se, conf_level)}, index=index)


def _by_group(tables: list[pd.DataFrame], groups: list) -> pd.DataFrame:
    """One table, or the groups' tables under a leading ``group`` level."""
    if len(groups) == 1:
        return tables[0]
    return pd.concat(tables, keys=groups, names=["group"])


def _effects(letters: str) -> list[str]:
    """Lagged effects ``out_on_pred`` in the order x_on_x, x_on_y, y_on_x, ..."""
    return [f"{out}_on_{pred}" for out in letters for pred in letters]


def _lag_key(effect: str, t: int) -> tuple:
    """(lhs, op, rhs) of a lagged effect ``out_on_pred`` into wave position ``t``."""
    out, pred = effect.split("_on_")
    return (f"w{out}{t}", "~", f"w{pred}{t - 1}")


def _lagged_table(fitted, request: _Request, waves: list, group: int, conf_level: float) -> pd.DataFrame:
    transitions = [2] if request.equal_lags else range(2, len(waves) + 1)
    keys, index = [], []
    for effect in _effects(request.letters):
        for t in transitions:
            keys.append(_lag_key(effect, t))
            index.append(effect if request.equal_lags else (effect, waves[t - 1]))
    index = (pd.Index(index, name="effect") if request.equal_lags
             else pd.MultiIndex.from_tuples(index, names=["effect", "wave"]))
    return _select(fitted, keys, group, conf_level, index)


def _standardized_table(fitted, request: _Request, waves: list, group: int, conf_level: float) -> pd.DataFrame:
    effects = _effects(request.letters)
    rows = _rows(fitted, [_lag_key(e, t) for e in effects for t in range(2, len(waves) + 1)], group)
    index = pd.MultiIndex.from_tuples([(e, w) for e in effects for w in waves[1:]], names=["effect", "wave"])
    return _delta(lambda theta: _std_values(fitted, theta, rows), fitted, conf_level, index)


def _pair_names(letters: str) -> list[tuple[str, str, str]]:
    """(quantity, a, b) of the (co)variances: var_x, var_y, cov (two variables) or cov_xy, ... (three)."""
    variances = [(f"var_{a}", a, a) for a in letters]
    pairs = [(a, b) for a, b in combinations_with_replacement(letters, 2) if a != b]
    return variances + [("cov" if len(letters) == 2 else f"cov_{a}{b}", a, b) for a, b in pairs]


def _between_table(fitted, request: _Request, waves: list, group: int, conf_level: float) -> pd.DataFrame:
    if not request.random_intercepts:
        return _frame([], [], conf_level, pd.Index([], name="quantity"))
    quantities = _pair_names(request.letters)
    table = _select(fitted, [(f"RI{a}", "~~", f"RI{b}") for _, a, b in quantities], group, conf_level,
                    pd.Index([q for q, *_ in quantities], name="quantity"))
    covs = [(q, a, b) for q, a, b in quantities if a != b]
    rows = [_rows(fitted, [(f"RI{a}", "~~", f"RI{a}"), (f"RI{b}", "~~", f"RI{b}"), (f"RI{a}", "~~", f"RI{b}")],
                  group) for _, a, b in covs]

    def corr(theta):
        values = [_estimates(fitted, theta, r) for r in rows]
        with np.errstate(invalid="ignore"):  # NaN when a variance is negative (reported)
            return np.array([c / np.sqrt(va * vb) for va, vb, c in values])

    names = pd.Index([q.replace("cov", "corr") for q, *_ in covs], name="quantity")
    return pd.concat([table, _delta(corr, fitted, conf_level, names)])


def _within_table(fitted, request: _Request, waves: list, group: int, conf_level: float) -> pd.DataFrame:
    keys, index = [], []
    for quantity, a, b in _pair_names(request.letters):
        for t, label in enumerate(waves):
            keys.append((f"w{a}{t + 1}", "~~", f"w{b}{t + 1}"))
            index.append((quantity, label))
    return _select(fitted, keys, group, conf_level, pd.MultiIndex.from_tuples(index, names=["quantity", "wave"]))


def _means_table(fitted, request: _Request, waves: list, group: int, conf_level: float) -> pd.DataFrame:
    pairs = list(zip(request.letters, request.variables))
    keys = [(f"{a}{t + 1}", "~1", "") for a, _ in pairs for t in range(len(waves))]
    index = pd.MultiIndex.from_tuples([(name, w) for _, name in pairs for w in waves], names=["variable", "wave"])
    return _select(fitted, keys, group, conf_level, index)


def _covariates_table(fitted, request: _Request, waves: list, group: int, conf_level: float) -> pd.DataFrame:
    outcomes = [f"RI{a}" if request.random_intercepts else f"w{a}1" for a in request.letters]
    pairs = [(o, c) for o in outcomes for c in request.covariates]
    index = pd.MultiIndex.from_tuples(pairs, names=["outcome", "covariate"])
    return _select(fitted, [(o, "~", c) for o, c in pairs], group, conf_level, index)


def _table(frame: pd.DataFrame) -> str:
    return frame.to_string(float_format=lambda v: f"{v:.4g}")
