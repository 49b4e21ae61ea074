"""nasblocks: convolutional networks as YAML specs, compiled to torch.fx, priced exactly and
searched with Optuna under FLOP and latency budgets.

    >>> import nasblocks
    >>> spec = nasblocks.load("mobilenet_v2", width=0.75)
    >>> nasblocks.cost(spec).macs
    209069792
    >>> model = nasblocks.build(spec)          # a torch.fx.GraphModule
"""

from __future__ import annotations

import importlib
import os
import re
import signal
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

# also binds nasblocks.errors, so nasblocks.errors.WeightsError works after a bare ``import nasblocks``
from nasblocks.errors import NasblocksError, SpecError

if TYPE_CHECKING:
    import optuna
    from torch.fx import GraphModule

    from nasblocks._cost import Cost
    from nasblocks._graph import Graph, Node
    from nasblocks._ops import list_ops
    from nasblocks._spec import Spec, load, zoo_names
    from nasblocks._weights import Weights

__all__ = ["Cost", "Graph", "NasblocksError", "Node", "Spec", "SpecError", "build", "cost",
           "expand", "list_ops", "load", "search", "zoo_names"]
__version__ = "0.1.0"

# The public names that live in submodules, and which: imported on first use (PEP 562), so that
# ``import nasblocks`` and the command line's --help do not import torch.
_SUBMODULE = {"Cost": "_cost", "Graph": "_graph", "Node": "_graph", "list_ops": "_ops", "Spec": "_spec",
              "load": "_spec", "zoo_names": "_spec"}
# The command-line option an error opens with, and its value: what the error is about
# (``--batch: expected ...``, ``--device cuda: this machine ...``, ``--study 'my study': ...``), or
# the setting's own name where no option sets it (``stat: ...``, ``budget '8 mz': ...``)
_SUBJECT = re.compile(r"(?:--)?([a-z][a-z_-]*)(?: ('[^']*'|\"[^\"]*\"|\S+))?(?=: )")


def __getattr__(name: str) -> Any:
    if name not in _SUBMODULE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{_SUBMODULE[name]}"), name)
    globals()[name] = value  # found directly from now on
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _keywords(names: Iterable[str]) -> dict[str, str]:
    """Options named as the keywords of the same names are (``channels_last``: ``--channels-last``)."""
    return {name.replace("_", "-"): name for name in names}


@contextmanager
def _named_as_keywords(function: str, keywords: Mapping[str, str]) -> Iterator[None]:
    """Inside, an error about one of ``function``'s keywords opens with the call, as the caller
    wrote it, where the command's message opens with its option or, where no option sets it, the
    setting's name (``keywords``: an option's name to the keyword that sets it, ``device`` to
    cost's ``latency``): ``--batch: expected ...`` reads ``cost(batch=...): expected ...``,
    ``--device cuda: ...`` reads ``cost(latency='cuda'): ...`` and ``stat: ...`` reads
    ``cost(stat=...): ...``. Options named later in a message stay as the command names them (``use --device
    cpu``): rewritten word by word, prose that names options and values reads garbled."""
    try:
        yield
    except NasblocksError as err:
        subject = _SUBJECT.match(str(err))
        if subject and subject[1] in keywords and not isinstance(err, SpecError):  # a SpecError's text is its parts'
            value = subject[2]
            shown = "..." if value is None else value if value.isdigit() or value[0] in "'\"" else repr(value)
            err.args = (f"{function}({keywords[subject[1]]}={shown}){str(err)[subject.end():]}",)
        raise


def _as_spec(spec: Spec | str | os.PathLike[str]) -> Spec:
    """What ``build``, ``cost`` and ``expand`` take: a loaded spec, or what ``load`` takes."""
    from nasblocks._spec import Spec, load

    if isinstance(spec, Spec):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        return load(spec)
    raise TypeError(f"expected a Spec (from nasblocks.load), a spec file's path or a zoo name, "
                    f"got {type(spec).__name__}")


def expand(spec: Spec | str | os.PathLike[str]) -> Graph:
    """The graph IR of a spec (or a path or zoo name): its primitive ops with their shapes and
    costs, no torch involved. Print it to read it, one line per op; ``.nx`` is the networkx
    DiGraph.

    >>> graph = nasblocks.expand("mobilenet_v2")
    >>> graph.macs, graph.params
    (300774272, 3504872)
    """
    from nasblocks._expand import expand as expand_spec

    return expand_spec(_as_spec(spec))


def build(spec: Spec | str | os.PathLike[str], weights: Weights | None = None) -> GraphModule:
    """Compile a spec (or a path or zoo name) to a torch.fx GraphModule in training mode, freshly
    initialised or, with ``weights``, loaded from a file on disk (a ``state_dict`` saved with
    ``torch.save``, a training checkpoint holding one, or ``.safetensors``) or from a state_dict
    (names to tensors; weights of another type are a TypeError). Its ``state_dict`` has the
    reference implementation's keys: a zoo network loads torchvision's or timm's weights with
    ``strict=True``; a file that does not fit is a WeightsError naming the keys and shapes.
    In training mode a network with auxiliary heads returns a tuple, its main
    output first; in eval mode, the main output alone.

    >>> model = nasblocks.build("resnet18")
    >>> list(model.state_dict())[:3]
    ['conv1.weight', 'bn1.weight', 'bn1.bias']

    ``nasblocks.build("resnet18", weights="resnet18-f37072fd.pth")`` loads torchvision's file.
    """
    from nasblocks._weights import API_VARS_REMEDY, compiled

    _check_weights(weights)
    with _named_as_keywords("build", {"weights": "weights"}):
        return compiled(expand(spec), weights, API_VARS_REMEDY)


