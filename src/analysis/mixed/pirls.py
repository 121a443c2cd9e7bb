r"""The numerical core of :func:`analysis.mixed.fit_glmm`: families and links, PIRLS, the Laplace
approximation and adaptive Gauss-Hermite quadrature, their gradients, and lme4's convergence checks
at the optimum (see :mod:`analysis.mixed.glmm` for the method).

One random-effect term: dense Z, per-group blocks (``_GlmmData``, ``_pirls``, ``_Deviance``).
Several terms: sparse Z and the blocked factor of :mod:`analysis.mixed.sparse` reweighted at
each step (``_TermsData``, ``_terms_pirls``, ``_TermsDeviance``); both share the PIRLS loop
(``_iterate``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize, special, stats
from scipy import sparse as sp
from scipy.sparse import spmatrix as sparse_matrix

from . import sparse as _sparse
from .deviance import (
    _backward_stack,
    _cholesky_stack,
    _forward_stack,
    _inverse_stack,
    _lambda,
)
from .lmm import GRADIENT_TOL

#: The families of :func:`fit_glmm` and their links (the first is the default).
FAMILIES = {"binomial": ("logit", "probit"), "poisson": ("log",)}

#: PIRLS stops when the penalised deviance changes by less than this, relative. lme4's
#: ``tolPwrss`` is 1e-7, and it evaluates log|M| at the weights before the last step;
#: its deviance then exceeds the Laplace deviance by up to ~0.02 on the reference
#: fits, which moves its estimates by up to ~0.006 of max(|estimate|, SE) and its
#: Hessian-based SEs by up to ~2%. Converged this far, the deviance is exact and
#: smooth in (theta, beta), as lme4's is with ``glmerControl(tolPwrss = 1e-12)``.
PIRLS_TOL = 1e-12

#: Most PIRLS iterations and step halvings per iteration (lme4's ``maxit`` and ``maxstephalfit``).
PIRLS_MAXIT, STEP_HALVINGS = 100, 20

#: Largest whitened gradient at the optimum of the first stage when it only starts the
#: second, and at the optimum of the fit.
STAGE1_GTOL, GTOL = 1e-3, 1e-6

#: PIRLS starts from the modes of an earlier evaluation whose deviance was at most
#: this far above the lowest.
WARM_MARGIN = 1.0

#: Relative step of the central-difference gradients that drive the searches.
GRADIENT_STEP = 1e-5

#: Step of the central differences of the gradient that give the Hessian (lme4's ``deriv12`` step).
DERIV_DELTA = 1e-4

#: lme4's ``check.conv.hess`` tolerance on the eigenvalues of that Hessian.
HESSIAN_TOL = 1e-6

#: lme4's ``boundary.tol``: a theta this close to its bound of 0 is tried at 0.
BOUNDARY_TOL = 1e-5

#: lme4's limit on the number of quadrature points.
MAX_AGQ = 100

#: lme4's warning when its Hessian-based covariance of beta is unusable.
RX_FALLBACK = ("variance-covariance matrix computed from finite-difference Hessian is not positive definite or "
               "contains NA values: falling back to var-cov estimated from RX")

_EPS = np.finfo(float).eps
_PROBIT_THRESH = -stats.norm.ppf(_EPS)


@dataclass(frozen=True)
class _Family:
    """A GLM family and link as lme4's ``glmFamily`` computes them (bounded away from 0 and 1).

    ``derivatives(eta, y, n)`` gives, per row, the score :math:`s = \\partial\\ell/\\partial\\eta`,
    the observed information :math:`v = -\\partial s/\\partial\\eta` and the derivative of
    the working weight :math:`\\partial w/\\partial\\eta` (for the Laplace gradient).
    """

    name: str
    link: str
    linkfun: Callable[[np.ndarray], np.ndarray]
    linkinv: Callable[[np.ndarray], np.ndarray]
    mu_eta: Callable[[np.ndarray], np.ndarray]
    variance: Callable[[np.ndarray], np.ndarray]
    dev_resid: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    log_density: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
    derivatives: Callable[[np.ndarray, np.ndarray, np.ndarray], tuple]

    def weights(self, eta: np.ndarray, prior: np.ndarray) -> np.ndarray:
        """lme4's working weights :math:`n\\, (d\\mu/d\\eta)^2 / V(\\mu)`."""
        return prior * self.mu_eta(eta) ** 2 / self.variance(self.linkinv(eta))


def _binomial_dev_resid(y, mu, wt):
    return 2 * wt * (special.xlogy(y, y / mu) + special.xlogy(1 - y, (1 - y) / (1 - mu)))


def _binomial_log_density(y, mu, wt):
    """log dbinom(round(n y), n, mu) with n the trials (lme4's binomial ``aic``), 0 where n = 0."""
    k = np.round(wt * y)
    return (special.gammaln(wt + 1) - special.gammaln(k + 1) - special.gammaln(wt - k + 1)
            + special.xlogy(k, mu) + special.xlogy(wt - k, 1 - mu))


def _poisson_dev_resid(y, mu, wt):
    return 2 * wt * (special.xlogy(y, y / mu) - (y - mu))


def _poisson_log_density(y, mu, wt):
    return wt * (special.xlogy(y, mu) - mu - special.gammaln(y + 1))


def _logit_derivatives(eta, y, wt):
    mu = special.expit(eta)
    w = wt * mu * (1 - mu)
    return wt * (y - mu), w, w * (1 - 2 * mu)


def _bounded_exp(eta):
    """lme4's ``boundexp``: the mean is at least machine epsilon."""
    return np.maximum(np.exp(eta), _EPS)


