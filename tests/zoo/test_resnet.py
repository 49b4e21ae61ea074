"""specs/resnet.yaml (torchvision's ResNet and ResNeXt, timm's SE-ResNet and SE-ResNeXt) and
specs/seresnet_legacy.yaml (timm's legacy SENet ports) against their references."""

from __future__ import annotations

import pytest
import timm
import torch
import torchvision
from _calibrate import calibrate
from _same_weights import assert_same_network

import nasblocks
from nasblocks import SpecError

# REFERENCE.md, figures table: params and column A (multiply-adds) at 224×224
FIGURES = {
    "resnet18": (11_689_512, 1_814_073_344),
    "resnet34": (21_797_672, 3_663_761_408),
    "resnet50": (25_557_032, 4_089_184_256),
    "resnet101": (44_549_160, 7_801_405_440),
    "resnet152": (60_192_808, 11_513_626_624),
    "resnext50_32x4d": (25_028_904, 4_230_479_872),
    "resnext101_32x8d": (88_791_336, 16_414_015_488),
    "seresnet50": (28_088_024, 4_091_699_200),
    "seresnext50_32x4d": (27_559_896, 4_232_994_816),
    "legacy_seresnet50": (28_088_024, 3_860_488_192),
    "legacy_seresnext50_32x4d": (27_559_896, 4_232_994_816),
}
SMALL = (3, 64, 64)
TINY = (3, 32, 32)    # the last stage works on 1×1 maps: enough for a name-and-order check
ODD = (3, 96, 96)     # the stem leaves 48×48: legacy's ceil-mode pool gives 24×24, floor 23×23


def reference(name: str, **kwargs) -> torch.nn.Module:
    if hasattr(torchvision.models, name):
        return getattr(torchvision.models, name)(**kwargs)
    return timm.create_model(name, pretrained=False, **kwargs)


def test_every_alias_has_reference_figures():
    specs = {"resnet.yaml", "seresnet_legacy.yaml"}
    aliases = {name for name, (path, _) in nasblocks.zoo_names().items()
               if path.name in specs and name not in ("resnet", "seresnet_legacy")}
    assert aliases == set(FIGURES)


@pytest.mark.parametrize(("name", "figures"), FIGURES.items())
def test_cost_at_224_equals_reference(name, figures):
    cost = nasblocks.cost(name)
    assert (cost.params, cost.macs) == figures


def test_paper_v1_stride_costs_what_reference_md_says():
    # REFERENCE.md: the SE 1×1 convs add 2,514,944 MACs and 2,530,992 params to ResNet-50, and
    # legacy_seresnet50 strides the first 1×1 as the paper's ResNet-50 does (3.8 G)
    v1 = nasblocks.cost(nasblocks.load("resnet50", stride_in_1x1=True))
    legacy = nasblocks.cost("legacy_seresnet50")
    assert (legacy.params - v1.params, legacy.macs - v1.macs) == (2_530_992, 2_514_944)
    assert v1.macs == 3_857_973_248


@pytest.mark.parametrize(("name", "shape"), [
    ("resnet18", SMALL), ("resnet50", SMALL), ("resnext50_32x4d", SMALL), ("seresnet50", SMALL),
    ("legacy_seresnet50", ODD), ("legacy_seresnext50_32x4d", SMALL),
])
def test_equals_reference(name, shape):
    assert_same_network(nasblocks.load(name, input=shape), reference(name))


@pytest.mark.parametrize("name", ["resnet18", "legacy_seresnet50"])
def test_ten_classes_load_a_ten_class_reference(name):
    assert_same_network(nasblocks.load(name, input=SMALL, num_classes=10),
                        reference(name, num_classes=10))


@pytest.mark.parametrize("name", ["resnet101", "resnet152", "resnext101_32x8d"])
def test_deep_networks_have_the_reference_keys_and_shapes(name):
    # on the meta device: no memory and no initialisation, only names and shapes
    with torch.device("meta"):
        model = nasblocks.build(nasblocks.load(name))
        expected = reference(name)
    got = {key: tuple(t.shape) for key, t in model.state_dict().items()}
    assert got == {key: tuple(t.shape) for key, t in expected.state_dict().items()}


def test_resnet101_forward_equals_torchvision():
    # batch norms calibrated on a real batch: 33 random-statistics bottlenecks would blow the
    # logits up to thousands, where an absolute tolerance means little
    expected = calibrate(torchvision.models.resnet101(), TINY)
    model = nasblocks.build(nasblocks.load("resnet101", input=TINY)).eval()
    model.load_state_dict(expected.state_dict(), strict=True)
    x = torch.randn(2, *TINY)
    with torch.no_grad():
        assert (model(x) - expected(x)).abs().max().item() < 1e-5


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


def test_unknown_depth_is_explained():
    with pytest.raises(SpecError, match=r"resnet\.yaml:\d+: vars\.layers: cannot index .* with 26"):
        nasblocks.load("resnet", depth=26)
