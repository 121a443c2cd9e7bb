"""Project set-up: pyproject and environment.yml agree; CI and README say the two commands."""

import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def requirement(spec: str) -> tuple[str, str]:
    name, version = re.match(r"^\s*([A-Za-z0-9_.\-]+)\s*(.*)$", spec).groups()
    return name.lower().replace("_", "-"), version.replace(" ", "")


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    pip_side = dict(requirement(s) for s in project["dependencies"] + project["optional-dependencies"]["dev"])
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    conda_side = dict(requirement(s) for s in env["dependencies"] if isinstance(s, str))
    conda_side.pop("python")
    conda_side.pop("pip")
    assert conda_side == pip_side


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
