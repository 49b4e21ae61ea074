"""The picture without Graphviz, laid out in layers as dot lays a graph out, with networkx and
matplotlib.

Each box sits one layer below the last of its inputs (``nx.topological_generations``), and an
edge that spans several layers passes a waypoint in each layer between (so a residual's skip
runs beside the blocks it skips, not behind them); ``nx.multipartite_layout`` sets each layer's
boxes and waypoints side by side. Boxes are measured before they are placed, so each layer is
as wide and as tall as its own boxes need and no two boxes overlap, however many there are. An
edge's shape is written where it touches no box and no other label, and left out where it would.

Plainer than dot's drawing: straight edges in the input's order, and no cluster frames; each box
names the place it sits at instead (``inception3a.branch2``).
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import IO

import networkx as nx
import numpy as np
from matplotlib import rc_context
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.patches import FancyArrowPatch
from matplotlib.path import Path
from matplotlib.text import Text
from matplotlib.transforms import Bbox

from nasblocks._viz import Picture, fills, is_dark

FONT = 6.0        # points, the boxes' text; edge labels are smaller
PAD = 0.3         # a box's padding around its text, in font sizes (matplotlib's boxstyle pad)
SIDE_GAP = 0.2    # inches between two boxes of a layer
LAYER_GAP = 0.3   # inches between a layer and the next: the edges and their labels
DPI = 150
MAX_PIXELS = 30_000  # a side; Agg refuses 2**16, and a PNG that tall is no use to anyone

Route = list[Hashable]


def _layers(pic: Picture) -> tuple[list[list[Hashable]], dict[tuple[str, str], Route]]:
    """The boxes by layer, input first, each layer in the picture's order with a waypoint for
    every edge that passes it; and each edge's route: its tail, its waypoints, its head."""
    graph = nx.DiGraph(list(pic.edges))
    graph.add_nodes_from(pic.boxes)
    layer_of = {name: depth for depth, layer in enumerate(nx.topological_generations(graph)) for name in layer}
    order = {name: (index,) for index, name in enumerate(pic.boxes)}
    routes: dict[tuple[str, str], Route] = {}
    for tail, head in pic.edges:
        waypoints = [(tail, head, depth) for depth in range(layer_of[tail] + 1, layer_of[head])]
        routes[tail, head] = [tail, *waypoints, head]
        for waypoint in waypoints:  # beside its tail's descendants: where the line comes from
            layer_of[waypoint] = waypoint[2]
            order[waypoint] = (order[tail][0], order[head][0])
    layers: list[list[Hashable]] = [[] for _ in range(max(layer_of.values()) + 1)]
    for item in sorted(layer_of, key=order.__getitem__):
        layers[layer_of[item]].append(item)
    return layers, routes


def _texts(fig: Figure, pic: Picture) -> tuple[Text, dict[str, Text]]:
    """The title and the boxes, as matplotlib texts in their bounding boxes, not yet placed."""
    colour = fills(pic)
    boxes = {}
    for name, box in pic.boxes.items():
        named = box.place in ("", box.lines[0].partition(":")[0])  # a block, or "head: linear" at the top
        fill = colour.get(name, "white")
        boxes[name] = fig.text(0, 0, "\n".join(box.lines if named else [box.place, *box.lines]),
                               ha="center", va="center", fontsize=FONT,
                               color="white" if name in colour and is_dark(fill) else "black",
                               bbox={"boxstyle": f"round,pad={PAD}", "facecolor": fill, "edgecolor": "grey",
                                     "linestyle": "--" if box.training_only else "-"})
    title = fig.text(0, 0, "\n".join(filter(None, [pic.title, pic.shading])), ha="center", va="bottom",
                     fontsize=FONT + 2)
    return title, boxes


def _placed(layers: list[list[Hashable]], size: dict[Hashable, tuple[float, float]]
            ) -> tuple[dict[Hashable, tuple[float, float]], dict[Hashable, float], float]:
    """Where each box and waypoint sits (inches, the top layer's top at 0), the middle of the
    space below each one's layer (where its edges' labels go), and the bottom layer's bottom.
    Each layer is as tall as its tallest box; the columns are as wide as the widest."""
    graph = nx.Graph()
    graph.add_nodes_from(item for layer in layers for item in layer)
    grid = nx.multipartite_layout(graph, subset_key=dict(enumerate(layers)), align="horizontal")
    unit = grid[layers[1][0]][1] - grid[layers[0][0]][1] if len(layers) > 1 else 1.0  # the layout's scale
    pitch = max(width for width, _ in size.values()) + SIDE_GAP
    xy: dict[Hashable, tuple[float, float]] = {}
    gap_below: dict[Hashable, float] = {}
    top = 0.0
    for layer in layers:
        height = max(size.get(item, (0, 0))[1] for item in layer)
        xy.update((item, (grid[item][0] / unit * pitch, top - height / 2)) for item in layer)
        top -= height + LAYER_GAP
        gap_below.update((item, top + LAYER_GAP / 2) for item in layer)
    return xy, gap_below, top + LAYER_GAP


