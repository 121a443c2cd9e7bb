r"""Mixed models for repeated measures (MMRM), fitted and reported as R's ``mmrm`` package does.

:func:`mmrm` fits the linear model :math:`Y_i \sim N(X_i \beta, \Sigma_i)` of each subject's
observed visits, :math:`\Sigma_i = G_i^{-1/2} S_i' \Sigma S_i G_i^{-1/2}` the rows and columns
of one covariance matrix :math:`\Sigma` of all visits (one per group with ``cov_by``) for the
visits the subject has, scaled by the prior weights :math:`G_i` (the identity without),
by generalised least squares for :math:`\beta` and (restricted) maximum likelihood for the
covariance parameters :math:`\theta` (mmrm's vignette "Model Fitting Algorithm").

Covariance parameters
---------------------
As mmrm's ``covariance.h``: :math:`\Sigma = S C S` with :math:`S` the diagonal of standard
deviations :math:`e^{\theta_{sd}}` (one per visit for ``us`` and the heterogeneous ``csh``,
``ar1h``, ``toeph``; one for all visits otherwise), followed by the correlation parameters:

* ``us``: :math:`C = \tilde L \tilde L'`, :math:`\tilde L` unit lower triangular with the
  entries :math:`l_{21}, l_{31}, l_{32}, \dots` (row-wise) as parameters, i.e.
  :math:`\Sigma = L L'` with :math:`L = S \tilde L`;
* ``cs``, ``csh``: :math:`C_{ij} = \rho = \mathrm{logit}^{-1}(\theta)(1 + a) - a`,
  :math:`a = 1 / (m - 1)`;
* ``ar1``, ``ar1h``: :math:`C_{ij} = \rho^{|i - j|}`, :math:`\rho = \theta / \sqrt{1 + \theta^2}`;
* ``toep``, ``toeph``: :math:`C_{ij} = \rho_{|i - j|}`, each :math:`\rho_d` mapped as ``ar1``'s.

Distances :math:`|i - j|` count visit levels (the visit is a factor). With ``cov_by``
:math:`\theta` holds each group's parameters in turn.

Estimation
----------
The negative log-likelihood profiled over :math:`\beta`, mmrm's objective,

.. math::

   f(\theta) = \tfrac{N - p}{2} \log 2\pi + \tfrac12 \log|\Omega| + \tfrac12 \log|X'\Omega^{-1}X|
   + \tfrac12 y' P y, \quad P = \Omega^{-1} - \Omega^{-1} X \Phi X' \Omega^{-1}, \quad
   \Phi = (X'\Omega^{-1}X)^{-1}

(REML; ML drops :math:`\log|X'\Omega^{-1}X|` and has :math:`N/2`), is minimised by a
trust-region Newton method with its exact gradient and Hessian,

.. math::

   \partial_k f = \tfrac12 \mathrm{tr}(P \Omega_k) - \tfrac12 y'P\Omega_k P y, \quad
   \partial_{kl} f = \tfrac12 \mathrm{tr}(P\Omega_{kl}) - \tfrac12 \mathrm{tr}(P\Omega_k P\Omega_l)
   + y'P\Omega_k P \Omega_l P y - \tfrac12 y' P \Omega_{kl} P y

(ML: :math:`\Omega^{-1}` for :math:`P` in the traces), with :math:`\Omega_k`,
:math:`\Omega_{kl}` the first and second derivatives of :math:`\Omega` in :math:`\theta`
(analytic, from those of :math:`\Sigma`). :math:`\Omega` is block diagonal, so every term is a
sum over subjects; subjects with the same group and the same observed visits share
:math:`\Sigma_i^{-1}` and are computed together.

Inference
---------
mmrm's ``theta_vcov`` is :math:`W = H^{-1}`, :math:`H` the Hessian of :math:`f` at the
estimate. With :math:`P_h = X' \partial_h \Omega^{-1} X`,
:math:`Q_{hj} = X' \partial_h\Omega^{-1}\, \Omega\, \partial_j\Omega^{-1} X` and
:math:`R_{hj} = X'\Omega^{-1} \Omega_{hj} \Omega^{-1} X` (mmrm's vignette "Kenward-Roger"):

* ``"kenward-roger"``: mmrm's default ``"Kenward-Roger"`` covariance
  :math:`\Phi_A = \Phi + 2\Phi \{\sum_{hj} W_{hj}(Q_{hj} - P_h\Phi P_j - \tfrac14 R_{hj})\}\Phi`
  (not the ``"Kenward-Roger-Linear"`` variant, which drops :math:`R`), and the df and F
  scaling of Kenward and Roger (1997) from :math:`\Phi`, :math:`P_h` and :math:`W`
  (:class:`~analysis.mixed.kenward._KenwardRoger`);
* ``"satterthwaite"``: :math:`\Phi` and :math:`\nu = 2 (L\Phi L')^2 / (g' W g)`,
  :math:`g_h = L \partial_h \Phi L'`, :math:`\partial_h\Phi = -\Phi P_h \Phi`
  (:class:`~analysis.mixed.inference._Satterthwaite`; F tests as mmrm's ``h_df_md_sat``);
* ``"residual"``: :math:`\Phi` and :math:`N - p` df (mmrm's ``method = "Residual"`` with
  ``vcov = "Asymptotic"``).

logLik is :math:`-f`; AIC :math:`= 2f + 2k` and BIC :math:`= 2f + k \log n` with :math:`k`
the number of covariance parameters and :math:`n` the number of subjects, for REML and ML
alike (mmrm's ``AIC.mmrm_tmb``, ``BIC.mmrm_tmb``).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import patsy
from scipy import linalg, optimize, special

from .. import io
from ..io.errors import _problem
from .formula import _formula_variables
from .inference import _asymptotic_cov, _Satterthwaite, _wald_f
from .kenward import _KenwardRoger
from .result import _fixed_table, _fixed_table_frame

#: Covariance structures (mmrm's names) and how mmrm's summary names them.
COV_TYPES = {"us": "unstructured", "cs": "compound symmetry", "csh": "heterogeneous compound symmetry",
             "ar1": "auto-regressive order one", "ar1h": "heterogeneous auto-regressive order one",
             "toep": "Toeplitz", "toeph": "heterogeneous Toeplitz"}

#: Structures with one standard deviation per visit.
HETEROGENEOUS = ("us", "csh", "ar1h", "toeph")

#: Denominator-df methods and mmrm's names of them and of the covariance of beta they use.
DDF_METHODS = {"kenward-roger": ("Kenward-Roger", "Kenward-Roger"), "satterthwaite": ("Satterthwaite", "Asymptotic"),
               "residual": ("Residual", "Asymptotic")}

#: Convergence: the largest |gradient| of the negative log-likelihood accepted at the optimum.
GRADIENT_TOL = 1e-4

#: Trust-region Newton iterations at most, and its tolerance on the gradient norm.
MAX_ITER = 500
NEWTON_GTOL = 1e-8

#: Starting correlations are kept within +-this (a positive definite start).
START_CORRELATION = 0.9

#: Relative floor of the eigenvalues of the empirical covariance that starts ``us``.
START_EIGEN_FLOOR = 1e-3

LOG_2PI = np.log(2 * np.pi)


def mmrm(data: pd.DataFrame, formula: str, subject: str, visit: str, cov: str = "us",
         ddf: str = "kenward-roger", reml: bool = True, weights: str | None = None,
         cov_by: str | None = None) -> MmrmResult:
    r"""Fit a mixed model for repeated measures, as R's ``mmrm(formula + cov(visit | subject))``.

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, one row per subject and visit.
    formula : str
        Mean model (patsy), e.g. ``"chg ~ base + arm * C(visit)"``; ``C(visit)`` makes a
        numeric visit a factor of the mean model (as R's factor visit).
    subject : str
        Subject column; never missing.
    visit : str
        Visit column: a factor (text, categorical or numbers) whose levels index the rows
        and columns of the covariance. Levels are the categories of a categorical, numbers
        in numeric order, text in sorted order, and only those observed.
    cov : {"us", "cs", "csh", "ar1", "ar1h", "toep", "toeph"}, default "us"
        Covariance of the visits within a subject (see the module notes).
    ddf : {"kenward-roger", "satterthwaite", "residual"}, default "kenward-roger"
        Covariance of the fixed effects and their df (mmrm's ``method``): Kenward-Roger's
        adjusted covariance and df (REML only), the asymptotic covariance with
        Satterthwaite's df, or with the residual df N - p.
    reml : bool, default True
        Restricted (True) or full maximum likelihood.
    weights : str, optional
        Column of prior weights (> 0): row j of subject i has covariance
        :math:`\Sigma_{jj} / w_{ij}` (mmrm's ``weights``).
    cov_by : str, optional
        Column (constant within subject) whose groups each get their own covariance
        of the same structure, as mmrm's ``us(visit | arm / subject)``.

    Returns
    -------
    MmrmResult

    Raises
    ------
    ValueError
        An unknown ``cov`` or ``ddf``; ``ddf="kenward-roger"`` with ``reml=False``.
    analysis.io.DataValidationError
        Columns absent or unusable (:func:`analysis.io.model_frame`), a subject with two
        rows at one visit, ``cov_by`` changing within a subject, fixed-effect columns
        zero, constant or collinear (:func:`analysis.io.check_design`; e.g. an arm with no
        observation at a visit of an ``arm * visit`` model), or more covariance parameters
        than the data support (a pair of visits never observed together under ``us``, a
        visit never observed in a ``cov_by`` group, fewer observations than coefficients
        plus covariance parameters).

    Notes
    -----
    Rows missing the outcome (or any used column) are dropped; each subject contributes
    the visits observed. Factors are coded by patsy (treatment contrasts, first level
    the reference: give a categorical to choose it).
    """
    _check_options(cov, ddf, reml)
    model, frame = _prepare(data, formula, subject, visit, cov, cov_by, weights, reml)
    theta, converged, messages = _optimise(model)
    evaluation = _evaluate(theta, model, sums=True)
    call = {"formula": formula, "subject": subject, "visit": visit, "ddf": ddf, "cov_by": cov_by, "weights": weights}
    return _result(model, frame, call, theta, evaluation, _information(evaluation), converged, messages)


# --- covariance structures ---------------------------------------------------------------------

@dataclass(frozen=True)
class _Structure:
    """A covariance structure of m visits: its parameters, Sigma(theta) and its derivatives."""

    kind: str
    m: int

    @property
    def n_sd(self) -> int:
        """Number of standard-deviation parameters."""
        return self.m if self.kind in HETEROGENEOUS else 1

    @property
    def n_corr(self) -> int:
        """Number of correlation parameters."""
        if self.kind == "us":
            return self.m * (self.m - 1) // 2
        return self.m - 1 if self.kind.startswith("toep") else 1

    @property
    def n_theta(self) -> int:
        """Number of covariance parameters (of one group)."""
        return self.n_sd + self.n_corr

    def derivatives(self, theta: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        r"""Sigma (m x m), its first (k x m x m) and second (k x k x m x m) derivatives in theta.

        With :math:`\Sigma_{ij} = s_i s_j C_{ij}` and :math:`A_k(i,j) = a_{ik} + a_{jk}`
        (:math:`a_{ik} = 1` if visit i's SD is :math:`e^{\theta_k}`):
        :math:`\partial_k \Sigma = S(\partial_k C + C \circ A_k)S` and
        :math:`\partial_{kl}\Sigma = S(\partial_{kl}C + \partial_k C \circ A_l
        + \partial_l C \circ A_k + C \circ A_k \circ A_l)S`.
        """
        k, m, n_sd = self.n_theta, self.m, self.n_sd
        sd_of_visit = np.arange(m) if n_sd == m else np.zeros(m, dtype=int)
        s = np.exp(theta[:n_sd])[sd_of_visit]
        C, dC_corr, d2C_corr = _correlation(self.kind, theta[n_sd:], m)
        owns = (sd_of_visit[None, :] == np.arange(n_sd)[:, None]).astype(float)  # n_sd x m
        A = np.zeros((k, m, m))
        A[:n_sd] = owns[:, :, None] + owns[:, None, :]
        dC = np.zeros((k, m, m))
        dC[n_sd:] = dC_corr
        d2C = np.zeros((k, k, m, m))
        d2C[n_sd:, n_sd:] = d2C_corr
        scale = np.outer(s, s)
        first = (dC + C * A) * scale
        second = (d2C + dC[:, None] * A[None] + A[:, None] * dC[None] + C * A[:, None] * A[None]) * scale
        return C * scale, first, second

    def start(self, cov: np.ndarray) -> np.ndarray:
        """Starting parameters from an empirical covariance of the visits."""
        sd = np.sqrt(np.diag(cov))
        corr = cov / np.outer(sd, sd)
        if self.kind == "us":
            return _us_theta(cov)
        log_sd = np.log(sd) if self.n_sd == self.m else np.log([np.sqrt(np.mean(sd ** 2))])
        lag1 = np.clip(np.mean(np.diag(corr, -1)), -START_CORRELATION, START_CORRELATION)
        if self.kind.startswith("cs"):
            a = 1 / (self.m - 1)
            rho = np.clip(np.mean(corr[np.tril_indices(self.m, -1)]), -a / 2, START_CORRELATION)
            corr_theta = [special.logit((rho + a) / (1 + a))]
        elif self.kind.startswith("ar1"):
            corr_theta = [_cor_theta(lag1)]
        else:
            corr_theta = _cor_theta(lag1 ** np.arange(1, self.m))
        return np.concatenate([log_sd, np.atleast_1d(corr_theta)])


def _us_theta(cov: np.ndarray) -> np.ndarray:
    """``us`` parameters of a covariance (its eigenvalues floored to be positive definite)."""
    values, vectors = np.linalg.eigh(cov)
    floor = START_EIGEN_FLOOR * max(values.max(), 1e-8)
    L = np.linalg.cholesky((vectors * np.maximum(values, floor)) @ vectors.T)
    unit = L / np.diag(L)[:, None]
    return np.concatenate([np.log(np.diag(L)), unit[np.tril_indices(len(L), -1)]])


def _cor_theta(rho):
    """Inverse of mmrm's ``map_to_cor``: rho = theta / sqrt(1 + theta^2)."""
    return rho / np.sqrt(1 - np.square(rho))


def _map_to_cor(t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """mmrm's ``map_to_cor`` and its first two derivatives."""
    u = 1 + t ** 2
    return t / np.sqrt(u), u ** -1.5, -3 * t * u ** -2.5


def _map_to_cs_cor(t: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """mmrm's ``map_to_cs_cor`` (onto (-1/(m-1), 1)) and its first two derivatives."""
    a = 1 / (m - 1)
    p = special.expit(t)
    slope = (1 + a) * p * (1 - p)
    return p * (1 + a) - a, slope, slope * (1 - 2 * p)


def _correlation(kind: str, t: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """C (m x m) and its derivatives in the correlation parameters t (j x m x m, j x j x m x m)."""
    if kind == "us":
        return _unit_cholesky_product(t, m)
    lag = np.abs(np.subtract.outer(np.arange(m), np.arange(m)))
    j = len(t)
    d2C = np.zeros((j, j, m, m))
    if kind.startswith("ar1"):
        rho, d1, d2 = _map_to_cor(t[0])
        below1, below2 = (np.where(lag >= e, rho ** np.maximum(lag - e, 0), 0.0) for e in (1, 2))
        d2C[0, 0] = lag * (lag - 1) * below2 * d1 ** 2 + lag * below1 * d2
        return rho ** lag, (lag * below1 * d1)[None], d2C
    if kind.startswith("cs"):
        rho, d1, d2 = _map_to_cs_cor(t, m)
        off = (lag > 0).astype(float)
        d2C[0, 0] = off * d2[0]
        return np.where(off > 0, rho[0], 1.0), (off * d1[0])[None], d2C
    rho, d1, d2 = _map_to_cor(t)  # Toeplitz: one correlation per lag
    at_lag = (lag[None] == np.arange(1, m)[:, None, None]).astype(float)
    d2C[np.arange(j), np.arange(j)] = at_lag * d2[:, None, None]
    return np.eye(m) + np.einsum("d,dab->ab", rho, at_lag), at_lag * d1[:, None, None], d2C


def _unit_cholesky_product(values: np.ndarray, m: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r""":math:`C = \tilde L \tilde L'` for ``us`` and its derivatives in the entries of :math:`\tilde L`.

    With :math:`E_k` the indicator of entry k: :math:`\partial_k C = E_k \tilde L' + \tilde L E_k'`,
    :math:`\partial_{kl} C = E_k E_l' + E_l E_k'`.
    """
    rows, cols = np.tril_indices(m, -1)
    unit = np.eye(m)
    unit[rows, cols] = values
    E = np.zeros((len(values), m, m))
    E[np.arange(len(values)), rows, cols] = 1.0
    first = E @ unit.T
    first = first + first.transpose(0, 2, 1)
    cross = np.einsum("kab,lcb->klac", E, E)
    return unit @ unit.T, first, cross + cross.transpose(1, 0, 2, 3)


# --- data --------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Pattern:
    """Subjects of one covariance group with the same observed visits: X (n x q x p), y (n x q)."""

    group: int
    visits: np.ndarray
    X: np.ndarray
    y: np.ndarray


@dataclass(frozen=True)
class _Model:
    """What the likelihood needs: the patterns, the structure, the counts."""

    patterns: list[_Pattern]
    structure: _Structure
    n_groups: int
    n_obs: int
    p: int
    n_subjects: int
    reml: bool
    log_weights: float
    start: np.ndarray
    visit_levels: list
    group_levels: list
    names: list[str]
    design_info: patsy.DesignInfo

    @property
    def n_theta(self) -> int:
        """Number of covariance parameters, all groups."""
        return self.structure.n_theta * self.n_groups


def _check_options(cov: str, ddf: str, reml: bool) -> None:
    if cov not in COV_TYPES:
        raise ValueError(f"cov must be one of {tuple(COV_TYPES)} (mmrm's covariance structures), got {cov!r}")
    if ddf not in DDF_METHODS:
        raise ValueError(f"ddf must be one of {tuple(DDF_METHODS)}, got {ddf!r}")
    if ddf == "kenward-roger" and not reml:
        raise ValueError("Kenward-Roger's method needs a REML fit (mmrm: 'Kenward-Roger only works for REML'): "
                         "use reml=True, or ddf='satterthwaite'")


def _prepare(data: pd.DataFrame, formula: str, subject: str, visit: str, cov: str, cov_by: str | None,
             weights: str | None, reml: bool) -> tuple[_Model, io.ModelFrame]:
    """Checked complete rows, the design, and the subjects grouped by observed visits."""
    outcome = _formula_variables(formula.split("~")[0] + "~ 1")
    used = [c for c in dict.fromkeys([*_formula_variables(formula), visit, *([cov_by] if cov_by else [])])
            if c not in outcome and c != subject]
    if visit in outcome or subject in outcome:
        raise ValueError(f"mmrm: the outcome ({', '.join(outcome)}) cannot be the visit or subject column")
    frame = io.model_frame(data, numeric=outcome, other=used, group=subject, weights=weights,
                           clusters=[cov_by] if cov_by else (), who="mmrm")
    rows = frame.data
    _check_duplicates(data, subject, visit)
    y, X = patsy.dmatrices(formula, rows, NA_action="raise", return_type="dataframe")
    io.check_design(X.to_numpy(), X.columns, who="mmrm")
    visit_codes, visit_levels = _levels(rows[visit])
    subject_codes = pd.factorize(rows[subject])[0]
    group_codes, group_levels = _levels(rows[cov_by]) if cov_by else (np.zeros(len(rows), dtype=int), [None])
    structure = _Structure(cov, len(visit_levels))
    root = np.ones(len(rows)) if weights is None else np.sqrt(rows[weights].to_numpy(dtype=float))
    yw, Xw = y.to_numpy()[:, 0] * root, X.to_numpy() * root[:, None]
    patterns, presence, subject_group = _patterns(Xw, yw, subject_codes, visit_codes, group_codes, len(visit_levels))
    _check_identified(structure, presence, subject_group, group_levels, visit_levels, len(rows), X.shape[1],
                      reml, cov_by, visit)
    start = _start(structure, Xw, yw, subject_codes, visit_codes, len(group_levels))
    model = _Model(patterns, structure, len(group_levels), len(rows), X.shape[1], int(subject_codes.max()) + 1,
                   reml, float(np.log(root ** 2).sum()), start, visit_levels, group_levels, list(X.columns),
                   X.design_info)
    return model, frame


def _check_duplicates(data: pd.DataFrame, subject: str, visit: str) -> None:
    """Refuse a subject with two rows at one visit (mmrm: "time points have to be unique for each subject")."""
    keyed = data[[subject, visit]].dropna()
    twice = keyed.duplicated(keep=False)
    if twice.any():
        shown = keyed[subject].astype(str) + ", " + keyed[visit].astype(str)
        raise io.DataValidationError([_problem(f"{subject}, {visit}", "appears more than once (one row per subject "
                                                                      "and visit; remove the duplicated rows)",
                                               shown, twice, by_index=True)])


def _levels(values: pd.Series) -> tuple[np.ndarray, list]:
    """Codes and levels of a factor: a categorical's categories, numbers in order, text sorted."""
    if isinstance(values.dtype, pd.CategoricalDtype):
        values = values.cat.remove_unused_categories()
        return values.cat.codes.to_numpy(), list(values.cat.categories)
    levels = sorted(values.unique(), key=lambda v: (0, float(v), "") if _is_numeric(v) else (1, 0.0, str(v)))
    lookup = {level: code for code, level in enumerate(levels)}
    return values.map(lookup).to_numpy(dtype=int), levels


def _is_numeric(value) -> bool:
    return isinstance(value, (int, float, np.number)) and not isinstance(value, (bool, np.bool_))


def _patterns(X: np.ndarray, y: np.ndarray, subjects: np.ndarray, visits: np.ndarray, groups: np.ndarray,
              m: int) -> tuple[list[_Pattern], np.ndarray, np.ndarray]:
    """Subjects grouped by (covariance group, observed visits), rows in visit order; also each
    subject's visits (subjects x m, boolean) and group."""
    order = np.lexsort((visits, subjects))
    X, y, subjects, visits, groups = X[order], y[order], subjects[order], visits[order], groups[order]
    n_subjects = subjects.max() + 1
    presence = np.zeros((n_subjects, m), dtype=bool)
    presence[subjects, visits] = True
    first = np.searchsorted(subjects, np.arange(n_subjects))
    subject_group = groups[first]
    keys, pattern_of = np.unique(np.column_stack([subject_group, presence]), axis=0, return_inverse=True)
    patterns = []
    for number, key in enumerate(keys):
        members = np.flatnonzero(pattern_of.ravel() == number)
        observed = np.flatnonzero(key[1:])
        rows = (first[members][:, None] + np.arange(len(observed))).ravel()
        patterns.append(_Pattern(int(key[0]), observed, X[rows].reshape(len(members), len(observed), -1),
                                 y[rows].reshape(len(members), len(observed))))
    return patterns, presence, subject_group


def _check_identified(structure: _Structure, presence: np.ndarray, subject_group: np.ndarray, group_levels: list,
                      visit_levels: list, n_obs: int, p: int, reml: bool, cov_by: str | None, visit: str) -> None:
    """Refuse covariance parameters the data cannot estimate, naming the visits (and group)."""
    problems = []
    for code, level in enumerate(group_levels):
        observed = presence[subject_group == code].astype(float)
        together = observed.T @ observed
        where = f" in {cov_by} '{level}'" if cov_by else ""
        problems += [io.Problem(visit, f"mmrm: {message}{where}") for message in _unsupported(structure, together,
                                                                                             visit_levels)]
    available = n_obs - p if reml else n_obs
    n_theta = structure.n_theta * len(group_levels)
    if n_theta >= available:
        problems.append(io.Problem(visit, f"mmrm: the {COV_TYPES[structure.kind]} covariance has {n_theta} "
                                          f"parameters but the data support fewer ({n_obs} observations"
                                          + (f" - {p} coefficients" if reml else "") + f" = {available}); "
                                          "choose a structure with fewer parameters (e.g. cov='cs' or 'ar1')"))
    if problems:
        raise io.DataValidationError(problems)


def _unsupported(structure: _Structure, together: np.ndarray, levels: list) -> list[str]:
    """What a structure's parameters need that ``together`` (visits x visits: subjects observed at
    both) lacks."""
    kind, m = structure.kind, structure.m
    messages = []
    observed = np.diag(together) > 0
    if kind in HETEROGENEOUS and not observed.all():
        absent = ", ".join(str(levels[i]) for i in np.flatnonzero(~observed))
        messages.append(f"visit(s) {absent} never observed, so their variance ({kind!r}) is not estimable")
    if kind == "us":
        pairs = [f"{levels[j]} and {levels[i]}" for i, j in zip(*np.tril_indices(m, -1))
                 if observed[i] and observed[j] and together[i, j] == 0]
        return messages + ([(f"visits {pairs[0]} are never observed in the same subject, so their covariance "
                             f"('us') is not estimable ({len(pairs)} pair(s): {'; '.join(pairs[:5])})")]
                           if pairs else [])
    lags = np.abs(np.subtract.outer(np.arange(m), np.arange(m)))
    needed = range(1, m) if kind.startswith("toep") else [None]
    for lag in needed:
        pairs = together[lags == lag].sum() if lag else together[lags > 0].sum()
        if pairs == 0:
            what = f"visits {lag} level(s) apart" if lag else "two visits"
            messages.append(f"no subject has {what} observed, so the correlation ({kind!r}) is not estimable")
    return messages


def _start(structure: _Structure, X: np.ndarray, y: np.ndarray, subjects: np.ndarray, visits: np.ndarray,
           n_groups: int) -> np.ndarray:
    """Starting parameters (every group alike) from the covariance of the OLS residuals by visit
    (pairwise complete)."""
    residuals = y - X @ np.linalg.lstsq(X, y, rcond=None)[0]
    wide = pd.DataFrame({"s": subjects, "v": visits, "r": residuals}).pivot(index="s", columns="v", values="r")
    cov = wide.reindex(columns=range(structure.m)).cov(min_periods=2).to_numpy()
    variance = np.nanmean(np.diag(cov)) if np.isfinite(np.diag(cov)).any() else 1.0
    cov = np.where(np.isfinite(cov), cov, 0.0)
    diagonal = np.diag(cov).copy()
    cov[np.diag_indices_from(cov)] = np.where(diagonal > 0, diagonal, variance if variance > 0 else 1.0)
    return np.tile(structure.start(cov), n_groups)


# --- the likelihood ----------------------------------------------------------------------------

@dataclass
class _Evaluation:
    """The objective at theta, beta, Phi, the gradient and Hessian of the objective, and (with
    ``sums``) mmrm's Kenward-Roger sums ``P`` (k x p x p), ``Q``, ``R`` (k x k x p x p)."""

    value: float
    beta: np.ndarray | None = None
    phi: np.ndarray | None = None
    gradient: np.ndarray | None = None
    hessian: np.ndarray | None = None
    P: np.ndarray | None = None
    Q: np.ndarray | None = None
    R: np.ndarray | None = None


@dataclass
class _Blocks:
    """One pattern's Sigma_i^-1, Z = Sigma_i^-1 X_i (n x q x p), the derivatives of Sigma_i, the
    weighted residuals e = Sigma_i^-1 (y_i - X_i beta) (n x q) and H = sum_i Z_i Phi Z_i' (q x q;
    zero for ML)."""

    inverse: np.ndarray
    Z: np.ndarray
    d1: np.ndarray
    d2: np.ndarray
    e: np.ndarray | None = None
    H: np.ndarray | None = None


def _evaluate(theta: np.ndarray, model: _Model, derivatives: bool = True, sums: bool = False) -> _Evaluation:
    """The negative log-likelihood (``value``; inf where a Sigma_i is not positive definite),
    with its gradient and Hessian (``derivatives``) and P, Q, R (``sums``)."""
    k = model.structure.n_theta
    sigmas = [model.structure.derivatives(t) for t in theta.reshape(model.n_groups, k)]
    first = _first_pass(sigmas, model)
    if first is None:
        return _Evaluation(np.inf)
    xtwx, xtwy, log_det, blocks = first
    try:
        xtwx_factor = linalg.cho_factor(xtwx, lower=True)
    except linalg.LinAlgError:
        return _Evaluation(np.inf)
    beta = linalg.cho_solve(xtwx_factor, xtwy)
    phi = linalg.cho_solve(xtwx_factor, np.eye(model.p))
    quadratic = 0.0
    for block, pattern in zip(blocks, model.patterns):
        residual = pattern.y - pattern.X @ beta
        block.e = residual @ block.inverse
        block.H = np.tensordot(block.Z @ phi, block.Z, axes=([0, 2], [0, 2])) if model.reml else np.zeros_like(block.inverse)
        quadratic += float(np.sum(residual * block.e))
    value = 0.5 * (log_det + quadratic - model.log_weights)
    if model.reml:
        value += 0.5 * ((model.n_obs - model.p) * LOG_2PI + 2 * np.log(np.diag(xtwx_factor[0])).sum())
    else:
        value += 0.5 * model.n_obs * LOG_2PI
    evaluation = _Evaluation(value, beta, phi)
    if derivatives:
        _second_order(evaluation, blocks, model, sums)
    return evaluation


def _first_pass(sigmas: list, model: _Model):
    """X'WX, X'Wy, log|Omega| and each pattern's blocks; None if a Sigma_i is not positive definite."""
    p = model.p
    xtwx, xtwy, log_det, blocks = np.zeros((p, p)), np.zeros(p), 0.0, []
    for pattern in model.patterns:
        sigma, d1, d2 = sigmas[pattern.group]
        v = pattern.visits
        try:
            factor = linalg.cho_factor(sigma[np.ix_(v, v)], lower=True)
        except linalg.LinAlgError:
            return None
        inverse = linalg.cho_solve(factor, np.eye(len(v)))
        Z = inverse @ pattern.X
        xtwx += _flat(pattern.X).T @ _flat(Z)
        xtwy += _flat(Z).T @ pattern.y.ravel()
        log_det += 2 * len(pattern.y) * np.log(np.diag(factor[0])).sum()
        blocks.append(_Blocks(inverse, Z, d1[:, v][:, :, v], d2[:, :, v][:, :, :, v]))
    return xtwx, xtwy, log_det, blocks


def _flat(array: np.ndarray) -> np.ndarray:
    """Subjects' rows stacked: (n x q x c) -> (n q x c)."""
    return array.reshape(-1, array.shape[-1])


def _slice(model: _Model, group: int) -> slice:
    """The positions of a covariance group's parameters in theta."""
    k = model.structure.n_theta
    return slice(group * k, (group + 1) * k)


def _second_order(evaluation: _Evaluation, blocks: list[_Blocks], model: _Model, sums: bool) -> None:
    r"""Fill in the gradient and Hessian of the objective (module notes), summed over patterns,
    and with ``sums`` mmrm's P, Q, R.

    Per pattern of n subjects, with :math:`M_{kl} = \Sigma_k \Sigma^{-1} \Sigma_l`,
    :math:`E = \sum e_i e_i'`, :math:`T_{ab} = \sum_i Z_{ia}' Z_{ib}` (rows a, b of Z_i):
    :math:`\mathrm{tr}(\Phi Q_{kl}) = \mathrm{tr}(M_{kl} H)`, :math:`P_k = -\sum_{ab}
    \Sigma_{k,ab} T_{ab}`, :math:`y'P\Omega_k P\Omega_l P y = \mathrm{tr}(M_{kl}E) - u_k'\Phi u_l`
    with :math:`u_k = \sum_i Z_i'\Sigma_k e_i`.
    """
    K, p, phi = model.n_theta, model.p, evaluation.phi
    P = np.zeros((K, p, p))
    Q, R = (np.zeros((K, K, p, p)), np.zeros((K, K, p, p))) if sums else (None, None)
    gradient, u = np.zeros(K), np.zeros((K, p))
    traces, second_traces, data, data_second = (np.zeros((K, K)) for _ in range(4))
    for block, pattern in zip(blocks, model.patterns):
        g, n, q = _slice(model, pattern.group), len(pattern.y), len(pattern.visits)
        k = block.d1.shape[0]
        cross = block.Z.reshape(n, q * p)
        T = (cross.T @ cross).reshape(q, p, q, p).transpose(0, 2, 1, 3).reshape(q * q, p * p)
        scaled = block.inverse @ block.d1
        middle = np.einsum("kab,lbc->klac", block.d1, scaled)
        outer = block.e.T @ block.e
        gradient[g] += 0.5 * np.einsum("ab,kab->k", n * block.inverse - block.H - outer, block.d1)
        P[g] -= (block.d1.reshape(k, q * q) @ T).reshape(k, p, p)
        if sums:
            Q[g, g] += (middle.reshape(k * k, q * q) @ T).reshape(k, k, p, p)
            R[g, g] += (block.d2.reshape(k * k, q * q) @ T).reshape(k, k, p, p)
        traces[g, g] += n * np.einsum("kab,lba->kl", scaled, scaled) - 2 * np.einsum("klab,ba->kl", middle, block.H)
        second_traces[g, g] += np.einsum("klab,ba->kl", block.d2, n * block.inverse - block.H)
        data[g, g] += np.einsum("klab,ab->kl", middle, outer)
        data_second[g, g] += np.einsum("klab,ab->kl", block.d2, outer)
        u[g] += np.einsum("kab,apb->kp", block.d1, np.tensordot(block.Z, block.e, axes=(0, 0)))
    if model.reml:
        phi_p = phi @ P
        traces += np.einsum("kab,lba->kl", phi_p, phi_p)
    data -= u @ phi @ u.T
    evaluation.gradient = gradient
    evaluation.hessian = 0.5 * second_traces - 0.5 * traces + data - 0.5 * data_second
    evaluation.P, evaluation.Q, evaluation.R = P, Q, R


# --- optimisation and inference ----------------------------------------------------------------

def _optimise(model: _Model) -> tuple[np.ndarray, bool, list[str]]:
    """Minimise the objective by trust-region Newton steps (exact gradient and Hessian) from the
    empirical start; whether it converged (small gradient, positive definite Hessian) and why not."""
    cache = {}

    def evaluate(theta):
        key = theta.tobytes()
        if key not in cache:
            cache.clear()
            cache[key] = _evaluate(theta, model)
        return cache[key]

    def objective(theta):
        evaluation = evaluate(theta)
        return evaluation.value, (evaluation.gradient if evaluation.gradient is not None
                                  else np.zeros_like(theta))

    result = optimize.minimize(objective, model.start, jac=True, hess=lambda t: evaluate(t).hessian,
                               method="trust-exact", options={"gtol": NEWTON_GTOL, "maxiter": MAX_ITER})
    return result.x, *_convergence(result, evaluate(result.x))


def _convergence(result: optimize.OptimizeResult, evaluation: _Evaluation) -> tuple[bool, list[str]]:
    """mmrm's checks: the optimiser's own verdict (here: the largest |gradient| below
    ``GRADIENT_TOL``), and a finite, positive definite Hessian."""
    messages = []
    gradient = np.max(np.abs(evaluation.gradient)) if evaluation.gradient is not None else np.inf
    if not np.isfinite(evaluation.value) or gradient > GRADIENT_TOL:
        messages.append(f"Model convergence problem: the optimiser stopped ({result.message}) with "
                        f"max |gradient| {gradient:.2g} of the negative log-likelihood")
    elif not np.all(np.isfinite(evaluation.hessian)):
        messages.append("Model convergence problem: theta_vcov contains non-finite values.")
    elif np.linalg.eigvalsh(evaluation.hessian).min() <= 0:
        messages.append("Model convergence problem: theta_vcov is not positive definite.")
    return not messages, messages


@dataclass(frozen=True)
class _Information:
    """The pieces of the three df methods at the estimate: Phi, P, Q, R, W = H^-1 (mmrm's
    ``theta_vcov``) and Hessian warnings."""

    phi: np.ndarray
    P: np.ndarray
    Q: np.ndarray
    R: np.ndarray
    W: np.ndarray
    messages: list[str]


def _information(evaluation: _Evaluation) -> _Information:
    """W = H^-1 over H's positive eigenvalues (with lmerTest's warnings otherwise), and the sums."""
    W, messages = _asymptotic_cov(2 * evaluation.hessian)  # 2 (2H)^-1 = H^-1
    return _Information(evaluation.phi, evaluation.P, evaluation.Q, evaluation.R, W, messages)


@dataclass(frozen=True)
class _Residual:
    """The asymptotic covariance of beta with the residual df N - p for every contrast."""

    cov_beta: np.ndarray
    residual_df: float
    messages: tuple = ()

    variance = _Satterthwaite.variance

    def df(self, contrasts: np.ndarray) -> np.ndarray:
        """N - p for each row of ``contrasts``."""
        return np.full(len(contrasts), self.residual_df)

    def f_test(self, contrasts: np.ndarray, beta: np.ndarray) -> tuple[float, float]:
        """Wald F of ``contrasts @ beta = 0`` with N - p denominator df."""
        return _wald_f(contrasts, beta, self.cov_beta), self.residual_df


def _kenward_roger_pieces(info: _Information, n_obs: int) -> _KenwardRoger:
    """mmrm's ``h_var_adj`` (the default "Kenward-Roger", with R) and the df pieces."""
    phi = info.phi
    phi_p = phi @ info.P
    inner = (np.einsum("kl,klab->ab", info.W, info.Q - 0.25 * info.R)
             - np.einsum("kl,kab,lbc->ac", info.W, info.P, phi_p))
    return _KenwardRoger(cov_beta=phi + 2 * phi @ inner @ phi, phi=phi, P=info.P, W=info.W,
                         messages=list(info.messages))


def _satterthwaite_pieces(info: _Information, n_obs: int) -> _Satterthwaite:
    """Phi, its Jacobian -Phi P_h Phi and W (mmrm's ``jac_list`` and ``theta_vcov``)."""
    return _Satterthwaite(cov_beta=info.phi, jacobian=-info.phi @ info.P @ info.phi, cov_varpar=info.W,
                          messages=list(info.messages))


def _residual_pieces(info: _Information, n_obs: int) -> _Residual:
    """Phi with N - p df."""
    return _Residual(info.phi, float(n_obs - len(info.phi)))


#: The variance pieces of each df method, from the information and the number of observations.
_PIECES = {"kenward-roger": _kenward_roger_pieces, "satterthwaite": _satterthwaite_pieces,
           "residual": _residual_pieces}


# --- the result --------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class MmrmResult:
    """A fitted MMRM, reported as R's ``mmrm`` reports it.

    Attributes
    ----------
    fixed : pandas.DataFrame
        One row per coefficient (patsy names, e.g. ``arm[T.cbt]``): ``estimate``, ``se``,
        ``df``, ``t``, ``p`` and the 95% t-interval ``ci_low``, ``ci_high``, by ``ddf``
        (Kenward-Roger: the adjusted covariance and its df).
    cov : pandas.DataFrame or dict
        The estimated covariance of the visits (visit x visit, by visit level); with
        ``cov_by`` a dict {group level: covariance}.
    theta : numpy.ndarray
        The covariance parameters in mmrm's parameterisation (module notes).
    loglik, aic, bic : float
        mmrm's logLik (restricted for REML), AIC = -2 logLik + 2k and
        BIC = -2 logLik + k log(subjects), k the number of covariance parameters.
    converged : bool
        The optimiser converged and the Hessian is positive definite (mmrm's checks).
    warnings : tuple of str
        Convergence and Hessian problems.
    cov_beta : pandas.DataFrame
        The covariance of the fixed effects that ``fixed`` uses.
    formula, subject, visit, cov_type, ddf, reml, cov_by, weights
        As given to :func:`mmrm`.
    n_obs, n_subjects, n_visits, n_dropped : int
        Observations used, subjects, visit levels, rows dropped for missing values.
    data : pandas.DataFrame
        The rows fitted (for :func:`analysis.mixed.emmeans` and ``contrast``).
    design_info : patsy.DesignInfo
        The fixed-effect design.
    """

    fixed: pd.DataFrame
    cov: pd.DataFrame | dict
    theta: np.ndarray
    loglik: float
    aic: float
    bic: float
    converged: bool
    warnings: tuple[str, ...]
    cov_beta: pd.DataFrame
    formula: str
    subject: str
    visit: str
    cov_type: str
    ddf: str
    reml: bool
    cov_by: str | None
    weights: str | None
    n_obs: int
    n_subjects: int
    n_visits: int
    n_dropped: int
    data: pd.DataFrame = field(repr=False)
    design_info: patsy.DesignInfo = field(repr=False)
    information: _Information = field(repr=False)
    _cache: dict = field(default_factory=dict, repr=False)

    @property
    def n_theta(self) -> int:
        """Number of covariance parameters."""
        return len(self.theta)

    def pieces(self, ddf: str | None = None) -> _KenwardRoger | _Satterthwaite | _Residual:
        """The variance pieces of :mod:`analysis.mixed.estimands` for a df method (the fit's own by
        default): covariance of beta, df and F tests of any contrast.

        Raises
        ------
        ValueError
            An unknown ``ddf``, or ``"kenward-roger"`` for an ML fit.
        """
        ddf = self.ddf if ddf is None else ddf
        _check_options(self.cov_type, ddf, self.reml)
        if ddf not in self._cache:
            self._cache[ddf] = _PIECES[ddf](self.information, self.n_obs)
        return self._cache[ddf]


    def summary(self) -> str:
        """Text summary laid out like ``summary()`` of an mmrm fit."""
        method, vcov = DDF_METHODS[self.ddf]
        groups = f" of {len(self.cov)} groups" if isinstance(self.cov, dict) else ""
        criteria = pd.Series({"AIC": self.aic, "BIC": self.bic, "logLik": self.loglik, "deviance": -2 * self.loglik})
        covs = self.cov.items() if isinstance(self.cov, dict) else [(None, self.cov)]
        return "\n".join([
            "mmrm fit", "",
            f"Formula:     {self.formula}",
            f"Data:        used {self.n_obs} observations from {self.n_subjects} subjects with maximum "
            f"{self.n_visits} timepoints" + (f" ({self.n_dropped} rows with missing values dropped)"
                                             if self.n_dropped else ""),
            *([f"Weights:     {self.weights}"] if self.weights else []),
            f"Covariance:  {COV_TYPES[self.cov_type]} ({self.n_theta} variance parameters{groups})"
            + (f" by {self.cov_by}" if self.cov_by else ""),
            f"Method:      {method}", f"Vcov Method: {vcov}", f"Inference:   {'REML' if self.reml else 'ML'}", "",
            "Model selection criteria:", criteria.round(1).to_frame().T.to_string(index=False), "",
            "Coefficients: ", _fixed_table(self.fixed), "",
            "Covariance estimate:",
            *[line for level, matrix in covs
              for line in ([f"Group: {level}"] if level is not None else []) + [matrix.round(4).to_string()]],
            *(["", "Warnings:"] + [f"  {w}" for w in self.warnings] if self.warnings else []),
        ])


def _result(model: _Model, frame: io.ModelFrame, call: dict, theta: np.ndarray, evaluation: _Evaluation,
            information: _Information, converged: bool, messages: list[str]) -> MmrmResult:
    """Assemble the result: the fixed-effect table by the call's ``ddf``, the covariances, mmrm's criteria."""
    covs = [pd.DataFrame(model.structure.derivatives(t)[0], index=model.visit_levels, columns=model.visit_levels)
            for t in theta.reshape(model.n_groups, -1)]
    pieces = _PIECES[call["ddf"]](information, model.n_obs)
    estimates = pd.Series(evaluation.beta, index=model.names)
    nll = evaluation.value
    return MmrmResult(
        fixed=_fixed_table_frame(estimates, pieces.cov_beta, pieces.df(np.eye(model.p))),
        cov=covs[0] if model.n_groups == 1 else dict(zip(model.group_levels, covs)),
        theta=theta, loglik=-nll, aic=2 * nll + 2 * model.n_theta,
        bic=2 * nll + np.log(model.n_subjects) * model.n_theta, converged=converged,
        warnings=tuple(messages + list(pieces.messages)),
        cov_beta=pd.DataFrame(pieces.cov_beta, index=model.names, columns=model.names),
        cov_type=model.structure.kind, reml=model.reml, n_obs=model.n_obs, n_subjects=model.n_subjects,
        n_visits=model.structure.m, n_dropped=frame.n_dropped, data=frame.data, design_info=model.design_info,
        information=information, **call)
