r"""Fitted meta-analytic models: :class:`RmaResult` (``rma.uni``) and :class:`RmaMvResult` (``rma.mv``).

Both read like metafor's printed output and share, through :class:`FittedMeta`,
the coefficient table, ``predict`` (confidence and prediction intervals) and the
parts of ``summary`` that metafor prints alike (heterogeneity and moderator tests,
the model results). Follow-ups of ``rma`` fits live in their own modules and are
reached through methods: :mod:`.bias` (``egger``, ``regtest``, ``trimfill``,
``selmodel``) and :mod:`.influence` (``leave1out``, ``cumul``, ``permutest``,
``influence``, ``rstudent``, ``cooks_distance``).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import patsy
from scipy import stats

from .inputs import FIXED, T_TESTS, MetaInputError, _level
from .wls import moderator_index

DEFAULT_STEPS = (0.025, 1)  # selmodel: the step of a one-step function (ignored by the other types)

if TYPE_CHECKING:
    from .bias import EggerResult, RegtestResult, TrimfillResult
    from .influence import PermutestResult
    from .selection import SelmodelResult

__all__ = ["Coefficients", "FittedMeta", "RmaMvResult", "RmaResult"]


@dataclass(frozen=True, eq=False)
class Coefficients:
    """The coefficient fields of every fitted model here, named as metafor names them.

    ``beta``, ``se``, ``zval`` (t values for t-type tests), ``pval``, ``ci_lb`` and
    ``ci_ub`` are Series indexed by coefficient (``intrcpt``, moderators), ``vb`` their
    covariance matrix.
    """

    beta: pd.Series
    se: pd.Series
    zval: pd.Series
    pval: pd.Series
    ci_lb: pd.Series
    ci_ub: pd.Series
    vb: pd.DataFrame


class FittedMeta(Coefficients):
    """What :class:`RmaResult`, :class:`RmaMvResult` and ``RmaMhResult`` share: predictions, summary parts.

    Subclasses hold, besides the :class:`Coefficients`, ``X``, ``yi``, ``k``, ``p``,
    ``dof``, ``test``, ``level``, ``QE``, ``QEp``, ``QM``, ``QMp``, ``QMdf`` and
    ``design_info``, and say through :meth:`_pi_variance` which heterogeneity variance
    widens the prediction interval.
    """

    X: pd.DataFrame

    # ----------------------------------------------------------------- views
    @property
    def tval(self) -> pd.Series:
        """t statistics of t-type tests (``"t"``, ``"knha"``, ``"adhoc"``)."""
        if self.test not in T_TESTS:
            raise AttributeError(f"test={self.test!r} gives z values; use .zval")
        return self.zval

    @property
    def int_only(self) -> bool:
        """Whether the model has no moderators (intercept only)."""
        return list(self.X.columns) == ["intrcpt"]

    @property
    def alpha(self) -> float:
        return _level(self.level)

    @property
    def residuals(self) -> pd.Series:
        """Observed minus fitted outcomes, ``y_i - x_i' beta``."""
        return self.yi - self.X @ self.beta

    @property
    def btt(self) -> np.ndarray:
        """Positions of the coefficients in the omnibus test (all but the intercept)."""
        return moderator_index(list(self.X.columns))

    @property
    def coefficients(self) -> pd.DataFrame:
        """The coefficient table: estimate, se, zval (tval), pval, ci_lb, ci_ub."""
        stat = "tval" if self.test in T_TESTS else "zval"
        return pd.DataFrame({"estimate": self.beta, "se": self.se, stat: self.zval, "pval": self.pval,
                             "ci_lb": self.ci_lb, "ci_ub": self.ci_ub})

    def _pi_variance(self) -> float | None:
        """Heterogeneity variance added for the prediction interval; None: no interval (FE/EE)."""
        raise NotImplementedError

    # ----------------------------------------------------------------- predictions
    def predict(self, newmods: Any = None, transf: Callable[[Any], Any] | None = None) -> pd.DataFrame:
        r"""Predicted (average) effects with confidence and prediction intervals (``predict.rma``).

        Parameters
        ----------
        newmods : array-like or DataFrame, optional
            Moderator values (without the intercept) at which to predict: one row
            per prediction, columns in the order of the moderators; for a model given
            as a formula, a DataFrame of the raw variables (factor levels as text).
            Omitted: the pooled effect of an intercept-only model, or the fitted
            value of every study.
        transf : callable, optional
            Applied to the prediction and the limits (e.g. ``np.exp`` for log risk
            ratios, ``np.tanh`` for Fisher's z); the standard error is then NaN.

        Returns
        -------
        DataFrame
            ``pred``, ``se``, ``ci_lb``, ``ci_ub`` and, for random-effects models,
            ``pi_lb``, ``pi_ub``: the prediction interval
            :math:`\hat\mu \pm c\sqrt{\mathrm{SE}^2 + \tau^2}` for the true effect of a
            new study (:math:`\tau^2`: ``tau2`` of ``rma``, the sum of the variance
            components ``sigma2`` of ``rma_mv``; :math:`c` from the normal, or from t
            with the model's df for t-type tests).
        """
        X_new, index = self._new_rows(newmods)
        pred = X_new @ self.beta.to_numpy()
        vpred = np.einsum("ij,jk,ik->i", X_new, self.vb.to_numpy(), X_new)
        se = np.sqrt(np.where(vpred < 0, np.nan, vpred))
        crit = self._crit()
        table = {"pred": pred, "se": se, "ci_lb": pred - crit * se, "ci_ub": pred + crit * se}
        extra = self._pi_variance()
        if extra is not None:
            half = crit * np.sqrt(vpred + extra)
            table |= {"pi_lb": pred - half, "pi_ub": pred + half}
        out = pd.DataFrame(table, index=index)
        return _transformed(out, transf, ("pred", "ci_lb", "ci_ub", "pi_lb", "pi_ub"))

    def _new_rows(self, newmods: Any) -> tuple[np.ndarray, pd.Index]:
        if newmods is None:
            if self.int_only:
                return np.ones((1, 1)), pd.Index(["pooled"])
            return self.X.to_numpy(), self.X.index
        if self.int_only:
            raise MetaInputError("newmods given, but the model has no moderators")
        if isinstance(newmods, pd.DataFrame) and self.design_info is not None:
            try:
                matrix = patsy.build_design_matrices([self.design_info], newmods, return_type="dataframe")[0]
            except patsy.PatsyError as exc:
                raise MetaInputError(f"newmods: cannot build the model's moderators ({exc})") from None
            return matrix.to_numpy(float), newmods.index
        moderators = np.asarray(newmods, dtype=float)
        intercept = int(self.X.columns[0] == "intrcpt")
        p_mods = self.p - intercept
        if moderators.ndim == 1:
            moderators = moderators[:, None] if p_mods == 1 else moderators[None, :]
        if moderators.shape[1] != p_mods:
            raise MetaInputError(f"newmods has {moderators.shape[1]} columns but the model has {p_mods} "
                                 f"moderators {list(self.X.columns[intercept:])}")
        index = newmods.index if isinstance(newmods, pd.DataFrame) else pd.RangeIndex(len(moderators))
        return np.column_stack([np.ones((len(moderators), intercept)), moderators]), index

    def _crit(self) -> float:
        if self.test in T_TESTS:
            return float(stats.t.isf(self.alpha / 2, self.dof)) if self.dof > 0 else np.nan
        return float(stats.norm.isf(self.alpha / 2))

    # ----------------------------------------------------------------- summary parts
    def _heterogeneity_lines(self) -> list[str]:
        """metafor's "Test for (Residual) Heterogeneity" block."""
        return ["", f"Test for {'Heterogeneity' if self.int_only else 'Residual Heterogeneity'}:",
                f"{'Q' if self.int_only else 'QE'}(df = {self.dof}) = {self.QE:.4f}, p-val {_pval(self.QEp, True)}"]

    def _moderator_lines(self) -> list[str]:
        """metafor's "Test of Moderators" block (none for intercept-only models)."""
        if self.int_only:
            return []
        return _omnibus_lines(self.QM, self.QMp, self.QMdf, self.btt, self.test in T_TESTS)

    def _results_lines(self) -> list[str]:
        """metafor's "Model Results" table."""
        return _results_table(self.coefficients, self.pval, self.int_only)


