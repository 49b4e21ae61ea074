"""Every zoo name costs what REFERENCE.md says: its parameters and its column-A multiply-adds
(convolutions and fully connected layers, bias excluded) at the reference input size, read off
the graph without building the network, and counted again on the built module; column B (A plus
the bias additions) from the graph; torchvision's documented figures where it has the network.
This is the one place these figures are asserted."""

from __future__ import annotations

import math

import pytest
import torchvision
from _reference import counted_cost

import nasblocks

# REFERENCE.md, "Figures": params, column A (MACs), column B (ptflops' aten back-end: A plus one
# addition per output element of every biased conv and linear) at 224×224 (299×299 for Inception
# v3 and Xception). GoogLeNet and Inception v3 with their aux heads, as their bare constructors
# build them.
FIGURES = {
    # Inception family
    "googlenet": (13_004_888, 1_498_376_192, 1_498_377_192),
    "inception_v3": (27_161_264, 5_713_216_096, 5_713_217_096),
    "legacy_xception": (22_855_952, 8_357_403_496, 8_357_404_496),
    # VGG
    "vgg11": (132_863_336, 7_609_090_048, 7_616_525_288),
    "vgg11_bn": (132_868_840, 7_609_090_048, 7_616_525_288),
    "vgg13": (133_047_848, 11_308_466_176, 11_320_718_312),
    "vgg13_bn": (133_053_736, 11_308_466_176, 11_320_718_312),
    "vgg16": (138_357_544, 15_470_264_320, 15_483_821_032),
    "vgg16_bn": (138_365_992, 15_470_264_320, 15_483_821_032),
    "vgg19": (143_667_240, 19_632_062_464, 19_646_923_752),
    "vgg19_bn": (143_678_248, 19_632_062_464, 19_646_923_752),
    # ResNet / ResNeXt
    "resnet18": (11_689_512, 1_814_073_344, 1_814_074_344),
    "resnet34": (21_797_672, 3_663_761_408, 3_663_762_408),
    "resnet50": (25_557_032, 4_089_184_256, 4_089_185_256),
    "resnet101": (44_549_160, 7_801_405_440, 7_801_406_440),
    "resnet152": (60_192_808, 11_513_626_624, 11_513_627_624),
    # pre-activation: ResNet's MACs, fewer params (no stem BN, BNs on the narrower block inputs)
    "resnetv2_18": (11_687_720, 1_814_073_344, 1_814_074_344),
    "resnetv2_34": (21_795_880, 3_663_761_408, 3_663_762_408),
    "resnetv2_50": (25_549_352, 4_089_184_256, 4_089_185_256),
    "resnetv2_101": (44_541_480, 7_801_405_440, 7_801_406_440),
    "resnetv2_152": (60_185_128, 11_513_626_624, 11_513_627_624),
    "resnext50_32x4d": (25_028_904, 4_230_479_872, 4_230_480_872),
    "resnext101_32x8d": (88_791_336, 16_414_015_488, 16_414_016_488),
    # SqueezeNet
    "squeezenet1_0": (1_248_424, 818_924_576, 823_270_824),
    "squeezenet1_1": (1_235_496, 349_151_936, 351_741_288),
    "squeezenet1_0_simple_bypass": (1_248_424, 818_924_576, 823_270_824),
    "squeezenet1_0_complex_bypass": (1_589_672, 1_165_298_720, 1_171_417_896),
    # ShuffleNet v1 (A = B: no biases)
    "shufflenet_v1_g3_x0_5": (717_324, 37_589_856, 37_589_856),
    "shufflenet_v1_g3_x1_0": (1_864_728, 137_460_672, 137_460_672),
    "shufflenet_v1_g3_x1_5": (3_441_168, 292_443_552, 292_443_552),
    "shufflenet_v1_g3_x2_0": (5_449_776, 524_045_184, 524_045_184),
    "shufflenet_v1_g8_x0_5": (1_010_448, 40_469_760, 40_469_760),
    "shufflenet_v1_g8_x1_0": (2_433_768, 138_365_952, 138_365_952),
    "shufflenet_v1_g8_x1_5": (4_268_952, 290_188_800, 290_188_800),
    "shufflenet_v1_g8_x2_0": (6_521_232, 521_942_016, 521_942_016),
    "shufflenet_v1_g1_x1_0": (1_530_936, 143_078_976, 143_078_976),
    "shufflenet_v1_g2_x1_0": (1_732_848, 140_836_512, 140_836_512),
    "shufflenet_v1_g4_x1_0": (1_967_344, 134_339_776, 134_339_776),
    # ShuffleNet v2
    "shufflenet_v2_x0_5": (1_366_792, 40_476_448, 40_477_448),
    "shufflenet_v2_x1_0": (2_278_604, 144_907_992, 144_908_992),
    "shufflenet_v2_x1_5": (3_503_624, 295_759_392, 295_760_392),
    "shufflenet_v2_x2_0": (7_393_996, 583_253_464, 583_254_464),
    # MobileNet
    "mobilenetv1_100": (4_231_976, 568_740_352, 568_741_352),
    "mobilenet_v2_050": (1_968_680, 97_131_840, 97_132_840),
    "mobilenet_v2_075": (2_636_424, 209_069_792, 209_070_792),
    "mobilenet_v2": (3_504_872, 300_774_272, 300_775_272),
    "mobilenet_v2_140": (6_108_776, 582_195_824, 582_196_824),
    "mobilenet_v3_small": (2_542_856, 56_510_400, 56_515_312),
    "mobilenet_v3_large": (5_483_032, 216_589_760, 216_597_120),
    # Squeeze-and-excitation
    "seresnet50": (28_088_024, 4_091_699_200, 4_091_716_248),
    "seresnext50_32x4d": (27_559_896, 4_232_994_816, 4_233_011_864),
    "legacy_seresnet50": (28_088_024, 3_860_488_192, 3_860_505_240),
    "legacy_seresnext50_32x4d": (27_559_896, 4_232_994_816, 4_233_011_864),
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


# torchvision's weights builder deletes GoogLeNet's aux heads (Inception v3 keeps its own), so
# the documented num_params is that of the network without them
WEIGHTS_BUILDER_VARS = {"googlenet": {"aux_logits": False}}


@pytest.mark.parametrize(("name", "figures"), FIGURES.items())
def test_cost_equals_reference_md(name, figures):
    cost = nasblocks.cost(name)
    assert (cost.params, cost.macs) == figures[:2]


@pytest.mark.parametrize(("name", "figures"), FIGURES.items())
def test_the_built_module_counts_the_same(name, figures):
    # its parameters, and torch's FlopCounterMode (REFERENCE.md's last column: 2 × A) in eval
    # mode, where the aux heads do not run
    assert counted_cost(nasblocks.load(name)) == figures[:2]


@pytest.mark.parametrize(("name", "figures"), FIGURES.items())
def test_column_b_adds_one_addition_per_biased_output(name, figures):
    graph = nasblocks.expand(nasblocks.load(name))
    bias_adds = sum(math.prod(n.out_shape) for n in graph if n.args.get("bias") and not n.training_only)
    assert graph.macs + bias_adds == figures[2]


@pytest.mark.parametrize("name", [name for name in FIGURES if name in torchvision.models.list_models()])
def test_torchvision_documents_the_same_figures(name):
    # the IMAGENET1K_V1 weights' meta: num_params, and _ops (GMACs, three decimals)
    meta = torchvision.models.get_model_weights(name).IMAGENET1K_V1.meta
    cost = nasblocks.cost(nasblocks.load(name, **WEIGHTS_BUILDER_VARS.get(name, {})))
    assert (cost.params, round(cost.macs / 1e9, 3)) == (meta["num_params"], meta["_ops"])


@pytest.mark.parametrize(("spec", "alias"), DEFAULTS.items())
def test_a_spec_name_is_one_of_its_configurations(spec, alias):
    assert nasblocks.cost(spec) == nasblocks.cost(alias)


def test_every_zoo_name_has_reference_figures():
    assert set(nasblocks.zoo_names()) == FIGURES.keys() | DEFAULTS.keys() | UNREFERENCED
