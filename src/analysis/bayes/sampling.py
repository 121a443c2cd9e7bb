"""Sampling with nutpie, PyMC or NumPyro: sampler settings, seeds and compiled models kept for reuse."""

from __future__ import annotations

import importlib.util
import logging
import os
import time as _time
import warnings
from collections import OrderedDict
from collections.abc import Mapping
from contextlib import contextmanager
from dataclasses import dataclass

import arviz as az
import xarray as xr

from .compiled import compile_nutpie
from .design import (
    BUILDERS,
    BayesInputError,
    Design,
    SamplerUnavailableError,
    _values,
    _whole,
)

SAMPLERS = ("nutpie", "pymc", "numpyro")
TARGET_ACCEPT = 0.8
#: Compiled models kept in memory (least recently used dropped first).
CACHE_SIZE = 8


@dataclass
class _Entry:
    model: object
    compiled: object = None


_CACHE: OrderedDict = OrderedDict()


def clear_cache() -> None:
    """Forget every built and compiled model (the next fit builds and compiles again)."""
    _CACHE.clear()


def _entry(design: Design) -> _Entry:
    """The cached model for the design's key, holding the design's data."""
    import pymc as pm

    if design.key in _CACHE:
        _CACHE.move_to_end(design.key)
    else:
        _CACHE[design.key] = _Entry(BUILDERS[design.model](design))
        while len(_CACHE) > CACHE_SIZE:
            _CACHE.popitem(last=False)
    entry = _CACHE[design.key]
    pm.set_data(_values(design, entry.model), model=entry.model)
    return entry


def _settings(draws, tune, chains, seed, sampler, target_accept) -> dict:
    for name, value, low in (("draws", draws, 1), ("tune", tune, 0), ("chains", chains, 1), ("seed", seed, 0)):
        _whole(name, value, low)
    if sampler not in SAMPLERS:
        raise BayesInputError(f"sampler must be one of {list(SAMPLERS)}, got {sampler!r}")
    if not (isinstance(target_accept, (int, float)) and 0 < target_accept < 1):
        raise BayesInputError(f"target_accept must lie strictly between 0 and 1, got {target_accept!r}")
    return {"draws": int(draws), "tune": int(tune), "chains": int(chains), "seed": int(seed),
            "sampler": sampler, "target_accept": float(target_accept)}


def _require_numpyro() -> None:
    missing = [name for name in ("jax", "numpyro") if importlib.util.find_spec(name) is None]
    if missing:
        raise SamplerUnavailableError(
            f"sampler='numpyro' needs the package(s) {', '.join(missing)}, which are not installed; "
            "install them (e.g. `pip install numpyro jax`, or jax[cuda12] for a GPU) or use "
            "sampler='nutpie' or sampler='pymc'"
        )


@contextmanager
def _quiet():
    """Silence PyMC's progress logging and compile-time warnings while sampling."""
    logger = logging.getLogger("pymc")
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", category=UserWarning)
            warnings.simplefilter("ignore", category=FutureWarning)
            warnings.simplefilter("ignore", category=RuntimeWarning)
            yield
    finally:
        logger.setLevel(level)


def sample(design: Design, *, draws: int = 1000, tune: int = 1000, chains: int = 4, seed: int = 0,
           sampler: str = "nutpie", target_accept: float = TARGET_ACCEPT) -> az.InferenceData:
    """Draw from a design's posterior.

    Parameters
    ----------
    design : Design
        What to fit (see the model functions, e.g. :func:`bivariate_growth`).
    draws, tune, chains : int
        Draws kept per chain, tuning steps per chain, chains (run in parallel on
        up to ``os.cpu_count()`` cores).
    seed : int
        Seed of every random step; the same inputs give the same draws.
    sampler : {"nutpie", "pymc", "numpyro"}
        nutpie (numba-compiled once per model structure, reused in memory and
        kept on disk for later processes: :mod:`analysis.bayes.compiled`),
        PyMC's NUTS, or NumPyro's NUTS through JAX (uses a GPU when JAX has one).
    target_accept : float
        Target acceptance rate of the step-size adaptation.

    Returns
    -------
    arviz.InferenceData
        ``posterior`` with the design's coordinates and ``sample_stats``;
        ``posterior.attrs`` holds ``compile_seconds`` (nutpie; 0 when the compiled
        model was reused in memory, short when read from disk) and ``sampling_seconds``.

    Raises
    ------
    BayesInputError
        A setting is out of range or the sampler unknown.
    SamplerUnavailableError
        ``sampler="numpyro"`` without ``jax`` and ``numpyro`` installed.
    """
    settings = _settings(draws, tune, chains, seed, sampler, target_accept)
    if sampler == "numpyro":
        _require_numpyro()
    cores = min(settings["chains"], os.cpu_count() or 1)
    note = ""
    with _quiet():
        entry = _entry(design)
        if sampler == "nutpie":
            try:
                idata, compile_seconds, seconds = _sample_nutpie(entry, design, settings, cores)
            except (ImportError, NotImplementedError) as exc:  # nutpie missing, or an Op numba cannot compile
                note = f"nutpie could not sample this model ({_first_line(exc)}); PyMC's NUTS was used instead"
                idata, compile_seconds, seconds = _sample_pymc(entry, {**settings, "sampler": "pymc"}, cores)
        else:
            idata, compile_seconds, seconds = _sample_pymc(entry, settings, cores)
    out = az.InferenceData(posterior=_relabel(idata.posterior, design.coords),
                           sample_stats=idata.sample_stats)
    out.posterior.attrs.update({"compile_seconds": compile_seconds, "sampling_seconds": seconds})
    if note:
        out.posterior.attrs["sampler_note"] = note
    return out


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text.splitlines()[0] if text else ''}"


def _sample_nutpie(entry: _Entry, design: Design, settings: dict, cores: int):
    import nutpie

    start = _time.perf_counter()
    if entry.compiled is None:
        entry.compiled, _ = compile_nutpie(design, entry.model)
    compile_seconds = _time.perf_counter() - start
    compiled = entry.compiled.with_data(**_values(design, entry.model))
    start = _time.perf_counter()
    idata = nutpie.sample(compiled, draws=settings["draws"], tune=settings["tune"], chains=settings["chains"],
                          cores=cores, seed=settings["seed"], save_warmup=False, progress_bar=False,
                          target_accept=settings["target_accept"])
    return idata, compile_seconds, _time.perf_counter() - start


def _sample_pymc(entry: _Entry, settings: dict, cores: int):
    import pymc as pm

    start = _time.perf_counter()
    idata = pm.sample(draws=settings["draws"], tune=settings["tune"], chains=settings["chains"],
                      cores=cores, random_seed=settings["seed"], target_accept=settings["target_accept"],
                      nuts_sampler=settings["sampler"], progressbar=False, compute_convergence_checks=False,
                      model=entry.model)
    return idata, float("nan"), _time.perf_counter() - start


def _relabel(dataset: xr.Dataset, coords: Mapping[str, list]) -> xr.Dataset:
    """The dataset with the design's labels on its dimensions (a reused model keeps old ones)."""
    return dataset.assign_coords({dim: list(values) for dim, values in coords.items() if dim in dataset.dims})
