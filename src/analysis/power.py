r"""Simulation-based power for a planned trial, parallel on Dask.

A planned trial (:class:`TrialDesign`) is simulated many times; each simulated trial
is analysed as the suite analyses a real one, and the power for an effect is the
share of simulated trials in which the analysis detects it.

Generative model
----------------
Participant :math:`i` is randomised to arm :math:`a = a(i)` (exactly ``n_per_arm``
per arm; the first arm is the reference) and measured at waves
:math:`w = 0, \dots, W-1`, at :math:`t_w = w \cdot` ``weeks_per_wave`` weeks:

.. math::

   S_{iw} &= \mu_S + s_i + \beta^S_i t_w + e_{iw}, \qquad
   \beta^S_i = \beta^S_{ref} + \delta^S_a + u_i \\
   D_{iw} &= \mu_D + d_i + \beta^D_i t_w + f_{iw}, \qquad
   \beta^D_i = \beta^D_{ref} + (\delta^D_a - b\,\delta^S_a) + b\,(\delta^S_a + u_i) + r_i

with SE (:math:`S`) and symptoms (:math:`D`) on a continuous total-score metric,
independent normal intercepts :math:`s_i, d_i` (SDs ``se_intercept_sd``,
``symptom_intercept_sd``), :math:`u_i \sim N(0, \sigma_{\beta S}^2)`,
:math:`r_i \sim N(0, \sigma_{\beta D}^2 (1 - \rho^2))`, independent residuals
:math:`e_{iw} \sim N(0, \sigma_{eS}^2)`, :math:`f_{iw} \sim N(0, \sigma_{eD}^2)`, and
:math:`b = \rho\, \sigma_{\beta D} / \sigma_{\beta S}` (:math:`\rho` =
``slope_corr``). As in :func:`analysis.simulate.trial`, treatment acts on symptoms
partly through SE: :math:`\delta^S_a` (``se_effect``) is the arm x time effect on SE,
:math:`\delta^D_a` (``symptom_effect``) the *total* arm x time effect on symptoms,
within an arm the slopes have SDs :math:`\sigma_{\beta S}, \sigma_{\beta D}` and
correlation :math:`\rho`, and the indirect (mediated) effect is
:math:`\delta^S_a b`. Dropout is monotone and completely at random: a participant
observed at wave :math:`w - 1` leaves before wave :math:`w` with probability
``dropout``, so a share :math:`(1 - \text{dropout})^w` is expected at wave
:math:`w`. :func:`analysis.simulate.trial` is not used because its scores are
rounded and clipped item sums with autoregressive within-person dynamics: neither
has the independent residual SD a power calculation is planned with, nor the
analytic answer that checks this module.

Analysis of each simulated trial
--------------------------------
* **Symptoms, SE**: the growth model ``outcome ~ time * arm + (time | participant)``
  by REML with :func:`analysis.mixed.growth` (the fast engine, with its own
  fallback); the ``time:arm`` effect is detected when fit_lmm's two-sided
  Satterthwaite t-test has p < ``alpha``. A fit that fails lme4's gradient check
  (or cannot be computed) counts as failed and as *not* detecting the effect;
  singular (boundary) fits are kept, as an analyst would keep them, and counted.
* **Mediation**: the joint significance test (MacKinnon, Lockwood, Hoffman, West &
  Sheets, 2002; its p-value is the larger of the two): path *a* is the SE model's
  ``time:arm`` effect above; path *b* the least-squares regression, adjusted for
  arm, of each participant's own symptom slope (OLS over their waves; participants
  with at least two waves) on their predicted SE slope (the SE model's conditional
  mode), by its t-test. Predicting the SE slope is regression calibration: a
  participant's raw OLS SE slope carries their residual noise and would attenuate
  :math:`\hat b` toward 0, the shrunken prediction does not. The estimate reported
  is :math:`\hat a \hat b`. The test of :math:`b = 0` keeps its level because the
  two outcomes' residuals are independent. A singular SE fit (no between-person
  slope variance left, or a slope perfectly tied to the intercept) gives no usable
  predicted slopes, so for mediation it counts as failed (and not detected).

Reproducibility: trial ``k`` of a run draws from its own
``np.random.SeedSequence(seed).spawn(n_sims)[k]``, so results are identical
whatever the number of workers or the chunking. :func:`power_curve` reuses the
same seeds at every sample size.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats
from statsmodels.stats.proportion import proportion_confint
from tqdm import tqdm

from . import io, mediation, mixed, report

__all__ = ["TrialDesign", "simulate_trial", "analyse_trial", "run_trials", "summarise", "power",
           "power_curve", "sample_size", "analytic_power", "compare_analytic", "describe",
           "dask_client", "run_config", "PowerConfigError", "PowerRunError", "EFFECTS", "SYNCHRONOUS"]

#: Effects whose power is estimated, in table order.
EFFECTS = ("symptoms", "self_efficacy", "mediation")
#: ``scheduler`` value that runs every trial in the calling process (no cluster).
SYNCHRONOUS = "synchronous"
#: Level of the Monte Carlo (Wilson) interval around each power estimate.
MC_LEVEL = 0.95
#: Trials per Dask task at most, and tasks aimed for per worker (for load balance).
MAX_CHUNK = 25
CHUNKS_PER_WORKER = 4
#: Seconds to wait for an existing Dask scheduler.
CONNECT_TIMEOUT = 10
#: Keys of a power config file (see :func:`run_config`).
CONFIG_KEYS = ("design", "n_per_arm", "n_sims", "seed", "output")
DEFAULT_OUTPUT = "reports/power"
#: Name of :func:`analyse_trial` in messages about its data.
ANALYSE = "power.analyse_trial"


@dataclass(frozen=True)
class TrialDesign:
    """A planned randomised trial with SE and symptoms measured at several waves.

    Slopes and effects are per week, in total-score points (e.g. PHQ-9 for
    symptoms, GSE-10 for SE); the model is in the module docstring.

    Parameters
    ----------
    n_per_arm : int, default 100
        Participants randomised to each arm (at least 3).
    arms : sequence of str, default ("control", "treatment")
        Arm labels, at least two, distinct; the first is the reference arm.
    waves : int, default 5
        Measurement occasions, wave 0 (baseline) to ``waves - 1``; at least 3, so
        that random intercepts, slopes and the residual are identified.
    weeks_per_wave : float, default 2.0
        Weeks between waves.
    symptom_effect : float or mapping of str to float, default -0.3
        Total arm x time effect on the symptom slope (points per week) of each
        non-reference arm: one number for all, or a mapping arm -> effect (arms
        not named: 0).
    se_effect : float or mapping of str to float, default 0.3
        Arm x time effect on the SE slope, likewise.
    slope_corr : float, default -0.5
        Within-arm correlation of the SE and symptom slopes; sets the mediation
        path ``b = slope_corr * symptom_slope_sd / se_slope_sd``. Must be 0 when
        either slope SD is 0.
    dropout : float, default 0.05
        Probability of leaving before each wave after baseline (monotone,
        completely at random), in [0, 1).
    symptom_intercept_mean, symptom_intercept_sd : float, default 14.0, 4.0
        Mean and SD of the person symptom intercepts.
    symptom_slope_reference, symptom_slope_sd : float, default -0.15, 0.25
        Mean symptom slope in the reference arm and within-arm SD of the slopes.
    symptom_residual_sd : float, default 2.5
        SD of the symptom residual at each wave (> 0).
    se_intercept_mean, se_intercept_sd : float, default 25.0, 4.0
    se_slope_reference, se_slope_sd : float, default 0.1, 0.2
    se_residual_sd : float, default 2.5
        The same for SE.
    alpha : float, default 0.05
        Two-sided significance level of every test, in (0, 1).

    Raises
    ------
    ValueError
        Naming the parameter and its value, when one is out of range.
    """

    n_per_arm: int = 100
    arms: tuple[str, ...] = ("control", "treatment")
    waves: int = 5
    weeks_per_wave: float = 2.0
    symptom_effect: float | Mapping[str, float] = -0.3
    se_effect: float | Mapping[str, float] = 0.3
    slope_corr: float = -0.5
    dropout: float = 0.05
    symptom_intercept_mean: float = 14.0
    symptom_intercept_sd: float = 4.0
    symptom_slope_reference: float = -0.15
    symptom_slope_sd: float = 0.25
    symptom_residual_sd: float = 2.5
    se_intercept_mean: float = 25.0
    se_intercept_sd: float = 4.0
    se_slope_reference: float = 0.1
    se_slope_sd: float = 0.2
    se_residual_sd: float = 2.5
    alpha: float = 0.05

    def __post_init__(self):
        object.__setattr__(self, "arms", _check_arms(self.arms))
        _check_integer("n_per_arm", self.n_per_arm, 3)
        _check_integer("waves", self.waves, 3)
        _check_number("weeks_per_wave", self.weeks_per_wave, low=0.0, low_open=True)
        for name in ("symptom_intercept_mean", "symptom_slope_reference", "se_intercept_mean",
                     "se_slope_reference"):
            _check_number(name, getattr(self, name))
        for name in ("symptom_intercept_sd", "symptom_slope_sd", "se_intercept_sd", "se_slope_sd"):
            _check_number(name, getattr(self, name), low=0.0)
        for name in ("symptom_residual_sd", "se_residual_sd"):
            _check_number(name, getattr(self, name), low=0.0, low_open=True)
        _check_number("slope_corr", self.slope_corr, low=-1.0, high=1.0)
        _check_number("dropout", self.dropout, low=0.0, high=1.0, high_open=True)
        _check_number("alpha", self.alpha, low=0.0, high=1.0, low_open=True, high_open=True)
        if self.slope_corr != 0 and (self.se_slope_sd == 0 or self.symptom_slope_sd == 0):
            raise ValueError(f"slope_corr must be 0 when se_slope_sd or symptom_slope_sd is 0, "
                             f"got {self.slope_corr!r}")
        for name in ("symptom_effect", "se_effect"):
            object.__setattr__(self, name, _arm_effects(name, getattr(self, name), self.arms))

    @property
    def times(self) -> np.ndarray:
        """Weeks since baseline of each wave."""
        return np.arange(self.waves) * float(self.weeks_per_wave)

    @property
    def b_path(self) -> float:
        """Within-arm regression of the symptom slope on the SE slope (0 without spread)."""
        if self.slope_corr == 0:
            return 0.0
        return self.slope_corr * self.symptom_slope_sd / self.se_slope_sd

    def true_effects(self) -> dict[tuple[str, str], float]:
        """The design's value of every tested effect, keyed by ``(effect, arm)``."""
        out = {}
        for arm in self.arms[1:]:
            out["symptoms", arm] = self.symptom_effect[arm]
            out["self_efficacy", arm] = self.se_effect[arm]
            out["mediation", arm] = self.se_effect[arm] * self.b_path
        return {(effect, arm): out[effect, arm] for effect in EFFECTS for arm in self.arms[1:]}


