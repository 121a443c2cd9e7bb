"""Ready-made model families on the trial-data contract: growth, within- and between-person effects,
lagged effects, sources of self-efficacy, adherence, effect sizes and a caseload view.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pandas as pd
import patsy
from scipy import stats

from .. import io, scales
from .design import _require_columns
from .formula import parse
from .glmm import GlmmResult, fit_glmm
from .lmm import fit_lmm
from .mmrm import MmrmResult, mmrm
from .result import LmmResult, _groups

#: Reliable-change category of participants without a baseline and a later score.
NO_FOLLOW_UP = "no follow-up"

#: Cluster label of the participants of a partially nested trial's arm without clusters.
NO_CLUSTER = "(none)"


#: Columns of Bandura's four sources of self-efficacy in the trial-data contract.
SOURCES = ("src_mastery", "src_vicarious", "src_persuasion", "src_physiological")


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


def growth(data: pd.DataFrame, outcome: str, *, time: str = "time", arm: str = "arm",
           group: str = "participant_id", cluster: str | None = None, random_slope: bool = True,
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
    cluster : str, optional
        Column of a level above the participant (``"therapist"``, ``"group"``): the
        three-level model ``+ (time | cluster)`` (``(1 | cluster)`` without
        ``random_slope``). A participant has one cluster at every row, or none at
        every row; participants without one are allowed where their whole arm has
        none (a partially nested trial, e.g. a waitlist without therapists): the
        cluster's effects then apply to the nested arms only,
        ``(0 + nested + nested:time | cluster)`` with ``nested`` = 1 in arms with
        clusters, as in Bauer, Sterba & Hallfors (2008) and powerlmm's partially
        nested model (the others share the cluster label ``NO_CLUSTER``).
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

    Raises
    ------
    analysis.io.DataValidationError
        Besides :func:`analysis.io.model_frame`'s checks: a cluster missing for some
        but not all participants of an arm, or for every participant.
    """
    clusters = [cluster] if cluster else []
    frame = io.model_frame(data, numeric=[outcome, time], optional=clusters, clusters=clusters, arm=arm,
                           group=group, wave=_present(data, wave), who="growth")
    formula = f"{outcome} ~ {_growth_terms(frame, time)}"
    return _family_fit(frame, formula, group, time if random_slope else None, reml, cluster)


