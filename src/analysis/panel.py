r"""Random-intercept cross-lagged panel models (RI-CLPM) by maximum likelihood, as lavaan fits them.

Does self-efficacy (SE) at one wave predict symptoms at the next, or the other way
round? :func:`riclpm` fits the random-intercept cross-lagged panel model of
Hamaker, Kuiper & Grasman (2015) for two variables ``x`` and ``y`` measured at
waves :math:`t = 1, \dots, T`:

.. math::

   x_{it} &= \mu_{xt} + RI_{xi} + w_{x,it}, \qquad
   y_{it} = \mu_{yt} + RI_{yi} + w_{y,it} \\
   w_{x,it} &= \alpha\, w_{x,i,t-1} + \beta\, w_{y,i,t-1} + u_{x,it} \\
   w_{y,it} &= \gamma\, w_{x,i,t-1} + \delta\, w_{y,i,t-1} + u_{y,it}

The random intercepts :math:`(RI_x, RI_y)` hold each person's stable level (their
2 x 2 covariance is the *between-person* part); the within-person deviations
:math:`w` follow a VAR(1) whose lagged effects are ``x_on_x`` (:math:`\alpha`),
``x_on_y`` (:math:`\beta`, y at t-1 -> x at t), ``y_on_x`` (:math:`\gamma`, x at t-1
-> y at t) and ``y_on_y`` (:math:`\delta`), held equal over waves or free per wave.
Wave-1 deviations and the later innovations :math:`u_t` have free 2 x 2
covariances per wave, the wave means :math:`\mu` are free, and the random intercepts
are uncorrelated with the wave-1 deviations. This is the lavaan syntax of Mulder &
Hamaker (2021) with ``meanstructure=TRUE, int.ov.free=TRUE``. :func:`clpm` fits the
classic cross-lagged panel model: the same model without random intercepts, in
which stable differences between people leak into the lagged effects.

Estimation
----------
The implied moments are :math:`\mu(\theta)` and

.. math::

   \Sigma(\theta) = \Lambda \Phi \Lambda' + (I - B)^{-1} \Psi (I - B)^{-\top},

with :math:`\Lambda` the unit loadings on the random intercepts, :math:`\Phi` their
covariance, :math:`B` the lagged effects and :math:`\Psi` the block-diagonal wave-1
and innovation covariances. Missing waves are handled by full-information maximum
likelihood: each missingness pattern contributes the normal log-likelihood of its
observed variables (``missing="ml"`` in lavaan); people with no observed value
are dropped. The log-likelihood is maximised with its analytic gradient (BFGS,
then Newton steps), without bounds, as lavaan does, so a negative variance
(Heywood case) can appear and is reported in ``warnings``.

Standard errors come from the observed information: the Hessian of the
log-likelihood, differentiated numerically from the analytic gradient with the
five-point stencil lavaan uses (lavaan's default for ``missing="ml"``). The
chi-square test compares the model with the unrestricted (h1) model, whose FIML
estimates come from the EM algorithm; CFI and TLI use lavaan's baseline, the
independence model with free means and variances (with missing data its FIML
estimates are each variable's observed mean and ML variance); RMSEA uses the
number of people :math:`N`: :math:`\sqrt{\max(\chi^2/(N\,df) - 1/N, 0)}`.
Standardized lagged effects (lavaan's ``std.all``) scale a lag by the model-implied
SDs of the within-person predictor and outcome at their waves; their standard
errors use the delta method.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from scipy import optimize, stats

from . import io

__all__ = ["PanelResult", "riclpm", "clpm", "compare", "directions", "LAGS"]

#: Lagged effects: name -> (outcome component, predictor component); 0 is x, 1 is y.
LAGS = {"x_on_x": (0, 0), "x_on_y": (0, 1), "y_on_x": (1, 0), "y_on_y": (1, 1)}
#: lavaan's step for the numerical Hessian of the log-likelihood (five-point stencil).
HESSIAN_STEP = 1e-5
#: Convergence: largest absolute gradient of -loglik / N accepted at the optimum.
GRADIENT_TOL = 1e-6
#: EM for the unrestricted (h1) model: iterations and log-likelihood tolerance.
EM_MAX_ITER = 20000
EM_TOL = 1e-10
#: Newton polishing steps after BFGS.
NEWTON_STEPS = 10
#: A random-intercept variance below this share of the variable's variance is called ~0.
BOUNDARY_SHARE = 1e-3


@dataclass(frozen=True, eq=False)
class PanelResult:
    """A fitted (RI-)CLPM, laid out like lavaan's ``summary()`` and ``fitMeasures()``.

    Attributes
    ----------
    model : str
        ``"RI-CLPM"`` or ``"CLPM"``.
    x, y : str
        The two variables; ``x_on_y`` is the effect of ``y`` at wave t-1 on ``x``
        at wave t, ``y_on_x`` that of ``x`` on later ``y``.
    waves : list
        Wave labels in order (the data's ``wave`` values).
    equal_lags : bool
        Whether the lagged effects are held equal over waves.
    lagged : pandas.DataFrame
        Lagged effects (unstandardized): index ``effect`` (``x_on_x``, ``x_on_y``,
        ``y_on_x``, ``y_on_y``), or ``(effect, wave)`` with free lags (``wave`` is
        the later wave); columns ``estimate``, ``se``, ``z``, ``p``, ``ci_low``,
        ``ci_high`` (Wald).
    standardized : pandas.DataFrame
        lavaan's ``std.all`` lagged effects, index ``(effect, wave)`` for every
        transition, same columns (delta-method standard errors).
    between : pandas.DataFrame
        Random-intercept variances and covariance (index ``var_x``, ``var_y``,
        ``cov``) and their correlation (``corr``); empty for the CLPM.
    within : pandas.DataFrame
        Index ``(quantity, wave)`` with quantity ``var_x``, ``var_y``, ``cov``: at
        the first wave the within-person (co)variances, later the innovation
        (residual) (co)variances.
    means : pandas.DataFrame
        Wave means of ``x`` and ``y`` (index wave) with standard errors.
    parameters : pandas.DataFrame
        Every free parameter as in lavaan's ``parameterEstimates()``: ``lhs``,
        ``op``, ``rhs``, ``label``, ``estimate``, ``se``, ``z``, ``p``, ``ci_low``,
        ``ci_high``; variables named by position (``x1`` .. ``xT``, within
        components ``wx1`` .., random intercepts ``RIx``, ``RIy``).
    fit : pandas.Series
        ``npar``, ``chisq``, ``df``, ``pvalue``, ``baseline_chisq``, ``baseline_df``,
        ``cfi``, ``tli``, ``rmsea``, ``loglik``, ``unrestricted_loglik``, ``aic``,
        ``bic``, ``nobs``.
    vcov : pandas.DataFrame
        Covariance matrix of the free parameters (inverse observed information).
    state : object
        Model specification and estimates used to derive further quantities
        (:func:`directions`).
    converged : bool
        Whether the optimiser reached a zero gradient.
    warnings : list of str
        Convergence, Hessian, inadmissible (negative variance, not positive
        definite) and boundary warnings, and dropped people.
    nobs, n_dropped, n_patterns : int
        People used, people dropped (no observed value), missingness patterns.
    conf_level : float
    """

    model: str
    x: str
    y: str
    waves: list
    equal_lags: bool
    lagged: pd.DataFrame
    standardized: pd.DataFrame
    between: pd.DataFrame
    within: pd.DataFrame
    means: pd.DataFrame
    parameters: pd.DataFrame
    fit: pd.Series
    vcov: pd.DataFrame = field(repr=False)
    state: _Fitted = field(repr=False)
    converged: bool = True
    warnings: list[str] = field(default_factory=list)
    nobs: int = 0
    n_dropped: int = 0
    n_patterns: int = 1
    conf_level: float = 0.95

    def summary(self) -> str:
        """Text summary: model, fit, lagged effects, between- and within-person parts, warnings."""
        fit = self.fit
        lags = "equal over waves" if self.equal_lags else "free per wave"
        lines = [
            f"{self.model} of {self.x} (x) and {self.y} (y), {len(self.waves)} waves, lagged effects {lags}",
            "Estimator ML; missing waves by full-information ML; observed-information standard errors",
            f"Number of people: {self.nobs} ({self.n_patterns} missingness pattern"
            f"{'s' if self.n_patterns != 1 else ''})"
            + (f"; {self.n_dropped} with no observed value dropped" if self.n_dropped else ""),
            "",
            f"Chi-square {fit['chisq']:.3f}, df {fit['df']:.0f}, p {fit['pvalue']:.3g}; "
            f"CFI {fit['cfi']:.3f}, TLI {fit['tli']:.3f}, RMSEA {fit['rmsea']:.3f}",
            f"Log-likelihood {fit['loglik']:.3f} (unrestricted {fit['unrestricted_loglik']:.3f}); "
            f"AIC {fit['aic']:.1f}, BIC {fit['bic']:.1f}; {fit['npar']:.0f} parameters",
            "",
            "Lagged effects (within person; x_on_y: y at t-1 -> x at t):",
            _table(self.lagged),
            "",
            "Standardized lagged effects (std.all):",
            _table(self.standardized),
        ]
        if len(self.between):
            lines += ["", "Between person (random intercepts):", _table(self.between)]
        lines += ["", "Within person (wave 1: (co)variances; later waves: innovations):", _table(self.within)]
        if self.warnings:
            lines += ["", "Warnings:"] + [f"  {w}" for w in self.warnings]
        return "\n".join(lines)


def riclpm(data: pd.DataFrame, x: str, y: str, group: str = "participant_id", wave: str = "wave",
           equal_lags: bool = True, conf_level: float = 0.95) -> PanelResult:
    """Fit the random-intercept cross-lagged panel model (Hamaker et al., 2015) by ML.

    Parameters
    ----------
    data : pandas.DataFrame
        Long format, one row per person and wave.
    x, y : str
        Numeric columns of the two variables (e.g. ``"gse_total"``, ``"phq9_total"``).
    group : str, default "participant_id"
        Column identifying people.
    wave : str, default "wave"
        Column identifying waves; every distinct value is one wave, in sorted order,
        and consecutive waves are one lag apart.
    equal_lags : bool, default True
        Hold the four lagged effects equal over waves (otherwise free per wave).
    conf_level : float, default 0.95
        Level of the Wald intervals.

    Returns
    -------
    PanelResult

    Raises
    ------
    analysis.io.DataValidationError
        If a column is missing, ``x`` or ``y`` is not numeric, waves are not whole
        numbers, a person has two rows for one wave (:func:`analysis.io.model_frame`),
        a variable is constant at a wave, or, among the people observed at every
        wave, one variable is a linear function of others
        (:func:`analysis.io.check_design`); each problem names the variable and wave.
    ValueError
        If ``x`` and ``y`` are the same column, fewer than 3 waves are present, a
        variable has fewer than 2 observed values at a wave, there are not more
        people than observed variables (``2 * waves``; the message says how many
        are needed), the model is not identified on the data (a singular
        covariance matrix: no ``LinAlgError`` escapes), or ``conf_level`` is not
        in (0, 1).

    Notes
    -----
    Matches lavaan's ``lavaan(model, missing="ml", meanstructure=TRUE,
    int.ov.free=TRUE, estimator="ML")`` with the Mulder & Hamaker (2021) syntax
    (see the module docstring and ``tests/reference/lavaan_riclpm.R``).
    """
    return _fit(data, x, y, group, wave, equal_lags, conf_level, random_intercepts=True)


def clpm(data: pd.DataFrame, x: str, y: str, group: str = "participant_id", wave: str = "wave",
         equal_lags: bool = True, conf_level: float = 0.95) -> PanelResult:
    """Fit the classic cross-lagged panel model: :func:`riclpm` without random intercepts.

    Parameters and return value as :func:`riclpm` (at least 2 waves). Stable
    differences between people are not separated from within-person change, so the
    lagged effects mix the two; compare with :func:`compare`.
    """
    return _fit(data, x, y, group, wave, equal_lags, conf_level, random_intercepts=False)


def compare(*results: PanelResult) -> pd.DataFrame:
    """Fit and lagged effects of several fitted models side by side.

    Parameters
    ----------
    *results : PanelResult
        Models fitted to the same data (e.g. the RI-CLPM and the CLPM).

    Returns
    -------
    pandas.DataFrame
        One row per model (``model``, with ``(free lags)`` when so fitted): ``npar``,
        ``loglik``, ``aic``, ``bic``, ``chisq``, ``df``, ``pvalue``, ``cfi``,
        ``rmsea`` and, for equal lags, each lagged effect's estimate and interval
        (``y_on_x``, ``y_on_x_low``, ``y_on_x_high``, ...).

    Raises
    ------
    ValueError
        If no result is given or the results differ in variables or people.
    """
    if not results:
        raise ValueError("compare() needs at least one fitted model")
    first = results[0]
    for other in results[1:]:
        if (other.x, other.y, other.nobs, other.waves) != (first.x, first.y, first.nobs, first.waves):
            raise ValueError(f"models differ in variables, people or waves: {first.model} "
                             f"({first.x}, {first.y}, N={first.nobs}) vs {other.model} "
                             f"({other.x}, {other.y}, N={other.nobs})")
    rows = {}
    for res in results:
        name = res.model + ("" if res.equal_lags else " (free lags)")
        row = res.fit[["npar", "loglik", "aic", "bic", "chisq", "df", "pvalue", "cfi", "rmsea"]].to_dict()
        if res.equal_lags:
            for effect in LAGS:
                lag = res.lagged.loc[effect]
                row.update({effect: lag["estimate"], f"{effect}_low": lag["ci_low"],
                            f"{effect}_high": lag["ci_high"]})
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("model")


def directions(result: PanelResult, x_label: str | None = None, y_label: str | None = None) -> pd.DataFrame:
    """The two cross-lagged directions side by side, and their difference.

    Parameters
    ----------
    result : PanelResult
    x_label, y_label : str, optional
        Names used in the row labels (default the column names).

    Returns
    -------
    pandas.DataFrame
        Rows ``"x -> y"`` (``y_on_x``), ``"y -> x"`` (``x_on_y``) and
        ``"difference"`` (first minus second). Columns ``estimate``, ``ci_low``,
        ``ci_high``, ``p`` of the unstandardized lag (averaged over waves when
        free) and ``std``, ``std_low``, ``std_high``, ``std_p`` of the
        standardized lag averaged over transitions; the difference of standardized
        effects compares the strength of the directions on a common scale.
        Intervals are Wald intervals with delta-method standard errors.
    """
    fitted = result.state
    x_label, y_label = x_label or result.x, y_label or result.y
    effects = {f"{x_label} -> {y_label}": "y_on_x", f"{y_label} -> {x_label}": "x_on_y"}

    def raw(theta, effect):
        return _lag_matrix(theta, fitted.spec)[LAGS[effect]].mean()

    def std(theta, effect):
        return _standardized(theta, fitted.spec)[effect].mean()

    columns = {}
    for prefix, func in (("", raw), ("std", std)):
        funcs = [lambda t, e=e: func(t, e) for e in effects.values()]
        funcs.append(lambda t: funcs[0](t) - funcs[1](t))
        table = _delta(lambda t: np.array([f(t) for f in funcs]), fitted, result.conf_level,
                       [*effects, "difference"])
        names = {"estimate": prefix or "estimate", "ci_low": f"{prefix}_low" if prefix else "ci_low",
                 "ci_high": f"{prefix}_high" if prefix else "ci_high", "p": f"{prefix}_p" if prefix else "p"}
        columns.update({names[k]: table[k] for k in names})
    return pd.DataFrame(columns)


# --- data --------------------------------------------------------------------

def _wide(data: pd.DataFrame, x: str, y: str, group: str, wave: str, min_waves: int, who: str = "riclpm"):
    """Wide matrix (people x [x1, y1, x2, y2, ...]), wave labels, people dropped.

    The columns are checked by :func:`analysis.io.model_frame` (numbers, whole-number
    waves, one row per person and wave); rows without ``x`` and ``y`` are left out.
    """
    checked = io.model_frame(data, partial=[x, y], group=group, wave=wave, who=who).data
    frame = checked[[group, wave, x, y]].dropna(subset=[x, y], how="all")
    waves = sorted(frame[wave].unique())
    if len(waves) < min_waves:
        raise ValueError(f"{who}: column {wave!r}: the model needs at least {min_waves} waves with data, "
                         f"found {len(waves)}: {waves}")
    wide = frame.pivot(index=group, columns=wave, values=[x, y])
    _check_observed(wide, who)
    values = np.stack([wide[x][waves].to_numpy(float), wide[y][waves].to_numpy(float)], axis=2)
    values = values.reshape(len(wide), -1)
    people = data[group].nunique()
    return values, [io._plain(w) for w in waves], people - len(values)


def _check_observed(wide: pd.DataFrame, who: str) -> None:
    """Every variable needs at least two observed values at every wave, not all equal."""
    counts = wide.count()
    sparse = counts[counts < 2]
    if len(sparse):
        shown = ", ".join(f"{column} at wave {w}: {int(c)}" for (column, w), c in sparse.items())
        raise ValueError(f"{who}: every variable needs at least 2 observed values at every wave; observed: {shown}")
    constant = [io.Problem(column, f"{who}: constant at wave {io._plain(w)} (all {counts[(column, w)]} observed "
                                   f"values are {io._plain(wide[column][w].dropna().iloc[0])}): its variance is 0, "
                                   "so the model is not identified; leave this wave out or check the data")
                for (column, w), distinct in wide.nunique().items() if distinct < 2]
    if constant:
        raise io.DataValidationError(constant)


@dataclass(frozen=True)
class _Patterns:
    """Sufficient statistics of the missingness patterns with the same number of observed
    variables, stacked: observed indices (k, m), people (k), means (k, m), ML covariances (k, m, m)."""

    observed: np.ndarray
    n: np.ndarray
    mean: np.ndarray
    cov: np.ndarray


def _pattern_rows(values: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(observed mask, rows) for each missingness pattern."""
    keys, inverse = np.unique(~np.isnan(values), axis=0, return_inverse=True)
    return [(key, values[inverse.ravel() == k]) for k, key in enumerate(keys)]


