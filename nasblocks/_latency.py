"""Latency measured as the field measures it: warm-up, many timed repeats, median and spread.

- CPU: a fixed thread count (``torch.set_num_threads``, restored afterwards),
  ``torch.inference_mode``, the wall clock (``time.perf_counter``) or, with ``clock="cpu"``, the
  thread's CPU time — steady on a machine shared with other jobs. glibc is told to keep freed
  memory (:func:`keep_freed_memory`), as the caching allocators of CPU deployments do.
- CUDA: CUDA events around each block of calls, a synchronisation before the first and after
  the last, ``cudnn.benchmark`` on (fixed shapes, as every deployment benchmark sets it).
- Both: batch size, dtype (fp32, or fp16/bf16 under ``torch.autocast``) and channels_last memory
  format are options; a repeat is a *block* of calls long enough (``min_block_ms``) that the
  timer's own resolution and overhead vanish, and the figure is per call. (How the latency
  table times a layer: :mod:`nasblocks._latency_table`.)

Every :class:`Measurement` records what it was measured on: the device's name, the thread count,
the torch version, the batch, the dtype and the memory format — a latency without them is not a
figure anyone can compare with. Timings belong in benchmarks and on the command line, never in
assertions (see tests/latency).

>>> import torch.nn as nn
>>> m = measure(nn.Conv2d(3, 8, 3), (3, 32, 32), threads=1, warmup=2, repeats=5)
>>> m.threads, m.batch, m.dtype, m.repeats
(1, 1, 'fp32', 5)
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import math
import numbers
import os
import platform
import re
import statistics
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import torch
from torch import nn

from nasblocks._shape import Shape
from nasblocks.errors import DeviceError, DeviceMemoryError, LatencyError

DTYPES = {"fp32": None, "fp16": torch.float16, "bf16": torch.bfloat16}


def torch_device(name: str, given: str = "--device", expected: str = "cpu, cuda or cuda:N") -> torch.device:
    """The device ``name`` names — ``cpu``, ``cuda`` or ``cuda:N`` — when this machine has it:
    the one check of every --device, so that a GPU it lacks is one line before any work rather
    than torch's error where a tensor first goes there. ``given`` says where the name came from
    (``--device cuda:7: this machine has 1 CUDA device (cuda:0)``), ``expected`` what it accepts."""
    if re.fullmatch(r"cpu|cuda(:\d+)?", name) is None:
        raise DeviceError(f"{given}: expected {expected}, got {name!r}")
    device = torch.device(name)
    if device.type == "cuda":
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise DeviceError(f"{given} {name}: this machine has {_cuda_devices(count)}")
    return device


def _cuda_devices(count: int) -> str:
    if count == 0:
        return "no CUDA device; use --device cpu"
    names = ", ".join(f"cuda:{i}" for i in range(count)) if count <= 2 else f"cuda:0 to cuda:{count - 1}"
    return f"{count} CUDA device{'s' * (count > 1)} ({names})"


@dataclass(frozen=True)
class Setting:
    """How a module is run while timed: the device and everything that changes its latency."""

    device: str = "cpu"          # "cpu", "cuda" or "cuda:N"
    batch: int = 1
    threads: int = 1             # CPU threads (torch.set_num_threads); recorded on CUDA too
    dtype: str = "fp32"          # fp32, or fp16/bf16 under torch.autocast
    channels_last: bool = False
    clock: str = "wall"          # "wall", or "cpu": the thread's CPU time (1 CPU thread only)

    @property
    def device_type(self) -> str:
        return self.device.split(":")[0]

    @property
    def autocast_dtype(self) -> torch.dtype | None:
        return DTYPES[self.dtype]

    @property
    def memory_format(self) -> str:
        return "channels_last" if self.channels_last else "contiguous"

    @property
    def timer(self) -> Callable[[], float]:
        """The clock a CPU timing reads, in seconds: the wall clock, or the thread's CPU time."""
        return time.thread_time if self.clock == "cpu" else time.perf_counter


