"""The graph IR: a networkx DiGraph of primitive ops with shapes and costs on every node.

The printout is the documentation, as torch.fx does it (``nasblocks build SPEC --graph``)::

    graph mobilenet_v2(%x: 3×224×224):
        %features_0_0 : 32×112×112 = conv[out=32, kernel=3×3, stride=2×2](%x)  params=864 macs=10,838,016  # specs/mobilenet_v2.yaml:31
        %features_0_1 : 32×112×112 = bn(%features_0_0)  params=64  # specs/blocks.yaml:12
        ...
        return %classifier_1

Nodes are stored in the order expansion created them, which is a topological order; nothing
depends on hashing.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import networkx as nx

from nasblocks._op_args import REQUIRED, Param
from nasblocks._ops import REGISTRY
from nasblocks._shape import Shape, fmt_shape

INPUT = "x"
# Where a module sits in the spec: the block calls that lead to it, outermost first, each as the
# calling item's place (an _expand.Place) and the repeat indices around it there; then the module's
# own item and its repeat indices inside the innermost block's body (or the network). Places,
# not joined paths: a path is joined only when two networks are aligned (``_inherit``).
Calls = tuple[tuple[Any, tuple[int, ...]], ...]
Where = tuple[Calls, Any, tuple[int, ...]]


@dataclass(slots=True)
class Node:
    """One primitive op of an expanded network.

    ``target`` is the hierarchical module name (``features.3.conv.1.0``) for ops compiled as
    submodules, None for functional ops; ``scope`` is the spec item the node came from, in the
    same dotted form; ``origin`` is ``file:line`` of the YAML that produced it; ``training_only``
    marks the nodes of auxiliary heads, which run in training mode only. Treat it as read-only
    (not frozen only because frozen dataclasses are slow to create, and expansion creates many).
    """

    name: str
    op: str
    args: dict[str, Any]
    target: str | None
    scope: str
    inputs: tuple[str, ...]
    in_shapes: tuple[Shape, ...]
    out_shape: Shape
    params: int
    macs: int
    origin: str
    training_only: bool = False
    init: dict[str, Any] | None = None  # its item's own initialisation rule (``_init``)

    def set_args(self) -> dict[str, Any]:
        """The arguments that differ from the op's defaults: what the spec had to say."""
        params = REGISTRY[self.op].params
        return {k: v for k, v in self.args.items() if k not in params or not _is_default(params[k], v)}

    def describe(self) -> str:
        """One fx-style line: name, shape, op with its arguments, inputs, cost and origin."""
        shown = [f"{k}={format_arg(v)}" for k, v in self.set_args().items()]
        arglist = f"[{', '.join(shown)}]" if shown else ""
        cost = f"  params={self.params:,}" if self.params else ""
        cost += f" macs={self.macs:,}" if self.macs else ""
        inputs = ", ".join(f"%{i}" for i in self.inputs)
        return (f"%{self.name} : {fmt_shape(self.out_shape)} = {self.op}{arglist}({inputs})"
                f"{cost}  # {self.origin}")


def _is_default(param: Param, value: Any) -> bool:
    if param.default is REQUIRED:
        return False
    return value == (None if param.default is None else param.coerce(param.default))


def format_arg(value: Any) -> str:
    """An argument as printouts show it: a pair as ``3×3``."""
    if isinstance(value, tuple) and len(value) == 2:
        return f"{value[0]}×{value[1]}"
    return str(value)


