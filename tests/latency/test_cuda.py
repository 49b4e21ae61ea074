"""The latency table's CUDA path on a real GPU: skipped on machines without one (CI has none);
``benchmarks/device_check.sh`` runs it on the lent GPU machine. Behaviour is asserted, never a
timing. (Its bookkeeping is tested everywhere, on a fake GPU: test_probe.py.)"""

from __future__ import annotations

import pytest
import torch

import nasblocks
from nasblocks import _latency_table as lt
from nasblocks import _latency_units as lu
from nasblocks._latency import setting

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


@pytest.mark.parametrize(("device", "dtype"), [("cuda", "fp32"), ("cuda:0", "fp16")])
def test_every_unit_is_timed_on_both_sides_in_one_run(tiny: nasblocks.Graph, device: str, dtype: str) -> None:
    run = setting(device, batch=4, dtype=dtype)
    found = lt.measure_in_network(tiny, run, warmup=2, repeats=5)
    keys = lu.entry_keys(tiny, lu.units(tiny), run)
    assert set(found) == {lt.CALL + lu.setting_key(run), *keys}
    assert all(host is not None and min(gpu.min_ms, host.min_ms) >= 0 for gpu, host in found.values())
    assert sum(found[key][0].median_ms for key in keys) > 0  # the GPU ran the layers' kernels
    assert sum(found[key][1].median_ms for key in keys) > 0  # and the host issued them


def test_a_network_deeper_than_a_segment_is_timed_across_drains() -> None:
    graph = nasblocks.expand(nasblocks.load("mobilenet_v2", input=(3, 64, 64)))
    assert len(graph) > 2 * 64
    run = setting("cuda", batch=8, dtype="fp16")
    found = lt.measure_in_network(graph, run, warmup=2, repeats=5)
    assert set(found) == {lt.CALL + lu.setting_key(run), *lu.entry_keys(graph, lu.units(graph), run)}
    assert all(host is not None and gpu.min_ms >= 0 for gpu, host in found.values())


def test_the_prediction_is_the_slower_side(tiny: nasblocks.Graph) -> None:
    detail = lt.predict_detail(tiny, "cuda", batch=4)
    assert detail.measured_now == 1 + len(set(lu.entry_keys(tiny, lu.units(tiny), detail.setting)))
    assert detail.gpu_ms is not None and detail.host_ms is not None
    assert detail.latency_ms == max(detail.gpu_ms, detail.host_ms)
    assert lt.predict_detail(tiny, "cuda", batch=4).measured_now == 0  # looked up the second time