def simulate_trial(design: TrialDesign, seed=0) -> pd.DataFrame:
    """One simulated trial of ``design``, in long format.

    Parameters
    ----------
    design : TrialDesign
    seed : int, numpy.random.SeedSequence or numpy.random.Generator, default 0
        Passed to ``numpy.random.default_rng``. The draws have fixed shapes, so
        two designs that differ only in ``dropout`` share their complete data.

    Returns
    -------
    pandas.DataFrame
        One row per participant and observed wave: ``participant_id`` (int),
        ``wave``, ``time`` (weeks), ``arm`` (ordered categorical, ``design.arms``),
        ``self_efficacy`` and ``symptoms``.
    """
    rng = np.random.default_rng(seed)
    n_arms, n_waves, times = len(design.arms), design.waves, design.times
    arm_idx = np.repeat(np.arange(n_arms), design.n_per_arm)
    n = arm_idx.size
    person = rng.standard_normal((4, n))
    residual = rng.standard_normal((2, n, n_waves))
    leaves = rng.random((n, n_waves - 1)) < design.dropout
    se_effect = np.array([0.0] + [design.se_effect[a] for a in design.arms[1:]])[arm_idx]
    total = np.array([0.0] + [design.symptom_effect[a] for a in design.arms[1:]])[arm_idx]
    se_slope = design.se_slope_reference + se_effect + design.se_slope_sd * person[2]
    direct = total - design.b_path * se_effect
    through_se = design.b_path * (se_slope - design.se_slope_reference)
    own = design.symptom_slope_sd * np.sqrt(1 - design.slope_corr**2) * person[3]
    sym_slope = design.symptom_slope_reference + direct + through_se + own
    se_intercept = design.se_intercept_mean + design.se_intercept_sd * person[0]
    sym_intercept = design.symptom_intercept_mean + design.symptom_intercept_sd * person[1]
    se = se_intercept[:, None] + se_slope[:, None] * times + design.se_residual_sd * residual[0]
    sym = sym_intercept[:, None] + sym_slope[:, None] * times + design.symptom_residual_sd * residual[1]
    last = np.where(leaves.any(axis=1), leaves.argmax(axis=1), n_waves - 1)
    wave = np.tile(np.arange(n_waves), n)
    pid = np.repeat(np.arange(n), n_waves)
    keep = wave <= last[pid]
    return pd.DataFrame({
        "participant_id": pid[keep],
        "wave": wave[keep],
        "time": times[wave[keep]],
        "arm": pd.Categorical.from_codes(arm_idx[pid[keep]], categories=list(design.arms),
                                         ordered=True),
        "self_efficacy": se.ravel()[keep],
        "symptoms": sym.ravel()[keep],
    })


