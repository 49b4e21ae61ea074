"""Compiling a zoo network with its reference initialisation (the spec's ``init``) against
compiling it without, side by side in one run: what ``nasblocks.build`` and each search trial
pay for drawing torchvision's scheme over the layers PyTorch has already initialised once.

    .venv/bin/python benchmarks/compile_time.py [--repeats 5] [NAME ...]
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch

import nasblocks
from nasblocks import _compile
from nasblocks._latency import cpu_name


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("names", nargs="*", default=["mobilenet_v2", "resnet50", "googlenet", "inception_v3"])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(f"{cpu_name()}, {torch.get_num_threads()} threads, torch {torch.__version__}")
    drawn = _compile.initialise
    for name in args.names:
        graph = nasblocks.expand(name)
        times: dict[str, list[float]] = {"with init": [], "without": []}
        for _ in range(args.repeats):  # in alternation, so a busy moment falls on both
            for label, initialise in (("with init", drawn), ("without", lambda module, graph: None)):
                _compile.initialise = initialise
                start = time.perf_counter()
                _compile.compile_graph(graph)
                times[label].append(time.perf_counter() - start)
        _compile.initialise = drawn
        with_init, without = (statistics.median(times[label]) * 1000 for label in times)
        print(f"{name:<16} {with_init:7.1f} ms with init, {without:7.1f} ms without ({with_init / without:.2f}×)")


if __name__ == "__main__":
    main()
