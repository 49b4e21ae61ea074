"""Give a freshly initialised reference network realistic batch-norm statistics.

With default initialisation and unit running variances, a deep network in eval mode shrinks its
signal layer after layer until its outputs no longer depend on its input (GoogLeNet at 96×96 then
gives the same logits, to 5e-7, for any two images), and an eval-mode comparison proves little.
One pass with the batch norms alone in training mode and cumulative averaging sets every running
mean and variance to the statistics of a real batch; random affine terms then make eps, weight
and bias all show in the outputs.
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def calibrate(model: nn.Module, shape: tuple[int, ...], batch: int = 8) -> nn.Module:
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