def analyse_trial(data: pd.DataFrame, design: TrialDesign) -> pd.DataFrame:
    """Test every effect of ``design`` on one trial's data (see the module docstring).

    Parameters
    ----------
    data : pandas.DataFrame
        As :func:`simulate_trial` returns it, or a trial in that layout:
        ``participant_id``, ``wave``, ``time``, ``arm``, ``self_efficacy`` and
        ``symptoms``, one row per participant and wave. The arm may be coded in any
        way :func:`analysis.io.arm_factor` reads (text, 0/1 or 1/2 codes, booleans,
        categorical); its levels must be the design's arms (codes read as text, so
        0/1 codes go with ``arms=("0", "1")``), whose first is the reference. Rows
        with a missing value are left out.
    design : TrialDesign
        Supplies the arms and ``alpha``.

    Returns
    -------
    pandas.DataFrame
        One row per effect and non-reference arm (``EFFECTS`` order): ``effect``,
        ``arm``, ``estimate``, ``p``, ``detected`` (p < alpha from a usable fit),
        ``failed`` (the model failed lme4's gradient check or could not be
        computed; for mediation, the SE model failed or is singular) and
        ``singular``.

    Raises
    ------
    analysis.io.DataValidationError
        A column is missing or not numeric, a (participant, wave) pair repeats, an
        arm is spelled two ways or changes within a participant, or the data's arms
        (with complete rows) are not the design's; each naming the column, rows
        (index labels) and values.
    """
    data = _trial_frame(data, design)
    others = list(design.arms[1:])
    fits = {outcome: _growth(data, outcome) for outcome in ("symptoms", "self_efficacy")}
    b_estimate, b_p = _b_path_test(data, fits["self_efficacy"])
    rows = []
    for effect in EFFECTS:
        for arm in others:
            if effect == "mediation":
                a = _arm_time(fits["self_efficacy"], arm)
                row = dict(a, estimate=a["estimate"] * b_estimate, p=float(np.max([a["p"], b_p])),
                           failed=a["failed"] or a["singular"])
            else:
                row = _arm_time(fits[effect], arm)
            rows.append({"effect": effect, "arm": arm, **row})
    table = pd.DataFrame(rows)
    table["detected"] = ~table["failed"] & (table["p"] < design.alpha)
    return table[["effect", "arm", "estimate", "p", "detected", "failed", "singular"]]


