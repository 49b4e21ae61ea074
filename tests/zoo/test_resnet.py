"""specs/resnet.yaml (torchvision's ResNet and ResNeXt, timm's SE-ResNet and SE-ResNeXt) and
specs/seresnet_legacy.yaml (timm's legacy SENet ports) against their references."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from _reference import assert_same_network

import nasblocks
from nasblocks import SpecError

SMALL = (3, 64, 64)
TINY = (3, 32, 32)    # the last stage works on 1×1 maps: enough to compare the deep networks quickly
ODD = (3, 96, 96)     # the stem leaves 48×48: legacy's ceil-mode pool gives 24×24, floor 23×23


def reference(name: str, **kwargs) -> torch.nn.Module:
    if hasattr(torchvision.models, name):
        return getattr(torchvision.models, name)(**kwargs)
    return timm.create_model(name, pretrained=False, **kwargs)


def test_paper_v1_stride_costs_what_reference_md_says():
    # REFERENCE.md: the SE 1×1 convs add 2,514,944 MACs and 2,530,992 params to ResNet-50, and
    # legacy_seresnet50 strides the first 1×1 as the paper's ResNet-50 does (3.8 G)
    v1 = nasblocks.cost(nasblocks.load("resnet50", stride_in_1x1=True))
    legacy = nasblocks.cost("legacy_seresnet50")
    assert (legacy.params - v1.params, legacy.macs - v1.macs) == (2_530_992, 2_514_944)
    assert v1.macs == 3_857_973_248


@pytest.mark.parametrize(("name", "shape"), [
    ("resnet18", SMALL), ("resnet34", SMALL), ("resnet50", SMALL), ("resnext50_32x4d", SMALL),
    ("seresnet50", SMALL),
    ("legacy_seresnet50", ODD), ("legacy_seresnext50_32x4d", SMALL),
])
def test_equals_reference(name, shape):
    assert_same_network(nasblocks.load(name, input=shape), reference(name))


@pytest.mark.parametrize("name", ["resnet18", "legacy_seresnet50"])
def test_ten_classes_load_a_ten_class_reference(name):
    assert_same_network(nasblocks.load(name, input=SMALL, num_classes=10),
                        reference(name, num_classes=10))


@pytest.mark.parametrize("name", ["resnet101", "resnet152", "resnext101_32x8d", "seresnext50_32x4d"])
def test_deep_networks_equal_the_reference(name):
    # up to 50 bottlenecks: the calibration (see _reference) keeps the logits alive and of unit scale
    assert_same_network(nasblocks.load(name, input=TINY), reference(name))


def test_block_names_follow_torchvision():
    model = nasblocks.build(nasblocks.load("resnet50", input=SMALL))
    first = model.get_submodule("layer2.0")
    assert [name for name, _ in first.named_children()] == [
        "conv1", "bn1", "relu", "conv2", "bn2", "conv3", "bn3", "downsample"]
    assert model.get_submodule("layer2.0.conv2").stride == (2, 2)      # v1.5: stride on the 3×3
    assert [name for name, _ in model.get_submodule("layer2.1").named_children()] == [
        "conv1", "bn1", "relu", "conv2", "bn2", "conv3", "bn3"]      # shape kept: identity


def test_legacy_strides_the_first_1x1_and_rounds_the_pool_up():
    model = nasblocks.build(nasblocks.load("legacy_seresnet50", input=SMALL))
    assert model.get_submodule("layer2.0.conv1").stride == (2, 2)
    assert model.get_submodule("pool0").ceil_mode
    assert model.get_submodule("layer4.0.se_module.fc1").out_channels == 2048 // 16


@pytest.mark.parametrize(("spec", "var", "value", "allowed"), [
    ("resnet", "depth", 26, "18, 34, 50, 101, 152"),
    ("resnet", "block", "bottlenek", "basic, bottleneck"),
    ("seresnet_legacy", "depth", 34, "50, 101, 152"),
])
def test_a_value_outside_the_choices_names_the_allowed_ones(spec, var, value, allowed):
    with pytest.raises(SpecError, match=rf"{spec}\.yaml:\d+: vars\.{var}: var '{var}' must be one of "
                                        rf"{allowed}; got {value!r}"):
        nasblocks.load(spec, **{var: value})