def figure(pic: Picture) -> Figure:
    """``pic`` drawn on a matplotlib figure sized to its layers, in axes whose unit is an inch."""
    fig = Figure(dpi=DPI)
    renderer = FigureCanvasAgg(fig).get_renderer()
    title, boxes = _texts(fig, pic)
    pad = 2 * PAD * FONT / 72
    size = {name: (extent.width / DPI + pad, extent.height / DPI + pad)
            for name, extent in ((name, text.get_window_extent(renderer)) for name, text in boxes.items())}
    layers, routes = _layers(pic)
    xy, gap_below, bottom = _placed(layers, size)

    heading = title.get_window_extent(renderer)
    half = max(heading.width / DPI / 2, *(abs(xy[name][0]) + width / 2 for name, (width, _) in size.items()))
    rise = heading.height / DPI + 0.2
    fig.set_size_inches(2 * half + 0.2, rise - bottom + 0.1)
    fig.set_dpi(min(DPI, MAX_PIXELS / max(fig.get_size_inches())))
    ax = fig.add_axes((0, 0, 1, 1), xlim=(-half - 0.1, half + 0.1), ylim=(bottom - 0.1, rise))
    ax.set_axis_off()
    for text, at in [(title, (0, 0.1)), *((boxes[name], xy[name]) for name in boxes)]:
        text.remove()
        ax.add_artist(text)
        text.set(transform=ax.transData, position=at)

    labels = []
    for (tail, head), route in routes.items():
        points = [(xy[tail][0], xy[tail][1] - size[tail][1] / 2), *map(xy.__getitem__, route[1:-1]),
                  (xy[head][0], xy[head][1] + size[head][1] / 2)]  # from the tail's bottom to the head's top
        ax.add_patch(FancyArrowPatch(path=Path(points), arrowstyle="-|>", mutation_scale=6,
                                     linewidth=0.6, color="grey"))
        (x0, y0), (x1, y1), y = *points[:2], gap_below[tail]
        labels.append(ax.text(x0 + (x1 - x0) * (y - y0) / (y1 - y0), y, ", ".join(pic.edges[tail, head]),
                              ha="center", va="center", fontsize=FONT - 1.5, color="dimgrey",
                              bbox={"boxstyle": "square,pad=0.1", "facecolor": "white", "linewidth": 0}))
    _keep_labels_with_room(fig, [Bbox.from_bounds(xy[name][0] - width / 2, xy[name][1] - height / 2, width, height)
                                 .transformed(ax.transData) for name, (width, height) in size.items()], labels)
    return fig


def _keep_labels_with_room(fig: Figure, taken: list[Bbox], labels: list[Text]) -> None:
    """Remove each edge label that would cover a box (``taken``, in pixels) or a label kept before it.

    The boxes' extents are compared at once as an array (Bbox.overlaps one pair at a time took
    minutes for a network of a few thousand ops)."""
    renderer = fig.canvas.get_renderer()
    kept = np.empty((len(taken) + len(labels), 4))
    kept[:len(taken)] = [box.extents for box in taken]
    count = len(taken)
    for label in labels:
        x0, y0, x1, y1 = label.get_window_extent(renderer).extents
        others = kept[:count]
        if np.any((others[:, 0] <= x1) & (x0 <= others[:, 2]) & (others[:, 1] <= y1) & (y0 <= others[:, 3])):
            label.remove()
        else:
            kept[count] = x0, y0, x1, y1
            count += 1


def draw_matplotlib(pic: Picture, file: IO[bytes], fmt: str) -> None:
    """Write ``pic`` to ``file`` as ``fmt`` (svg, png or pdf)."""
    with rc_context({"svg.fonttype": "none"}):  # text stays text: searchable, and smaller
        figure(pic).savefig(file, format=fmt)