def primary(data: pd.DataFrame, outcome: str, *, covariates: Sequence[str] = (), cov: str = "us",
            ddf: str = "kenward-roger", arm: str = "arm", group: str = "participant_id",
            wave: str = "wave") -> MmrmResult:
    """A trial's primary analysis: the MMRM of the post-baseline outcome, adjusted for its baseline.

    Fits :func:`analysis.mixed.mmrm` with ``outcome ~ baseline + covariates +
    C(wave) * arm`` on the waves after the first, the visits' covariance ``cov``
    (unstructured by default) and Kenward-Roger df; the arm difference at the last
    visit is then ``contrast(fit, "arm", at={wave: last})``.

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial data.
    outcome : str
        Column of the outcome, e.g. ``"phq9_total"``; its value at the first wave is
        the baseline covariate ``{outcome}_baseline`` (participants without a
        baseline value are left out, as in an ANCOVA-type MMRM).
    covariates : sequence of str
        Further baseline covariates (e.g. ``["age", "sex"]``).
    cov, ddf : str
        As :func:`analysis.mixed.mmrm`.
    arm, group, wave : str
        Columns of arm, participant and wave (the visit).

    Returns
    -------
    MmrmResult
    """
    frame = io.model_frame(data, numeric=[wave], partial=[outcome], other=list(covariates), arm=arm, group=group,
                           wave=wave, who="primary")
    rows = frame.data
    first = rows[wave].min()
    baseline = rows.loc[rows[wave] == first].set_index(group)[outcome]
    rows = rows.assign(**{f"{outcome}_baseline": rows[group].map(baseline)})
    after = rows[(rows[wave] > first) & rows[outcome].notna() & rows[f"{outcome}_baseline"].notna()]
    terms = " + ".join([f"{outcome}_baseline", *covariates, f"C({wave}) * {arm}" if frame.has_arms else f"C({wave})"])
    fit = mmrm(after, f"{outcome} ~ {terms}", group, wave, cov=cov, ddf=ddf)
    return replace(fit, warnings=tuple(frame.notes) + fit.warnings)


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
              wave: str = "wave", arm: str = "arm", group: str = "participant_id") -> GlmmResult:
    """SE before an interval predicting the sessions of that interval attended, out of those offered.

    Fits the binomial GLMM (logit link, Laplace as lme4's ``glmer``)
    ``attended out of offered ~ {predictor}_lag_within + {predictor}_lag_between + arm
    + (1 | group)`` on the rows with sessions offered, where the counts are those of
    the interval ending at wave ``w`` and the predictor is measured at the study's
    previous wave.

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial data with session counts.
    predictor : str, default "gse_total"
    attended, offered : str
        Session-count columns.
    wave, arm, group : str
        Columns of wave number, arm and participant.

    Returns
    -------
    GlmmResult
        Coefficients are log odds ratios of attending a session: ``exp`` of the
        ``_within`` one is the odds ratio per SE point above the person's usual level.
    """
    checked = io.model_frame(data, partial=[attended, offered, predictor], arm=arm, group=group,
                             wave=wave, counts=(attended, offered), who="adherence")
    lags = _lag(checked.data, [predictor], group, wave)
    frame = io.model_frame(lags[lags[offered] > 0], numeric=[f"{predictor}_lag", attended, offered], arm=arm,
                           group=group, who="adherence")
    rows = decompose(frame.data, f"{predictor}_lag", group)
    formula = f"{attended} ~ {predictor}_lag_within + {predictor}_lag_between"
    formula += f" + {arm}" if frame.has_arms else ""
    return _glmm_family_fit(frame, rows, f"{formula} + (1 | {group})", trials=offered)


def remission(data: pd.DataFrame, outcome: str, threshold: float, *, time: str = "time", arm: str = "arm",
              group: str = "participant_id", cluster: str | None = None, wave: str = "wave",
              nagq: int = 1) -> GlmmResult:
    """Remission (outcome below a threshold, e.g. PHQ-9 < 5) over time by arm, a binomial GLMM.

    Fits ``remitted ~ time * arm + (1 | group)`` (logit link), where ``remitted`` is 1
    at a wave where ``outcome < threshold``, else 0; with a ``cluster``,
    ``+ (1 | cluster)`` (partially nested: as in :func:`growth`).

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial data.
    outcome : str
        Column of the symptom total, e.g. ``"phq9_total"``.
    threshold : float
        Scores below it count as remission (PHQ-9 and GAD-7: 5).
    time, arm, group, wave : str
        As in :func:`growth`.
    cluster : str, optional
        Therapists or groups, a random intercept of their own (as in :func:`growth`).
    nagq : int, default 1
        Laplace (1) or adaptive Gauss-Hermite points (as :func:`fit_glmm`; one
        random-effect term only).

    Returns
    -------
    GlmmResult
        ``time:arm[T.a]`` is the difference in the log odds of remission per time
        unit between arm ``a`` and the reference arm; :func:`contrast` with
        ``at={time: end}`` and ``type="response"`` gives the odds ratio at the end.

    Raises
    ------
    analysis.io.DataValidationError
        As :func:`growth`; or when no score, or every score, is below the threshold
        (a constant response).
    """
    clusters = [cluster] if cluster else []
    frame = io.model_frame(data, numeric=[outcome, time], optional=clusters, clusters=clusters, arm=arm,
                           group=group, wave=_present(data, wave), who="remission")
    rows, terms = (_cluster_terms(frame, group, cluster, None) if cluster
                   else (frame.data, f"(1 | {group})"))
    rows = rows.assign(remitted=(rows[outcome] < threshold).astype(int))
    return _glmm_family_fit(frame, rows, f"remitted ~ {_growth_terms(frame, time)} + {terms}", nagq=nagq)