def _log_derivatives(eta, y, wt):
    mu = _bounded_exp(eta)
    return wt * (y - mu), wt * mu, wt * mu


def _probit_derivatives(eta, y, wt):
    eta = np.clip(eta, -_PROBIT_THRESH, _PROBIT_THRESH)
    cdf, pdf = special.ndtr(eta), stats.norm.pdf(eta)
    spread = cdf * (1 - cdf)
    ratio = pdf / spread
    ratio_slope = (-eta * pdf * spread - pdf ** 2 * (1 - 2 * cdf)) / spread ** 2
    return (wt * (y - cdf) * ratio, wt * (pdf * ratio - (y - cdf) * ratio_slope),
            wt * (-eta * pdf * ratio + pdf * ratio_slope))


_LINKS = {
    "logit": (special.logit,
              lambda eta: np.clip(special.expit(eta), _EPS, 1 - _EPS),
              lambda eta: np.maximum(special.expit(eta) * special.expit(-eta), _EPS),
              _logit_derivatives),
    "probit": (special.ndtri,
               lambda eta: special.ndtr(np.clip(eta, -_PROBIT_THRESH, _PROBIT_THRESH)),
               lambda eta: np.maximum(stats.norm.pdf(eta), _EPS),
               _probit_derivatives),
    "log": (np.log, _bounded_exp, _bounded_exp, _log_derivatives),
}

_DISTRIBUTIONS = {
    "binomial": (lambda mu: np.maximum(mu * (1 - mu), _EPS), _binomial_dev_resid, _binomial_log_density),
    "poisson": (lambda mu: mu, _poisson_dev_resid, _poisson_log_density),
}


def _family(name: str, link: str | None) -> _Family:
    if name not in FAMILIES:
        raise ValueError(f"fit_glmm: family must be one of {tuple(FAMILIES)}, got {name!r}")
    link = FAMILIES[name][0] if link is None else link
    if link not in FAMILIES[name]:
        raise ValueError(f"fit_glmm: the {name} family takes link {' or '.join(map(repr, FAMILIES[name]))}, "
                         f"got {link!r}")
    linkfun, linkinv, mu_eta, derivatives = _LINKS[link]
    return _Family(name, link, linkfun, linkinv, mu_eta, *_DISTRIBUTIONS[name], derivatives)


@dataclass(frozen=True)
class _GlmmData:
    """Response and model matrices with the rows sorted by group (``first``: each group's first row).

    ``y`` is the proportion of successes (binomial) or the count (Poisson), ``weights``
    the trials (binomial) or 1; ``order`` maps the sorted rows back to the data rows.
    """

    y: np.ndarray
    weights: np.ndarray
    X: np.ndarray
    Z: np.ndarray
    offset: np.ndarray
    codes: np.ndarray
    first: np.ndarray
    order: np.ndarray

    @property
    def q(self) -> int:
        return self.Z.shape[1]

    @property
    def n_groups(self) -> int:
        return len(self.first)

    def group_sum(self, values: np.ndarray) -> np.ndarray:
        """Sums over each group's rows (along the first axis)."""
        return np.add.reduceat(values, self.first, axis=0)

    def cross(self, left: np.ndarray, right: np.ndarray, weights: np.ndarray) -> np.ndarray:
        """Per-group :math:`\\sum_i w_i a_i b_i'` of row vectors, as a stack (a x b x G).

        One contiguous group sum per column of ``left`` (q is small), which is faster
        than summing the (n x a x b) products at once.
        """
        weighted = weights[:, None] * right
        return np.stack([self.group_sum(left[:, [j]] * weighted).T for j in range(left.shape[1])])

    def per_row(self, stack: np.ndarray) -> np.ndarray:
        """Each row's group's column of a (q x G) array, as (q x n)."""
        return stack[:, self.codes]


@dataclass(frozen=True)
class _Mode:
    """The conditional modes at (theta, beta) and the Cholesky factors of M there.

    ``u`` (q x G) are the spherical modes, ``low`` the factors of the blocks of
    :math:`M = \\Lambda'Z'WZ\\Lambda + I` (q x q x G) at the working weights of ``eta``.
    """

    u: np.ndarray
    beta: np.ndarray
    eta: np.ndarray
    low: np.ndarray
    converged: bool


def _linear_predictor(lam: np.ndarray, data: _GlmmData, u: np.ndarray, beta: np.ndarray) -> np.ndarray:
    """:math:`o + X\\beta + Z\\Lambda u` with each row's group's ``u``."""
    return data.offset + data.X @ beta + np.einsum("nj,jn->n", data.Z @ lam, data.per_row(u))


def _penalised_deviance(eta: np.ndarray, u: np.ndarray, data: _GlmmData, family: _Family) -> float:
    return float(np.sum(family.dev_resid(data.y, family.linkinv(eta), data.weights)) + np.sum(u ** 2))


def _m_factor(zl: np.ndarray, weights: np.ndarray, data: _GlmmData) -> np.ndarray:
    """Cholesky factors of the blocks :math:`I + \\Lambda'Z_g'W_gZ_g\\Lambda` (``zl`` = :math:`Z\\Lambda`)."""
    return _cholesky_stack(data.cross(zl, zl, weights) + np.eye(data.q)[..., None])


