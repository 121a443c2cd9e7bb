"""Project set-up: pyproject, the lock, environment.yml and this environment agree; CI and README say the two commands."""

import importlib.metadata
import re
import sysconfig
import tomllib
from pathlib import Path

import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]


LOCK = ROOT / "requirements.lock"
#: Installed beside the lock's packages: this package itself and the tools that install it.
NOT_LOCKED = {"analysis", "pip", "uv"}


def locked_versions() -> dict[str, str]:
    """``{name: version}`` of every ``name==version`` line of requirements.lock."""
    pins = re.findall(r"^([A-Za-z0-9_.\-]+)==(\S+)", LOCK.read_text(), flags=re.M)
    return {canonicalize_name(name): version for name, version in pins}


def test_the_lock_pins_every_requirement_of_pyproject_within_its_range():
    """Fails when pyproject.toml changed and `make lock` was not run."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pins = locked_versions()
    for spec in project["dependencies"] + sum(project["optional-dependencies"].values(), []):
        requirement = Requirement(spec)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not in requirements.lock: run make lock"
        assert requirement.specifier.contains(pins[name]), f"{name}=={pins[name]} is outside {spec}"
    assert re.search(r"^#\s+make lock$", LOCK.read_text(), flags=re.M)


def test_installed_versions_are_the_locks_pins():
    """`make install` synced this environment to the lock: nothing missing, nothing else, same versions.

    `make test-latest` deselects this test: its environment holds the newest versions instead.
    """
    # the environment's site-packages only: once PyTensor has compiled C code in this process, setuptools
    # has put its _vendor folder (its own importlib-metadata, packaging, zipp, ...) on sys.path
    import setuptools  # noqa: F401  (as PyTensor's C compilation does: the check holds in any order)

    site = sorted({sysconfig.get_path("purelib"), sysconfig.get_path("platlib")})
    installed = {canonicalize_name(dist.metadata["Name"]): dist.version
                 for dist in importlib.metadata.distributions(path=site)}
    for name in NOT_LOCKED:
        installed.pop(name, None)
    assert installed == locked_versions(), "this environment is not the lock's: run make install"


def test_environment_yml_installs_the_lock_on_its_python():
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda, pip = env["dependencies"][:-1], env["dependencies"][-1]["pip"]
    assert conda == ["python=3.11", "pip"]
    assert pip == ["-r requirements.lock", "-e ."]
    assert "--python-version 3.11" in (ROOT / "Makefile").read_text()


def test_ci_runs_make_test_and_readme_quick_start_has_two_commands():
    assert "make test" in (ROOT / ".ci" / "run").read_text()
    readme = (ROOT / "README.md").read_text()
    quick = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    commands = re.findall(r"^(?:\$ )?(make \w+)\s*$", quick, flags=re.M)
    assert commands == ["make report", "make test"]


def test_console_script_points_at_main():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    assert project["scripts"] == {"analysis": "analysis.cli:main"}


def test_every_module_of_the_package_imports():
    """A module that imports a name another module no longer has fails here, not in a report."""
    import importlib
    import pkgutil

    import analysis

    names = [info.name for info in pkgutil.walk_packages(analysis.__path__, "analysis.")]
    assert {"analysis.plots.mixed", "analysis.mixed.sparse", "analysis.io.frames"} <= set(names)
    for name in names:
        importlib.import_module(name)
