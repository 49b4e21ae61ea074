"""Proving that a network is a point of a search space (``nasblocks space check``): find the
assignment from its vars, then expand both and compare the graphs node by node, so that "the
zoo's MobileNetV2 is in this space" is a checked claim, not a belief."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from nasblocks._expand import expand
from nasblocks._graph import Graph, Node
from nasblocks._space import Space
from nasblocks._spec import Spec


@dataclass(frozen=True)
class CheckResult:
    """Whether a spec is a point of a space: the assignment, and the first difference if any."""

    ok: bool
    params: dict[str, Any] | None
    message: str


def _signature(node: Node) -> tuple[Any, ...]:
    return node.op, node.args, node.target, node.inputs, node.out_shape, node.init


def compare_graphs(expected: Graph, actual: Graph) -> str | None:
    """None when two graphs are the same node for node; else where they first differ."""
    if expected.input_shape != actual.input_shape:
        return f"inputs differ: {expected.input_shape} against {actual.input_shape}"
    if expected.init != actual.init:  # the same layers, drawn otherwise: a search would train another start
        return f"initialisation differs: {expected.init} against {actual.init}"
    for index, (a, b) in enumerate(zip(expected, actual)):
        if _signature(a) != _signature(b):
            spec, space = (node.describe() + (f"  init={node.init}" if a.init != b.init else "") for node in (a, b))
            return f"node {index} differs:\n  spec:  {spec}\n  space: {space}"
    if len(expected) != len(actual):
        longer, which = (expected, "spec") if len(expected) > len(actual) else (actual, "space")
        extra = list(longer)[min(len(expected), len(actual))]
        return (f"the spec has {len(expected)} ops, the space's assignment {len(actual)}; the {which} "
                f"goes on with {extra.describe()}")
    if expected.output != actual.output or expected.aux_outputs != actual.aux_outputs:
        return f"outputs differ: {expected.output} against {actual.output}"
    return None


def check(space: Space, spec: Spec) -> CheckResult:
    """Prove that ``spec`` is an assignment of ``space`` by expanding both and comparing the
    graphs node by node (op, arguments, module name, inputs, output shape, initialisation)."""
    match = space.match(spec)
    if match.params is None:
        return CheckResult(False, None, f"{spec.name} is not in space {space.name}: "
                           + "; ".join(match.problems))
    candidate = space.spec(match.params)
    if candidate.input != spec.input:
        candidate = candidate.with_input(spec.input)
    expected, actual = expand(spec), expand(candidate)
    difference = compare_graphs(expected, actual)
    shown = ", ".join(f"{k}={v}" for k, v in match.params.items())
    if difference is not None:
        return CheckResult(False, match.params, f"{spec.name} is not in space {space.name}: with "
                           f"{shown}, {difference}")
    return CheckResult(True, match.params, f"{spec.name} is in space {space.name}: {shown} "
                       f"(same graph, {len(expected)} ops, {expected.params:,} params, "
                       f"{expected.macs:,} MACs)")
