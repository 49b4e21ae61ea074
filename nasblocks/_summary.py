"""``nasblocks build SPEC --summary``: torchinfo's layer table, read off the graph IR.

One row per module down to a depth of the hierarchical names, indented as a tree, with its
output shape, parameters and multiply-adds (a block's are its ops' sums), then the totals —
no forward pass, so it costs milliseconds for any input size::

    layer                 op                                  output       params   MACs
    ├─ features                                               1280×7×7  2,223,872   ...
    │  ├─ 0               3 ops                               32×112×112      928   ...
    │  │  ├─ 0            conv out=32 kernel=3×3 stride=2×2   32×112×112      864   ...

An op without a module of its own (a functional relu, an add) sits under its block as a row
named by its op.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rich.filesize import decimal
from rich.table import Table

from nasblocks._graph import Graph, Node
from nasblocks._shape import Shape, fmt_shape
from nasblocks._viz import place_path, shown_args, si


@dataclass(frozen=True)
class Row:
    """One line of the summary."""

    level: int          # 1 for the network's top-level items
    name: str           # the module's dotted name, or the IR node's name for an op without one
    label: str          # the tree glyphs and the last part of the name
    op: str             # an op and its arguments, or a block's op count
    shape: Shape
    params: int
    macs: int


@dataclass
class _Entry:
    name: str
    label: str
    nodes: list[Node] = field(default_factory=list)
    children: dict[str, _Entry] = field(default_factory=dict)


def _tree(graph: Graph) -> _Entry:
    """The modules and nameless ops as a tree, each entry holding the nodes below it."""
    root = _Entry("", "")
    for node in graph:
        entry = root
        path = place_path(node)
        for name in path:
            own = node.target is None and name == path[-1]  # an op without a module, named by its op
            entry = entry.children.setdefault(name, _Entry(name, node.op if own else name.rpartition(".")[2]))
            entry.nodes.append(node)
    return root


def summary_rows(graph: Graph, depth: int = 3) -> list[Row]:
    """The rows down to ``depth`` (1: the top-level items), in graph order."""
    rows: list[Row] = []

    def walk(entry: _Entry, level: int, indent: str) -> None:
        children = list(entry.children.values())
        for index, child in enumerate(children):
            last = index == len(children) - 1
            nodes = child.nodes
            single = len(nodes) == 1 and not child.children
            op = f"{nodes[0].op} {shown_args(nodes[0])}".strip() if single else f"{len(nodes)} ops"
            if all(n.training_only for n in nodes):
                op += " (training only)"
            rows.append(Row(level, child.name, indent + ("└─ " if last else "├─ ") + child.label, op,
                            nodes[-1].out_shape, sum(n.params for n in nodes),
                            sum(n.macs for n in nodes if not n.training_only)))
            if level < depth:
                walk(child, level + 1, indent + ("   " if last else "│  "))

    walk(_tree(graph), 1, "")
    return rows


def summary_table(graph: Graph, depth: int = 3, title: str = "") -> Table:
    """The rows as a rich Table, with the totals and what they come to in memory."""
    table = Table(title=title or graph.name, caption=(
        f"input {fmt_shape(graph.input_shape)} · {graph.params:,} parameters "
        f"({decimal(graph.params * 4)} as fp32) · {graph.macs:,} multiply-adds "
        f"(= {si(2 * graph.macs)} FLOPs counting multiply and add separately)"),
        caption_justify="left")
    table.add_column("layer", no_wrap=True)  # the tree's glyphs hold spaces; the other cells wrap only the header
    table.add_column("op")
    table.add_column("output", justify="right")
    table.add_column("params", justify="right")
    table.add_column("MACs (multiply-adds)", justify="right")
    for row in summary_rows(graph, depth):
        table.add_row(row.label, row.op, fmt_shape(row.shape), f"{row.params:,}", f"{row.macs:,}")
    table.add_section()
    table.add_row("total", f"{len(graph)} ops", fmt_shape(graph.output_shape), f"{graph.params:,}",
                  f"{graph.macs:,}", style="bold")
    return table
