"""The inception block's factorisations of its "5×5" branch (branch3): GoogLeNet's single conv and
Inception v3's two 3×3 (Fig. 5) and 1×n then n×1 (Fig. 6), read off the graph and priced by hand.
The default, single, is torchvision's googlenet: test_googlenet.py loads its weights unchanged."""

from __future__ import annotations

import pytest

import nasblocks
from nasblocks import SpecError

# inception3a at 224×224: 192 input channels on a 28×28 grid; Table 1's row 3a:
# #1×1 64, #3×3 reduce 96, #3×3 128, #5×5 reduce 16, #5×5 32, pool proj 32
HW = 28 * 28
# conv weights (no biases) of everything but branch3's tail: branch1's 1×1, branch2's 1×1 and
# 3×3, branch3's 1×1 reduce, branch4's 1×1 after the max pool
FIXED = 192 * 64 + 192 * 96 + 96 * 128 * 9 + 192 * 16 + 192 * 32
FIXED_BN = 2 * (64 + 96 + 128 + 16 + 32)   # every conv's batch norm: a scale and a shift per channel
# branch3's tail from 16 to 32 channels: (conv weights, batch-norm parameters)
TAILS = {
    "single": (16 * 32 * 3 * 3, 2 * 32),                     # one 3×3 (torchvision's "5×5")
    "double3x3": (16 * 32 * 3 * 3 + 32 * 32 * 3 * 3, 2 * 64),  # 3×3 then 3×3
    "asymmetric": (16 * 32 * 1 * 7 + 32 * 32 * 7 * 1, 2 * 64),  # 1×7 then 7×1
}
KERNELS = {
    "single": [(1, 1), (3, 3)],
    "double3x3": [(1, 1), (3, 3), (3, 3)],
    "asymmetric": [(1, 1), (1, 7), (7, 1)],
}


def module_nodes(factorisation: str, prefix: str, **overrides):
    graph = nasblocks.expand(nasblocks.load("googlenet", factorisation=factorisation, **overrides))
    return [node for node in graph if node.scope == prefix or node.scope.startswith(prefix + ".")]


@pytest.mark.parametrize("factorisation", KERNELS)
def test_branch3_expands_to_its_convolutions(factorisation: str) -> None:
    convs = [n for n in module_nodes(factorisation, "inception3a.branch3") if n.op == "conv"]
    assert [n.args["kernel"] for n in convs] == KERNELS[factorisation]
    assert [n.args["out"] for n in convs] == [16] + [32] * (len(convs) - 1)
    assert [n.target for n in convs] == [f"inception3a.branch3.{k}.conv" for k in range(len(convs))]
    assert all(n.out_shape[1:] == (28, 28) for n in convs)   # "same" padding, 1×7 and 7×1 included
    ops = [n.op for n in module_nodes(factorisation, "inception3a.branch3")]
    assert ops == ["conv", "bn", "relu"] * len(convs)


@pytest.mark.parametrize("factorisation", KERNELS)
def test_one_module_costs_the_hand_count(factorisation: str) -> None:
    nodes = module_nodes(factorisation, "inception3a")
    weights, bn = TAILS[factorisation]
    assert sum(n.params for n in nodes) == FIXED + FIXED_BN + weights + bn
    assert sum(n.macs for n in nodes) == (FIXED + weights) * HW   # convs only: column A


def test_asymmetric_n_sets_the_pair_and_the_paper_5x5_only_changes_single() -> None:
    convs = [n for n in module_nodes("asymmetric", "inception4a.branch3", asymmetric_n=3) if n.op == "conv"]
    assert [n.args["kernel"] for n in convs] == [(1, 1), (1, 3), (3, 1)]
    for factorisation in ("double3x3", "asymmetric"):
        assert nasblocks.cost(nasblocks.load("googlenet", factorisation=factorisation, kernel_5x5=5)) == \
            nasblocks.cost(nasblocks.load("googlenet", factorisation=factorisation))


def test_single_is_the_default_and_torchvision_network() -> None:
    assert nasblocks.cost(nasblocks.load("googlenet", factorisation="single")) == nasblocks.cost("googlenet")


def test_an_unknown_factorisation_names_the_allowed_ones() -> None:
    with pytest.raises(SpecError, match=r"googlenet\.yaml:\d+: vars\.factorisation: var 'factorisation' must "
                                        r"be one of single, double3x3, asymmetric; got 'asymetric'; did you "
                                        r"mean asymmetric\?"):
        nasblocks.load("googlenet", factorisation="asymetric")
