"""specs/googlenet.yaml equals torchvision's googlenet weight for weight, aux heads included."""

import pytest
import torch
import torchvision

import nasblocks
from _calibrate import calibrate

SMALL = (3, 96, 96)   # the aux heads pool adaptively to 4×4, so any size ≥ 32 runs them
MACS = 1_498_376_192  # REFERENCE.md, column A, at 224×224 (the aux heads run in training only)


def reference(**kwargs):
    """torchvision's GoogLeNet with batch-norm statistics of a real batch (see _calibrate)."""
    return calibrate(torchvision.models.googlenet(init_weights=False, **kwargs), SMALL)


def spec_model(**overrides):
    return nasblocks.build(nasblocks.load("googlenet", input=SMALL, **overrides))


def without_aux(state):
    """What torchvision's weights builder keeps when aux_logits is false."""
    return {k: v for k, v in state.items() if not k.startswith(("aux1.", "aux2."))}


@pytest.mark.parametrize(("aux_logits", "params"), [(True, 13_004_888), (False, 6_624_904)])
def test_costs_at_224(aux_logits, params):
    cost = nasblocks.cost(nasblocks.load("googlenet", aux_logits=aux_logits))
    assert (cost.params, cost.macs) == (params, MACS)


def test_paper_5x5_branches():
    # REFERENCE.md: the paper-faithful 5×5 (padding 2) network, without aux heads
    cost = nasblocks.cost(nasblocks.load("googlenet", aux_logits=False, kernel_5x5=5))
    assert (cost.params, cost.macs) == (7_005_832, 1_582_671_872)


def test_eval_equals_torchvision():
    ref, model = reference().eval(), spec_model().eval()
    model.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, *SMALL)
    with torch.no_grad():
        expected, got = ref(x), model(x)
    assert isinstance(got, torch.Tensor)
    assert (got - expected).abs().max() < 1e-5


def test_training_outputs_equal_torchvision():
    ref, model = reference().train(), spec_model().train()
    model.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, *SMALL)
    torch.manual_seed(1)  # the dropouts of aux1, aux2 and the head draw in the same order
    expected = ref(x)
    torch.manual_seed(1)
    got = model(x)
    assert len(got) == 3  # GoogLeNetOutputs(logits, aux_logits2, aux_logits1)
    for name, a, b in zip(expected._fields, got, expected):
        assert a.shape == (2, 1000), name
        assert (a - b).abs().max() < 1e-5, name
    # batch norm updated its running statistics the same way
    for key, value in ref.state_dict().items():
        assert torch.allclose(model.state_dict()[key].float(), value.float(), atol=1e-6), key


def test_transform_input_equals_torchvision():
    ref, model = reference(transform_input=True).eval(), spec_model(transform_input=True).eval()
    plain = spec_model().eval()
    model.load_state_dict(ref.state_dict(), strict=True)
    plain.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, *SMALL)
    with torch.no_grad():
        expected = ref(x)
        assert (model(x) - expected).abs().max() < 1e-5
        assert (plain(x) - expected).abs().max() > 1e-3  # the re-normalisation is not a no-op


def test_ten_classes():
    ref, model = reference(num_classes=10).eval(), spec_model(num_classes=10).eval()
    model.load_state_dict(ref.state_dict(), strict=True)
    x = torch.randn(2, *SMALL)
    with torch.no_grad():
        got = model(x)
        assert got.shape == (2, 10)
        assert (got - ref(x)).abs().max() < 1e-5


def test_no_aux_loads_the_reference_without_its_aux_keys():
    ref, model = reference().eval(), spec_model(aux_logits=False).eval()
    model.load_state_dict(without_aux(ref.state_dict()), strict=True)
    x = torch.randn(2, *SMALL)
    with torch.no_grad():
        assert (model(x) - ref(x)).abs().max() < 1e-5
    model.train()
    assert isinstance(model(x), torch.Tensor)  # torchvision: a tensor when aux_logits is false
    with pytest.raises(RuntimeError, match="Unexpected key.*aux1.conv.conv.weight"):
        model.load_state_dict(ref.state_dict(), strict=True)
