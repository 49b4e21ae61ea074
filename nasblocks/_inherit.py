"""A network of a search space started from a weights file of another network of the space (its
base network, or the one ``search --weights-spec`` names), as far as it fits.

A trial's network is seldom the file's own: another width, other kernels, more or fewer repeats
of a stage, a block whose arguments drop a layer. Its modules are matched to the file's by where
they sit in the spec (``Graph.places``), not by name, since names are positions: in a flat
sequence (torchvision's ``features.7``) every repeat added or dropped shifts the names after it,
and inside a block an item its ``if`` drops shifts its siblings' (an inverted residual without
its expansion conv has its depthwise conv at ``conv.0``, not ``conv.1``). A place is the item's
path in the YAML (in the network, or in the block's body for the layers inside a block), its
foreach row and repeat, under the place of each block call that leads there: paths stay where
an ``if`` drops an item beside them. Each tensor then takes what fits of its counterpart: all of
it when the shapes agree, else the overlap (the leading channels, the centre of a kernel), as
once-for-all networks share weights (Cai et al., 2020); a grouped convolution's overlap is taken
group by group, so that each filter reads the inputs it was trained on, and the layers around it
take the channels it gives and reads (``_channels``), not the leading ones; likewise the layers
after a concat take each of its inputs' channels where that input sits in the file's concat.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import torch
from networkx.utils import UnionFind
from torch import nn

from nasblocks._graph import INPUT
from nasblocks._ops import REGISTRY, conv_geometry

if TYPE_CHECKING:
    from nasblocks._graph import Graph, Node, Where
    from nasblocks._weights import Pretrained


@dataclass(frozen=True)
class Start:
    """What a trial's network starts from: the file, and the modules whose counterpart in the
    file's network is not named as their enclosing module's implies (that name), or that have
    none at all (None: a repeat it lacks, a layer its block drops): ``counterparts``."""

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
    a network of the same spec), the module at the same place of the spec, is not named as their
    enclosing module's counterpart implies: that name, or None where ``source`` has nothing there.
    A module left out keeps its enclosing module's counterpart's name for what it holds (all of
    them, outside any renamed module: the same name), so a block that moved is one entry."""
    paths: dict[Any, str] = {}  # a place's path, joined once: blocks replayed share their places
    theirs = {_key(where, paths): name for name, where in source.placed}
    renamed: dict[str, str | None] = {}
    for name, where in graph.placed:  # a module after the one that holds it
        other = theirs.get(_key(where, paths))
        if other != _source(name, renamed):
            renamed[name] = other
    return renamed


def _key(where: Where, paths: dict[Any, str]) -> tuple[Any, ...]:
    """A place as the item paths (and repeat indices) of the block calls that lead to it and its own."""
    calls, place, repeats = where
    return tuple((_path(call, paths), around) for call, around in calls), _path(place, paths), repeats


def _path(place: Any, paths: dict[Any, str]) -> str:
    if place not in paths:
        paths[place] = place.path
    return paths[place]


def inherit(module: nn.Module, graph: Graph, state: Mapping[str, torch.Tensor],
            renamed: Mapping[str, str | None] | None = None) -> Inherited:
    """Start ``module`` (compiled from ``graph``) from ``state`` as far as it fits. Each tensor's
    counterpart in ``state`` is the one of the same name, under the module's other name where
    ``renamed`` (see ``counterparts``) gives one. A counterpart of the same shape is copied whole;
    one of the same rank but another shape gives its overlap, and the rest of the tensor keeps its
    fresh initialisation. The layers that make the outputs (the classifier) take an overlap only
    where they have as many rows as the file's: their rows are the file's classes, not channels.
    A grouped convolution takes its overlap group by group (``_groups``), and the layers around it
    the channels it gives and reads, those after a concat each input's channels at its offset in
    the file's (``_channels``): a function of the two networks alone, which ``study retrain``
    derives again. Batch norm's step counters are copied where they can be, but not counted: they
    are no weights."""
    renamed = renamed or {}
    heads = _heads(graph)
    layers = {node.target: node for node in graph if node.target is not None}
    groups = {node.target: _groups(node, graph, state, renamed) for node in graph if node.op in _CONVS}
    tensors = module.state_dict()  # tensors sharing the module's storage
    channels = _channels(graph, layers, groups, state, renamed, tensors)
    counts: Counter[str] = Counter()
    with torch.no_grad():
        for key, mine in tensors.items():
            theirs = _counterpart(key, state, renamed)
            owner = key.rpartition(".")[0]
            cut = groups.get(owner, 1)
            if theirs is not None and theirs.shape == mine.shape:
                mine.copy_(theirs)
                how = "whole"
            elif theirs is not None and theirs.dim() == mine.dim() and cut is not None and \
                    (owner not in heads or theirs.shape[0] == mine.shape[0]):
                if cut > 1:  # its own groups, whatever the layers around it take
                    along = [_per_group(cut, mine.shape[0], theirs.shape[0])]
                else:
                    along = [channels.get(value) for value in _values(layers[owner])] if owner in layers else []
                here, there = _overlap(mine.shape, theirs.shape, along)
                mine[here] = theirs[there].to(mine.dtype)
                how = "part"
            else:
                how = "fresh"
            if mine.is_floating_point():
                counts[how] += 1
    return Inherited(counts["whole"], counts["part"], counts["fresh"])


