"""Factor extraction and rotation, as ``psych::fa`` and ``GPArotation``.

:func:`extract` runs psych's ``fa(r, nfactors, fm = fm)`` factoring methods
that ``psych::omega`` accepts: minimum residual (``"minres"``), weighted and
generalised least squares (``"wls"``, ``"gls"``), maximum likelihood (``"ml"``)
and iterated principal axes (``"pa"``); :func:`minres` is the minres problem on
its own, also solved to its exact optimum. :func:`varimax` is R's
``stats::varimax`` (what ``fa(rotate = "varimax")`` calls) and :func:`oblimin`
is ``GPArotation::oblimin`` (the gradient projection algorithm of Bernaards and
Jennrich, 2005, with its defaults), step for step.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import optimize

from .items import _squared_multiple_correlations

# The factoring methods of psych::fa that psych::omega (schmid) accepts and are built here.
FACTOR_METHODS = ("minres", "pa", "ml", "wls", "gls")
# psych's minres bounds each uniqueness below at 0.005 (communality <= 0.995).
_MIN_UNIQUENESS = 0.005
# psych scales the uniquenesses by optim's parscale = 0.01.
_PSYCH_PARSCALE = 0.01
# psych's principal axis iteration: stop when the total communality changes by less than min.err.
_PA_MIN_ERR = 0.001
_PA_MAX_ITER = 50
# stats::varimax and GPArotation's convergence criteria and iteration limits.
_ROTATION_EPS = 1e-5
_VARIMAX_MAXIT = 1000
_OBLIMIN_MAXIT = 1000
_OBLIMIN_HALVINGS = 11


def _principal_axes(reduced: np.ndarray, nfactors: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Loadings ``V_t diag(sqrt(lambda_t))`` of the ``nfactors`` largest eigenvalues, with the eigensystem.

    Eigenvalues and eigenvectors are returned in decreasing order of eigenvalue.
    """
    eigenvalues, eigenvectors = np.linalg.eigh(reduced)
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
    loadings = eigenvectors[:, :nfactors] * np.sqrt(np.maximum(eigenvalues[:nfactors], 0.0))
    return loadings, eigenvalues, eigenvectors


def _minres_gradient(residual: np.ndarray, eigenvalues: np.ndarray, eigenvectors: np.ndarray,
                     nfactors: int) -> np.ndarray:
    """Gradient of ``0.5 sum_{i != j} e_ij^2`` in the uniquenesses ``psi``.

    With ``A = R - diag(psi)`` (unit diagonal) and ``M = V_t Lambda_t V_t'``
    its rank-``nfactors`` principal part, perturbation theory of the
    eigensystem gives ``df/dpsi_m = (V_t G V_t')_mm + 2 (V_o H V_t')_mm`` with
    ``G = V_t' E V_t``, ``H_jk = lambda_k/(lambda_k - lambda_j) (V_o' E V_t)_jk``
    (``t`` the retained, ``o`` the other axes) and ``E`` the off-diagonal
    residual.
    """
    kept, others = eigenvectors[:, :nfactors], eigenvectors[:, nfactors:]
    retained = np.maximum(eigenvalues[:nfactors], np.finfo(float).eps)
    within = kept.T @ residual @ kept
    between = (others.T @ residual @ kept) * (retained / (retained[None, :] - eigenvalues[nfactors:, None]))
    return np.einsum("mk,kl,ml->m", kept, within, kept) + 2.0 * np.einsum("mj,jk,mk->m", others, between, kept)


def _reduced_axes(corr: np.ndarray, psi: np.ndarray, nfactors: int) -> np.ndarray:
    """psych's ``fit.residuals`` loadings: principal axes of ``R`` with ``1 - psi`` on the diagonal.

    Eigenvalues below machine epsilon are raised to 100 epsilon before the
    square root, as psych does.
    """
    eps = np.finfo(float).eps
    reduced = corr.copy()
    np.fill_diagonal(reduced, 1.0 - psi)
    eigenvalues, eigenvectors = np.linalg.eigh(reduced)
    eigenvalues = np.where(eigenvalues < eps, 100.0 * eps, eigenvalues)[::-1][:nfactors]
    return eigenvectors[:, ::-1][:, :nfactors] * np.sqrt(eigenvalues)


