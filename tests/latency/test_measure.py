"""Measurement: what is recorded with every figure, the settings it runs under, its errors.
Timings are never asserted, only their consistency (p10 ≤ median ≤ p90)."""

from __future__ import annotations

import json
import re
import statistics
import time

import numpy as np
import pytest
import torch
from torch import nn

from nasblocks._latency import Measurement, device_key, measure, quantile_weights, setting, summarise
from nasblocks.errors import DeviceError, DeviceMemoryError, LatencyError, NasblocksError


def quick(module: nn.Module, shape, **options) -> Measurement:
    return measure(module, shape, warmup=1, repeats=5, min_block_ms=0.05, **options)


def test_a_measurement_records_device_threads_torch_and_setting() -> None:
    m = quick(nn.Conv2d(3, 8, 3), (3, 16, 16), threads=1, batch=2)
    assert m.device == "cpu" and m.device_name and m.threads == 1 and m.torch_version == torch.__version__
    assert (m.batch, m.dtype, m.memory_format, m.clock, m.repeats) == (2, "fp32", "contiguous", "wall", 5)
    assert m.input_shape == ((3, 16, 16),)
    assert 0 < m.min_ms <= m.p10_ms <= m.median_ms <= m.p90_ms and m.iqr_ms >= 0 and m.calls_per_repeat >= 1
    assert "1 thread" in str(m) and f"torch {torch.__version__}" in str(m)


@pytest.mark.parametrize("n", [1, 2, 5, 20, 21])
def test_quantile_weights_give_the_statistics_modules_quantiles(n: int) -> None:
    values = [((7 * i) % 11) / 3 + i / 100 for i in range(n)]
    def at(q: float) -> float:
        return sum(w * values[i] for i, w in quantile_weights(values, q))
    assert at(0.0) == min(values) and at(1.0) == max(values)
    assert at(0.5) == pytest.approx(statistics.median(values))
    if n > 1:
        deciles = statistics.quantiles(values, n=10, method="inclusive")
        assert (at(0.1), at(0.9)) == pytest.approx((deciles[0], deciles[-1]))


def test_figures_taken_at_the_ranks_of_another_series() -> None:
    # a layer's share of each of 5 forwards; its figures are its shares in the forward that has
    # the figure: the fastest forward (index 3) for the minimum, the middle one (index 4) for the median
    share = [2.0, 9.0, 4.0, 1.5, 3.0]
    forward = [10.0, 30.0, 20.0, 5.0, 12.0]
    m = summarise(share, 1, setting("cpu"), [(1,)], ranks=forward)
    assert (m.min_ms, m.median_ms, m.repeats) == (1.5, 3.0, 5)
    assert m.p90_ms == pytest.approx(0.4 * 4.0 + 0.6 * 9.0)  # between the 4th and 5th fastest


def test_to_dict_is_json_with_the_spread() -> None:
    m = quick(nn.ReLU(), (4, 8, 8), threads=1)
    report = json.loads(json.dumps(m.to_dict()))
    assert report["input_shape"] == [[4, 8, 8]] and report["threads"] == 1
    assert report["spread"] == pytest.approx(m.spread, abs=1e-4)