def _patterns(values: np.ndarray) -> list[_Patterns]:
    groups = {}
    for key, rows in _pattern_rows(values):
        rows = rows[:, key]
        centred = rows - rows.mean(axis=0)
        groups.setdefault(int(key.sum()), []).append(
            (np.flatnonzero(key), len(rows), rows.mean(axis=0), centred.T @ centred / len(rows)))
    return [_Patterns(*(np.array(part) for part in zip(*group))) for _, group in sorted(groups.items())]


# --- model specification ---------------------------------------------------------

@dataclass(frozen=True)
class _Spec:
    """Where each free parameter sits: ``slots[matrix] = (parameter, row, col)`` arrays."""

    n_waves: int
    random_intercepts: bool
    equal_lags: bool
    rows: list  # (lhs, op, rhs, label, parameter) per lavaan row
    slots: dict
    n_par: int


def _spec(n_waves: int, random_intercepts: bool, equal_lags: bool) -> _Spec:
    rows, slots = [], {"nu": [], "phi": [], "psi": [], "beta": []}
    count = 0

    def add(matrix, lhs, op, rhs, cells, label=""):
        nonlocal count
        rows.append((lhs, op, rhs, label, count))
        slots[matrix] += [(count, i, j) for i, j in cells]
        count += 1

    for t in range(n_waves):
        for c, name in enumerate("xy"):
            add("nu", f"{name}{t + 1}", "~1", "", [(2 * t + c, 0)])
    if random_intercepts:
        add("phi", "RIx", "~~", "RIx", [(0, 0)])
        add("phi", "RIy", "~~", "RIy", [(1, 1)])
        add("phi", "RIx", "~~", "RIy", [(0, 1), (1, 0)])
    for t in range(n_waves):
        x, y = 2 * t, 2 * t + 1
        add("psi", f"wx{t + 1}", "~~", f"wx{t + 1}", [(x, x)])
        add("psi", f"wy{t + 1}", "~~", f"wy{t + 1}", [(y, y)])
        add("psi", f"wx{t + 1}", "~~", f"wy{t + 1}", [(x, y), (y, x)])
    shared = {}
    for t in range(1, n_waves):
        for (out, pred), label in zip(LAGS.values(), "abcd"):
            lhs, rhs = f"w{'xy'[out]}{t + 1}", f"w{'xy'[pred]}{t}"
            cell = (2 * t + out, 2 * (t - 1) + pred)
            if equal_lags and label in shared:
                rows.append((lhs, "~", rhs, label, shared[label]))
                slots["beta"].append((shared[label], *cell))
            else:
                shared[label] = count
                add("beta", lhs, "~", rhs, [cell], label if equal_lags else "")
    arrays = {m: tuple(np.array(v, dtype=int).reshape(-1, 3).T) for m, v in slots.items()}
    return _Spec(n_waves, random_intercepts, equal_lags, rows, arrays, count)


