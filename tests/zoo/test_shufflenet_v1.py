"""ShuffleNet v1: no library reference exists, so every figure of REFERENCE.md is asserted, the
structure is checked against the paper (Zhang et al. 2018, Sec. 3, Table 1) and the authors'
code, and the compiled network is compared with a small re-implementation of the authors' unit
written here from that description."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from _reference import assert_same_network
from torch import nn

import nasblocks
from nasblocks import SpecError

# REFERENCE.md quirks: output widths of the stem and stages 2-4
WIDTHS = {
    "shufflenet_v1_g3_x0_5": (12, 120, 240, 480), "shufflenet_v1_g3_x1_0": (24, 240, 480, 960),
    "shufflenet_v1_g3_x1_5": (24, 360, 720, 1440), "shufflenet_v1_g3_x2_0": (48, 480, 960, 1920),
    "shufflenet_v1_g8_x0_5": (16, 192, 384, 768), "shufflenet_v1_g8_x1_0": (24, 384, 768, 1536),
    "shufflenet_v1_g8_x1_5": (24, 576, 1152, 2304), "shufflenet_v1_g8_x2_0": (48, 768, 1536, 3072),
    "shufflenet_v1_g1_x1_0": (24, 144, 288, 576), "shufflenet_v1_g2_x1_0": (24, 200, 400, 800),
    "shufflenet_v1_g4_x1_0": (24, 272, 544, 1088),
}
REPEATS = (4, 8, 4)
UNIT_OPS = ["conv", "bn", "relu", "dwconv", "bn", "shuffle", "conv", "bn"]


def _units(graph):
    """{unit index in `features`: [its nodes]}, in order."""
    units: dict[int, list] = {}
    for node in graph:
        if node.scope.startswith("features."):
            units.setdefault(int(node.scope.split(".")[1]), []).append(node)
    return units


@pytest.mark.parametrize("name", WIDTHS)
def test_stages_repeat_4_8_4_with_the_tables_widths(name):
    graph = nasblocks.expand(nasblocks.load(name))
    stem, *stages = WIDTHS[name]
    assert graph["first_conv_0"].out_shape == (stem, 112, 112)
    units = _units(graph)
    assert len(units) == sum(REPEATS)
    first = 0
    for repeats, width, size in zip(REPEATS, stages, (28, 14, 7)):
        for index in range(first, first + repeats):
            assert units[index][-1].out_shape == (width, size, size)
            # the first unit of a stage halves the size and concatenates its shortcut
            assert (units[index][-1].op == "concat") == (index == first)
        first += repeats


@pytest.mark.parametrize("groups", [2, 3, 4, 8])
def test_shuffle_follows_the_depthwise_conv_with_megvii_permutation(groups):
    # the authors' order (the paper draws the shuffle right after the first group conv)
    graph = nasblocks.expand(nasblocks.load("shufflenet_v1", groups=groups))
    for nodes in _units(graph).values():
        main = [n for n in nodes if n.op not in ("avgpool", "add", "concat") and not
                (n.op == "relu" and n.target is None)]
        assert [n.op for n in main] == UNIT_OPS
        assert main[5].args == {"groups": groups, "inverse": True}
        assert main[6].args["groups"] == groups        # the second 1×1 is a group conv


@pytest.mark.parametrize("groups", [3, 8])
def test_the_papers_shuffle_position_follows_the_first_group_conv(groups):
    # Fig. 2: GConv → BN → ReLU → shuffle → DWConv; same weights' names, same costs
    authors = nasblocks.expand(nasblocks.load("shufflenet_v1", groups=groups))
    paper = nasblocks.expand(nasblocks.load("shufflenet_v1", groups=groups, shuffle_at="group_conv"))
    assert (paper.params, paper.macs) == (authors.params, authors.macs)
    assert [n.target for n in paper if n.target] == [n.target for n in authors if n.target]
    for nodes in _units(paper).values():
        ops = [n.op for n in nodes if n.op not in ("avgpool", "add", "concat") and not
               (n.op == "relu" and n.target is None)]
        assert ops[:5] == ["conv", "bn", "relu", "shuffle", "dwconv"]
        shuffle = next(n for n in nodes if n.op == "shuffle")
        assert shuffle.args == {"groups": groups, "inverse": False}


def test_without_groups_there_is_no_shuffle():
    graph = nasblocks.expand(nasblocks.load("shufflenet_v1_g1_x1_0"))
    assert not [node for node in graph if node.op == "shuffle"]


@pytest.mark.parametrize("groups", [2, 3, 4, 8])
def test_only_the_very_first_1x1_conv_is_not_grouped(groups):
    graph = nasblocks.expand(nasblocks.load("shufflenet_v1", groups=groups))
    first_convs = [graph[f"features_{k}_branch_main_1_0"] for k in range(sum(REPEATS))]
    assert [conv.args["groups"] for conv in first_convs] == [1] + [groups] * (sum(REPEATS) - 1)


def test_head_is_a_7x7_average_pool_and_an_unbiased_linear():
    model = nasblocks.build("shufflenet_v1_g3_x0_5")
    assert isinstance(model.globalpool, nn.AvgPool2d) and model.globalpool.kernel_size == (7, 7)
    assert model.get_submodule("classifier.0").bias is None
    stride_two = model.get_submodule("features.0.branch_proj")
    assert (stride_two.kernel_size, stride_two.stride, stride_two.padding) == ((3, 3), (2, 2), (1, 1))


# --- an independent oracle: the authors' network as REFERENCE.md describes it -----------------

class MegviiUnit(nn.Module):
    def __init__(self, inp: int, out: int, groups: int, stride: int, first: bool, inverse: bool = True):
        super().__init__()
        mid, main_out = out // 4, out - inp if stride == 2 else out
        self.groups, self.stride, self.inverse = groups, stride, inverse
        self.branch_main_1 = nn.Sequential(
            nn.Conv2d(inp, mid, 1, bias=False, groups=1 if first else groups), nn.BatchNorm2d(mid),
            nn.ReLU(), nn.Conv2d(mid, mid, 3, stride, 1, groups=mid, bias=False), nn.BatchNorm2d(mid))
        self.branch_main_2 = nn.Sequential(
            nn.Conv2d(mid, main_out, 1, groups=groups, bias=False), nn.BatchNorm2d(main_out))
        if stride == 2:
            self.branch_proj = nn.AvgPool2d(3, 2, 1)

    def shuffle(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        if self.inverse:      # Megvii: view as (C / g, g), then swap
            return x.reshape(b, c // self.groups, self.groups, h, w).transpose(1, 2).reshape(b, c, h, w)
        return x.reshape(b, self.groups, c // self.groups, h, w).transpose(1, 2).reshape(b, c, h, w)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        main = self.branch_main_2(self.shuffle(self.branch_main_1(x)))
        if self.stride == 1:
            return F.relu(main + x)
        return torch.cat([self.branch_proj(x), F.relu(main)], 1)


class MegviiShuffleNetV1(nn.Module):
    """The authors' ShuffleNetV1: stem, units in one Sequential `features`, 7×7 pool, linear."""

    def __init__(self, widths: tuple[int, ...], groups: int, inverse: bool = True):
        super().__init__()
        self.first_conv = nn.Sequential(nn.Conv2d(3, widths[0], 3, 2, 1, bias=False),
                                        nn.BatchNorm2d(widths[0]), nn.ReLU())
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        units, inp = [], widths[0]
        for stage, (repeats, out) in enumerate(zip(REPEATS, widths[1:])):
            for i in range(repeats):
                units.append(MegviiUnit(inp, out, groups, 2 if i == 0 else 1, stage == 0 and i == 0, inverse))
                inp = out
        self.features = nn.Sequential(*units)
        self.globalpool = nn.AvgPool2d(7)
        self.classifier = nn.Sequential(nn.Linear(widths[-1], 1000, bias=False))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.globalpool(self.features(self.maxpool(self.first_conv(x))))
        return self.classifier(x.flatten(1))


