r"""Reference-based multiple imputation (Carpenter, Roger & Kenward, 2013).

Model
-----
Within arm :math:`a`, the outcomes of participant :math:`i` at the visits
:math:`w = 0, \dots, V-1` (baseline included) are multivariate normal,

.. math::

   y_i \sim N_V(B_a' x_i, \Sigma_a), \qquad x_i = (1, \text{covariates}_i),

with arm-specific visit means adjusted for baseline covariates (:math:`B_a`,
:math:`p \times V`) and an unstructured covariance :math:`\Sigma_a`, under the
noninformative prior :math:`p(B_a, \Sigma_a) \propto |\Sigma_a|^{-(V+1)/2}`.

Posterior draws (data augmentation, a Gibbs sampler per arm)
------------------------------------------------------------
Starting from the missing values set to their visit means, each iteration

1. draws the parameters given the completed data :math:`Y` (:math:`n_a \times V`):

   .. math::

      \hat B = (X'X)^{-1}X'Y, \quad S = (Y - X\hat B)'(Y - X\hat B), \quad
      \Sigma \sim \mathcal{W}^{-1}(n_a - p,\, S), \quad
      B = \hat B + A Z C', \; Z_{jk} \sim N(0, 1),

   with :math:`AA' = (X'X)^{-1}` and :math:`CC' = \Sigma` (Cholesky), i.e.
   :math:`\mathrm{vec}(B) \mid \Sigma \sim N(\mathrm{vec}(\hat B), \Sigma \otimes
   (X'X)^{-1})`;
2. draws every participant's missing values from their conditional normal
   distribution given the observed ones (MAR, own arm),

   .. math::

      y_{m} \mid y_o \sim N\big(\mu_m + \Sigma_{mo}\Sigma_{oo}^{-1}(y_o - \mu_o),\;
      \Sigma_{mm} - \Sigma_{mo}\Sigma_{oo}^{-1}\Sigma_{om}\big).

After ``burnin`` iterations, every ``thin``-th draw of the parameters of all arms
(the arms' samplers run in step) gives one imputation.

Imputation under the method's assumption
----------------------------------------
For a participant of arm :math:`a` last observed at visit :math:`k` ("pre" the
visits up to :math:`k`, "post" those after), with :math:`\mu_a = B_a'x_i` and
:math:`\mu_r = B_r'x_i` (reference arm :math:`r`, at the participant's own
covariates), the mean profile :math:`\tilde\mu` is

* ``"MAR"``: :math:`\mu_a` (own arm);
* ``"CR"`` (copy reference): :math:`\mu_r` at every visit;
* ``"J2R"`` (jump to reference): :math:`\mu_a` before, :math:`\mu_r` after dropout;
* ``"CIR"`` (copy increments in reference): :math:`\mu_a` before, and
  :math:`\tilde\mu_t = \mu_{a,k} + (\mu_{r,t} - \mu_{r,k})` after (the reference's
  changes from the last visit on; :math:`\mu_r` when nothing was observed),

and the post-dropout visits are drawn from

.. math::

   y_{post} \mid y_{pre} \sim N\big(\tilde\mu_{post} + \Sigma_{21}\Sigma_{11}^{-1}
   (y_{pre} - \tilde\mu_{pre}),\; \Sigma_{22} - \Sigma_{21}\Sigma_{11}^{-1}\Sigma_{12}\big)

with :math:`\Sigma = \Sigma_a` under MAR and :math:`\Sigma = \Sigma_r` otherwise: for
CR the joint distribution is the reference arm's; for J2R and CIR it is the
distribution whose pre-dropout block is the arm's own and whose conditional
distribution of post- given pre-dropout outcomes is the reference's (Carpenter et
al., 2013, section 4), which gives the same conditional. Reference-arm participants
are imputed under MAR whatever the method.

Intermittent missing values (missing at a visit before the last observed one) break
the monotone pattern the methods are defined for. With ``intermittent="mar"`` (the
default, as Roger's macros and Stata's ``mimix`` do) they are imputed first, under
MAR from the own arm's model given the participant's observed pre-dropout values,
and then count as observed; ``intermittent="error"`` refuses such data, naming the
participants.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from .. import io
from .layout import Layout, check_observed, layout
from .result import Imputations, check_choice, check_m, from_values, seed_sequence

METHODS = ("J2R", "CR", "CIR", "MAR")
INTERMITTENT = ("mar", "error")


def reference_based(data: pd.DataFrame, method: str = "J2R", *, outcome: str, reference: str | None = None,
                    arm: str = "arm", m: int = 20, seed: int | None = None, visits: Sequence[int] | None = None,
                    covariates: Sequence[str] = (), burnin: int = 200, thin: int = 10, intermittent: str = "mar",
                    progress: bool = False) -> Imputations:
    """Reference-based multiple imputation of the outcome after dropout (J2R, CR, CIR, MAR).

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial table; waves after dropout may be absent.
    method : {"J2R", "CR", "CIR", "MAR"}, default "J2R"
        Assumption about the outcomes after dropout (module docstring).
    outcome : str
        Outcome column; its first visit is the baseline.
    reference : str, optional
        Reference arm (default: the first level of
        :func:`analysis.io.arm_factor`, a control-like arm such as ``"control"``).
    arm : str, default "arm"
        Arm column.
    m : int, default 20
        Imputations (>= 2).
    seed : int, optional
        Seed of every draw; None draws fresh entropy (recorded in ``.seed``).
    visits : sequence of int, optional
        Waves modelled (default: all).
    covariates : sequence of str
        Baseline covariates of the mean model (text columns become dummies).
    burnin, thin : int, default 200, 10
        Gibbs iterations discarded, and iterations between imputations.
    intermittent : {"mar", "error"}, default "mar"
        Impute intermittent missing values under MAR first, or refuse them.
    progress : bool, default False
        Show a tqdm bar over the Gibbs iterations.

    Returns
    -------
    Imputations
        As :func:`analysis.missing.impute` returns (``method`` is the method name).

    Raises
    ------
    ValueError
        m < 2, an unknown method or ``intermittent`` value, bad burnin/thin, or an
        arm with too few participants for an unstructured covariance (n - p < V).
    DataValidationError
        As :func:`analysis.missing.impute`; a reference arm not in the data; with
        ``intermittent="error"``, participants with intermittent missing values.
    """
    who = "reference_based"
    check_choice("method", method, METHODS, who)
    check_choice("intermittent", intermittent, INTERMITTENT, who)
    m = check_m(m, who)
    for name, value, least in (("burnin", burnin, 0), ("thin", thin, 1)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"{who}: {name} must be a whole number >= {least}, got {value!r}")
    wide = layout(data, outcome, group=arm, visits=visits, covariates=covariates, who=who)
    check_observed(wide, who)
    ref = _reference_level(wide, reference)
    y = wide.values[..., 0]
    last = _last_observed(y)
    _check_monotone(wide, y, last, intermittent)
    x = np.column_stack([np.ones(len(y)), wide.design])
    sequence = seed_sequence(seed)
    *streams, imputing = [np.random.default_rng(s) for s in sequence.spawn(len(wide.levels) + 1)]
    draws = _posterior_draws(wide, y, x, m, burnin, thin, streams, progress)
    completed = np.stack([_impute_once(y, x, wide, last, [d[j] for d in draws], method, ref, imputing)
                          for j in range(m)])
    settings = {"reference": wide.levels[ref], "burnin": burnin, "thin": thin, "intermittent": intermittent}
    return from_values(wide, completed[..., None], method, sequence.entropy, settings)


def _reference_level(wide: Layout, reference: str | None) -> int:
    if reference is None:
        return 0
    if str(reference) not in wide.levels:
        raise io.DataValidationError([io.Problem(wide.group_column, f"reference_based: reference arm {reference!r} "
                                                                    f"is not in the data (arms are {wide.levels})")])
    return wide.levels.index(str(reference))


def _last_observed(y: np.ndarray) -> np.ndarray:
    """Index of each participant's last observed visit (-1 when none)."""
    observed = ~np.isnan(y)
    return np.where(observed.any(axis=1), y.shape[1] - 1 - np.argmax(observed[:, ::-1], axis=1), -1)