_CONVS = ("conv", "dwconv")
_Index = tuple[slice | torch.Tensor, ...]


@dataclass(frozen=True)
class Channels:
    """Which of the file's channels a value's channels take, where not the leading ones: channel
    ``here[i]`` is the file's channel ``there[i]`` of its ``file`` channels; the others have none."""

    here: tuple[int, ...]
    there: tuple[int, ...]
    file: int


def _per_group(groups: int, mine: int, theirs: int) -> Channels | None:
    """Group ``j``'s channels taking the leading channels of the file's group ``j``; None where
    those are the leading channels (one group, or groups as wide as the file's)."""
    width, file_width = mine // groups, theirs // groups
    if groups == 1 or width == file_width:
        return None
    shared = range(min(width, file_width))
    return Channels(tuple(j * width + k for j in range(groups) for k in shared),
                    tuple(j * file_width + k for j in range(groups) for k in shared), theirs)


def _channels(graph: Graph, layers: Mapping[str, Node], groups: Mapping[str | None, int | None],
              state: Mapping[str, torch.Tensor], renamed: Mapping[str, str | None],
              tensors: Mapping[str, torch.Tensor]) -> dict[str, Channels]:
    """The values of ``graph`` whose channels take other channels of the file than the leading
    ones, so that a channel's weights stay together along the network, as in once-for-all
    supernets: a convolution cut group by group gives its output the file's channels group by
    group, and wants them of its input; a concat gives each input's channels at that input's
    offset in the file's concat (``_joined``: GoogLeNet's branch 2 from the file's channel 64 on,
    however narrow branch 1 is). Values tied by ops that keep channels one to one (a batch norm,
    an activation, pooling, a residual's add, squeeze-and-excitation's scaling) take one choice
    together, which the layers that make or read them (a convolution's rows, a 1×1 convolution's
    or a linear layer's columns) follow. A tied set keeps the leading channels (its grouped
    convolutions their own cut) where the channels its convolutions and concats give or want
    differ, where it holds the network's input or an output, a value made or read otherwise (a
    split, a shuffle, a depthwise convolution at another width, a concat whose inputs' widths in
    the file cannot be told: ``_told``), or a counterpart of another width."""
    tied = UnionFind()
    asked: dict[str, set[Channels | None]] = defaultdict(set)
    joined: dict[str, list[int | None]] = {}  # a concat: its inputs' widths in the file, where told
    fixed = {INPUT, graph.output, *(aux for _, aux in graph.aux_outputs)}
    for node in graph:
        cut = groups.get(node.target, 1)
        weight = _counterpart(f"{node.target}.weight", state, renamed) if cut != 1 else None
        if _one_to_one(node):
            tied.union(node.name, *node.inputs)
        elif cut is not None and cut > 1 and weight is not None:  # _groups found the file's weight
            asked[node.name].add(_per_group(cut, node.out_shape[0], weight.shape[0]))
            asked[node.inputs[0]].add(_per_group(cut, node.in_shapes[0][0], cut * weight.shape[1]))
        elif node.op == "concat":
            joined[node.name] = [_file_channels(graph, part, state, renamed, None) for part in node.inputs]
        elif not _values(node)[1:]:  # neither a linear layer nor a convolution reading all its inputs
            fixed.update((node.name, *node.inputs))
    wanted: dict[Any, set[Channels | None]] = defaultdict(set)
    for value, maps in asked.items():
        wanted[tied[value]] |= maps
    sizes: dict[Any, set[int]] = defaultdict(set)  # the channels the file's layers make or read of a set
    for key, mine in tensors.items():
        owner, theirs = key.rpartition(".")[0], _counterpart(key, state, renamed)
        if owner in layers and theirs is not None and theirs.dim() == mine.dim():
            for value, size in zip(_values(layers[owner]), theirs.shape):
                sizes[tied[value]].add(size)
    joins: dict[Any, list[tuple[Node, tuple[int, ...]]]] = defaultdict(list)
    for value, widths in joined.items():
        told = _told(widths, sizes[tied[value]])
        if told is None:
            fixed.update((value, *graph[value].inputs))
        else:
            joins[tied[value]].append((graph[value], told))
    blocked = {tied[value] for value in fixed}
    chosen: dict[Any, Channels | None] = {}

    def choose(root: Any) -> Channels | None:
        """A tied set's channels (None: the leading ones), its concats' after their inputs': sets
        of narrower values (a concat has two inputs or more), so that no set waits on itself."""
        if root not in chosen:
            maps = wanted[root] | {_joined(concat, widths, [choose(tied[part]) for part in concat.inputs])
                                   for concat, widths in joins[root]}
            one = next(iter(maps)) if len(maps) == 1 else None
            chosen[root] = one if one is not None and root not in blocked and sizes[root] <= {one.file} else None
        return chosen[root]

    return {value: channels for value in (INPUT, *(node.name for node in graph))
            if (channels := choose(tied[value])) is not None}