def _trial_frame(data: pd.DataFrame, design: TrialDesign) -> pd.DataFrame:
    """The complete rows of a trial, checked by :func:`analysis.io.model_frame`, arms in the design's order."""
    frame = io.model_frame(data, numeric=["time", "symptoms", "self_efficacy"], arm="arm", group="participant_id",
                           wave="wave", who=ANALYSE)
    if sorted(frame.levels) != sorted(design.arms):
        dropped = f" ({'; '.join(frame.notes)})" if frame.notes else ""
        raise io.DataValidationError([io.Problem("arm", f"{ANALYSE}: the data's arms {frame.levels}{dropped} are not "
                                                        f"the design's arms {list(design.arms)}; recode the arm "
                                                        "column or give the design the data's arms")])
    arm = io.arm_factor(frame.data["arm"], order=design.arms, reference=design.arms[0], by_index=True)
    return frame.data.assign(arm=arm)


def _growth(data: pd.DataFrame, outcome: str) -> mixed.LmmResult | None:
    """The growth model of ``outcome``, or None when it cannot be computed."""
    try:
        return mixed.growth(data, outcome)
    except np.linalg.LinAlgError:
        return None


def _arm_time(fit: mixed.LmmResult | None, arm: str) -> dict:
    """Estimate, p and fit status of the ``time:arm`` effect of ``arm``."""
    if fit is None:
        return {"estimate": np.nan, "p": np.nan, "failed": True, "singular": False}
    row = fit.fixed.loc[f"time:arm[T.{arm}]"]
    return {"estimate": float(row["estimate"]), "p": float(row["p"]), "failed": not fit.converged,
            "singular": fit.singular}


def _b_path_test(data: pd.DataFrame, se_fit: mixed.LmmResult | None) -> tuple[float, float]:
    """Path b: person symptom slope on predicted SE slope, adjusted for arm (estimate, p).

    The regressor is the SE model's conditional mode of each person's slope
    (regression calibration), whose shrinkage undoes the attenuation a noisy
    per-person SE slope would cause; the outcome is the person's OLS symptom slope
    (people with at least two waves). NaN when the SE model failed, is singular or
    has no random slope (two waves cannot identify it: see :func:`analysis.mixed.growth`).
    """
    if se_fit is None or se_fit.singular or "time" not in se_fit.random_effects:
        return np.nan, np.nan
    ids, first = np.unique(data["participant_id"].to_numpy(), return_index=True)
    index = np.searchsorted(ids, data["participant_id"].to_numpy())
    symptom_slope = _person_slopes(index, data["time"].to_numpy(), data["symptoms"].to_numpy())
    se_slope = se_fit.random_effects["time"].reindex(ids).to_numpy()
    arm = data["arm"].cat.codes.to_numpy()[first]
    has = np.isfinite(symptom_slope)
    dummies = (arm[has, None] == np.arange(1, len(data["arm"].cat.categories))).astype(float)
    x = np.column_stack([np.ones(has.sum()), dummies, se_slope[has]])
    if has.sum() <= x.shape[1] or np.linalg.matrix_rank(x) < x.shape[1]:
        return np.nan, np.nan
    names = ["intercept", *[f"arm{k}" for k in range(dummies.shape[1])], "se_slope"]
    row = mediation.ols_table(x, symptom_slope[has], names).loc["se_slope"]
    return float(row["estimate"]), float(row["p"])


