"""ShuffleNet V2 0.5× … 2× against torchvision, weight for weight."""

from __future__ import annotations

import pytest
import torchvision
from _reference import assert_same_network

import nasblocks
from nasblocks import SpecError

SIZE = 64      # the stem, the pool and three strided stages leave 2×2 for conv5
NAMES = ["shufflenet_v2_x0_5", "shufflenet_v2_x1_0", "shufflenet_v2_x1_5", "shufflenet_v2_x2_0"]


@pytest.mark.parametrize("name", NAMES)
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


def test_a_width_outside_the_table_names_the_allowed_ones():
    with pytest.raises(SpecError, match=r"shufflenet_v2\.yaml:\d+: vars\.width: var 'width' must be one of "
                                        r"0\.5, 1\.0, 1\.5, 2\.0; got 1\.2"):
        nasblocks.load("shufflenet_v2", width=1.2)


def test_every_unit_ends_with_a_shuffle_of_two_groups():
    graph = nasblocks.expand(nasblocks.load("shufflenet_v2_x0_5", input=(3, SIZE, SIZE)))
    shuffles = [node for node in graph if node.op == "shuffle"]
    assert len(shuffles) == 4 + 8 + 4
    assert all(node.args == {"groups": 2, "inverse": False} for node in shuffles)