def _told(widths: Sequence[int | None], sizes: set[int]) -> tuple[int, ...] | None:
    """A concat's inputs' widths in the file: where one cannot be told (its layer has no
    counterpart, as an Inception branch factorised otherwise than the file's), what the file's
    layers reading the concat (``sizes``) leave of the others'; None where that cannot be told."""
    known = [width for width in widths if width is not None]
    if len(known) == len(widths):
        return tuple(known)
    rest = next(iter(sizes)) - sum(known) if len(sizes) == 1 else 0
    if len(known) < len(widths) - 1 or rest <= 0:
        return None
    return tuple(rest if width is None else width for width in widths)


def _joined(concat: Node, widths: Sequence[int], parts: Sequence[Channels | None]) -> Channels | None:
    """A concat's channels: each input's (``parts``; None for its leading ones), offset by the
    widths of the inputs before it here and in the file (``widths``); None where those are the
    leading channels (every input but the last as wide as the file's, and taking its leading ones)."""
    here: list[int] = []
    there: list[int] = []
    at_here = at_there = 0
    for shape, width, part in zip(concat.in_shapes, widths, parts):
        shared = range(min(shape[0], width))
        here += (at_here + k for k in (shared if part is None else part.here))
        there += (at_there + k for k in (shared if part is None else part.there))
        at_here, at_there = at_here + shape[0], at_there + width
    return None if here == there == list(range(min(at_here, at_there))) else \
        Channels(tuple(here), tuple(there), at_there)


def _one_to_one(node: Node) -> bool:
    """Whether each output channel of ``node`` is made of the same channel of its inputs alone."""
    return ("channelwise" in REGISTRY[node.op].tags or node.op == "shuffle" and node.args["groups"] == 1) and \
        all(shape[0] == node.out_shape[0] for shape in node.in_shapes)


def _values(node: Node) -> tuple[str, ...]:
    """The values whose channels the dimensions of a layer's tensors run along: those it makes,
    then, for a linear layer or a convolution of one group, those it reads."""
    dense = node.op == "linear" or node.op in _CONVS and conv_geometry(node.args, node.in_shapes[0][0])[3] == 1
    return (node.name, node.inputs[0]) if dense else (node.name,)