def _pwrss_step(lam, eta, data, family, beta, joint):
    """One PIRLS step from ``eta``: the new spherical modes, and ``beta`` too when ``joint``.

    Solves the penalised weighted least-squares problem of lme4's ``merPredD::solve``
    (``solveU`` unless ``joint``) blockwise: :math:`c_g = L_g^{-1}\\Lambda'Z_g'V_g z_g`
    with :math:`z = \\eta + s / v` the working response, and for ``beta`` the Schur
    complement :math:`R_X'R_X = X'VX - \\sum_g R_{ZX,g}'R_{ZX,g}`,
    :math:`R_{ZX,g} = L_g^{-1}\\Lambda'Z_g'V_gX_g`. The weights are the observed
    information :math:`v` (Newton steps): lme4's working weights for the logit and
    log links; for the probit link they reach lme4's modes (Fisher scoring) in fewer
    steps.
    """
    score, info, _ = family.derivatives(eta, data.y, data.weights)
    z = eta - data.offset - (0 if joint else data.X @ beta) + np.divide(score, info, out=np.zeros_like(score),
                                                                         where=info > 0)
    zl = data.Z @ lam
    low = _m_factor(zl, info, data)
    cu = _forward_stack(low, data.group_sum(zl * (info * z)[:, None]).T[:, None, :])
    if joint:
        rzx = _forward_stack(low, data.cross(zl, data.X, info))
        rx = data.X.T @ (info[:, None] * data.X) - np.einsum("qpg,qrg->pr", rzx, rzx)
        beta = np.linalg.solve(rx, data.X.T @ (info * z) - np.einsum("qpg,qg->p", rzx, cu[:, 0]))
        cu = cu - np.einsum("qpg,p->qg", rzx, beta)[:, None, :]
    return _backward_stack(low, cu)[:, 0, :], beta


def _rx(theta: np.ndarray, mode: _Mode, data: _GlmmData, family: _Family,
        weights: np.ndarray | None = None) -> np.ndarray:
    """:math:`R_X'R_X = X'WX - X'WZ\\Lambda M^{-1}\\Lambda'Z'WX` at the mode.

    With lme4's working weights (the default) this is lme4's ``unsc()^-1``, the
    fixed-effect information given theta; ``weights`` replaces them.
    """
    zl = data.Z @ _lambda(theta, data.q)
    w = family.weights(mode.eta, data.weights) if weights is None else weights
    low = mode.low if weights is None else _m_factor(zl, w, data)
    rzx = _forward_stack(low, data.cross(zl, data.X, w))
    return data.X.T @ (w[:, None] * data.X) - np.einsum("qpg,qrg->pr", rzx, rzx)


def _pirls(theta: np.ndarray, data: _GlmmData, family: _Family, u: np.ndarray, beta: np.ndarray,
           joint: bool, eta: np.ndarray | None = None) -> _Mode:
    """Penalised iteratively reweighted least squares for the conditional modes, as lme4's ``pwrssUpdate``.

    Parameters
    ----------
    theta : array
        Relative covariance factor (lower triangle of :math:`\\Lambda`).
    data : _GlmmData
    family : _Family
    u, beta : array
        Starting modes (q x G) and fixed effects (held fixed unless ``joint``).
    joint : bool
        Update ``beta`` with ``u`` (lme4's ``nAGQ = 0`` stage) or ``u`` alone.
    eta : array, optional
        Starting linear predictor (lme4 starts the first fit from ``mustart``);
        by default that of ``u`` and ``beta``, whose penalised deviance each step
        must then not exceed (or of ``u = 0`` where that of ``u`` is not finite).

    Returns
    -------
    _Mode
        The modes to ``PIRLS_TOL`` and the factors of M at their weights. A step that
        raises the penalised deviance is halved towards the previous iterate (up to
        ``STEP_HALVINGS`` times), as in lme4; ``converged`` is False after
        ``PIRLS_MAXIT`` steps.
    """
    lam = _lambda(theta, data.q)
    u, beta, eta, converged = _iterate(
        u, beta, eta, lambda eta, beta: _pwrss_step(lam, eta, data, family, beta, joint),
        lambda u, beta: _linear_predictor(lam, data, u, beta),
        lambda eta, u: _penalised_deviance(eta, u, data, family))
    return _Mode(u, beta, eta, _m_factor(data.Z @ lam, family.weights(eta, data.weights), data), converged)


def _iterate(u, beta, eta, step, predictor, penalised, polish: int = 0):
    """The PIRLS loop of :func:`_pirls` and :func:`_terms_pirls`: steps, step halving, convergence.

    ``step(eta, beta)`` gives the next (u, beta), ``predictor(u, beta)`` the linear
    predictor, ``penalised(eta, u)`` the penalised deviance. Without a starting ``eta``
    it starts from ``u`` and ``beta`` (or ``u = 0`` where their deviance is not finite).
    After convergence ``polish`` more steps are taken: each squares the (already tiny)
    error of a Newton iterate, so that the deviance is exact to rounding, as the
    finite differences of the several-term searches need.
    """
    old, converged = np.inf, False
    if eta is None:
        eta = predictor(u, beta)
        old = penalised(eta, u)
        if not np.isfinite(old):  # the warm start overflows at this theta: start from u = 0
            u = np.zeros_like(u)
            eta = predictor(u, beta)
            old = penalised(eta, u)
    for _ in range(PIRLS_MAXIT):
        try:
            new_u, new_beta = step(eta, beta)
        except np.linalg.LinAlgError:  # weights so extreme that R_X is singular: stop, not converged
            break
        for _ in range(STEP_HALVINGS + 1):
            new_eta = predictor(new_u, new_beta)
            pdev = penalised(new_eta, new_u)
            if pdev <= old or abs(old - pdev) < PIRLS_TOL * abs(pdev):
                break
            new_u, new_beta = (u + new_u) / 2, (beta + new_beta) / 2
        u, beta, eta = new_u, new_beta, new_eta
        if abs(old - pdev) < PIRLS_TOL * abs(pdev):
            converged = True
            if polish <= 0:
                break
            polish -= 1
        old = pdev
    return u, beta, eta, converged


