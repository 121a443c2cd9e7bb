"""Result objects of :mod:`analysis.mediation`, laid out like R's ``summary.mediate``."""

from __future__ import annotations

from dataclasses import dataclass, field

import pandas as pd

from .inference import intervals

CI_METHODS = ("bca", "percentile")
#: Rows of a linear-linear result without a treatment-mediator interaction.
EFFECTS = ("ACME", "ADE", "Total Effect", "Prop. Mediated")
#: Rows of every other result (R's ``summary.mediate`` when ACME and ADE differ by arm).
FULL_EFFECTS = ("ACME (control)", "ACME (treated)", "ADE (control)", "ADE (treated)", "Total Effect",
                "Prop. Mediated (control)", "Prop. Mediated (treated)", "ACME (average)", "ADE (average)",
                "Prop. Mediated (average)")


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
        R-squared of the fitted mediator and outcome models (for a probit outcome,
        of its latent variable, as ``medsens``).
    conf_level : float
    rho_zero_by_arm : tuple or None
        For a probit outcome, the rho (on the grid) at which ACME(control) and
        ACME(treated) are nearest 0 (R's ``err.cr.d``); the table then also has
        ``acme_control``, ``acme_treated`` and their limits.
    """

    table: pd.DataFrame
    rho_zero: float
    r2_star_zero: float
    r2_tilde_zero: float
    r2_mediator: float
    r2_outcome: float
    conf_level: float
    rho_zero_by_arm: tuple | None = None

    def summary(self) -> str:
        """The three thresholds, as ``summary(medsens(...))`` prints them."""
        return "\n".join([
            "Mediation sensitivity analysis for the ACME (sequential ignorability)",
            f"Rho at which ACME = 0: {self.rho_zero:.4f}",
            f"R^2_M*R^2_Y* at which ACME = 0: {self.r2_star_zero:.4f}",
            f"R^2_M~R^2_Y~ at which ACME = 0: {self.r2_tilde_zero:.4f}",
        ])


@dataclass(frozen=True, eq=False)
class EffectsResult:
    """What every mediation result holds: the effects table, the paths and the draws behind the intervals.

    The base of :class:`MediationResult` and :class:`ParallelMediationResult`.

    Attributes
    ----------
    table : pandas.DataFrame
        One row per effect; columns ``estimate``, ``ci_low``, ``ci_high`` (by
        ``ci_method``) and ``p``.
    paths : pandas.DataFrame
        The coefficients behind the effects (``a``, ``b``, ``c_prime``, ...);
        columns ``estimate``, ``se``, ``df``, ``t``, ``p``, ``ci_low``, ``ci_high``
        (95% t intervals, from the fitted models).
    outcome_model : pandas.DataFrame
        Coefficient table of the outcome model (``estimate``, ``se``, ``df``,
        ``t``, ``p`` and 95% t interval ``ci_low``, ``ci_high``).
    draws : pandas.DataFrame
        Bootstrap (or Monte Carlo) replicates of the effects, one column per row
        of ``table``.
    jackknife : pandas.DataFrame or None
        Leave-one-out values of the effects (BCa acceleration); None when not
        bootstrapped.
    treatment, outcome : str
    covariates : list of str
    control, treated : str
        Arms compared, as :func:`analysis.io.arm_factor` spells them (``"0"`` and
        ``"1"`` for 0/1 codes); ``control`` is the reference arm of the models.
    ci_method : str
        ``"bca"``, ``"percentile"`` (bootstrap) or ``"monte carlo"`` (quasi-Bayesian
        draws, percentile limits).
    conf_level : float
    n_boot : int
        Replicates requested (bootstrap or Monte Carlo draws).
    seed : int
    nobs, n_dropped : int
        Rows (people for ``"change"``) used and dropped for missing values.
    warnings : list of str
        Dropped replicates, undefined intervals, model warnings.
    """

    table: pd.DataFrame
    paths: pd.DataFrame
    outcome_model: pd.DataFrame
    draws: pd.DataFrame = field(repr=False)
    jackknife: pd.DataFrame | None = field(repr=False)
    treatment: str
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
    warnings: list[str]

    def ci(self, method: str | None = None) -> pd.DataFrame:
        """Intervals of the table's effects by another method.

        Parameters
        ----------
        method : {"bca", "percentile"}, optional
            Default the method the result was computed with (percentile for
            Monte Carlo draws).

        Returns
        -------
        pandas.DataFrame
            Index as ``table``; columns ``ci_low``, ``ci_high``.

        Raises
        ------
        ValueError
            For an unknown method, or BCa for Monte Carlo draws (no jackknife).
        """
        method = method or self.ci_method
        if method == "monte carlo" and self.ci_method == "monte carlo":
            method = "percentile"
        if method not in CI_METHODS:
            raise ValueError(f"method must be one of {CI_METHODS}, got {method!r}")
        if method == "bca" and self.jackknife is None:
            raise ValueError("BCa intervals need bootstrap replicates and jackknife values; this result has "
                             "Monte Carlo draws: use method='percentile'")
        low, high = intervals(self.draws.to_numpy(), self.table["estimate"].to_numpy(),
                              None if self.jackknife is None else self.jackknife.to_numpy(), method,
                              self.conf_level)
        return pd.DataFrame({"ci_low": low, "ci_high": high}, index=self.table.index)


@dataclass(frozen=True, eq=False)
class MediationResult(EffectsResult):
    """Causal mediation estimates, laid out like ``summary()`` of R's ``mediate``.

    Attributes
    ----------
    table : pandas.DataFrame
        Index: R's ``summary.mediate`` row names, :data:`EFFECTS` (``ACME``,
        ``ADE``, ``Total Effect``, ``Prop. Mediated``) for linear models without
        a treatment-mediator interaction, else :data:`FULL_EFFECTS` (``ACME
        (control)``, ``ACME (treated)``, ...); columns ``estimate``, ``ci_low``,
        ``ci_high`` (by ``ci_method``) and ``p``.
    paths : pandas.DataFrame
        ``a`` (treatment -> mediator), ``b`` (mediator -> outcome), ``c_prime``
        (treatment -> outcome, direct) and, for single-level models, ``c``
        (treatment -> outcome without the mediator); columns as
        :class:`EffectsResult`'s.
    mediator_model : pandas.DataFrame
        Coefficient table of the mediator model, as ``outcome_model``.
    sensitivity : Sensitivity or None
        :func:`medsens` at a rho step of 0.01 (single-level models only).
    kind : str
        ``"single-level"``, ``"change"`` or ``"multilevel"``.
    mediator : str
    notes : list of str
        What the estimates mean in this design and its assumptions.
    data : pandas.DataFrame
        The rows the models were fitted to.
    waves : tuple or None
        ``(baseline, mid, end)`` waves of a ``"change"`` result.
    arms : str
        The arms in the models, reference (control) first, e.g. ``"arms: control
        (reference), cbt, mindfulness"`` (:func:`analysis.io.describe_arms`).
    mediator_family, outcome_family : str
        ``"linear"``, ``"logit"`` or ``"probit"``.
    interaction : bool
        Whether the outcome model has the treatment x mediator term.
    moderator : str or None
        The moderator column; ``moderator_value`` the value the effects are at.
    moderator_value : float or None
    cluster : str or None
        The cluster column (e.g. ``"therapist"``) of a ``"multilevel"`` result
        whose models have its random intercept.

    The other attributes (``outcome_model``, ``draws``, ``jackknife``,
    ``treatment``, ``outcome``, ``covariates``, ``control``, ``treated``,
    ``ci_method``, ``conf_level``, ``n_boot``, ``seed``, ``nobs``, ``n_dropped``,
    ``warnings``) and :meth:`ci` are :class:`EffectsResult`'s.
    """

    mediator_model: pd.DataFrame
    sensitivity: Sensitivity | None
    kind: str
    mediator: str
    notes: list[str]
    data: pd.DataFrame = field(repr=False)
    waves: tuple | None = None
    arms: str = ""
    mediator_family: str = "linear"
    outcome_family: str = "linear"
    interaction: bool = False
    moderator: str | None = None
    moderator_value: float | None = None
    cluster: str | None = None

    def summary(self) -> str:
        """Text summary laid out like ``summary()`` of a ``mediate`` fit."""
        level = f"{100 * self.conf_level:g}%"
        method = {"bca": "Nonparametric Bootstrap Confidence Intervals with the BCa Method",
                  "percentile": "Nonparametric Bootstrap Confidence Intervals with the Percentile Method",
                  "monte carlo": "Quasi-Bayesian (Monte Carlo) Confidence Intervals"}[self.ci_method]
        table = self.table.rename(columns={"estimate": "Estimate", "ci_low": f"{level} CI Lower",
                                           "ci_high": f"{level} CI Upper", "p": "p-value"})
        moderated = (f" at {self.moderator} = {self.moderator_value:g}" if self.moderator is not None else "")
        lines = [
            f"Causal Mediation Analysis ({self.kind}): {self.treatment} ({self.treated} vs "
            f"{self.control}) -> {self.mediator} -> {self.outcome}{moderated}",
            f"Models: mediator {self.mediator_family}, outcome {self.outcome_family}"
            + (f", {self.treatment} x {self.mediator} interaction" if self.interaction else ""),
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
        lines += _listed("Notes", self.notes) + _listed("Warnings", self.warnings)
        return "\n".join(lines)


@dataclass(frozen=True, eq=False)
class MediationSet:
    """Several mediation analyses of one data set: per moderator value, or per active arm.

    Attributes
    ----------
    by : str
        What varies: the moderator column, or ``"treated arm"``.
    results : dict
        One :class:`MediationResult` per moderator value or arm.
    index : pandas.DataFrame or None
        For a moderator, the index of moderated mediation (R's ``test.modmed``):
        rows (pair of values, effect) with the difference of each effect from its
        value at the first moderator value, percentile interval and p-value from
        the shared bootstrap replicates or draws; None per arm.
    """

    by: str
    results: dict
    index: pd.DataFrame | None

    @property
    def table(self) -> pd.DataFrame:
        """The results' tables stacked, ``by`` as the first index level."""
        return pd.concat({key: result.table for key, result in self.results.items()}, names=[self.by, "effect"])

    def summary(self) -> str:
        """Each result's summary, then the index of moderated mediation."""
        parts = [result.summary() for result in self.results.values()]
        if self.index is not None:
            parts.append("Index of moderated mediation (differences from the first value):\n"
                         + self.index.to_string(float_format=lambda v: f"{v:.4g}"))
        return ("\n\n" + "=" * 72 + "\n\n").join(parts)


@dataclass(frozen=True, eq=False)
class ParallelMediationResult(EffectsResult):
    """Specific, total and contrasted indirect effects of parallel mediators.

    Attributes
    ----------
    table : pandas.DataFrame
        Rows ``ACME (<m>)`` per mediator, ``ACME (total)``, ``ACME (<m1>) - ACME
        (<m2>)`` per pair, ``ADE``, ``Total Effect``; columns ``estimate``,
        ``ci_low``, ``ci_high``, ``p``.
    paths : pandas.DataFrame
        ``a (<m>)``, ``b (<m>)`` per mediator and ``c_prime``, from the fitted
        models (t statistics and 95% t intervals).
    mediator_models : dict
        Coefficient table of each mediator's model.
    mediators : list of str

    The other attributes and :meth:`ci` are :class:`EffectsResult`'s
    (``ci_method`` is ``"bca"`` or ``"percentile"``).
    """

    mediator_models: dict
    mediators: list

    def summary(self) -> str:
        """Text summary: the effects table and the paths."""
        return "\n".join([
            f"Parallel mediation: {self.treatment} ({self.treated} vs {self.control}) -> "
            f"{', '.join(self.mediators)} -> {self.outcome}",
            f"Nonparametric bootstrap ({self.ci_method}), {self.n_boot} replicates; {self.nobs} rows"
            + (f" ({self.n_dropped} dropped for missing values)" if self.n_dropped else ""),
            "", self.table.to_string(float_format=lambda v: f"{v:.4g}"),
            "", "Paths:", self.paths.to_string(float_format=lambda v: f"{v:.4g}"),
            *_listed("Warnings", self.warnings),
        ])


def _listed(title: str, items: list[str]) -> list[str]:
    """A titled, indented block of a summary (nothing when there are no items)."""
    return ["", f"{title}:"] + [f"  {item}" for item in items] if items else []
