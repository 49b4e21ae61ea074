"""Weight-for-weight equality of a compiled spec with its reference module (torchvision, timm or a
re-implementation written in a test), and the checks that make such a comparison mean something.

Three steps, in this order:

1. ``calibrate`` the reference. With default initialisation and unit running variances a deep
   network in eval mode shrinks its signal layer after layer until its outputs no longer depend
   on its input (fresh GoogLeNet at 96×96 gives the same logits, to 5e-7, for any two images),
   and an eval-mode comparison proves nothing; random running statistics are no cure, as they
   shrink or blow up the signal at random. Batch-norm statistics taken from one real batch
   normalise every layer's input, so the signal reaches the logits at any depth; random affine
   terms then make eps, weight and bias all show in the outputs.
2. ``build_with_weights``: compile the spec and load the reference's state_dict with
   ``strict=True`` — every key present on both sides, every shape equal. The compiled module is
   built on the meta device and receives the reference's tensors, so its own random
   initialisation (a second for VGG's classifier on two busy cores) is never paid for.
3. ``assert_same_outputs``: the outputs agree within ``TOLERANCE``, and the outputs for two
   different images differ by more than ``SIGNAL`` — otherwise any two networks would "agree".

``assert_same_network`` does all three for a spec and a reference module, and compares their
dropout rates, which eval-mode outputs cannot show. ``counted_cost`` counts a compiled spec's
parameters and multiply-adds on the module itself, to hold the IR's figures against.
"""

from __future__ import annotations

import copy

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

import nasblocks
from nasblocks import Spec

TOLERANCE = 1e-5   # largest absolute difference allowed between compiled and reference outputs
SIGNAL = 1e-2      # smallest difference between the outputs of two different images (1000× TOLERANCE)


@torch.no_grad()
def calibrate(model: nn.Module, shape: tuple[int, ...], batch: int = 4) -> nn.Module:
    """Set the batch-norm statistics of ``model`` from one random batch of ``shape`` images and
    draw its batch-norm affine terms; returns the model in eval mode, momenta unchanged.

    The rest of the model stays in eval mode during the pass, so training-only branches
    (auxiliary classifiers) do not run: they keep their initial statistics.
    """
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    model.eval()
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: after one batch, exactly its statistics
        m.train()
    model(torch.randn(batch, *shape))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.2, 0.2)
    return model.eval()


def build_with_weights(spec: Spec, weights: nn.Module | Mapping[str, torch.Tensor], *,
                       share: bool = False) -> torch.fx.GraphModule:
    """The compiled spec holding a copy of ``weights`` (a reference module or a state_dict),
    loaded with strict=True: a missing or unexpected key, or a shape that differs, fails. With
    ``share``, it holds the reference's tensors themselves: no copy (VGG has half a gigabyte),
    for comparisons that change no weight or statistic."""
    state = weights.state_dict() if isinstance(weights, nn.Module) else weights
    if not share:
        state = {key: value.clone() for key, value in state.items()}
    with torch.device("meta"):
        model = nasblocks.build(spec)
    model.load_state_dict(state, strict=True, assign=True)
    return model


def _outputs(value: Any) -> list[tuple[str, torch.Tensor]]:
    """(name, tensor) for a tensor or a tuple of them (GoogLeNetOutputs, InceptionOutputs)."""
    if isinstance(value, torch.Tensor):
        return [("output", value)]
    names = getattr(value, "_fields", None) or [f"output[{k}]" for k in range(len(value))]
    return list(zip(names, value))


def assert_close(got: torch.Tensor, expected: torch.Tensor, what: str = "output") -> None:
    """``got`` equals ``expected`` within TOLERANCE, and ``expected`` is meaningful: its values
    for the first two images of the batch differ by more than SIGNAL."""
    assert type(got) is torch.Tensor and got.shape == expected.shape, \
        f"{what}: shape {tuple(got.shape)}, the reference's is {tuple(expected.shape)}"
    difference = (got - expected).abs().max().item()
    assert difference < TOLERANCE, f"{what}: outputs differ from the reference's by {difference:.3g}"
    assert expected.shape[0] >= 2, f"{what}: a meaningful comparison needs two different images"
    spread = (expected[0] - expected[1]).abs().max().item()
    assert spread > SIGNAL, (f"{what}: two different images give outputs only {spread:.3g} apart, "
                             f"so agreeing within {TOLERANCE} proves nothing")