def _laplace(mode: _Mode, data: _GlmmData, family: _Family) -> float:
    """lme4's Laplace deviance: -2 log p(y | u) + ||u||^2 + log|M| at the mode."""
    mu = family.linkinv(mode.eta)
    log_det = 2 * np.sum(np.log(np.einsum("iig->ig", mode.low)))
    return float(-2 * np.sum(family.log_density(data.y, mu, data.weights)) + np.sum(mode.u ** 2) + log_det)


def _laplace_gradient(theta: np.ndarray, mode: _Mode, data: _GlmmData, family: _Family) -> np.ndarray:
    r"""Gradient of the Laplace deviance over (theta, beta), analytic.

    With :math:`s`, :math:`v` and :math:`w'` the score, observed information and
    weight derivative of each row (:meth:`_Family.derivatives`), the envelope theorem
    (the penalised deviance is stationary in :math:`u` at the mode) leaves the
    explicit terms :math:`-2X's` and :math:`-2 (Z's)_r \hat u_c` (theta the (r, c)
    element of :math:`\Lambda`); :math:`\log|M|` adds its explicit derivative
    :math:`2 [\sum_g M_g^{-1}\Lambda'Z_g'W_gZ_g]_{cr}` and :math:`a'\,d\hat\eta`, with
    :math:`a_i = w'_i\, z_i'\Lambda M_g^{-1}\Lambda'z_i` and the modes' implicit
    derivatives :math:`d\hat u = -M_v^{-1}(\Lambda'Z'VX\, d\beta + (\Lambda'Z'VZ E_k\hat u
    - E_k'Z's)\, d\theta_k)`, :math:`M_v = I + \Lambda'Z'VZ\Lambda`.
    """
    q = data.q
    lam = _lambda(theta, q)
    zl = data.Z @ lam
    score, info, weight_slope = family.derivatives(mode.eta, data.y, data.weights)
    leverage = _forward_stack(mode.low[:, :, data.codes], zl.T[:, None, :])[:, 0, :]
    a = weight_slope * np.sum(leverage ** 2, axis=0)
    low_v = _m_factor(zl, info, data)
    t = _backward_stack(low_v, _forward_stack(low_v, data.group_sum(zl * a[:, None]).T[:, None, :]))[:, 0, :]
    grad_beta = data.X.T @ (a - 2 * score - info * np.einsum("nj,jn->n", zl, data.per_row(t)))
    z_score, z_a = data.group_sum(data.Z * score[:, None]).T, data.group_sum(data.Z * a[:, None]).T
    cv_lam_t = np.einsum("abg,bg->ag", data.cross(data.Z, data.Z, info), lam @ t)
    explicit = np.einsum("acg,dc,dbg->ab", _inverse_stack(mode.low), lam,
                         data.cross(data.Z, data.Z, family.weights(mode.eta, data.weights)))
    grad_lam = (-2 * z_score @ mode.u.T + 2 * explicit.T + (z_a - cv_lam_t) @ mode.u.T + z_score @ t.T)
    return np.r_[grad_lam[np.tril_indices(q)], grad_beta]


def _stage1_gradient(theta: np.ndarray, mode: _Mode, data: _GlmmData, family: _Family) -> np.ndarray:
    r"""Gradient of the ``nAGQ = 0`` deviance :math:`D(\theta, \tilde\beta(\theta))` over theta, analytic.

    :math:`\tilde\beta` minimises the penalised deviance jointly with :math:`u`, so
    differentiating both stationarity conditions gives
    :math:`R_X'R_X\, d\tilde\beta/d\theta_k = \sum_g Q_g e_r \hat u_{gc} - P_g e_c (Z_g's_g)_r`
    with :math:`B_g = X_g'V_gZ_g`, :math:`P_g = B_g\Lambda M_{v,g}^{-1}`,
    :math:`Q_g = P_g\Lambda'Z_g'V_gZ_g - B_g` (theta_k the (r, c) element of
    :math:`\Lambda`); the chain rule then adds :math:`\partial D/\partial\beta \cdot
    d\tilde\beta/d\theta` to :func:`_laplace_gradient`'s theta part.
    """
    q, n_theta = data.q, len(theta)
    gradient = _laplace_gradient(theta, mode, data, family)
    lam = _lambda(theta, q)
    score, info, _ = family.derivatives(mode.eta, data.y, data.weights)
    low_v = _m_factor(data.Z @ lam, info, data)
    b = data.cross(data.X, data.Z, info)
    p_t = _backward_stack(low_v, _forward_stack(low_v, np.einsum("rs,prg->spg", lam, b)))  # P_g', q x p x G
    q_g = np.einsum("spg,rs,rtg->ptg", p_t, lam, data.cross(data.Z, data.Z, info)) - b
    z_score = data.group_sum(data.Z * score[:, None]).T
    rhs = np.einsum("prg,cg->prc", q_g, mode.u) - np.einsum("cpg,rg->prc", p_t, z_score)
    rows, cols = np.tril_indices(q)
    slopes = np.linalg.solve(_rx(theta, mode, data, family, info), rhs[:, rows, cols])
    return gradient[:n_theta] + gradient[n_theta:] @ slopes


def _gauss_hermite(nagq: int) -> tuple[np.ndarray, np.ndarray]:
    """lme4's ``GHrule``: nodes and weights for the standard normal density (weights sum to 1)."""
    nodes, weights = np.polynomial.hermite_e.hermegauss(nagq)
    return nodes, weights / weights.sum()