def _least_squares_objective(corr: np.ndarray, nfactors: int, fm: str) -> Callable:
    """psych's ``fit.residuals`` for ``fm`` in minres, wls and gls.

    With ``E = R* - LL'`` (``R*`` the correlations with ``1 - psi`` on the
    diagonal, ``L`` its principal axes): minres sums the squared lower-triangle
    ``E``, wls ``sum_ij d_i E_ij^2 d_j`` with ``d = 1/diag(R^-1)``, gls the
    squares of ``R^-1 E``.
    """
    lower = np.tril_indices(len(corr), -1)
    inverse = np.linalg.inv(corr) if fm in ("wls", "gls") else None
    weight = 1.0 / np.diag(inverse) if fm == "wls" else None

    def objective(psi: np.ndarray) -> float:
        loadings = _reduced_axes(corr, psi, nfactors)
        residual = corr - loadings @ loadings.T
        np.fill_diagonal(residual, 1.0 - psi - (loadings**2).sum(axis=1))
        if fm == "minres":
            return float((residual[lower] ** 2).sum())
        if fm == "wls":
            return float((weight[:, None] * residual**2 * weight[None, :]).sum())
        return float(((inverse @ residual) ** 2).sum())

    return objective


def _minres_psych_gradient(corr: np.ndarray, nfactors: int) -> Callable:
    """psych's ``FAgr.minres``: ``diag(LL' + diag(psi) - R)`` with ``L`` the principal axes of ``R - diag(psi)``.

    It vanishes at the minres optimum but is not the objective's gradient elsewhere.
    """

    def gradient(psi: np.ndarray) -> np.ndarray:
        loadings = _principal_axes(corr - np.diag(psi), nfactors)[0]
        return (loadings**2).sum(axis=1) + psi - np.diag(corr)

    return gradient


def _ml_loadings(corr: np.ndarray, psi: np.ndarray, nfactors: int) -> np.ndarray:
    """psych's ``FAout``: ``Psi^1/2 V_t (Lambda_t - 1)_+^1/2`` from the eigensystem of ``Psi^-1/2 R Psi^-1/2``."""
    scale = 1.0 / np.sqrt(psi)
    eigenvalues, eigenvectors = np.linalg.eigh(corr * np.outer(scale, scale))
    eigenvalues, eigenvectors = eigenvalues[::-1][:nfactors], eigenvectors[:, ::-1][:, :nfactors]
    return np.sqrt(psi)[:, None] * eigenvectors * np.sqrt(np.maximum(eigenvalues - 1.0, 0.0))


def _ml_objective(corr: np.ndarray, nfactors: int) -> Callable:
    """psych's ``FAfn``: ``-sum_{j>m} (log e_j - e_j) + m - p``, ``e`` eigenvalues of ``Psi^-1/2 R Psi^-1/2``."""

    def objective(psi: np.ndarray) -> float:
        scale = 1.0 / np.sqrt(psi)
        eigenvalues = np.linalg.eigvalsh(corr * np.outer(scale, scale))[::-1][nfactors:]
        return float(-((np.log(eigenvalues) - eigenvalues).sum() - nfactors + len(corr)))

    return objective


def _ml_gradient(corr: np.ndarray, nfactors: int) -> Callable:
    """psych's ``FAgr`` (``FAgr.minres2`` for wls and gls): ``diag(LL' + Psi - R) / psi^2``.

    ``L`` are the loadings of :func:`_ml_loadings`.
    """

    def gradient(psi: np.ndarray) -> np.ndarray:
        loadings = _ml_loadings(corr, psi, nfactors)
        return ((loadings**2).sum(axis=1) + psi - np.diag(corr)) / psi**2

    return gradient


def _psych_optim(objective: Callable, gradient: Callable, start: np.ndarray) -> np.ndarray:
    """Minimise as psych asks R's ``optim`` to: L-BFGS-B, ``parscale = 0.01``, bounds [0.005, 1].

    R's defaults: 5 corrections, relative objective change ``1e7 * eps``,
    no projected-gradient test, 100 iterations.
    """
    fit = optimize.minimize(
        lambda scaled: objective(scaled * _PSYCH_PARSCALE), start / _PSYCH_PARSCALE,
        jac=lambda scaled: gradient(scaled * _PSYCH_PARSCALE) * _PSYCH_PARSCALE,
        method="L-BFGS-B", bounds=[(_MIN_UNIQUENESS / _PSYCH_PARSCALE, 1.0 / _PSYCH_PARSCALE)] * len(start),
        options={"maxcor": 5, "ftol": 1e7 * np.finfo(float).eps, "gtol": 0.0, "maxiter": 100},
    )
    return fit.x * _PSYCH_PARSCALE


