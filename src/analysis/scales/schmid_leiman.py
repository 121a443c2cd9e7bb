"""McDonald's omega as ``psych::omega``: omega total and the Schmid-Leiman omega hierarchical."""

from __future__ import annotations

import math
import numbers
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from .factor import fa, minres, oblimin, require_factor_method
from .instruments import Instrument, get, items_by_wave
from .items import (
    _require_complete_pairs,
    _squared_multiple_correlations,
    _validated_items,
)

ROTATIONS = ("oblimin",)


def _omega_total(corr: np.ndarray) -> float:
    """Omega total as ``psych::omega(x, nfactors = 1)$omega.tot``.

    ``omega_t = (V_t - sum(u2)) / V_t``, where ``V_t`` is the sum of the item
    correlation matrix after reflecting items with negative loadings and
    ``u2 = 1 - h2`` are the minres uniquenesses.
    """
    loadings = minres(corr)[:, 0]
    key = np.where(loadings < 0, -1.0, 1.0)
    total_variance = (corr * np.outer(key, key)).sum()
    uniqueness = 1.0 - loadings**2
    return float((total_variance - uniqueness.sum()) / total_variance)


@dataclass(frozen=True)
class Omega:
    """Omega hierarchical and total of a set of items (``psych::omega``).

    Attributes
    ----------
    omega_h : float
        Omega hierarchical: the share of total score variance due to the
        general factor, ``(sum g)^2 / 1'R1``.
    omega_t : float
        Omega total, ``(1'R1 - sum u2) / 1'R1``.
    omega_lim : float
        Asymptotic omega hierarchical, ``(sum g)^2 / (1'R1 - sum u2)``.
    alpha : float
        Standardised alpha of the (flipped) correlation matrix.
    g6 : float
        Guttman's lambda 6 (psych's ``G6``).
    ecv : float
        Explained common variance of the general factor: its sum of squared
        loadings over that of the general and group factors.
    loadings : pandas.DataFrame
        Schmid-Leiman solution indexed by item (psych's ``schmid$sl``): ``g``,
        ``F1*`` .. ``Fm*`` (group factors), ``h2``, ``u2``, ``p2`` (share of
        the communality due to ``g``). Items in ``flipped`` are reversed.
    omega_group : pandas.DataFrame
        psych's ``omega.group``, indexed ``g``, ``F1*``, ..: ``total`` (omega
        total of the items that load most on the factor), ``general`` (the
        general factor's share) and ``group`` (the group factor's share); the
        ``g`` row is over all items. A group factor no item loads most on has
        NaN.
    oblique : pandas.DataFrame
        Oblimin pattern loadings of the first-order factors ``F1`` .. ``Fm``.
    phi : pandas.DataFrame
        Correlations of the oblique factors.
    general_loadings : numpy.ndarray
        Loadings of the first-order factors on the second-order general factor.
    flipped : tuple of str
        Items reversed because they load negatively on the general factor
        (psych marks them with ``-``).
    n, k, nfactors : int
        Respondents (rows with any response), items, group factors.
    fm : str
        Factoring method (psych's ``fm``).
    """

    omega_h: float
    omega_t: float
    omega_lim: float
    alpha: float
    g6: float
    ecv: float
    loadings: pd.DataFrame = field(repr=False)
    omega_group: pd.DataFrame = field(repr=False)
    oblique: pd.DataFrame = field(repr=False)
    phi: pd.DataFrame = field(repr=False)
    general_loadings: np.ndarray = field(repr=False)
    flipped: tuple[str, ...] = ()
    n: int = 0
    k: int = 0
    nfactors: int = 3
    fm: str = "minres"

    def summary(self) -> str:
        """Return a short plain-text report of the omegas and the Schmid-Leiman loadings.

        Returns
        -------
        str
        """
        lines = [
            (f"Omega (Schmid-Leiman, {self.nfactors} group factors, {self.fm}/oblimin): "
             f"n = {self.n} respondents, k = {self.k} items"),
            f"  omega_h    {self.omega_h:.3f}",
            f"  omega_t    {self.omega_t:.3f}",
            f"  omega_lim  {self.omega_lim:.3f}",
            f"  alpha      {self.alpha:.3f}",
            f"  G6         {self.g6:.3f}",
            f"  ECV        {self.ecv:.3f}",
            f"  flipped    {', '.join(self.flipped) or 'none'}",
            "",
            self.loadings.to_string(float_format="{:.2f}".format),
            "",
            self.omega_group.to_string(float_format="{:.2f}".format),
        ]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _general_loadings(phi: np.ndarray, fm: str) -> np.ndarray:
    """Loadings of the oblique factors on the general factor (psych's ``schmid``).

    One factor of ``phi`` by ``fm`` for three or more factors; for two,
    psych's ``option = "equal"``: both ``sqrt(|phi_12|)``, the second with the
    sign of ``phi_12``.
    """
    if phi.shape[0] > 2:
        return fa(phi, 1, fm=fm)[:, 0]
    root = math.sqrt(abs(phi[0, 1]))
    return np.array([root, math.copysign(root, phi[0, 1])])


