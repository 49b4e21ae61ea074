"""specs/shufflenet.yaml: ShuffleNet V2's frame with v1 or v2 units per stage. Its defaults are
torchvision's shufflenet_v2_x1_0 (graph and weights); its v1 stages are ShuffleNet v1's, op for op."""

from __future__ import annotations

import pytest
import torchvision
from _reference import assert_same_network

import nasblocks
from nasblocks import SpecError
from nasblocks._membership import compare_graphs

SIZE = 64      # the stem, the pool and three strided stages leave 2×2 for conv5


def test_defaults_are_shufflenet_v2_x1_0_node_for_node() -> None:
    assert compare_graphs(nasblocks.expand(nasblocks.load("shufflenet_v2_x1_0")),
                          nasblocks.expand(nasblocks.load("shufflenet"))) is None


def test_defaults_load_torchvision_weights() -> None:
    assert_same_network(nasblocks.load("shufflenet", input=(3, SIZE, SIZE)),
                        torchvision.models.shufflenet_v2_x1_0())


def trunk(graph, end: str) -> list[tuple]:
    """Every node before ``end`` (the head), without its name: op, arguments, shape, cost."""
    nodes = []
    for node in graph:
        if node.scope.startswith(end):
            break
        nodes.append((node.op, node.args, node.out_shape, node.params, node.macs))
    return nodes


@pytest.mark.parametrize("groups", [1, 3, 8])
def test_v1_units_in_every_stage_are_shufflenet_v1s_trunk(groups: int) -> None:
    # Table 1 at 1×; both stems are 24 channels wide
    widths = {1: [144, 288, 576], 3: [240, 480, 960], 8: [384, 768, 1536]}[groups]
    mixed = nasblocks.load("shufflenet", v1_units=[True, True, True], groups=groups, channels=[*widths, 1024])
    paper = nasblocks.load("shufflenet_v1", groups=groups)
    assert trunk(nasblocks.expand(mixed), "conv5") == trunk(nasblocks.expand(paper), "globalpool")


def test_a_v1_stage_between_v2_stages() -> None:
    graph = nasblocks.expand(nasblocks.load("shufflenet", v1_units=[False, True, False], groups=2))
    stage3 = [n for n in graph if n.scope.startswith("stage3.")]
    assert {n.scope.split(".")[2] for n in stage3 if n.target} == {"branch_proj", "branch_main_1", "branch_main_2"}
    assert [n.args["groups"] for n in stage3 if n.op == "conv"] == [2, 2] * 8   # first_groups: stage 2 only
    assert [n.args for n in stage3 if n.op == "shuffle"] == [{"groups": 2, "inverse": True}] * 8
    assert graph["stage3_0_branch_proj"].out_shape == (116, 14, 14)   # the strided unit's shortcut
    assert all(n.op != "split" for n in stage3)   # v2's channel split is gone …
    assert any(n.op == "split" for n in graph if n.scope.startswith("stage4."))   # … from stage 3 only


def test_a_v1_stage_whose_width_the_groups_do_not_divide_is_an_error_at_the_call() -> None:
    with pytest.raises(SpecError, match=r"shufflenet_blocks\.yaml:\d+: .*conv: groups=8 must divide both input "
                                        r"channels \(116\) and out \(58\) .*\(in shufflenet_v1_unit called at "
                                        r"specs/shufflenet\.yaml:\d+\)"):
        nasblocks.expand(nasblocks.load("shufflenet", v1_units=[False, True, False], groups=8))
