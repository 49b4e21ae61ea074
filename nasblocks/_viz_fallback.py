"""The picture without Graphviz: networkx lays the boxes out in layers — each box one layer
below the last of its inputs (``nx.topological_generations``) — and matplotlib draws them.

Plainer than dot's drawing: straight edges, and no cluster frames; each box names the place it
sits at instead (``inception3a.branch2``).
"""

from __future__ import annotations

from typing import IO

import networkx as nx
from matplotlib import rc_context
from matplotlib.figure import Figure

from nasblocks._viz import Picture, fills, is_dark


def draw_matplotlib(pic: Picture, file: IO[bytes], fmt: str) -> None:
    """Write ``pic`` to ``file`` as ``fmt`` (svg, png or pdf)."""
    graph = nx.DiGraph()
    graph.add_nodes_from(pic.boxes)
    graph.add_edges_from(pic.edges)
    layers = list(nx.topological_generations(graph))
    for depth, layer in enumerate(layers):
        for name in layer:
            graph.nodes[name]["layer"] = -depth  # the input on top
    pos = nx.multipartite_layout(graph, subset_key="layer", align="horizontal", scale=1.0)
    widest = max(len(layer) for layer in layers)
    figure = Figure(figsize=(min(2.0 + 1.6 * widest, 60), min(1.0 + 0.75 * len(layers), 200)))
    ax = figure.add_subplot()
    ax.set_axis_off()
    ax.set_title("\n".join(filter(None, [pic.title, pic.shading])), fontsize=9)
    nx.draw_networkx_edges(graph, pos, ax=ax, arrowsize=6, width=0.6, edge_color="grey", node_size=900)
    nx.draw_networkx_edge_labels(graph, pos, ax=ax, font_size=4, rotate=False,
                                 edge_labels={pair: ", ".join(labels) for pair, labels in pic.edges.items()})
    colour = fills(pic)
    for name, box in pic.boxes.items():
        named = box.place in ("", box.lines[0].partition(":")[0])  # a block, or "head: linear" at the top
        lines = box.lines if named else [box.place, *box.lines]
        fill = colour.get(name, "white")
        ax.text(*pos[name], "\n".join(lines), ha="center", va="center", fontsize=5,
                color="white" if name in colour and is_dark(fill) else "black",
                bbox={"boxstyle": "round,pad=0.3", "facecolor": fill, "edgecolor": "grey",
                      "linestyle": "--" if box.training_only else "-"})
    with rc_context({"svg.fonttype": "none"}):  # text stays text: searchable, and smaller
        figure.savefig(file, format=fmt, bbox_inches="tight", dpi=150)
