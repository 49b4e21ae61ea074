"""SqueezeNet 1.0 / 1.1 against torchvision, and the paper's bypass variants (Fig. 2), which have
no reference implementation: their structure is tested against the paper's description."""

from __future__ import annotations

import pytest
import torch
import torchvision
from _reference import assert_close, assert_same_network, build_with_weights, counted_cost

import nasblocks
from nasblocks import SpecError

# Small enough to be fast; each of the three ceil-mode max pools meets a map that does not divide
# evenly (32, 16, 8), where floor mode would give one less.
SIZES = {"squeezenet1_0": 70, "squeezenet1_1": 66}
SIZE = SIZES["squeezenet1_0"]   # the bypass variants are squeezenet1_0's
# features.N of the fire modules the paper bypasses, in squeezenet1_0's Sequential
SIMPLE = {4: "fire3", 7: "fire5", 9: "fire7", 12: "fire9"}     # width kept: identity
COMPLEX = {3: "fire2", 5: "fire4", 8: "fire6", 10: "fire8"}    # width changes: 1×1 conv


@pytest.fixture(scope="module")
def squeezenet1_0():
    """torchvision's squeezenet1_0 (no batch norm: its fresh weights keep the signal alive)."""
    torch.manual_seed(0)
    return torchvision.models.squeezenet1_0().eval()


def test_complex_bypass_costs_what_reference_md_says():
    # REFERENCE.md quirks: biased 1×1 shortcuts add 341,248 params and 346,374,144 MACs
    plain, complex_ = nasblocks.cost("squeezenet1_0"), nasblocks.cost("squeezenet1_0_complex_bypass")
    assert complex_.params - plain.params == 341_248
    assert complex_.macs - plain.macs == 346_374_144


@pytest.mark.parametrize(("name", "macs"), [("squeezenet1_0", 832_667_936), ("squeezenet1_1", 387_747_520)])
def test_the_caffe_crop_costs_what_reference_md_says(name, macs):
    # 227×227: the unpadded stem and the ceil-mode pools make the cost jump, on the graph and
    # counted on the built module
    spec = nasblocks.load(name, input=(3, 227, 227))
    assert nasblocks.cost(spec).macs == counted_cost(spec)[1] == macs


@pytest.mark.parametrize(("name", "overrides", "reference"), [
    ("squeezenet1_0", {}, torchvision.models.squeezenet1_0),
    ("squeezenet1_1", {}, torchvision.models.squeezenet1_1),
    ("squeezenet1_1", {"num_classes": 10}, lambda: torchvision.models.squeezenet1_1(num_classes=10)),
])
def test_equals_torchvision(name, overrides, reference):
    assert_same_network(nasblocks.load(name, input=(3, SIZES[name], SIZES[name]), **overrides), reference())


def test_fire_modules_have_torchvision_names():
    model = nasblocks.build(nasblocks.load("squeezenet1_0", input=(3, SIZE, SIZE)))
    fire = model.get_submodule("features.3")
    assert [name for name, _ in fire.named_children()] == [
        "squeeze", "squeeze_activation", "expand1x1", "expand1x1_activation", "expand3x3",
        "expand3x3_activation"]


def test_too_small_an_input_names_the_pool_that_runs_out():
    # at 20×20 the unpadded 7×7/2 stem and the ceil-mode pools leave 1×1 before the pool that
    # follows fire8, too small for it (torchvision fails there too: "Output size is too small")
    with pytest.raises(SpecError, match=r"squeezenet\.yaml:\d+: network\[0\]\.seq\[3\]\.foreach\[6\]"
                                        r"\.do\[1\]\.maxpool: "):
        nasblocks.cost(nasblocks.load("squeezenet1_0", input=(3, 20, 20)))


def _paper_forward(reference: torch.nn.Module, x: torch.Tensor, shortcut) -> torch.Tensor:
    """squeezenet1_0 run module by module, with the module's input added to the output of
    each bypassed fire module (shortcut(index, input) gives what is added, or None)."""
    for index, module in enumerate(reference.features):
        out = module(x)
        extra = shortcut(index, x)
        x = out if extra is None else out + extra
    return torch.flatten(reference.classifier(x), 1)


def test_simple_bypass_is_squeezenet1_0_plus_identity_adds(squeezenet1_0):
    # Fig. 2 (middle): same weights as squeezenet1_0 (strict load), and the output is that of
    # squeezenet1_0 with x added after fire3, fire5, fire7, fire9 — for fire5 and fire9, x is
    # the preceding max pool's output
    spec = nasblocks.load("squeezenet1_0_simple_bypass", input=(3, SIZE, SIZE))
    model = build_with_weights(spec, squeezenet1_0).eval()
    x = torch.randn(2, 3, SIZE, SIZE)
    with torch.no_grad():
        expected = _paper_forward(squeezenet1_0, x, lambda i, inp: inp if i in SIMPLE else None)
        got = model(x)
        plain = squeezenet1_0(x)
    assert_close(got, expected)
    assert (got - plain).abs().max().item() > 1e-3      # the adds do change the output


def test_complex_bypass_adds_a_biased_1x1_conv_where_the_width_changes(squeezenet1_0):
    # Fig. 2 (right): the simple bypass, plus a 1×1 conv shortcut around fire2, 4, 6, 8; the
    # shortcut is the module's `bypass` attribute, so every other key is squeezenet1_0's
    spec = nasblocks.load("squeezenet1_0_complex_bypass", input=(3, SIZE, SIZE))
    model = nasblocks.build(spec).eval()
    missing, unexpected = model.load_state_dict(squeezenet1_0.state_dict(), strict=False)
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
        expected = _paper_forward(squeezenet1_0, x, shortcut)
        got = model(x)
    assert_close(got, expected)


def test_complex_bypass_with_zero_shortcut_convs_is_the_simple_bypass(squeezenet1_0):
    # torchvision's initialisation: the spec's default one shrinks the outputs to where two
    # images give logits within 2e-4 of each other
    simple = build_with_weights(nasblocks.load("squeezenet1_0_simple_bypass", input=(3, SIZE, SIZE)),
                                squeezenet1_0).eval()
    complex_ = nasblocks.build(nasblocks.load("squeezenet1_0_complex_bypass", input=(3, SIZE, SIZE))).eval()
    complex_.load_state_dict(simple.state_dict(), strict=False)
    with torch.no_grad():
        for index in COMPLEX:
            for parameter in complex_.get_submodule(f"features.{index}.bypass").parameters():
                parameter.zero_()
        x = torch.randn(2, 3, SIZE, SIZE)
        assert_close(complex_(x), simple(x))


@pytest.mark.parametrize(("var", "value", "message"), [
    ("version", 1.2, r"var 'version' must be one of 1\.0, 1\.1; got 1\.2"),
    ("bypass", "simpel", r"var 'bypass' must be one of none, simple, complex; got 'simpel'; "
                         r"did you mean simple\?"),
])
def test_a_value_outside_the_choices_names_the_allowed_ones(var, value, message):
    with pytest.raises(SpecError, match=rf"squeezenet\.yaml:\d+: vars\.{var}: {message}"):
        nasblocks.load("squeezenet", **{var: value})