def setting(device: str = "cpu", *, batch: int = 1, threads: int | None = None, dtype: str = "fp32",
            channels_last: bool = False, clock: str = "wall") -> Setting:
    """A checked :class:`Setting`; ``threads=None`` is torch's current thread count. Raises
    :class:`LatencyError` for a setting it cannot run, :class:`DeviceError` for a device this
    machine lacks.

    ``clock="cpu"`` times with the calling thread's CPU time (``time.thread_time``) instead of
    the wall clock: on a machine shared with other jobs, time spent preempted is not counted,
    which makes figures comparable from one minute to the next. It equals wall time on an idle
    machine, and is only meaningful on CPU with one thread (all work then runs in that thread).
    """
    device = device.strip().lower()
    kind = torch_device(device).type
    if dtype not in DTYPES:
        raise LatencyError(f"--dtype: expected one of {', '.join(DTYPES)}, got {dtype!r}")
    if dtype == "bf16" and kind == "cuda" and not torch.cuda.is_bf16_supported():  # as autocast checks
        raise LatencyError(f"--dtype bf16: {device_name(device)} has no bfloat16; use --dtype fp16")
    batch = _positive("--batch", batch)
    asked = threads is not None  # torch's own count is the environment's (OMP_NUM_THREADS): taken as it is
    threads = torch.get_num_threads() if threads is None else _positive("--threads", threads)
    if not isinstance(channels_last, bool):  # "no" would be true, and key the table as channels_last
        raise LatencyError(f"--channels-last: expected True or False, got {channels_last!r}")
    if clock not in ("wall", "cpu"):
        raise LatencyError(f"--clock: expected wall or cpu, got {clock!r}")
    if clock == "cpu" and (device != "cpu" or threads != 1):
        raise LatencyError("--clock cpu measures one thread's CPU time: it needs --device cpu and "
                           f"--threads 1, got --device {device} --threads {threads}")
    if asked:
        _check_cores(threads)
    return Setting(device, batch, threads, dtype, channels_last, clock)


def _check_cores(threads: int) -> None:
    """Refuse more threads than this process has CPU cores: they would time their contention
    (a 0.4 ms network took 14 ms with 64 threads on 2 cores), not the network."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if threads > cores:
        raise LatencyError(f"--threads {threads}: this process may run on {cores} CPU "
                           f"core{'s' * (cores != 1)}; give at most {cores}")


def _positive(option: str, value: Any) -> int:
    """``value`` as an int (a NumPy integer of a sweep too) when it is a positive integer."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise LatencyError(f"{option}: expected a positive integer, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class Measurement:
    """A latency per call (one forward of ``batch`` images), in milliseconds, with its spread
    (10th and 90th percentiles, interquartile range, minimum) over ``repeats`` timed blocks of
    ``calls_per_repeat`` calls, and everything it was measured on."""

    median_ms: float
    p10_ms: float
    p90_ms: float
    iqr_ms: float
    min_ms: float
    repeats: int
    calls_per_repeat: int
    device: str            # "cpu" or "cuda:0"
    device_name: str       # "AMD EPYC 7763 64-Core Processor", "NVIDIA H100 80GB HBM3"
    threads: int
    torch_version: str
    batch: int
    dtype: str
    memory_format: str
    input_shape: tuple[Shape, ...]
    clock: str = "wall"

    @property
    def spread(self) -> float:
        """(p90 − p10) / median: 0.02 is a quiet machine, 0.2 a busy one."""
        return (self.p90_ms - self.p10_ms) / self.median_ms if self.median_ms else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "spread": round(self.spread, 4),
                "input_shape": [list(s) for s in self.input_shape]}

    def __str__(self) -> str:
        threads = f", {self.threads} thread{'s' if self.threads != 1 else ''}" if self.device == "cpu" else ""
        clock = ", CPU-time clock" if self.clock == "cpu" else ""
        return (f"median {self.median_ms:.3f} ms (p10 {self.p10_ms:.3f}, p90 {self.p90_ms:.3f}, "
                f"{self.repeats} repeats{clock}) — batch {self.batch}, {self.dtype}, {self.memory_format} "
                f"on {self.device} {self.device_name}{threads}, torch {self.torch_version}")


# --- the device -----------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def cpu_name() -> str:
    """The processor's marketing name (/proc/cpuinfo's "model name" on Linux)."""
    with contextlib.suppress(OSError):
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.partition(":")[2].strip()
    return platform.processor() or platform.machine() or "unknown cpu"


def device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    return cpu_name()


def device_key(device: str) -> str:
    """A file-name-safe key naming the device and the torch build (its version and local tag:
    a CPU-only wheel and a CUDA one are different builds): latencies measured under another
    processor, GPU or torch build are not the same figures.

    >>> device_key("cpu").startswith("cpu-")
    True
    """
    kind = "cuda" if device.startswith("cuda") else "cpu"
    slug = re.sub(r"[^a-z0-9]+", "-", device_name(device).lower()).strip("-")
    build = re.sub(r"[^a-z0-9.]+", "-", torch.__version__.lower())  # 2.14.1+cu130: 2.14.1-cu130
    return f"{kind}-{slug}-torch{build}"


# --- timing ----------------------------------------------------------------------------------------

