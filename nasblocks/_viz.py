"""Pictures of the graph IR: Graphviz's ``dot`` where it is installed, matplotlib where not.

    nasblocks viz specs/googlenet.yaml -o googlenet.svg             # every op, blocks as clusters
    nasblocks viz specs/googlenet.yaml --depth 1 -o googlenet.png   # top-level blocks as boxes
    nasblocks viz mobilenet_v2 --color macs -o mbv2.svg             # shaded by multiply-adds

A :class:`Picture` is what both renderers draw: boxes (one per op, or one per block collapsed at
``depth`` — the rows of ``nasblocks build --summary``), edges labelled with the shapes of the
tensors they carry, and clusters: the hierarchical names (``features.3.conv``) that hold two or
more boxes, nested as the names are.
"""

from __future__ import annotations

import shutil
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from nasblocks._graph import INPUT, Graph, Node, format_arg
from nasblocks._output import OutputError, check_writable, format_of, write_bytes, write_saved
from nasblocks._shape import fmt_shape

if TYPE_CHECKING:
    import graphviz

FORMATS = ("svg", "png", "pdf", "dot")
COLORS = ("macs", "latency")
DOT_MISSING = ("Graphviz's dot is not on PATH (Debian/Ubuntu: apt-get install graphviz); "
               "drew the picture with networkx and matplotlib instead")


@dataclass
class Box:
    """One box of a picture: an op of the IR, or a block collapsed into one box."""

    id: str
    place: str                   # the dotted name it sits at; clusters are its prefixes
    lines: list[str]             # the label, title first
    params: int = 0
    macs: int = 0
    ops: int = 1
    training_only: bool = False
    tooltip: str = ""
    cluster: str | None = None   # the innermost cluster holding it
    value: float = 0.0           # what the shading shows: multiply-adds or milliseconds


@dataclass
class Picture:
    """A graph ready to draw: its boxes, shape-labelled edges, clusters and shading."""

    title: str
    boxes: dict[str, Box]
    edges: dict[tuple[str, str], list[str]]
    clusters: dict[str, str | None]     # each cluster's parent cluster, parents first
    shading: str | None = None          # the legend, when shaded


def si(number: float) -> str:
    """12,345,678 → '12.3 M': the figures a label has room for."""
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(number) >= scale:
            return f"{number / scale:.3g} {unit}"
    return f"{number:.3g}"


def _cost_line(params: int, macs: int) -> list[str]:
    parts = ([f"{si(macs)} MACs"] if macs else []) + ([f"{si(params)} params"] if params else [])
    return [" · ".join(parts)] if parts else []


def shown_args(node: Node) -> str:
    """``out=32 kernel=3×3 stride=2×2``: the arguments that differ from the op's defaults."""
    return " ".join(f"{k}={format_arg(v)}" for k, v in node.set_args().items())


def _op_box(node: Node) -> Box:
    macs = 0 if node.training_only else node.macs
    local = node.target.rpartition(".")[2] if node.target else node.op  # a functional op has no name
    title = node.op if local == node.op else f"{local}: {node.op}"
    lines = [title, *filter(None, [shown_args(node)]), fmt_shape(node.out_shape), *_cost_line(node.params, macs)]
    return Box(node.name, node.scope, lines, node.params, macs,
               training_only=node.training_only, tooltip=node.describe())


def _block_box(key: str, nodes: list[Node]) -> Box:
    params = sum(n.params for n in nodes)
    macs = sum(n.macs for n in nodes if not n.training_only)
    lines = [key, f"{len(nodes)} ops", fmt_shape(nodes[-1].out_shape), *_cost_line(params, macs)]
    training = all(n.training_only for n in nodes)
    return Box(key, key, lines, params, macs, len(nodes), training,
               tooltip=f"{key}: {len(nodes)} ops, {params:,} params, {macs:,} multiply-adds")


def place_path(node: Node) -> list[str]:
    """The rows of ``build --summary`` that hold ``node``, outermost first: its scope's dotted
    prefixes (``layer1``, ``layer1.0``), then the node itself where it has no module of its own
    (a functional relu, an add): such an op sits one level below its block."""
    return _prefixes(node.scope) + ([node.name] if node.target is None else [])


