"""A freshly built network is initialised as its reference initialises it: the spec's ``init``
rules, drawn in module order, give the very tensors torchvision's constructor (and timm's, where
its construction order allows) draws from the same seed; bad rules are one error naming their
place."""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
import timm
import torchvision
from timm.models import _efficientnet_builder, resnetv2
from timm.models._manipulate import named_apply

import nasblocks
from nasblocks import SpecError
from nasblocks._init import initialise

REFERENCES: list[tuple[str, dict[str, Any], Callable[[], torch.nn.Module]]] = [
    ("resnet18", {}, torchvision.models.resnet18),
    ("resnet18", {"zero_init_residual": True}, lambda: torchvision.models.resnet18(zero_init_residual=True)),
    ("resnext50_32x4d", {}, torchvision.models.resnext50_32x4d),
    ("mobilenet_v2", {}, torchvision.models.mobilenet_v2),
    ("mobilenet_v3_small", {}, torchvision.models.mobilenet_v3_small),
    ("vgg11_bn", {}, torchvision.models.vgg11_bn),
    ("squeezenet1_1", {}, torchvision.models.squeezenet1_1),
    ("googlenet", {"aux_logits": False}, lambda: torchvision.models.googlenet(aux_logits=False, init_weights=True)),
    ("inception_v3", {}, lambda: torchvision.models.inception_v3(init_weights=True)),
    ("shufflenet_v2_x1_0", {}, torchvision.models.shufflenet_v2_x1_0),  # PyTorch's defaults, as torchvision
    ("legacy_xception", {}, lambda: timm.create_model("legacy_xception")),
]


@pytest.mark.parametrize("name, given, reference", REFERENCES,
                         ids=[name + "".join(f"-{key}" for key in given) for name, given, _ in REFERENCES])
def test_a_zoo_network_draws_its_reference_s_tensors_from_the_same_seed(
        name: str, given: dict[str, Any], reference: Callable[[], torch.nn.Module]) -> None:
    torch.manual_seed(0)
    mine = nasblocks.build(nasblocks.load(name, **given)).state_dict()
    torch.manual_seed(0)
    theirs = reference().state_dict()
    assert list(mine) == list(theirs)
    differ = [key for key in theirs if not torch.equal(mine[key], theirs[key])]
    assert differ == [], differ[:5]


@pytest.mark.parametrize("name", ["seresnet50", "seresnext50_32x4d", "legacy_seresnet50"])
def test_an_se_resnet_draws_timms_tensors_but_the_se_biases_of_a_projecting_block(name: str) -> None:
    """timm constructs a stage's projection before its first block, so that block's SE biases,
    which keep their construction-time draws, come later in the random stream; nasblocks
    constructs in graph order. Every tensor the scheme draws is timm's, the last batch norms'
    zeros (zero_init_residual) included."""
    torch.manual_seed(0)
    mine = nasblocks.build(nasblocks.load(name)).state_dict()
    torch.manual_seed(0)
    theirs = timm.create_model(name).state_dict()
    assert list(mine) == list(theirs)
    differ = [key for key in theirs if not torch.equal(mine[key], theirs[key])]
    se = "se_module" if name.startswith("legacy") else "se"
    assert differ == [f"layer{k}.0.{se}.{fc}.bias" for k in (1, 2, 3, 4) for fc in ("fc1", "fc2")]
    assert name.startswith("legacy") or (mine["layer1.0.bn3.weight"] == 0).all()


@pytest.mark.parametrize("name, scheme", [
    # its builder constructs two throwaway convs, which draw first
    ("mobilenetv1_100", _efficientnet_builder.efficientnet_init_weights),
    # its projecting blocks register their projection first
    ("resnetv2_50", functools.partial(named_apply, functools.partial(resnetv2._init_weights, zero_init_last=False))),
], ids=["mobilenetv1_100", "resnetv2_50"])
def test_a_timm_network_s_rules_draw_what_timm_s_scheme_draws_over_the_same_module(
        name: str, scheme: Callable[[torch.nn.Module], None]) -> None:
    """Where construction or module order keeps a seeded build from timm's tensors, the rules
    are held to timm's own initialisation function, run over the same module from the same
    random state."""
    spec = nasblocks.load(name)
    graph = nasblocks.expand(spec)
    mine = nasblocks.build(spec)
    theirs = copy.deepcopy(mine)  # what no rule draws is the same on both
    torch.manual_seed(1)
    initialise(mine, graph)
    torch.manual_seed(1)
    scheme(theirs)
    expected, actual = theirs.state_dict(), mine.state_dict()
    differ = [key for key in expected if not torch.equal(actual[key], expected[key])]
    assert differ == [], differ[:5]


SPEC = """input: [3, 8, 8]
init:
  conv: {fn: constant, val: 0.5, bias: zeros}
network:
  - conv: {out: 4, kernel: 3, bias: true}
    name: a
  - conv: {out: 4, kernel: 1, bias: true}
    name: b
    init: {fn: ones}
  - dwconv: {kernel: 3}
    name: c
  - bn: {}
    name: d
  - mean: {}
  - linear: {out: 3}
    name: e
"""


