"""A compiled network in everyday PyTorch workflows, used as a user would use torchvision's:
saved and loaded in another process, trained, fine-tuned, traced, scripted, quantized, run in
lower precision. Small networks at 16×16, on the CPU."""

from __future__ import annotations

import copy
import pickle
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
import torchvision
from torch import nn
from torch.ao.quantization import get_default_qconfig_mapping
from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx
from torchvision.models.feature_extraction import create_feature_extractor, get_graph_node_names

import nasblocks

pytestmark = [  # torch's and torchvision's own notes about their tools, not about the network
    pytest.mark.filterwarnings("ignore:The TorchScript type system doesn't support instance-level annotations"),
    pytest.mark.filterwarnings("ignore:NOTE. The nodes obtained by tracing the model in eval mode"),
]

# concat of split halves, SE, channel shuffle, dropout and an auxiliary head: every kind of call
# the compiler writes besides modules
SPEC = """
imports: [blocks.yaml]
input: [3, 16, 16]
vars: {aux_logits: true}
network:
  - conv_bn_act: {out: 16, stride: 2}
    name: stem
  - name: mix
    concat:
      - split: {parts: 2, index: 0}
      - seq:
          - split: {parts: 2, index: 1}
          - conv_bn_act: {out: 8, kernel: 1}
          - se: {squeeze: 4}
  - shuffle: {groups: 2}
  - name: aux
    aux: 1
    if: aux_logits
    seq: [{mean: {}}, {dropout: {p: 0.5}}, {linear: {out: 5}}]
  - conv_bn_act: {out: 32}
    name: body
  - mean: {}
  - dropout: {p: 0.5}
    name: drop
  - linear: {out: 10}
    name: fc
"""

# run in a fresh interpreter: nothing of the saving process (fx's caches, imported modules) helps
LOAD_ELSEWHERE = """
import pickle, sys, torch
torch.set_num_threads(1)
saved = torch.load(sys.argv[1], weights_only=False)
x, expected = saved["x"], saved["expected"]
for mode in ("train", "eval"):                 # the mode each copy was saved in
    for model in (saved[mode], pickle.loads(pickle.dumps(saved[mode]))):   # and saved again
        assert list(model.state_dict()) == saved["keys"]
        assert torch.equal(model.eval()(x), expected), mode
        outputs = model.train()(x)
        assert [o.shape for o in outputs] == [(2, 10), (2, 5)], mode
        assert isinstance(model.eval()(x), torch.Tensor), mode
print("loaded")
"""


@pytest.fixture
def spec(write_spec: Callable[..., Path]) -> Path:
    return write_spec(SPEC)


def test_a_saved_network_loads_in_a_fresh_process_and_still_switches_modes(spec: Path, tmp_path: Path) -> None:
    """torch.save of the whole module, saved in training or eval mode, then train()/eval() in the
    loading process: both auxiliary outputs and the single output, as before saving (fx rebuilds
    a loaded GraphModule by tracing its code, which froze the saving mode)."""
    model = nasblocks.build(spec)
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        expected = model.eval()(x)
    saved = {"train": copy.deepcopy(model).train(), "eval": model, "x": x, "expected": expected,
             "keys": list(model.state_dict())}
    torch.save(saved, tmp_path / "saved.pt")
    loaded = subprocess.run([sys.executable, "-c", LOAD_ELSEWHERE, str(tmp_path / "saved.pt")],
                            capture_output=True, text=True, timeout=120)
    assert (loaded.returncode, loaded.stdout) == (0, "loaded\n"), loaded.stderr[-2000:]


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v2", "inception_v3"])
def test_parameters_and_submodules_come_in_the_references_order(name: str) -> None:
    """What order-dependent code sees: ``parameters()`` (an optimizer's state, "freeze all but
    the last two"), ``state_dict()`` and ``print(model)`` in torchvision's order, the classifier
    last — and the same names and code from two builds."""
    with torch.device("meta"):
        model, again = nasblocks.build(name), nasblocks.build(name)
        reference = getattr(torchvision.models, name)(**({"init_weights": False} if name == "inception_v3" else {}))
    assert [key for key, _ in model.named_parameters()] == [key for key, _ in reference.named_parameters()]
    assert list(model.state_dict()) == list(reference.state_dict())
    last = list(reference.modules())[-1]
    assert [p.shape for p in list(model.parameters())[-2:]] == [last.weight.shape, last.bias.shape]
    assert model.code == again.code
    assert [n for n, _ in model.named_modules()] == [n for n, _ in again.named_modules()]


def test_googlenet_auxiliary_heads_sit_where_they_are_called() -> None:
    # torchvision defines aux1 and aux2 after inception5b; they are registered where they run
    with torch.device("meta"):
        keys = list(nasblocks.build("googlenet").state_dict())
        reference = list(torchvision.models.googlenet(aux_logits=True, init_weights=False).state_dict())
    not_aux = [key for key in reference if not key.startswith("aux")]
    assert [key for key in keys if not key.startswith("aux")] == not_aux
    assert keys[keys.index("aux1.conv.conv.weight") - 1].startswith("inception4a.")
    assert keys[keys.index("aux2.conv.conv.weight") - 1].startswith("inception4d.")