class Graph:
    """An expanded network: its input shape, its nodes (in a networkx DiGraph) and its output."""

    def __init__(self, name: str, input_shape: Shape) -> None:
        self.name = name
        self.input_shape = input_shape
        self._nx: nx.DiGraph | None = None
        self.output = INPUT
        self.aux_outputs: list[tuple[int, str]] = []  # (position, node) of training-only outputs
        self.block_calls: list[str] = []  # the YAML blocks expanded, in order (nested ones too)
        self.block_scopes: set[str] = set()  # where the outermost block calls put their modules
        self.init: dict[str, dict[str, Any]] = {}  # the spec's initialisation rule per kind of layer
        # where each module sits in the spec, in the order they were named; two networks of one
        # space align by it (a list: expansion only appends, ``places`` maps them when asked)
        self.placed: list[tuple[str, Where]] = []
        self._nodes: dict[str, Node] = {}
        self._order: list[Node] = []

    def add(self, node: Node) -> None:
        self._nodes[node.name] = node
        self._order.append(node)
        self._nx = None

    def nodes_since(self, start: int) -> list[Node]:
        """The nodes added after the first ``start`` (a block's, when it has just expanded)."""
        return self._order[start:]

    @property
    def places(self) -> dict[str, Where]:
        """Where each module (by its dotted name) sits in the spec."""
        return dict(self.placed)

    def __contains__(self, name: object) -> bool:
        return name in self._nodes

    @property
    def nx(self) -> nx.DiGraph:
        """The graph as a networkx DiGraph: nodes carry ``node=Node``, edges their input
        ``position``. Made on first use, since pricing a candidate never needs it."""
        if self._nx is None:
            self._nx = nx.DiGraph()
            self._nx.add_node(INPUT)
            for node in self._nodes.values():
                self._nx.add_node(node.name, node=node)
                for position, source in enumerate(node.inputs):
                    self._nx.add_edge(source, node.name, position=position)
        return self._nx

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes.values())

    def __len__(self) -> int:
        return len(self._nodes)

    def __getitem__(self, name: str) -> Node:
        return self._nodes[name]

    def shape_of(self, name: str) -> Shape:
        return self.input_shape if name == INPUT else self._nodes[name].out_shape

    @property
    def params(self) -> int:
        return sum(n.params for n in self._nodes.values())

    @property
    def macs(self) -> int:
        """Inference multiply-adds: auxiliary heads do not run then (REFERENCE.md)."""
        return sum(n.macs for n in self._nodes.values() if not n.training_only)

    @property
    def output_shape(self) -> Shape:
        return self.shape_of(self.output)

    def users(self, name: str) -> int:
        """How many inputs of other nodes (and of the output) read ``name``."""
        return self.nx.out_degree(name) + (name == self.output)

    def blocks(self, depth: int = 2) -> list[tuple[str, Shape, int, int]]:
        """Rows (scope, output shape, params, macs) of the build table: a row per block call
        within the first ``depth`` parts of a scope (``conv1``, ``inception3a``, ``features.3``,
        ``layer1.0``), whose ops would otherwise split into rows of their own; a row per scope cut
        to ``depth`` parts for the ops outside one (``classifier.1``), and its own for an op
        without a module of its own that sits less deep (``classifier_flatten``, not a row
        ``classifier`` beside ``classifier.1``)."""
        rows: dict[str, list[Any]] = {}
        for node in self._nodes.values():
            parts = node.scope.split(".")
            cuts = [".".join(parts[:length]) for length in range(1, depth + 1)]
            own = cuts[-1] if node.target is not None or len(parts) >= depth else ""
            key = next((cut for cut in cuts if cut in self.block_scopes), own) or node.name
            row = rows.setdefault(key, [key, node.out_shape, 0, 0])
            macs = 0 if node.training_only else node.macs
            row[1], row[2], row[3] = node.out_shape, row[2] + node.params, row[3] + macs
        return [tuple(r) for r in rows.values()]  # type: ignore[misc]

    def lint(self) -> None:
        """Check the invariants compile relies on; raise AssertionError saying what broke."""
        seen = {INPUT}
        for node in self._nodes.values():
            missing = [i for i in node.inputs if i not in seen]
            assert not missing, f"{node.name} reads {missing} before they are defined; check expansion order"
            assert node.op in REGISTRY, f"{node.name} has unknown op {node.op!r}"
            seen.add(node.name)
        assert self.output in seen, f"output {self.output!r} is not a node"
        assert nx.is_directed_acyclic_graph(self.nx), "the graph has a cycle"

    def __repr__(self) -> str:
        return (f"<Graph {self.name}: {fmt_shape(self.input_shape)} → {fmt_shape(self.output_shape)}, "
                f"{len(self)} ops, {self.params:,} params, {self.macs:,} MACs; print() it for one line per op>")

    def __str__(self) -> str:
        lines = [f"graph {self.name}(%{INPUT}: {fmt_shape(self.input_shape)}):"]
        lines += [f"    {node.describe()}" for node in self._nodes.values()]
        aux = "".join(f", %{name}" for _, name in sorted(self.aux_outputs))
        lines.append(f"    return %{self.output}" + (f"  # training: (%{self.output}{aux})" if aux else ""))
        return "\n".join(lines)
