"""Give a freshly initialised reference network realistic batch-norm statistics.

With default initialisation and unit running variances, a deep network in eval mode shrinks its
signal layer after layer until the logits no longer depend on the input (GoogLeNet at 96×96
gives the same logits for every image), and an eval-mode comparison would prove little. One
forward pass in training mode with cumulative averaging sets every running mean and variance to
the statistics of a real batch; random affine terms then make eps, weight and bias all show.
"""

from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def calibrate(model: nn.Module, shape: tuple[int, ...], batch: int = 4) -> nn.Module:
    """Set the batch-norm statistics of ``model`` from one random batch of ``shape`` images and
    draw its batch-norm affine terms; returns the model in eval mode, momentum unchanged."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: after one batch, exactly its statistics
    model.train()
    model(torch.randn(batch, *shape))
    for m, momentum in zip(norms, momenta):
        m.momentum = momentum
        m.weight.uniform_(0.5, 1.5)
        m.bias.uniform_(-0.2, 0.2)
    return model.eval()