def _groups(conv: Node, graph: Graph, state: Mapping[str, torch.Tensor],
            renamed: Mapping[str, str | None]) -> int | None:
    """The groups a convolution's tensors and their counterparts are cut in, group ``j`` taking
    the overlap of the file's group ``j``: its groups, where the file's convolution has as many;
    else 1 (the leading overlap, which pairs group ``j`` with group ``j`` too) where each group
    reads as many input channels in both (a depthwise convolution at another width); else None:
    fresh, since no filter of the file reads the inputs a filter of the trial's does. The file's
    groups are its input channels (``_file_channels``) over its weight's second dimension."""
    cin = conv.in_shapes[0][0]
    count = conv_geometry(conv.args, cin)[3]
    key = f"{conv.target}.weight"
    theirs = _counterpart(key, state, renamed)
    if count == 1 or theirs is None or theirs.dim() != 4:
        return 1
    channels = _file_channels(graph, conv.inputs[0], state, renamed, _moved(key, renamed))
    if channels is not None and channels == count * theirs.shape[1] and theirs.shape[0] % count == 0:
        return count
    return 1 if theirs.shape[1] == cin // count else None


def _file_channels(graph: Graph, name: str, state: Mapping[str, torch.Tensor],
                   renamed: Mapping[str, str | None], moved: str | None) -> int | None:
    """The channels of value ``name`` of ``graph`` in the file's network: the rows of the file's
    counterpart of the layer with weights that makes it, through the ops that keep the channels
    (activations, pooling, a residual's add), summed over a concat's inputs; None where that
    cannot be told (a split, a layer the file lacks), or where that layer's counterpart may not be
    what makes the value in the file: outside ``moved``, the module whose move gave the reader its
    counterpart (a block whose ``if`` dropped a layer moves the layers after it, not before)."""
    while name in graph:
        node = graph[name]
        if node.target is not None and node.params:
            if moved is not None and not node.target.startswith(f"{moved}."):
                return None
            theirs = _counterpart(f"{node.target}.weight", state, renamed)
            return None if theirs is None else theirs.shape[0]
        if node.op == "concat":
            parts = [_file_channels(graph, part, state, renamed, moved) for part in node.inputs]
            return None if None in parts else sum(parts)  # type: ignore[arg-type]
        if node.out_shape[0] != node.in_shapes[0][0]:
            return None
        name = node.inputs[0]
    return graph.input_shape[0]


def _counterpart(key: str, state: Mapping[str, torch.Tensor],
                 renamed: Mapping[str, str | None]) -> torch.Tensor | None:
    """Tensor ``key``'s counterpart in ``state``, if it has one."""
    source = _source(key, renamed)
    return None if source is None else state.get(source)


def _source(key: str, renamed: Mapping[str, str | None]) -> str | None:
    """The name of tensor ``key``'s counterpart: under its innermost renamed module's other name
    (a module that keeps its name keeps it for everything inside, too)."""
    moved = _moved(key, renamed)
    if moved is None:
        return key
    other = renamed[moved]
    return None if other is None else other + key[len(moved):]


def _moved(key: str, renamed: Mapping[str, str | None]) -> str | None:
    """The innermost module holding ``key`` that ``renamed`` names, if any."""
    prefix = key
    while "." in prefix:
        prefix = prefix.rpartition(".")[0]
        if prefix in renamed:
            return prefix
    return None


def _overlap(mine: torch.Size, theirs: torch.Size, along: Sequence[Channels | None]) -> tuple[_Index, _Index]:
    """Index tuples of the overlap of two shapes: the channels ``along`` gives for the leading
    dimensions it gives them for, else the leading ones, centred along the spatial dimensions of
    a convolution's kernel (the last two of a weight)."""
    given = {dim: channels for dim, channels in enumerate(along) if channels is not None}
    here: list[slice | torch.Tensor] = []
    there: list[slice | torch.Tensor] = []
    for dim, (n, m) in enumerate(zip(mine, theirs)):
        if dim in given:  # lists of channels, broadcast against each other: an open mesh
            shape = [-1 if other == dim else 1 for other in given]
            here.append(torch.tensor(given[dim].here).view(shape))
            there.append(torch.tensor(given[dim].there).view(shape))
            continue
        size = min(n, m)
        start_here, start_there = ((n - size) // 2, (m - size) // 2) if len(mine) == 4 and dim >= 2 else (0, 0)
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
