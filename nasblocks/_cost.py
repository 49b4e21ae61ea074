"""Costs read off the graph IR, without building a module.

``macs`` follow REFERENCE.md's canonical count: multiply-adds of convolutions and linear layers,
bias excluded — what the MobileNet and ShuffleNet papers call "FLOPs" and torchvision documents
as GFLOPS. ``flops`` is twice that, for readers who count a multiply and an add separately.
``params`` counts every parameter (buffers excluded).
"""

from __future__ import annotations

from dataclasses import dataclass

from nasblocks._graph import Graph


@dataclass(frozen=True)
class Cost:
    """What a network costs per image at its spec's input size; ``latency_ms`` is None unless
    ``nasblocks.cost(..., latency=device)`` asked for it, and then the time of one forward of
    ``batch`` images (one unless asked otherwise)."""

    params: int
    macs: int
    latency_ms: float | None = None

    @property
    def flops(self) -> int:
        """2 × multiply-adds (FlopCounterMode's convention), not the papers' "FLOPs"."""
        return 2 * self.macs


def graph_cost(graph: Graph, latency_ms: float | None = None) -> Cost:
    return Cost(params=graph.params, macs=graph.macs, latency_ms=latency_ms)
