"""Pricing from the IR against build-and-count, and the compiled module's forward time against
torchvision's own module — MobileNetV2, measured side by side in one run.

    .venv/bin/python benchmarks/pricing.py [--threads 2] [--repeats 30]

Prints: the time to load, expand and price the spec (cold: nothing cached; warm: the search's
case, with parsed files and expanded blocks cached) against the time to build torchvision's module
and count it with FlopCounterMode; then the forward latency of both modules on CPU at batch 1
and 32, interleaved so that drift hits both alike. Targets (issue 3): pricing >= 100x faster than
build-and-count with identical counts; forward within 2 % of torchvision's.
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
    model = torchvision.models.mobilenet_v2().eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.randn(1, 3, 224, 224))
    return sum(p.numel() for p in model.parameters()), counter.get_total_flops() // 2


def forward_ratio(batch: int, repeats: int) -> tuple[float, float]:
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

    assert price_cold() == build_and_count(), "counts differ"
    print(f"counts: params {price_warm()[0]:,}, MACs {price_warm()[1]:,} — identical to build-and-count")
    cold = median_seconds(price_cold, args.repeats)
    warm = median_seconds(price_warm, args.repeats * 10)
    counted = median_seconds(build_and_count, max(5, args.repeats // 3))
    print(f"load+expand+price, cold : {cold * 1e3:8.3f} ms   build-and-count / this = {counted / cold:6.1f}x")
    print(f"load+expand+price, warm : {warm * 1e3:8.3f} ms   build-and-count / this = {counted / warm:6.1f}x")
    print(f"build + FlopCounterMode : {counted * 1e3:8.3f} ms")
    for batch in (1, 32):
        ours, theirs = forward_ratio(batch, args.repeats if batch == 1 else max(5, args.repeats // 3))
        print(f"forward batch {batch:>2}: compiled {ours * 1e3:8.2f} ms, torchvision {theirs * 1e3:8.2f} ms, "
              f"ratio {ours / theirs:.3f}")


if __name__ == "__main__":
    main()
