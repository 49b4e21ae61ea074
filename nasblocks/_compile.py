"""Compilation: the graph IR becomes a torch.fx GraphModule with submodules at the hierarchical
names, so reference ``state_dict``s load with ``strict=True`` and ``model.code`` is plain
straight-line Python — no interpreter loop at run time, and ``torch.export`` traces it."""

from __future__ import annotations

from typing import Any

import torch
import torch.fx
from torch import nn

from nasblocks._graph import INPUT, Graph
from nasblocks._ops import REGISTRY


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.replace("-", "_").split("_") if part) or "Network"


def compile_graph(graph: Graph) -> torch.fx.GraphModule:
    """Write one fx node per IR node (a call_module or the op's functional form) and wrap them.

    Activations that support it run in place when nothing else reads their input — what
    torchvision writes by hand as ``ReLU(inplace=True)`` — which saves a copy per activation
    without changing any result.
    """
    fx_graph = torch.fx.Graph()
    values = {INPUT: fx_graph.placeholder(INPUT)}
    modules: dict[str, nn.Module] = {}
    for node in graph:
        opdef = REGISTRY[node.op]
        inputs = [values[i] for i in node.inputs]
        if node.target is None:
            values[node.name] = opdef.emit(fx_graph, inputs, node.args)  # type: ignore[misc]
            continue
        inplace = opdef.inplace and node.inputs[0] != INPUT and graph.users(node.inputs[0]) == 1
        modules[node.target] = opdef.module(node.args, node.in_shapes, inplace)  # type: ignore[misc]
        values[node.name] = fx_graph.call_module(node.target, tuple(inputs))
    if graph.aux_outputs:
        aux = [values[name] for _, name in sorted(graph.aux_outputs)]
        training = fx_graph.get_attr("training")
        fx_graph.output(fx_graph.call_function(training_outputs, (training, values[graph.output], *aux)))
        modules["training"] = True  # type: ignore[assignment]  # read live from self.training
    else:
        fx_graph.output(values[graph.output])
    return torch.fx.GraphModule(modules, fx_graph, class_name=_class_name(graph.name))


def training_outputs(training: bool, main: torch.Tensor, *aux: torch.Tensor) -> Any:
    """(main, *aux) in training mode, main alone in eval mode — the outputs of torchvision's
    GoogLeNet and Inception v3. The generated code reads ``self.training`` at each call, so
    ``model.train()``/``model.eval()`` switch it; the heads also run in eval mode (about 0.5 %
    more work for GoogLeNet) because straight-line fx code has no branches."""
    return (main, *aux) if training else main
