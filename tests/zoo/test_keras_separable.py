"""The Keras separable-convolution example (a user's first spec): no reference to load, so the
cost is checked against a count done by hand from Keras' layer definitions."""

from __future__ import annotations

import torch

import nasblocks

# (input channels, filters, output size) of each SeparableConv2D(filters, 3), 'valid' padding:
# 64 → 62 → 60, pool → 30 → 28 → 26, pool → 13 → 11 → 9
SEPARABLE = [(3, 32, 62), (32, 64, 60), (64, 64, 28), (64, 128, 26), (128, 64, 11), (64, 128, 9)]
DENSE = [(128, 32), (32, 10)]


def hand_count() -> tuple[int, int]:
    """Keras' SeparableConv2D: a 3×3 depthwise kernel per input channel (no bias), a 1×1
    pointwise kernel and a bias per filter; Dense: weights and bias."""
    params = macs = 0
    for cin, cout, size in SEPARABLE:
        params += cin * 3 * 3 + cin * cout + cout
        macs += size * size * (cin * 3 * 3 + cin * cout)
    for fan_in, units in DENSE:
        params += fan_in * units + units
        macs += fan_in * units
    return params, macs


def test_cost_equals_a_hand_count():
    cost = nasblocks.cost("keras_separable")
    assert (cost.params, cost.macs) == hand_count() == (38_949, 20_317_676)


def test_builds_and_classifies_64x64_images_into_10_classes():
    model = nasblocks.build("keras_separable")
    assert model(torch.randn(2, 3, 64, 64)).shape == (2, 10)
    depthwise = model.get_submodule("0.depthwise")
    assert (depthwise.groups, depthwise.bias, depthwise.padding) == (3, None, (0, 0))
    assert model.get_submodule("0.pointwise").bias is not None


def test_vars_change_the_classes_and_the_input_size():
    spec = nasblocks.load("keras_separable", num_classes=5, size=96)
    assert spec.input == (3, 96, 96)
    assert nasblocks.build(spec)(torch.randn(1, 3, 96, 96)).shape == (1, 5)