def _principal_axis_iterated(corr: np.ndarray, nfactors: int) -> np.ndarray:
    """psych's ``fm = "pa"``: principal axes of ``R`` with communalities on the diagonal, iterated.

    Starts from the SMCs; each pass replaces the diagonal by the row sums of
    squared loadings and stops when the total communality changes by less
    than 0.001 (at most 50 passes), returning the last pass's loadings.

    Raises
    ------
    RuntimeError
        If a retained eigenvalue turns negative (psych's "imaginary eigen
        value" condition; its omega then stops).
    """
    reduced = corr.copy()
    np.fill_diagonal(reduced, _squared_multiple_correlations(corr))
    communality = np.trace(reduced)
    for _ in range(_PA_MAX_ITER):
        eigenvalues, eigenvectors = np.linalg.eigh(reduced)
        retained = eigenvalues[::-1][:nfactors]
        if (retained < 0).any():
            raise RuntimeError(
                f"principal axis factoring (fm='pa') with {nfactors} factors failed: a retained eigenvalue "
                f"of the reduced correlation matrix is negative ({retained.min():.3g}); psych stops here "
                "too. Use fewer factors or another fm")
        loadings = eigenvectors[:, ::-1][:, :nfactors] * np.sqrt(retained)
        np.fill_diagonal(reduced, (loadings**2).sum(axis=1))
        previous, communality = communality, np.trace(reduced)
        if abs(previous - communality) <= _PA_MIN_ERR:
            break
    return loadings


def require_factor_method(fm: str) -> None:
    """Raise a ValueError naming the supported methods unless ``fm`` is one of :data:`FACTOR_METHODS`."""
    if fm not in FACTOR_METHODS:
        raise ValueError(f"fm must be one of {FACTOR_METHODS}, got {fm!r}")


def extract(corr: np.ndarray, nfactors: int, fm: str = "minres") -> np.ndarray:
    """Unrotated loadings by one of psych's factoring methods, fitted as ``psych::fa`` fits them.

    Parameters
    ----------
    corr : numpy.ndarray
        Correlation matrix (unit diagonal), ``k x k``.
    nfactors : int
        Factors to extract, fewer than ``k``.
    fm : {"minres", "pa", "ml", "wls", "gls"}, default "minres"
        psych's ``fm``.

    Returns
    -------
    numpy.ndarray
        ``k x nfactors`` loadings, columns in decreasing order of eigenvalue,
        signs as the eigenvectors come.

    Raises
    ------
    ValueError
        On an unknown ``fm``.
    RuntimeError
        If principal axis factoring meets a negative eigenvalue.

    Notes
    -----
    All but ``"pa"`` minimise over the uniquenesses ``psi`` in [0.005, 1]
    with R's ``optim`` set up as psych sets it (:func:`_psych_optim`), each
    with psych's objective, start and gradient: ``"minres"`` the sum of squared
    off-diagonal residuals from ``1 - SMC`` (:func:`minres` with
    ``solver="psych"``); ``"wls"`` and ``"gls"`` the weighted squared residuals
    of :func:`_least_squares_objective` from ``SMC`` (psych's start for these),
    with the maximum likelihood gradient psych hands to ``optim``; ``"ml"`` the
    likelihood discrepancy ``-sum_{j>m}(log e_j - e_j) + m - p`` from
    ``1 - SMC`` with its gradient. Loadings are the principal axes of
    ``R - diag(psi)`` (least squares) or ``Psi^1/2 V (Lambda - 1)^1/2`` from
    ``Psi^-1/2 R Psi^-1/2`` (ml). ``"pa"`` iterates principal axes as
    :func:`_principal_axis_iterated`. psych's own stopping rules are kept, so
    the results are psych's, not the exact optima.
    """
    require_factor_method(fm)
    if fm == "minres":
        return minres(corr, nfactors, solver="psych")
    if fm == "pa":
        return _principal_axis_iterated(corr, nfactors)
    smc = _squared_multiple_correlations(corr)
    if fm == "ml":
        psi = _psych_optim(_ml_objective(corr, nfactors), _ml_gradient(corr, nfactors), 1.0 - smc)
        return _ml_loadings(corr, psi, nfactors)
    psi = _psych_optim(_least_squares_objective(corr, nfactors, fm), _ml_gradient(corr, nfactors), smc)
    return _principal_axes(corr - np.diag(psi), nfactors)[0]