def _glmm_family_fit(frame: io.ModelFrame, rows: pd.DataFrame, formula: str, **options) -> GlmmResult:
    """:func:`fit_glmm` on a model family's prepared rows, with the frame's notes and arms."""
    fit = fit_glmm(rows, formula, family="binomial", **options)
    return replace(fit, warnings=list(frame.notes) + fit.warnings, n_dropped=frame.n_dropped + fit.n_dropped,
                   arms=frame.describe())


def cluster_icc(fit: LmmResult, cluster: str, time: str = "time", at=None) -> pd.DataFrame:
    r"""The cluster's (therapist's, group's) share of the outcome variance at given times.

    For a three-level growth model (:func:`growth` with ``cluster``), the variance of
    one observation at time :math:`t` splits into the cluster's part
    :math:`z' G_c z`, the participant's :math:`z' G_p z` (:math:`z = (1, t)`) and the
    residual :math:`\sigma^2`; the intra-class correlation is the cluster's share,
    the correlation of two patients of one therapist at time :math:`t`. In a
    partially nested trial it is that of the nested arms.

    Parameters
    ----------
    fit : LmmResult
        A fit with random terms for ``cluster`` and one other grouping factor.
    cluster : str
        The cluster's grouping factor, e.g. ``"therapist"``.
    time : str, default "time"
        The time variable of the random slopes.
    at : sequence of float, optional
        Times; default the first and last time in the data (baseline and end).

    Returns
    -------
    pandas.DataFrame
        Indexed by ``time``: ``cluster_var``, ``participant_var``, ``residual_var``
        and ``icc``.

    Raises
    ------
    ValueError
        If ``fit`` has no random term for ``cluster`` or no other one.
    """
    vc = fit.varcorr
    others = [g for g in vc["grp"].unique() if g not in (cluster, "Residual")]
    if cluster not in set(vc["grp"]) or len(others) != 1:
        raise ValueError(f"cluster_icc needs random terms for {cluster!r} and one other factor; the fit has "
                         f"{[g for g in vc['grp'].unique() if g != 'Residual']}")
    times = np.asarray(at if at is not None else [fit.data[time].min(), fit.data[time].max()], dtype=float)
    parts = {"cluster_var": _level_variance(vc[vc["grp"] == cluster], time, times),
             "participant_var": _level_variance(vc[vc["grp"] == others[0]], time, times),
             "residual_var": np.full(len(times), fit.sigma2)}
    table = pd.DataFrame(parts, index=pd.Index(times, name=time))
    return table.assign(icc=table["cluster_var"] / table.sum(axis=1))


def _level_variance(rows: pd.DataFrame, time: str, times: np.ndarray) -> np.ndarray:
    """z(t)' G z(t) of one factor's VarCorr rows, z = 1 for intercepts and t for ``time`` slopes."""
    def z(name):
        return times if name == time or name.endswith(f":{time}") else np.ones_like(times)

    return sum((1 if pd.isna(r.var2) else 2) * r.vcov * z(r.var1) * z(r.var1 if pd.isna(r.var2) else r.var2)
               for r in rows.itertuples())


