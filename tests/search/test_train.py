from collections import namedtuple

import pytest
import torch
import torch.nn as nn

from nasblocks._data import load_dataset
from nasblocks._train import TrainResult, _loss, evaluate, train

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def digits():
    return load_dataset("digits", resolution=None, device=CPU)


def tiny_cnn(seed=0, dropout=0.1):
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16), nn.ReLU(), nn.MaxPool2d(2),
        nn.Flatten(), nn.Dropout(dropout), nn.Linear(16 * 4 * 4, 10),
    )


def trained_weights(digits, seed, *, dropout=0.1, noise=0):
    """The weights of tiny_cnn after an epoch with ``seed``, the global generator first set to
    ``noise``: what the seed does not fix shows as a difference between two noises."""
    model = tiny_cnn(dropout=dropout)
    torch.manual_seed(noise)
    train(model, digits, epochs=1, seed=seed, batch_size=64)
    return torch.cat([t.flatten().float() for t in model.state_dict().values()])


def test_tiny_cnn_learns_digits(digits):
    model = tiny_cnn()
    assert evaluate(model, digits) < 0.3  # untrained: about chance
    result = train(model, digits, epochs=3, seed=0)
    assert isinstance(result, TrainResult)
    assert result.accuracy > 0.8  # chance is 0.1
    assert result.epochs_run == 3 and result.seed == 0 and result.device == "cpu"
    assert result.seconds > 0
    assert not model.training
    assert evaluate(model, digits) == result.accuracy


def test_the_seed_alone_fixes_dropout_and_the_order_of_examples(digits):
    # dropout: the same seed gives the same weights (so the same accuracy) whatever the global
    # generator held
    assert torch.equal(trained_weights(digits, 3, noise=1), trained_weights(digits, 3, noise=2))
    # the order: without dropout, another seed is another order, so other weights
    assert not torch.equal(trained_weights(digits, 3, dropout=0.0), trained_weights(digits, 4, dropout=0.0))


def test_report_is_called_after_each_epoch(digits):
    calls = []
    result = train(tiny_cnn(), digits, epochs=3, seed=0, report=lambda e, acc: calls.append((e, acc)))
    assert [e for e, _ in calls] == [1, 2, 3]
    assert all(0 <= acc <= 1 for _, acc in calls)
    assert calls[-1][1] == result.accuracy


def test_exception_from_report_stops_training(digits):
    class Pruned(Exception):
        pass

    calls = []

    def prune(epoch, acc):
        calls.append(epoch)
        raise Pruned  # what optuna.TrialPruned does in a search

    with pytest.raises(Pruned):
        train(tiny_cnn(), digits, epochs=5, seed=0, report=prune)
    assert calls == [1]


Outputs = namedtuple("Outputs", ["logits", "aux2", "aux1"])


class WithAux(nn.Module):
    """GoogLeNet's shape of output: a namedtuple of main and auxiliary logits while training."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 32), nn.ReLU())
        self.main, self.aux = nn.Linear(32, 10), nn.Linear(32, 10)

    def forward(self, x):
        h = self.body(x)
        if self.training:
            return Outputs(self.main(h), self.aux(h), None)  # a disabled head is None, as in torchvision
        return self.main(h)


def test_auxiliary_heads_are_trained(digits):
    torch.manual_seed(0)
    model = WithAux()
    aux_before = model.aux.weight.detach().clone()
    result = train(model, digits, epochs=3, seed=0, optimizer="adamw", lr=3e-3, label_smoothing=0.1)
    assert result.accuracy > 0.5
    assert not torch.equal(model.aux.weight, aux_before)


def test_auxiliary_losses_weigh_0_3():
    ce = nn.CrossEntropyLoss()
    target = torch.tensor([1, 0])
    main, aux = torch.randn(2, 3), torch.randn(2, 3)
    total = _loss(ce, Outputs(main, aux, None), target)
    assert torch.allclose(total, ce(main, target) + 0.3 * ce(aux, target))


def conv_output_dtypes(digits, **options):
    """{(training, dtype of the first conv's output)} over a training run."""
    model, seen = tiny_cnn(), set()
    model[0].register_forward_hook(lambda module, inputs, out: seen.add((module.training, out.dtype)))
    result = train(model, digits, epochs=2, seed=0, **options)
    return result, seen


def test_amp_runs_on_cpu_in_bf16(digits):
    result, seen = conv_output_dtypes(digits, amp=True)
    assert result.accuracy > 0.5
    assert seen == {(True, torch.bfloat16), (False, torch.bfloat16)}   # training steps and evaluation
    assert conv_output_dtypes(digits)[1] == {(True, torch.float32), (False, torch.float32)}  # off by default on CPU


def test_bad_arguments(digits):
    with pytest.raises(ValueError, match="expected optimizer 'sgd' or 'adamw', got 'adam'"):
        train(tiny_cnn(), digits, epochs=1, seed=0, optimizer="adam")
    with pytest.raises(ValueError, match="expected epochs >= 1 and batch_size >= 1, got 0 and 128"):
        train(tiny_cnn(), digits, epochs=0, seed=0)
