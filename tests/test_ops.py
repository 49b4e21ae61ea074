"""The op registry: every op's shape and cost rules agree with the module it compiles to, and
the module computes what its name says.

The oracle is PyTorch itself: output shapes from running the compiled op, parameters from the
module, multiply-adds from torch.utils.flop_counter.FlopCounterMode (FLOPs / 2), the independent
counter REFERENCE.md names for the canonical count, and outputs from torch.nn.functional.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode
from torchvision.models.shufflenetv2 import channel_shuffle as tv_channel_shuffle
from torchvision.ops import stochastic_depth

import nasblocks
from nasblocks._ops import ACTIVATIONS, REGISTRY, OpDef, list_ops


def counted_macs(model: torch.nn.Module, x: torch.Tensor) -> int:
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(x)
    return counter.get_total_flops() // 2


def check(write_spec: Callable[..., Path], item: str, input_shape: tuple[int, ...] = (8, 17, 19),
          expected: Callable[[torch.Tensor], torch.Tensor] | None = None) -> nasblocks.Graph:
    """Price one op from the IR and from the compiled module; they must agree exactly. With
    ``expected``, the module (in eval mode) computes what ``expected(x)`` does."""
    spec = write_spec(f"input: {list(input_shape)}\nnetwork:\n  - {item}\n")
    graph = nasblocks.expand(nasblocks.load(spec))
    model = nasblocks.build(nasblocks.load(spec)).eval()
    x = torch.randn(2, *input_shape)
    given = x.clone()
    out = model(x)
    assert torch.equal(x, given)   # the caller's tensor is never written in place
    assert tuple(out.shape[1:]) == graph.output_shape
    if expected is not None:
        difference = (out - expected(x)).abs().max().item()
        assert difference < 1e-6, f"{item}: differs from PyTorch's output by {difference:.3g}"
    assert graph.params == sum(p.numel() for p in model.parameters())
    assert graph.macs * 2 == counted_macs(model, x)  # batch of 2
    return graph


CONVS = [
    "conv: {out: 16, kernel: 3}",
    "conv: {out: 16, kernel: 3, stride: 2}",
    "conv: {out: 16, kernel: 3, stride: 2, padding: 0}",
    "conv: {out: 16, kernel: 5, dilation: 2}",
    "conv: {out: 16, kernel: 3, dilation: [1, 2], stride: [2, 1]}",
    "conv: {out: 16, kernel: [1, 7]}",
    "conv: {out: 16, kernel: [7, 1], padding: [3, 0]}",
    "conv: {out: 16, kernel: [3, 5], stride: [1, 2], padding: 1}",
    "conv: {out: 16, kernel: 3, groups: 4}",
    "conv: {out: 8, kernel: 3, groups: 8, bias: true}",
    "conv: {out: 24, kernel: 1, groups: 2, bias: true}",
    "conv: {out: 16, kernel: 3, padding: same}",
    "conv: {out: 16, kernel: 4, padding: same, dilation: 2}",
    "conv: {out: 16, kernel: 2, padding: valid, stride: 3}",
    "dwconv: {kernel: 3}",
    "dwconv: {kernel: 5, stride: 2, multiplier: 2, bias: true}",
    "dwconv: {kernel: [1, 3], padding: [0, 1]}",
    "linear: {out: 10}",
    "linear: {out: 7, bias: false}",
]


@pytest.mark.parametrize("item", CONVS)
def test_conv_and_linear_costs_match_the_counter(write_spec: Callable[..., Path], item: str) -> None:
    if item.startswith("linear"):
        graph = check(write_spec, "flatten: {}\n  - " + item, (37, 1, 1))
    else:
        graph = check(write_spec, item)
    assert graph.macs > 0


FRESH_BN = 1 / (1 + 1e-5) ** 0.5   # eval mode, fresh statistics (mean 0, variance 1): x / sqrt(1 + eps)
SCALE, SHIFT = [1, 2, 3, 4, 5, 6, 7, 8], [0, 0, 0, 0, 1, 1, 1, 1]
# each op with what PyTorch computes for it
OTHERS: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "bn: {}": lambda x: x * FRESH_BN,
    "bn: {eps: 0.001, momentum: 0.01}": lambda x: x / (1 + 1e-3) ** 0.5,
    "bn: {affine: false}": lambda x: x * FRESH_BN,
    "relu: {}": F.relu, "relu6: {}": F.relu6, "hardswish: {}": F.hardswish, "hardsigmoid: {}": F.hardsigmoid,
    "sigmoid: {}": torch.sigmoid, "silu: {}": F.silu, "gelu: {}": F.gelu, "tanh: {}": torch.tanh,
    "identity: {}": lambda x: x,
    "act: {fn: hardswish}": F.hardswish,
    "maxpool: {kernel: 3, stride: 2}": lambda x: F.max_pool2d(x, 3, 2),
    "maxpool: {kernel: 3, stride: 2, ceil_mode: true}": lambda x: F.max_pool2d(x, 3, 2, ceil_mode=True),
    "maxpool: {kernel: 3, stride: 2, padding: 1}": lambda x: F.max_pool2d(x, 3, 2, 1),
    "maxpool: {kernel: 2}": lambda x: F.max_pool2d(x, 2),
    "avgpool: {kernel: 3, stride: 2, padding: 1}": lambda x: F.avg_pool2d(x, 3, 2, 1),
    "avgpool: {kernel: 3, stride: 2, padding: 1, count_include_pad: false}":
        lambda x: F.avg_pool2d(x, 3, 2, 1, count_include_pad=False),
    "avgpool: {kernel: [3, 2], ceil_mode: true}": lambda x: F.avg_pool2d(x, (3, 2), ceil_mode=True),
    "adaptive_avgpool: {}": lambda x: F.adaptive_avg_pool2d(x, 1),
    "adaptive_avgpool: {size: [2, 3]}": lambda x: F.adaptive_avg_pool2d(x, (2, 3)),
    "mean: {}": lambda x: x.mean((2, 3)), "mean: {keepdim: true}": lambda x: x.mean((2, 3), keepdim=True),
    "flatten: {}": lambda x: x.flatten(1),
    "dropout: {p: 0.3}": lambda x: x,   # eval mode
    "drop_path: {p: 0.3}": lambda x: x,  # eval mode
    "shuffle: {groups: 4}": lambda x: tv_channel_shuffle(x, 4),
    # Megvii's permutation views the channels as (C / groups, groups): the usual one with C / groups
    "shuffle: {groups: 2, inverse: true}": lambda x: tv_channel_shuffle(x, 8 // 2),
    "split: {parts: 2, index: 1}": lambda x: x[:, 4:], "split: {parts: 4, index: 0}": lambda x: x[:, :2],
    f"channel_affine: {{scale: {SCALE}, shift: {SHIFT}}}":
        lambda x: x * torch.tensor(SCALE).view(1, -1, 1, 1) + torch.tensor(SHIFT).view(1, -1, 1, 1),
}


@pytest.mark.parametrize("item", OTHERS)
def test_free_ops_cost_no_macs_and_compute_what_pytorch_does(write_spec: Callable[..., Path], item: str) -> None:
    graph = check(write_spec, item, expected=OTHERS[item])
    assert graph.macs == 0


@pytest.mark.parametrize("mode", ["row", "batch"])
def test_drop_path_in_training_is_torchvisions_stochastic_depth(write_spec: Callable[..., Path], mode: str) -> None:
    spec = write_spec(f"input: [4, 3, 3]\nnetwork:\n  - drop_path: {{p: 0.5, mode: {mode}}}\n")
    model = nasblocks.build(nasblocks.load(spec))
    x = torch.randn(64, 4, 3, 3)
    torch.manual_seed(1)
    out = model(x)
    torch.manual_seed(1)
    assert torch.equal(out, stochastic_depth(x, 0.5, mode, training=True))
    kept = out.flatten(1).ne(0).any(1)
    assert 0 < int(kept.sum()) < 64 if mode == "row" else int(kept.sum()) in (0, 64)
    assert torch.allclose(out[kept], 2 * x[kept])  # what survives is scaled by 1 / (1 - p)


@pytest.mark.parametrize("item", ["dropout: {p: 1.5}", "drop_path: {p: -0.1}", "drop_path: {p: 0.2, mode: image}"])
def test_probabilities_and_modes_out_of_range_are_refused_where_written(write_spec: Callable[..., Path],
                                                                        item: str) -> None:
    expected = r"net.yaml:3: network\[0\]\.\w+\.(p|mode): expected (a number from 0 to 1|one of row, batch)"
    with pytest.raises(nasblocks.SpecError, match=expected):
        nasblocks.expand(nasblocks.load(write_spec(f"input: [4, 3, 3]\nnetwork:\n  - {item}\n")))


@pytest.mark.parametrize("functional", [True, False])
@pytest.mark.parametrize("op", ["relu", "maxpool: {kernel: 3, stride: 2, ceil_mode: true}", "avgpool: {kernel: 3, stride: 1, padding: 1}", "adaptive_avgpool: {}"])
def test_functional_and_module_forms_agree(write_spec: Callable[..., Path], op: str, functional: bool) -> None:
    item = op if ":" in op else f"{op}: {{}}"
    spec = write_spec(f"input: [4, 9, 9]\nnetwork:\n  - {item}\n    functional: {str(functional).lower()}\n  - {item}\n")
    model = nasblocks.build(nasblocks.load(spec))
    # a functional item is a call in forward, not a submodule; the second item is a module either way
    assert [name for name, _ in model.named_children()] == (["0"] if functional else ["0", "1"])
    x = torch.randn(1, 4, 9, 9)
    reference = nasblocks.build(nasblocks.load(write_spec(f"input: [4, 9, 9]\nnetwork:\n  - {item}\n  - {item}\n", "ref.yaml")))
    assert torch.equal(model(x), reference(x))


@pytest.mark.parametrize("merge", ["add", "mul", "concat"])
def test_merges(write_spec: Callable[..., Path], merge: str) -> None:
    graph = check(write_spec, f"{merge}:\n      - conv: {{out: 8, kernel: 1}}\n      - seq: []\n")
    assert graph.output_shape == ((16, 17, 19) if merge == "concat" else (8, 17, 19))


def test_an_activation_works_in_place_only_where_no_other_op_reads_its_input(write_spec: Callable[..., Path]) -> None:
    # relu(conv(relu(c))) + c: the first relu's input c is read by the add too, the second's by it alone
    spec = "input: [8, 5, 5]\nnetwork:\n  - conv: {out: 8, kernel: 1}\n  - add:\n" \
           "      - seq: [{relu: {}}, {conv: {out: 8, kernel: 1}}, {relu: {}}]\n      - seq: []\n"
    model = nasblocks.build(nasblocks.load(write_spec(spec))).eval()
    assert (model.get_submodule("1.0.0").inplace, model.get_submodule("1.0.2").inplace) == (False, True)
    x = torch.randn(2, 8, 5, 5)
    with torch.no_grad():
        c = model.get_submodule("0")(x)
        assert torch.equal(model(x), F.relu(model.get_submodule("1.0.1")(F.relu(c))) + c)


@pytest.mark.parametrize("alias", ["identity: {}", "act: {fn: identity}", "flatten: {}", "dropout: {p: 0.5}",
                                   "drop_path: {p: 0.5}", "shuffle: {groups: 1}"])
def test_an_activation_does_not_overwrite_what_another_branch_reads_through_an_alias(
        write_spec: Callable[..., Path], alias: str) -> None:
    # relu(alias(c)) + alias(c): the alias is read by the relu alone, but it is c itself or a view of
    # it (dropout and drop_path outside training), and the other branch reads c too
    spec = f"input: [4, 3, 3]\nnetwork:\n  - conv: {{out: 4, kernel: 1}}\n  - add:\n" \
           f"      - seq: [{{{alias}}}, {{relu: {{}}}}]\n      - seq: [{{{alias}}}]\n"
    model = nasblocks.build(nasblocks.load(write_spec(spec))).eval()
    assert not [name for name, module in model.named_modules() if getattr(module, "inplace", False)]
    x = torch.randn(2, 4, 3, 3)
    with torch.no_grad():
        c = model.get_submodule("0")(x)
        expected = F.relu(c) + c
        assert torch.equal(model(x), expected.flatten(1) if alias.startswith("flatten") else expected)


def test_an_activation_does_not_overwrite_a_part_of_a_split_nor_the_input(write_spec: Callable[..., Path]) -> None:
    # relu(x.chunk(2)[0]) in place would write into the caller's x, and autograd refuses to
    # overwrite one of the views chunk returns; behind a conv it runs in place
    spec = "input: [4, 3, 3]\nnetwork:\n  - name: unit\n    concat:\n" \
           "      - seq: [{split: {parts: 2, index: 0}}, {relu: {}}]\n" \
           "      - seq: [{split: {parts: 2, index: 1}}, {conv: {out: 2, kernel: 1}}, {relu: {}}]\n"
    model = nasblocks.build(nasblocks.load(write_spec(spec)))
    assert (model.get_submodule("unit.0.0").inplace, model.get_submodule("unit.1.1").inplace) == (False, True)
    x = torch.randn(2, 4, 3, 3, requires_grad=True)
    before = x.detach().clone()
    model(x).sum().backward()
    assert torch.equal(x.detach(), before) and x.grad is not None


def test_mul_broadcasts_a_gate(write_spec: Callable[..., Path]) -> None:
    check(write_spec, "mul:\n      - seq: []\n      - seq: [{mean: {keepdim: true}}, {sigmoid: {}}]\n")


@pytest.mark.parametrize("groups", [2, 4])
def test_shuffle_matches_torchvision(write_spec: Callable[..., Path], groups: int) -> None:
    model = nasblocks.build(nasblocks.load(write_spec(f"input: [8, 3, 3]\nnetwork:\n  - shuffle: {{groups: {groups}}}\n")))
    x = torch.randn(2, 8, 3, 3)
    assert torch.equal(model(x), tv_channel_shuffle(x, groups))


def test_inverse_shuffle_undoes_the_shuffle(write_spec: Callable[..., Path]) -> None:
    forward = nasblocks.build(nasblocks.load(write_spec("input: [12, 2, 2]\nnetwork:\n  - shuffle: {groups: 3}\n")))
    inverse = nasblocks.build(nasblocks.load(write_spec("input: [12, 2, 2]\nnetwork:\n  - shuffle: {groups: 3, inverse: true}\n", "inv.yaml")))
    x = torch.randn(1, 12, 2, 2)
    assert torch.equal(inverse(forward(x)), x)
    assert not torch.equal(forward(x), x)


@pytest.mark.parametrize("name", list_ops())
def test_every_registry_entry_is_complete(name: str) -> None:
    op: OpDef = REGISTRY[name]
    assert op.doc and op.shape
    assert op.module is not None or op.emit is not None
    assert not op.functional or op.emit is not None


def test_duplicate_registration_is_an_error() -> None:
    with pytest.raises(ValueError, match="op 'conv' is already registered"):
        from nasblocks._ops import register

        register(REGISTRY["conv"])


def test_the_primitives_of_the_design_are_registered() -> None:
    wanted = {"conv", "dwconv", "bn", "relu", "relu6", "hardswish", "hardsigmoid", "sigmoid", "silu", "gelu",
              "identity", "maxpool", "avgpool", "adaptive_avgpool", "shuffle", "split", "concat", "add", "mul",
              "flatten", "linear", "dropout", "mean"}
    assert wanted <= set(list_ops())


def test_pool_output_sizes_follow_pytorch_including_ceil_mode_edge_cases() -> None:
    from nasblocks._ops import ShapeError, _window

    for size in range(1, 9):
        for kernel, stride, pad, ceil in [(k, s, p, c) for k in (2, 3) for s in (1, 2, 3)
                                          for p in (0, 1) if p <= k // 2 for c in (False, True)]:
            try:
                expected = torch.nn.functional.max_pool2d(torch.zeros(1, 1, size, size), kernel, stride, pad,
                                                          ceil_mode=ceil).shape[-1]
            except RuntimeError:
                expected = None
            try:
                ours = _window(size, kernel, stride, pad, 1, ceil, "pool kernel")
            except ShapeError:
                ours = None
            assert ours == expected, (size, kernel, stride, pad, ceil)


CHANNELWISE = {  # an item of each op tagged channelwise, on a 4×6×6 input (flatten: 4×1×1)
    **{fn: f"{fn}: {{}}" for fn in ACTIVATIONS}, "act": "act: {fn: relu6}", "bn": "bn: {}",
    "maxpool": "maxpool: {kernel: 2}", "avgpool": "avgpool: {kernel: 3, stride: 1, padding: 1}",
    "adaptive_avgpool": "adaptive_avgpool: {size: 2}", "mean": "mean: {}", "flatten": "flatten: {}",
    "dropout": "dropout: {}", "drop_path": "drop_path: {p: 0.5}",
    "channel_affine": "channel_affine: {scale: [2, 2, 2, 2], shift: [1, 1, 1, 1]}",
    "add": "add:\n      - seq: []\n      - tanh: {}\n", "mul": "mul:\n      - seq: []\n      - sigmoid: {}\n",
}


def test_channelwise_ops_keep_each_channel_to_itself(write_spec: Callable[..., Path]) -> None:
    """What weight inheritance trusts the tag for: permuting the channels of a channelwise op's
    input permutes its output alike (its per-channel constants equal), as no op that mixes
    channels would."""
    assert set(CHANNELWISE) == {name for name, op in REGISTRY.items() if "channelwise" in op.tags}
    order = torch.randperm(4, generator=torch.Generator().manual_seed(0))
    for name, item in CHANNELWISE.items():
        shape = [4, 1, 1] if name == "flatten" else [4, 6, 6]
        model = nasblocks.build(nasblocks.load(write_spec(f"input: {shape}\nnetwork:\n  - {item}\n", f"{name}.yaml")))
        model.eval()
        x = torch.randn(2, *shape)
        assert torch.equal(model(x[:, order]), model(x)[:, order]), name
    mixing = nasblocks.build(nasblocks.load(write_spec("input: [4, 6, 6]\nnetwork:\n  - conv: {out: 4, kernel: 1}\n")))
    x = torch.randn(2, 4, 6, 6)
    assert not torch.allclose(mixing(x[:, order]), mixing(x)[:, order])  # the check tells a conv apart