def level_ignored(fit: LmmResult, ignored: LmmResult, terms: str = "arm") -> pd.DataFrame:
    """How the arm effects' SE and df change when a level (therapists) is left out of the model.

    Parameters
    ----------
    fit, ignored : LmmResult
        The model with the level (e.g. :func:`growth` with ``cluster``) and the same
        model without it.
    terms : str, default "arm"
        Fixed effects whose names contain this are compared.

    Returns
    -------
    pandas.DataFrame
        Indexed by term: ``estimate``, ``se``, ``df`` of ``fit``, ``se_ignored``,
        ``df_ignored`` of ``ignored`` and ``se_ratio`` (``se / se_ignored``: how much
        wider the honest interval is).
    """
    rows = fit.fixed.filter(like=terms, axis=0).index
    table = fit.fixed.loc[rows, ["estimate", "se", "df"]].join(
        ignored.fixed.loc[rows, ["se", "df"]].add_suffix("_ignored"))
    return table.assign(se_ratio=table["se"] / table["se_ignored"])


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
    if fit.group is None:
        raise ValueError("caseload: the model has several grouping factors; a participant's slope here comes "
                         "from a model with the participant as its one factor (growth without cluster=)")
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


def model_table(fits: dict[str, LmmResult | GlmmResult]) -> pd.DataFrame:
    """One row per named fit: size, fit statistics and convergence status.

    Parameters
    ----------
    fits : dict of str to LmmResult or GlmmResult

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
        terms = parse(fit.formula).random
        random = " + ".join(map(str, terms)) if terms else f"({fit.re_formula[1:]} | {fit.group})"
        rows[name] = {"formula": fit.formula, "random": random, "nobs": fit.nobs,
                      "groups": _groups(fit), "logLik": fit.loglik,
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
                reml: bool, cluster: str | None = None) -> LmmResult:
    """Fit a model family on prepared rows; a random slope the data cannot identify becomes intercepts.

    With a ``cluster`` the model gains that level (:func:`_cluster_terms`).
    """
    notes = list(frame.notes)
    if slope is not None and not _slope_identified(frame.data, group):
        notes.append(f"random slope for {slope} not identified (at most two observations per {group}: "
                     f"lme4 refuses it); fitted with random intercepts only")
        slope = None
    if cluster is None:
        fit = fit_lmm(frame.data, formula, group, f"~{slope}" if slope else "~1", reml)
    else:
        rows, terms = _cluster_terms(frame, group, cluster, slope)
        fit = fit_lmm(rows, f"{formula} + {terms}", reml=reml)
    return replace(fit, warnings=notes + fit.warnings, n_dropped=frame.n_dropped + fit.n_dropped,
                   arms=frame.describe())


def _cluster_terms(frame: io.ModelFrame, group: str, cluster: str,
                   slope: str | None) -> tuple[pd.DataFrame, str]:
    """The random terms of a three-level model, and its rows (partial nesting: see :func:`growth`)."""
    data, expr = frame.data, slope or "1"
    terms = f"({expr} | {group})"
    has = data[cluster].notna()
    if has.all():
        return data, f"{terms} + ({expr} | {cluster})"
    _check_partial_nesting(data, frame.arm, cluster, has)
    nested = f"in_{cluster}"
    labels = data[cluster].astype(object).where(has, NO_CLUSTER).astype(str)
    rows = data.assign(**{nested: has.astype(float), cluster: labels})
    level = f"0 + {nested}" + (f" + {nested}:{slope}" if slope else "")
    return rows, f"{terms} + ({level} | {cluster})"


def _check_partial_nesting(data: pd.DataFrame, arm: str | None, cluster: str, has: pd.Series) -> None:
    """Refuse participants without a cluster in an arm whose others have one (or no cluster at all)."""
    if not has.any():
        raise io.DataValidationError([io.Problem(cluster, f"no participant has a {cluster}: leave out "
                                                          f"cluster= for a two-level model")])
    nested_arm = has.groupby(data[arm], observed=True).transform("any") if arm else pd.Series(True, data.index)
    stray = nested_arm & ~has
    if stray.any():
        raise io.DataValidationError([io._problem(
            cluster, f"missing in an arm whose other participants have a {cluster} (only a whole arm may "
                     f"have none, as a waitlist in a partially nested trial)", data[arm] if arm else data[cluster],
            stray, by_index=True)])


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
