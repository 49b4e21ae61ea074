"""The probe's bookkeeping, the CUDA probe's on a machine without a GPU (``torch.cuda`` faked:
conftest's ``gpu``, whose events read the host's clock plus a thousand seconds per drain, so a
drain that leaked into a layer's span would show); no timing is asserted."""

from __future__ import annotations

import json

import pytest
import torch
from fake_gpu import DRAIN_MS, FakeGPU

import nasblocks
from nasblocks import _latency as latency
from nasblocks import _latency_probe as probe
from nasblocks import _latency_table as lt
from nasblocks import _latency_units as lu
from nasblocks._latency import setting
from nasblocks.errors import LatencyError


def test_drains_are_no_layers_time_and_every_layer_has_both_sides(gpu: FakeGPU) -> None:
    graph = nasblocks.expand(nasblocks.load("mobilenet_v2", input=(3, 32, 32)))
    assert len(graph) > 2 * probe.SEGMENT
    timed = probe.time_layers(graph, setting("cuda"), warmup=1, repeats=2)
    forwards = 1 + 2 + 1  # and the probe's own reading
    assert gpu.syncs >= forwards * 3  # the GPU drained inside each forward, not only after it
    assert timed.gpu is not None and set(timed.gpu) == set(timed.host) == {node.name for node in graph}
    assert all(len(times) == 2 and max(times) < DRAIN_MS / 10 for times in timed.gpu.values())
    assert len(timed.totals) == 2  # host-side: the fake's drains take no host time, so nothing to compare


def test_a_forward_the_gpu_woke_early_in_is_run_again_with_a_longer_hold(
        gpu: FakeGPU, tiny: nasblocks.Graph) -> None:
    gpu.woken = 3  # the warm-up and the next two forwards
    timed = probe.time_layers(tiny, setting("cuda"), warmup=1, repeats=2)
    assert len(timed.totals) == 2
    # five forwards (no drain: fewer layers than a segment), then the probe's 201 readings (3 drains)
    assert len(gpu.holds) == 5 + 1 + 3
    assert all(later >= 2 * earlier for earlier, later in zip(gpu.holds[:3], gpu.holds[1:4]))


def test_a_gpu_that_never_waits_is_one_clear_error(gpu: FakeGPU, tiny: nasblocks.Graph) -> None:
    gpu.woken = 10**9
    with pytest.raises(LatencyError, match=r"cuda: the GPU did not wait behind torch.cuda._sleep"):
        probe.time_layers(tiny, setting("cuda"), warmup=1, repeats=2)


def test_on_cuda_each_entry_holds_the_gpus_time_and_the_hosts(gpu: FakeGPU, tiny: nasblocks.Graph) -> None:
    detail = lt.predict_detail(tiny, "cuda", batch=4)
    distinct = len(set(lu.entry_keys(tiny, lu.units(tiny), setting("cpu"))))
    assert detail.measured_now == 1 + distinct  # one run of the network timed them all
    assert detail.gpu_ms == pytest.approx(sum(u.ms for u in detail.units))  # the call runs no kernel
    assert detail.host_ms == pytest.approx(detail.call_ms + sum(u.host_ms for u in detail.units))
    assert detail.latency_ms == max(detail.gpu_ms, detail.host_ms)
    table = json.loads(lt.table_path("cuda").read_text())
    assert table["device"]["key"].startswith("cuda-fake-gpu-")
    call = table["entries"][lt.CALL + "|b4|fp32|contiguous"]
    # the call runs no kernel; its host time is what the forwards took beyond their layers, which a
    # busy machine may leave at 0 (a timing, not asserted)
    assert call["median_ms"] == 0.0 and call["host_median_ms"] >= 0
    assert all({"host_median_ms", "host_min_ms"} <= set(entry) for entry in table["entries"].values())