def _agq(mode: _Mode, theta: np.ndarray, data: _GlmmData, family: _Family, nagq: int) -> float:
    """lme4's ``glmerAGQ`` deviance for one scalar random effect.

    For each group, :math:`d_g(u) = u^2 + \\sum_{i \\in g} d_i` (deviance residuals);
    nodes :math:`z_k` are placed at :math:`\\hat u_g + z_k / L_g` and the deviance is
    :math:`\\sum_g d_g(\\hat u_g) + \\log|M| - 2\\sum_g \\log \\sum_k w_k
    \\exp(-(d_g(u_{gk}) - d_g(\\hat u_g))/2 + z_k^2/2)`.
    """
    zl = data.Z[:, 0] * theta[0]
    sd = 1 / mode.low[0, 0]
    mu = family.linkinv(mode.eta)
    at_mode = mode.u[0] ** 2 + data.group_sum(family.dev_resid(data.y, mu, data.weights))
    total = np.zeros(data.n_groups)
    for node, weight in zip(*_gauss_hermite(nagq)):
        shift = node * sd
        eta = mode.eta + zl * shift[data.codes]
        at_node = (mode.u[0] + shift) ** 2 + data.group_sum(family.dev_resid(data.y, family.linkinv(eta),
                                                                               data.weights))
        total += weight * np.exp(-(at_node - at_mode) / 2 + node ** 2 / 2)
    log_det = 2 * np.sum(np.log(mode.low[0, 0]))
    return float(np.sum(at_mode) + log_det - 2 * np.sum(np.log(total)))


def _central_gradient(fun: Callable[[np.ndarray], float], x: np.ndarray, step: float) -> np.ndarray:
    grad = np.empty(len(x))
    for k in range(len(x)):
        e = np.zeros(len(x))
        e[k] = step * max(1.0, abs(x[k]))
        grad[k] = (fun(x + e) - fun(x - e)) / (2 * e[k])
    return grad


class _Deviance:
    """lme4's deviance functions of a fit, each PIRLS warm-started from an earlier evaluation.

    :meth:`stage1` is the ``nAGQ = 0`` objective of theta (``beta`` updated inside
    PIRLS); :meth:`stage2` the Laplace (``nagq = 1``) or AGQ deviance of
    ``pars = (theta, beta)``, with its :meth:`gradient` and :meth:`hessian`. PIRLS
    converges to ``PIRLS_TOL``, so the warm start changes only the path and the
    deviance is smooth. The warm start moves only to modes whose deviance is within
    ``WARM_MARGIN`` of the lowest so far, so that a search step far out (where the
    modes can be extreme) does not derail the next PIRLS.
    """

    def __init__(self, data: _GlmmData, family: _Family, nagq: int):
        self.data, self.family, self.nagq = data, family, nagq
        self.n_theta = data.q * (data.q + 1) // 2
        self.u = np.zeros((data.q, data.n_groups))
        self.beta = np.zeros(data.X.shape[1])
        self.lowest = {True: np.inf, False: np.inf}

    def start(self) -> np.ndarray:
        """lme4's first PIRLS, from the linear predictor of ``mustart``; returns lme4's start theta."""
        data = self.data
        theta = np.eye(data.q)[np.tril_indices(data.q)]
        mustart = ((data.weights * data.y + 0.5) / (data.weights + 1) if self.family.name == "binomial"
                   else data.y + 0.1)
        mode = _pirls(theta, data, self.family, self.u, self.beta, joint=True, eta=self.family.linkfun(mustart))
        self.u, self.beta = mode.u, mode.beta
        return theta

    def evaluate(self, pars: np.ndarray, joint: bool = False) -> tuple[_Mode, float]:
        """Modes and deviance at (theta, beta), or at theta with beta from PIRLS when ``joint``.

        The deviance is infinite where PIRLS does not converge (a search step so far
        out that the weights overflow), so that the line search steps back.
        """
        theta = pars[:self.n_theta]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            mode = _pirls(theta, self.data, self.family, self.u, self.beta if joint else pars[self.n_theta:], joint)
            value = (_agq(mode, theta, self.data, self.family, self.nagq) if self.nagq > 1 and not joint
                     else _laplace(mode, self.data, self.family))
        if not mode.converged:
            return mode, np.inf
        if value <= self.lowest[joint] + WARM_MARGIN:
            self.u, self.beta = mode.u, mode.beta
            self.lowest[joint] = min(self.lowest[joint], value)
        return mode, value

    def stage1(self, theta: np.ndarray) -> float:
        return self.evaluate(theta, joint=True)[1]

    def stage1_gradient(self, theta: np.ndarray) -> np.ndarray:
        return self.stage1_and_gradient(theta)[1]

    def stage1_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        mode, value = self.evaluate(theta, joint=True)
        if not np.isfinite(value):
            return value, np.zeros(len(theta))
        return value, _stage1_gradient(theta, mode, self.data, self.family)

    def stage2(self, pars: np.ndarray) -> float:
        return self.evaluate(pars)[1]

    def gradient(self, pars: np.ndarray) -> np.ndarray:
        """Gradient of :meth:`stage2`: analytic for the Laplace deviance, central differences for AGQ."""
        return self.stage2_and_gradient(pars)[1]

    def laplace_gradient(self, pars: np.ndarray) -> np.ndarray:
        """Gradient of the Laplace deviance (close to AGQ's, whose search it whitens)."""
        return _laplace_gradient(pars[:self.n_theta], self.evaluate(pars)[0], self.data, self.family)

    def stage2_and_gradient(self, pars: np.ndarray) -> tuple[float, np.ndarray]:
        mode, value = self.evaluate(pars)
        if not np.isfinite(value):
            return value, np.zeros(len(pars))
        if self.nagq > 1:
            return value, _central_gradient(self.stage2, pars, GRADIENT_STEP)
        return value, _laplace_gradient(pars[:self.n_theta], mode, self.data, self.family)

    def hessian(self, pars: np.ndarray) -> np.ndarray:
        """Hessian of :meth:`stage2`: differences of the analytic gradient, or of the AGQ deviance itself."""
        if self.nagq > 1:
            return _second_differences(self.stage2, pars)
        return _hessian(self.laplace_gradient, pars)