def _schmid_leiman(corr: np.ndarray, nfactors: int, fm: str) -> dict[str, np.ndarray]:
    """psych's ``schmid``: orthogonal factors (``fm``, varimax), oblimin, second-order factor, SL loadings.

    ``g = F b`` with ``F`` the oblique pattern and ``b`` the general
    loadings; group loadings ``sign(F) sqrt(F^2 (1 - b^2))``;
    ``h2`` the communalities of the orthogonal solution, ``u2 = 1 - h2``.
    """
    orthogonal = fa(corr, nfactors, rotate="varimax", fm=fm)
    pattern, phi = oblimin(orthogonal)
    general_loadings = _general_loadings(phi, fm)
    general = pattern @ general_loadings
    h2 = (orthogonal**2).sum(axis=1)
    group = np.sign(pattern) * np.sqrt(np.maximum(pattern**2 * (1.0 - general_loadings**2), 0.0))
    return {"general": general, "group": group, "h2": h2, "u2": 1.0 - h2, "oblique": pattern,
            "phi": phi, "general_loadings": general_loadings}


def _omega_group(corr: np.ndarray, general: np.ndarray, group: np.ndarray,
                 omega_t: float) -> pd.DataFrame:
    """psych's ``omega.group`` table: omegas of the items that load most on each group factor."""
    nfactors = group.shape[1]
    owner = np.argmax(np.abs(group), axis=1)
    rows = {"g": {"total": omega_t, "general": general.sum() ** 2 / corr.sum(), "group": 0.0}}
    for factor in range(nfactors):
        members = owner == factor
        name = f"F{factor + 1}*"
        if not members.any():
            rows[name] = {"total": math.nan, "general": math.nan, "group": math.nan}
            continue
        variance = corr[np.ix_(members, members)].sum()
        group_sum, general_sum = group[members, factor].sum(), general[members].sum()
        rows["g"]["group"] += group_sum**2 / corr.sum()
        rows[name] = {"total": (group_sum**2 + general_sum**2) / variance,
                      "general": general_sum**2 / variance, "group": group_sum**2 / variance}
    return pd.DataFrame.from_dict(rows, orient="index")


def omega(items: pd.DataFrame, nfactors: int = 3, fm: str = "minres",
          rotate: str = "oblimin") -> Omega:
    """Omega hierarchical and total from a Schmid-Leiman solution, as ``psych::omega``.

    Parameters
    ----------
    items : pandas.DataFrame
        Item responses, rows respondents, numeric columns (at least
        ``nfactors + 1``); missing responses are handled pairwise (psych's
        ``use = "pairwise"``).
    nfactors : int, default 3
        Number of group factors, at least 2 (psych's default 3).
    fm : {"minres", "pa", "ml", "wls", "gls"}, default "minres"
        Factoring method of the first- and second-order factors, as psych's
        ``fa(fm = fm)`` (see :func:`analysis.scales.factor.extract`): minimum
        residual, iterated principal axes, maximum likelihood, weighted or
        generalised least squares. psych's omega refuses ``"uls"``.
    rotate : {"oblimin"}, default "oblimin"
        Oblique rotation of the first-order factors.

    Returns
    -------
    Omega

    Notes
    -----
    psych's steps: ``R`` is the pairwise item correlation matrix; ``nfactors``
    factors of ``R`` by ``fm`` are varimax rotated (``psych::fa``, see
    :func:`analysis.scales.factor.fa`) and then oblimin rotated
    (``GPArotation::oblimin``, quartimin from the identity, see
    :func:`analysis.scales.factor.oblimin`), giving the pattern ``F`` and
    factor correlations ``Phi``; one factor of ``Phi`` by ``fm`` (for two
    factors, equal loadings ``sqrt(|phi_12|)``) gives the general loadings
    ``b``. The Schmid-Leiman general loadings are ``g = F b``, the group
    loadings ``sign(F) sqrt(F^2 (1 - b^2))``. Items with ``g < 0`` are
    reversed (their rows and columns of ``R`` and loadings reflected). Then
    with ``V_t = 1'R1`` and ``u2 = 1 - h2`` (communalities of the orthogonal
    solution): ``omega_h = (sum g)^2 / V_t``, ``omega_t = (V_t - sum u2) /
    V_t``, ``omega_lim = (sum g)^2 / (V_t - sum u2)`` and ``ecv = sum g^2 /
    (sum g^2 + sum group^2)``.

    The factor fits follow psych's own runs (its starts, objectives,
    gradients and ``optim`` settings; psych's iteration and stopping rule for
    ``"pa"``) and the rotations follow R's iterations and stopping rules
    exactly. ``"pa"`` then matches psych to about 1e-14. The other methods
    stop where R's L-BFGS-B stops; scipy's L-BFGS-B (version 3.0, R's is 2.1)
    takes the same steps until a uniqueness reaches its bound, where the two
    versions' subspace steps differ. Where the fit has a unique optimum this
    leaves the omegas within about 1e-5 of psych's. Where it has none (more
    factors than the items identify, as three maximum likelihood factors of
    five items, a set of perfect fits), or where psych's optimiser is handed
    a gradient that is not its objective's (``"wls"``, ``"gls"``), psych's
    values depend on its optimiser's path and can differ by a few 1e-3
    (omega total of bfi N1-N5 with ``"ml"``; omega_h of bfi N1-N5 and A1-A5
    with four ``"wls"`` factors).

    Raises
    ------
    ValueError
        On an unsupported ``fm`` or ``rotate`` (the message lists the
        supported ones), ``nfactors`` below 2 or not below the number of
        items, fewer than 3 items, non-numeric or constant items, or item
        pairs with fewer than 2 joint responses.
    RuntimeError
        If principal axis factoring meets a negative eigenvalue (psych's
        omega stops there too).
    """
    require_factor_method(fm)
    if rotate not in ROTATIONS:
        raise ValueError(f"rotate must be one of {ROTATIONS}, got {rotate!r}")
    if isinstance(nfactors, bool) or not isinstance(nfactors, numbers.Integral) or nfactors < 2:
        raise ValueError(f"nfactors must be an integer of at least 2 (omega_h needs group factors), "
                         f"got {nfactors!r}")
    nfactors = int(nfactors)
    used, _ = _validated_items(items, "pairwise", min_columns=max(3, nfactors + 1))
    corr = used.corr().to_numpy()
    _require_complete_pairs(corr, used.columns)
    solution = _schmid_leiman(corr, nfactors, fm)
    key = np.where(solution["general"] < 0, -1.0, 1.0)
    corr = corr * np.outer(key, key)
    general, group = solution["general"] * key, solution["group"] * key[:, None]
    total, k = corr.sum(), corr.shape[0]
    omega_t = float((total - solution["u2"].sum()) / total)
    factors = [f"F{i + 1}" for i in range(nfactors)]
    index = pd.Index(used.columns, name="item")
    loadings = pd.DataFrame(np.column_stack([general, group, solution["h2"], solution["u2"],
                                             general**2 / solution["h2"]]),
                            index=index, columns=["g", *(f"{f}*" for f in factors), "h2", "u2", "p2"])
    return Omega(
        omega_h=float(general.sum() ** 2 / total),
        omega_t=omega_t,
        omega_lim=float(general.sum() ** 2 / (total - solution["u2"].sum())),
        alpha=float((total - k) / total * k / (k - 1)),
        g6=float((total + _squared_multiple_correlations(corr).sum() - k) / total),
        ecv=float((general**2).sum() / ((general**2).sum() + (group**2).sum())),
        loadings=loadings,
        omega_group=_omega_group(corr, general, group, omega_t),
        oblique=pd.DataFrame(solution["oblique"], index=index, columns=factors),
        phi=pd.DataFrame(solution["phi"], index=factors, columns=factors),
        general_loadings=solution["general_loadings"],
        flipped=tuple(str(c) for c, sign in zip(used.columns, key, strict=True) if sign < 0),
        n=len(used),
        k=k,
        nfactors=nfactors,
        fm=fm,
    )


