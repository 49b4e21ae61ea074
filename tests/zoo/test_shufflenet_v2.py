"""ShuffleNet V2 0.5× … 2× against torchvision, weight for weight."""

from __future__ import annotations

import pytest
import torchvision
from _same_weights import assert_same_network

import nasblocks
from nasblocks import SpecError

# REFERENCE.md, figures table: params and column A (multiply-adds) at 224×224
FIGURES = {
    "shufflenet_v2_x0_5": (1_366_792, 40_476_448),
    "shufflenet_v2_x1_0": (2_278_604, 144_907_992),
    "shufflenet_v2_x1_5": (3_503_624, 295_759_392),
    "shufflenet_v2_x2_0": (7_393_996, 583_253_464),
}
SIZE = 64      # the stem, the pool and three strided stages leave 2×2 for conv5


@pytest.mark.parametrize(("name", "figures"), FIGURES.items())
def test_cost_at_224_equals_reference(name, figures):
    cost = nasblocks.cost(name)
    assert (cost.params, cost.macs) == figures


@pytest.mark.parametrize("name", FIGURES)
def test_equals_torchvision(name):
    assert_same_network(nasblocks.load(name, input=(3, SIZE, SIZE)),
                        getattr(torchvision.models, name)())


def test_num_classes_variant_equals_torchvision():
    assert_same_network(nasblocks.load("shufflenet_v2_x1_0", input=(3, SIZE, SIZE), num_classes=10),
                        torchvision.models.shufflenet_v2_x1_0(num_classes=10))


def test_width_var_picks_a_row_of_the_table():
    spec = nasblocks.load("shufflenet_v2", width=1.5)
    assert nasblocks.cost(spec) == nasblocks.cost("shufflenet_v2_x1_5")
    assert nasblocks.cost(nasblocks.load("shufflenet_v2")) == nasblocks.cost("shufflenet_v2_x1_0")


def test_a_width_outside_the_table_is_an_error():
    with pytest.raises(SpecError, match=r"shufflenet_v2\.yaml:\d+: vars\.channels: cannot index .* with 1\.2"):
        nasblocks.load("shufflenet_v2", width=1.2)


def test_every_unit_ends_with_a_shuffle_of_two_groups():
    graph = nasblocks.expand(nasblocks.load("shufflenet_v2_x0_5", input=(3, SIZE, SIZE)))
    shuffles = [node for node in graph if node.op == "shuffle"]
    assert len(shuffles) == 4 + 8 + 4
    assert all(node.args == {"groups": 2, "inverse": False} for node in shuffles)