def _minimise(fun_and_grad, start: np.ndarray, scale: np.ndarray, n_theta: int, q: int, gtol: float,
              diagonal_of: np.ndarray | None = None):
    """Minimise over ``start + scale @ x`` by BFGS, then flip Lambda's columns to a positive diagonal.

    ``scale`` whitens the search (unit curvature of the deviance along its columns),
    so that BFGS starts with Newton-sized steps; a first unit step along theta could
    otherwise land on theta = 0, where the deviance (even in theta) is stationary.
    ``gtol`` bounds the whitened gradient at the optimum (in units of the deviance).
    ``diagonal_of`` gives, for each element of theta, the element on the diagonal of
    its column of Lambda (several terms); by default theta is one q x q triangle.
    """
    def whitened(x):
        value, grad = fun_and_grad(start + scale @ x)
        return value, scale.T @ grad

    found = optimize.minimize(whitened, np.zeros(len(start)), jac=True, method="BFGS",
                              options={"gtol": gtol, "maxiter": 1000})
    pars = start + scale @ found.x
    if diagonal_of is None:
        rows, cols = np.tril_indices(q)
        signs = np.sign(pars[:n_theta][rows == cols])
        pars[:n_theta] *= np.where(signs == 0, 1.0, signs)[cols]
    else:
        signs = np.sign(pars[diagonal_of])
        pars[:n_theta] *= np.where(signs == 0, 1.0, signs)
    return pars, found


def _whitening(hessian: np.ndarray) -> np.ndarray:
    """Steps of unit curvature: the inverse transposed Cholesky factor of the Hessian, or ``|diag|^-1/2``."""
    try:
        return np.linalg.inv(np.linalg.cholesky(hessian)).T
    except np.linalg.LinAlgError:
        return np.diag(1 / np.sqrt(np.maximum(np.abs(np.diag(hessian)), 1e-8)))


def _boundary(fun: Callable[[np.ndarray], float], pars: np.ndarray, q: int,
              diagonal: np.ndarray | None = None) -> np.ndarray:
    """lme4's ``check.boundary``: a diagonal theta within ``BOUNDARY_TOL`` of 0 is set to 0 if that is no worse.

    ``diagonal`` marks the elements of theta on Lambda's diagonal (several terms); by
    default theta is one q x q triangle.
    """
    if diagonal is None:
        rows, cols = np.tril_indices(q)
        diagonal = rows == cols
    best, value = pars.copy(), fun(pars)
    for k in np.flatnonzero(diagonal):
        if 0 < best[k] < BOUNDARY_TOL:
            trial = best.copy()
            trial[k] = 0.0
            if (trial_value := fun(trial)) <= value:
                best, value = trial, trial_value
    return best


