"""The methods paragraph of a simulation-based power analysis (:mod:`analysis.power`), report 07."""

from __future__ import annotations

import pandas as pd

from .common import MethodsText, listing, sentences


def power_simulation(design, curve: pd.DataFrame, needed: pd.DataFrame | None = None, target: float = 0.8,
                     analytic: pd.DataFrame | None = None) -> MethodsText:
    """The methods paragraph of a power simulation.

    Parameters
    ----------
    design : analysis.power.TrialDesign
        The planned trial.
    curve : pandas.DataFrame
        :func:`analysis.power.power_curve` (or :func:`~analysis.power.power`) of ``design``.
    needed : pandas.DataFrame, optional
        :func:`analysis.power.sample_size` of ``curve``: the sizes found are stated.
    target : float, default 0.8
        The power ``needed`` was computed for (``sample_size``'s ``target``).
    analytic : pandas.DataFrame, optional
        :func:`analysis.power.compare_analytic`: the check against the analytic power is stated.

    Returns
    -------
    MethodsText

    Raises
    ------
    ValueError
        ``design`` is not a ``TrialDesign`` or ``curve`` lacks the columns of a power table.
    """
    from ...power import TrialDesign

    if not isinstance(design, TrialDesign):
        raise ValueError(f"power_simulation needs an analysis.power.TrialDesign, got {type(design).__name__}")
    missing = sorted({"effect", "arm", "n_per_arm", "n_sims", "power", "n_failed"} - set(curve.columns))
    if missing:
        raise ValueError(f"power_simulation: curve lacks the power-table columns {missing}")
    return sentences(_design(design), _runs(design, curve), _analysis(design), _needed(needed, target),
                     _analytic(analytic),
                     "In R the same simulation can be run with simr (Green & MacLeod, 2016) around lme4 and "
                     "lmerTest fits.")


def _design(design) -> str:
    effects = "; ".join(f"{arm} vs {design.arms[0]}: symptom slope difference {design.symptom_effect[arm]:+g} and "
                        f"self-efficacy slope difference {design.se_effect[arm]:+g} points per week"
                        for arm in design.arms[1:])
    return (f"Power was estimated by simulation (Arnold et al., 2011): trials with {listing(design.arms)} "
            f"(reference {design.arms[0]}) measured at {design.waves} waves {design.weeks_per_wave:g} weeks apart "
            f"were generated from a bivariate growth model ({effects}; within-arm correlation of the slopes "
            f"{design.slope_corr:g}, residual SDs {design.se_residual_sd:g} and {design.symptom_residual_sd:g}), "
            f"with monotone dropout completely at random of {design.dropout:.0%} before each wave.")


def _runs(design, curve: pd.DataFrame) -> str:
    sizes = sorted(int(n) for n in curve["n_per_arm"].unique())
    sims = sorted(int(n) for n in curve["n_sims"].unique())
    seed = curve.attrs.get("seed")
    growth = curve[curve["effect"] != "mediation"]  # the mediation rows count the same SE fits again
    failed = int(growth["n_failed"].sum())
    singular = int(growth["n_singular"].sum()) if "n_singular" in growth else 0
    return (f"At each of {listing(sizes)} participants per arm, {listing(sims)} trials were simulated"
            + (f" (seed {seed}; trial k drew from its own spawned seed sequence, so results do not depend on the "
               "number of workers)" if seed is not None else "")
            + f"; growth-model fits failing the gradient check ({failed}) counted as not detecting the effect, "
              f"singular fits ({singular}) were kept. Power is the share of trials detecting an effect, with Wilson "
              "95% Monte Carlo intervals (Wilson, 1927).")


def _analysis(design) -> str:
    return ("Each simulated trial was analysed as the suite analyses a real one: the arm-by-time effects on "
            "self-efficacy and symptoms by linear mixed models with random intercepts and slopes fitted by REML "
            "(Bates et al., 2015), with Satterthwaite t tests (Kuznetsova et al., 2017); the indirect effect by "
            "the joint significance test of its a and b paths (MacKinnon et al., 2002); all tests two-sided at "
            f"alpha = {design.alpha:g}.")


def _needed(needed: pd.DataFrame | None, target: float) -> str:
    if needed is None:
        return ""
    found = "; ".join(f"{row.effect} ({row.arm}): " + ("none of the sizes simulated" if pd.isna(row.n_per_arm)
                                                       else f"{int(row.n_per_arm):,} per arm")
                      for row in needed.itertuples())
    return f"The smallest simulated size reaching {target:.0%} power was, by effect, {found}."


def _analytic(table: pd.DataFrame | None) -> str:
    if table is None:
        return ""
    return ("As a check, power simulated without dropout was compared with the analytic power of the same design "
            f"(largest difference {table['z'].abs().max():.2f} Monte Carlo SEs).")
