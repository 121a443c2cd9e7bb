"""Figures shared by the notebooks (seaborn/matplotlib), one submodule per analysis family.

Computation lives in the analysis modules; every function here takes their plain
result objects or tables and returns a matplotlib ``Figure`` so that notebooks can
show it and tests can inspect it. The data-quality figures are importable from
``analysis.plots`` directly; the others from their family's submodule, e.g.
``analysis.plots.mixed``.
"""

from .data import item_distributions, retention, total_distributions, trajectories

__all__ = ["trajectories", "retention", "item_distributions", "total_distributions"]