def _matrices(theta: np.ndarray, spec: _Spec) -> dict:
    p = 2 * spec.n_waves
    shapes = {"nu": (p, 1), "phi": (2, 2), "psi": (p, p), "beta": (p, p)}
    out = {}
    for name, shape in shapes.items():
        matrix = np.zeros(shape)
        index, row, col = spec.slots[name]
        matrix[row, col] = theta[index]
        out[name] = matrix
    return out


def _loadings(n_waves: int) -> np.ndarray:
    """Unit loadings of x_t and y_t on RIx and RIy."""
    return np.tile(np.eye(2), (n_waves, 1))


def _implied(theta: np.ndarray, spec: _Spec):
    """Implied mean, covariance, and the pieces the gradient needs."""
    m = _matrices(theta, spec)
    inv = np.linalg.inv(np.eye(len(m["beta"])) - m["beta"])
    within = inv @ m["psi"] @ inv.T
    lam = _loadings(spec.n_waves)
    return m["nu"][:, 0], within + lam @ m["phi"] @ lam.T, inv, within, lam


# --- likelihood ----------------------------------------------------------------

def _loglik(mu: np.ndarray, sigma: np.ndarray, patterns: list[_Patterns], gradient: bool = False):
    """FIML log-likelihood; with ``gradient`` also d/dSigma (full matrix) and d/dmu.

    Raises ``numpy.linalg.LinAlgError`` where an observed block of ``sigma`` is not
    positive definite.
    """
    total = 0.0
    d_sigma = np.zeros_like(sigma)
    d_mu = np.zeros_like(mu)
    for pat in patterns:
        rows, cols = pat.observed[:, :, None], pat.observed[:, None, :]
        block = sigma[rows, cols]
        chol = np.linalg.cholesky(block)
        inv = np.linalg.inv(block)
        dev = pat.mean - mu[pat.observed]
        cross = pat.cov + dev[:, :, None] * dev[:, None, :]
        logdet = 2 * np.log(np.diagonal(chol, axis1=1, axis2=2)).sum(axis=1)
        m = pat.observed.shape[1]
        total -= np.sum(pat.n / 2 * (m * np.log(2 * np.pi) + logdet + np.sum(inv * cross, axis=(1, 2))))
        if gradient:
            part = -pat.n[:, None, None] / 2 * (inv - inv @ cross @ inv)
            np.add.at(d_sigma, (np.broadcast_to(rows, part.shape), np.broadcast_to(cols, part.shape)), part)
            np.add.at(d_mu, pat.observed, pat.n[:, None] * np.einsum("kij,kj->ki", inv, dev))
    return (total, d_sigma, d_mu) if gradient else total


