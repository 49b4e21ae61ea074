"""Every zoo name costs what REFERENCE.md says: its parameters and its column-A multiply-adds
(convolutions and fully connected layers, bias excluded) at the reference input size, read off
the graph without building the network. This is the one place these figures are asserted."""

from __future__ import annotations

import pytest

import nasblocks

# REFERENCE.md, "Figures": params, column A (MACs) at 224×224 (299×299 for Inception v3 and
# Xception). GoogLeNet and Inception v3 with their aux heads, as their bare constructors build them.
FIGURES = {
    # Inception family
    "googlenet": (13_004_888, 1_498_376_192),
    "inception_v3": (27_161_264, 5_713_216_096),
    "legacy_xception": (22_855_952, 8_357_403_496),
    # VGG
    "vgg11": (132_863_336, 7_609_090_048),
    "vgg11_bn": (132_868_840, 7_609_090_048),
    "vgg13": (133_047_848, 11_308_466_176),
    "vgg13_bn": (133_053_736, 11_308_466_176),
    "vgg16": (138_357_544, 15_470_264_320),
    "vgg16_bn": (138_365_992, 15_470_264_320),
    "vgg19": (143_667_240, 19_632_062_464),
    "vgg19_bn": (143_678_248, 19_632_062_464),
    # ResNet / ResNeXt
    "resnet18": (11_689_512, 1_814_073_344),
    "resnet34": (21_797_672, 3_663_761_408),
    "resnet50": (25_557_032, 4_089_184_256),
    "resnet101": (44_549_160, 7_801_405_440),
    "resnet152": (60_192_808, 11_513_626_624),
    # pre-activation: ResNet's MACs, fewer params (no stem BN, BNs on the narrower block inputs)
    "resnetv2_18": (11_687_720, 1_814_073_344),
    "resnetv2_34": (21_795_880, 3_663_761_408),
    "resnetv2_50": (25_549_352, 4_089_184_256),
    "resnetv2_101": (44_541_480, 7_801_405_440),
    "resnetv2_152": (60_185_128, 11_513_626_624),
    "resnext50_32x4d": (25_028_904, 4_230_479_872),
    "resnext101_32x8d": (88_791_336, 16_414_015_488),
    # SqueezeNet
    "squeezenet1_0": (1_248_424, 818_924_576),
    "squeezenet1_1": (1_235_496, 349_151_936),
    "squeezenet1_0_simple_bypass": (1_248_424, 818_924_576),
    "squeezenet1_0_complex_bypass": (1_589_672, 1_165_298_720),
    # ShuffleNet v1 (A = B: no biases)
    "shufflenet_v1_g3_x0_5": (717_324, 37_589_856),
    "shufflenet_v1_g3_x1_0": (1_864_728, 137_460_672),
    "shufflenet_v1_g3_x1_5": (3_441_168, 292_443_552),
    "shufflenet_v1_g3_x2_0": (5_449_776, 524_045_184),
    "shufflenet_v1_g8_x0_5": (1_010_448, 40_469_760),
    "shufflenet_v1_g8_x1_0": (2_433_768, 138_365_952),
    "shufflenet_v1_g8_x1_5": (4_268_952, 290_188_800),
    "shufflenet_v1_g8_x2_0": (6_521_232, 521_942_016),
    "shufflenet_v1_g1_x1_0": (1_530_936, 143_078_976),
    "shufflenet_v1_g2_x1_0": (1_732_848, 140_836_512),
    "shufflenet_v1_g4_x1_0": (1_967_344, 134_339_776),
    # ShuffleNet v2
    "shufflenet_v2_x0_5": (1_366_792, 40_476_448),
    "shufflenet_v2_x1_0": (2_278_604, 144_907_992),
    "shufflenet_v2_x1_5": (3_503_624, 295_759_392),
    "shufflenet_v2_x2_0": (7_393_996, 583_253_464),
    # MobileNet
    "mobilenetv1_100": (4_231_976, 568_740_352),
    "mobilenet_v2_050": (1_968_680, 97_131_840),
    "mobilenet_v2_075": (2_636_424, 209_069_792),
    "mobilenet_v2": (3_504_872, 300_774_272),
    "mobilenet_v2_140": (6_108_776, 582_195_824),
    "mobilenet_v3_small": (2_542_856, 56_510_400),
    "mobilenet_v3_large": (5_483_032, 216_589_760),
    # Squeeze-and-excitation
    "seresnet50": (28_088_024, 4_091_699_200),
    "seresnext50_32x4d": (27_559_896, 4_232_994_816),
    "legacy_seresnet50": (28_088_024, 3_860_488_192),
    "legacy_seresnext50_32x4d": (27_559_896, 4_232_994_816),
}

# A spec's own name is its default vars: one of its named configurations
DEFAULTS = {
    "mobilenet_v1": "mobilenetv1_100",
    "mobilenet_v3": "mobilenet_v3_large",
    "resnet": "resnet50",
    "resnetv2": "resnetv2_50",
    "seresnet_legacy": "legacy_seresnet50",
    "shufflenet": "shufflenet_v2_x1_0",   # v1 or v2 units per stage; all v2 by default
    "shufflenet_v1": "shufflenet_v1_g3_x1_0",
    "shufflenet_v2": "shufflenet_v2_x1_0",
    "squeezenet": "squeezenet1_0",
    "vgg": "vgg16",
    "xception": "legacy_xception",   # timm's deprecated name for legacy_xception
}

# no reference network: its cost is checked against a hand count (test_keras_separable.py)
UNREFERENCED = {"keras_separable"}


@pytest.mark.parametrize(("name", "figures"), FIGURES.items())
def test_cost_equals_reference_md(name, figures):
    cost = nasblocks.cost(name)
    assert (cost.params, cost.macs) == figures


@pytest.mark.parametrize(("spec", "alias"), DEFAULTS.items())
def test_a_spec_name_is_one_of_its_configurations(spec, alias):
    assert nasblocks.cost(spec) == nasblocks.cost(alias)


def test_every_zoo_name_has_reference_figures():
    assert set(nasblocks.zoo_names()) == FIGURES.keys() | DEFAULTS.keys() | UNREFERENCED
