"""specs/resnetv2.yaml equals timm's pre-activation ResNets (resnetv2_18 … resnetv2_152)."""

from __future__ import annotations

import operator

import pytest
import timm
import torch
from _reference import assert_same_network

import nasblocks
from nasblocks import SpecError

SMALL = (3, 64, 64)


@pytest.mark.parametrize(("name", "overrides"), [
    ("resnetv2_18", {}), ("resnetv2_50", {}), ("resnetv2_18", {"num_classes": 10}),
])
def test_equals_timm(name, overrides):
    assert_same_network(nasblocks.load(name, input=SMALL, **overrides),
                        timm.create_model(name, pretrained=False, **overrides))


@pytest.mark.parametrize("name", ["resnetv2_34", "resnetv2_101", "resnetv2_152"])
def test_deeper_networks_equal_timm(name):
    assert_same_network(nasblocks.load(name, input=(3, 32, 32)), timm.create_model(name, pretrained=False))


def _module_input(model: torch.fx.GraphModule, target: str) -> torch.fx.Node:
    node = next(n for n in model.graph.nodes if n.op == "call_module" and n.target == target)
    return node.args[0]


def test_shortcut_reads_the_preactivated_input_only_where_it_projects():
    # REFERENCE.md quirk: downsample.conv reads norm1's activated output, as conv1 does; an
    # identity shortcut carries the block's raw input, the tensor norm1 reads
    model = nasblocks.build(nasblocks.load("resnetv2_50", input=SMALL))
    assert (_module_input(model, "stages.1.blocks.0.downsample.conv")
            is _module_input(model, "stages.1.blocks.0.conv1"))
    raw = _module_input(model, "stages.1.blocks.1.norm1")
    assert [user.target for user in raw.users] == ["stages.1.blocks.1.norm1", operator.add]


def test_block_names_and_head_follow_timm():
    model = nasblocks.build(nasblocks.load("resnetv2_50", input=SMALL))
    assert [name for name, _ in model.get_submodule("stages.1.blocks.0").named_children()] == [
        "norm1", "conv1", "norm2", "conv2", "norm3", "conv3", "downsample"]
    assert model.get_submodule("head.fc").kernel_size == (1, 1)


@pytest.mark.parametrize(("var", "value", "allowed"), [
    ("depth", 26, "18, 34, 50, 101, 152"),
    ("block", "basik", "basic, bottleneck"),
])
def test_a_value_outside_the_choices_names_the_allowed_ones(var, value, allowed):
    with pytest.raises(SpecError, match=rf"resnetv2\.yaml:\d+: vars\.{var}: var '{var}' must be one of "
                                        rf"{allowed}; got {value!r}"):
        nasblocks.load("resnetv2", **{var: value})
