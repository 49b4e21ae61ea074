"""MobileNet v1 against timm's mobilenetv1_100 and mobilenetv1_125 (width 1.25), weight for weight."""

from __future__ import annotations

import pytest
import timm
from _reference import assert_same_network

import nasblocks

SIZE = 64


@pytest.mark.parametrize(("name", "overrides", "reference"), [
    ("mobilenetv1_100", {}, lambda: timm.create_model("mobilenetv1_100")),
    ("mobilenet_v1", {"width": 1.25}, lambda: timm.create_model("mobilenetv1_125")),
    ("mobilenetv1_100", {"num_classes": 10}, lambda: timm.create_model("mobilenetv1_100", num_classes=10)),
])
def test_equals_timm(name, overrides, reference):
    assert_same_network(nasblocks.load(name, input=(3, SIZE, SIZE), **overrides), reference())


def test_resolution_multiplier_scales_the_convolutions_by_rho_squared():
    # Sec. 3.4: the resolution multiplier ρ cuts the cost of every conv by ρ²; the classifier
    # (1024 × 1000 multiply-adds) does not change. At 160 = 224 · 5/7 every map divides evenly.
    full, small = nasblocks.cost("mobilenet_v1"), nasblocks.cost(nasblocks.load("mobilenet_v1", resolution=160))
    classifier = 1024 * 1000
    assert (small.macs - classifier) * 49 == (full.macs - classifier) * 25
    assert small.params == full.params


def test_width_multiplier_thins_every_layer():
    model = nasblocks.build(nasblocks.load("mobilenet_v1", width=0.5, input=(3, SIZE, SIZE)))
    widths = [m.out_channels for name, m in model.named_modules() if name.endswith("conv_pw")]
    assert widths == [32, 64, 64, 128, 128, 256, 256, 256, 256, 256, 256, 512, 512]
    assert model.conv_stem.out_channels == 16