def _exact_objective(corr: np.ndarray, nfactors: int) -> Callable:
    """Half the sum of squared off-diagonal residuals and its exact gradient (:func:`_minres_gradient`)."""
    off_diagonal = corr - np.diag(np.diag(corr))

    def objective(psi: np.ndarray) -> tuple[float, np.ndarray]:
        loadings, eigenvalues, eigenvectors = _principal_axes(off_diagonal + np.diag(1.0 - psi), nfactors)
        residual = off_diagonal - loadings @ loadings.T
        np.fill_diagonal(residual, 0.0)
        return 0.5 * float((residual**2).sum()), _minres_gradient(residual, eigenvalues, eigenvectors, nfactors)

    return objective


def minres(corr: np.ndarray, nfactors: int = 1, solver: str = "optimum") -> np.ndarray:
    """Unrotated minimum-residual loadings, parameterised as in ``psych::fa``.

    Parameters
    ----------
    corr : numpy.ndarray
        Correlation matrix (unit diagonal), ``k x k``.
    nfactors : int, default 1
        Factors to extract, fewer than ``k``.
    solver : {"optimum", "psych"}, default "optimum"
        ``"optimum"`` solves the minres problem with its exact gradient to a
        relative tolerance of 1e-15; ``"psych"`` runs the optimisation exactly
        as ``psych::fa`` asks R's ``optim`` to (see Notes).

    Returns
    -------
    numpy.ndarray
        ``k x nfactors`` loadings, columns in decreasing order of eigenvalue,
        signs as the eigenvectors come (psych's sign conventions are applied by
        :func:`fa`).

    Raises
    ------
    RuntimeError
        If the ``"optimum"`` solver does not converge.

    Notes
    -----
    For uniquenesses ``psi`` the loadings are the first ``nfactors`` principal
    axes of the correlation matrix with ``1 - psi`` on the diagonal,
    ``L(psi) = V_t Lambda_t^(1/2)``; ``psi`` minimises the sum of squared
    off-diagonal residuals ``sum_{i<j} (r_ij - (LL')_ij)^2`` subject to
    ``0.005 <= psi <= 1``, starting from ``1 - SMC``: psych's problem for
    ``fm = "minres"``. psych stops at ``optim``'s default L-BFGS-B tolerance
    (relative change of the objective 1e7 * machine epsilon, 5 corrections,
    100 iterations, ``parscale = 0.01``) with the approximate gradient of
    :func:`_minres_psych_gradient`; ``"psych"`` reproduces that run (to about 1e-6 in
    the communalities: R's L-BFGS-B is version 2.1, scipy's 3.0). When the
    model has fewer residual correlations than free parameters (e.g. three
    factors of five items) the optimum is a whole set of perfect fits and the
    point psych stops at is defined only by that run. ``"optimum"`` returns the
    optimum psych approximates, unique when the model is identified.
    """
    start = 1.0 - _squared_multiple_correlations(corr)
    if solver == "psych":
        psi = _psych_optim(_least_squares_objective(corr, nfactors, "minres"),
                           _minres_psych_gradient(corr, nfactors), start)
    else:
        fit = optimize.minimize(
            _exact_objective(corr, nfactors), start, jac=True, method="L-BFGS-B",
            bounds=[(_MIN_UNIQUENESS, 1.0)] * len(start),
            options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 10_000},
        )
        if not fit.success:
            raise RuntimeError(f"minres factor analysis did not converge: {fit.message}")
        psi = fit.x
    return _principal_axes(corr - np.diag(np.diag(corr)) + np.diag(1.0 - psi), nfactors)[0]


def _positive_column_sums(loadings: np.ndarray) -> np.ndarray:
    """Reflect the columns whose loadings sum below zero (psych's ``sign(colSums(L))``)."""
    return loadings * np.where(loadings.sum(axis=0) < 0, -1.0, 1.0)


def varimax(loadings: np.ndarray) -> np.ndarray:
    """R's ``stats::varimax(loadings)``: Kaiser-normalised varimax, stopping as R stops.

    Each iteration takes ``B = X'(Z^3 - Z diag(1'Z^2)/p)`` with ``Z = X T`` on
    the row-normalised loadings ``X``, sets ``T = U V'`` from the SVD of ``B``,
    and stops when the sum of singular values grows by less than a relative
    1e-5 (at most 1000 iterations).
    """
    scale = np.sqrt((loadings**2).sum(axis=1))
    x = loadings / scale[:, None]
    p, nc = x.shape
    rotation = np.eye(nc)
    criterion = 0.0
    for _ in range(_VARIMAX_MAXIT):
        z = x @ rotation
        u, singular, vt = np.linalg.svd(x.T @ (z**3 - z * (z**2).sum(axis=0) / p))
        rotation = u @ vt
        previous, criterion = criterion, singular.sum()
        if criterion < previous * (1.0 + _ROTATION_EPS):
            break
    return (x @ rotation) * scale[:, None]