def _hessian(gradient: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """Hessian of the deviance by central differences of its gradient (step ``DERIV_DELTA``), symmetrised."""
    columns = []
    for k in range(len(x)):
        e = np.zeros_like(x)
        e[k] = DERIV_DELTA
        columns.append((gradient(x + e) - gradient(x - e)) / (2 * DERIV_DELTA))
    hessian = np.column_stack(columns)
    return (hessian + hessian.T) / 2


def _second_differences(fun: Callable[[np.ndarray], float], x: np.ndarray) -> np.ndarray:
    """Hessian by central second differences of ``fun`` with step ``DERIV_DELTA``, as lme4's ``deriv12``."""
    n = len(x)
    steps = DERIV_DELTA * np.eye(n)
    at_x = fun(x)
    hessian = np.empty((n, n))
    for j in range(n):
        hessian[j, j] = (fun(x + steps[j]) - 2 * at_x + fun(x - steps[j])) / DERIV_DELTA ** 2
        for i in range(j):
            hessian[i, j] = hessian[j, i] = (fun(x + steps[i] + steps[j]) - fun(x + steps[i] - steps[j])
                                             - fun(x - steps[i] + steps[j]) + fun(x - steps[i] - steps[j])
                                             ) / (4 * DERIV_DELTA ** 2)
    return hessian


def _check_hessian(hessian: np.ndarray, kind: str) -> tuple[bool, list[str]]:
    """lme4's ``checkHess``: (no failure, messages) from the eigenvalues of a deviance Hessian."""
    if not np.all(np.isfinite(hessian)):
        return False, ["Problem with Hessian check (infinite or missing values?)"]
    values = np.linalg.eigvalsh(hessian)
    negative = int(np.sum(values < -HESSIAN_TOL))
    if negative:
        return False, [f"Model failed to converge: degenerate {kind}Hessian with {negative} negative eigenvalues"]
    if np.any(np.abs(values) < HESSIAN_TOL):
        return False, [f"{kind}Hessian is numerically singular: parameters are not uniquely determined"]
    messages = []
    if values.max() * HESSIAN_TOL > 1:
        messages.append("Model is nearly unidentifiable: very large eigenvalue - Rescale variables?")
    if values.min() / values.max() < HESSIAN_TOL:
        messages.append("Model is nearly unidentifiable: large eigenvalue ratio - Rescale variables?")
    return True, messages


def _check_convergence(grad: np.ndarray, hessian: np.ndarray, n_theta: int) -> tuple[bool, list[str]]:
    """lme4's ``checkConv``: the gradient scaled by the Hessian's Cholesky factor, then ``checkHess``."""
    try:
        scaled = np.linalg.solve(np.linalg.cholesky(hessian).T, grad)
    except np.linalg.LinAlgError:
        scaled = np.full_like(grad, np.nan)
    if not np.all(np.isfinite(scaled)):
        ok, messages = False, ["unable to evaluate scaled gradient"]
    else:
        smaller = np.minimum(np.abs(scaled), np.abs(grad))
        ok = bool(smaller.max() <= GRADIENT_TOL)
        messages = [] if ok else [(f"Model failed to converge with max|grad| = {smaller.max():.6g} "
                                   f"(tol = {GRADIENT_TOL}, component {int(np.argmax(smaller)) + 1})")]
    for block, kind in ((hessian[n_theta:, n_theta:], "fixed-effect "), (hessian, "")):
        block_ok, block_messages = _check_hessian(block, kind)
        ok, messages = ok and block_ok, messages + block_messages
    return ok, messages


def _cov_beta(hessian: np.ndarray, rx: np.ndarray, n_theta: int) -> tuple[np.ndarray, list[str]]:
    """lme4's default ``vcov`` of a glmer fit: 2 (H^-1)_beta from the Hessian if usable, else (R_X'R_X)^-1.

    The Hessian is taken by central differences on both sides of the optimum, also
    where a theta is on its bound of 0 (the deviance is even in each column of
    Lambda), as lme4's ``deriv12`` takes it.
    """
    try:
        inverse = np.linalg.inv(hessian)[n_theta:, n_theta:]
        if np.all(np.isfinite(inverse)) and np.linalg.eigvalsh(inverse).min() > 0:
            return inverse + inverse.T, []
    except np.linalg.LinAlgError:
        pass
    return np.linalg.inv(rx), [RX_FALLBACK]


# --- several random-effect terms: PIRLS on the sparse Z and the blocked factor of sparse.py ---------


@dataclass(frozen=True)
class _TermsData:
    r"""Response, X and the sparse Z of a model with several random-effect terms (rows in data order).

    ``model`` is :func:`analysis.mixed.sparse._model` of the terms (in lme4's order): its
    Lambda pattern is reused, its cross-products replaced at each PIRLS step by those of
    the working weights (:func:`analysis.mixed.sparse._reweighted`). ``Z1`` holds the
    first term's columns of Z, ``Z2`` the others'; ``lam_pattern`` the rows, columns
    and theta element of each non-zero of :math:`\Lambda`; ``diagonal_of`` the element of
    theta on the diagonal of each element's column, ``diagonal`` the diagonal elements.
    """

    y: np.ndarray
    weights: np.ndarray
    X: np.ndarray
    offset: np.ndarray
    Z: sparse_matrix
    Z1: sparse_matrix
    Z2: sparse_matrix
    first_X: np.ndarray
    first_codes: np.ndarray
    model: object
    lam_pattern: tuple
    diagonal_of: np.ndarray
    diagonal: np.ndarray

    @property
    def q(self) -> int:
        return self.Z.shape[1]

    @property
    def n_theta(self) -> int:
        return len(self.diagonal)

    def lam(self, theta: np.ndarray) -> sparse_matrix:
        rows, cols, index = self.lam_pattern
        return sp.csr_matrix((theta[index], (rows, cols)), shape=(self.q, self.q))

    def products(self, weights: np.ndarray, response: np.ndarray):
        """:func:`analysis.mixed.sparse._reweighted` cross-products of (X, response) with row weights."""
        return _sparse._reweighted(self.model, self.Z1, self.Z2, self.first_X, self.first_codes,
                                   np.column_stack([self.X, response]), weights)


@dataclass(frozen=True)
class _TermsMode:
    """The spherical modes ``u`` (Z's column order) at (theta, beta), and the factor of M at their weights."""

    u: np.ndarray
    beta: np.ndarray
    eta: np.ndarray
    factor: object
    products: object
    converged: bool


def _terms_step(theta, eta, data: _TermsData, family: _Family, beta, joint):
    r"""One PIRLS step (as :func:`_pwrss_step`) with the blocked sparse factor of :math:`\Lambda'Z'VZ\Lambda + I`.

    ``joint``: ``beta`` from the Schur complement :math:`R_X'R_X` of the penalised
    weighted least-squares system (as ``sparse._gls``), then ``u`` given ``beta``.
    """
    score, info, _ = family.derivatives(eta, data.y, data.weights)
    z = eta - data.offset - (0 if joint else data.X @ beta) + np.divide(score, info, out=np.zeros_like(score),
                                                                         where=info > 0)
    products = data.products(info, z)
    try:
        factor = _sparse._factor(theta, products)
    except (RuntimeError, ValueError) as exc:  # SuperLU on non-finite weights
        raise np.linalg.LinAlgError(str(exc)) from None
    combine = np.zeros(data.X.shape[1] + 1)
    combine[-1] = 1.0
    if joint:
        z1, z2 = _sparse._forward(factor, products.ZtXy1, products.ZtXy2)
        gram = products.XytXy - z1.T @ z1 - z2.T @ factor.schur.solve(z2)
        beta = np.linalg.solve(gram[:-1, :-1], gram[:-1, -1])
        combine[:-1] = -beta
    u = _sparse._spherical_solve(factor, products.ZtXy1 @ combine, products.ZtXy2 @ combine)
    if not np.all(np.isfinite(u)):
        raise np.linalg.LinAlgError("non-finite modes")
    return u, beta


def _terms_pirls(theta: np.ndarray, data: _TermsData, family: _Family, u: np.ndarray, beta: np.ndarray,
                 joint: bool, eta: np.ndarray | None = None) -> _TermsMode:
    """:func:`_pirls` for several terms, polished one step past ``PIRLS_TOL`` (see :func:`_iterate`)."""
    lam = data.lam(theta)
    u, beta, eta, converged = _iterate(
        u, beta, eta, lambda eta, beta: _terms_step(theta, eta, data, family, beta, joint),
        lambda u, beta: data.offset + data.X @ beta + data.Z @ (lam @ u),
        lambda eta, u: _penalised_deviance(eta, u, data, family), polish=1)
    products = data.products(family.weights(eta, data.weights), np.zeros(len(eta)))
    try:
        factor = _sparse._factor(theta, products)
    except (RuntimeError, ValueError):
        factor, converged = None, False
    return _TermsMode(u, beta, eta, factor, products, converged)


def _terms_laplace(mode: _TermsMode, data: _TermsData, family: _Family) -> float:
    """lme4's Laplace deviance -2 log p(y | u) + ||u||^2 + log|M| at the mode (M from the blocked factor)."""
    mu = family.linkinv(mode.eta)
    return float(-2 * np.sum(family.log_density(data.y, mu, data.weights)) + np.sum(mode.u ** 2)
                 + mode.factor.logdet)


def _terms_rx(mode: _TermsMode) -> np.ndarray:
    r""":math:`R_X'R_X = X'WX - X'WZ\Lambda M^{-1}\Lambda'Z'WX` at the mode, lme4's working weights."""
    products = mode.products
    z1, z2 = _sparse._forward(mode.factor, products.ZtXy1[:, :-1], products.ZtXy2[:, :-1])
    return products.XytXy[:-1, :-1] - z1.T @ z1 - z2.T @ mode.factor.schur.solve(z2)


class _TermsDeviance:
    """:class:`_Deviance` for several terms: the same warm starts, finite-difference derivatives.

    The deviance is exact to rounding (PIRLS polished past ``PIRLS_TOL``), so central
    differences give its gradient (step ``GRADIENT_STEP``) and, as lme4's ``deriv12``,
    its Hessian (step ``DERIV_DELTA``).
    """

    def __init__(self, data: _TermsData, family: _Family):
        self.data, self.family = data, family
        self.n_theta = data.n_theta
        self.u = np.zeros(data.q)
        self.beta = np.zeros(data.X.shape[1])
        self.lowest = {True: np.inf, False: np.inf}

    def start(self) -> np.ndarray:
        """lme4's first PIRLS from the linear predictor of ``mustart``; returns lme4's start theta."""
        data = self.data
        theta = data.diagonal.astype(float)
        mustart = ((data.weights * data.y + 0.5) / (data.weights + 1) if self.family.name == "binomial"
                   else data.y + 0.1)
        mode = _terms_pirls(theta, data, self.family, self.u, self.beta, joint=True,
                            eta=self.family.linkfun(mustart))
        self.u, self.beta = mode.u, mode.beta
        return theta

    def evaluate(self, pars: np.ndarray, joint: bool = False) -> tuple[_TermsMode, float]:
        """Modes and Laplace deviance at (theta, beta), or at theta with beta from PIRLS when ``joint``."""
        theta = pars[:self.n_theta]
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            mode = _terms_pirls(theta, self.data, self.family, self.u, self.beta if joint else pars[self.n_theta:],
                                joint)
            value = _terms_laplace(mode, self.data, self.family) if mode.converged else np.inf
        if not np.isfinite(value):
            return mode, np.inf
        if value <= self.lowest[joint] + WARM_MARGIN:
            self.u, self.beta = mode.u, mode.beta
            self.lowest[joint] = min(self.lowest[joint], value)
        return mode, value

    def stage1(self, theta: np.ndarray) -> float:
        return self.evaluate(theta, joint=True)[1]

    def stage2(self, pars: np.ndarray) -> float:
        return self.evaluate(pars)[1]

    def stage1_and_gradient(self, theta: np.ndarray) -> tuple[float, np.ndarray]:
        return _with_gradient(self.stage1, theta)

    def stage2_and_gradient(self, pars: np.ndarray) -> tuple[float, np.ndarray]:
        return _with_gradient(self.stage2, pars)


def _with_gradient(fun: Callable[[np.ndarray], float], x: np.ndarray) -> tuple[float, np.ndarray]:
    """The value and central-difference gradient (zero where the value is not finite, so the line search steps back)."""
    value = fun(x)
    if not np.isfinite(value):
        return value, np.zeros(len(x))
    gradient = _central_gradient(fun, x, GRADIENT_STEP)
    return value, np.where(np.isfinite(gradient), gradient, 0.0)


def _derivatives(fun: Callable[[np.ndarray], float], x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    r"""Gradient and Hessian by central differences with step ``DERIV_DELTA`` (as lme4's ``deriv12``).

    The mixed second differences use :math:`f(x \pm (e_i + e_j))` with the evaluations
    along the axes, :math:`1 + 2n + n(n-1)` evaluations where ``deriv12`` takes
    :math:`1 + 2n + 2n(n-1)`; both err by :math:`O(\delta^2)`.
    """
    n, delta = len(x), DERIV_DELTA
    steps = delta * np.eye(n)
    at_x = fun(x)
    up = np.array([fun(x + step) for step in steps])
    down = np.array([fun(x - step) for step in steps])
    hessian = np.diag((up - 2 * at_x + down) / delta ** 2)
    for j in range(n):
        for i in range(j):
            both = fun(x + steps[i] + steps[j]) + fun(x - steps[i] - steps[j])
            hessian[i, j] = hessian[j, i] = (both - up[i] - up[j] - down[i] - down[j] + 2 * at_x) / (2 * delta ** 2)
    return (up - down) / (2 * delta), hessian
