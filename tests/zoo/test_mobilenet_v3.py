"""MobileNetV3 Small and Large against torchvision, weight for weight."""

from __future__ import annotations

import pytest
import torchvision
from _reference import assert_same_network

import nasblocks
from nasblocks import SpecError

SIZE = 64


@pytest.mark.parametrize(("name", "overrides", "kwargs"), [
    ("mobilenet_v3_small", {}, {}),
    ("mobilenet_v3_large", {}, {}),
    ("mobilenet_v3_small", {"width": 0.75}, {"width_mult": 0.75}),
    ("mobilenet_v3_large", {"num_classes": 10}, {"num_classes": 10}),
])
def test_equals_torchvision(name, overrides, kwargs):
    assert_same_network(nasblocks.load(name, input=(3, SIZE, SIZE), **overrides),
                        getattr(torchvision.models, name)(**kwargs))


def test_batch_norm_uses_tensorflow_settings():
    model = nasblocks.build(nasblocks.load("mobilenet_v3_small", input=(3, SIZE, SIZE)))
    norms = [m for m in model.modules() if type(m).__name__ == "BatchNorm2d"]
    assert norms and {(m.eps, m.momentum) for m in norms} == {(0.001, 0.01)}


def test_squeeze_width_is_a_quarter_of_the_expansion_rounded_to_8():
    graph = nasblocks.expand(nasblocks.load("mobilenet_v3_large", input=(3, SIZE, SIZE)))
    # features.4: the first SE block of Large, 72 expanded channels → 72 // 4 = 18 → 24
    assert graph["features_4_block_2_fc1"].out_shape[0] == 24
    assert graph["features_4_block_2_fc2"].out_shape[0] == 72


def test_an_unknown_arch_names_the_allowed_ones():
    with pytest.raises(SpecError, match=r"mobilenet_v3\.yaml:\d+: vars\.arch: var 'arch' must be one of "
                                        r"large, small; got 'medium'"):
        nasblocks.load("mobilenet_v3", arch="medium")