@pytest.mark.parametrize("name", WIDTHS)
def test_equals_the_authors_network(name):
    # the authors' network is small enough to run at 224×224, which its 7×7 head pool needs
    groups = int(name.split("_g")[1].split("_")[0])  # shufflenet_v1_g3_x0_5: 3
    assert_same_network(nasblocks.load(name), MegviiShuffleNetV1(WIDTHS[name], groups))


def test_the_usual_shuffle_would_not_load_the_authors_weights():
    # the two permutations differ where C / g != g, so the equality above does test the inverse
    with pytest.raises(AssertionError, match="outputs differ from the reference's by"):
        assert_same_network(nasblocks.load("shufflenet_v1_g3_x0_5"),
                            MegviiShuffleNetV1(WIDTHS["shufflenet_v1_g3_x0_5"], 3, inverse=False))


@pytest.mark.parametrize(("var", "value", "allowed"), [
    ("groups", 5, r"1, 2, 3, 4, 8"),
    ("scale", 0.75, r"0\.5, 1\.0, 1\.5, 2\.0"),
])
def test_a_value_outside_the_choices_names_the_allowed_ones(var, value, allowed):
    with pytest.raises(SpecError, match=rf"shufflenet_v1\.yaml:\d+: vars\.{var}: var '{var}' must be one of "
                                        rf"{allowed}; got {value}"):
        nasblocks.load("shufflenet_v1", **{var: value})


def test_a_scale_the_authors_do_not_ship_for_these_groups_is_an_error():
    with pytest.raises(SpecError, match=r"shufflenet_v1\.yaml:\d+: vars\.channels: "
                                        r"cannot index .* with 0\.5"):
        nasblocks.load("shufflenet_v1", groups=1, scale=0.5)