def _check_monotone(wide: Layout, y: np.ndarray, last: np.ndarray, intermittent: str) -> None:
    """Refuse intermittent missing values under ``intermittent="error"``, naming participants and patterns."""
    gaps = np.isnan(y) & (np.arange(y.shape[1]) < last[:, None])
    people = np.flatnonzero(gaps.any(axis=1))
    if intermittent == "mar" or not len(people):
        return
    patterns = ["".join("o" if seen else "." for seen in row) for row in ~np.isnan(y[people])]
    raise io.DataValidationError([io.Problem(
        wide.outcome, f"reference_based: missing at a visit before a later observed one (waves {list(wide.visits)}, "
                      "o observed, . missing), so the pattern is not monotone; pass intermittent='mar' to impute "
                      "such values under MAR first, or leave those waves out of visits",
        rows=tuple(wide.ids[people[:io.SHOWN]]), values=tuple(patterns[:io.SHOWN]), count=len(people),
        unit="participant")])


def _posterior_draws(wide: Layout, y: np.ndarray, x: np.ndarray, m: int, burnin: int, thin: int,
                     streams: list[np.random.Generator], progress: bool) -> list[list[tuple[np.ndarray, np.ndarray]]]:
    """Per arm, m posterior draws (B, Sigma) of the data-augmentation Gibbs sampler."""
    total = burnin + m * thin
    samplers = [_Sampler(y[members], x[members], level, rng)
                for members, level, rng in zip(wide.members(), wide.levels, streams)]
    draws = [[] for _ in samplers]
    for iteration in tqdm(range(1, total + 1), desc="reference_based", unit="iteration", disable=not progress):
        for sampler, kept in zip(samplers, draws):
            parameters = sampler.step()
            if iteration > burnin and (iteration - burnin) % thin == 0:
                kept.append(parameters)
    return draws