@lru_cache(maxsize=None)
def keep_freed_memory() -> bool:
    """Tell glibc's malloc to keep freed memory for reuse instead of returning it to the OS.

    By default glibc serves large blocks with mmap and trims the heap as tensors are freed, so
    every forward pass takes thousands of fresh pages from the kernel, each a page fault: a
    third of MobileNetV2's CPU latency on a virtual machine, varying with allocation history,
    and invisible when one op is timed alone. CPU inference deployments avoid it with a caching
    allocator (jemalloc or tcmalloc, as Intel's PyTorch tuning guide and TorchServe do); this is
    the same effect for the measuring process. It stays in force for the rest of the process.
    Returns False where the C library is not glibc (nothing changed).
    """
    name = ctypes.util.find_library("c")
    try:
        mallopt = ctypes.CDLL(name).mallopt if name else None
    except (OSError, AttributeError):
        return False
    if mallopt is None:
        return False
    m_trim_threshold, m_mmap_max = -1, -4
    return bool(mallopt(m_trim_threshold, 1 << 30)) and bool(mallopt(m_mmap_max, 0))


@contextlib.contextmanager
def running(run: Setting) -> Iterator[None]:
    """The context a timed forward runs in: threads fixed, the device current, inference mode,
    autocast, cudnn."""
    if run.device_type == "cpu":
        keep_freed_memory()
    previous_threads = torch.get_num_threads()
    previous_benchmark = torch.backends.cudnn.benchmark
    torch.set_num_threads(run.threads)
    torch.backends.cudnn.benchmark = True
    autocast = (torch.autocast(run.device_type, dtype=run.autocast_dtype)
                if run.autocast_dtype is not None else contextlib.nullcontext())
    # events and torch.cuda._sleep act on the current device: make cuda:N current ("cuda" is)
    device = torch.cuda.device(torch.device(run.device)) if ":" in run.device else contextlib.nullcontext()
    try:
        with device, torch.inference_mode(), autocast:
            yield
    finally:
        torch.set_num_threads(previous_threads)
        torch.backends.cudnn.benchmark = previous_benchmark


def out_of_memory(err: BaseException) -> str | None:
    """What ``err`` says where it is running out of memory — CUDA's OutOfMemoryError, a
    MemoryError, or the CPU allocator's failure, which torch raises as a plain RuntimeError —
    else None."""
    cpu = isinstance(err, RuntimeError) and "DefaultCPUAllocator: can't allocate memory" in str(err)
    if not (cpu or isinstance(err, (MemoryError, torch.OutOfMemoryError))):
        return None
    return str(err).splitlines()[0] if str(err) else type(err).__name__


@contextlib.contextmanager
def out_of_memory_as_error(run: Setting) -> Iterator[None]:
    """Running out of memory (a batch the device cannot hold) as one line, a
    :class:`DeviceMemoryError`, rather than torch's traceback. It names the batch, not ``--batch``:
    a search's trial timed at batch 1 says it too."""
    try:
        yield
    except (MemoryError, RuntimeError) as err:
        said = out_of_memory(err)
        if said is None:
            raise
        hint = "; try a smaller batch" if run.batch > 1 else ""
        raise DeviceMemoryError(f"out of memory on {_canonical(run.device)} timing a batch of {run.batch} "
                           f"({said}){hint}") from None


def prepare(module: nn.Module, run: Setting) -> nn.Module:
    """The module in eval mode on the device, in the memory format asked for."""
    module = module.eval().to(run.device)
    return module.to(memory_format=torch.channels_last) if run.channels_last else module


def make_input(shape: Shape, run: Setting) -> torch.Tensor:
    """A random fp32 batch of ``shape`` on the device (channels_last when asked and 4-D);
    autocast (:func:`running`) casts it where a lower precision is asked for."""
    x = torch.randn(run.batch, *shape, device=run.device)
    return x.contiguous(memory_format=torch.channels_last) if run.channels_last and x.dim() == 4 else x


def time_call(call: Callable[[], Any], run: Setting, *, warmup: int = 10, repeats: int = 50,
              min_block_ms: float = 1.0) -> tuple[list[float], int]:
    """Per-call times (ms) of ``repeats`` timed blocks of calls, and the calls per block.

    Warm-up runs ``warmup`` calls (at least one); then the blocks are sized so that one lasts
    ``min_block_ms``: a 10 µs op is timed over a hundred calls, a 10 ms network call by call
    (the clock's own cost subtracted). Call inside :func:`running`.
    """
    cuda = run.device_type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    for _ in range(max(1, warmup)):
        call()
    clock = run.timer
    calls = _calls_per_block(call, sync, min_block_ms, clock)
    times: list[float] = []
    if cuda:
        events = [(torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True))
                  for _ in range(repeats)]
        for begin, end in events:
            begin.record()
            for _ in range(calls):
                call()
            end.record()
        torch.cuda.synchronize()
        return [begin.elapsed_time(end) / calls for begin, end in events], calls
    overhead = _clock_cost(clock) if calls == 1 else 0.0
    for _ in range(repeats):
        start = clock()
        for _ in range(calls):
            call()
        times.append(max((clock() - start - overhead) * 1e3 / calls, 0.0))
    return times, calls


