"""Each unit of a network timed where it runs: inside one probed run of the compiled network.

``compile_graph(graph, probe)`` writes a call of ``probe`` before the first layer and after each;
a layer's time is the span between two calls, less what one call of the probe costs
(:func:`_reading_cost`). Timed alone instead, a unit does not find the caches, the allocator and
the dispatcher as the layers before it leave them: on CPU a small op in a loop of itself runs
two to three times faster than inside a network (benchmarks/RESULTS.md).

- CPU: the probe reads the clock (the wall clock, or the thread's CPU time).
- CUDA: it reads the host's clock and records a CUDA event, while a spinning kernel
  (``torch.cuda._sleep``) holds the GPU. The host queues the layers without waiting for the GPU,
  so the clock times what the host spends issuing each layer (Python, the dispatcher, the
  launches); when the GPU wakes it runs the queued kernels back to back, so the events time each
  layer's GPU work without the gaps where it would wait for the host. Every :data:`SEGMENT`
  layers the probe lets the GPU drain and holds it again, so that the queue of launches never
  fills (the host would wait for it). A forward in which the GPU woke before the host had queued
  a segment is run again, with a longer hold.

A reading costs more inside the network than in a loop of readings: on an H100's host, the
layers of networks run at batch 1 summed to 37 % above the networks' own pace; on the EPYC's CPU,
small networks' layers summed to 2–4 % above theirs. So each probed forward is followed by one
without readings (on CUDA with the GPU running, as in a measurement), and the readings are
charged what the fastest probed forward takes beyond the fastest of those (:meth:`_Probe.pace`).
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import torch

from nasblocks._compile import compile_graph
from nasblocks._graph import Graph
from nasblocks._latency import Setting, make_input, prepare, running
from nasblocks.errors import LatencyError

SEGMENT = 64        # CUDA: marks queued behind one hold of the GPU, far below a launch queue's depth
MAX_HOLD_MS = 10_000.0
Mark = tuple[str | None, float, Any]  # (layer, or None where the GPU was let drain; clock, s; CUDA event)


class _Probe:
    """What the probed network calls (:meth:`mark`): on CPU, a reading of the clock."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.marks: list[Mark] = []
        self.quiet = False          # a forward without readings (:meth:`pace`)

    def mark(self, name: str | None) -> None:
        if not self.quiet:
            self.marks.append((name, self.clock(), None))

    def begin(self) -> None:
        """Before a forward."""
        self.marks.clear()

    def end(self) -> bool:
        """After a forward: whether its spans time what they are meant to."""
        return True

    def sync(self) -> None:
        """Wait for the device (CUDA: for the GPU's queue)."""

    def pace(self, module: Callable[[torch.Tensor], Any], x: torch.Tensor) -> float:
        """The clock's time (ms) of one forward without readings; on CUDA the host's time to
        issue it, the GPU running as it does in a measurement. (The first one on CUDA also
        absorbs cudnn's search for algorithms, which waits for the GPU: in a probed forward it
        would set a hold of seconds.)"""
        self.quiet = True
        try:
            self.sync()
            start = self.clock()
            module(x)
            stop = self.clock()
            self.sync()
        finally:
            self.quiet = False
        return (stop - start) * 1e3


class _CudaProbe(_Probe):
    """CUDA: the host's clock and a CUDA event per layer, the GPU held while the host queues."""

    def __init__(self, device: str) -> None:
        super().__init__(time.perf_counter)
        self.device = device
        self.cycles_per_ms = _sleep_cycles_per_ms(device)
        self.hold_ms = 1.0
        self.held: Any = None       # the first event queued behind the current hold
        self.held_since = 0.0
        self.longest_ms = 0.0       # the host's longest segment in this forward
        self.woke = False

    def mark(self, name: str | None) -> None:
        if self.quiet:
            return
        now = time.perf_counter()
        event = torch.cuda.Event(enable_timing=True)
        event.record()
        self.marks.append((name, now, event))
        if self.held is None:
            self.held, self.held_since = event, now
        elif len(self.marks) % SEGMENT == 0:
            self._drain(now)

    def _hold(self) -> None:
        torch.cuda._sleep(int(self.cycles_per_ms * self.hold_ms))
        self.held = None

    def _drain(self, now: float) -> None:
        """Let the GPU run what is queued, then hold it again (the span up to the next mark is
        no layer's: its mark's name is None)."""
        self.woke |= self.held.query()
        self.longest_ms = max(self.longest_ms, (now - self.held_since) * 1e3)
        torch.cuda.synchronize()
        self._hold()
        self.mark(None)

    def begin(self) -> None:
        super().begin()
        self.woke, self.longest_ms = False, 0.0
        self._hold()

    def end(self) -> bool:
        """Whether the GPU slept until the host had queued every segment. The next forward's
        hold is twice this forward's longest segment, and twice its own length where the GPU
        woke (a forward that waited for the GPU, as cudnn's first one does, does not set it
        for good)."""
        now = time.perf_counter()
        woke = self.woke or self.held is None or self.held.query()
        torch.cuda.synchronize()
        if woke and self.hold_ms >= MAX_HOLD_MS:
            raise LatencyError(f"{self.device}: the GPU did not wait behind torch.cuda._sleep; its "
                               "layers cannot be timed apart from the host")
        self.longest_ms = max(self.longest_ms, (now - self.held_since) * 1e3)
        fitted = min(0.5 + 2 * self.longest_ms, MAX_HOLD_MS)  # twice the host's longest segment
        self.hold_ms = min(max(2 * self.hold_ms, fitted), MAX_HOLD_MS) if woke else fitted
        return not woke

    def sync(self) -> None:
        torch.cuda.synchronize()


