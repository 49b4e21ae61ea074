"""Weight-for-weight equality of a compiled spec with its reference module (torchvision, timm or
a re-implementation in a test)."""

from __future__ import annotations

import torch
from torch import nn

import nasblocks
from nasblocks import Spec

TOLERANCE = 1e-5


def randomize_batch_norm(module: nn.Module) -> None:
    """Give every batch norm non-trivial statistics and affine weights, so that an equality test
    also checks that each BN sits where the reference has it (fresh BNs are near-identities)."""
    with torch.no_grad():
        for bn in module.modules():
            if isinstance(bn, nn.BatchNorm2d):
                bn.running_mean.normal_(0.0, 0.1)
                bn.running_var.uniform_(0.5, 2.0)
                bn.weight.uniform_(0.5, 1.5)
                bn.bias.normal_(0.0, 0.1)


def assert_same_network(spec: Spec, reference: nn.Module, batch: int = 2) -> torch.nn.Module:
    """Load the reference's state_dict into the compiled spec with strict=True and compare the
    outputs in eval mode on random input at the spec's input size; returns the compiled model."""
    reference.eval()
    randomize_batch_norm(reference)
    model = nasblocks.build(spec).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(batch, *spec.input)
    with torch.no_grad():
        expected = reference(x)
        got = model(x)
    assert got.shape == expected.shape
    difference = (got - expected).abs().max().item()
    assert difference < TOLERANCE, f"{spec.name}: outputs differ by {difference:.3g}"
    return model
