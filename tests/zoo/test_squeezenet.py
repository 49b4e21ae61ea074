"""SqueezeNet 1.0 / 1.1 against torchvision, and the paper's bypass variants (Fig. 2), which have
no reference implementation: their structure is tested against the paper's description."""

from __future__ import annotations

import pytest
import torch
import torchvision
from _same_weights import assert_same_network, randomize_batch_norm

import nasblocks
from nasblocks import SpecError

# REFERENCE.md, figures table: params and column A (multiply-adds) at 224×224
FIGURES = {
    "squeezenet1_0": (1_248_424, 818_924_576),
    "squeezenet1_1": (1_235_496, 349_151_936),
    "squeezenet1_0_simple_bypass": (1_248_424, 818_924_576),
    "squeezenet1_0_complex_bypass": (1_589_672, 1_165_298_720),
}
# Small enough to be fast, large enough for the unpadded stem and the three ceil-mode pools.
SIZE = 64
# features.N of the fire modules the paper bypasses, in squeezenet1_0's Sequential
SIMPLE = {4: "fire3", 7: "fire5", 9: "fire7", 12: "fire9"}     # width kept: identity
COMPLEX = {3: "fire2", 5: "fire4", 8: "fire6", 10: "fire8"}    # width changes: 1×1 conv


@pytest.mark.parametrize(("name", "figures"), FIGURES.items())
def test_cost_at_224_equals_reference(name, figures):
    cost = nasblocks.cost(name)
    assert (cost.params, cost.macs) == figures


def test_complex_bypass_costs_what_reference_md_says():
    # REFERENCE.md quirks: biased 1×1 shortcuts add 341,248 params and 346,374,144 MACs
    plain, complex_ = nasblocks.cost("squeezenet1_0"), nasblocks.cost("squeezenet1_0_complex_bypass")
    assert complex_.params - plain.params == 341_248
    assert complex_.macs - plain.macs == 346_374_144


@pytest.mark.parametrize(("name", "overrides", "reference"), [
    ("squeezenet1_0", {}, lambda: torchvision.models.squeezenet1_0()),
    ("squeezenet1_1", {}, lambda: torchvision.models.squeezenet1_1()),
    ("squeezenet1_1", {"num_classes": 10}, lambda: torchvision.models.squeezenet1_1(num_classes=10)),
])
def test_equals_torchvision(name, overrides, reference):
    assert_same_network(nasblocks.load(name, input=(3, SIZE, SIZE), **overrides), reference())


def test_fire_modules_have_torchvision_names():
    model = nasblocks.build(nasblocks.load("squeezenet1_0", input=(3, SIZE, SIZE)))
    fire = model.get_submodule("features.3")
    assert [name for name, _ in fire.named_children()] == [
        "squeeze", "squeeze_activation", "expand1x1", "expand1x1_activation", "expand3x3",
        "expand3x3_activation"]


def test_smallest_input_is_explained():
    # the unpadded 7×7/2 stem and four stride-2 stages leave nothing to pool below this size
    with pytest.raises(SpecError, match=r"squeezenet\.yaml:\d+: .*maxpool: pool kernel 3 .* is "
                                        r"larger than the padded input 2"):
        nasblocks.cost(nasblocks.load("squeezenet1_0", input=(3, 24, 24)))


def _paper_forward(reference: torch.nn.Module, x: torch.Tensor, shortcut) -> torch.Tensor:
    """squeezenet1_0 run module by module, with the module's input added to the output of
    each bypassed fire module (shortcut(index, input) gives what is added, or None)."""
    for index, module in enumerate(reference.features):
        out = module(x)
        extra = shortcut(index, x)
        x = out if extra is None else out + extra
    return torch.flatten(reference.classifier(x), 1)


def test_simple_bypass_is_squeezenet1_0_plus_identity_adds():
    # Fig. 2 (middle): same weights as squeezenet1_0 (strict load), and the output is that of
    # squeezenet1_0 with x added after fire3, fire5, fire7, fire9 — for fire5 and fire9, x is
    # the preceding max pool's output
    spec = nasblocks.load("squeezenet1_0_simple_bypass", input=(3, SIZE, SIZE))
    reference = torchvision.models.squeezenet1_0().eval()
    model = nasblocks.build(spec).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        expected = _paper_forward(reference, x, lambda i, inp: inp if i in SIMPLE else None)
        got = model(x)
        plain = reference(x)
    assert (got - expected).abs().max().item() < 1e-5
    assert (got - plain).abs().max().item() > 1e-3      # the adds do change the output


def test_complex_bypass_adds_a_biased_1x1_conv_where_the_width_changes():
    # Fig. 2 (right): the simple bypass, plus a 1×1 conv shortcut around fire2, 4, 6, 8; the
    # shortcut is the module's `bypass` attribute, so every other key is squeezenet1_0's
    spec = nasblocks.load("squeezenet1_0_complex_bypass", input=(3, SIZE, SIZE))
    reference = torchvision.models.squeezenet1_0().eval()
    model = nasblocks.build(spec).eval()
    missing, unexpected = model.load_state_dict(reference.state_dict(), strict=False)
    assert unexpected == []
    assert sorted(missing) == sorted(f"features.{i}.bypass.{p}" for i in COMPLEX for p in ("weight", "bias"))
    for index in COMPLEX:
        conv = model.get_submodule(f"features.{index}.bypass")
        assert (conv.kernel_size, conv.bias is not None) == ((1, 1), True)

    def shortcut(index, inp):
        if index in SIMPLE:
            return inp
        if index in COMPLEX:
            return model.get_submodule(f"features.{index}.bypass")(inp)
        return None

    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        expected = _paper_forward(reference, x, shortcut)
        got = model(x)
    assert (got - expected).abs().max().item() < 1e-5


def test_complex_bypass_with_zero_shortcut_convs_is_the_simple_bypass():
    simple = nasblocks.build(nasblocks.load("squeezenet1_0_simple_bypass", input=(3, SIZE, SIZE))).eval()
    complex_ = nasblocks.build(nasblocks.load("squeezenet1_0_complex_bypass", input=(3, SIZE, SIZE))).eval()
    randomize_batch_norm(simple)      # (no BN in SqueezeNet: a no-op kept for symmetry)
    complex_.load_state_dict(simple.state_dict(), strict=False)
    with torch.no_grad():
        for index in COMPLEX:
            for parameter in complex_.get_submodule(f"features.{index}.bypass").parameters():
                parameter.zero_()
        x = torch.randn(2, 3, SIZE, SIZE)
        assert (complex_(x) - simple(x)).abs().max().item() < 1e-5


def test_an_unknown_version_is_an_error():
    with pytest.raises(SpecError, match=r"squeezenet\.yaml:\d+: network\[0\]\.seq\[0\]\.conv\.out: "
                                        r"cannot index .* with 1\.2"):
        nasblocks.cost(nasblocks.load("squeezenet", version=1.2))