def test_train_and_eval_modes_drive_dropout_and_batch_norm(spec: Path) -> None:
    model = nasblocks.build(spec)
    x = torch.randn(4, 3, 16, 16)
    stats = model.get_submodule("body.1").running_mean
    model.eval()
    before = stats.clone()
    assert torch.equal(model(x), model(x)) and torch.equal(stats, before)
    model.train()
    first, second = model(x), model(x)  # the same batch statistics, different dropout draws
    assert not torch.equal(stats, before)
    assert not torch.equal(first[0], second[0]) and not torch.equal(first[1], second[1])


def test_gradients_reach_every_parameter_through_in_place_activations(spec: Path) -> None:
    model = nasblocks.build(spec).train()
    main, aux = model(torch.randn(4, 3, 16, 16))
    (main.square().mean() + aux.square().mean()).backward()
    missing = [key for key, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert missing == []


def test_fine_tuning_a_replaced_classifier_with_the_rest_frozen(spec: Path) -> None:
    """torchvision's recipe: freeze, swap the last layer (by assignment or set_submodule — blocks
    are plain containers, not nn.Sequential), train that layer alone."""
    model = nasblocks.build(spec)
    for p in model.parameters():
        p.requires_grad_(False)
    model.fc = nn.Linear(32, 3)
    model.set_submodule("aux.1", nn.Linear(16, 2))  # the head's linear (mean is functional)
    frozen = {key: value.clone() for key, value in model.state_dict().items()}
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=0.1)
    main, aux = model.train()(torch.randn(4, 3, 16, 16))
    assert main.shape == (4, 3) and aux.shape == (4, 2)
    (main.sum() + aux.sum()).backward()
    optimizer.step()
    changed = {key for key, value in model.state_dict().items() if not torch.equal(value, frozen[key])}
    assert {key for key in changed if "running" not in key and "num_batches" not in key} == {
        "fc.weight", "fc.bias", "aux.1.weight", "aux.1.bias"}
    assert copy.deepcopy(model).eval()(torch.randn(1, 3, 16, 16)).shape == (1, 3)


def test_hooks_on_a_named_layer_see_its_output(spec: Path) -> None:
    model = nasblocks.build(spec).eval()
    seen: list[torch.Size] = []
    model.get_submodule("mix.0.1.fc1").register_forward_hook(lambda m, args, out: seen.append(out.shape))
    model(torch.randn(2, 3, 16, 16))
    assert seen == [(2, 4, 1, 1)]


def test_trace_script_and_functional_call_give_the_eager_outputs(write_spec: Callable[..., Path]) -> None:
    path = write_spec(SPEC)
    model = nasblocks.build(nasblocks.load(path, aux_logits=False)).eval()
    other = nasblocks.build(nasblocks.load(path, aux_logits=False)).eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TorchScript is deprecated, not gone
        expected = model(x)
        assert torch.allclose(torch.jit.script(model)(x), expected, atol=1e-6)
        assert torch.allclose(torch.jit.trace(model, x, check_trace=False)(x), expected, atol=1e-6)
        swapped = torch.func.functional_call(model, dict(other.state_dict()), (x,))
    assert torch.equal(swapped, other(x)) and not torch.equal(swapped, expected)


def test_fx_tools_trace_it_again(spec: Path) -> None:
    """torchvision's feature extraction and FX post-training quantization re-trace the module."""
    model = nasblocks.build(spec).eval()
    x = torch.randn(4, 3, 16, 16)
    train_nodes, eval_nodes = get_graph_node_names(model)
    assert "aux.1" in train_nodes and "aux.1" not in eval_nodes and "body.0" in eval_nodes
    features = create_feature_extractor(model, {"body.2": "body", "fc": "logits"})(x)
    assert features["body"].shape == (4, 32, 8, 8) and torch.equal(features["logits"], model(x))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # FX quantization is deprecated in favour of torchao
        prepared = prepare_fx(copy.deepcopy(model), get_default_qconfig_mapping("x86"), (x,))
        prepared(x)
        quantized = convert_fx(prepared)
    assert any(isinstance(m, torch.ao.nn.quantized.Conv2d) for m in quantized.modules())
    with torch.no_grad():
        error = (quantized(x) - model(x)).abs().max()
    assert error < 0.1 * model(x).abs().max()


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_lower_precision_and_channels_last(spec: Path, dtype: torch.dtype) -> None:
    model = nasblocks.build(spec).eval()
    x = torch.randn(2, 3, 16, 16)
    with torch.no_grad():
        expected = model(x)
        cast = copy.deepcopy(model).to(dtype)(x.to(dtype))
        model.to(memory_format=torch.channels_last)
        with torch.autocast("cpu", dtype=dtype):
            autocast = model(x.to(memory_format=torch.channels_last))
    for out in (cast, autocast):
        assert out.dtype == dtype
        assert torch.allclose(out.float(), expected, atol=0.05 * expected.abs().max().item())
    assert pickle.loads(pickle.dumps(model)).get_submodule("body.0").weight.is_contiguous(
        memory_format=torch.channels_last)