@dataclass(frozen=True, eq=False)
class RmaResult(FittedMeta):
    """A fitted meta-analytic model, named and computed as ``metafor::rma.uni`` does.

    Attributes
    ----------
    beta, se, zval, pval, ci_lb, ci_ub : pandas.Series
        Coefficients (``intrcpt`` first), standard errors, test statistics (t values
        for t-type tests; also available as :attr:`tval`), two-sided p-values and
        confidence limits, indexed by term.
    vb : pandas.DataFrame
        Variance-covariance matrix of the coefficients (scaled by ``s2w`` for knha).
    tau2, se_tau2 : float
        Estimated (residual) heterogeneity variance and its standard error
        (0 and NaN for FE/EE models).
    tau2_ci, I2_ci, H2_ci : tuple of float or None
        Q-profile confidence limits (lower, upper) of tau2 and the implied limits of
        I2 and H2; None for FE/EE models and for internal refits.
    I2, H2 : float
        Heterogeneity in percent of the total variability, and total over sampling
        variability.
    R2 : float or None
        Models with moderators and an intercept: percent of heterogeneity accounted
        for, ``(tau2_0 - tau2)/tau2_0`` against the intercept-only model (random
        effects), or the adjusted R2 of the weighted regression (FE/EE), as metafor
        reports it; None otherwise.
    QE, QEp : float
        Test for (residual) heterogeneity and its p-value.
    QM, QMp : float
        Omnibus test of the moderators (all coefficients but the intercept; the
        intercept alone in intercept-only models): chi-square with ``QMdf[0]`` df, or
        F with ``QMdf`` df for t-type tests.
    QMdf : tuple
        (m, None) for test "z", (m, k - p) for t-type tests.
    k, p : int
        Number of studies used and of coefficients.
    dof : int
        Residual degrees of freedom ``k - p`` (used by t-type tests).
    s2w : float
        Knapp-Hartung scale factor (1 unless test is "knha" or "adhoc").
    vt : float
        Typical within-study variance used for I2 and H2.
    method, test : str
    level : float
        Confidence level as given (95 means 95%).
    yi, vi : pandas.Series
        Outcomes and sampling variances used, indexed by study label.
    X : pandas.DataFrame
        Model matrix, indexed by study label.
    measure : str or None
        Effect-size measure, when known (from :func:`escalc` output).
    warnings : list of str
        Everything that went wrong or needs a caveat: omitted studies, boundary
        estimates, non-convergence, Q-profile limits at the search bound.
    ni : pandas.Series or None
        Sample sizes, when given to :func:`rma` (``ni=``), indexed by study label.
    """

    tau2: float
    se_tau2: float
    tau2_ci: tuple[float, float] | None
    I2: float
    H2: float
    I2_ci: tuple[float, float] | None
    H2_ci: tuple[float, float] | None
    R2: float | None
    QE: float
    QEp: float
    QM: float
    QMp: float
    QMdf: tuple[int, int | None]
    k: int
    p: int
    dof: int
    s2w: float
    vt: float
    method: str
    test: str
    level: float
    yi: pd.Series
    vi: pd.Series
    X: pd.DataFrame
    measure: str | None
    warnings: list[str]
    design_info: Any = field(default=None, repr=False)
    ni: pd.Series | None = field(default=None, repr=False)

    # ----------------------------------------------------------------- views

    @property
    def weights(self) -> pd.Series:
        """Percent weight of each study, ``100 w_i / sum(w)`` with ``w_i = 1/(v_i + tau2)``."""
        w = 1 / (self.vi + self.tau2)
        return 100 * w / w.sum()

    def _pi_variance(self) -> float | None:
        return None if self.method in FIXED else self.tau2

    def confint(self) -> pd.DataFrame:
        """Heterogeneity with Q-profile confidence limits, as ``confint(res)$random`` in metafor.

        Returns
        -------
        DataFrame
            Rows ``tau^2``, ``tau``, ``I^2(%)``, ``H^2``; columns ``estimate``,
            ``ci_lb``, ``ci_ub``.
        """
        if self.tau2_ci is None:
            raise MetaInputError(f"a {self.method} model has no random-effects component to profile")
        return pd.DataFrame({"estimate": [self.tau2, math.sqrt(self.tau2), self.I2, self.H2],
                             "ci_lb": [self.tau2_ci[0], math.sqrt(self.tau2_ci[0]), self.I2_ci[0], self.H2_ci[0]],
                             "ci_ub": [self.tau2_ci[1], math.sqrt(self.tau2_ci[1]), self.I2_ci[1], self.H2_ci[1]]},
                            index=["tau^2", "tau", "I^2(%)", "H^2"])


    # ----------------------------------------------------------------- follow-ups
    def egger(self) -> EggerResult:
        """Egger's regression test (``regtest(model="rma", predictor="sei")``); see :func:`analysis.meta.bias.egger`."""
        from .bias import egger

        return egger(self)

    def regtest(self, model: str = "rma", predictor: str = "sei") -> RegtestResult:
        """Regression test for funnel-plot asymmetry (``metafor::regtest``); see :func:`analysis.meta.bias.regtest`."""
        from .bias import regtest

        return regtest(self, model=model, predictor=predictor)

    def selmodel(self, type: str = "stepfun", steps: Any = DEFAULT_STEPS, alternative: str = "greater"
                 ) -> SelmodelResult:
        """Selection model fitted by ML (``metafor::selmodel``); see :func:`analysis.meta.selection.selmodel`."""
        from .selection import selmodel

        return selmodel(self, type=type, steps=steps, alternative=alternative)

    def trimfill(self, side: str | None = None, estimator: str = "L0", maxiter: int = 100) -> TrimfillResult:
        """Duval and Tweedie's trim-and-fill method (``metafor::trimfill``); see :func:`analysis.meta.bias.trimfill`."""
        from .bias import trimfill

        return trimfill(self, side=side, estimator=estimator, maxiter=maxiter)

    def leave1out(self, transf: Callable[[Any], Any] | None = None) -> pd.DataFrame:
        """The model refitted with each study left out (``metafor::leave1out``); see :func:`analysis.meta.influence.leave1out`."""
        from .influence import leave1out

        return leave1out(self, transf=transf)

    def cumul(self, order: Any = None, transf: Callable[[Any], Any] | None = None) -> pd.DataFrame:
        """Cumulative meta-analysis (``metafor::cumul``); see :func:`analysis.meta.influence.cumul`."""
        from .influence import cumul

        return cumul(self, order=order, transf=transf)

    def permutest(self, iter: int = 1000, seed: int | None = 0, exact: bool | None = None) -> PermutestResult:
        """Permutation tests of the coefficients (``permutest.rma.uni``); see :func:`analysis.meta.influence.permutest`."""
        from .influence import permutest

        return permutest(self, iter=iter, seed=seed, exact=exact)

    def influence(self) -> pd.DataFrame:
        """Case diagnostics (``influence.rma.uni``); see :func:`analysis.meta.influence.influence`."""
        from .influence import influence

        return influence(self)

    def rstudent(self) -> pd.DataFrame:
        """Externally studentized residuals (``rstudent.rma.uni``); see :func:`analysis.meta.influence.rstudent`."""
        from .influence import rstudent

        return rstudent(self)

    def cooks_distance(self) -> pd.Series:
        """Cook's distances (``cooks.distance.rma.uni``); see :func:`analysis.meta.influence.cooks_distance`."""
        from .influence import cooks_distance

        return cooks_distance(self)

    def dfbetas(self) -> pd.DataFrame:
        """DFBETAS of every coefficient (``dfbetas.rma.uni``); see :func:`analysis.meta.influence.dfbetas`."""
        from .influence import dfbetas

        return dfbetas(self)

    # ----------------------------------------------------------------- output
    def summary(self) -> str:
        """Text laid out like metafor's ``print.rma.uni``, followed by any warnings."""
        lines = [f"{self.model_name} (k = {self.k}"
                 + (f"; tau^2 estimator: {self.method})" if self.method not in FIXED else ")"), ""]
        if self.method not in FIXED:
            which = "total" if self.int_only else "residual"
            lines += [f"tau^2 (estimated amount of {which} heterogeneity): {self.tau2:.4f} (SE = {self.se_tau2:.4f})",
                      f"tau (square root of estimated tau^2 value):      {math.sqrt(self.tau2):.4f}"]
            if self.tau2_ci is not None:
                lines.append(f"{100 * (1 - self.alpha):g}% Q-profile CI for tau^2:             "
                             f"[{self.tau2_ci[0]:.4f}, {self.tau2_ci[1]:.4f}]")
        lines += [(f"I^2 ({'total' if self.int_only else 'residual'} heterogeneity / "
                   f"{'total' if self.int_only else 'unaccounted'} variability):   {self.I2:.2f}%"),
                  (f"H^2 ({'total' if self.int_only else 'unaccounted'} variability / sampling variability):  "
                   f"{self.H2:.2f}")]
        if self.R2 is not None:
            lines.append(f"R^2 (amount of heterogeneity accounted for):            {self.R2:.2f}%")
        lines += self._heterogeneity_lines() + self._moderator_lines() + self._results_lines()
        if self.test == "knha" or self.test == "adhoc":
            lines += ["", f"Knapp-Hartung adjustment: s2w = {self.s2w:.4f}; tests and CIs use t({self.dof})"]
        if self.warnings:
            lines += ["", "Warnings:", *(f"  - {w}" for w in self.warnings)]
        return "\n".join(lines)

    @property
    def model_name(self) -> str:
        """metafor's name of the model: Random-, Mixed-, Fixed- or Equal-Effects Model."""
        if self.method in FIXED:
            return "Equal-Effects Model" if self.method == "EE" else "Fixed-Effects Model"
        return "Random-Effects Model" if self.int_only else "Mixed-Effects Model"

    def forest(self, **kwargs: Any):
        """Forest plot (see :func:`analysis.plots.meta.forest`)."""
        from ..plots import meta as meta_plots

        return meta_plots.forest(self, **kwargs)

    def funnel(self, **kwargs: Any):
        """Funnel plot (see :func:`analysis.plots.meta.funnel`)."""
        from ..plots import meta as meta_plots

        return meta_plots.funnel(self, **kwargs)