def test_the_spec_s_rules_apply_by_kind_and_an_item_s_own_rule_replaces_them(
        write_spec: Callable[..., Path]) -> None:
    torch.manual_seed(0)
    state = nasblocks.build(write_spec(SPEC)).state_dict()
    assert (state["a.weight"] == 0.5).all() and (state["a.bias"] == 0).all()
    assert (state["b.weight"] == 1).all() and (state["b.bias"] != 0).all()  # its own rule: the bias kept
    assert (state["c.weight"] == 0.5).all()  # a depthwise convolution is a conv too
    assert (state["d.weight"] == 1).all() and (state["d.bias"] == 0).all()  # no rule for bn: its own
    torch.manual_seed(0)
    default = torch.nn.Linear(4, 3)  # no rule for linear: PyTorch's own, drawn as built
    assert state["e.weight"].shape == default.weight.shape and not (state["e.weight"] == 0.5).any()


@pytest.mark.parametrize("zero", [False, True])
def test_a_dwconv_rule_takes_the_depthwise_convs_and_an_item_s_none_leaves_the_spec_s_rule(
        write_spec: Callable[..., Path], zero: bool) -> None:
    """What a block such as ResNet's writes: its own rule when asked (zero_init), else the spec's,
    whatever the spec's is."""
    spec = write_spec(f"input: [4, 8, 8]\nvars: {{z: {str(zero).lower()}}}\ninit:\n"
                      "  conv: {fn: constant, val: 0.5}\n  dwconv: {fn: constant, val: 2}\n"
                      "  bn: {fn: constant, val: 0.25}\nnetwork:\n  - conv: {out: 4, kernel: 1}\n"
                      "  - dwconv: {kernel: 3}\n  - bn: {}\n    init: {fn: \"'zeros' if z else None\"}\n")
    state = nasblocks.build(spec).state_dict()
    assert (state["0.weight"] == 0.5).all() and (state["1.weight"] == 2).all()
    assert (state["2.weight"] == (0 if zero else 0.25)).all()


@pytest.mark.parametrize("text, line, path, message", [
    ("init:\n  fc: {fn: normal}\n", 3, "init.fc", "unknown kind of layer 'fc'; init names conv, dwconv, linear, bn"),
    ("init:\n  conv: {fn: ~, std: 0.1}\n", 3, "init.conv", "fn is None (no rule of its own), so std has nothing"),
    ("init:\n  conv: {fn: kaiming}\n", 3, "init.conv", "fn: expected one of torch.nn.init's kaiming_normal, "),
    ("init:\n  conv: {fn: normal, sd: 0.1}\n", 3, "init.conv", "normal: got an unexpected keyword argument 'sd'"),
    ("init:\n  conv: {fn: normal, bias: ones}\n", 3, "init.conv", "bias: expected zeros (or no bias key"),
    ("init: [conv]\n", 2, "init", "expected a mapping from conv, dwconv, linear, bn to a rule"),
    # values the signature takes but the function refuses: drawn once over a small tensor at load
    ("init:\n  conv: {fn: kaiming_normal, mode: fan_output}\n", 3, "init.conv", "kaiming_normal: Mode fan_output"),
    ("init:\n  conv: {fn: trunc_normal, a: 2, b: -2}\n", 3, "init.conv", "trunc_normal: "),
    ("init:\n  linear: {fn: normal, std: nosuch + 1}\n", 3, "init.linear", "undefined name 'nosuch'"),
])
def test_a_bad_rule_is_named_at_its_line(write_spec: Callable[..., Path], text: str, line: int, path: str,
                                         message: str) -> None:
    spec = write_spec("input: [3, 8, 8]\n" + text + "network:\n  - conv: {out: 4, kernel: 3}\n")
    with pytest.raises(SpecError) as caught:
        nasblocks.expand(spec)
    assert (caught.value.line, caught.value.path) == (line, path), str(caught.value)
    assert message in caught.value.message, str(caught.value)


@pytest.mark.parametrize("item, message", [
    ("relu: {}\n    init: {fn: ones}", "this relu has no weights to initialise; drop 'init'"),
    ("seq: [{conv: {out: 4, kernel: 3}}]\n    init: {fn: ones}", "init gives an op's layers their initialisation; "
                                                                 "'seq' is not an op"),
    ("conv: {out: 4, kernel: 3}\n    init: {fn: normal, mean: 0, sd: 1}", "normal: got an unexpected keyword"),
])
def test_an_item_s_rule_belongs_on_an_op_with_weights(write_spec: Callable[..., Path], item: str,
                                                      message: str) -> None:
    spec = write_spec(f"input: [3, 8, 8]\nnetwork:\n  - {item}\n")
    with pytest.raises(SpecError) as caught:
        nasblocks.expand(spec)
    assert caught.value.line == 4 and message in caught.value.message, str(caught.value)


def test_a_rule_s_values_are_expressions_and_a_bn_without_weights_is_passed_over(
        write_spec: Callable[..., Path]) -> None:
    spec = write_spec("input: [3, 8, 8]\nvars: {s: 0.25}\ninit:\n  conv: {fn: constant, val: s * 2}\n"
                      "  bn: {fn: constant, val: 1e-1}\nnetwork:\n  - conv: {out: 4, kernel: 3}\n"
                      "  - bn: {affine: false}\n  - bn: {}\n")
    state = nasblocks.build(spec).state_dict()
    assert (state["0.weight"] == 0.5).all() and torch.allclose(state["2.weight"], torch.full((4,), 0.1))
