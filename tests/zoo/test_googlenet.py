"""specs/googlenet.yaml equals torchvision's googlenet weight for weight, aux heads included."""

import copy

import pytest
import torch
import torchvision
from _reference import (assert_aux_heads_cost, assert_new_classes_equal, assert_same_outputs,
                        assert_same_state, assert_transform_input_equal, build_with_weights, calibrate)

import nasblocks
from nasblocks import SpecError

# the aux heads pool adaptively to 4×4, so they run at any size; at 80 each ceil-mode max pool
# of the trunk (maxpool1-3 on 40, 20, 10; maxpool4, 2×2, on 5) rounds up where floor would not
SMALL = (3, 80, 80)


@pytest.fixture(scope="module")
def reference():
    """torchvision's bare googlenet (aux heads included), calibrated (see _reference)."""
    torch.manual_seed(0)
    return calibrate(torchvision.models.googlenet(init_weights=False), SMALL)


def small_model(weights, **overrides):
    return build_with_weights(nasblocks.load("googlenet", input=SMALL, **overrides), weights).eval()


def without_aux(state):
    """What torchvision's weights builder keeps when aux_logits is false."""
    return {k: v for k, v in state.items() if not k.startswith(("aux1.", "aux2."))}


def test_cost_without_the_aux_heads():
    # REFERENCE.md, "GoogLeNet, no aux"; the zoo name (aux heads included) is in test_zoo_names
    cost = nasblocks.cost(nasblocks.load("googlenet", aux_logits=False))
    assert (cost.params, cost.macs) == (6_624_904, 1_498_376_192)


def test_aux_heads_cost_in_training_only():
    # REFERENCE.md quirks: aux1 3,188,968 params, aux2 3,191,016; 8,372,224 MACs per image
    assert_aux_heads_cost(nasblocks.load("googlenet"), {"aux1": 3_188_968, "aux2": 3_191_016}, 8_372_224)


def test_paper_5x5_branches():
    # REFERENCE.md: the paper-faithful 5×5 (padding 2) network, without aux heads
    cost = nasblocks.cost(nasblocks.load("googlenet", aux_logits=False, kernel_5x5=5))
    assert (cost.params, cost.macs) == (7_005_832, 1_582_671_872)


def test_eval_equals_torchvision(reference):
    assert_same_outputs(small_model(reference), reference, torch.randn(2, *SMALL))


def test_training_outputs_equal_torchvision(reference):
    # GoogLeNetOutputs(logits, aux_logits2, aux_logits1); the dropouts of aux1, aux2 and the
    # head draw in the same order
    ref = copy.deepcopy(reference).train()
    model = small_model(ref).train()
    assert_same_outputs(model, ref, torch.randn(2, *SMALL), seed=1)
    assert_same_state(model, ref)  # running statistics updated alike


def test_transform_input_equals_torchvision(reference):
    assert_transform_input_equal(reference, small_model, SMALL)


def test_ten_classes(reference):
    # the main and both auxiliary classifiers are fresh 10-way layers (fc, aux1.fc1, aux2.fc2, ...)
    assert_new_classes_equal(reference, torchvision.models.googlenet(init_weights=False, num_classes=10),
                             lambda key: ".fc" in f".{key}", small_model, SMALL)


def test_no_aux_loads_the_reference_without_its_aux_keys(reference):
    model = small_model(without_aux(reference.state_dict()), aux_logits=False)
    x = torch.randn(2, *SMALL)
    assert_same_outputs(model, reference, x)
    with torch.no_grad():
        assert isinstance(model.train()(x), torch.Tensor)  # as torchvision without aux_logits
    with pytest.raises(RuntimeError, match="Unexpected key.*aux1.conv.conv.weight"):
        model.load_state_dict(reference.state_dict(), strict=True)


def test_a_5x5_kernel_other_than_3_or_5_names_the_allowed_ones():
    with pytest.raises(SpecError, match=r"googlenet\.yaml:\d+: vars\.kernel_5x5: var 'kernel_5x5' must be "
                                        r"one of 3, 5; got 7"):
        nasblocks.load("googlenet", kernel_5x5=7)