def _box_key(node: Node, depth: int | None) -> str:
    """The box ``node`` is drawn in: the row holding it at ``depth``, or its own box where its
    place is no deeper — so two functional ops never merge into a box bearing their block's name."""
    path = place_path(node)
    return path[depth - 1] if depth is not None and len(path) > depth else node.name


def picture(graph: Graph, depth: int | None = None, color: str | None = None, device: str = "cpu") -> Picture:
    """The picture of ``graph``: every op, or with ``depth`` the blocks below that depth
    collapsed into one box each (``depth=1``: one box per top-level item); ``color`` shades the
    boxes by multiply-adds ("macs") or by latency predicted for ``device`` ("latency")."""
    if color is not None and color not in COLORS:
        raise OutputError(f"--color {color!r}: expected one of {', '.join(COLORS)}")
    groups: dict[str, list[Node]] = {}
    for node in graph:
        groups.setdefault(_box_key(node, depth), []).append(node)
    boxes = {INPUT: Box(INPUT, "", ["input", fmt_shape(graph.input_shape)])}
    box_of = {INPUT: INPUT}
    for key, nodes in groups.items():
        box = _op_box(nodes[0]) if len(nodes) == 1 else _block_box(key, nodes)
        boxes[box.id] = box
        box_of.update((n.name, box.id) for n in nodes)
    edges: dict[tuple[str, str], list[str]] = {}
    for node in graph:
        for source in node.inputs:
            pair = (box_of[source], box_of[node.name])
            label = fmt_shape(graph.shape_of(source))
            if pair[0] != pair[1] and label not in edges.setdefault(pair, []):
                edges[pair].append(label)
    title = (f"{graph.name}: {fmt_shape(graph.input_shape)} → {fmt_shape(graph.output_shape)} · "
             f"{si(graph.params)} params · {si(graph.macs)} multiply-adds")
    pic = Picture(title, boxes, edges, _clusters(boxes.values()))
    if color is not None:
        values = node_latency(graph, device) if color == "latency" else {n.name: n.macs for n in graph}
        for node in graph:
            if not node.training_only:
                boxes[box_of[node.name]].value += values.get(node.name, 0.0)
        top = max(box.value for box in boxes.values())
        pic.shading = (f"shaded by predicted {device} latency (log scale; darkest {top:.3g} ms)"
                       if color == "latency" else f"shaded by multiply-adds (log scale; darkest {si(top)})")
    return pic


def _prefixes(place: str) -> list[str]:
    parts = place.split(".") if place else []
    return [".".join(parts[:end]) for end in range(1, len(parts) + 1)]


def _clusters(boxes: Iterable[Box]) -> dict[str, str | None]:
    """The names holding two or more boxes, each with its parent; sets each box's cluster."""
    boxes = list(boxes)
    under = Counter(prefix for box in boxes for prefix in _prefixes(box.place))
    clusters = [prefix for prefix, count in under.items() if count >= 2]
    clusters.sort(key=lambda name: name.count("."))

    def innermost(place: str) -> str | None:
        return next((p for p in reversed(_prefixes(place)) if under[p] >= 2), None)

    for box in boxes:
        box.cluster = innermost(box.place)
    return {name: innermost(name.rpartition(".")[0]) for name in clusters}


def node_latency(graph: Graph, device: str = "cpu") -> dict[str, float]:
    """Predicted milliseconds per node, from ``device``'s latency table (units missing from it
    are measured now and kept). A fused unit (conv → bn → relu) runs as one kernel, so its
    time is the first node's and the rest show none."""
    from nasblocks._latency_table import predict_detail
    from nasblocks._latency_units import units

    prediction = predict_detail(graph, device)
    return {unit[0].name: share.ms for unit, share in zip(units(graph), prediction.units)}


def fills(pic: Picture) -> dict[str, str]:
    """Hex fill colours of the shaded boxes (those with a value above 0), on a log scale:
    costs span orders of magnitude, and a linear scale would leave all but a few boxes white."""
    from matplotlib import colormaps
    from matplotlib.colors import LogNorm, to_hex

    values = {key: box.value for key, box in pic.boxes.items() if box.value > 0}
    if pic.shading is None or not values:
        return {}
    norm = LogNorm(min(values.values()), max(values.values()), clip=True)
    cmap = colormaps["YlOrRd"]
    return {key: to_hex(cmap(0.1 + 0.85 * float(norm(value)))) for key, value in values.items()}