def _clock_cost(clock: Callable[[], float]) -> float:
    """What reading ``clock`` twice costs, in seconds (0.6 µs for the thread CPU time here)."""
    spans = []
    for _ in range(101):
        start = clock()
        spans.append(clock() - start)
    return statistics.median(spans)


def _calls_per_block(call: Callable[[], Any], sync: Callable[[], Any], min_block_ms: float,
                     clock: Callable[[], float]) -> int:
    """How many calls make a block of at least ``min_block_ms``: double until it lasts a tenth of
    that, then scale (timeit's autorange, cheaper)."""
    calls = 1
    while True:
        sync()
        start = clock()
        for _ in range(calls):
            call()
        sync()
        elapsed_ms = (clock() - start) * 1e3
        if elapsed_ms >= min_block_ms / 10 or calls >= 1 << 16:
            return max(1, math.ceil(calls * min_block_ms / max(elapsed_ms, 1e-6)))
        calls *= 2


def quantile_weights(values: Sequence[float], q: float) -> list[tuple[int, float]]:
    """The positions in ``values`` and the weights whose weighted sum is their ``q`` quantile
    (linear interpolation between order statistics, as ``statistics.quantiles(method="inclusive")``;
    q = 0 is the minimum, 0.5 the median)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    position = (len(values) - 1) * q
    low = math.floor(position)
    part = position - low
    return [(order[low], 1.0)] if part == 0 else [(order[low], 1 - part), (order[low + 1], part)]


def summarise(times: Sequence[float], calls: int, run: Setting, shapes: Sequence[Shape],
              ranks: Sequence[float] | None = None) -> Measurement:
    """A :class:`Measurement` from per-call times.

    With ``ranks`` (one figure per call: the whole forward's time when ``times`` are one layer's
    share of each forward), each figure is ``times`` where ``ranks`` has that figure — the
    layer's share of the median forward rather than its own median. Shares taken so add up to
    the forward's figure; each layer's own minimum does not (their sum falls below the fastest
    forward, since the minima come from different forwards).
    """
    ranks = times if ranks is None else ranks

    def at(q: float) -> float:
        return sum(weight * times[i] for i, weight in quantile_weights(ranks, q))

    return Measurement(
        median_ms=at(0.5), p10_ms=at(0.1), p90_ms=at(0.9), iqr_ms=at(0.75) - at(0.25), min_ms=at(0.0),
        repeats=len(times), calls_per_repeat=calls, device=_canonical(run.device),
        device_name=device_name(run.device), threads=run.threads, torch_version=torch.__version__,
        batch=run.batch, dtype=run.dtype, memory_format=run.memory_format,
        input_shape=tuple(tuple(s) for s in shapes), clock=run.clock)


def _canonical(device: str) -> str:
    return "cuda:0" if device == "cuda" else device


def measure_inputs(module: nn.Module, inputs: Sequence[torch.Tensor], run: Setting, *, warmup: int = 10,
                   repeats: int = 50, min_block_ms: float = 1.0) -> Measurement:
    """Time ``module(*inputs)`` under ``run``; the inputs are already batched and on the device."""
    module = prepare(module, run)
    with running(run):
        times, calls = time_call(lambda: module(*inputs), run, warmup=warmup, repeats=repeats,
                                 min_block_ms=min_block_ms)
    return summarise(times, calls, run, [tuple(x.shape[1:]) for x in inputs])


def measure(module: nn.Module, input_shape: Shape | Sequence[Shape], *, device: str = "cpu",
            batch: int = 1, threads: int | None = None, dtype: str = "fp32",
            channels_last: bool = False, warmup: int = 10, repeats: int = 50,
            min_block_ms: float = 1.0, clock: str = "wall") -> Measurement:
    """The latency of one forward of ``module`` on a random batch of ``input_shape`` (per image,
    C×H×W; a list of shapes for a module of several inputs).

    ``threads=None`` keeps torch's current CPU thread count (and records it). Raises
    :class:`DeviceError` when the device cannot be used (``--device cuda`` without a GPU).
    """
    run = setting(device, batch=batch, threads=threads, dtype=dtype, channels_last=channels_last,
                  clock=clock)
    if repeats < 1:
        raise LatencyError(f"--repeats: expected a positive integer, got {repeats}")
    if warmup < 0:
        raise LatencyError(f"--warmup: expected an integer >= 0, got {warmup}")
    shapes = [tuple(input_shape)] if input_shape and isinstance(input_shape[0], int) else [tuple(s) for s in input_shape]  # type: ignore[arg-type]
    with out_of_memory_as_error(run):
        inputs = [make_input(shape, run) for shape in shapes]  # type: ignore[arg-type]
        return measure_inputs(module, inputs, run, warmup=warmup, repeats=repeats, min_block_ms=min_block_ms)
