"""Path diagrams: boxes for observed variables, ellipses for latent ones, labelled arrows.

The mediation and cross-lagged figures (:mod:`analysis.plots.mediation`,
:mod:`analysis.plots.panel`) lay out their nodes and edges and draw them here.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
from matplotlib.patches import Ellipse, FancyArrowPatch, FancyBboxPatch

__all__ = ["Node", "Edge", "draw"]

BOX_WIDTH, BOX_HEIGHT = 0.16, 0.09


@dataclass(frozen=True)
class Node:
    """A variable at (x, y) in axes coordinates; ``latent`` draws an ellipse; ``width`` in axes units."""

    name: str
    x: float
    y: float
    label: str
    latent: bool = False
    width: float = BOX_WIDTH


@dataclass(frozen=True)
class Edge:
    """An arrow from ``source`` to ``target``; ``both`` heads for a covariance.

    ``strong`` draws it solid and thick (e.g. an interval excluding 0), otherwise
    thin and dashed; ``bend`` curves it (radians of the arc, 0 straight); the label
    sits at ``position`` (0 at the source, 1 at the target), shifted by ``offset``.
    """

    source: str
    target: str
    label: str = ""
    both: bool = False
    strong: bool = True
    bend: float = 0.0
    position: float = 0.5
    offset: tuple = (0.0, 0.03)


def draw(nodes: list[Node], edges: list[Edge], title: str = "", size: tuple = (7, 4),
         note: str = "") -> plt.Figure:
    """Draw a path diagram and return its figure.

    Parameters
    ----------
    nodes : list of Node
    edges : list of Edge
        ``source`` and ``target`` name nodes.
    title : str
    size : (width, height) in inches
    note : str
        Text under the diagram (e.g. what the numbers are).
    """
    fig, ax = plt.subplots(figsize=size)
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.axis("off")
    where = {node.name: node for node in nodes}
    for node in nodes:
        if node.latent:
            ax.add_patch(Ellipse((node.x, node.y), node.width, BOX_HEIGHT * 1.3, facecolor="#f3f3f3",
                                 edgecolor="black"))
        else:
            ax.add_patch(FancyBboxPatch((node.x - node.width / 2, node.y - BOX_HEIGHT / 2), node.width,
                                        BOX_HEIGHT, boxstyle="round,pad=0.01", facecolor="#e8f0fb",
                                        edgecolor="black"))
        ax.text(node.x, node.y, node.label, ha="center", va="center", fontsize=9)
    for edge in edges:
        source, target = where[edge.source], where[edge.target]
        arrow = FancyArrowPatch(_border(source, target), _border(target, source),
                                arrowstyle="<|-|>" if edge.both else "-|>", mutation_scale=12,
                                connectionstyle=f"arc3,rad={edge.bend}", shrinkA=2, shrinkB=2,
                                lw=1.6 if edge.strong else 0.9, ls="-" if edge.strong else "--",
                                color="black" if edge.strong else "0.35")
        ax.add_patch(arrow)
        if edge.label:
            x = source.x + edge.position * (target.x - source.x) + edge.offset[0]
            y = source.y + edge.position * (target.y - source.y) + edge.offset[1]
            ax.text(x, y, edge.label, ha="center", va="center", fontsize=8,
                    bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.85, "pad": 1})
    if title:
        ax.set_title(title)
    if note:
        ax.text(0.5, 0.01, note, ha="center", va="bottom", fontsize=8, color="0.3", wrap=True)
    fig.tight_layout()
    return fig


def _border(node: Node, toward: Node) -> tuple[float, float]:
    """Where the line from ``node`` to ``toward`` leaves the node's box (ellipses: its bounding box)."""
    dx, dy = toward.x - node.x, toward.y - node.y
    half_height = BOX_HEIGHT * (0.65 if node.latent else 0.5) + 0.01
    scale = min(node.width / 2 / abs(dx) if dx else float("inf"), half_height / abs(dy) if dy else float("inf"))
    return node.x + scale * dx, node.y + scale * dy
