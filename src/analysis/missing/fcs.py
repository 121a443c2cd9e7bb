r"""Multiple imputation by chained equations (fully conditional specification), as mice.

:func:`impute` lays the long table out wide (:mod:`analysis.missing.layout`: the
outcome and auxiliaries at each visit, plus baseline covariates) and, within each
arm, runs mice's sampler on the columns ``covariates, y_0, a_0, y_1, a_1, ...``:

1. **Start**: every missing value of a column is a random draw (with replacement)
   from its observed values.
2. **Iterate** ``maxit`` times over the columns with missing values, left to right
   (mice's default visit sequence, so visit by visit): column :math:`y` is imputed
   from every other column :math:`X` (with an intercept, at their current values)
   by a Bayesian linear regression draw fitted to the rows where :math:`y` is
   observed (mice's ``.norm.draw``):

   .. math::

      \hat\beta = (X_o'X_o)^{-1} X_o' y_o, \quad
      \hat\sigma^{*2} = \frac{(y_o - X_o\hat\beta)'(y_o - X_o\hat\beta)}{g},
      \; g \sim \chi^2_{\max(n_o - p,\, 1)}, \quad
      \beta^* = \hat\beta + \hat\sigma^* R^{-1} z, \; z \sim N(0, I_p),

   where :math:`\hat\beta` and a root :math:`R^{-1}` of :math:`(X_o'X_o)^{-1} =
   R^{-1}R^{-\top}` come from the Cholesky factor of the equilibrated :math:`X_o'X_o`
   (:func:`bayes_draw`; mice: QR, and the Cholesky root of the same matrix: the same
   distribution). Then

   * ``"norm"`` (mice's ``norm``): :math:`y_{mis} = X_m\beta^* + \hat\sigma^*
     \varepsilon`, :math:`\varepsilon \sim N(0, I)`;
   * ``"pmm"`` (mice's ``pmm``, type 1 matching): each missing row's prediction
     :math:`X_m\beta^*` is matched to the ``donors`` observed rows whose predictions
     :math:`X_o\hat\beta` are nearest, and the observed value of one of them, drawn
     at random, is imputed (ties between donors broken at random, as mice's
     ``matchindex`` does).

As mice's ``remove.lindep``, a predictor whose variance among the rows used is at
most 1e-4, or whose correlation with the observed :math:`y` is 0.99 or more, is left
out of that regression (when so in any imputation); where :math:`X_o` is still
rank-deficient mice's ridge fallback :math:`(X_o'X_o + 10^{-5}\,
\mathrm{diag}(X_o'X_o))^{-1}` takes the place of :math:`(X_o'X_o)^{-1}` (and gives
:math:`\hat\beta`), for that imputation only.

The m imputations are m independent chains, run together (the arrays carry the
imputation as their first axis). Each arm draws from its own stream,
``SeedSequence(seed).spawn(arms)``, so the result depends only on the seed.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from tqdm import tqdm

from .layout import Layout, check_observed, layout
from .result import Imputations, check_choice, check_m, from_values, seed_sequence

METHODS = ("pmm", "norm")
#: mice's ``remove.lindep``: least variance of a predictor, highest correlation with the outcome.
MIN_VARIANCE, MAX_CORRELATION = 1e-4, 0.99
#: mice's ridge penalty, used where the predictors are (nearly) collinear.
RIDGE = 1e-5
RANK_TOL = 1e-7


def impute(data: pd.DataFrame, m: int = 20, *, outcome: str, seed: int | None = None, method: str = "pmm",
           by: str | None = "arm", visits: Sequence[int] | None = None, auxiliary: Sequence[str] = (),
           covariates: Sequence[str] = (), maxit: int = 5, donors: int = 5, progress: bool = False) -> Imputations:
    """Multiple imputation by chained equations of the outcome across visits, within each arm.

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial table (``participant_id``, ``wave``, the arm, the outcome ...),
        e.g. from :func:`analysis.io.load_trial`; waves after dropout may be absent.
    m : int, default 20
        Number of imputations (>= 2).
    outcome : str
        Outcome column (e.g. ``"phq9_total"``).
    seed : int, optional
        Seed of every random draw; None draws fresh entropy (recorded in ``.seed``).
    method : {"pmm", "norm"}, default "pmm"
        Predictive mean matching or Bayesian linear regression (module docstring).
    by : str or None, default "arm"
        Column whose levels are imputed separately (the arm: each arm its own
        imputation model, so that arm differences in trajectories are kept). None
        fits one model to everyone; then name the arm in ``covariates`` to keep it
        as a predictor.
    visits : sequence of int, optional
        Waves laid side by side (default: every wave in the data).
    auxiliary : sequence of str
        Further time-varying columns imputed with the outcome and used as its
        predictors (e.g. ``["gse_total"]``).
    covariates : sequence of str
        Baseline columns (constant within participant, never missing) used as
        predictors; text columns become dummies.
    maxit : int, default 5
        Iterations of the sampler (mice's default).
    donors : int, default 5
        Donor pool of predictive mean matching (mice's default).
    progress : bool, default False
        Show a tqdm bar (on stderr) over arms x iterations, as
        :func:`analysis.power.power` shows its chunks; a few seconds per 50
        imputations of a trial of 450 people, so off by default.

    Returns
    -------
    Imputations
        ``.tables`` (m completed long tables in the input's layout, with rows added
        for missing visits), ``.m``, ``.method``, ``.seed``, ``.imputed`` (where
        values were imputed).

    Raises
    ------
    ValueError
        m < 2, an unknown method, or bad maxit/donors.
    DataValidationError
        Columns absent or not numeric, covariates missing or varying within a
        participant, or a visit with no observed value of a variable in an arm.

    Examples
    --------
    >>> from analysis import io, missing
    >>> trial = io.load_trial("synthetic_trial")
    >>> imps = missing.impute(trial, m=5, outcome="phq9_total", covariates=["age"], seed=1)
    >>> imps.m, int(imps[0]["phq9_total"].isna().sum())
    (5, 0)
    """
    m = check_m(m, "impute")
    check_choice("method", method, METHODS, "impute")
    _check_count("maxit", maxit, 0)
    _check_count("donors", donors, 1)
    wide = layout(data, outcome, group=by, visits=visits, auxiliary=auxiliary, covariates=covariates, who="impute")
    check_observed(wide, "impute")
    sequence = seed_sequence(seed)
    completed = chained_values(wide, m, sequence, method, maxit, donors, progress)
    return from_values(wide, completed, method, sequence.entropy, {"maxit": maxit, "donors": donors, "by": by})


def chained_values(wide: Layout, m: int, sequence: np.random.SeedSequence, method: str, maxit: int,
                   donors: int, progress: bool = False) -> np.ndarray:
    """Completed wide values, shape (m, n, V, k), each group by its own chains and random stream."""
    matrix = wide.matrix()
    completed = np.repeat(matrix[None], m, axis=0)
    groups = wide.members()
    with tqdm(total=len(groups) * maxit, unit="iteration", desc="impute", disable=not progress) as bar:
        for members, child in zip(groups, sequence.spawn(len(groups))):
            completed[:, members] = chained(matrix[members], m, np.random.default_rng(child), method, maxit,
                                            donors, bar.update)
    d = wide.design.shape[1]
    return completed[..., d:].reshape(m, len(wide.ids), len(wide.visits), len(wide.variables))


def chained(matrix: np.ndarray, m: int, rng: np.random.Generator, method: str = "pmm", maxit: int = 5,
            donors: int = 5, tick=lambda: None) -> np.ndarray:
    """mice's sampler on one numeric matrix (NaN missing): m chains, shape (m, n, q).

    Columns without missing values are predictors only; the others are started by
    draws from their observed values and imputed left to right ``maxit`` times.
    """
    missing = np.isnan(matrix)
    sequence = [j for j in range(matrix.shape[1]) if missing[:, j].any()]
    data = np.repeat(matrix[None], m, axis=0)
    for j in sequence:
        observed = matrix[~missing[:, j], j]
        data[:, missing[:, j], j] = rng.choice(observed, size=(m, int(missing[:, j].sum())))
    for _ in range(maxit):
        for j in sequence:
            data[:, missing[:, j], j] = _impute_column(data, j, missing[:, j], method, donors, rng)
        tick()
    return data


def _impute_column(data: np.ndarray, j: int, missing: np.ndarray, method: str, donors: int,
                   rng: np.random.Generator) -> np.ndarray:
    """Draws for the missing rows of column j from every other column, shape (m, n_missing).

    Column j of the predictors is set to 1: it serves as the intercept.
    """
    y = data[0, ~missing, j]
    x = data.copy()
    x[..., j] = 1.0
    observed = x[:, ~missing]
    xtx = observed.transpose(0, 2, 1) @ observed
    keep = _usable(xtx, observed.transpose(0, 2, 1) @ y, y, j)
    observed, unobserved = observed[..., keep], x[:, missing][..., keep]
    coef, beta, sigma = bayes_draw(observed, y, rng, xtx[:, keep][:, :, keep])
    predicted = np.einsum("mwp,mp->mw", unobserved, beta)
    if method == "norm":
        return predicted + rng.standard_normal(predicted.shape) * sigma[:, None]
    return y[match(np.einsum("mrp,mp->mr", observed, coef), predicted, donors, rng)]


def _usable(xtx: np.ndarray, xty: np.ndarray, y: np.ndarray, intercept: int) -> np.ndarray:
    """Predictors mice's ``remove.lindep`` keeps, from the cross-products (column ``intercept`` is all ones).

    A predictor is kept when, in every chain, its variance among the rows used is
    above 1e-4 and its correlation with y below 0.99; none are kept when y's own
    variance is at most 1e-4.
    """
    r = len(y)
    keep = np.zeros(xtx.shape[-1], dtype=bool)
    keep[intercept] = True
    y_variance = y.var(ddof=1) if r > 1 else 0.0
    if y_variance <= MIN_VARIANCE:
        return keep
    sums = xtx[:, intercept, :]
    variance = (np.einsum("mii->mi", xtx) - sums**2 / r) / (r - 1)
    covariance = (xty - sums * y.mean()) / (r - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = covariance / np.sqrt(np.maximum(variance, 0) * y_variance)
    usable = ((variance > MIN_VARIANCE) & ~(correlation >= MAX_CORRELATION)).all(axis=0)
    return usable | keep


def bayes_draw(x: np.ndarray, y: np.ndarray, rng: np.random.Generator,
               xtx: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r"""mice's ``.norm.draw`` for m design matrices at once.

    Parameters
    ----------
    x : numpy.ndarray, shape (m, r, p)
        Predictors (with the intercept) of the rows where y is observed.
    y : numpy.ndarray, shape (r,)
    rng : numpy.random.Generator
    xtx : numpy.ndarray, shape (m, p, p), optional
        :math:`X'X`, when already at hand.

    Returns
    -------
    coef, beta : numpy.ndarray, shape (m, p)
        Least-squares :math:`\hat\beta` and the draw :math:`\beta^*`.
    sigma : numpy.ndarray, shape (m,)
        The draw :math:`\hat\sigma^*`.

    Notes
    -----
    :math:`X'X` is equilibrated, :math:`C = D X'X D` with :math:`D =
    \mathrm{diag}(X'X)^{-1/2}`, and factored, :math:`C = LL'`; then
    :math:`\hat\beta = D C^{-1} D X'y` and :math:`D L^{-\top}` is a root of
    :math:`(X'X)^{-1}`. Where :math:`L` has a pivot below ``RANK_TOL`` (collinear
    predictors) mice's ridge takes over for that imputation.
    """
    m, r, p = x.shape
    xtx = x.transpose(0, 2, 1) @ x if xtx is None else xtx
    scale = 1 / np.sqrt(np.maximum(np.einsum("mii->mi", xtx), np.finfo(float).tiny))
    factor, full = _cholesky(xtx * scale[:, :, None] * scale[:, None, :])
    if not full.all():
        penalised = xtx + RIDGE * np.einsum("mii->mi", xtx)[:, :, None] * np.eye(p)
        factor[~full] = _cholesky(penalised[~full] * scale[~full, :, None] * scale[~full, None, :])[0]
    root = scale[:, :, None] * np.linalg.inv(factor).transpose(0, 2, 1)
    coef = np.einsum("mij,mj->mi", root, np.einsum("mkj,mk->mj", root, x.transpose(0, 2, 1) @ y))
    residuals = y - np.einsum("mrp,mp->mr", x, coef)
    sigma = np.sqrt((residuals**2).sum(axis=1) / rng.chisquare(max(r - p, 1), size=m))
    beta = coef + np.einsum("mij,mj->mi", root, rng.standard_normal((m, p))) * sigma[:, None]
    return coef, beta, sigma


def _cholesky(matrix: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Lower Cholesky factors of a stack of equilibrated matrices, and which are of full rank.

    A factor whose smallest pivot is below ``RANK_TOL`` (or that fails) counts as
    rank-deficient; its entry is then the identity, to be replaced.
    """
    try:
        factor = np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        factor = np.stack([_one_cholesky(one) for one in matrix])
    full = np.diagonal(factor, axis1=1, axis2=2).min(axis=1) > RANK_TOL
    factor[~full] = np.eye(matrix.shape[-1])
    return factor, full


def _one_cholesky(matrix: np.ndarray) -> np.ndarray:
    try:
        return np.linalg.cholesky(matrix)
    except np.linalg.LinAlgError:
        return np.zeros_like(matrix)


def match(fitted: np.ndarray, predicted: np.ndarray, donors: int, rng: np.random.Generator) -> np.ndarray:
    """Type 1 predictive mean matching: one of the ``donors`` nearest observed rows per missing row.

    Parameters
    ----------
    fitted : numpy.ndarray, shape (m, r)
        Predictions of the observed rows.
    predicted : numpy.ndarray, shape (m, w)
        Predictions of the missing rows.
    donors : int
    rng : numpy.random.Generator

    Returns
    -------
    numpy.ndarray of int, shape (m, w)
        Index (0..r-1) of the donor of each missing row.

    Notes
    -----
    The observed rows are shuffled before sorting (ties broken at random); the k
    nearest of a prediction lie among the k sorted values on either side of its
    insertion point, so only those 2k are compared.
    """
    m, r = fitted.shape
    k = min(donors, r)
    shuffle = rng.permuted(np.tile(np.arange(r), (m, 1)), axis=1)
    order = np.take_along_axis(shuffle, np.argsort(np.take_along_axis(fitted, shuffle, 1), axis=1, kind="stable"), 1)
    ordered = np.take_along_axis(fitted, order, 1)
    insert = _insertion_points(ordered, predicted)
    window = insert[..., None] + np.arange(-k, k)
    inside = (window >= 0) & (window < r)
    window = np.clip(window, 0, r - 1)
    values = np.take_along_axis(ordered, window.reshape(m, -1), 1).reshape(window.shape)
    distance = np.where(inside, np.abs(values - predicted[..., None]), np.inf)
    nearest = np.argsort(distance, axis=-1, kind="stable")[..., :k]
    chosen = np.take_along_axis(nearest, rng.integers(k, size=(*predicted.shape, 1)), -1)
    position = np.take_along_axis(window, chosen, -1)[..., 0]
    return np.take_along_axis(order, position, 1)


def _insertion_points(ordered: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Per row, ``numpy.searchsorted(ordered[c], values[c])``, in one call.

    Row c is moved to its own band, ``[c s, c s + s)`` with ``s`` wider than the
    range of both arrays, so that the bands do not overlap.
    """
    low = min(ordered.min(), values.min())
    span = 2 * (max(ordered.max(), values.max()) - low) + 1
    band = np.arange(len(ordered))[:, None] * span
    found = np.searchsorted(((ordered - low) + band).ravel(), ((values - low) + band).ravel())
    return found.reshape(values.shape) - np.arange(len(ordered))[:, None] * ordered.shape[1]


def _check_count(name: str, value, least: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"impute: {name} must be a whole number >= {least}, got {value!r}")
