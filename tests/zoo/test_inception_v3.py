"""specs/inception_v3.yaml equals torchvision's inception_v3 weight for weight, aux head included."""

import copy

import pytest
import torch
import torchvision

import nasblocks
from _calibrate import calibrate
from nasblocks import SpecError

FULL = (3, 299, 299)
SMALL = (3, 107, 107)  # the smallest size with a 2×2 grid at Mixed_7 (75 leaves 1×1)
MACS = 5_713_216_096   # REFERENCE.md, column A, at 299×299 (the aux head runs in training only)


@pytest.fixture(scope="module")
def reference():
    """torchvision's Inception v3, aux head included (its builder keeps it), with batch-norm
    statistics of a real batch of SMALL images (see _calibrate)."""
    torch.manual_seed(0)
    return calibrate(torchvision.models.inception_v3(init_weights=False), SMALL)


def without_aux(state):
    """The reference's weights for a network built with aux_logits false."""
    return {k: v for k, v in state.items() if not k.startswith("AuxLogits.")}


def small_model(**overrides):
    """The aux head needs 299×299 (below, its unpadded 5×5 conv has nothing to convolve), so at
    SMALL the spec is built without it, as torchvision runs there in eval mode only."""
    spec = nasblocks.load("inception_v3", input=SMALL, aux_logits=False, **overrides)
    return nasblocks.build(spec).eval()


def assert_same_eval_outputs(model, ref, x):
    with torch.no_grad():
        got, expected = model(x), ref(x)
    assert got.shape == expected.shape
    assert (got - expected).abs().max() < 1e-5


@pytest.mark.parametrize(("aux_logits", "params"), [(True, 27_161_264), (False, 23_834_568)])
def test_costs_at_299(aux_logits, params):
    cost = nasblocks.cost(nasblocks.load("inception_v3", aux_logits=aux_logits))
    assert (cost.params, cost.macs) == (params, MACS)


def test_aux_head_needs_the_full_input():
    with pytest.raises(SpecError, match=r"kernel 5 \(extent 5\) is larger than the padded input 4 "
                                        r"\(input 128×4×4\).*in inception_v3_aux called at"):
        nasblocks.expand(nasblocks.load("inception_v3", input=(3, 298, 298)))


@torch.no_grad()
def test_training_outputs_equal_torchvision_at_299():
    # batch norm normalises with batch statistics in training mode, so fresh weights suffice
    ref = torchvision.models.inception_v3(init_weights=False).train()
    model = nasblocks.build(nasblocks.load("inception_v3")).train()
    model.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, *FULL)
    torch.manual_seed(1)  # the head's dropout draws the same mask
    expected = ref(x)
    torch.manual_seed(1)
    got = model(x)
    assert len(got) == 2  # InceptionOutputs(logits, aux_logits)
    for name, a, b in zip(expected._fields, got, expected):
        assert a.shape == (2, 1000), name
        assert (a - b).abs().max() < 1e-5, name
    for key, value in ref.state_dict().items():  # running statistics updated alike
        assert torch.allclose(model.state_dict()[key].float(), value.float(), atol=1e-6), key


def test_eval_equals_torchvision_without_aux_keys(reference):
    model = small_model()
    model.load_state_dict(without_aux(reference.state_dict()), strict=True)
    x = torch.randn(2, *SMALL)
    assert_same_eval_outputs(model, reference, x)
    with pytest.raises(RuntimeError, match="Unexpected key.*AuxLogits.conv0.conv.weight"):
        model.load_state_dict(reference.state_dict(), strict=True)
    with torch.no_grad():
        assert isinstance(model.train()(x), torch.Tensor)  # as torchvision without aux_logits


def test_transform_input_equals_torchvision(reference):
    ref = copy.deepcopy(reference)
    ref.transform_input = True
    model, plain = small_model(transform_input=True), small_model()
    model.load_state_dict(without_aux(ref.state_dict()), strict=True)
    plain.load_state_dict(without_aux(ref.state_dict()), strict=True)
    x = torch.randn(2, *SMALL)
    assert_same_eval_outputs(model, ref, x)
    with torch.no_grad():
        assert (plain(x) - ref(x)).abs().max() > 1e-3  # the re-normalisation is not a no-op


def test_ten_classes(reference):
    ref = torchvision.models.inception_v3(init_weights=False, num_classes=10).eval()
    trunk = {k: v for k, v in reference.state_dict().items() if ".fc." not in f".{k}"}
    ref.load_state_dict(trunk, strict=False)  # calibrated trunk, fresh 10-way classifiers
    model = small_model(num_classes=10)
    model.load_state_dict(without_aux(ref.state_dict()), strict=True)
    assert_same_eval_outputs(model, ref, torch.randn(2, *SMALL))
    cost = nasblocks.cost(nasblocks.load("inception_v3", num_classes=10))
    assert cost.params == sum(p.numel() for p in ref.parameters())