def _check_weights(weights: Any) -> None:
    """A TypeError for ``weights`` that are neither a path nor a state_dict (names to tensors),
    which torch would otherwise fail on deep inside loading."""
    import torch

    expects = "build(weights=...) expects a weights file's path or a state_dict (names to tensors)"
    if weights is None or isinstance(weights, (str, os.PathLike)):
        return
    if not isinstance(weights, Mapping):
        hint = "; give its .state_dict()" if isinstance(weights, torch.nn.Module) else ""
        raise TypeError(f"{expects}, got {type(weights).__name__}{hint}")
    for key, value in weights.items():
        if not isinstance(key, str) or not isinstance(value, torch.Tensor):
            raise TypeError(f"{expects}; found {key!r}: {type(value).__name__}")


def cost(spec: Spec | str | os.PathLike[str], latency: str | None = None, **setting: Any) -> Cost:
    """Parameters and multiply-adds of a spec (or a path or zoo name) at its input size, read off
    the graph IR; with ``latency="cpu"``, ``"cuda"`` or ``"cuda:N"``, also its latency in ms
    predicted from that device's table of measured ops (entries missing from the table are
    measured once, then kept). A device this machine lacks is a DeviceError.

    ``setting`` is what ``nasblocks latency`` takes as options: ``batch`` (1), ``threads``
    (torch's current count; at most this process's CPU cores), ``dtype`` ("fp32"; "fp16"/"bf16" under autocast),
    ``channels_last`` (False), ``clock`` ("wall" or "cpu") and ``stat`` ("median", "p10" or
    "min", the figure of each unit that is summed).

    >>> nasblocks.cost("resnet18").macs
    1814073344
    """
    if latency is not None and not isinstance(latency, str):
        raise TypeError(f'cost(latency=...) expects "cpu", "cuda" or "cuda:N", got {latency!r}')
    known = ("batch", "threads", "dtype", "channels_last", "clock", "stat")
    for key in setting:
        if key not in known:
            raise TypeError(f"cost() got an unexpected keyword argument {key!r}; the latency setting "
                            f"takes {', '.join(known)}")
    if setting and latency is None:
        raise TypeError(f"cost({', '.join(setting)}=...) sets how latency is predicted: give latency= too")
    from nasblocks._cost import graph_cost

    graph = expand(spec)
    if latency is None:
        return graph_cost(graph)
    from nasblocks._latency_table import predict

    with _named_as_keywords("cost", {**_keywords(known), "device": "latency"}):
        return graph_cost(graph, predict(graph, latency, **setting))


def search(study: str | None = None, *, resume: bool = False, root: str | os.PathLike[str] = "studies",
           **options: Any) -> optuna.Study:
    """Run (or resume) a search, as ``nasblocks search`` does, and return its optuna.Study.

    ``study`` is the study's name (``--study``), ``root`` the folder of studies (``--dir``).
    ``options`` are the command's other settings by name (``space``, ``budget`` as a string or a
    list of them, one at least, a latency bound such as ``"8ms"`` among them, ``objectives`` as a
    list or a comma-separated string, ``trials``, ``data``, ``epochs``, ``resolution``, ``sampler``,
    ``weights`` (a checkpoint of the space's base network that each trial starts from),
    ``weights_spec`` (the network that checkpoint holds when it is another of the space's: a spec
    file or a zoo name), ...; see ``nasblocks search --help``); the rest keep their defaults. An
    unknown name is a TypeError. The run prints its progress and writes the study's folder as the
    command does.
    Ctrl-C (SIGINT) stops it as it stops the command, every finished trial kept, then raises
    KeyboardInterrupt, as Optuna's ``optimize`` does; SIGTERM then ends the process (status 143).

        study = nasblocks.search(budget=["60MFLOPs", "8ms"], space="mobilenet_v3", trials=30)
        study.best_trial.user_attrs["spec"]     # the path of that trial's spec file

    ``best.yaml`` in the study's folder is the most accurate trial's spec (ties: fewer MACs).
    With several objectives ``study.best_trials`` is Optuna's Pareto front, and
    ``study.best_trial`` an error.
    """
    from dataclasses import fields
    from pathlib import Path

    from nasblocks._search_config import SearchConfig, api_options
    from nasblocks._search_run import run_search

    if study is not None and not isinstance(study, str):
        raise TypeError(f"search(study=...) expects the study's name, a str, got {type(study).__name__}")
    if not isinstance(resume, bool):
        raise TypeError(f"search(resume=...) expects True or False, got {resume!r}")
    if resume and study is None:
        raise TypeError("search(resume=True) needs the study's name: nasblocks.search('name', resume=True)")
    if not isinstance(root, (str, os.PathLike)):
        raise TypeError(f"search(root=...) expects the folder of studies, a str or a Path, got {type(root).__name__}")
    keywords = {**_keywords(f.name for f in fields(SearchConfig)), "study": "study", "resume": "resume", "dir": "root"}
    with _named_as_keywords("search", keywords):
        outcome = run_search(api_options(options), study=study, resume=resume, root=Path(root), python=True)
    if outcome.status == 128 + signal.SIGINT:
        raise KeyboardInterrupt  # a script's loop of searches stops too, not only this search
    if outcome.status:
        raise SystemExit(outcome.status)
    return outcome.study
