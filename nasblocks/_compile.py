"""Compilation: the graph IR becomes a torch.fx GraphModule with submodules at the hierarchical
names, so reference ``state_dict``s load with ``strict=True`` and ``model.code`` is plain
straight-line Python — no interpreter loop at run time, and ``torch.export`` traces it."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Collection
from typing import Any

import torch
import torch.fx
from torch import nn

from nasblocks import _ops
from nasblocks._graph import INPUT, Graph, Node
from nasblocks._init import initialise
from nasblocks._memory import host_memory
from nasblocks._ops import REGISTRY, output_kind
from nasblocks.errors import SpecError


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_") if part) or "Network"


def compile_graph(graph: Graph, probe: Callable[[str], Any] | None = None) -> torch.fx.GraphModule:
    """Write one fx node per IR node (a call_module or the op's functional form) and wrap them.

    Activations that support it run in place when nothing else reads their input, nor what it
    is a view of (``_run_in_place``) — what torchvision writes by hand as ``ReLU(inplace=True)``
    — which saves a copy per activation without changing any result. Auxiliary heads become sub-GraphModules at their own names,
    called only in training mode.

    The layers are then initialised as the spec's ``init`` says, in module order (``_init``): a
    zoo network draws the tensors its torchvision constructor draws from the same seed.

    With ``probe``, the generated code also calls ``probe(INPUT)`` first and ``probe(name)`` after
    each node of the main network: how the latency table times each layer where it runs.

    Each value in ``model.code`` carries its IR node's name, as ``nasblocks build SPEC --graph``
    lists it (``layer1_0_add``, not fx's ``add_3``). Tools that trace the module again name the
    nodes themselves, after their functions: ``get_graph_node_names``, and the code of a network
    read back by ``pickle``/``torch.load``.
    """
    _check_fits_memory(graph)
    fx_graph = torch.fx.Graph()
    values = {INPUT: fx_graph.placeholder(INPUT)}
    names: dict[torch.fx.Node, str] = {}
    in_place = _run_in_place(graph)
    if probe is not None:
        fx_graph.call_function(probe, (INPUT,))
    modules: dict[str, Any] = {}
    training = fx_graph.get_attr("training") if graph.aux_outputs else None
    heads = [head for _, name in graph.aux_outputs if (head := _head(graph, name))]
    gated = {node.name: (prefix, nodes) for prefix, nodes in heads for node in nodes}
    for node in graph:
        if node.name not in gated:
            _emit(in_place, [node], fx_graph, values, modules, names, "")
            if probe is not None:
                fx_graph.call_function(probe, (node.name,))
        elif node is gated[node.name][1][0]:  # where the head starts, so dropout draws in order
            prefix, nodes = gated[node.name]
            modules[prefix] = _subgraph_module(in_place, nodes, prefix)
            call = (training, fx_graph.get_attr(prefix), values[node.inputs[0]])
            output = values[nodes[-1].name] = fx_graph.call_function(run_in_training, call)
            names[output] = nodes[-1].name
    if graph.aux_outputs:
        modules["training"] = True  # read live from self.training by the generated code
        aux = [values[name] for _, name in sorted(graph.aux_outputs)]
        fx_graph.output(fx_graph.call_function(training_outputs, (training, values[graph.output], *aux)))
    else:
        fx_graph.output(values[graph.output])
    module = _graph_module(modules, _named(fx_graph, names), _class_name(graph.name))
    initialise(module, graph)
    fast_attributes(module)
    return module


def _check_fits_memory(graph: Graph) -> None:
    """Refuse a network whose parameters alone outgrow the memory this process may use (a width
    or an ``out`` a few digits too long), naming its largest layer: torch would fail allocating
    them with a traceback, or the kernel would kill the process while they are initialised."""
    need = graph.params * torch.get_default_dtype().itemsize
    room, where = host_memory()
    if need <= room:
        return
    from rich.filesize import decimal

    largest = max(graph, key=lambda node: node.params)
    message = (f"the network's {graph.params:,} parameters take {decimal(need)} as "
               f"{str(torch.get_default_dtype()).removeprefix('torch.')}, more than {where} ({decimal(room)}); "
               f"this layer ({largest.target}) holds {largest.params:,} of them")
    where = graph.places.get(largest.target or "")
    if where is not None:  # its item, and the block calls that led there
        raise where[1].error(message)
    file, _, line = largest.origin.rpartition(":")
    raise SpecError(message, file=file, line=int(line), path=largest.target or largest.name)


def _graph_module(modules: dict[str, Any], fx_graph: torch.fx.Graph, class_name: str) -> torch.fx.GraphModule:
    """A GraphModule with its submodules registered in the order the graph calls them.

    From a dict, fx registers the shallowest names first: a classifier before the layers it
    follows, so ``parameters()``, ``state_dict()`` and ``print(model)`` did not run in the
    reference's order, and ``list(model.parameters())[-2:]`` was not the last layer's. From a
    module, fx copies them in graph order — the reference's definition order — as it does when it
    rebuilds a pickled network (with ``_Retracer``); so they are handed over in a bare module.
    """
    root = nn.Module()
    for target, value in modules.items():
        *parents, leaf = target.split(".")
        owner = root
        for name in parents:
            if not hasattr(owner, name):
                owner.add_module(name, nn.Module())
            owner = getattr(owner, name)
        setattr(owner, leaf, value)
    fx_graph._tracer_cls = _Retracer
    return torch.fx.GraphModule(root, fx_graph, class_name=class_name)


def _emit(in_place: Collection[str], nodes: list[Node], fx_graph: torch.fx.Graph, values: dict[str, torch.fx.Node],
          modules: dict[str, Any], names: dict[torch.fx.Node, str], prefix: str) -> None:
    """Add ``nodes`` to ``fx_graph``, their submodules to ``modules`` (targets without ``prefix``,
    the activations of ``in_place`` given ``inplace=True``), and to ``names`` the name of each fx
    node written: its IR node's, or for a node an emitter writes on the way (a split's ``chunk``)
    the IR node's name and the call's."""
    for node in nodes:
        opdef = REGISTRY[node.op]
        inputs = [values[i] for i in node.inputs]
        before = len(fx_graph.nodes)
        if node.target is None:
            values[node.name] = opdef.emit(fx_graph, inputs, node.args)  # type: ignore[misc]
        else:
            target = node.target[len(prefix):]
            modules[target] = opdef.module(node.args, node.in_shapes, node.name in in_place)  # type: ignore[misc]
            values[node.name] = fx_graph.call_module(target, tuple(inputs))
        for written in itertools.islice(reversed(fx_graph.nodes), len(fx_graph.nodes) - before):
            call = getattr(written.target, "__name__", written.target)  # chunk, getitem, add
            names[written] = node.name if written is values[node.name] else f"{node.name}_{call}"


def _run_in_place(graph: Graph) -> set[str]:
    """The activations that run in place (``ReLU(inplace=True)``, as torchvision writes them): each
    one whose input nothing else reads — nor the tensor that input may share its memory with,
    through ops whose output may be their input or a view of it (identity, flatten, dropout outside
    training, an activation run in place). Never the network's input, which is the caller's, nor a
    part of a split, which autograd forbids overwriting."""
    in_place: set[str] = set()
    for node in graph:
        if REGISTRY[node.op].inplace and node.target is not None and _may_overwrite(graph, node.inputs[0], in_place):
            in_place.add(node.name)
    return in_place


def _may_overwrite(graph: Graph, name: str, in_place: set[str]) -> bool:
    while name != INPUT and graph.users(name) == 1:
        node = graph[name]
        output = "alias" if name in in_place else output_kind(node.op, node.args)
        if output != "alias":
            return output == "new"
        name = node.inputs[0]
    return False


def _named(fx_graph: torch.fx.Graph, names: dict[torch.fx.Node, str]) -> torch.fx.Graph:
    """``fx_graph`` written again with ``names`` for its nodes: fx names a node when it creates it,
    after its function (``add_3``), and has no public way to rename it."""
    named = torch.fx.Graph()
    copies: dict[torch.fx.Node, torch.fx.Node] = {}
    for node in fx_graph.nodes:
        args, kwargs = torch.fx.map_arg((node.args, node.kwargs), copies.__getitem__)
        copies[node] = named.create_node(node.op, node.target, args, kwargs, names.get(node, node.name))
    return named


def _nodes_of(graph: Graph, output: str) -> list[Node]:
    """The training-only nodes an auxiliary output is computed from, in graph order."""
    wanted, stack = set(), [output]
    while stack:
        name = stack.pop()
        if name in graph and graph[name].training_only and name not in wanted:
            wanted.add(name)
            stack.extend(graph[name].inputs)
    return [node for node in graph if node.name in wanted]


def _head(graph: Graph, output: str) -> tuple[str, list[Node]] | None:
    """(scope, nodes) of an auxiliary head that reads one tensor of the main network, ends in its
    output and owns a scope no other module sits in — or None, and it is compiled inline (and so
    computed in eval mode too)."""
    nodes = _nodes_of(graph, output)
    if not nodes or nodes[-1].name != output:
        return None
    taps = {i for node in nodes for i in node.inputs if i not in {n.name for n in nodes}}
    targets = [node.target for node in nodes if node.target]
    if len(taps) != 1 or not targets or nodes[0].inputs[0] not in taps:
        return None
    prefix = targets[0].split(".")[0] + "."
    others = [node.target for node in graph if node.target and node not in nodes]
    if not all(t.startswith(prefix) for t in targets) or any(t.startswith(prefix) for t in others):
        return None
    return prefix[:-1], nodes


def _subgraph_module(in_place: Collection[str], nodes: list[Node], prefix: str) -> torch.fx.GraphModule:
    """An auxiliary head as a GraphModule of its own, its submodules named below ``prefix``."""
    fx_graph = torch.fx.Graph()
    values = {nodes[0].inputs[0]: fx_graph.placeholder(INPUT)}
    modules: dict[str, Any] = {}
    names: dict[torch.fx.Node, str] = {}
    _emit(in_place, nodes, fx_graph, values, modules, names, prefix + ".")
    fx_graph.output(values[nodes[-1].name])
    return _graph_module(modules, _named(fx_graph, names), "AuxiliaryHead")


def fast_attributes(root: nn.Module) -> None:
    """Also keep each submodule in its parent's ``__dict__``.

    The generated code reaches a submodule through ``getattr(getattr(self.features, "3"), ...)``,
    and each step falls through to ``nn.Module.__getattr__``: measurably slow for networks of
    many small layers (3–5 % of a MobileNetV3-Small forward on CPU). Found in ``__dict__``, the
    lookup is a plain attribute read. ``_modules`` stays the source of truth — ``state_dict``,
    ``to()`` and ``load_state_dict`` are unchanged — and ``nn.Module.__setattr__`` drops the
    ``__dict__`` entry when a submodule is replaced.
    """
    for module in root.modules():
        for name, child in module._modules.items():
            if child is not None:
                module.__dict__[name] = child


def run_in_training(training: bool, head: nn.Module, x: torch.Tensor) -> torch.Tensor | None:
    """Call an auxiliary head in training mode only: eval-mode forwards skip its work."""
    return head(x) if training else None


def training_outputs(training: bool, main: torch.Tensor, *aux: torch.Tensor | None) -> Any:
    """(main, *aux) in training mode, main alone in eval mode — the outputs of torchvision's
    GoogLeNet and Inception v3. The generated code reads ``self.training`` at each call, so
    ``model.train()``/``model.eval()`` switch it."""
    return (main, *aux) if training else main


class _Retracer(torch.fx.Tracer):
    """How fx rebuilds a compiled network that ``pickle``/``torch.load`` read back: by tracing its
    code again.

    fx's own tracer runs nasblocks' functions on the spot: an auxiliary head's call and the
    (main, *aux) tuple were kept or dropped for good, as the mode the network was saved in said,
    whatever ``train()``/``eval()`` said after loading. This one keeps them as calls (the ops'
    helpers such as ``channel_shuffle`` too, rather than unrolled) and gives the gated calls
    ``self.training`` again, read at each call.
    """

    def __init__(self) -> None:
        super().__init__(autowrap_modules=(math, _ops), autowrap_functions=(run_in_training, training_outputs))

    def trace(self, root: Any, concrete_args: dict[str, Any] | None = None) -> torch.fx.Graph:
        graph = super().trace(root, concrete_args)
        gated = [node for node in graph.nodes if node.target in (run_in_training, training_outputs)]
        if gated:
            with graph.inserting_after(next(iter(graph.nodes))):  # after the input, where compile_graph reads it
                training = graph.get_attr("training")
            for node in gated:
                node.update_arg(0, training)
        return graph