@dataclass(frozen=True, eq=False)
class RmaMvResult(FittedMeta):
    r"""A fitted multilevel/multivariate meta-analytic model, named and computed as ``metafor::rma.mv``.

    Attributes
    ----------
    beta, se, zval, pval, ci_lb, ci_ub : pandas.Series
        Coefficients (``intrcpt`` first), standard errors, z (t for test "t")
        statistics, p-values and confidence limits, indexed by term.
    vb : pandas.DataFrame
        Covariance of the coefficients, :math:`(X'M^{-1}X)^{-1}`.
    sigma2 : pandas.Series
        Variance components in metafor's order (``study``, ``study/es_id`` for
        ``~ 1 | study/es_id``; the terms in turn for a list), indexed by factor.
    sigma2_nlevels, sigma2_fixed : pandas.Series
        Levels of each factor, and whether its component was fixed at 0 (one level).
    I2_levels : pandas.Series
        :math:`I^2` per variance component and ``total``, in percent (metafor's FAQ:
        :math:`100\,\sigma^2_l/(\sum\sigma^2 + \tilde v)`).
    vt : float
        Typical sampling variance :math:`\tilde v = (k-p)/\mathrm{tr}(P)`, :math:`W = V^{-1}`.
    QE, QEp : float
        Test of residual heterogeneity, :math:`y'Py` with :math:`W = V^{-1}`, on :math:`k - p` df.
    QM, QMp, QMdf : float, float, tuple
        Omnibus test of the moderators (chi-square; F on ``(m, k - p)`` for test "t").
    k, p, dof, parms : int
        Effects, coefficients, :math:`k - p`, and estimated parameters (coefficients
        plus free variance components), as metafor counts them.
    fit_stats : pandas.DataFrame
        metafor's ``fit.stats``: rows ``ll``, ``dev``, ``AIC``, ``BIC``, ``AICc``,
        columns ``ML`` and ``REML``; :attr:`loglik`, :attr:`deviance`, :attr:`aic`,
        :attr:`bic`, :attr:`aicc` read the column of the fitted method.
    method, test : str
    level : float
    yi, vi : pandas.Series
        Outcomes and sampling variances (diagonal of ``V``), indexed by effect label.
    X : pandas.DataFrame
        Model matrix.
    factors : pandas.DataFrame
        The level of every effect for every variance component (text; nested
        levels joined by "/"), indexed by effect label.
    V : numpy.ndarray or scipy.sparse matrix
        Sampling variances (vector) or covariance used.
    blocks : Blocks
        The independent blocks of the marginal covariance (for :func:`analysis.meta.robust`).
    converged : bool
    measure : str or None
    warnings : list of str
    """

    sigma2: pd.Series
    sigma2_nlevels: pd.Series
    sigma2_fixed: pd.Series
    I2_levels: pd.Series
    vt: float
    QE: float
    QEp: float
    QM: float
    QMp: float
    QMdf: tuple
    k: int
    p: int
    dof: int
    parms: int
    fit_stats: pd.DataFrame
    method: str
    test: str
    level: float
    yi: pd.Series
    vi: pd.Series
    X: pd.DataFrame
    factors: pd.DataFrame = field(repr=False)
    V: Any = field(repr=False)
    blocks: Any = field(repr=False)
    converged: bool = True
    measure: str | None = None
    warnings: list[str] = field(default_factory=list)
    design_info: Any = field(default=None, repr=False)

    @property
    def loglik(self) -> float:
        """Log-likelihood (restricted for REML), metafor's ``logLik``."""
        return float(self.fit_stats.loc["ll", self.method])

    @property
    def deviance(self) -> float:
        return float(self.fit_stats.loc["dev", self.method])

    @property
    def aic(self) -> float:
        return float(self.fit_stats.loc["AIC", self.method])

    @property
    def bic(self) -> float:
        return float(self.fit_stats.loc["BIC", self.method])

    @property
    def aicc(self) -> float:
        return float(self.fit_stats.loc["AICc", self.method])

    def _pi_variance(self) -> float:
        return float(self.sigma2.sum())

    def anova(self, reduced: RmaMvResult) -> pd.DataFrame:
        """Likelihood-ratio test of this fit against a reduced one, as metafor's ``anova(full, reduced)``.

        Typical use: the same model with a variance component fixed at 0
        (``rma_mv(..., sigma2=[0, None])``) to test that level's heterogeneity.

        Parameters
        ----------
        reduced : RmaMvResult
            Fit to the same effects with fewer parameters; under REML with the same
            fixed effects (restricted likelihoods of different model matrices are not
            comparable).

        Returns
        -------
        DataFrame
            Rows ``Full`` and ``Reduced``; metafor's columns ``df`` (parameters),
            ``AIC``, ``BIC``, ``AICc``, ``logLik``, ``LRT`` and ``pval`` (chi-square on the
            difference in parameters, on the ``Reduced`` row as metafor prints them)
            and ``QE``. The test of a variance component at 0 lies
            on the boundary: its p-value is conservative (halving it gives the
            50:50 mixture's p, as Assink & Wibbelink, 2016, advise).

        Raises
        ------
        MetaInputError
            The fits use different effects or methods, REML fits differ in their fixed
            effects, or the reduced fit does not have fewer parameters.
        """
        if not isinstance(reduced, RmaMvResult):
            raise MetaInputError("anova compares two rma_mv fits")
        if self.k != reduced.k or not np.allclose(self.yi.to_numpy(), reduced.yi.to_numpy()):
            raise MetaInputError("the two fits do not use the same effects; a likelihood-ratio test needs the same data")
        if self.method != reduced.method:
            raise MetaInputError(f"the fits use different methods ({self.method} and {reduced.method})")
        if self.method == "REML" and (self.X.shape != reduced.X.shape
                                      or not np.allclose(self.X.to_numpy(float), reduced.X.to_numpy(float))):
            raise MetaInputError("REML fits with different fixed effects cannot be compared by their restricted "
                                 "likelihoods; refit both with method='ML'")
        if reduced.parms >= self.parms:
            raise MetaInputError(f"the reduced fit has {reduced.parms} parameters, the full one {self.parms}: "
                                 "pass the fit with more parameters first")
        lrt = max(0.0, 2 * (self.loglik - reduced.loglik))
        pval = float(stats.chi2.sf(lrt, self.parms - reduced.parms))
        rows = [[fit.parms, fit.aic, fit.bic, fit.aicc, fit.loglik, fit.QE] for fit in (self, reduced)]
        table = pd.DataFrame(rows, index=["Full", "Reduced"], columns=["df", "AIC", "BIC", "AICc", "logLik", "QE"])
        table.insert(5, "LRT", [np.nan, lrt])
        table.insert(6, "pval", [np.nan, pval])
        return table

    @property
    def marginal_covariance(self) -> Any:
        """:math:`M = V + \\sum_l \\sigma^2_l Z_lZ_l'` as a sparse matrix (block-diagonal by study)."""
        import scipy.sparse as sp

        rows, cols, values = [], [], []
        sigma2 = self.sigma2.to_numpy()
        for g in self.blocks.groups:
            M = g.V + np.tensordot(sigma2, g.D, axes=1) if len(sigma2) else g.V
            n = g.rows.shape[1]
            rows.append(np.repeat(g.rows, n, axis=1).ravel())
            cols.append(np.tile(g.rows, (1, n)).ravel())
            values.append(M.ravel())
        return sp.csr_matrix((np.concatenate(values), (np.concatenate(rows), np.concatenate(cols))),
                             shape=(self.k, self.k))

    def summary(self) -> str:
        """Text laid out like metafor's ``print.rma.mv``, followed by any warnings."""
        stats_line = self.fit_stats[self.method]
        head = pd.DataFrame([stats_line.to_numpy()], columns=["logLik", "Deviance", "AIC", "BIC", "AICc"])
        components = pd.DataFrame({"estim": self.sigma2.to_numpy(), "sqrt": np.sqrt(self.sigma2.to_numpy()),
                                   "nlvls": self.sigma2_nlevels.to_numpy(),
                                   "fixed": np.where(self.sigma2_fixed.to_numpy(), "yes", "no"),
                                   "factor": self.sigma2.index},
                                  index=[f"sigma^2.{j + 1}" for j in range(len(self.sigma2))])
        i2 = ", ".join(f"{name}: {value:.2f}%" for name, value in self.I2_levels.items())
        lines = [f"Multivariate Meta-Analysis Model (k = {self.k}; method: {self.method})", "",
                 head.to_string(index=False, float_format=lambda x: f"{x:.4f}"), "", "Variance Components:", "",
                 components.to_string(float_format=lambda x: f"{x:.4f}"), "",
                 f"I^2 by level (percent of total variability): {i2}"]
        lines += self._heterogeneity_lines() + self._moderator_lines() + self._results_lines()
        if self.warnings:
            lines += ["", "Warnings:", *(f"  - {w}" for w in self.warnings)]
        return "\n".join(lines)

    def forest(self, group: str | None = None, **kwargs: Any):
        """Forest plot of the effects grouped by study (see :func:`analysis.plots.meta.forest_mv`).

        Parameters
        ----------
        group : str, optional
            Variance component whose levels group the rows (default the first,
            e.g. ``study``).
        """
        from ..plots import meta as meta_plots

        return meta_plots.forest_mv(self, group=group, **kwargs)


