"""A network of a search space started from a weights file of another network of the space (its
base network, or the one ``search --weights-spec`` names), as far as it fits.

A trial's network is seldom the file's own: another width, other kernels, more or fewer repeats
of a stage. Its modules are matched to the file's by where they sit in the spec (the item, the
foreach row, the repeat index: ``Graph.places``), not by name alone, since in a flat sequence
(torchvision's ``features.7``) every repeat added or dropped shifts the names after it. Each
tensor then takes what fits of its counterpart: all of it when the shapes agree, else the
overlap (the leading channels, the centre of a kernel), as once-for-all networks share weights
(Cai et al., 2020).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

if TYPE_CHECKING:
    from nasblocks._graph import Graph
    from nasblocks._weights import Pretrained


@dataclass(frozen=True)
class Start:
    """What a trial's network starts from: the file, and the modules whose counterpart in the
    file's network has another name (that name), or none at all (None: a repeat it lacks)."""

    pretrained: Pretrained
    renamed: dict[str, str | None]

    def record(self) -> dict[str, Any]:
        """What trains the network again from the same start (``study retrain``)."""
        return {**self.pretrained.record(), "renamed": self.renamed}


@dataclass(frozen=True)
class Inherited:
    """How a network's tensors started: copied ``whole`` from the file, copied in ``part`` (the
    overlap of two shapes), or ``fresh`` (the file has no tensor in that place that fits)."""

    whole: int
    part: int
    fresh: int

    def __str__(self) -> str:
        return f"{self.whole} whole, {self.part} in part, {self.fresh} fresh"


def counterparts(graph: Graph, source: Graph) -> dict[str, str | None]:
    """The modules of ``graph`` whose counterpart in ``source`` (the network of the weights file,
    a network of the same spec), the module at the same place of the spec, has another name: that
    name, or None where ``source`` has nothing there."""
    theirs = {_place(where): name for name, where in source.places.items()}
    renamed = {}
    for name, where in graph.places.items():
        other = theirs.get(_place(where))
        if other != name:
            renamed[name] = other
    return renamed


def _place(where: tuple[Any, tuple[int, ...]]) -> tuple[str, tuple[int, ...]]:
    place, repeats = where
    return place.path, repeats


def inherit(module: nn.Module, graph: Graph, state: Mapping[str, torch.Tensor],
            renamed: Mapping[str, str | None] | None = None) -> Inherited:
    """Start ``module`` (compiled from ``graph``) from ``state`` as far as it fits. Each tensor's
    counterpart in ``state`` is the one of the same name, under the module's other name where
    ``renamed`` (see ``counterparts``) gives one. A counterpart of the same shape is copied whole;
    one of the same rank but another shape gives its overlap, and the rest of the tensor keeps its
    fresh initialisation. The layers that make the outputs (the classifier) take an overlap only
    where they have as many rows as the file's: their rows are the file's classes, not channels.
    Batch norm's step counters are copied where they can be, but not counted: they are no weights."""
    heads = _heads(graph)
    counts: Counter[str] = Counter()
    with torch.no_grad():
        for key, mine in module.state_dict().items():  # tensors sharing the module's storage
            source = _source(key, renamed or {})
            theirs = None if source is None else state.get(source)
            if theirs is not None and theirs.shape == mine.shape:
                mine.copy_(theirs)
                how = "whole"
            elif theirs is not None and theirs.dim() == mine.dim() and \
                    (key.rpartition(".")[0] not in heads or theirs.shape[0] == mine.shape[0]):
                here, there = _overlap(mine.shape, theirs.shape)
                mine[here].copy_(theirs[there])
                how = "part"
            else:
                how = "fresh"
            if mine.is_floating_point():
                counts[how] += 1
    return Inherited(counts["whole"], counts["part"], counts["fresh"])


def _source(key: str, renamed: Mapping[str, str | None]) -> str | None:
    """The name of tensor ``key``'s counterpart: under its innermost renamed module's other name
    (a module that keeps its name keeps it for everything inside, too)."""
    prefix = key
    while "." in prefix:
        prefix = prefix.rpartition(".")[0]
        if prefix in renamed:
            other = renamed[prefix]
            return None if other is None else other + key[len(prefix):]
    return key


def _overlap(mine: torch.Size, theirs: torch.Size) -> tuple[tuple[slice, ...], tuple[slice, ...]]:
    """Index tuples of the overlap of two shapes: leading along channels, centred along the
    spatial dimensions of a convolution's kernel (the last two of a 4-d weight)."""
    here, there = [], []
    for dim, (n, m) in enumerate(zip(mine, theirs)):
        size = min(n, m)
        centred = len(mine) == 4 and dim >= 2
        start_here, start_there = ((n - size) // 2, (m - size) // 2) if centred else (0, 0)
        here.append(slice(start_here, start_here + size))
        there.append(slice(start_there, start_there + size))
    return tuple(here), tuple(there)


def _heads(graph: Graph) -> set[str]:
    """The submodules that make the network's outputs: from each output back through the ops
    without parameters (flatten, pooling, an activation) to the first one with them."""
    heads = set()
    for name in [graph.output, *(aux for _, aux in graph.aux_outputs)]:
        while name in graph and not graph[name].params and len(graph[name].inputs) == 1:
            name = graph[name].inputs[0]
        if name in graph and graph[name].target is not None:
            heads.add(graph[name].target)
    return heads
