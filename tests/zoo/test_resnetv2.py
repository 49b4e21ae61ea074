"""specs/resnetv2.yaml equals timm's pre-activation ResNets (resnetv2_18 … resnetv2_152)."""

from __future__ import annotations

import operator

import pytest
import timm
import torch
from _same_weights import assert_same_network

import nasblocks

# REFERENCE.md, figures table: params and column A (multiply-adds) at 224×224; the MACs are
# torchvision ResNet's, the params fewer (no stem BN, BNs on the narrower block inputs)
FIGURES = {
    "resnetv2_18": (11_687_720, 1_814_073_344),
    "resnetv2_34": (21_795_880, 3_663_761_408),
    "resnetv2_50": (25_549_352, 4_089_184_256),
    "resnetv2_101": (44_541_480, 7_801_405_440),
    "resnetv2_152": (60_185_128, 11_513_626_624),
}
SMALL = (3, 64, 64)


def test_every_alias_has_reference_figures():
    aliases = {name for name, (path, _) in nasblocks.zoo_names().items()
               if path.name == "resnetv2.yaml" and name != "resnetv2"}
    assert aliases == set(FIGURES)


@pytest.mark.parametrize(("name", "figures"), FIGURES.items())
def test_cost_at_224_equals_reference(name, figures):
    cost = nasblocks.cost(name)
    assert (cost.params, cost.macs) == figures


@pytest.mark.parametrize(("name", "overrides"), [
    ("resnetv2_18", {}), ("resnetv2_50", {}), ("resnetv2_18", {"num_classes": 10}),
])
def test_equals_timm(name, overrides):
    assert_same_network(nasblocks.load(name, input=SMALL, **overrides),
                        timm.create_model(name, pretrained=False, **overrides))


@pytest.mark.parametrize("name", ["resnetv2_34", "resnetv2_101", "resnetv2_152"])
def test_deeper_networks_have_timm_keys_and_shapes(name):
    with torch.device("meta"):
        model = nasblocks.build(nasblocks.load(name))
        expected = timm.create_model(name, pretrained=False)
    got = {key: tuple(t.shape) for key, t in model.state_dict().items()}
    assert got == {key: tuple(t.shape) for key, t in expected.state_dict().items()}


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