def _model_loglik(theta: np.ndarray, spec: _Spec, patterns: list[_Patterns]):
    """Log-likelihood and its gradient in theta (analytic)."""
    mu, sigma, inv, within, lam = _implied(theta, spec)
    total, g_sigma, g_mu = _loglik(mu, sigma, patterns, gradient=True)
    blocks = {"nu": g_mu[:, None], "phi": lam.T @ g_sigma @ lam, "psi": inv.T @ g_sigma @ inv,
              "beta": 2 * inv.T @ g_sigma @ within}
    grad = np.zeros_like(theta)
    for name, block in blocks.items():
        index, row, col = spec.slots[name]
        np.add.at(grad, index, block[row, col])
    return total, grad


def _objective(theta: np.ndarray, spec: _Spec, patterns: list[_Patterns], n: int):
    """-loglik / N and its gradient; +inf where the implied covariance is not positive definite."""
    try:
        total, grad = _model_loglik(theta, spec, patterns)
    except np.linalg.LinAlgError:
        return np.inf, np.full_like(theta, np.nan)
    return -total / n, -grad / n


def _em_saturated(values: np.ndarray, patterns: list[_Patterns]):
    """FIML estimates of an unrestricted mean and covariance (EM), their log-likelihood, and
    whether EM converged."""
    mu = np.nanmean(values, axis=0)
    sigma = np.diag(np.nanvar(values, axis=0))
    n, p = values.shape
    groups = _pattern_rows(values)
    previous = -np.inf
    for _ in range(EM_MAX_ITER):
        first, second = np.zeros(p), np.zeros((p, p))
        for key, rows in groups:
            o, m = np.flatnonzero(key), np.flatnonzero(~key)
            filled = np.where(np.isnan(rows), 0.0, rows)
            if m.size:
                coef = np.linalg.solve(sigma[np.ix_(o, o)], sigma[np.ix_(o, m)])
                filled[:, m] = mu[m] + (rows[:, o] - mu[o]) @ coef
                second[np.ix_(m, m)] += len(rows) * (sigma[np.ix_(m, m)] - sigma[np.ix_(m, o)] @ coef)
            first += filled.sum(axis=0)
            second += filled.T @ filled
        mu = first / n
        sigma = second / n - np.outer(mu, mu)
        current = _loglik(mu, sigma, patterns)
        if current - previous < EM_TOL * max(1.0, abs(current)):
            return mu, sigma, current, True
        previous = current
    return mu, sigma, current, False


