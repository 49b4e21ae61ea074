"""specs/inception_v3.yaml equals torchvision's inception_v3 weight for weight, aux head included."""

import copy

import pytest
import torch
import torchvision
from _reference import (assert_aux_heads_cost, assert_new_classes_equal, assert_same_outputs,
                        assert_same_state, assert_transform_input_equal, build_with_weights, calibrate)

import nasblocks
from nasblocks import SpecError

FULL = (3, 299, 299)
# both stem max pools (ceil_mode=False) see an even map, 54 and 24, where ceil mode would round
# up; Mixed_7 works on 2×2 (75 leaves 1×1)
SMALL = (3, 113, 113)


@pytest.fixture(scope="module")
def reference():
    """torchvision's Inception v3, aux head included (its builder keeps it), calibrated on a
    batch of SMALL images (see _reference)."""
    torch.manual_seed(0)
    return calibrate(torchvision.models.inception_v3(init_weights=False), SMALL)


def without_aux(state):
    """The reference's weights for a network built with aux_logits false."""
    return {k: v for k, v in state.items() if not k.startswith("AuxLogits.")}


def small_model(weights, **overrides):
    """The aux head needs 299×299 (below, its unpadded 5×5 conv has nothing to convolve), so at
    SMALL the spec is built without it, as torchvision runs there in eval mode only."""
    spec = nasblocks.load("inception_v3", input=SMALL, aux_logits=False, **overrides)
    return build_with_weights(spec, without_aux(weights.state_dict())).eval()


def test_cost_without_the_aux_head():
    # REFERENCE.md, "Inception v3, no aux"; the zoo name (aux head included) is in test_zoo_names
    cost = nasblocks.cost(nasblocks.load("inception_v3", aux_logits=False))
    assert (cost.params, cost.macs) == (23_834_568, 5_713_216_096)


def test_aux_head_costs_in_training_only():
    # REFERENCE.md quirks: 3,326,696 params; 5,683,200 MACs per image
    assert_aux_heads_cost(nasblocks.load("inception_v3"), {"AuxLogits": 3_326_696}, 5_683_200)


def test_aux_head_needs_the_full_input():
    with pytest.raises(SpecError, match=r"kernel 5 \(extent 5\) is larger than the padded input 4 "
                                        r"\(input 128×4×4\).*in inception_v3_aux called at"):
        nasblocks.expand(nasblocks.load("inception_v3", input=(3, 298, 298)))


def test_training_outputs_equal_torchvision_at_299(reference):
    # InceptionOutputs(logits, aux_logits): the aux head runs at 299×299 only; the head's
    # dropout draws the same mask
    ref = copy.deepcopy(reference).train()
    model = build_with_weights(nasblocks.load("inception_v3"), ref).train()
    assert_same_outputs(model, ref, torch.randn(2, *FULL), seed=1)
    assert_same_state(model, ref)  # running statistics updated alike


def test_eval_equals_torchvision_without_aux_keys(reference):
    model = small_model(reference)
    x = torch.randn(2, *SMALL)
    assert_same_outputs(model, reference, x)
    with pytest.raises(RuntimeError, match="Unexpected key.*AuxLogits.conv0.conv.weight"):
        model.load_state_dict(reference.state_dict(), strict=True)
    with torch.no_grad():
        assert isinstance(model.train()(x), torch.Tensor)  # as torchvision without aux_logits


def test_transform_input_equals_torchvision(reference):
    assert_transform_input_equal(reference, small_model, SMALL)


def test_ten_classes(reference):
    ref = torchvision.models.inception_v3(init_weights=False, num_classes=10)
    # fc and AuxLogits.fc are fresh 10-way layers
    assert_new_classes_equal(reference, ref, lambda key: ".fc." in f".{key}", small_model, SMALL)
    cost = nasblocks.cost(nasblocks.load("inception_v3", num_classes=10))
    assert cost.params == sum(p.numel() for p in ref.parameters())
