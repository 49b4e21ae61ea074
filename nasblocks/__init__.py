"""nasblocks: convolutional networks as YAML specs, compiled to torch.fx, priced exactly and
searched with Optuna under FLOP and latency budgets.

    >>> import nasblocks
    >>> spec = nasblocks.load("mobilenet_v2", width=0.75)
    >>> nasblocks.cost(spec).macs
    209069792
    >>> model = nasblocks.build(spec)          # a torch.fx.GraphModule
"""

from __future__ import annotations

from typing import Any

from nasblocks._cost import Cost, graph_cost
from nasblocks._expand import expand
from nasblocks._graph import Graph, Node
from nasblocks._ops import list_ops
from nasblocks._spec import Spec, load, zoo_names
from nasblocks.errors import NasblocksError, SpecError

__all__ = ["Cost", "Graph", "NasblocksError", "Node", "Spec", "SpecError", "build", "cost",
           "expand", "list_ops", "load", "search", "zoo_names"]
__version__ = "0.1.0"


def build(spec: Spec | str):  # -> torch.fx.GraphModule
    """Compile a spec (or a path or zoo name) to a torch.fx GraphModule."""
    from nasblocks._compile import compile_graph

    return compile_graph(expand(load(spec) if isinstance(spec, str) else spec))


def cost(spec: Spec | str, latency: str | None = None) -> Cost:
    """Parameters and multiply-adds of a spec at its input size, read off the graph IR; with
    ``latency="cpu"`` or ``"cuda"``, also its latency in ms (batch 1, fp32) predicted from that
    device's table of measured ops (entries missing from the table are measured once, then kept).

    >>> nasblocks.cost("resnet18").macs
    1814073344
    """
    graph = expand(load(spec) if isinstance(spec, str) else spec)
    if latency is None:
        return graph_cost(graph)
    from nasblocks._latency_table import latency_ms

    return graph_cost(graph, latency_ms(graph, latency))


def search(study: str | None = None, *, resume: bool = False, root: str = "studies", **options: Any) -> Any:
    """Run (or resume) a search, as ``nasblocks search`` does; returns the optuna.Study.

    ``options`` are the command's settings by name (``space``, ``budget`` as a string or a list
    of them, ``objectives`` as a list or a comma-separated string, ``trials``, ``data``,
    ``epochs``, ``resolution``, ``sampler``, ...; see ``nasblocks search --help``); the rest keep
    their defaults. An unknown name is a TypeError.

        study = nasblocks.search(budget=["60MFLOPs", "8ms"], space="mobilenet_v3", trials=30)
        study.best_trial.user_attrs["spec"]      # the best network, as a standalone spec
    """
    from pathlib import Path

    from nasblocks._search_config import api_options
    from nasblocks._search_run import run_search

    return run_search(api_options(options), study=study, resume=resume, root=Path(root)).study
