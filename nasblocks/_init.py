"""Initialisation as the reference implementation does it, declared in the spec.

torchvision builds each layer (which draws PyTorch's default initialisation) and then draws its
own scheme over the network's modules, in their order: He-normal convolutions for ResNet and
MobileNet, N(0, 0.01) classifiers, a truncated normal for GoogLeNet. A spec says the same::

    init:                                  # every layer of a kind: conv, linear, bn
      conv: {fn: kaiming_normal, mode: fan_out, nonlinearity: relu}
      linear: {fn: normal, std: 0.01, bias: zeros}

and an op item may give its own layers another rule (``init: {fn: normal, std: 0.01}``:
SqueezeNet's final convolution; ``fn: None`` leaves them the spec's). ``fn`` is a function of
``torch.nn.init`` (without its trailing underscore), the other keys its arguments; ``bias: zeros``
zeroes the bias too. ``dwconv`` names the depthwise convolutions apart from the others (timm's
MobileNets count their fan-out per group). Drawn in the compiled module's module order, which
is the reference's, a zoo network of torchvision's built after ``torch.manual_seed(s)`` holds the
very tensors torchvision's constructor draws after it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from nasblocks._spec import fail, suggest
from nasblocks._yaml import YMap

if TYPE_CHECKING:
    from nasblocks._graph import Graph

# the layers a spec-wide rule names, by kind (a depthwise conv is a conv too, where no dwconv
# rule is given); the ops whose module is one; a weight of each kind
KINDS: dict[str, type[nn.Module]] = {"conv": nn.Conv2d, "dwconv": nn.Conv2d, "linear": nn.Linear,
                                     "bn": nn.BatchNorm2d}
OP_KINDS = {"conv": "conv", "dwconv": "dwconv", "linear": "linear", "bn": "bn"}
_TRIAL = {"conv": (4, 4, 3, 3), "dwconv": (4, 1, 3, 3), "linear": (4, 4), "bn": (4,)}
FUNCTIONS = ("kaiming_normal", "kaiming_uniform", "xavier_normal", "xavier_uniform", "normal", "trunc_normal",
             "uniform", "constant", "ones", "zeros", "orthogonal")


def check_rule(raw: Any, evaluate: Callable[[Any], Any], kind: str) -> dict[str, Any] | None:
    """A rule as written (``{fn: ..., <its arguments>, bias: zeros}``), its values evaluated as
    expressions, drawn once over a small weight of ``kind`` (the global random state left as it
    was): a ValueError says what is wrong, before any network is built. None where ``fn`` is
    None: no rule (a block's ``fn: "'zeros' if zero_init else None"`` leaves the spec's)."""
    if not isinstance(raw, Mapping):
        raise ValueError(f"expected a mapping such as {{fn: kaiming_normal, mode: fan_out}}, got {raw!r}")
    rule = {str(key): evaluate(value) for key, value in raw.items()}  # an ExprError is a ValueError
    if "fn" in rule and rule["fn"] is None:
        if len(rule) > 1:
            raise ValueError(f"fn is None (no rule of its own), so {', '.join(sorted(rule.keys() - {'fn'}))} "
                             "has nothing to apply to")
        return None
    fn = rule.pop("fn", None)
    if fn not in FUNCTIONS:
        raise ValueError(f"fn: expected one of torch.nn.init's {', '.join(FUNCTIONS)}, got {fn!r}"
                         f"{suggest(str(fn), FUNCTIONS)}")
    bias = rule.pop("bias", None)
    if bias not in (None, "zeros"):
        raise ValueError(f"bias: expected zeros (or no bias key: the layer's own), got {bias!r}")
    function = getattr(nn.init, f"{fn}_")
    try:
        inspect.signature(function).bind(torch.empty(0), **rule)
    except TypeError as err:  # an argument it lacks
        raise ValueError(f"{fn}: {err}") from None
    with torch.random.fork_rng(devices=[]):
        try:
            function(torch.empty(_TRIAL[kind]), **rule)
        except (TypeError, ValueError, RuntimeError) as err:  # a value it refuses
            raise ValueError(f"{fn}: {err}") from None
    return {"fn": fn, "bias": bias, **rule}


def check_rules(raw: Any, document: YMap, evaluate: Callable[[Any], Any]) -> dict[str, dict[str, Any]]:
    """A spec's ``init``: a rule for each kind of layer it names."""
    if raw is None:
        return {}
    if not isinstance(raw, YMap):
        raise fail(f"expected a mapping from {', '.join(KINDS)} to a rule, got {raw!r}", document, "init", "init")
    rules = {}
    for kind, rule in raw.items():
        if kind not in KINDS:
            raise fail(f"unknown kind of layer {kind!r}; init names {', '.join(KINDS)}{suggest(str(kind), KINDS)}",
                       raw, kind, f"init.{kind}")
        try:
            checked = check_rule(rule, evaluate, str(kind))
        except ValueError as err:
            raise fail(str(err), raw, kind, f"init.{kind}") from None
        if checked is not None:
            rules[str(kind)] = checked
    return rules


def initialise(module: nn.Module, graph: Graph) -> None:
    """Draw each layer's rule over it, in module order: its op's own (an item's ``init``), else
    the spec's for its kind (a depthwise conv's: dwconv's, else conv's); the layers no rule names
    keep PyTorch's defaults."""
    owners = {node.target: node for node in graph if node.target is not None}
    with torch.no_grad():
        for name, layer in module.named_modules():
            kind = next((k for k, cls in KINDS.items() if isinstance(layer, cls)), None)
            if kind is None:
                continue
            owner = owners.get(name)  # an op's module is its one layer
            if owner is not None and owner.init is not None:
                rule = owner.init
            elif owner is not None and owner.op == "dwconv" and "dwconv" in graph.init:
                rule = graph.init["dwconv"]
            else:
                rule = graph.init.get(kind)
            if rule is not None:
                _draw(layer, rule)


def _draw(layer: nn.Module, rule: Mapping[str, Any]) -> None:
    if getattr(layer, "weight", None) is None:  # a batch norm without affine parameters
        return
    arguments = {k: v for k, v in rule.items() if k not in ("fn", "bias")}
    getattr(nn.init, f"{rule['fn']}_")(layer.weight, **arguments)
    if rule["bias"] == "zeros" and getattr(layer, "bias", None) is not None:
        nn.init.zeros_(layer.bias)