class _Sampler:
    """Data augmentation for one arm: :meth:`step` draws (B, Sigma) | Y, then Y_mis | (B, Sigma)."""

    def __init__(self, y: np.ndarray, x: np.ndarray, level: str, rng: np.random.Generator):
        n, visits = y.shape
        p = x.shape[1]
        if n - p < visits:
            raise ValueError(f"reference_based: arm {level!r} has {n} participants, too few for {p} mean "
                             f"parameters per visit and an unstructured {visits} x {visits} covariance "
                             "(needs n - p >= number of visits)")
        self.x, self.rng = x, rng
        self.missing = np.isnan(y)
        self.y = np.where(self.missing, np.nanmean(y, axis=0), y)
        xtx_inverse = np.linalg.inv(x.T @ x)
        self.hat = xtx_inverse @ x.T
        self.root = np.linalg.cholesky(xtx_inverse)
        self.patterns = _patterns(self.missing)

    def step(self) -> tuple[np.ndarray, np.ndarray]:
        b, sigma = draw_parameters(self.y, self.x, self.hat, self.root, self.rng)
        mean = self.x @ b
        for rows, given, wanted in self.patterns:
            self.y[rows[:, None], wanted] = conditional_draw(self.y[rows], mean[rows], sigma, given, wanted, self.rng)
        return b, sigma