def _omnibus_lines(qm: float, qmp: float, qmdf: tuple, btt: np.ndarray, t_test: bool) -> list[str]:
    """metafor's "Test of Moderators (coefficients ...)" lines: QM(df) or F(df1, df2)."""
    stat = f"F(df1 = {qmdf[0]}, df2 = {_df_text(qmdf[1])})" if t_test else f"QM(df = {qmdf[0]})"
    return ["", (f"Test of Moderators (coefficient{'s' if len(btt) > 1 else ''} "
                 f"{', '.join(str(i + 1) for i in btt)}):"), f"{stat} = {qm:.4f}, p-val {_pval(qmp, True)}"]


def _df_text(df: float) -> str:
    """Degrees of freedom as metafor prints them: integers plain, others to two decimals."""
    return str(int(df)) if float(df).is_integer() else f"{df:.2f}"


def _results_table(coefficients: pd.DataFrame, pval: pd.Series, int_only: bool) -> list[str]:
    """The "Model Results" table with metafor's p-value format and significance stars."""
    table = coefficients.copy()
    table["pval"] = [_pval(p) for p in table["pval"]]
    table[""] = [_stars(p) for p in pval]
    return ["", "Model Results:", "", table.to_string(float_format=lambda x: f"{x:.4f}", index=not int_only)]


def _transformed(table: pd.DataFrame, transf: Callable[[Any], Any] | None, columns: tuple[str, ...]) -> pd.DataFrame:
    """Apply a back-transformation as metafor does: to estimates and limits, se set to NaN, limits re-sorted."""
    if transf is None:
        return table
    out = table.copy()
    for column in columns:
        if column in out:
            out[column] = transf(out[column].to_numpy())
    if "se" in out:
        out["se"] = np.nan
    for lower, upper in (("ci_lb", "ci_ub"), ("pi_lb", "pi_ub")):
        if lower in out:
            out[lower], out[upper] = np.fmin(out[lower], out[upper]), np.fmax(out[lower], out[upper])
    return out


def _pval(p: float, equals: bool = False) -> str:
    """metafor's p-value format: ``<.0001`` or four decimals (``= 0.0012`` for the Q tests)."""
    if np.isnan(p):
        return "NA"
    if p < 1e-4:
        return "< .0001" if equals else "<.0001"
    return f"= {p:.4f}" if equals else f"{p:.4f}"


def _stars(p: float) -> str:
    return "***" if p < 0.001 else "**" if p < 0.01 else "*" if p < 0.05 else "." if p < 0.1 else ""