def test_the_thread_count_is_fixed_while_timing_and_restored_after() -> None:
    seen = []

    class Spy(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            seen.append((torch.get_num_threads(), torch.is_inference_mode_enabled(), self.training))
            return x

    torch.set_num_threads(2)
    quick(Spy(), (1, 4, 4), threads=1)
    assert set(seen) == {(1, True, False)}
    assert torch.get_num_threads() == 2


def test_default_threads_are_torchs_current_count() -> None:
    torch.set_num_threads(2)
    assert quick(nn.ReLU(), (1, 4, 4)).threads == 2


def test_several_inputs_and_channels_last() -> None:
    class Add(nn.Module):
        def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
            formats.append(a.is_contiguous(memory_format=torch.channels_last))
            return a + b

    formats: list[bool] = []
    m = quick(Add(), [(4, 8, 8), (4, 8, 8)], threads=1, channels_last=True)
    assert m.input_shape == ((4, 8, 8), (4, 8, 8)) and m.memory_format == "channels_last"
    assert formats and all(formats)


def test_bf16_autocast_runs_the_convolution_in_bf16() -> None:
    dtypes = []
    conv = nn.Conv2d(3, 4, 3)
    conv.register_forward_hook(lambda module, inputs, output: dtypes.append(output.dtype))
    m = quick(conv, (3, 8, 8), threads=1, dtype="bf16")
    assert m.dtype == "bf16" and set(dtypes) == {torch.bfloat16}


@pytest.mark.parametrize("clock", ["wall", "cpu"])
def test_the_cpu_clock_times_with_the_threads_cpu_time(clock: str, monkeypatch: pytest.MonkeyPatch) -> None:
    reads = []
    thread_time = time.thread_time
    monkeypatch.setattr(time, "thread_time", lambda: reads.append(1) or thread_time())
    assert quick(nn.ReLU(), (1, 4, 4), threads=1, clock=clock).clock == clock
    if clock == "cpu":  # each of the 5 blocks' start and end is read off the thread's CPU time
        assert len(reads) >= 2 * 5
    else:
        assert reads == []


def test_cuda_without_a_gpu_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match=r"^--device cuda: this machine has no CUDA device; use --device cpu$"):
        setting("cuda")
    with pytest.raises(DeviceError, match=r"^--device: expected cpu, cuda or cuda:N, got 'tpu'$"):
        setting("tpu")
    with pytest.raises(NasblocksError, match="has no CUDA device"):
        measure(nn.ReLU(), (1, 4, 4), device="cuda")


@pytest.mark.parametrize(("options", "message"), [
    ({"dtype": "fp8"}, "--dtype: expected one of fp32, fp16, bf16, got 'fp8'"),
    ({"batch": 0}, "--batch: expected a positive integer, got 0"),
    ({"threads": 0}, "--threads: expected a positive integer, got 0"),
    ({"threads": 2.0}, "--threads: expected a positive integer, got 2.0"),
    ({"channels_last": "no"}, "--channels-last: expected True or False, got 'no'"),  # not taken as true
    ({"clock": "tsc"}, "--clock: expected wall or cpu, got 'tsc'"),
    ({"clock": "cpu", "threads": 2}, "--clock cpu measures one thread's CPU time: it needs --device cpu and "
                                     "--threads 1, got --device cpu --threads 2"),
])
def test_bad_settings_say_what_is_expected(options, message) -> None:
    with pytest.raises(LatencyError) as err:
        setting(**options)
    assert str(err.value) == message


def test_numpy_integers_of_a_sweep_are_integers() -> None:
    run = setting("cpu", batch=np.int64(2), threads=np.int32(1))
    assert (run.batch, run.threads) == (2, 1) and type(run.batch) is type(run.threads) is int


def test_repeats_must_be_positive_and_warmup_not_negative() -> None:
    with pytest.raises(LatencyError, match="--repeats: expected a positive integer, got 0"):
        measure(nn.ReLU(), (1, 4, 4), repeats=0)
    with pytest.raises(LatencyError, match="--warmup: expected an integer >= 0, got -1"):
        measure(nn.ReLU(), (1, 4, 4), warmup=-1)


class Fails(nn.Module):
    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        raise self.error


CPU_ALLOCATOR = ("[enforce fail at alloc_cpu.cpp:127] err == 0. DefaultCPUAllocator: can't allocate memory: "
                 "you tried to allocate 60211200000 bytes. Error code 12 (Cannot allocate memory)")


@pytest.mark.parametrize("error", [RuntimeError(CPU_ALLOCATOR), torch.OutOfMemoryError("CUDA out of memory."),
                                   MemoryError()])
def test_a_batch_the_device_cannot_hold_is_one_line(error: Exception) -> None:
    with pytest.raises(DeviceMemoryError) as raised:  # a LatencyError a search tells apart
        quick(Fails(error), (3, 8, 8), batch=4)
    said = str(error) or "MemoryError"
    assert str(raised.value) == f"out of memory on cpu timing a batch of 4 ({said}); try a smaller batch"


def test_other_errors_of_the_network_are_left_as_they_are() -> None:
    with pytest.raises(RuntimeError, match="^mat1 and mat2 shapes cannot be multiplied$"):
        quick(Fails(RuntimeError("mat1 and mat2 shapes cannot be multiplied")), (3, 8, 8))


def test_device_key_names_the_device_and_torch_and_is_a_file_name() -> None:
    key = device_key("cpu")
    assert key.startswith("cpu-") and key.endswith(f"-torch{torch.__version__.replace('+', '-')}")
    assert re.fullmatch(r"[a-z0-9.\-]+", key)
