"""A cache of expanded blocks, so pricing a candidate costs a lookup per block, not a walk.

A block's expansion depends only on its definition, its resolved arguments and its input shape
(a block body sees nothing else), so its nodes can be recorded once, relative to the block's
scope, and replayed under any other name. A search re-expands the same blocks thousands of
times with a few argument values; MobileNetV2 repeats each stage's block with equal arguments.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nasblocks._graph import Calls, Graph, Node, Where

MAX_ENTRIES = 4096
_LEGAL = re.compile(r"[^0-9A-Za-z_]")


def node_base(dotted: str) -> str:
    """The fx-legal identifier for a dotted name (``features.3.conv`` → ``features_3_conv``)."""
    base = _LEGAL.sub("_", dotted)
    return f"_{base}" if base[0].isdigit() or base == "x" else base


def _freeze(value: Any) -> Any:
    return tuple(_freeze(v) for v in value) if isinstance(value, (list, tuple)) else value


def fragment_key(block: Any, env: Mapping[str, Any], training_only: bool) -> tuple[Any, ...] | None:
    """A hashable key for one block call, or None when an argument cannot be hashed."""
    try:
        key = (block.name, block.where.file, block.where.line, training_only,
               tuple((k, _freeze(v)) for k, v in env.items()))
        hash(key)
    except TypeError:
        return None
    return key


@dataclass(frozen=True)
class Fragment:
    """The nodes one block call added, with names and inputs relative to the call."""

    nodes: tuple[Node, ...]
    inputs: tuple[tuple[int, ...], ...]  # per node: -1 for the block's input, else an index here
    output: int
    name_at: int  # length of the sanitized prefix to cut from each node name
    scope_at: int  # length of the dotted prefix to cut from targets and scopes
    block_calls: tuple[str, ...]  # the block itself and the blocks it called
    # the modules it named: name after the prefix, and place with the calls up to its own cut off
    placed: tuple[tuple[str, Where], ...]


def record(graph: Graph, since: tuple[int, int, int], depth: int, block_input: str, output: str,
           prefix: str) -> Fragment | None:
    """Capture the nodes, block calls and module places added since ``since`` (the counts of
    each before the block) as a Fragment, the places without the ``depth`` calls that lead to the
    block, itself included; None if the nodes read nodes from outside."""
    start, calls_start, places_start = since
    nodes = graph.nodes_since(start)
    index = {node.name: i for i, node in enumerate(nodes)}
    index[block_input] = -1
    if output not in index or any(i not in index for node in nodes for i in node.inputs):
        return None
    base = node_base(prefix)
    if not all(node.name.startswith(base) for node in nodes):
        return None
    placed = tuple((name[len(prefix):], (calls[depth:], place, repeats))
                   for name, (calls, place, repeats) in graph.placed[places_start:])
    return Fragment(tuple(nodes), tuple(tuple(index[i] for i in n.inputs) for n in nodes),
                    index[output], len(base), len(prefix), tuple(graph.block_calls[calls_start:]), placed)


def replay(fragment: Fragment, graph: Graph, block_input: str, prefix: str,
           call: Calls) -> str | None:
    """Add the fragment's nodes under ``prefix``, and its modules' places under the block
    ``call`` (the calls that lead to it, itself last); None (nothing added) on a name clash."""
    base, cut = node_base(prefix), fragment.scope_at
    names = [base + node.name[fragment.name_at:] for node in fragment.nodes]
    if any(name in graph for name in names):
        return None
    for node, name, inputs in zip(fragment.nodes, names, fragment.inputs):
        target = None if node.target is None else prefix + node.target[cut:]
        graph.add(Node(name, node.op, node.args, target, prefix + node.scope[cut:],
                       tuple(block_input if i < 0 else names[i] for i in inputs), node.in_shapes,
                       node.out_shape, node.params, node.macs, node.origin, node.training_only, node.init))
    graph.block_calls.extend(fragment.block_calls)
    graph.placed.extend((prefix + name, (call + calls, place, repeats))
                        for name, (calls, place, repeats) in fragment.placed)
    return block_input if fragment.output < 0 else names[fragment.output]


CACHE: dict[tuple[Any, ...], Fragment] = {}


def remember(key: tuple[Any, ...], fragment: Fragment) -> None:
    if len(CACHE) >= MAX_ENTRIES:
        CACHE.clear()
    CACHE[key] = fragment
