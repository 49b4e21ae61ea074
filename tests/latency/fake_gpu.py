"""A GPU for tests on machines without one: ``torch.cuda``'s events, ``_sleep`` and
``synchronize`` faked, the network run on the CPU. An event reads the host's clock plus a thousand
seconds per synchronisation before it (what the GPU "ran" while drained), so a drain that leaked
into a layer's span would show, however slowly the host runs the layer itself."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import pytest
import torch

from nasblocks import _latency, _latency_probe

DRAIN_MS = 1e6


@dataclass
class FakeGPU:
    woken: int = 0                 # how many queries still find the GPU awake (it did not wait)
    drained_ms: float = 0.0        # added to every later event: what each synchronize "ran"
    holds: list[int] = field(default_factory=list)  # cycles of each torch.cuda._sleep
    syncs: int = 0

    def event(self, enable_timing: bool = False) -> FakeEvent:
        return FakeEvent(self)

    def sleep(self, cycles: int) -> None:
        self.holds.append(cycles)

    def synchronize(self, device: object = None) -> None:
        self.syncs += 1
        self.drained_ms += DRAIN_MS


@dataclass
class FakeEvent:
    gpu: FakeGPU
    at: float = 0.0

    def record(self) -> None:
        self.at = time.perf_counter() * 1e3 + self.gpu.drained_ms

    def query(self) -> bool:
        self.gpu.woken -= 1
        return self.gpu.woken >= 0

    def elapsed_time(self, end: FakeEvent) -> float:
        return end.at - self.at


def install(monkeypatch: pytest.MonkeyPatch) -> FakeGPU:
    fake = FakeGPU()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "Fake GPU")
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda including_emulation=True: True)
    monkeypatch.setattr(torch.cuda, "Event", fake.event)
    monkeypatch.setattr(torch.cuda, "_sleep", fake.sleep)
    monkeypatch.setattr(torch.cuda, "synchronize", fake.synchronize)
    monkeypatch.setattr(_latency_probe, "_sleep_cycles_per_ms", lambda device: 1000.0)
    for module in (_latency, _latency_probe):  # the network stays on the CPU
        monkeypatch.setattr(module, "prepare", lambda network, run: network.eval())
        monkeypatch.setattr(module, "make_input", lambda shape, run, dtype=None: torch.randn(run.batch, *shape))
    return fake