def _quartimin(loadings: np.ndarray) -> tuple[np.ndarray, float]:
    """GPArotation's ``vgQ.oblimin`` with ``gam = 0``: gradient ``L * (L^2 N)`` and ``sum(L^2 * L^2 N)/4``."""
    cross = (loadings**2) @ (1.0 - np.eye(loadings.shape[1]))
    return loadings * cross, float((loadings**2 * cross).sum() / 4.0)


def oblimin(loadings: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``GPArotation::oblimin(loadings)``: direct quartimin (gamma 0), unnormalised, from the identity.

    Parameters
    ----------
    loadings : numpy.ndarray
        ``k x m`` initial (orthogonal) loadings ``A``, ``m >= 2``.

    Returns
    -------
    pattern : numpy.ndarray
        Rotated pattern ``A T'^-1``.
    phi : numpy.ndarray
        Factor correlations ``T'T``.

    Notes
    -----
    Bernaards and Jennrich's (2005) oblique gradient projection as GPArotation's
    ``GPFoblq`` runs it: the gradient ``G = -(L' Gq T^-1)'`` is projected,
    ``Gp = G - T diag(1'(T * G))``; the step ``alpha`` doubles each iteration
    and halves (at most 11 times) until the criterion falls by more than
    ``0.5 s^2 alpha`` (``s`` the norm of ``Gp``); columns of ``T - alpha Gp``
    are scaled to unit length. Iteration stops when ``s < 1e-5`` (at most 1000
    iterations).
    """
    rotation = np.eye(loadings.shape[1])
    step = 1.0
    pattern = loadings @ np.linalg.inv(rotation).T
    gq, criterion = _quartimin(pattern)
    gradient = -(pattern.T @ gq @ np.linalg.inv(rotation)).T
    for _ in range(_OBLIMIN_MAXIT + 1):
        projected = gradient - rotation * (rotation * gradient).sum(axis=0)
        norm = float(np.sqrt((projected**2).sum()))
        if norm < _ROTATION_EPS:
            break
        step *= 2.0
        for _ in range(_OBLIMIN_HALVINGS):
            trial = rotation - step * projected
            trial = trial / np.sqrt((trial**2).sum(axis=0))
            pattern = loadings @ np.linalg.inv(trial).T
            gq, trial_criterion = _quartimin(pattern)
            if criterion - trial_criterion > 0.5 * norm**2 * step:
                break
            step /= 2.0
        rotation, criterion = trial, trial_criterion
        gradient = -(pattern.T @ gq @ np.linalg.inv(rotation)).T
    return pattern, rotation.T @ rotation


def fa(corr: np.ndarray, nfactors: int, rotate: str = "none", solver: str = "psych",
       fm: str = "minres") -> np.ndarray:
    """Loadings with psych's sign and order conventions, optionally varimax rotated.

    Parameters
    ----------
    corr : numpy.ndarray
        Correlation matrix.
    nfactors : int
        Factors to extract.
    rotate : {"none", "varimax"}, default "none"
        ``"varimax"`` as ``psych::fa(rotate = "varimax")`` (R's ``stats::varimax``).
    solver : {"psych", "optimum"}, default "psych"
        How the minres problem is solved (see :func:`minres`); only for
        ``fm="minres"``.
    fm : {"minres", "pa", "ml", "wls", "gls"}, default "minres"
        Factoring method (see :func:`extract`).

    Returns
    -------
    numpy.ndarray
        Loadings as ``psych::fa(corr, nfactors, fm = fm, rotate = rotate)$loadings``:
        columns reflected to positive sums (before and after rotation) and,
        for several factors, ordered by their sums of squared loadings.
    """
    unrotated = minres(corr, nfactors, solver) if fm == "minres" else extract(corr, nfactors, fm)
    loadings = _positive_column_sums(unrotated)
    if nfactors > 1 and rotate == "varimax":
        loadings = _positive_column_sums(varimax(loadings))
    if nfactors > 1:
        loadings = loadings[:, np.argsort(-(loadings**2).sum(axis=0), kind="stable")]
    return loadings
