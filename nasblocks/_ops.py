"""The op registry: one entry per primitive op, holding its shape rule, cost rule and the way it
is compiled (a module factory, a functional emitter, or both).

Adding an op is adding one ``register(OpDef(...))`` call here and its tests. Shapes are per
image, without the batch dimension: ``(C, H, W)`` for feature maps, ``(F,)`` once flattened.

Cost convention (REFERENCE.md, "the canonical count"): ``macs`` are the multiply-adds of
convolutions and fully connected layers, bias excluded —
conv = C_out · H_out · W_out · (C_in / groups) · k_h · k_w, linear = in · out — the number the
MobileNet and ShuffleNet papers call FLOPs and torchvision documents as GFLOPS. Everything else
(batch norm, activations, pooling, adds, multiplies, concat, split, shuffle, dropout) costs zero
multiply-adds. ``params`` counts every parameter (not buffers).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx
import torch.nn.functional as F
from torch import nn

from nasblocks._op_args import REQUIRED, Args, Param
from nasblocks._shape import Shape, fmt_shape


class ShapeError(ValueError):
    """An op cannot take the shapes it is given; the caller adds file, line and path."""


# --- the registry -------------------------------------------------------------------------------

ShapeRule = Callable[[Args, tuple[Shape, ...]], Shape]
CostRule = Callable[[Args, tuple[Shape, ...], Shape], tuple[int, int]]
ModuleFactory = Callable[[Args, tuple[Shape, ...], bool], nn.Module]
Emitter = Callable[[torch.fx.Graph, list[torch.fx.Node], Args], torch.fx.Node]


def _free(args: Args, ins: tuple[Shape, ...], out: Shape) -> tuple[int, int]:
    return 0, 0


@dataclass(frozen=True)
class OpDef:
    """A primitive op: how its output shape follows from its inputs, what it costs, and how it
    compiles — as a submodule at its hierarchical name (``module``) or as a call (``emit``).

    ``functional`` says which form an item gets by default; an item may ask for the other with
    ``functional: true``/``false`` where both exist (GoogLeNet applies ReLU functionally).
    ``inplace`` ops receive ``inplace=True`` from the compiler when no other node reads their
    input, as torchvision writes ``ReLU(inplace=True)``. ``output`` says what an op returns, for
    that rule: a ``new`` tensor, possibly an ``alias`` of its input (the input itself or a view of
    it: overwriting one overwrites the other), or a ``part`` of it that autograd forbids
    overwriting (one of the views ``chunk`` returns). ``tags`` group ops that tools treat alike:
    ``channelwise`` ops make each output channel of the same channel of their inputs alone, so
    weight inheritance carries a choice of channels through them; the latency table fuses an
    ``activation`` into the unit before it.
    """

    name: str
    doc: str
    params: Mapping[str, Param]
    shape: ShapeRule
    cost: CostRule = _free
    module: ModuleFactory | None = None
    emit: Emitter | None = None
    functional: bool = False
    inplace: bool = False
    tags: tuple[str, ...] = field(default=())
    output: str = "new"


REGISTRY: dict[str, OpDef] = {}


def register(op: OpDef) -> OpDef:
    """Add an op; a duplicate name is an error (a silent override would change every spec)."""
    if op.name in REGISTRY:
        raise ValueError(f"op {op.name!r} is already registered")
    if op.module is None and op.emit is None:
        raise ValueError(f"op {op.name!r} needs a module factory or an emitter")
    REGISTRY[op.name] = op
    return op


def list_ops() -> list[str]:
    """The names of all registered ops, sorted."""
    return sorted(REGISTRY)


# --- shape helpers ------------------------------------------------------------------------------

def _feature_map(op: str, shape: Shape) -> Shape:
    if len(shape) != 3:
        raise ShapeError(f"{op} needs a C×H×W feature map, got {fmt_shape(shape)}")
    return shape


def _window(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil: bool, what: str) -> int:
    """Output length of a sliding window, with PyTorch's rules: in ceil mode a last, partial
    window counts (so a 2-wide input under a 3-wide pool still gives one output), unless it
    would start in the right padding."""
    extent = dilation * (kernel - 1) + 1
    span = size + 2 * pad - extent
    out = (-(-span // stride) if ceil else span // stride) + 1
    if ceil and (out - 1) * stride >= size + pad:
        out -= 1
    if out < 1:
        raise ShapeError(f"{what} {kernel} (extent {extent}) is larger than the padded input "
                         f"{size + 2 * pad}")
    return out


def _conv_padding(args: Args, kernel: tuple[int, int], dilation: tuple[int, int]) -> tuple[int, int] | str:
    pad = args["padding"]
    if pad == "auto":
        return tuple((k - 1) // 2 * d for k, d in zip(kernel, dilation))  # type: ignore[return-value]
    if pad == "valid":
        return 0, 0
    return pad


def conv_geometry(args: Args, cin: int) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], int, int]:
    """kernel, stride, dilation, groups and out channels of a conv or depthwise conv."""
    kernel, stride, dilation = args["kernel"], args["stride"], args["dilation"]
    if "multiplier" in args:
        return kernel, stride, dilation, cin, cin * args["multiplier"]
    groups, out = args["groups"], args["out"]
    if cin % groups or out % groups:
        raise ShapeError(f"groups={groups} must divide both input channels ({cin}) and out ({out})")
    return kernel, stride, dilation, groups, out


def _conv_shape(args: Args, ins: tuple[Shape, ...]) -> Shape:
    c, h, w = _feature_map("conv", ins[0])
    kernel, stride, dilation, _, out = conv_geometry(args, c)
    pad = _conv_padding(args, kernel, dilation)
    if pad == "same":
        if stride != (1, 1):
            raise ShapeError(f"padding 'same' needs stride 1, got stride {stride[0]}×{stride[1]}")
        return out, h, w
    ho = _window(h, kernel[0], stride[0], pad[0], dilation[0], False, "kernel")
    wo = _window(w, kernel[1], stride[1], pad[1], dilation[1], False, "kernel")
    return out, ho, wo


def _conv_cost(args: Args, ins: tuple[Shape, ...], out: Shape) -> tuple[int, int]:
    cin = ins[0][0]
    kernel, _, _, groups, cout = conv_geometry(args, cin)
    per_output = cin // groups * kernel[0] * kernel[1]
    params = cout * per_output + (cout if args["bias"] else 0)
    return params, out[0] * out[1] * out[2] * per_output


def _conv_module(args: Args, ins: tuple[Shape, ...], inplace: bool) -> nn.Module:
    kernel, stride, dilation, groups, out = conv_geometry(args, ins[0][0])
    return nn.Conv2d(ins[0][0], out, kernel, stride, _conv_padding(args, kernel, dilation),
                     dilation, groups, bias=args["bias"])


_CONV_COMMON = {
    "kernel": Param("pair", minimum=1), "stride": Param("pair", 1, minimum=1),
    "padding": Param("padding", "auto"), "dilation": Param("pair", 1, minimum=1),
    "bias": Param("bool", False),
}

register(OpDef(
    "conv", "2-d convolution, any kernel (3, [1, 7], ...); padding 'auto' keeps the size at "
    "stride 1 ((k - 1) // 2 · dilation), or an integer, a pair, 'same' or 'valid'.",
    {"out": Param("int", minimum=1), **_CONV_COMMON, "groups": Param("int", 1, minimum=1)},
    _conv_shape, _conv_cost, module=_conv_module, tags=("conv",)))

register(OpDef(
    "dwconv", "depthwise convolution: groups = input channels, out = in · multiplier.",
    {**_CONV_COMMON, "multiplier": Param("int", 1, minimum=1)},
    _conv_shape, _conv_cost, module=_conv_module, tags=("conv",)))


def _linear_shape(args: Args, ins: tuple[Shape, ...]) -> Shape:
    if len(ins[0]) != 1:
        raise ShapeError(f"linear needs a flat input, got {fmt_shape(ins[0])}; add a flatten "
                         f"(or a global pool and flatten) before it")
    return (args["out"],)


register(OpDef(
    "linear", "fully connected layer on a flat input.",
    {"out": Param("int", minimum=1), "bias": Param("bool", True)},
    _linear_shape,
    lambda a, ins, out: (ins[0][0] * a["out"] + (a["out"] if a["bias"] else 0), ins[0][0] * a["out"]),
    module=lambda a, ins, _: nn.Linear(ins[0][0], a["out"], bias=a["bias"]), tags=("linear",)))


def _same(args: Args, ins: tuple[Shape, ...]) -> Shape:
    return ins[0]


def _bn_shape(args: Args, ins: tuple[Shape, ...]) -> Shape:
    return _feature_map("bn", ins[0])


register(OpDef(
    "bn", "2-d batch norm over the input's channels.",
    {"eps": Param("float", 1e-5, minimum=0), "momentum": Param("float", 0.1, minimum=0),
     "affine": Param("bool", True)},
    _bn_shape, lambda a, ins, out: (2 * ins[0][0] if a["affine"] else 0, 0),
    module=lambda a, ins, _: nn.BatchNorm2d(ins[0][0], a["eps"], a["momentum"], a["affine"]),
    tags=("channelwise",)))

# --- activations --------------------------------------------------------------------------------

ACTIVATIONS: dict[str, tuple[type[nn.Module], Callable[..., torch.Tensor], bool]] = {
    # name: (module class, functional form, takes inplace)
    "relu": (nn.ReLU, F.relu, True),
    "relu6": (nn.ReLU6, F.relu6, True),
    "hardswish": (nn.Hardswish, F.hardswish, True),
    "hardsigmoid": (nn.Hardsigmoid, F.hardsigmoid, True),
    "sigmoid": (nn.Sigmoid, torch.sigmoid, False),
    "silu": (nn.SiLU, F.silu, True),
    "gelu": (nn.GELU, F.gelu, False),
    "tanh": (nn.Tanh, torch.tanh, False),
    "identity": (nn.Identity, lambda x: x, False),
}


def _activation(fn: str) -> OpDef:
    module_class, function, takes_inplace = ACTIVATIONS[fn]

    def module(args: Args, ins: tuple[Shape, ...], inplace: bool) -> nn.Module:
        return module_class(inplace=inplace) if takes_inplace else module_class()

    def emit(graph: torch.fx.Graph, inputs: list[torch.fx.Node], args: Args) -> torch.fx.Node:
        if fn == "identity":
            return inputs[0]
        return graph.call_function(function, (inputs[0],))

    return OpDef(fn, f"{fn} activation ({module_class.__name__}).", {}, _same,
                 module=module, emit=emit, inplace=takes_inplace, tags=("activation", "channelwise"),
                 output="alias" if fn == "identity" else "new")


for _name in ACTIVATIONS:
    register(_activation(_name))

# ``act`` picks an activation by name, so a block can take its activation as an argument.
register(OpDef(
    "act", "the activation named by fn (relu, relu6, hardswish, ...).",
    {"fn": Param("str", choices=tuple(ACTIVATIONS))}, _same,
    module=lambda a, ins, inplace: REGISTRY[a["fn"]].module(a, ins, inplace),  # type: ignore[misc]
    emit=lambda g, xs, a: REGISTRY[a["fn"]].emit(g, xs, a),  # type: ignore[misc]
    inplace=True, tags=("activation", "channelwise")))


def output_kind(op: str, args: Args) -> str:
    """What a node of ``op`` returns (``OpDef.output``); ``act``'s is its activation's."""
    return REGISTRY[args["fn"] if op == "act" else op].output

# --- pooling ------------------------------------------------------------------------------------


def _pool_shape(args: Args, ins: tuple[Shape, ...]) -> Shape:
    c, h, w = _feature_map("pooling", ins[0])
    kernel, stride, pad = args["kernel"], args["stride"] or args["kernel"], args["padding"]
    for k, p in zip(kernel, pad):
        if p > k // 2:
            raise ShapeError(f"padding {p} must be at most half the kernel {k}")
    return (c, _window(h, kernel[0], stride[0], pad[0], 1, args["ceil_mode"], "pool kernel"),
            _window(w, kernel[1], stride[1], pad[1], 1, args["ceil_mode"], "pool kernel"))


_POOL = {"kernel": Param("pair", minimum=1), "stride": Param("pair", None, minimum=1),
         "padding": Param("pair", 0), "ceil_mode": Param("bool", False)}


def _pool_args(args: Args) -> dict[str, Any]:
    return {"kernel_size": args["kernel"], "stride": args["stride"] or args["kernel"],
            "padding": args["padding"], "ceil_mode": args["ceil_mode"]}


register(OpDef(
    "maxpool", "2-d max pooling (stride defaults to the kernel; ceil_mode as in Caffe).", _POOL,
    _pool_shape,
    module=lambda a, ins, _: nn.MaxPool2d(**_pool_args(a)),
    emit=lambda g, xs, a: g.call_function(F.max_pool2d, (xs[0],), _pool_args(a)), tags=("channelwise",)))

register(OpDef(
    "avgpool", "2-d average pooling; count_include_pad as PyTorch's default.",
    {**_POOL, "count_include_pad": Param("bool", True)}, _pool_shape,
    module=lambda a, ins, _: nn.AvgPool2d(**_pool_args(a), count_include_pad=a["count_include_pad"]),
    emit=lambda g, xs, a: g.call_function(
        F.avg_pool2d, (xs[0],), {**_pool_args(a), "count_include_pad": a["count_include_pad"]}),
    tags=("channelwise",)))


def _adaptive_shape(args: Args, ins: tuple[Shape, ...]) -> Shape:
    c = _feature_map("adaptive_avgpool", ins[0])[0]
    return (c, *args["size"])


register(OpDef(
    "adaptive_avgpool", "adaptive average pooling to a fixed size (1: global pooling).",
    {"size": Param("pair", 1, minimum=1)}, _adaptive_shape,
    module=lambda a, ins, _: nn.AdaptiveAvgPool2d(a["size"]),
    emit=lambda g, xs, a: g.call_function(F.adaptive_avg_pool2d, (xs[0],), {"output_size": a["size"]}),
    tags=("channelwise",)))


def _mean_shape(args: Args, ins: tuple[Shape, ...]) -> Shape:
    c = _feature_map("mean", ins[0])[0]
    return (c, 1, 1) if args["keepdim"] else (c,)


register(OpDef(
    "mean", "global average as a tensor op, x.mean((2, 3)) — no module, as ShuffleNet v2 and "
    "timm's SE write it.", {"keepdim": Param("bool", False)}, _mean_shape,
    emit=lambda g, xs, a: g.call_method("mean", (xs[0], (2, 3)), {"keepdim": a["keepdim"]}),
    functional=True, tags=("channelwise",)))

# --- reshaping and channel ops ------------------------------------------------------------------


def _flatten_shape(args: Args, ins: tuple[Shape, ...]) -> Shape:
    return (math.prod(ins[0]),)


register(OpDef(
    "flatten", "flatten to one dimension per image (torch.flatten(x, 1)).", {}, _flatten_shape,
    module=lambda a, ins, _: nn.Flatten(),
    emit=lambda g, xs, a: g.call_function(torch.flatten, (xs[0], 1)), functional=True, output="alias",
    tags=("channelwise",)))  # of a C×1×1 input: the inheritance checks the channel counts

register(OpDef(
    "dropout", "dropout (active in training mode only).",
    {"p": Param("float", 0.5, minimum=0, maximum=1)}, _same,
    module=lambda a, ins, _: nn.Dropout(a["p"]), output="alias",  # the input itself outside training
    tags=("channelwise",)))

def _stochastic_depth(args: Args, ins: tuple[Shape, ...], inplace: bool) -> nn.Module:
    from torchvision.ops import StochasticDepth  # importing torchvision takes a second: only when used

    return StochasticDepth(args["p"], args["mode"])


register(OpDef(
    "drop_path", "stochastic depth: zeroes a residual branch with probability p per image (mode row) or "
                 "per batch, scaling the rest by 1/(1-p), in training mode only (torchvision's StochasticDepth).",
    {"p": Param("float", REQUIRED, minimum=0, maximum=1), "mode": Param("str", "row", choices=("row", "batch"))},
    _same, module=_stochastic_depth, output="alias", tags=("channelwise",)))  # the input itself outside training


def channel_shuffle(x: torch.Tensor, groups: int, inverse: bool = False) -> torch.Tensor:
    """Interleave channels across groups (ShuffleNet).

    The usual form (torchvision) views channels as (groups, C / groups) and transposes; Megvii's
    ShuffleNet v1 code views them as (C / groups, groups) — the inverse permutation
    (``inverse=True``). They agree only when C / groups = groups.
    """
    b, c, h, w = x.shape
    if inverse:
        return x.reshape(b, c // groups, groups, h, w).permute(0, 2, 1, 3, 4).reshape(b, c, h, w)
    return x.view(b, groups, c // groups, h, w).transpose(1, 2).contiguous().view(b, c, h, w)


def _divides(what: str, key: str) -> ShapeRule:
    def rule(args: Args, ins: tuple[Shape, ...]) -> Shape:
        c = _feature_map(what, ins[0])[0]
        if c % args[key]:
            raise ShapeError(f"{key}={args[key]} must divide the input channels, got {c}")
        return ins[0] if what == "shuffle" else (c // args[key], *ins[0][1:])
    return rule


register(OpDef(
    "shuffle", "channel shuffle across groups (ShuffleNet); inverse: Megvii's v1 permutation.",
    {"groups": Param("int", minimum=1), "inverse": Param("bool", False)}, _divides("shuffle", "groups"),
    emit=lambda g, xs, a: g.call_function(channel_shuffle, (xs[0], a["groups"], a["inverse"])),
    functional=True, output="alias"))  # a view of the input where the permutation is none (one group)


def _emit_split(graph: torch.fx.Graph, xs: list[torch.fx.Node], args: Args) -> torch.fx.Node:
    """``x.chunk(parts, dim=1)[index]``; the parts of one tensor share its chunk, as torchvision's
    ``x1, x2 = x.chunk(2, dim=1)`` does, rather than chunking it again for each part."""
    chunk = (xs[0], args["parts"])
    chunks = next((user for user in xs[0].users
                   if (user.op, user.target, user.args) == ("call_method", "chunk", chunk)), None)
    chunks = chunks or graph.call_method("chunk", chunk, {"dim": 1})
    return graph.call_function(operator.getitem, (chunks, args["index"]))


def _split_shape(args: Args, ins: tuple[Shape, ...]) -> Shape:
    if args["index"] >= args["parts"]:
        raise ShapeError(f"index {args['index']} is out of range for {args['parts']} parts")
    return _divides("split", "parts")(args, ins)


register(OpDef(
    "split", "one of `parts` equal channel chunks (x.chunk(parts, 1)[index]), ShuffleNet v2's split.",
    {"parts": Param("int", 2, minimum=1), "index": Param("int", minimum=0)}, _split_shape,
    emit=_emit_split, functional=True, output="part"))


def channel_affine(x: torch.Tensor, scale: tuple[float, ...], shift: tuple[float, ...]) -> torch.Tensor:
    """x · scale + shift per channel, written as torchvision's GoogLeNet/Inception v3
    ``transform_input`` writes it (one channel at a time) so the results are bit-identical."""
    channels = [x[:, c:c + 1] * s + b for c, (s, b) in enumerate(zip(scale, shift))]
    return torch.cat(channels, 1)


def _affine_shape(args: Args, ins: tuple[Shape, ...]) -> Shape:
    c = _feature_map("channel_affine", ins[0])[0]
    if len(args["scale"]) != c or len(args["shift"]) != c:
        raise ShapeError(f"scale and shift need one value per channel ({c}), got "
                         f"{len(args['scale'])} and {len(args['shift'])}")
    return ins[0]


register(OpDef(
    "channel_affine", "per-channel x · scale + shift with constants, e.g. GoogLeNet's "
    "transform_input (re-normalising ImageNet inputs to the range its weights were trained on).",
    {"scale": Param("floats"), "shift": Param("floats")}, _affine_shape,
    emit=lambda g, xs, a: g.call_function(channel_affine, (xs[0], a["scale"], a["shift"])),
    functional=True, tags=("channelwise",)))

# --- merges: the last op of concat/add/mul branches ---------------------------------------------


def _concat_shape(args: Args, ins: tuple[Shape, ...]) -> Shape:
    first = ins[0]
    for shape in ins[1:]:
        if len(shape) != len(first) or shape[1:] != first[1:]:
            raise ShapeError("concat needs equal sizes apart from channels, got "
                             + ", ".join(fmt_shape(s) for s in ins))
    return (sum(s[0] for s in ins), *first[1:])


def _add_shape(args: Args, ins: tuple[Shape, ...]) -> Shape:
    if any(shape != ins[0] for shape in ins[1:]):
        raise ShapeError("add needs equal shapes, got " + ", ".join(fmt_shape(s) for s in ins))
    return ins[0]


def _mul_shape(args: Args, ins: tuple[Shape, ...]) -> Shape:
    out = list(ins[0])
    for shape in ins[1:]:
        if len(shape) != len(out) or any(a != b and 1 not in (a, b) for a, b in zip(out, shape)):
            raise ShapeError("mul needs shapes that broadcast (equal or 1 per dimension), got "
                             + ", ".join(fmt_shape(s) for s in ins))
        out = [max(a, b) for a, b in zip(out, shape)]
    return tuple(out)


def _chain(fn: Callable[[Any, Any], Any]) -> Emitter:
    def emit(graph: torch.fx.Graph, xs: list[torch.fx.Node], args: Args) -> torch.fx.Node:
        result = xs[0]
        for x in xs[1:]:
            result = graph.call_function(fn, (result, x))
        return result
    return emit


register(OpDef("concat", "concatenate branches along channels.", {}, _concat_shape,
               emit=lambda g, xs, a: g.call_function(torch.cat, (list(xs), 1)), functional=True))
register(OpDef("add", "element-wise sum of branches (residuals).", {}, _add_shape,
               emit=_chain(operator.add), functional=True, tags=("channelwise",)))
register(OpDef("mul", "element-wise product of branches, broadcasting (SE gating).", {}, _mul_shape,
               emit=_chain(operator.mul), functional=True, tags=("channelwise",)))