def _patterns(missing: np.ndarray) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(rows, observed visits, missing visits) of each missing-data pattern with something missing."""
    unique, inverse = np.unique(missing, axis=0, return_inverse=True)
    return [(np.flatnonzero(inverse.ravel() == k), np.flatnonzero(~pattern), np.flatnonzero(pattern))
            for k, pattern in enumerate(unique) if pattern.any()]


def draw_parameters(y: np.ndarray, x: np.ndarray, hat: np.ndarray, root: np.ndarray,
                    rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    r"""One posterior draw of :math:`(B, \Sigma)` given completed data (step 1 of the module docstring).

    Parameters
    ----------
    y : numpy.ndarray, shape (n, V)
    x : numpy.ndarray, shape (n, p)
    hat : numpy.ndarray, shape (p, n)
        :math:`(X'X)^{-1}X'`.
    root : numpy.ndarray, shape (p, p)
        Lower Cholesky factor of :math:`(X'X)^{-1}`.
    rng : numpy.random.Generator

    Returns
    -------
    b : numpy.ndarray, shape (p, V)
    sigma : numpy.ndarray, shape (V, V)
    """
    b_hat = hat @ y
    residuals = y - x @ b_hat
    sigma, sigma_root = inverse_wishart(len(y) - x.shape[1], residuals.T @ residuals, rng)
    b = b_hat + root @ rng.standard_normal(b_hat.shape) @ sigma_root.T
    return b, sigma


def inverse_wishart(df: int, scale: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    r"""A draw :math:`\Sigma \sim \mathcal{W}^{-1}(\nu, S)` by Bartlett's decomposition, and a root of it.

    :math:`\Sigma^{-1} \sim \mathcal{W}(\nu, S^{-1})` is :math:`TT'` with :math:`T = LA`,
    :math:`LL' = S^{-1}` (Cholesky) and :math:`A` lower triangular,
    :math:`A_{jj} = \sqrt{c_j}`, :math:`c_j \sim \chi^2_{\nu - j}` (:math:`j = 0, \dots,
    V-1`), :math:`A_{jk} \sim N(0, 1)` below the diagonal. Then :math:`\Sigma =
    T^{-\top}T^{-1}` and :math:`R = T^{-\top}` satisfies :math:`RR' = \Sigma`.

    Returns
    -------
    sigma, root : numpy.ndarray, shape (V, V)
    """
    v = len(scale)
    lower = np.linalg.cholesky(np.linalg.inv(scale))
    bartlett = np.tril(rng.standard_normal((v, v)), -1)
    bartlett[np.diag_indices(v)] = np.sqrt(rng.chisquare(df - np.arange(v)))
    root = np.linalg.inv(lower @ bartlett).T
    return root @ root.T, root


def conditional_draw(y: np.ndarray, mean: np.ndarray, sigma: np.ndarray, given: np.ndarray, wanted: np.ndarray,
                     rng: np.random.Generator) -> np.ndarray:
    r"""Draws of the ``wanted`` visits given the ``given`` ones from :math:`N(\mu_i, \Sigma)`.

    Parameters
    ----------
    y : numpy.ndarray, shape (n, V)
        Values (only the ``given`` columns are read).
    mean : numpy.ndarray, shape (n, V)
        :math:`\mu_i` of each row.
    sigma : numpy.ndarray, shape (V, V)
    given, wanted : numpy.ndarray of int
        Visits conditioned on (may be none), and visits drawn.
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray, shape (n, len(wanted))
        :math:`\mu_w + \Sigma_{wg}\Sigma_{gg}^{-1}(y_g - \mu_g) + L z`,
        :math:`LL' = \Sigma_{ww} - \Sigma_{wg}\Sigma_{gg}^{-1}\Sigma_{gw}`.
    """
    centre, spread = mean[:, wanted], sigma[wanted[:, None], wanted]
    if len(given):
        cross = sigma[given[:, None], wanted]
        slope = np.linalg.solve(sigma[given[:, None], given], cross)
        centre = centre + (y[:, given] - mean[:, given]) @ slope
        spread = spread - cross.T @ slope
    root = np.linalg.cholesky((spread + spread.T) / 2)
    return centre + rng.standard_normal(centre.shape) @ root.T


def _impute_once(y: np.ndarray, x: np.ndarray, wide: Layout, last: np.ndarray,
                 parameters: list[tuple[np.ndarray, np.ndarray]], method: str, ref: int,
                 rng: np.random.Generator) -> np.ndarray:
    """One completed outcome matrix (n, V) from one draw of every arm's parameters."""
    completed = y.copy()
    codes = np.asarray(wide.group.codes)
    visits = np.arange(y.shape[1])
    reference_mean = x @ parameters[ref][0]
    gaps = np.isnan(y) & (visits < last[:, None])
    keys = np.column_stack([codes, last, gaps])
    unique, inverse = np.unique(keys, axis=0, return_inverse=True)
    for k, key in enumerate(unique):
        rows = np.flatnonzero(inverse.ravel() == k)
        code, dropped, gap = int(key[0]), int(key[1]), key[2:].astype(bool)
        if not gap.any() and dropped == len(visits) - 1:
            continue
        b, sigma = parameters[code]
        own = x[rows] @ b
        pre = visits <= dropped
        if gap.any():  # intermittent: MAR from the own arm, given the observed pre-dropout visits
            completed[rows[:, None], visits[gap]] = conditional_draw(completed[rows], own, sigma,
                                                                     visits[pre & ~gap], visits[gap], rng)
        if dropped < len(visits) - 1:
            mar = method == "MAR" or code == ref
            profile = own if mar else _profile(method, own, reference_mean[rows], dropped)
            completed[rows[:, None], visits[~pre]] = conditional_draw(
                completed[rows], profile, sigma if mar else parameters[ref][1], visits[pre], visits[~pre], rng)
    return completed


def _profile(method: str, own: np.ndarray, reference: np.ndarray, last: int) -> np.ndarray:
    r"""The mean profile :math:`\tilde\mu` of participants last observed at visit ``last`` (module docstring)."""
    if method == "CR":
        return reference
    profile = own.copy()
    if method == "J2R" or last < 0:
        profile[:, last + 1:] = reference[:, last + 1:]
    else:  # CIR
        profile[:, last + 1:] = own[:, [last]] + reference[:, last + 1:] - reference[:, [last]]
    return profile