def _independence_loglik(values: np.ndarray) -> float:
    """FIML log-likelihood of the baseline model (free means and variances, no covariances)."""
    total = 0.0
    for column in values.T:
        seen = column[~np.isnan(column)]
        var = seen.var()
        total -= len(seen) / 2 * (np.log(2 * np.pi * var) + 1)
    return total


# --- fitting -------------------------------------------------------------------

@dataclass(frozen=True)
class _Fitted:
    spec: _Spec
    theta: np.ndarray
    vcov: np.ndarray


def _start(spec: _Spec, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Start values from the unrestricted moments: RI (co)variances from cross-wave
    covariances, lags and innovations from regressions of the within-person part."""
    T = spec.n_waves
    lam = _loadings(T)
    phi = np.zeros((2, 2))
    if spec.random_intercepts:
        for a in range(2):
            for b in range(2):
                pairs = [sigma[2 * s + a, 2 * t + b] for s in range(T) for t in range(T) if s != t]
                phi[a, b] = np.mean(pairs)
        phi = (phi + phi.T) / 2
        phi[np.diag_indices(2)] = np.maximum(np.diag(phi), 0.05 * np.diag(sigma)[:2])
    within = sigma - lam @ phi @ lam.T
    lags = []
    for t in range(1, T):
        prev, cur = slice(2 * t - 2, 2 * t), slice(2 * t, 2 * t + 2)
        lags.append(np.linalg.solve(within[prev, prev], within[prev, cur]).T)
    lags = [np.mean(lags, axis=0)] * (T - 1) if spec.equal_lags else lags
    psi = np.zeros_like(sigma)
    psi[:2, :2] = within[:2, :2]
    for t in range(1, T):
        prev, cur = slice(2 * t - 2, 2 * t), slice(2 * t, 2 * t + 2)
        resid = within[cur, cur] - lags[t - 1] @ within[prev, prev] @ lags[t - 1].T
        values, vectors = np.linalg.eigh(resid)
        psi[cur, cur] = vectors @ np.diag(np.maximum(values, 0.05 * np.diag(within[cur, cur]).min())) @ vectors.T
    beta = np.zeros_like(sigma)
    for t in range(1, T):
        beta[2 * t:2 * t + 2, 2 * t - 2:2 * t] = lags[t - 1]
    return _pack(spec, {"nu": mu[:, None], "phi": phi, "psi": psi, "beta": beta})


def _safe_start(spec: _Spec, mu: np.ndarray, sigma: np.ndarray) -> np.ndarray:
    """Positive-definite fallback start: no lags, half of each variance stable, half within."""
    half = np.diag(np.diag(sigma) / 2)
    phi = np.diag([np.mean(np.diag(half)[c::2]) for c in range(2)]) if spec.random_intercepts else np.zeros((2, 2))
    return _pack(spec, {"nu": mu[:, None], "phi": phi, "psi": half, "beta": np.zeros_like(sigma)})


def _pack(spec: _Spec, matrices: dict) -> np.ndarray:
    """Parameter vector from model matrices."""
    theta = np.zeros(spec.n_par)
    for name, matrix in matrices.items():
        index, row, col = spec.slots[name]
        theta[index] = matrix[row, col]
    return theta


def _jacobian(func, theta: np.ndarray) -> np.ndarray:
    """Jacobian of a vector function by lavaan's five-point central differences."""
    h = HESSIAN_STEP
    columns = []
    for j in range(len(theta)):
        step = np.zeros_like(theta)
        step[j] = h
        columns.append((np.atleast_1d(func(theta - 2 * step)) - 8 * np.atleast_1d(func(theta - step))
                        + 8 * np.atleast_1d(func(theta + step)) - np.atleast_1d(func(theta + 2 * step)))
                       / (12 * h))
    return np.column_stack(columns)


def _hessian(gradient, theta: np.ndarray) -> np.ndarray:
    """Symmetric Hessian from an analytic gradient (as lavaan's observed information)."""
    hess = _jacobian(gradient, theta)
    return (hess + hess.T) / 2


def _optimise(spec: _Spec, patterns: list[_Patterns], n: int, start: np.ndarray):
    """BFGS on -loglik/N, then Newton steps on the numerical Hessian; returns theta, Hessian, messages."""
    def objective(t):
        return _objective(t, spec, patterns, n)

    def gradient(t):
        return objective(t)[1]

    messages = []
    found = optimize.minimize(objective, start, jac=True, method="BFGS",
                              options={"gtol": 1e-9, "maxiter": 10000})
    theta = found.x
    hess = _hessian(gradient, theta)
    for _ in range(NEWTON_STEPS):
        value, grad = objective(theta)
        if not np.max(np.abs(grad)) > 1e-12:
            break
        try:
            trial = theta - np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        if not objective(trial)[0] <= value + 1e-14:
            break
        theta = trial
    grad = gradient(theta)
    converged = bool(np.all(np.isfinite(grad)) and np.max(np.abs(grad)) < GRADIENT_TOL)
    if not converged:
        messages.append(f"optimizer did not converge ({found.message.strip()}); largest gradient "
                        f"{np.nanmax(np.abs(grad)):.2g}: estimates are unreliable")
    return theta, hess * n, converged, messages


def _vcov(information: np.ndarray):
    """Inverse observed information, with a warning when it is not positive definite."""
    values = np.linalg.eigvalsh(information)
    if values.min() <= 1e-10 * max(values.max(), 1.0):
        return (np.linalg.pinv(information),
                [f"observed information not positive definite (smallest eigenvalue {values.min():.3g}): "
                 "the model may not be identified; standard errors are unreliable"])
    return np.linalg.inv(information), []


def _fit(data, x, y, group, wave, equal_lags, conf_level, random_intercepts) -> PanelResult:
    """Check the data, then estimate; a singular matrix on the way is reported in words."""
    who = "riclpm" if random_intercepts else "clpm"
    if not 0 < conf_level < 1:
        raise ValueError(f"conf_level must be in (0, 1), got {conf_level!r}")
    if x == y:
        raise ValueError(f"{who}: x and y are both {x!r}; a cross-lagged model needs two different variables")
    values, waves, n_dropped = _wide(data, x, y, group, wave, 3 if random_intercepts else 2, who)
    _check_identified(values, x, y, waves, who)
    try:
        return _estimate(values, waves, n_dropped, x, y, equal_lags, conf_level, random_intercepts)
    except np.linalg.LinAlgError as error:
        raise ValueError(f"{who}: the model is not identified on these data ({error}): the covariance matrix of "
                         f"{x} and {y} over waves {waves} is singular, e.g. a variable that is constant or a "
                         "linear function of others among the people observed together, or too few people "
                         "in a pattern of missing waves") from None


def _check_identified(values: np.ndarray, x: str, y: str, waves: list, who: str) -> None:
    """Refuse too few people, and constant or collinear variables among people seen at every wave.

    The unrestricted (h1) model estimates the covariance matrix of the ``2 T``
    observed variables, which needs at least ``2 T + 1`` people. The design check
    (:func:`analysis.io.check_design`) runs on the people observed at every wave
    when there are enough of them; otherwise a singular matrix is caught in the fit.
    """
    n, p = values.shape
    if n <= p:
        raise ValueError(f"{who}: {n} people with data, but {x} and {y} at {len(waves)} waves ({p} variables) "
                         f"need at least {p + 1} people to estimate their covariance matrix")
    complete = values[~np.isnan(values).any(axis=1)]
    if len(complete) > p:
        names = [f"{name} at wave {w}" for w in waves for name in (x, y)]
        io.check_design(np.column_stack([np.ones(len(complete)), complete]), ["Intercept", *names], who=who)


def _estimate(values: np.ndarray, waves: list, n_dropped: int, x: str, y: str, equal_lags: bool,
              conf_level: float, random_intercepts: bool) -> PanelResult:
    """Maximum-likelihood fit of checked wide data, with fit measures and tables."""
    patterns = _patterns(values)
    n = len(values)
    spec = _spec(len(waves), random_intercepts, equal_lags)
    mu_h1, sigma_h1, loglik_h1, em_converged = _em_saturated(values, patterns)
    start = _start(spec, mu_h1, sigma_h1)
    if not np.isfinite(_objective(start, spec, patterns, n)[0]):
        start = _safe_start(spec, mu_h1, sigma_h1)
    theta, information, converged, messages = _optimise(spec, patterns, n, start)
    vcov, vcov_messages = _vcov(information)
    fitted = _Fitted(spec, theta, vcov)
    loglik = _model_loglik(theta, spec, patterns)[0]
    p = values.shape[1]
    fit = _fit_measures(loglik, loglik_h1, _independence_loglik(values), spec.n_par, p, n)
    messages += vcov_messages + _admissibility(theta, spec, sigma_h1, x, y, waves)
    if not em_converged:
        messages.append(f"EM for the unrestricted model did not converge in {EM_MAX_ITER} iterations: "
                        "chi-square and fit indices are approximate")
    if n_dropped:
        messages.append(f"{n_dropped} people with no observed {x} or {y} were dropped")
    if n <= spec.n_par:
        messages.append(f"only {n} people for {spec.n_par} parameters: estimates are unstable")
    names = {"x": x, "y": y}
    vcov_frame = pd.DataFrame(vcov, index=_labels(spec), columns=_labels(spec))
    return PanelResult(
        model="RI-CLPM" if random_intercepts else "CLPM",
        x=x, y=y, waves=waves, equal_lags=equal_lags,
        lagged=_lagged_table(fitted, waves, conf_level),
        standardized=_standardized_table(fitted, waves, conf_level),
        between=_between_table(fitted, conf_level),
        within=_within_table(fitted, waves, conf_level),
        means=_means_table(fitted, waves, names, conf_level),
        parameters=_parameter_table(fitted, conf_level),
        fit=fit, vcov=vcov_frame, state=fitted, converged=converged, warnings=messages,
        nobs=n, n_dropped=n_dropped, n_patterns=len(patterns), conf_level=conf_level,
    )


def _fit_measures(loglik: float, loglik_h1: float, loglik_base: float, npar: int, p: int, n: int) -> pd.Series:
    chisq = max(2 * (loglik_h1 - loglik), 0.0)
    df = p * (p + 1) // 2 + p - npar
    base_chisq = 2 * (loglik_h1 - loglik_base)
    base_df = p * (p - 1) // 2
    denominator = max(chisq - df, base_chisq - base_df, 0.0)
    cfi = 1.0 if denominator == 0 else 1 - max(chisq - df, 0.0) / denominator
    tli = ((base_chisq / base_df - chisq / df) / (base_chisq / base_df - 1)) if df > 0 else np.nan
    rmsea = np.sqrt(max(chisq / (n * df) - 1 / n, 0.0)) if df > 0 else np.nan
    return pd.Series({
        "npar": npar, "chisq": chisq, "df": df,
        "pvalue": stats.chi2.sf(chisq, df) if df > 0 else np.nan,
        "baseline_chisq": base_chisq, "baseline_df": base_df, "cfi": cfi, "tli": tli,
        "rmsea": rmsea, "loglik": loglik, "unrestricted_loglik": loglik_h1,
        "aic": -2 * loglik + 2 * npar, "bic": -2 * loglik + np.log(n) * npar, "nobs": n,
    })


def _admissibility(theta, spec, sigma_h1, x, y, waves) -> list[str]:
    """lavaan's admissibility checks, and random-intercept variances at the boundary."""
    m = _matrices(theta, spec)
    messages = []
    names = {0: x, 1: y}
    if spec.random_intercepts:
        for c in range(2):
            share = m["phi"][c, c] / np.mean(np.diag(sigma_h1)[c::2])
            if share < 0:
                messages.append(f"negative random-intercept variance of {names[c]} "
                                f"({m['phi'][c, c]:.4g}): inadmissible solution")
            elif share < BOUNDARY_SHARE:
                messages.append(f"random-intercept variance of {names[c]} is ~0 ({m['phi'][c, c]:.3g}): "
                                "a boundary estimate; stable differences are negligible")
        if np.linalg.eigvalsh(m["phi"]).min() < 0 <= np.diag(m["phi"]).min():
            messages.append("random-intercept covariance matrix is not positive definite "
                            "(correlation beyond ±1): inadmissible solution")
    for t, label in enumerate(waves):
        block = m["psi"][2 * t:2 * t + 2, 2 * t:2 * t + 2]
        part = "within-person" if t == 0 else "innovation"
        for c in range(2):
            if block[c, c] < 0:
                messages.append(f"negative {part} variance of {names[c]} at wave {label} "
                                f"({block[c, c]:.4g}): inadmissible solution")
        if np.linalg.eigvalsh(block).min() < 0 <= np.diag(block).min():
            messages.append(f"{part} covariance matrix at wave {label} is not positive definite")
    return messages


# --- tables --------------------------------------------------------------------

def _wald(estimate, se, conf_level: float, index) -> pd.DataFrame:
    estimate, se = np.asarray(estimate, float), np.asarray(se, float)
    with np.errstate(divide="ignore", invalid="ignore"):
        z = estimate / se
    half = stats.norm.ppf((1 + conf_level) / 2) * se
    return pd.DataFrame({"estimate": estimate, "se": se, "z": z, "p": 2 * stats.norm.sf(np.abs(z)),
                         "ci_low": estimate - half, "ci_high": estimate + half}, index=index)


def _labels(spec: _Spec) -> list[str]:
    first = {}
    for lhs, op, rhs, label, k in spec.rows:
        first.setdefault(k, label or f"{lhs}{op}{rhs}")
    return [first[k] for k in range(spec.n_par)]


def _parameter_table(fitted: _Fitted, conf_level: float) -> pd.DataFrame:
    index = [k for *_, k in fitted.spec.rows]
    se = np.sqrt(np.clip(np.diag(fitted.vcov), 0, None))
    table = _wald(fitted.theta[index], se[index], conf_level, range(len(index)))
    names = pd.DataFrame([row[:4] for row in fitted.spec.rows], columns=["lhs", "op", "rhs", "label"])
    return pd.concat([names, table], axis=1)


def _select(fitted: _Fitted, wanted: list[tuple], conf_level: float, index) -> pd.DataFrame:
    """Rows of the parameter table by (lhs, op, rhs)."""
    lookup = {row[:3]: row[4] for row in fitted.spec.rows}
    ks = [lookup[w] for w in wanted]
    se = np.sqrt(np.clip(np.diag(fitted.vcov), 0, None))
    return _wald(fitted.theta[ks], se[ks], conf_level, index)


def _lagged_table(fitted: _Fitted, waves: list, conf_level: float) -> pd.DataFrame:
    T = fitted.spec.n_waves
    transitions = [1] if fitted.spec.equal_lags else range(1, T)
    wanted, index = [], []
    for effect, (out, pred) in LAGS.items():
        for t in transitions:
            wanted.append((f"w{'xy'[out]}{t + 1}", "~", f"w{'xy'[pred]}{t}"))
            index.append(effect if fitted.spec.equal_lags else (effect, waves[t]))
    names = "effect" if fitted.spec.equal_lags else ["effect", "wave"]
    index = pd.Index(index, name=names) if fitted.spec.equal_lags else pd.MultiIndex.from_tuples(index, names=names)
    return _select(fitted, wanted, conf_level, index)


def _between_table(fitted: _Fitted, conf_level: float) -> pd.DataFrame:
    if not fitted.spec.random_intercepts:
        return _wald([], [], conf_level, pd.Index([], name="quantity"))
    table = _select(fitted, [("RIx", "~~", "RIx"), ("RIy", "~~", "RIy"), ("RIx", "~~", "RIy")],
                    conf_level, pd.Index(["var_x", "var_y", "cov"], name="quantity"))

    def corr(theta):
        phi = _matrices(theta, fitted.spec)["phi"]
        with np.errstate(invalid="ignore"):  # NaN when a variance is negative (reported)
            return np.array([phi[0, 1] / np.sqrt(phi[0, 0] * phi[1, 1])])

    return pd.concat([table, _delta(corr, fitted, conf_level, pd.Index(["corr"], name="quantity"))])


def _within_table(fitted: _Fitted, waves: list, conf_level: float) -> pd.DataFrame:
    wanted, index = [], []
    for quantity, (a, b) in {"var_x": ("x", "x"), "var_y": ("y", "y"), "cov": ("x", "y")}.items():
        for t, label in enumerate(waves):
            wanted.append((f"w{a}{t + 1}", "~~", f"w{b}{t + 1}"))
            index.append((quantity, label))
    return _select(fitted, wanted, conf_level, pd.MultiIndex.from_tuples(index, names=["quantity", "wave"]))


def _means_table(fitted: _Fitted, waves: list, names: dict, conf_level: float) -> pd.DataFrame:
    wanted = [(f"{c}{t + 1}", "~1", "") for c in "xy" for t in range(len(waves))]
    index = pd.MultiIndex.from_tuples([(names[c], w) for c in "xy" for w in waves], names=["variable", "wave"])
    return _select(fitted, wanted, conf_level, index)


def _lag_matrix(theta: np.ndarray, spec: _Spec) -> np.ndarray:
    """Lagged effects, shape (2, 2, transitions): [outcome, predictor, t]."""
    beta = _matrices(theta, spec)["beta"]
    return np.stack([beta[2 * t:2 * t + 2, 2 * t - 2:2 * t] for t in range(1, spec.n_waves)], axis=2)


def _standardized(theta: np.ndarray, spec: _Spec) -> dict:
    """std.all lagged effects per transition: lag x SD(predictor, t-1) / SD(outcome, t)."""
    within = _implied(theta, spec)[3]
    sd = np.sqrt(np.diag(within)).reshape(spec.n_waves, 2)
    lags = _lag_matrix(theta, spec)
    return {effect: lags[out, pred] * sd[:-1, pred] / sd[1:, out] for effect, (out, pred) in LAGS.items()}


def _standardized_table(fitted: _Fitted, waves: list, conf_level: float) -> pd.DataFrame:
    index = pd.MultiIndex.from_tuples([(e, w) for e in LAGS for w in waves[1:]], names=["effect", "wave"])
    return _delta(lambda t: np.concatenate(list(_standardized(t, fitted.spec).values())),
                  fitted, conf_level, index)


def _delta(func, fitted: _Fitted, conf_level: float, index) -> pd.DataFrame:
    """Estimate and Wald interval of func(theta), delta-method standard errors."""
    estimate = np.atleast_1d(func(fitted.theta))
    jac = _jacobian(func, fitted.theta)
    se = np.sqrt(np.clip(np.einsum("ij,jk,ik->i", jac, fitted.vcov, jac), 0, None))
    return _wald(estimate, se, conf_level, index)


def _table(frame: pd.DataFrame) -> str:
    return frame.to_string(float_format=lambda v: f"{v:.4g}")
