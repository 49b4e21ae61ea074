"""Pricing from the IR against build-and-count, and the compiled module's forward time against
torchvision's own module — MobileNetV2, measured side by side in one run.

    .venv/bin/python benchmarks/pricing.py [--threads 2] [--repeats 30]

Prints: the time to load, expand and price the spec (cold: nothing cached; warm: the search's
case, with parsed files and expanded blocks cached) against the time to build torchvision's module
and count it — with fvcore (conv + linear, REFERENCE.md's column A; `pip install fvcore`, a
benchmark-only dependency) where it is installed, and with torch's FlopCounterMode; then the
forward latency of both modules on CPU at batch 1 and 32, interleaved so that drift hits both
alike. Targets (issue 3): pricing >= 100x faster than build-and-count with identical counts;
forward within 2 % of torchvision's.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import time
from collections.abc import Callable

import torch
import torchvision
from torch.utils.flop_counter import FlopCounterMode

import nasblocks
from nasblocks import _fragments, _yaml
from nasblocks._latency import keep_freed_memory


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def price_cold() -> tuple[int, int]:
    _yaml._cache.clear()
    _fragments.CACHE.clear()
    return price_warm()


def price_warm() -> tuple[int, int]:
    graph = nasblocks.expand(nasblocks.load("specs/mobilenet_v2.yaml"))
    return graph.params, graph.macs


def build_and_count() -> tuple[int, int]:
    """torchvision's module, counted by torch's FlopCounterMode (FLOPs / 2 = multiply-adds)."""
    model = torchvision.models.mobilenet_v2().eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, 224, 224))
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2


def build_and_count_fvcore() -> tuple[int, int]:
    """torchvision's module, counted by fvcore's conv and linear handles (column A)."""
    from fvcore.nn import FlopCountAnalysis

    model = torchvision.models.mobilenet_v2().eval()
    analysis = FlopCountAnalysis(model, torch.randn(1, 3, 224, 224))
    analysis.unsupported_ops_warnings(False).uncalled_modules_warnings(False)
    by_operator = analysis.by_operator()
    return sum(p.numel() for p in model.parameters()), by_operator["conv"] + by_operator["linear"]


def forward_ratio(batch: int, repeats: int) -> tuple[float, float]:
    """Median forward times, compiled and torchvision's, timed in alternation.

    Both run under ``keep_freed_memory`` (glibc keeps freed pages, as the caching allocators of
    CPU deployments do). Without it, batch 32 spends most of its time in page faults, and the
    compiled module — whose generated code frees each intermediate as soon as it is last read —
    returns and refetches more pages than torchvision's: 3–6 % slower on EPYC-2, and all three
    times slower than with the allocator kept.
    """
    keep_freed_memory()
    reference = torchvision.models.mobilenet_v2().eval()
    compiled = nasblocks.build("mobilenet_v2").eval()
    compiled.load_state_dict(reference.state_dict())
    x = torch.randn(batch, 3, 224, 224)
    times: dict[str, list[float]] = {"compiled": [], "torchvision": []}
    with torch.inference_mode():
        for model in (compiled, reference):
            for _ in range(3):
                model(x)
        for _ in range(repeats):
            for name, model in (("compiled", compiled), ("torchvision", reference)):
                started = time.perf_counter()
                model(x)
                times[name].append(time.perf_counter() - started)
    return statistics.median(times["compiled"]), statistics.median(times["torchvision"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"machine: {platform.processor() or platform.machine()}, {args.threads} threads, "
          f"torch {torch.__version__}, torchvision {torchvision.__version__}, Python {platform.python_version()}")

    counters = {"FlopCounterMode": build_and_count}
    try:
        import fvcore  # noqa: F401

        counters["fvcore"] = build_and_count_fvcore
    except ImportError:
        print("fvcore is not installed (pip install fvcore): comparing with FlopCounterMode only")
    for name, count in counters.items():
        assert price_cold() == count(), f"counts differ from {name}'s"
    print(f"counts: params {price_warm()[0]:,}, MACs {price_warm()[1]:,} — identical to "
          f"{' and '.join(counters)}")
    cold = median_seconds(price_cold, args.repeats)
    warm = median_seconds(price_warm, args.repeats * 10)
    print(f"load+expand+price, cold: {cold * 1e3:8.3f} ms (files parsed, blocks expanded)")
    print(f"load+expand+price, warm: {warm * 1e3:8.3f} ms (files and expanded blocks cached, as in a search)")
    for name, count in counters.items():
        counted = median_seconds(count, max(5, args.repeats // 3))
        print(f"build + {name:<15}: {counted * 1e3:8.3f} ms = {counted / cold:6.1f}x cold, "
              f"{counted / warm:6.1f}x warm")
    for batch in (1, 32):
        ours, theirs = forward_ratio(batch, args.repeats if batch == 1 else max(5, args.repeats // 3))
        print(f"forward batch {batch:>2}: compiled {ours * 1e3:8.2f} ms, torchvision {theirs * 1e3:8.2f} ms, "
              f"ratio {ours / theirs:.3f}")


if __name__ == "__main__":
    main()
