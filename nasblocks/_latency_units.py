"""The units a network's latency is the sum of, and the keys that name them in the table.

A unit is one op of the IR or a chain that inference runtimes fuse (oneDNN post-ops, TensorRT,
``torch.ao`` fusion patterns)::

    conv|dwconv [→ bn] [→ activation]     bn → activation     linear|add → activation

each link being the only reader of the one before. Its key names the ops, their arguments that
change a kernel, the input shapes and the setting (batch, dtype, memory format, threads, clock):
``conv(out=32,kernel=3x3,stride=2x2)+bn+relu6@3x224x224|b1|fp32|contiguous|t1``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nasblocks._graph import Graph, Node
from nasblocks._latency import Setting
from nasblocks._ops import REGISTRY

# Arguments that change no inference kernel: batch-norm statistics' momentum is used only in
# training, eps only changes a constant, dropout and drop_path are the identity in eval mode.
# Leaving them out of the keys lets MobileNetV3's bn(eps=0.001) share entries with
# torchvision's defaults.
NO_SPEED_EFFECT = {"bn": {"eps", "momentum"}, "dropout": {"p"}, "drop_path": {"p", "mode"}}
_FUSE_HEADS = {"conv", "dwconv", "bn", "linear", "add"}


def _is_activation(node: Node) -> bool:
    return "activation" in REGISTRY[node.op].tags


def _follows(chain: list[Node], node: Node) -> bool:
    """Whether ``node`` extends the fused chain (its only input being the chain's last node)."""
    ops = [n.op for n in chain]
    if node.op == "bn":
        return ops in (["conv"], ["dwconv"])
    if _is_activation(node):
        return not any(_is_activation(n) for n in chain) and ops[0] in _FUSE_HEADS and (
            len(ops) == 1 or ops[-1] == "bn")
    return False


def readers(graph: Graph) -> dict[str, list[str]]:
    """For each value, the nodes that read it (with repeats), in graph order."""
    read: dict[str, list[str]] = {}
    for node in graph:
        for name in node.inputs:
            read.setdefault(name, []).append(node.name)
    return read


def units(graph: Graph) -> list[list[Node]]:
    """The graph's inference nodes grouped into units (fused chains or single ops), in graph order."""
    read = readers(graph)
    taken: set[str] = set()
    grouped: list[list[Node]] = []
    for node in graph:
        if node.name in taken or node.training_only:  # auxiliary heads do not run at inference
            continue
        chain = [node]
        if node.op in _FUSE_HEADS:
            while True:
                last = chain[-1].name
                nexts = read.get(last, [])
                if len(nexts) != 1 or last == graph.output:
                    break
                follower = graph[nexts[0]]
                if follower.inputs != (last,) or not _follows(chain, follower):
                    break
                chain.append(follower)
                taken.add(follower.name)
        grouped.append(chain)
    return grouped


def _fmt(value: Any) -> str:
    if isinstance(value, tuple):
        return "x".join(map(str, value))
    return str(value)


def node_key(node: Node) -> str:
    """``conv(out=32,kernel=3x3,stride=2x2)``: the op and the arguments that differ from their
    defaults (``act(fn=relu6)`` is written ``relu6``, the module it builds)."""
    if node.op == "act":
        return node.args["fn"]
    ignored = NO_SPEED_EFFECT.get(node.op, ())
    shown = [f"{k}={_fmt(v)}" for k, v in node.set_args().items() if k not in ignored]
    return f"{node.op}({','.join(shown)})" if shown else node.op


def unit_inputs(unit: Sequence[Node]) -> list[str]:
    """The values a unit reads from outside itself, one per reading position."""
    inside = {n.name for n in unit}
    return [name for node in unit for name in node.inputs if name not in inside]


def unit_key(graph: Graph, unit: Sequence[Node]) -> str:
    """``conv(out=32,kernel=3x3,stride=2x2)+bn+relu6@3x224x224``: ops and input shapes."""
    shapes = ",".join(_fmt(graph.shape_of(name)) for name in unit_inputs(unit))
    return "+".join(node_key(n) for n in unit) + "@" + shapes


def setting_key(run: Setting) -> str:
    """``|b1|fp32|contiguous|t1``: what else changes a unit's latency on one device (the thread
    count only on CPU)."""
    threads = f"|t{run.threads}" if run.device_type == "cpu" else ""
    clock = "|cpu-clock" if run.clock == "cpu" else ""
    return f"|b{run.batch}|{run.dtype}|{run.memory_format}{threads}{clock}"


def entry_keys(graph: Graph, groups: Sequence[Sequence[Node]], run: Setting) -> list[str]:
    """The table key of each unit under ``run``: the unit and the setting."""
    suffix = setting_key(run)
    return [unit_key(graph, unit) + suffix for unit in groups]