@torch.no_grad()
def assert_same_outputs(model: nn.Module, reference: nn.Module, x: torch.Tensor, *,
                        seed: int | None = None) -> None:
    """Run both modules on ``x`` (a batch of at least two different images) in the mode each is
    in, and ``assert_close`` every output. With ``seed``, each run starts from that seed, so
    dropout layers called in the same order draw the same masks."""
    if seed is not None:
        torch.manual_seed(seed)
    expected = _outputs(reference(x))
    if seed is not None:
        torch.manual_seed(seed)
    got = _outputs(model(x))
    assert len(got) == len(expected), f"{len(got)} outputs, the reference has {len(expected)}"
    for (name, want), (_, have) in zip(expected, got):
        assert_close(have, want, name)


def assert_same_state(model: nn.Module, reference: nn.Module) -> None:
    """Every parameter and buffer equal, e.g. running statistics after the same training step."""
    state = model.state_dict()
    for key, value in reference.state_dict().items():
        assert torch.allclose(state[key].float(), value.float(), atol=1e-6), key


def dropout_rates(model: nn.Module) -> dict[str, float]:
    """{module name: p} of the dropout layers that drop something (timm's Dropout(p=0) heads do not)."""
    return {name: m.p for name, m in model.named_modules() if isinstance(m, nn.Dropout) and m.p > 0}


def assert_same_dropout(model: nn.Module, reference: nn.Module) -> None:
    """Dropout acts in training mode only, so eval-mode outputs cannot show a wrong rate: the same
    modules, by name, drop with the same probability."""
    got, expected = dropout_rates(model), dropout_rates(reference)
    assert got == expected, f"dropout rates {got}, the reference's are {expected}"


def assert_same_network(spec: Spec, reference: nn.Module, batch: int = 2) -> None:
    """Calibrate ``reference`` at the spec's input size, load its weights into the compiled spec
    strictly and compare the two in eval mode on ``batch`` random images, and their dropout rates."""
    calibrate(reference, spec.input)
    model = build_with_weights(spec, reference, share=True).eval()
    assert_same_outputs(model, reference, torch.randn(batch, *spec.input))
    assert_same_dropout(model, reference)


def counted_cost(spec: Spec, *, training: bool = False) -> tuple[int, int]:
    """(parameters, multiply-adds per image) of the compiled spec, counted on the module rather
    than read off the IR: torch's FlopCounterMode (2 × the multiply-adds of convolutions and
    matmuls, bias excluded) over one forward on the meta device, so no weight is drawn and no
    arithmetic done. Two images, as batch norm needs more than one value per channel to train."""
    with torch.device("meta"):
        model = nasblocks.build(spec).train(training)
        x = torch.empty(2, *spec.input)
    with FlopCounterMode(display=False) as counter:
        model(x)
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 4


def assert_aux_heads_cost(spec: Spec, params: Mapping[str, int], macs: int) -> None:
    """The auxiliary heads named in ``params`` hold those parameters, and all of them together
    cost ``macs`` multiply-adds per image, in training mode only: read off the graph, and counted
    on the built module (training minus eval)."""
    graph = nasblocks.expand(spec)
    held = {head: sum(n.params for n in graph if n.scope.startswith(f"{head}.")) for head in params}
    assert held == params, f"aux head parameters {held}, expected {dict(params)}"
    in_graph = sum(n.macs for n in graph if n.training_only)
    counted = counted_cost(spec, training=True)[1] - counted_cost(spec)[1]
    assert in_graph == counted == macs, f"training-only MACs {in_graph} (graph), {counted} (counted), expected {macs}"


def assert_transform_input_equal(reference: nn.Module, build: Callable[..., nn.Module],
                                 shape: tuple[int, ...]) -> None:
    """GoogLeNet's and Inception v3's ``transform_input``: the spec built with it equals a copy of
    ``reference`` that has it on, and differs from the spec without it (not a no-op).
    ``build(weights, **vars)`` compiles the spec at ``shape`` with ``weights`` loaded."""
    ref = copy.deepcopy(reference)
    ref.transform_input = True
    model, plain = build(ref, transform_input=True), build(ref)
    x = torch.randn(2, *shape)
    assert_same_outputs(model, ref, x)
    with torch.no_grad():
        assert (plain(x) - ref(x)).abs().max() > 1e-3


def assert_new_classes_equal(reference: nn.Module, fresh: nn.Module, classifier: Callable[[str], bool],
                             build: Callable[..., nn.Module], shape: tuple[int, ...]) -> None:
    """``fresh`` (the reference's builder with num_classes=10) takes ``reference``'s calibrated
    trunk — every key for which ``classifier`` is false — and the spec built with 10 classes
    equals it."""
    trunk = {k: v for k, v in reference.state_dict().items() if not classifier(k)}
    fresh.load_state_dict(trunk, strict=False)
    assert_same_outputs(build(fresh, num_classes=10), fresh.eval(), torch.randn(2, *shape))