@pytest.mark.parametrize("stat", lt.STATS)
def test_each_sides_shares_add_up_to_that_sides_forward(
        gpu: FakeGPU, stat: str, monkeypatch: pytest.MonkeyPatch) -> None:
    graph = nasblocks.expand(nasblocks.load("mobilenet_v2", input=(3, 32, 32)))
    ranked: list[list[float]] = []
    real = lt.summarise
    monkeypatch.setattr(lt, "summarise",
                        lambda *a, ranks, **k: ranked.append(list(ranks)) or real(*a, ranks=ranks, **k))
    monkeypatch.setattr(probe, "_reading_cost", lambda probe: (0.0, 0.0))  # nothing subtracted
    monkeypatch.setattr(probe, "_host_reading_cost", lambda *args: 0.0)
    found = lt.measure_in_network(graph, setting("cuda"), warmup=1, repeats=7)
    keys = [lt.CALL + "|b1|fp32|contiguous", *lu.entry_keys(graph, lu.units(graph), setting("cuda"))]
    host_forwards, gpu_forwards = ranked[0], ranked[-1]  # the host's side is summarised first
    figure = f"{stat}_ms"
    for side, forwards in ((0, gpu_forwards), (1, host_forwards)):
        total = sum(getattr(found[key][side], figure) for key in keys)
        assert total == pytest.approx(getattr(real(forwards, 1, setting("cpu"), []), figure), rel=1e-9)
    assert found[keys[0]][0].median_ms == 0.0  # the call runs no kernel


class _Clock:
    """``time`` for the probe: each reading of the clock takes a microsecond, and a test adds
    what the host "spends" elsewhere."""

    def __init__(self) -> None:
        self.now = 0.0

    def perf_counter(self) -> float:
        self.now += 1e-6
        return self.now


@pytest.mark.parametrize("device", ["cpu", "cuda"])
@pytest.mark.parametrize("disturbed", [False, True])
def test_the_readings_are_charged_what_they_cost_inside_the_network(
        tiny: nasblocks.Graph, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest,
        device: str, disturbed: bool) -> None:
    """Disturbed: every forward without readings but one is 5 ms late, as on a busy machine."""
    if device == "cuda":
        request.getfixturevalue("gpu")
    clock = _Clock()
    monkeypatch.setattr(probe, "time", clock)     # the CUDA probe's clock
    monkeypatch.setattr(latency, "time", clock)   # the CPU probe's (Setting.timer)
    kind = probe._CudaProbe if device == "cuda" else probe._Probe
    real = kind.mark
    real_pace = kind.pace
    paces = iter(range(10**6))
    monkeypatch.setattr(kind, "pace", lambda self, module, x: real_pace(self, module, x)
                        + 5.0 * (disturbed and next(paces) != 2))

    def costly(self: probe._Probe, name: str | None) -> None:  # 1 ms more inside the network only
        if name not in (None, "reading") and not self.quiet:
            clock.now += 1e-3
        real(self, name)

    monkeypatch.setattr(kind, "mark", costly)
    timed = probe.time_layers(tiny, setting(device), warmup=1, repeats=3)
    assert min(timed.totals) > len(tiny) * 1.0  # the probed forwards paid a millisecond a layer
    assert all(abs(time) < 0.01 for times in timed.host.values() for time in times)  # the layers none
    assert max(timed.overhead) < 0.01  # nor the call


def test_the_first_forward_waiting_for_the_gpu_sets_no_long_hold(
        gpu: FakeGPU, tiny: nasblocks.Graph, monkeypatch: pytest.MonkeyPatch) -> None:
    clock = _Clock()
    monkeypatch.setattr(probe, "time", clock)
    real = probe.compile_graph

    def searching_first(graph: nasblocks.Graph, mark: object) -> torch.nn.Module:
        """The network, whose first convolution waits 5 s the first time, as cudnn's search does."""
        module = real(graph, mark)
        conv = next(layer for layer in module.modules() if isinstance(layer, torch.nn.Conv2d))
        calls = iter(range(10**6))
        conv.register_forward_hook(lambda *args: setattr(clock, "now", clock.now + 5.0 * (next(calls) == 0)))
        return module

    monkeypatch.setattr(probe, "compile_graph", searching_first)
    probe.time_layers(tiny, setting("cuda"), warmup=1, repeats=2)
    assert max(gpu.holds) < 100 * 1000  # under 100 ms (the fake's sleep runs 1000 cycles a ms)