def omega_by_wave(data: pd.DataFrame, instrument: str | Instrument, nfactors: int = 3,
                  fm: str = "minres") -> pd.DataFrame:
    """Omega hierarchical and total of an instrument at every wave (:func:`omega`).

    Parameters
    ----------
    data : pandas.DataFrame
        Long trial table with ``wave`` and the instrument's item columns.
    instrument : str or Instrument
        An item instrument with more than ``nfactors`` items.
    nfactors : int, default 3
        Group factors of the Schmid-Leiman solution.
    fm : {"minres", "pa", "ml", "wls", "gls"}, default "minres"
        Factoring method (see :func:`omega`).

    Returns
    -------
    pandas.DataFrame
        Indexed by wave: ``n`` (participants who answered every item; the
        omegas use them, as :func:`analysis.scales.reliability_by_wave`),
        ``omega_h``, ``omega_t``, ``omega_lim``, ``ecv`` and ``note``: why a
        wave has no omegas (too few complete rows, an item nobody varied
        on, or a factoring that failed), else empty.

    Raises
    ------
    ValueError
        If the instrument has no items, its columns are missing, it has
        ``nfactors`` items or fewer, or ``fm`` is not supported.
    """
    require_factor_method(fm)
    instrument = get(instrument, data)
    if instrument.n_items <= nfactors:
        raise ValueError(f"{instrument.name} has {instrument.n_items} items; omega with {nfactors} group "
                         f"factors needs more than {nfactors}")
    rows = {}
    for wave, items in items_by_wave(data, instrument):
        complete = items.dropna()
        row = {"n": len(complete), "omega_h": math.nan, "omega_t": math.nan, "omega_lim": math.nan,
               "ecv": math.nan, "note": ""}
        try:
            fit = omega(complete, nfactors=nfactors, fm=fm)
        except (ValueError, RuntimeError) as problem:
            row["note"] = str(problem)
        else:
            row.update(omega_h=fit.omega_h, omega_t=fit.omega_t, omega_lim=fit.omega_lim, ecv=fit.ecv)
        rows[wave] = row
    return pd.DataFrame.from_dict(rows, orient="index").rename_axis("wave")