@lru_cache(maxsize=None)
def _sleep_cycles_per_ms(device: str) -> float:
    """How many cycles of ``torch.cuda._sleep`` (a kernel that spins) make a millisecond."""
    cycles = 1 << 22
    begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    with torch.cuda.device(torch.device(device)):
        torch.cuda._sleep(cycles)  # the first launch loads the kernel
        begin.record()
        torch.cuda._sleep(cycles)
        end.record()
        torch.cuda.synchronize()
    return cycles / max(begin.elapsed_time(end), 1e-3)


def _spans(marks: list[Mark]) -> Iterator[tuple[str, float, float | None]]:
    """(layer, host ms, GPU ms or None) of each span between two marks, the drains left out."""
    for (_, before, start), (name, after, stop) in zip(marks, marks[1:]):
        if name is not None:
            yield name, (after - before) * 1e3, start.elapsed_time(stop) if stop is not None else None


def _host_reading_cost(totals: list[float], paces: list[float], readings: int, floor: float) -> float:
    """What a reading adds to the host's time inside the network (ms): the fastest probed
    forward's time beyond the fastest forward without readings, spread over the ``readings`` of a
    forward. The fastest of each, since a busy machine only adds time, and unevenly: on an H100's
    host, the medians charged a network's fastest forward 3.8 ms too much (benchmarks/RESULTS.md). At
    least ``floor``, what a reading costs in a loop of readings (a forward without readings that
    waited for a full queue of launches would otherwise charge the readings too little)."""
    return max((min(totals) - min(paces)) / readings, floor)


def _reading_cost(probe: _Probe) -> tuple[float, float]:
    """What one call of the probe adds to a layer's span, in ms: on the host's clock, and on
    the GPU's (0 on CPU)."""
    probe.begin()
    for _ in range(201):
        probe.mark("reading")
    probe.end()
    spans = list(_spans(probe.marks))
    probe.marks.clear()
    return (statistics.median(host for _, host, _ in spans),
            statistics.median(gpu or 0.0 for _, _, gpu in spans))


@dataclass
class LayerTimes:
    """The timed forwards of a probed network: each layer's times (ms per forward, less what a
    reading of the probe costs, so a layer that does nothing may dip below 0), the host's time
    outside every layer (less a reading: the head of the first and the tail of the last) and the
    host's whole forward as read (the drains left out)."""

    host: dict[str, list[float]]
    gpu: dict[str, list[float]] | None   # CUDA: the GPU's time of each layer
    overhead: list[float]
    totals: list[float]


def time_layers(graph: Graph, run: Setting, *, warmup: int, repeats: int) -> LayerTimes:
    """Run the network compiled with a probe ``warmup`` times, then until ``repeats`` forwards
    are timed, and return each layer's times in them."""
    cuda = _CudaProbe(run.device) if run.device_type == "cuda" else None
    probe = cuda or _Probe(run.timer)
    module = prepare(compile_graph(graph, probe.mark), run)
    x = make_input(graph.input_shape, run)
    host: dict[str, list[float]] = {}
    gpu: dict[str, list[float]] = {}
    overhead: list[float] = []
    totals: list[float] = []
    paces: list[float] = []   # the clock's time of each forward without readings
    with running(run):
        probe.pace(module, x)  # a warm-up (on CUDA, cudnn's search) before any hold is set
        forwards = 0
        while len(totals) < repeats:
            probe.begin()
            start = probe.clock()
            module(x)
            stop = probe.clock()
            forwards += 1
            if not probe.end() or forwards <= max(1, warmup):
                continue
            spans = list(_spans(probe.marks))
            for name, host_ms, gpu_ms in spans:
                host.setdefault(name, []).append(host_ms)
                if gpu_ms is not None:
                    gpu.setdefault(name, []).append(gpu_ms)
            overhead.append((probe.marks[0][1] - start + stop - probe.marks[-1][1]) * 1e3)
            totals.append(overhead[-1] + sum(host_ms for _, host_ms, _ in spans))
            paces.append(probe.pace(module, x))
        reading_host, reading_gpu = _reading_cost(probe)
    # a reading before the first layer and one after each
    reading_host = _host_reading_cost(totals, paces, 1 + len(host), reading_host)
    return LayerTimes({name: [t - reading_host for t in times] for name, times in host.items()},
                      {name: [t - reading_gpu for t in times] for name, times in gpu.items()} if cuda else None,
                      [max(t - reading_host, 0.0) for t in overhead], totals)
