"""Fitting: sample and diagnose, with draws stored as NetCDF and reused while a fingerprint of the inputs holds."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import arviz as az
import numpy as np

from .. import __version__
from .compiled import _SOURCE_HASH, _installed_version
from .design import Design
from .diagnostics import diagnose
from .result import BayesResult
from .sampling import TARGET_ACCEPT, _settings, sample


def _fingerprint(design: Design, settings: dict) -> str:
    """SHA-256 of the data, priors, structure, coordinates, settings and code versions."""
    digest = hashlib.sha256()
    described = {"model": design.model, "structure": repr(design.structure), "priors": dict(design.priors),
            "coords": {k: [str(v) for v in values] for k, values in design.coords.items()},
            "settings": settings, "source": _SOURCE_HASH,
            "versions": [__version__, *map(_installed_version, ("pymc", "nutpie", "arviz"))]}
    digest.update(json.dumps(described, sort_keys=True).encode())
    for name in sorted(design.data):
        array = np.ascontiguousarray(design.data[name])
        digest.update(f"{name}:{array.dtype.str}:{array.shape}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def _with_posterior_dtype(idata: az.InferenceData, dtype: str) -> az.InferenceData:
    """The same InferenceData with the posterior's floating-point draws cast to ``dtype``."""
    posterior = idata.posterior.map(
        lambda values: values.astype(dtype) if values.dtype.kind == "f" else values, keep_attrs=True)
    return az.InferenceData(**{group: (posterior if group == "posterior" else getattr(idata, group))
                               for group in idata.groups()})


def _single_precision(idata: az.InferenceData) -> az.InferenceData:
    """Posterior draws rounded to float32, as :func:`save` stores them, held as float64.

    Fresh and reused fits then give the same numbers to the last digit; the rounding
    (7 significant digits) is far below the Monte Carlo error of any summary.
    """
    return _with_posterior_dtype(_with_posterior_dtype(idata, "float32"), "float64")


def save(result: BayesResult | az.InferenceData, path: str | Path) -> Path:
    """Write a result's draws (or any InferenceData) to a compressed NetCDF file.

    Posterior draws are stored in single precision (half the size; see
    :func:`_single_precision`); the fingerprint stays in the posterior's attrs.
    The file is written beside and moved into place, so an interrupted write leaves
    no half file under ``path``.
    """
    idata = result.idata if isinstance(result, BayesResult) else result
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    _with_posterior_dtype(idata, "float32").to_netcdf(str(temporary), engine="h5netcdf")
    temporary.replace(path)
    return path


def load(path: str | Path) -> az.InferenceData:
    """Read draws written by :func:`save` into memory (float64; the file is closed afterwards)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such NetCDF file")
    return _with_posterior_dtype(az.from_netcdf(str(path), engine="h5netcdf"), "float64")


def _stored(path: Path | None, fingerprint: str) -> az.InferenceData | None:
    """Draws from ``path`` if the file holds a fit with this fingerprint, else None."""
    if path is None or not path.is_file():
        return None
    try:
        idata = load(path)
    except (OSError, ValueError, KeyError):
        return None
    return idata if idata.posterior.attrs.get("fingerprint") == fingerprint else None


def fit(design: Design, *, draws: int = 1000, tune: int = 1000, chains: int = 4, seed: int = 0,
        sampler: str = "nutpie", target_accept: float = TARGET_ACCEPT,
        netcdf: str | Path | None = None) -> BayesResult:
    """Sample a design (or reuse stored draws) and diagnose the fit.

    Parameters
    ----------
    design : Design
    draws, tune, chains, seed, sampler, target_accept
        As :func:`sample`.
    netcdf : str or Path, optional
        NetCDF file for the draws. If it holds a fit whose fingerprint (a hash of
        the data, priors, model structure, sampler settings and the versions of
        this module, PyMC, nutpie and ArviZ) matches, its draws are reused and
        nothing is sampled; otherwise the model is sampled and the file written.

    Returns
    -------
    BayesResult
    """
    settings = _settings(draws, tune, chains, seed, sampler, target_accept)
    fingerprint = _fingerprint(design, settings)
    path = Path(netcdf) if netcdf is not None else None
    idata = _stored(path, fingerprint)
    reused = idata is not None
    if idata is None:
        idata = _single_precision(sample(design, **settings))
        idata.posterior.attrs.update({"fingerprint": fingerprint, "model": design.model,
                                      "settings": json.dumps(settings)})
        if path is not None:
            save(idata, path)
    return BayesResult(model=design.model, idata=idata, diagnostics=diagnose(idata, design.reported),
                       design=design, settings=settings, reused=reused)
