r"""Causal mediation analysis: how much of a treatment's effect runs through self-efficacy.

:func:`mediate` estimates the causal mediation quantities of Imai, Keele & Tingley
(2010) for a linear mediator model and a linear outcome model without a
treatment-mediator interaction, as R's ``mediation`` package does for two ``lm``
fits:

.. math::

   M &= \alpha_2 + a\, T + \xi_2' X + \varepsilon_2, \qquad
   Y = \alpha_3 + c'\, T + b\, M + \xi_3' X + \varepsilon_3 \\
   \text{ACME} &= a\, b\, (t_1 - t_0), \quad \text{ADE} = c'\, (t_1 - t_0), \quad
   \text{total} = \text{ACME} + \text{ADE}, \quad
   \text{prop. mediated} = \text{ACME} / \text{total}

for a change of treatment from ``control`` (:math:`t_0`) to ``treated``
(:math:`t_1`). Without an interaction the ACME and ADE are the same under treatment
and control, so, as ``mediation`` prints for such models, one averaged value is
reported.

The treatment is a set of arms, as :func:`analysis.io.arm_factor` defines them
(numeric and boolean codes read as their canonical text, ``"0"``, ``"1"``, ``"2"``).
It enters both models as indicators of every arm but ``control``, so that
:math:`t_1 - t_0 = 1` (all rows are used, as ``mediation`` does with a factor; a
0/1 code is its own indicator, as ``lm`` fits it). ``control`` defaults to the
reference arm: a control-like arm (control, waitlist, TAU, ...), else the first
category, else the lowest code, so that a numeric treatment with two codes (0/1,
1/2, ``False``/``True``) compares the higher code with the lower one. A numeric
treatment with more than two codes (an arm coded 0/1/2) is never read as a linear
dose: both ``control`` and ``treated`` must be named.

Intervals come from the nonparametric bootstrap (rows resampled with replacement,
both models refitted), by the percentile method or the bias-corrected and
accelerated (BCa) method (Efron, 1987; bias from the share of replicates below the
estimate, acceleration from the jackknife, computed in closed form from the
leverages). Note that ``mediation``'s own ``boot.ci.type="bca"`` takes the
acceleration from the bootstrap replicates instead, so its BCa limits differ
slightly; percentile limits agree up to Monte Carlo error. p-values are
``mediation``'s: twice the share of replicates on the far side of zero. All
replicates are solved at once as batched least squares.

:func:`medsens` (also run by :func:`mediate`) is the sensitivity analysis for
sequential ignorability of Imai, Keele & Yamamoto (2010): :math:`\rho`, the
correlation of :math:`\varepsilon_2` and :math:`\varepsilon_3` induced by an
unmeasured mediator-outcome confounder, is 0 under the assumption. For fixed
:math:`\rho` the mediator and outcome equations are estimated jointly (R's
``medsens`` iterates feasible GLS to the fixed point, which has the closed form
used here):

.. math::

   b(\rho) = \hat b - \frac{\rho}{\sqrt{1-\rho^2}} \sqrt{\frac{RSS_Y}{RSS_M}}, \qquad
   \text{ACME}(\rho) = \hat a\, b(\rho),

with residual sums of squares of the two fitted models. ACME(:math:`\rho`) = 0 at
:math:`\rho = \tilde\rho`, the correlation of the mediator model's residuals with
those of the outcome regressed on treatment and covariates only. The
:math:`R^2` versions are :math:`R^{2*}_M R^{2*}_Y = \rho^2` (shares of the
*unexplained* variances explained by the confounder) and :math:`\tilde R^2_M \tilde
R^2_Y = \rho^2 (1 - R^2_M)(1 - R^2_Y)` (shares of the *total* variances).

Two longitudinal forms build on these:

* :func:`mediate_change`: treatment -> mediator change from baseline to
  mid-treatment -> outcome change from baseline to the end of treatment, one row
  per person, adjusted for the baseline mediator and outcome; the mediator is
  measured before the outcome's end point.
* :func:`mediate_multilevel`: all waves, two linear mixed models
  (:func:`analysis.mixed.fit_lmm`): the ``a`` path is the treatment's effect on the
  mediator's slope over time; the ``b`` path is the effect of the person-centred
  (within-person) mediator at one wave on the outcome at the next, adjusted for the
  mediator's person mean and the current within-person outcome
  (:func:`analysis.mixed.decompose`). Intervals by the Monte Carlo
  (quasi-Bayesian) method, as ``mediation`` uses for mixed models.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd
from scipy import stats

from . import io, mixed

__all__ = ["MediationResult", "Sensitivity", "mediate", "mediate_change", "mediate_multilevel",
           "medsens", "CI_METHODS", "EFFECTS"]

CI_METHODS = ("bca", "percentile")
EFFECTS = ("ACME", "ADE", "Total Effect", "Prop. Mediated")
#: Bootstrap replicates solved together (bounds memory at BATCH x n weights).
BATCH = 500
#: Columns of a path's row in ``MediationResult.paths``.
PATH_COLUMNS = ["estimate", "se", "df", "t", "p", "ci_low", "ci_high"]
#: Replicates whose cross-product matrix has a larger condition number are dropped.
CONDITION_LIMIT = 1e12
#: Leverage above which a leave-one-out (jackknife) fit is undefined.
LEVERAGE_LIMIT = 1 - 1e-10
SHOWN = 5


@dataclass(frozen=True, eq=False)
class Sensitivity:
    """Sensitivity of the ACME to a mediator-outcome confounder (``medsens``).

    Attributes
    ----------
    table : pandas.DataFrame
        Index ``rho``; columns ``acme``, ``ci_low``, ``ci_high`` (normal
        intervals from the joint fit at that rho, as ``medsens``), ``r2_star``
        (:math:`R^{2*}_M R^{2*}_Y = \\rho^2`) and ``r2_tilde``
        (:math:`\\rho^2 (1 - R^2_M)(1 - R^2_Y)`).
    rho_zero : float
        The rho at which the ACME is 0.
    r2_star_zero, r2_tilde_zero : float
        The products of partial (``star``) and total (``tilde``) R-squared at
        which the ACME is 0.
    r2_mediator, r2_outcome : float
        R-squared of the fitted mediator and outcome models.
    conf_level : float
    """

    table: pd.DataFrame
    rho_zero: float
    r2_star_zero: float
    r2_tilde_zero: float
    r2_mediator: float
    r2_outcome: float
    conf_level: float

    def summary(self) -> str:
        """The three thresholds, as ``summary(medsens(...))`` prints them."""
        return "\n".join([
            "Mediation sensitivity analysis for the ACME (sequential ignorability)",
            f"Rho at which ACME = 0: {self.rho_zero:.4f}",
            f"R^2_M*R^2_Y* at which ACME = 0: {self.r2_star_zero:.4f}",
            f"R^2_M~R^2_Y~ at which ACME = 0: {self.r2_tilde_zero:.4f}",
        ])


@dataclass(frozen=True, eq=False)
class MediationResult:
    """Causal mediation estimates, laid out like ``summary()`` of R's ``mediate``.

    Attributes
    ----------
    table : pandas.DataFrame
        Index :data:`EFFECTS` (``ACME``, ``ADE``, ``Total Effect``,
        ``Prop. Mediated``); columns ``estimate``, ``ci_low``, ``ci_high`` (by
        ``ci_method``) and ``p``.
    paths : pandas.DataFrame
        The coefficients behind the effects: ``a`` (treatment -> mediator), ``b``
        (mediator -> outcome), ``c_prime`` (treatment -> outcome, direct) and, for
        single-level models, ``c`` (treatment -> outcome without the mediator);
        columns ``estimate``, ``se``, ``df``, ``t``, ``p``, ``ci_low``, ``ci_high``
        (95% t intervals, from the fitted models).
    mediator_model, outcome_model : pandas.DataFrame
        Coefficient tables of the two fitted models (``estimate``, ``se``, ``df``,
        ``t``, ``p`` and 95% t interval ``ci_low``, ``ci_high``).
    draws : pandas.DataFrame
        Bootstrap (or Monte Carlo) replicates of the four effects.
    jackknife : pandas.DataFrame or None
        Leave-one-out values of the effects (BCa acceleration); None when not
        bootstrapped.
    sensitivity : Sensitivity or None
        :func:`medsens` at a rho step of 0.01 (single-level models only).
    kind : str
        ``"single-level"``, ``"change"`` or ``"multilevel"``.
    treatment, mediator, outcome : str
    covariates : list of str
    control, treated : str
        Arms compared, as :func:`analysis.io.arm_factor` spells them (``"0"`` and
        ``"1"`` for 0/1 codes); ``control`` is the reference arm of both models.
    ci_method : str
        ``"bca"``, ``"percentile"`` or ``"monte carlo"``.
    conf_level : float
    n_boot : int
        Replicates requested (bootstrap or Monte Carlo draws).
    seed : int
    nobs, n_dropped : int
        Rows (people for ``"change"``) used and dropped for missing values.
    notes : list of str
        What the estimates mean in this design and its assumptions.
    warnings : list of str
        Dropped replicates, undefined intervals, model warnings.
    data : pandas.DataFrame
        The rows the models were fitted to.
    waves : tuple or None
        ``(baseline, mid, end)`` waves of a ``"change"`` result.
    arms : str
        The arms in the models, reference (control) first, e.g. ``"arms: control
        (reference), cbt, mindfulness"`` (:func:`analysis.io.describe_arms`).
    """

    table: pd.DataFrame
    paths: pd.DataFrame
    mediator_model: pd.DataFrame
    outcome_model: pd.DataFrame
    draws: pd.DataFrame = field(repr=False)
    jackknife: pd.DataFrame | None = field(repr=False)
    sensitivity: Sensitivity | None
    kind: str
    treatment: str
    mediator: str
    outcome: str
    covariates: list
    control: object
    treated: object
    ci_method: str
    conf_level: float
    n_boot: int
    seed: int
    nobs: int
    n_dropped: int
    notes: list[str]
    warnings: list[str]
    data: pd.DataFrame = field(repr=False)
    waves: tuple | None = None
    arms: str = ""

    def ci(self, method: str | None = None) -> pd.DataFrame:
        """Intervals of the four effects by another method.

        Parameters
        ----------
        method : {"bca", "percentile"}, optional
            Default the method the result was computed with.

        Returns
        -------
        pandas.DataFrame
            Index :data:`EFFECTS`; columns ``ci_low``, ``ci_high``.

        Raises
        ------
        ValueError
            For an unknown method, or BCa for Monte Carlo (multilevel) draws.
        """
        method = method or self.ci_method
        if method == "monte carlo" and self.ci_method == "monte carlo":
            method = "percentile"
        if method not in CI_METHODS:
            raise ValueError(f"method must be one of {CI_METHODS}, got {method!r}")
        if method == "bca" and self.jackknife is None:
            raise ValueError("BCa intervals need bootstrap replicates and jackknife values; this "
                             f"{self.kind} result has Monte Carlo draws: use method='percentile'")
        estimate = self.table["estimate"].to_numpy()
        if method == "percentile":
            low, high = _percentile(self.draws.to_numpy(), self.conf_level)
        else:
            low, high = _bca(self.draws.to_numpy(), estimate, self.jackknife.to_numpy(), self.conf_level)
        return pd.DataFrame({"ci_low": low, "ci_high": high}, index=self.table.index)

    def summary(self) -> str:
        """Text summary laid out like ``summary()`` of a ``mediate`` fit."""
        level = f"{100 * self.conf_level:g}%"
        method = {"bca": "Nonparametric Bootstrap Confidence Intervals with the BCa Method",
                  "percentile": "Nonparametric Bootstrap Confidence Intervals with the Percentile Method",
                  "monte carlo": "Quasi-Bayesian (Monte Carlo) Confidence Intervals"}[self.ci_method]
        table = self.table.rename(columns={"estimate": "Estimate", "ci_low": f"{level} CI Lower",
                                           "ci_high": f"{level} CI Upper", "p": "p-value"})
        lines = [
            f"Causal Mediation Analysis ({self.kind}): {self.treatment} ({self.treated} vs "
            f"{self.control}) -> {self.mediator} -> {self.outcome}",
            f"Treatment {self.arms}",
            "",
            method,
            "",
            table.to_string(float_format=lambda v: f"{v:.4g}"),
            "",
            f"Sample Size Used: {self.nobs}" + (f" ({self.n_dropped} dropped for missing values)"
                                                if self.n_dropped else ""),
            f"Simulations: {self.n_boot}",
            "",
            "Paths:",
            self.paths.to_string(float_format=lambda v: f"{v:.4g}"),
        ]
        if self.sensitivity is not None:
            lines += ["", self.sensitivity.summary()]
        if self.notes:
            lines += ["", "Notes:"] + [f"  {n}" for n in self.notes]
        if self.warnings:
            lines += ["", "Warnings:"] + [f"  {w}" for w in self.warnings]
        return "\n".join(lines)


# --- public functions -------------------------------------------------------------

def mediate(data: pd.DataFrame, treatment: str, mediator: str, outcome: str, covariates=(),
            n_boot: int = 5000, seed: int = 0, ci: str = "bca", control=None, treated=None,
            conf_level: float = 0.95) -> MediationResult:
    """Causal mediation analysis with linear mediator and outcome models, bootstrapped.

    Parameters
    ----------
    data : pandas.DataFrame
        One row per unit (person).
    treatment : str
        Treatment column: arms as numeric or boolean codes (0/1, 1/2), text or a
        categorical (e.g. the trial's ``arm``); see the module docstring.
    mediator, outcome : str
        Numeric columns (pandas nullable dtypes included).
    covariates : sequence of str, default ()
        Pre-treatment covariates in both models; non-numeric ones are dummy coded.
    n_boot : int, default 5000
        Bootstrap replicates.
    seed : int, default 0
        Seed of the resampling (``numpy.random.default_rng``).
    ci : {"bca", "percentile"}, default "bca"
        Interval method for ``table``; :meth:`MediationResult.ci` gives the other.
    control, treated : optional
        Arms compared, as codes or labels (``1`` and ``"1"`` name the same arm).
        ``control`` defaults to the reference arm (:func:`analysis.io.arm_factor`:
        a control-like arm such as "control", "waitlist", "TAU", else the first
        category, else the lowest code), ``treated`` to the other arm when there
        are two. Name ``treated`` when there are more arms, and both when the
        treatment has more than two numeric codes (e.g. arms coded 0/1/2).
    conf_level : float, default 0.95

    Returns
    -------
    MediationResult

    Raises
    ------
    analysis.io.DataValidationError
        A column is missing or not numeric, a treatment value is missing, the
        control or treated arm has no complete rows (naming the columns missing in
        all its rows), or a covariate is constant or collinear (see
        :func:`analysis.io.model_frame` and :func:`analysis.io.check_design`; each
        problem names the column, rows and values).
    ValueError
        ``control`` or ``treated`` is not an arm of the data, a numeric treatment
        with more than two codes lacks ``control`` or ``treated``, several arms are
        compared with control and ``treated`` is not named, or an argument is out of
        range.

    Notes
    -----
    Rows with a missing value in any used column are dropped (``n_dropped``); an
    arm left without complete rows is dropped and named in ``notes``. With a
    treatment-mediator interaction the ACME would differ between arms; this
    function fits models without one, as the ``mediation`` examples do.
    """
    _check_options(n_boot, ci, conf_level)
    frame, design = _prepare(data, treatment, mediator, outcome, covariates, control, treated, "mediate")
    return _single_level(frame, design, n_boot, seed, ci, conf_level)


def medsens(result: MediationResult, rho_by: float = 0.01) -> Sensitivity:
    """Sensitivity of the ACME to violations of sequential ignorability (``medsens``).

    Parameters
    ----------
    result : MediationResult
        A single-level or change-score result of :func:`mediate` or
        :func:`mediate_change`.
    rho_by : float, default 0.01
        Step of the rho grid from ``-1 + rho_by`` to ``1 - rho_by`` (R's default is
        0.1).

    Returns
    -------
    Sensitivity

    Raises
    ------
    ValueError
        For a multilevel result, or ``rho_by`` not in (0, 0.5].
    """
    if result.kind == "multilevel":
        raise ValueError("medsens needs linear (lm) mediator and outcome models; this result is "
                         "multilevel")
    if not 0 < rho_by <= 0.5:
        raise ValueError(f"rho_by must be in (0, 0.5], got {rho_by!r}")
    design = _design(result.data, _Coding(result.treatment, result.control, result.treated), result.mediator,
                     result.outcome, result.covariates)
    y_m, y_y = design.values(result.data)
    x_m, x_y = design.mediator_matrix, design.outcome_matrix
    fit_m, fit_y = _ols(x_m, y_m), _ols(x_y, y_y)
    reduced = _ols(x_m, y_y)
    n = len(y_m)
    a = fit_m.coef[design.mediator_index]
    b = fit_y.coef[-1]
    rho = np.round(np.arange(-1 + rho_by, 1 - rho_by / 2, rho_by), 10)
    kappa = rho / np.sqrt(1 - rho ** 2) * np.sqrt(fit_y.rss / fit_m.rss)
    acme = a * (b - kappa)
    var = np.array([_sensitivity_variance(r, x_m, x_y, fit_m.rss, fit_y.rss, n, design, a, b - k)
                    for r, k in zip(rho, kappa)])
    half = stats.norm.ppf((1 + result.conf_level) / 2) * np.sqrt(var)
    r2_m = 1 - fit_m.rss / _tss(y_m)
    r2_y = 1 - fit_y.rss / _tss(y_y)
    rho_zero = float(np.corrcoef(fit_m.resid, reduced.resid)[0, 1])
    table = pd.DataFrame({"acme": acme, "ci_low": acme - half, "ci_high": acme + half,
                          "r2_star": rho ** 2, "r2_tilde": rho ** 2 * (1 - r2_m) * (1 - r2_y)},
                         index=pd.Index(rho, name="rho"))
    return Sensitivity(table, rho_zero, rho_zero ** 2, rho_zero ** 2 * (1 - r2_m) * (1 - r2_y),
                       float(r2_m), float(r2_y), result.conf_level)


def mediate_change(data: pd.DataFrame, treatment: str, mediator: str, outcome: str,
                   group: str = "participant_id", wave: str = "wave", waves=None, covariates=(),
                   n_boot: int = 5000, seed: int = 0, ci: str = "bca", control=None, treated=None,
                   conf_level: float = 0.95) -> MediationResult:
    """Longitudinal mediation: treatment -> mediator change by mid-treatment -> outcome change by the end.

    From long data, one row per person is built with the mediator change from
    ``baseline`` to ``mid``, the outcome change from ``baseline`` to ``end`` and the
    baseline mediator and outcome, and passed to :func:`mediate` with the baseline
    values as covariates (added before ``covariates``). The mediator is thus
    measured before the outcome's end point. Starting the outcome change at
    ``mid`` instead would share the mid-treatment measurement between mediator and
    outcome change, whose noise (and regression to the mean) biases the ``b`` path.

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, one row per person and wave.
    treatment, mediator, outcome : str
        As in :func:`mediate`; the treatment and ``covariates`` must be constant
        within a person (their first row is used).
    group, wave : str
        Person and wave columns.
    waves : (baseline, mid, end), optional
        Waves to use; default the first, the middle (``sorted_waves[len // 2]``)
        and the last wave.
    covariates, n_boot, seed, ci, control, treated, conf_level
        As in :func:`mediate`.

    Returns
    -------
    MediationResult
        ``kind == "change"``; ``mediator`` and ``outcome`` name the change columns
        (``{mediator}_change``, ``{outcome}_change``); ``data`` holds one row per
        person; ``n_dropped`` counts people without the three waves.

    Raises
    ------
    analysis.io.DataValidationError
        As :func:`mediate`, and for text waves, repeated (person, wave) rows or a
        treatment that changes within a person (:func:`analysis.io.model_frame`).
    ValueError
        As :func:`mediate`, and for waves not in the data or not increasing, or a
        covariate that changes within a person.

    Notes
    -----
    Rows with a missing covariate are left out before the changes are formed.
    """
    _check_options(n_boot, ci, conf_level)
    checked = io.model_frame(data, partial=[mediator, outcome], optional=covariates, arm=treatment, group=group,
                             wave=wave, who="mediate_change")
    coding = _coding(checked.levels, _numeric_codes(data[treatment]), treatment, control, treated)
    long = checked.data
    _check_constant(long, group, covariates)
    baseline, mid, end = _change_waves(long[wave], waves)
    person = long.groupby(group, sort=True, observed=True)[[treatment, *covariates]].first()
    wide = long.pivot(index=group, columns=wave, values=[mediator, outcome]).reindex(person.index)
    person = person.assign(**{
        f"{mediator}_baseline": wide[mediator][baseline], f"{outcome}_baseline": wide[outcome][baseline],
        f"{mediator}_change": wide[mediator][mid] - wide[mediator][baseline],
        f"{outcome}_change": wide[outcome][end] - wide[outcome][baseline],
    })
    frame, design = _prepare(person, treatment, f"{mediator}_change", f"{outcome}_change",
                             [f"{mediator}_baseline", f"{outcome}_baseline", *covariates], coding.control,
                             coding.treated, "mediate_change")
    result = _single_level(frame, design, n_boot, seed, ci, conf_level)
    notes = [f"mediator: change in {mediator} from wave {baseline} to {mid}; outcome: change in "
             f"{outcome} from wave {baseline} to {end}; both models adjust for baseline {mediator} and "
             f"{outcome}; the mediator is measured at wave {mid}, before the outcome's end point",
             "people without all three waves are left out (complete cases): unbiased if they are "
             "missing completely at random", *checked.notes] + result.notes
    return replace(result, kind="change", notes=notes, waves=(baseline, mid, end))


def mediate_multilevel(data: pd.DataFrame, treatment: str, mediator: str, outcome: str,
                       group: str = "participant_id", wave: str = "wave", time: str = "time",
                       covariates=(), n_sims: int = 5000, seed: int = 0, control=None, treated=None,
                       conf_level: float = 0.95) -> MediationResult:
    """Multilevel (2-1-1) mediation over waves with lagged within-person effects.

    Two linear mixed models are fitted with :func:`analysis.mixed.fit_lmm` (REML):

    * ``a`` path: ``mediator ~ time * treatment + covariates`` with correlated
      random intercepts and slopes of time by person; ``a`` is the treatment's effect
      on the mediator's change per unit of ``time``.
    * ``b`` path: ``next outcome ~ mediator_within + mediator_between +
      outcome_within + next time * treatment + covariates`` with random intercepts,
      on pairs of consecutive waves; ``_within`` is the deviation from the person's
      own mean and ``_between`` that mean (:func:`analysis.mixed.decompose`); the
      random intercept carries the person's outcome level. ``b`` is the effect of a within-person
      rise of the mediator on the outcome at the next wave; ``c_prime`` (ADE) the
      treatment's effect on the outcome's change per unit of time beyond it.

    ACME = a x b per unit of time. Intervals by the Monte Carlo method: ``n_sims``
    draws of a, b and c' from the normal distributions of the estimates.

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, one row per person and wave.
    treatment, mediator, outcome, covariates, control, treated, conf_level
        As in :func:`mediate`; covariates enter both models (patsy names).
    group, wave, time : str
        Person, wave and time (e.g. weeks) columns; consecutive waves are
        neighbours in the sorted wave values.
    n_sims : int, default 5000
        Monte Carlo draws.
    seed : int, default 0

    Returns
    -------
    MediationResult
        ``kind == "multilevel"``, ``ci_method == "monte carlo"``, no sensitivity.

    Raises
    ------
    analysis.io.DataValidationError
        As :func:`mediate_change`; also when the control or treated arm has no
        pair of consecutive waves with the outcome observed, or a model's design is
        not identified (:func:`analysis.mixed.fit_lmm`).
    ValueError
        As :func:`mediate`.
    """
    _check_options(n_sims, "percentile", conf_level)
    who = "mediate_multilevel"
    frame = io.model_frame(data, numeric=[time], partial=[mediator, outcome], other=covariates, arm=treatment,
                           group=group, wave=wave, who=who)
    coding = _coding(frame.levels, _numeric_codes(data[treatment]), treatment, control, treated)
    extra = "".join(f" + {c}" for c in covariates)
    long = mixed.decompose(mixed.decompose(frame.data, mediator, group), outcome, group)
    _require_arms(coding, long[treatment], long, [mediator], who)
    fit_a = mixed.fit_lmm(long, f"{mediator} ~ {time} * {coding.patsy_term}{extra}", group, f"~{time}")
    pairs = _next_wave(long, group, wave, [outcome, time])
    _require_arms(coding, pairs[treatment], pairs, [mediator, outcome, f"{outcome}_next"], who)
    lagged = pairs.dropna(subset=[f"{outcome}_next", f"{time}_next"])
    predictors = (f"{mediator}_within + {mediator}_between + {outcome}_within + {time}_next * "
                  f"{coding.patsy_term}{extra}")
    fit_b = mixed.fit_lmm(lagged, f"{outcome}_next ~ {predictors}", group)
    rows = {"a": (fit_a, f"{time}:{coding.patsy_name}"), "b": (fit_b, f"{mediator}_within"),
            "c_prime": (fit_b, f"{time}_next:{coding.patsy_name}")}
    paths = pd.DataFrame({k: fit.fixed.loc[name, PATH_COLUMNS] for k, (fit, name) in rows.items()}).T.astype(float)
    rng = np.random.default_rng(seed)
    a, b, c = (rng.normal(paths.loc[k, "estimate"], paths.loc[k, "se"], n_sims) for k in ("a", "b", "c_prime"))
    draws = _effects(a * b, c)
    estimate = _effects(np.array([paths.loc["a", "estimate"] * paths.loc["b", "estimate"]]),
                        np.array([paths.loc["c_prime", "estimate"]]))[0]
    table, messages = _effect_table(estimate, draws, None, "percentile", conf_level)
    messages = ([f"mediator model: {w}" for w in fit_a.warnings]
                + [f"outcome model: {w}" for w in fit_b.warnings] + messages)
    return MediationResult(
        table=table, paths=paths, mediator_model=fit_a.fixed, outcome_model=fit_b.fixed,
        draws=pd.DataFrame(draws, columns=list(EFFECTS)), jackknife=None, sensitivity=None,
        kind="multilevel", treatment=treatment, mediator=mediator, outcome=outcome,
        covariates=list(covariates), control=coding.control, treated=coding.treated,
        ci_method="monte carlo", conf_level=conf_level, n_boot=n_sims, seed=seed,
        nobs=fit_b.nobs, n_dropped=len(data) - fit_b.nobs,
        notes=[f"effects per unit of {time}: a is the treatment's effect on the {mediator} slope, b "
               f"the effect of a within-person rise in {mediator} on {outcome} at the next wave",
               "the ACME assumes that a treatment-induced rise in the mediator acts like a "
               "within-person rise; person-mean centring with a lagged outcome carries a bias of "
               "order 1/waves (the RI-CLPM in analysis.panel models the dynamics directly)",
               "a, b and c' are drawn independently (they come from two models; fit_lmm reports "
               "the standard errors of b and c', not their covariance)",
               f"nobs counts the pairs of consecutive waves in the outcome model "
               f"({fit_a.nobs} rows in the mediator model)", *frame.notes],
        warnings=messages, data=lagged, arms=coding.describe(long[treatment]),
    )


# --- input ---------------------------------------------------------------------

def _check_options(n_boot: int, ci: str, conf_level: float) -> None:
    if not isinstance(n_boot, (int, np.integer)) or n_boot < 10:
        raise ValueError(f"n_boot must be an integer of at least 10, got {n_boot!r}")
    if ci not in CI_METHODS:
        raise ValueError(f"ci must be one of {CI_METHODS}, got {ci!r}")
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be in (0, 1), got {conf_level!r}")


def _check_constant(data: pd.DataFrame, group: str, columns: list[str]) -> None:
    for column in columns:
        counts = data.groupby(group, observed=True)[column].nunique()
        changing = counts[counts > 1]
        if len(changing):
            raise ValueError(f"column {column!r} must be constant within a person, but changes for "
                             f"{len(changing)} people, e.g. {list(changing.index[:SHOWN])}")


def _change_waves(wave: pd.Series, waves) -> tuple:
    available = [io._plain(w) for w in sorted(wave.dropna().unique())]
    if waves is None:
        if len(available) < 3:
            raise ValueError(f"column {wave.name!r}: mediate_change needs 3 waves, found {available}")
        return available[0], available[len(available) // 2], available[-1]
    waves = tuple(waves)
    unknown = [w for w in waves if w not in available]
    if len(waves) != 3 or unknown or not waves[0] < waves[1] < waves[2]:
        raise ValueError(f"waves must be (baseline, mid, end), increasing, from {available}; got {waves}")
    return waves


def _next_wave(data: pd.DataFrame, group: str, wave: str, columns: list[str]) -> pd.DataFrame:
    """Rows with ``{column}_next`` from the person's next wave (missing unless that wave is the next one)."""
    order = {w: k for k, w in enumerate(sorted(data[wave].dropna().unique()))}
    frame = data.sort_values([group, wave]).copy()
    position = frame[wave].map(order)
    following = frame.groupby(group, observed=True)[[*columns]].shift(-1)
    step = frame.assign(_position=position).groupby(group, observed=True)["_position"].shift(-1) - position
    for column in columns:
        frame[f"{column}_next"] = following[column].where(step == 1)
    return frame


# --- treatment coding and design ------------------------------------------------

@dataclass(frozen=True)
class _Coding:
    """The two arms compared; every other arm enters the models as a further indicator."""

    column: str
    control: str
    treated: str

    @property
    def patsy_term(self) -> str:
        return f"C({self.column}, Treatment({self.control!r}))"

    @property
    def patsy_name(self) -> str:
        return f"{self.patsy_term}[T.{self.treated}]"

    def others(self, arms: pd.Series) -> list[str]:
        """The arms of a prepared (categorical) treatment column other than control, in order."""
        return [lvl for lvl in arms.cat.categories if lvl != self.control]

    def describe(self, arms: pd.Series) -> str:
        """The arms line of a result, control as the reference."""
        return io.describe_arms(pd.Categorical([], categories=[self.control, *self.others(arms)]))


def _numeric_codes(values: pd.Series) -> bool:
    """Whether a treatment column holds numeric or boolean codes (not text or categories)."""
    return pd.api.types.is_numeric_dtype(values.dtype) and not isinstance(values.dtype, pd.CategoricalDtype)


def _coding(levels: list[str], numeric: bool, column: str, control, treated) -> _Coding:
    """The arms compared: ``control`` (default the reference arm, ``levels[0]``) and ``treated``.

    ``levels`` are the arms as :func:`analysis.io.arm_factor` orders them; a numeric
    treatment with more than two codes needs both arms named (never a linear dose).
    """
    if len(levels) < 2:
        raise ValueError(f"treatment {column!r} has a single arm {levels}: mediation compares two arms")
    if numeric and len(levels) > 2 and (control is None or treated is None):
        raise ValueError(f"treatment {column!r} has {len(levels)} numeric codes {levels}: they are read as arms, "
                         "not as a linear dose; name the two arms compared with both control= and treated= "
                         "(the other arms enter the models as further indicators)")
    control = levels[0] if control is None else _arm(control, levels, column, "control")
    others = [lvl for lvl in levels if lvl != control]
    if treated is None:
        if len(others) > 1:
            raise ValueError(f"treatment {column!r} has {len(levels)} levels {levels}: name the treated level "
                             "with treated=")
        return _Coding(column, control, others[0])
    treated = _arm(treated, levels, column, "treated")
    if treated == control:
        raise ValueError(f"treated={treated!r} is also the control arm of {column!r}; name another arm: {others}")
    return _Coding(column, control, treated)


def _arm(value, levels: list[str], column: str, argument: str) -> str:
    """A ``control``/``treated`` argument as the arm label :func:`analysis.io.arm_factor` gives it."""
    label = str(io.arm_factor(pd.Series([value]), column=argument).categories[0])
    if label not in levels:
        raise ValueError(f"{argument}={value!r} is not a value of {column!r}; values: {levels}")
    return label


def _require_arms(coding: _Coding, arms: pd.Series, data: pd.DataFrame, columns: list[str], who: str) -> None:
    """Refuse when the control or treated arm has no row with all of ``columns`` observed.

    The problem names the columns missing in every row of that arm (e.g. an
    outcome never observed under treatment).
    """
    complete = data[columns].notna().all(axis=1).to_numpy()
    problems = []
    for role, level in (("control", coding.control), ("treated", coding.treated)):
        mine = (arms == level).to_numpy()
        if (mine & complete).any():
            continue
        rows = data.loc[mine, columns]
        empty = [c for c in columns if rows[c].isna().all()]
        lacking = (f"{', '.join(empty)} missing in all its {len(rows)} rows" if empty
                   else f"none of its {len(rows)} rows has {', '.join(columns)} all observed")
        problems.append(io.Problem(coding.column, f"{who}: the {role} arm {level!r} has no complete rows "
                                                  f"({lacking}), so it cannot be compared"))
    if problems:
        raise io.DataValidationError(problems)


@dataclass(frozen=True)
class _Design:
    """Design matrices: mediator model [1, treatment, covariates], outcome model [..., mediator]."""

    coding: _Coding
    mediator: str
    outcome: str
    covariates: list
    mediator_matrix: np.ndarray
    outcome_matrix: np.ndarray
    mediator_names: list
    outcome_names: list
    mediator_index: int  # column of the treated arm's indicator in both matrices
    arms: str

    @property
    def control(self) -> str:
        return self.coding.control

    @property
    def treated(self) -> str:
        return self.coding.treated

    def values(self, frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """The mediator and the outcome of the model rows."""
        return frame[self.mediator].to_numpy(float), frame[self.outcome].to_numpy(float)


def _design(frame: pd.DataFrame, coding: _Coding, mediator: str, outcome: str, covariates) -> _Design:
    """Both models' matrices from prepared rows (treatment categorical, as :func:`analysis.io.model_frame`)."""
    arms = frame[coding.column]
    others = coding.others(arms)
    plain = (coding.control, others) == ("0", ["1"])  # a 0/1 code is its own indicator, named as lm names it
    blocks = [np.ones((len(frame), 1)), *[(arms == lvl).to_numpy(float)[:, None] for lvl in others]]
    names = ["(Intercept)", *([coding.column] if plain else [f"{coding.column}[T.{lvl}]" for lvl in others])]
    for column in covariates:
        values = frame[column]
        if pd.api.types.is_numeric_dtype(values) and not isinstance(values.dtype, pd.CategoricalDtype):
            blocks.append(values.to_numpy(float)[:, None])
            names.append(column)
        else:
            dummies = pd.get_dummies(values.astype("category"), drop_first=True, dtype=float)
            blocks.append(dummies.to_numpy())
            names += [f"{column}[T.{lvl}]" for lvl in dummies.columns]
    x_m = np.column_stack(blocks)
    x_y = np.column_stack([x_m, frame[mediator].to_numpy(float)])
    return _Design(coding, mediator, outcome, list(covariates), x_m, x_y, names, [*names, mediator],
                   1 + others.index(coding.treated), coding.describe(arms))


def _prepare(data, treatment, mediator, outcome, covariates, control, treated,
             who: str) -> tuple[io.ModelFrame, _Design]:
    """Checked complete rows (:func:`analysis.io.model_frame`) and identified design matrices."""
    covariates = list(covariates)
    frame = io.model_frame(data, numeric=[mediator, outcome], other=covariates, arm=treatment, who=who)
    arms = pd.Series(io.arm_factor(data[treatment], column=treatment, by_index=True), index=data.index)
    coding = _coding(list(arms.cat.categories), _numeric_codes(data[treatment]), treatment, control, treated)
    _require_arms(coding, arms, data, [mediator, outcome, *covariates], who)
    design = _design(frame.data, coding, mediator, outcome, covariates)
    io.check_design(design.outcome_matrix, design.outcome_names, who=who, intercept="(Intercept)")
    n, p = design.outcome_matrix.shape
    if n <= p:
        raise io.DataValidationError([io.Problem(
            ", ".join(design.outcome_names[1:]), f"{who}: {n} complete rows for the {p} coefficients of the outcome "
                                                 f"model; at least {p + 1} are needed to estimate its residual "
                                                 "variance")])
    return frame, design


def _single_level(frame: io.ModelFrame, design: _Design, n_boot: int, seed: int, ci: str,
                  conf_level: float) -> MediationResult:
    """Estimates, bootstrap and jackknife of two linear models on prepared rows, with sensitivity."""
    y_m, y_y = design.values(frame.data)
    x_m, x_y = design.mediator_matrix, design.outcome_matrix
    messages = []
    estimate = _effects_from(_ols(x_m, y_m).coef[None], _ols(x_y, y_y).coef[None], design)[0]
    draws, dropped = _bootstrap(x_m, y_m, x_y, y_y, design, n_boot, np.random.default_rng(seed))
    if dropped:
        messages.append(f"{dropped} of {n_boot} bootstrap replicates dropped: a resample left a "
                        "model without variation in a column (e.g. no one in an arm)")
    jack, unused = _jackknife(x_m, y_m, x_y, y_y, design)
    if unused:
        messages.append(f"{unused} rows have leverage 1 (a category held by one row): they are "
                        "left out of the jackknife for the BCa acceleration")
    table, ci_messages = _effect_table(estimate, draws, jack, ci, conf_level)
    messages += ci_messages
    if table.loc["Total Effect", "ci_low"] <= 0 <= table.loc["Total Effect", "ci_high"]:
        messages.append("the total effect's interval includes 0: the proportion mediated is "
                        "unstable and hard to interpret")
    result = MediationResult(
        table=table,
        paths=_ols_paths(x_m, y_m, x_y, y_y, design),
        mediator_model=ols_table(x_m, y_m, design.mediator_names),
        outcome_model=ols_table(x_y, y_y, design.outcome_names),
        draws=pd.DataFrame(draws, columns=list(EFFECTS)),
        jackknife=pd.DataFrame(jack, columns=list(EFFECTS)),
        sensitivity=None,
        kind="single-level", treatment=design.coding.column, mediator=design.mediator, outcome=design.outcome,
        covariates=design.covariates, control=design.control, treated=design.treated,
        ci_method=ci, conf_level=conf_level, n_boot=n_boot, seed=seed,
        nobs=len(frame.data), n_dropped=frame.n_dropped,
        notes=["ACME and ADE are the same under treatment and control (no treatment-mediator "
               "interaction); their common value is reported",
               "causal reading assumes sequential ignorability: no unmeasured confounding of "
               "treatment-mediator, treatment-outcome and mediator-outcome; see sensitivity", *frame.notes],
        warnings=messages, data=frame.data, arms=design.arms,
    )
    return replace(result, sensitivity=medsens(result))


# --- least squares ------------------------------------------------------------------

@dataclass(frozen=True)
class _Ols:
    coef: np.ndarray
    resid: np.ndarray
    rss: float
    xtx_inv: np.ndarray


def _ols(x: np.ndarray, y: np.ndarray) -> _Ols:
    xtx_inv = np.linalg.inv(x.T @ x)
    coef = xtx_inv @ x.T @ y
    resid = y - x @ coef
    return _Ols(coef, resid, float(resid @ resid), xtx_inv)


def _tss(y: np.ndarray) -> float:
    return float(((y - y.mean()) ** 2).sum())


def ols_table(x: np.ndarray, y: np.ndarray, names: list[str]) -> pd.DataFrame:
    """Coefficient table as ``summary(lm(...))`` gives it, with t intervals.

    Parameters
    ----------
    x : numpy.ndarray
        Design matrix (intercept column included).
    y : numpy.ndarray
        Outcome.
    names : list of str
        Column names of ``x``.

    Returns
    -------
    pandas.DataFrame
        ``estimate``, ``se``, ``df``, ``t``, ``p``, ``ci_low``, ``ci_high`` per term.
    """
    fit = _ols(x, y)
    df = len(y) - x.shape[1]
    se = np.sqrt(np.diag(fit.xtx_inv) * fit.rss / df)
    return _t_table(fit.coef, se, df, pd.Index(names, name="term"))


def _t_table(estimate, se, df, index) -> pd.DataFrame:
    estimate, se, df = np.asarray(estimate, float), np.asarray(se, float), np.broadcast_to(df, np.shape(estimate))
    t = estimate / se
    half = stats.t.ppf(0.975, df) * se
    return pd.DataFrame({"estimate": estimate, "se": se, "df": df, "t": t, "p": 2 * stats.t.sf(np.abs(t), df),
                         "ci_low": estimate - half, "ci_high": estimate + half}, index=index)


def _ols_paths(x_m, y_m, x_y, y_y, design: _Design) -> pd.DataFrame:
    k = design.mediator_index
    med = ols_table(x_m, y_m, design.mediator_names)
    out = ols_table(x_y, y_y, design.outcome_names)
    total = ols_table(x_m, y_y, design.mediator_names)
    return pd.DataFrame({"a": med.iloc[k], "b": out.iloc[-1], "c_prime": out.iloc[k], "c": total.iloc[k]}).T


# --- effects, bootstrap, jackknife ---------------------------------------------------

def _effects(acme: np.ndarray, ade: np.ndarray) -> np.ndarray:
    total = acme + ade
    with np.errstate(divide="ignore", invalid="ignore"):
        prop = acme / total
    return np.column_stack([acme, ade, total, prop])


def _effects_from(coef_m: np.ndarray, coef_y: np.ndarray, design: _Design) -> np.ndarray:
    """Effects (rows: fits) from mediator and outcome coefficients (rows: fits)."""
    k = design.mediator_index
    return _effects(coef_m[:, k] * coef_y[:, -1], coef_y[:, k])


def _resample_counts(rng: np.random.Generator, n: int, size: int) -> np.ndarray:
    """How often each row is drawn in ``size`` resamples of n rows with replacement."""
    draws = rng.integers(0, n, size=(size, n)) + n * np.arange(size)[:, None]
    return np.bincount(draws.ravel(), minlength=size * n).reshape(size, n).astype(float)


def _weighted_ols(x: np.ndarray, y: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Least squares for each row of ``weights`` (frequency weights); NaN where singular."""
    n, p = x.shape
    xtx = (weights @ (x[:, :, None] * x[:, None, :]).reshape(n, p * p)).reshape(-1, p, p)
    xty = weights @ (x * y[:, None])
    singular = ~(np.linalg.cond(xtx) < CONDITION_LIMIT)
    xtx[singular], xty[singular] = np.eye(p), 0.0
    coef = np.linalg.solve(xtx, xty[..., None])[..., 0]
    coef[singular] = np.nan
    return coef


def _bootstrap(x_m, y_m, x_y, y_y, design: _Design, n_boot: int, rng: np.random.Generator):
    """Effects in each bootstrap replicate (rows resampled); number of replicates dropped."""
    out = []
    for start in range(0, n_boot, BATCH):
        weights = _resample_counts(rng, len(y_m), min(BATCH, n_boot - start))
        out.append(_effects_from(_weighted_ols(x_m, y_m, weights), _weighted_ols(x_y, y_y, weights), design))
    draws = np.concatenate(out)
    dropped = np.isnan(draws[:, :3]).any(axis=1)
    return draws[~dropped], int(dropped.sum())


def _leave_one_out(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Coefficients without each row (closed form via leverages); rows with leverage 1 flagged."""
    fit = _ols(x, y)
    projected = x @ fit.xtx_inv
    leverage = np.einsum("ij,ij->i", projected, x)
    bad = leverage > LEVERAGE_LIMIT
    with np.errstate(divide="ignore", invalid="ignore"):
        change = projected * (fit.resid / (1 - leverage))[:, None]
    return fit.coef - change, bad


def _jackknife(x_m, y_m, x_y, y_y, design: _Design):
    coef_m, bad_m = _leave_one_out(x_m, y_m)
    coef_y, bad_y = _leave_one_out(x_y, y_y)
    keep = ~(bad_m | bad_y)
    return _effects_from(coef_m[keep], coef_y[keep], design), int((~keep).sum())


def _percentile(draws: np.ndarray, conf_level: float):
    alpha = (1 - conf_level) / 2
    return np.nanquantile(draws, alpha, axis=0), np.nanquantile(draws, 1 - alpha, axis=0)


def _bca(draws: np.ndarray, estimate: np.ndarray, jack: np.ndarray, conf_level: float):
    """BCa limits per column: bias z0 from the replicates, acceleration from the jackknife."""
    alpha = (1 - conf_level) / 2
    low, high = np.full(draws.shape[1], np.nan), np.full(draws.shape[1], np.nan)
    for j in range(draws.shape[1]):
        column = draws[:, j][np.isfinite(draws[:, j])]
        share = np.mean(column < estimate[j])
        if not 0 < share < 1:
            continue
        z0 = stats.norm.ppf(share)
        dev = np.nanmean(jack[:, j]) - jack[:, j]
        accel = np.nansum(dev ** 3) / (6 * np.nansum(dev ** 2) ** 1.5)
        z = stats.norm.ppf([alpha, 1 - alpha])
        levels = stats.norm.cdf(z0 + (z0 + z) / (1 - accel * (z0 + z)))
        low[j], high[j] = np.quantile(column, levels)
    return low, high


def _mediation_p(draws: np.ndarray, estimate: np.ndarray) -> np.ndarray:
    """``mediation``'s p-value: 2 min(share > 0, share < 0), 1 for a zero estimate."""
    p = []
    for column, est in zip(draws.T, estimate):
        column = column[np.isfinite(column)]
        p.append(1.0 if est == 0 else min(1.0, 2 * min(np.sum(column > 0), np.sum(column < 0)) / len(column)))
    return np.array(p)


def _effect_table(estimate, draws, jack, ci, conf_level):
    if ci == "bca":
        low, high = _bca(draws, estimate, jack, conf_level)
    else:
        low, high = _percentile(draws, conf_level)
    messages = []
    undefined = [name for name, lo in zip(EFFECTS, low) if np.isnan(lo)]
    if undefined:
        messages.append(f"BCa interval undefined for {', '.join(undefined)} (all replicates on one "
                        "side of the estimate): use ci='percentile'")
    table = pd.DataFrame({"estimate": estimate, "ci_low": low, "ci_high": high,
                          "p": _mediation_p(draws, estimate)}, index=pd.Index(EFFECTS, name="effect"))
    return table, messages


def _sensitivity_variance(rho, x_m, x_y, rss_m, rss_y, n, design: _Design, a, b) -> float:
    """Delta-method variance of ACME(rho) from the joint (SUR) fit at fixed rho, as medsens."""
    s_m = np.sqrt(rss_m / (n - 1))
    s_y = np.sqrt(rss_y / ((n - 1) * (1 - rho ** 2)))
    omega = np.array([[s_m ** 2, rho * s_m * s_y], [rho * s_m * s_y, s_y ** 2]])
    w = np.linalg.inv(omega)
    p_m = x_m.shape[1]
    info = np.block([[w[0, 0] * x_m.T @ x_m, w[0, 1] * x_m.T @ x_y],
                     [w[1, 0] * x_y.T @ x_m, w[1, 1] * x_y.T @ x_y]])
    cov = np.linalg.inv(info)
    k = design.mediator_index
    var_a = cov[k, k]
    var_b = cov[p_m + x_y.shape[1] - 1, p_m + x_y.shape[1] - 1]
    return float(a ** 2 * var_b + b ** 2 * var_a)
