"""nutpie's compiled models kept on disk (analysis.bayes.compiled): keys, reuse, identical draws, concurrent writers."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis import bayes
from analysis.bayes import compiled
from analysis.bayes.design import BUILDERS

YI = np.array([-0.89, -1.59, -1.35, -1.44, -0.22, -0.79, -1.62, 0.01, -0.47, -1.37])
VI = np.array([0.33, 0.19, 0.42, 0.02, 0.05, 0.01, 0.22, 0.004, 0.06, 0.27])


def meta_design(yi=YI, vi=VI, tau_prior="half_cauchy") -> bayes.Design:
    """The design :func:`analysis.bayes.meta_analysis` samples (built here without sampling)."""
    studies = [str(k) for k in range(1, len(yi) + 1)]
    return bayes.Design(model="meta_analysis", data={"yi": np.asarray(yi), "vi": np.asarray(vi)},
                        priors={"tau_scale": 0.5, "mu_sd": 1.0}, coords={"study": studies},
                        structure=(tau_prior,), reported=("mu", "tau"), observed={}, frame=pd.DataFrame())


def key(design: bayes.Design) -> str:
    return compiled.compile_key(design, BUILDERS[design.model](design))


def test_the_key_follows_structure_sizes_types_code_and_versions_but_not_data_values(monkeypatch):
    base = key(meta_design())
    assert key(meta_design(yi=YI + 1.0, vi=VI * 2)) == base  # values reach the model through with_data
    assert key(meta_design(tau_prior="half_normal")) != base
    assert key(meta_design(yi=YI[:9], vi=VI[:9])) != base
    assert key(meta_design(yi=YI.astype(np.float32))) != base
    monkeypatch.setattr(compiled, "_SOURCE_HASH", "changed code")
    assert key(meta_design()) != base
    monkeypatch.undo()
    monkeypatch.setattr(compiled, "_installed_version", lambda name: "0.0" if name == "numba" else "1.0")
    assert key(meta_design()) != base


def draws(model, seed: int = 3) -> np.ndarray:
    import nutpie

    idata = nutpie.sample(model, draws=50, tune=50, chains=1, cores=1, seed=seed, progress_bar=False)
    return idata.posterior["mu"].values


@pytest.mark.slow
def test_a_model_read_back_from_disk_gives_the_same_draws(tmp_path):
    design = meta_design()
    first, first_from_disk = compiled.compile_nutpie(design, BUILDERS["meta_analysis"](design), tmp_path)
    second, second_from_disk = compiled.compile_nutpie(design, BUILDERS["meta_analysis"](design), tmp_path)
    assert (first_from_disk, second_from_disk) == (False, True)
    assert sorted(p.name.split("-")[0] for p in tmp_path.glob("*.nbi")) == ["expand_numba", "logp_numba"]
    np.testing.assert_array_equal(draws(first), draws(second))
    other = meta_design(yi=YI[::-1], vi=VI[::-1])  # same key: new data swapped into the model read back
    swapped = second.with_data(yi=other.data["yi"], vi=other.data["vi"])
    month_ago = time.time() - 31 * 86400
    for entry in tmp_path.glob("*.nb[ic]"):
        os.utime(entry, (month_ago, month_ago))
    fresh, fresh_from_disk = compiled.compile_nutpie(other, BUILDERS["meta_analysis"](other), tmp_path)
    assert fresh_from_disk
    assert min(entry.stat().st_mtime for entry in tmp_path.glob("*.nbi")) > month_ago + 86400  # marked as used
    assert compiled.prune_cache(tmp_path) == [] and len(list(tmp_path.glob("*.nbi"))) == 2
    np.testing.assert_array_equal(draws(swapped), draws(fresh))


def test_pruning_removes_the_entries_unused_for_a_month_and_nothing_else(tmp_path):
    now, month_ago = time.time(), time.time() - 31 * 86400
    ages = {"old": (month_ago, month_ago), "new": (now, now), "one_file_used": (month_ago, now)}
    for key, (index_time, data_time) in ages.items():
        for name in ("logp_numba", "expand_numba"):
            for suffix, when in ((".nbi", index_time), (".1.nbc", data_time)):
                path = tmp_path / f"{name}-{key}{suffix}"
                path.write_bytes(b"entry")
                os.utime(path, (when, when))
        (tmp_path / f"{key}.lock").touch()  # the lock file taken while compiling it
        os.utime(tmp_path / f"{key}.lock", (month_ago, month_ago))
    other = tmp_path / "another_library-old.nbi"
    other.write_bytes(b"not ours")
    os.utime(other, (month_ago, month_ago))
    assert compiled.prune_cache(tmp_path) == ["old"]
    assert sorted({p.name.split("-")[1].split(".")[0] for p in tmp_path.glob("*_numba-*")}) == ["new", "one_file_used"]
    assert other.exists()
    assert bayes.prune_cache(tmp_path, unused_days=0) == ["new", "one_file_used"]
    assert [p.name for p in tmp_path.iterdir()] == [other.name]


@pytest.mark.slow
def test_an_unwritable_folder_compiles_in_memory(tmp_path):
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    design = meta_design()
    model, from_disk = compiled.compile_nutpie(design, BUILDERS["meta_analysis"](design), blocked / "cache")
    assert not from_disk and draws(model).shape == (1, 50)


@pytest.mark.slow
def test_processes_needing_one_model_at_once_compile_it_once_and_leave_a_whole_entry(tmp_path):
    # without the key's lock both would find no entry and compile it, each for the whole time
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from test_bayes_compiled import BUILDERS, compiled, meta_design
        design = meta_design()
        print(compiled.compile_nutpie(design, BUILDERS["meta_analysis"](design), Path({str(tmp_path)!r}))[1])
    """)
    runs = [subprocess.Popen([sys.executable, "-W", "ignore", "-c", script], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True) for _ in range(2)]
    for run in runs:
        assert run.wait(timeout=600) == 0, run.stderr.read()
    assert sorted(run.stdout.read().split()[-1] for run in runs) == ["False", "True"]
    assert not list(tmp_path.glob("*.tmp.*"))
    assert sorted(p.name for p in tmp_path.glob("*.lock")) == [f"{key(meta_design())}.lock"]
    design = meta_design()
    _, from_disk = compiled.compile_nutpie(design, BUILDERS["meta_analysis"](design), tmp_path)
    assert from_disk