def is_dark(colour: str) -> bool:
    from matplotlib.colors import to_rgb

    red, green, blue = to_rgb(colour)
    return 0.299 * red + 0.587 * green + 0.114 * blue < 0.5


def to_dot(pic: Picture) -> graphviz.Digraph:
    """The picture as a Graphviz digraph: clusters as nested ``cluster_*`` subgraphs."""
    import graphviz

    colour = fills(pic)
    dot = graphviz.Digraph(
        "network", graph_attr={"label": "\n".join(filter(None, [pic.title, pic.shading])), "labelloc": "t",
                               "fontname": "Helvetica", "fontsize": "12", "rankdir": "TB", "nodesep": "0.2",
                               "ranksep": "0.3"},
        node_attr={"shape": "box", "style": "rounded,filled", "fillcolor": "white", "fontname": "Helvetica",
                   "fontsize": "9", "margin": "0.08,0.03"},
        edge_attr={"fontname": "Helvetica", "fontsize": "7", "arrowsize": "0.5"})
    children: dict[str | None, list[str]] = {}
    for cluster, parent in pic.clusters.items():
        children.setdefault(parent, []).append(cluster)
    members: dict[str | None, list[Box]] = {}
    for box in pic.boxes.values():
        members.setdefault(box.cluster, []).append(box)

    def fill(graph: graphviz.Digraph, cluster: str | None) -> None:
        for child in children.get(cluster, []):
            with graph.subgraph(name=f"cluster_{child}") as sub:
                sub.attr(label=child, style="rounded", color="grey60", fontsize="9", labeljust="l")
                fill(sub, child)
        for box in members.get(cluster, []):
            style = "rounded,filled,dashed" if box.training_only else "rounded,filled"
            extra = {"fillcolor": colour[box.id]} if box.id in colour else {}
            if box.id in colour and is_dark(colour[box.id]):
                extra["fontcolor"] = "white"
            graph.node(box.id, "\n".join(box.lines), tooltip=box.tooltip or box.id, style=style, **extra)

    fill(dot, None)
    for (tail, head), labels in pic.edges.items():
        dot.edge(tail, head, label=" " + ", ".join(labels))
    return dot


def _laid_out(pic: Picture, path: Path, fmt: str) -> bytes:
    """The picture as ``dot`` draws it; dot's own failure (its known "trouble in init_rank" on
    some clusterings, a crash, a kill) is one line with what dot said and a way round it.

    The source goes in as one block of bytes (``graphviz.pipe``), through ``communicate``, which
    lets dot exit without reading it all; ``Digraph.pipe`` writes it line by line and raised a
    BrokenPipeError (click's silent exit status 1) when dot failed early."""
    import graphviz

    dot = to_dot(pic)
    try:
        return graphviz.pipe(dot.engine, fmt, dot.source.encode(dot.encoding), quiet=True)
    except graphviz.CalledProcessError as err:
        said = (err.stderr or b"").decode(errors="replace").strip().splitlines()
        raise OutputError(f"{path}: Graphviz's dot failed ({said[0] if said else f'exit status {err.returncode}'}); "
                          "write the source instead (-o NAME.dot), or draw fewer boxes (--depth)") from None


def draw(graph: Graph, path: Path, fmt: str | None = None, depth: int | None = None, color: str | None = None,
         device: str = "cpu") -> tuple[Picture, str]:
    """Write the :func:`picture` of ``graph`` to ``path`` — svg, png, pdf or dot source, by
    default what the suffix names — and return it with what drew it: "dot", or "matplotlib"
    where Graphviz's dot is not installed (the DOT source needs no program). The format and
    the path are checked first: one that cannot be written is an OutputError before any
    latency is measured or anything laid out."""
    fmt = format_of(path, fmt, FORMATS)
    check_writable(path)
    pic = picture(graph, depth, color, device)
    return pic, _render(pic, path, fmt)


def _render(pic: Picture, path: Path, fmt: str) -> str:
    if fmt == "dot" or shutil.which("dot"):
        drawn = to_dot(pic).source.encode() if fmt == "dot" else _laid_out(pic, path, fmt)
        write_bytes(path, drawn)
        return "dot"
    from nasblocks._viz_fallback import draw_matplotlib

    write_saved(path, lambda file: draw_matplotlib(pic, file, fmt))  # into memory: an OSError is the write's
    return "matplotlib"
