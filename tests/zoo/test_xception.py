"""specs/xception.yaml equals timm's legacy_xception weight for weight."""

import copy

import pytest
import timm
import torch
from _reference import (assert_same_dropout, assert_same_outputs, assert_same_state, build_with_weights,
                        calibrate)

import nasblocks

# exit flow at 3×3; block1's max pool (3×3/2, padding 1) sees 34×34, where ceil mode would round up
SMALL = (3, 73, 73)


@pytest.fixture(scope="module")
def reference():
    """timm's legacy_xception, calibrated (see _reference)."""
    torch.manual_seed(0)
    return calibrate(timm.create_model("legacy_xception", pretrained=False), SMALL)


def small_model(weights, **overrides):
    return build_with_weights(nasblocks.load("legacy_xception", input=SMALL, **overrides), weights).eval()


def test_eval_equals_timm(reference):
    model = small_model(reference)
    assert_same_outputs(model, reference, torch.randn(2, *SMALL))
    assert_same_dropout(model, reference)  # none by default (timm's drop_rate=0)


def test_training_equals_timm_with_dropout(reference):
    ref = copy.deepcopy(reference).train()
    ref.drop_rate = 0.3  # timm reads it at each forward: F.dropout before the classifier
    model = small_model(ref, drop_rate=0.3).train()
    assert_same_outputs(model, ref, torch.randn(2, *SMALL), seed=1)  # the same dropout mask
    assert_same_state(model, ref)  # running statistics updated alike


def test_ten_classes(reference):
    ref = timm.create_model("legacy_xception", pretrained=False, num_classes=10).eval()
    ref.load_state_dict({k: v for k, v in reference.state_dict().items() if not k.startswith("fc.")},
                        strict=False)  # calibrated trunk, fresh 10-way classifier
    assert_same_outputs(small_model(ref, num_classes=10), ref, torch.randn(2, *SMALL))