def _person_slopes(index: np.ndarray, time: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Each person's least-squares slope of ``y`` on ``time`` (NaN with fewer than 2 times)."""
    count = np.bincount(index)
    t_centred = time - (np.bincount(index, time) / count)[index]
    sxx = np.bincount(index, t_centred**2)
    sxy = np.bincount(index, t_centred * y)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(sxx > 0, sxy / sxx, np.nan)


def _trial_chunk(design: TrialDesign, first: int, seeds: list[np.random.SeedSequence]) -> pd.DataFrame:
    """Simulate and analyse trials ``first, first + 1, ...`` from their own seeds (one Dask task)."""
    tables = []
    for k, seed in enumerate(seeds):
        table = analyse_trial(simulate_trial(design, seed), design)
        table.insert(0, "trial", first + k)
        tables.append(table)
    return pd.concat(tables, ignore_index=True)


@contextmanager
def dask_client(scheduler=None, workers: int | None = None):
    """Where the trials run: a Dask client, or None for :data:`SYNCHRONOUS`.

    Parameters
    ----------
    scheduler : None, str or distributed.Client, default None
        None: a ``LocalCluster`` of worker processes (one thread each), closed on
        exit. ``"synchronous"``: no cluster, trials run in the calling process.
        Another string: the address of a running Dask scheduler, e.g.
        ``"tcp://10.0.0.5:8786"``. A ``Client``: used as it is and left open.
    workers : int, optional
        Worker processes of the local cluster (default: the number of cores);
        only with ``scheduler=None``.

    Raises
    ------
    ValueError
        ``workers`` is not a positive integer, or is given with another scheduler.
    OSError
        The scheduler at the address cannot be reached.
    """
    _check_parallel(scheduler, workers)
    if isinstance(scheduler, str) and scheduler == SYNCHRONOUS:
        yield None
        return
    from distributed import Client, LocalCluster

    if isinstance(scheduler, Client):
        yield scheduler
    elif scheduler is None:
        with LocalCluster(n_workers=workers or os.cpu_count() or 1, threads_per_worker=1,
                          processes=True, dashboard_address=":0",
                          silence_logs=logging.ERROR) as cluster, Client(cluster) as client:
            yield client
    else:
        try:
            client = Client(scheduler, timeout=CONNECT_TIMEOUT)
        except OSError as exc:
            raise OSError(f"cannot reach the Dask scheduler at {scheduler!r}: {exc}") from None
        with client:
            yield client


def _check_parallel(scheduler, workers) -> None:
    """Reject a bad ``workers`` or ``scheduler`` before any cluster starts."""
    if workers is not None:
        _check_integer("workers", workers, 1)
        if scheduler is not None:
            raise ValueError(f"workers applies to the local cluster only; with scheduler "
                             f"{scheduler!r} the cluster's own workers run the trials")
    if scheduler is None or isinstance(scheduler, str) and scheduler:
        return
    from distributed import Client

    if not isinstance(scheduler, Client):
        raise ValueError(f"scheduler must be None, {SYNCHRONOUS!r}, a scheduler address or a "
                         f"distributed.Client, got {scheduler!r}")


def run_trials(design: TrialDesign, n_sims: int = 1000, seed: int = 0, scheduler=None,
               workers: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Simulate and analyse ``n_sims`` trials of ``design`` on Dask.

    Parameters
    ----------
    design : TrialDesign
    n_sims : int, default 1000
        Simulated trials.
    seed : int, default 0
        Trial ``k`` uses ``np.random.SeedSequence(seed).spawn(n_sims)[k]``.
    scheduler, workers
        As in :func:`dask_client`. Tasks are chunks of at most ``MAX_CHUNK`` trials.
    progress : bool, default True
        Show a progress bar over completed chunks (tqdm, on stderr).

    Returns
    -------
    pandas.DataFrame
        :func:`analyse_trial`'s rows of every trial, with a ``trial`` column,
        ordered by trial; identical whatever the workers or chunking.

    Raises
    ------
    PowerRunError
        A chunk of trials was lost with its workers more often than the scheduler
        retries (``distributed.scheduler.allowed-failures``, 3 by default). A worker
        that dies less often costs only time: its chunks rerun elsewhere from their
        own seeds, with the same results.
    """
    _check_integer("n_sims", n_sims, 1)
    _check_integer("seed", seed, 0)
    seeds = np.random.SeedSequence(seed).spawn(n_sims)
    with dask_client(scheduler, workers) as client:
        return _run(design, seeds, client, progress)


def _run(design: TrialDesign, seeds: list, client, progress: bool) -> pd.DataFrame:
    n_workers = 1 if client is None else max(1, sum(client.nthreads().values()))
    size = min(MAX_CHUNK, max(1, math.ceil(len(seeds) / (CHUNKS_PER_WORKER * n_workers))))
    starts = range(0, len(seeds), size)
    parts = {}
    with tqdm(total=len(starts), unit="chunk", desc=f"n_per_arm={design.n_per_arm}",
              disable=not progress) as bar:
        if client is None:
            for start in starts:
                parts[start] = _trial_chunk(design, start, seeds[start:start + size])
                bar.update()
        else:
            from distributed import KilledWorker, as_completed

            futures = {client.submit(_trial_chunk, design, start, seeds[start:start + size],
                                     pure=False): start for start in starts}
            try:
                for future in as_completed(futures):
                    start = futures[future]
                    try:
                        parts[start] = future.result()
                    except KilledWorker:
                        last = min(start + size, len(seeds)) - 1
                        raise PowerRunError(
                            f"the Dask workers running trials {start}-{last} of n_per_arm={design.n_per_arm} "
                            "died, and the scheduler gave up on them (its setting "
                            "distributed.scheduler.allowed-failures)") from None
                    bar.update()
            finally:
                client.cancel(list(futures))
    return pd.concat([parts[start] for start in starts], ignore_index=True)


def summarise(trials: pd.DataFrame, design: TrialDesign) -> pd.DataFrame:
    """Power per effect from :func:`run_trials`' rows.

    Parameters
    ----------
    trials : pandas.DataFrame
        Rows of :func:`run_trials` for ``design``.
    design : TrialDesign

    Returns
    -------
    pandas.DataFrame
        One row per effect and non-reference arm: ``effect``, ``arm``,
        ``n_per_arm``, ``n_sims``, ``true_value`` (the design's effect; for
        mediation a x b), ``power`` (share of trials detecting it), ``mc_se``
        (Monte Carlo SE, sqrt(p(1 - p) / n_sims)), ``ci_low``, ``ci_high`` (95%
        Wilson interval), ``mean_estimate`` (over trials whose fit did not fail),
        ``n_failed`` (trials whose fit failed lme4's gradient check or could not be
        computed, and for mediation also singular SE fits: all counted as not
        detected) and ``n_singular`` (boundary fits, kept for the arm x time tests).
    """
    truth = design.true_effects()
    rows = []
    for (effect, arm), group in trials.groupby(["effect", "arm"], sort=False):
        n, hits = len(group), int(group["detected"].sum())
        p = hits / n
        low, high = proportion_confint(hits, n, alpha=1 - MC_LEVEL, method="wilson")
        low, high = min(low, p), max(high, p)  # Wilson contains p; at 0 or 1 only up to rounding
        rows.append({"effect": effect, "arm": arm, "n_per_arm": design.n_per_arm, "n_sims": n,
                     "true_value": truth[effect, arm], "power": p,
                     "mc_se": math.sqrt(p * (1 - p) / n), "ci_low": low, "ci_high": high,
                     "mean_estimate": group.loc[~group["failed"], "estimate"].mean(),
                     "n_failed": int(group["failed"].sum()),
                     "n_singular": int(group["singular"].sum())})
    table = pd.DataFrame(rows)
    table.attrs.update(alpha=design.alpha)
    return table


def power(design: TrialDesign, n_sims: int = 1000, seed: int = 0, scheduler=None,
          workers: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Simulation-based power of every effect of ``design``.

    Parameters
    ----------
    design : TrialDesign
    n_sims, seed, scheduler, workers, progress
        As in :func:`run_trials`.

    Returns
    -------
    pandas.DataFrame
        As :func:`summarise`; ``attrs`` hold ``alpha`` and ``seed``.

    Examples
    --------
    >>> from analysis import power
    >>> table = power.power(power.TrialDesign(n_per_arm=20), n_sims=4,
    ...                     scheduler="synchronous", progress=False)
    >>> list(table["effect"])
    ['symptoms', 'self_efficacy', 'mediation']
    """
    table = summarise(run_trials(design, n_sims, seed, scheduler, workers, progress), design)
    table.attrs.update(seed=seed)
    return table


def power_curve(design: TrialDesign, n_per_arm: Sequence[int], n_sims: int = 1000, seed: int = 0,
                scheduler=None, workers: int | None = None, progress: bool = True) -> pd.DataFrame:
    """Power of every effect over sample sizes, on one Dask cluster.

    Parameters
    ----------
    design : TrialDesign
        Everything but the sample size.
    n_per_arm : sequence of int
        Participants per arm to simulate (each at least 3); run in increasing order.
    n_sims, seed, scheduler, workers, progress
        As in :func:`run_trials`; every sample size uses the same ``seed``.

    Returns
    -------
    pandas.DataFrame
        :func:`power` tables stacked, ordered by ``n_per_arm``.
    """
    sizes = _check_sizes(n_per_arm)
    _check_integer("n_sims", n_sims, 1)
    _check_integer("seed", seed, 0)
    with dask_client(scheduler, workers) as client:
        where = SYNCHRONOUS if client is None else client
        tables = [power(dataclasses.replace(design, n_per_arm=n), n_sims, seed, where,
                        progress=progress) for n in sizes]
    curve = pd.concat(tables, ignore_index=True)
    curve.attrs.update(alpha=design.alpha, seed=seed)
    return curve


def sample_size(curve: pd.DataFrame, target: float = 0.8) -> pd.DataFrame:
    """The smallest simulated sample size reaching ``target`` power, per effect.

    Parameters
    ----------
    curve : pandas.DataFrame
        From :func:`power_curve`.
    target : float, default 0.8

    Returns
    -------
    pandas.DataFrame
        ``effect``, ``arm``, ``n_per_arm`` (missing when no simulated size reaches
        the target), ``power`` there and its ``ci_low``, ``ci_high``.
    """
    rows = []
    for (effect, arm), group in curve.sort_values("n_per_arm").groupby(["effect", "arm"], sort=False):
        reached = group[group["power"] >= target]
        first = reached.iloc[0] if len(reached) else None
        rows.append({"effect": effect, "arm": arm,
                     "n_per_arm": None if first is None else int(first["n_per_arm"]),
                     **{k: np.nan if first is None else first[k] for k in ("power", "ci_low", "ci_high")}})
    table = pd.DataFrame(rows)
    table["n_per_arm"] = table["n_per_arm"].astype("Int64")
    return table


def analytic_power(design: TrialDesign) -> pd.DataFrame:
    r"""Exact power of the arm x time tests for a design without dropout.

    With every participant observed at the same times, the REML (GLS) arm x time
    estimate equals the difference of the arms' mean per-person OLS slopes, with

    .. math::

       \mathrm{SE}^2 = 2\,(\sigma_\beta^2 + \sigma_e^2 / \textstyle\sum_w (t_w - \bar t)^2)
       / n_{per\,arm},

    and its t statistic is the pooled-variance t with :math:`k (n_{per\,arm} - 1)`
    df (:math:`k` arms; Satterthwaite's df equal these when the fit is not
    singular), so power is the noncentral t probability of :math:`|T| > t_{1-\alpha/2}`.
    ``power_normal`` is the large-sample formula
    :math:`\Phi(|d|/\mathrm{SE} - z_{1-\alpha/2}) + \Phi(-|d|/\mathrm{SE} - z_{1-\alpha/2})`.

    Parameters
    ----------
    design : TrialDesign
        With ``dropout`` 0.

    Returns
    -------
    pandas.DataFrame
        One row per arm x time effect (symptoms, self_efficacy) and non-reference
        arm: ``effect``, ``arm``, ``true_value``, ``se``, ``df``, ``power``,
        ``power_normal``.

    Raises
    ------
    ValueError
        If ``design.dropout`` is not 0: with dropout, participants weigh unequally
        in the REML estimate and there is no closed form.
    """
    if design.dropout != 0:
        raise ValueError(f"analytic_power needs a design without dropout (dropout=0), got "
                         f"dropout={design.dropout!r}: with dropout the REML estimate weighs "
                         f"participants unequally and has no closed form; simulate with power()")
    times = design.times
    sxx = float(((times - times.mean()) ** 2).sum())
    df = len(design.arms) * (design.n_per_arm - 1)
    z, t_crit = stats.norm.ppf(1 - design.alpha / 2), stats.t.ppf(1 - design.alpha / 2, df)
    spread = {"symptoms": (design.symptom_slope_sd, design.symptom_residual_sd),
              "self_efficacy": (design.se_slope_sd, design.se_residual_sd)}
    rows = []
    for (effect, arm), effect_size in design.true_effects().items():
        if effect not in spread:
            continue
        slope_sd, residual_sd = spread[effect]
        se = math.sqrt(2 * (slope_sd**2 + residual_sd**2 / sxx) / design.n_per_arm)
        ratio = abs(effect_size) / se
        rows.append({"effect": effect, "arm": arm, "true_value": effect_size, "se": se, "df": df,
                     "power": stats.nct.sf(t_crit, df, ratio) + stats.nct.cdf(-t_crit, df, ratio),
                     "power_normal": stats.norm.cdf(ratio - z) + stats.norm.cdf(-ratio - z)})
    return pd.DataFrame(rows)


def compare_analytic(table: pd.DataFrame, design: TrialDesign) -> pd.DataFrame:
    """Simulated power beside :func:`analytic_power`, in Monte Carlo SEs.

    Parameters
    ----------
    table : pandas.DataFrame
        :func:`power` of ``design`` (without dropout).
    design : TrialDesign

    Returns
    -------
    pandas.DataFrame
        ``effect``, ``arm``, ``analytic``, ``simulated``, ``mc_se`` (of the
        analytic power at the simulated number of trials) and ``z`` = (simulated -
        analytic) / mc_se: within about ±2 (95%) or ±3 when the simulation agrees.
    """
    exact = analytic_power(design)[["effect", "arm", "power"]].rename(columns={"power": "analytic"})
    out = exact.merge(table[["effect", "arm", "power", "n_sims"]], on=["effect", "arm"])
    out = out.rename(columns={"power": "simulated"})
    out["mc_se"] = np.sqrt(out["analytic"] * (1 - out["analytic"]) / out.pop("n_sims"))
    out["z"] = (out["simulated"] - out["analytic"]) / out["mc_se"]
    return out


def describe(design: TrialDesign) -> str:
    """The design in words (Markdown), for reports."""
    arms, reference = design.arms, design.arms[0]
    end = design.times[-1]
    lines = [f"* {len(arms)} arms ({', '.join(arms)}; reference {reference}), "
             f"**{design.n_per_arm} participants per arm**, measured at {design.waves} waves "
             f"{design.weeks_per_wave:g} weeks apart (weeks 0 to {end:g})."]
    for arm in arms[1:]:
        total, se_part = design.symptom_effect[arm], design.se_effect[arm]
        indirect = se_part * design.b_path
        share = f" ({indirect / total:.0%} of the symptom effect)" if total else ""
        lines.append(
            f"* {arm} vs {reference}: symptom slope {total:+.3g} points per week "
            f"({total * end:+.3g} over {end:g} weeks), SE slope {se_part:+.3g} per week; "
            f"through SE (a x b) {indirect:+.3g} per week{share}.")
    lines.append(
        f"* Within an arm, SE and symptom slopes correlate {design.slope_corr:g} (SDs "
        f"{design.se_slope_sd:g} and {design.symptom_slope_sd:g}), so b = {design.b_path:.3g} "
        f"symptom points per SE point; residual SDs {design.se_residual_sd:g} (SE) and "
        f"{design.symptom_residual_sd:g} (symptoms), intercept SDs {design.se_intercept_sd:g} "
        f"and {design.symptom_intercept_sd:g}.")
    retained = (1 - design.dropout) ** (design.waves - 1)
    lines.append(f"* Dropout {design.dropout:.0%} before each wave (completely at random): "
                 f"{retained:.0%} expected at the last wave. Tests two-sided at alpha "
                 f"{design.alpha:g}.")
    return "\n".join(lines)


# --- config --------------------------------------------------------------------------

class PowerConfigError(ValueError):
    """The power config is wrong; nothing has been run."""


class PowerRunError(RuntimeError):
    """Trials were lost on the Dask cluster (their workers died more often than it retries)."""


def run_config(path: str | Path, scheduler=None, workers: int | None = None,
               output: str | Path | None = None, progress: bool = True) -> pd.DataFrame:
    """Run the power curve a YAML config describes; write ``power.csv`` and ``power_curve.png``.

    The config (see ``config/power.yml``) holds ``design`` (a mapping of
    :class:`TrialDesign` parameters other than ``n_per_arm``), ``n_per_arm`` (a list
    of participants per arm), ``n_sims``, ``seed`` and optionally ``output`` (a
    folder, relative to the current directory; default ``reports/power``).

    Parameters
    ----------
    path : str or Path
        The YAML config.
    scheduler, workers
        As in :func:`dask_client`.
    output : str or Path, optional
        Output folder; overrides the config's.
    progress : bool, default True

    Returns
    -------
    pandas.DataFrame
        The :func:`power_curve` table.

    Raises
    ------
    PowerConfigError
        A missing or unreadable file, unknown keys, or a value of the wrong type
        or out of range (the message names the key and the value), checked before
        anything runs.
    PowerRunError
        Trials were lost with their Dask workers; nothing was written.

    Notes
    -----
    Both files are written only once every trial has run, each to a temporary file
    beside it that then replaces it in one step: a failed or killed run leaves the
    files of the last complete run, never half a file.
    """
    config = load_config(path)
    try:
        _check_parallel(scheduler, workers)
    except ValueError as exc:
        raise PowerConfigError(str(exc)) from None
    curve = power_curve(config["design"], config["n_per_arm"], config["n_sims"], config["seed"],
                        scheduler, workers, progress)
    folder = Path(output or config["output"])
    folder.mkdir(parents=True, exist_ok=True)
    import matplotlib.pyplot as plt

    from .plots import power as power_plots

    figure = power_plots.curve(curve)
    report.folder.replace_whole(folder / "power_curve.png", lambda path: figure.savefig(path, format="png", dpi=120))
    plt.close(figure)
    report.folder.replace_whole(folder / "power.csv", lambda path: curve.to_csv(path, index=False))
    return curve


def load_config(path: str | Path) -> dict:
    """Read and check a power config; ``design`` becomes a :class:`TrialDesign`.

    Raises
    ------
    PowerConfigError
        As :func:`run_config` describes.
    """
    path = Path(path)
    config = report.read_config_file(path, PowerConfigError)
    unknown = sorted(set(config) - set(CONFIG_KEYS))
    if unknown:
        raise PowerConfigError(f"{path}: unknown keys {unknown}; allowed: {list(CONFIG_KEYS)}")
    missing = [key for key in ("design", "n_per_arm", "n_sims", "seed") if key not in config]
    if missing:
        raise PowerConfigError(f"{path}: missing keys {missing}")
    config.setdefault("output", DEFAULT_OUTPUT)
    if not isinstance(config["output"], str) or not config["output"]:
        raise PowerConfigError(f"{path}: output must be a folder name, got {config['output']!r}")
    try:
        config["n_per_arm"] = _check_sizes(config["n_per_arm"])
        _check_integer("n_sims", config["n_sims"], 1)
        _check_integer("seed", config["seed"], 0)
    except ValueError as exc:
        raise PowerConfigError(f"{path}: {exc}") from None
    config["design"] = _design_from(config["design"], path)
    return config


def _design_from(values, path: Path) -> TrialDesign:
    if not isinstance(values, dict):
        raise PowerConfigError(f"{path}: design must be a mapping of design parameters, "
                               f"got {values!r}")
    allowed = [f.name for f in dataclasses.fields(TrialDesign) if f.init and f.name != "n_per_arm"]
    unknown = sorted(set(values) - set(allowed))
    if "n_per_arm" in values:
        raise PowerConfigError(f"{path}: design.n_per_arm: give the sample sizes in the "
                               f"top-level n_per_arm list")
    if unknown:
        raise PowerConfigError(f"{path}: unknown design keys {unknown}; allowed: {allowed}")
    try:
        return TrialDesign(**values)
    except ValueError as exc:
        raise PowerConfigError(f"{path}: design.{exc}") from None


# --- checks ----------------------------------------------------------------------------

def _check_integer(name: str, value, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}, got {value!r}")


def _check_number(name: str, value, low: float | None = None, high: float | None = None,
                  low_open: bool = False, high_open: bool = False) -> None:
    finite = (isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
              and bool(np.isfinite(value)))
    below = low is not None and finite and (value <= low if low_open else value < low)
    above = high is not None and finite and (value >= high if high_open else value > high)
    if not finite or below or above:
        bounds = (f" in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"
                  if low is not None and high is not None
                  else f" {'>' if low_open else '>='} {low:g}" if low is not None else "")
        raise ValueError(f"{name} must be a finite number{bounds}, got {value!r}")


def _check_arms(arms) -> tuple[str, ...]:
    if isinstance(arms, str) or not isinstance(arms, Sequence) or not all(
            isinstance(a, str) and a for a in arms):
        raise ValueError(f"arms must be a sequence of non-empty strings, got {arms!r}")
    if len(arms) < 2 or len(set(arms)) != len(arms):
        raise ValueError(f"arms must hold at least two distinct labels, got {list(arms)!r}")
    reference = io.reference_arm(io.arm_factor(pd.Series(arms), order=arms))
    if reference != arms[0]:
        raise ValueError(f"arms: the first arm is the reference, but the models take {reference!r} as the "
                         f"reference (a control-like name, see analysis.io.arm_factor); put it first: {list(arms)!r}")
    return tuple(arms)


def _arm_effects(name: str, value, arms: tuple[str, ...]) -> dict[str, float]:
    """One effect per non-reference arm from a number or a mapping (unnamed arms 0)."""
    others = arms[1:]
    if not isinstance(value, Mapping):
        _check_number(name, value)
        return {arm: float(value) for arm in others}
    unknown = sorted(set(value) - set(others))
    if unknown:
        raise ValueError(f"{name} names unknown non-reference arm(s) {unknown}; allowed: "
                         f"{list(others)}")
    for arm, effect in value.items():
        _check_number(f"{name}[{arm!r}]", effect)
    return {arm: float(value.get(arm, 0.0)) for arm in others}


def _check_sizes(n_per_arm) -> list[int]:
    if isinstance(n_per_arm, (int, np.integer)) and not isinstance(n_per_arm, bool):
        n_per_arm = [n_per_arm]
    if isinstance(n_per_arm, str) or not isinstance(n_per_arm, Sequence) or not n_per_arm:
        raise ValueError(f"n_per_arm must be a non-empty list of integers >= 3, got {n_per_arm!r}")
    for n in n_per_arm:
        _check_integer("n_per_arm", n, 3)
    return sorted(set(int(n) for n in n_per_arm))
