"""What the benchmarks that run one search twice, side by side, share: their options, and the
settings both runs take (the random sampler, so that trial n draws the same candidate in both)."""

from __future__ import annotations

import argparse
from typing import Any

import torch

from nasblocks._latency import cpu_name


def parser(doc: str, epochs: int, epochs_help: str) -> argparse.ArgumentParser:
    """The options of a paired search; a script adds its own."""
    options = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    options.add_argument("--space", default="mobilenet_v2")
    options.add_argument("--budget", action="append", help="repeatable (default: the search's)")
    options.add_argument("--trials", type=int, default=8)
    options.add_argument("--epochs", type=int, default=epochs, help=epochs_help)
    options.add_argument("--limit", type=int, default=None, help="examples used (default: all 1,797)")
    options.add_argument("--threads", type=int, default=torch.get_num_threads())
    return options


def settings(args: argparse.Namespace, **extra: Any) -> dict[str, Any]:
    """The search both runs make, on ``args.threads`` threads of this CPU (printed first)."""
    torch.set_num_threads(args.threads)
    print(f"{cpu_name()}, {args.threads} threads, torch {torch.__version__}")
    return {"space": args.space, "trials": args.trials, "epochs": args.epochs, "sampler": "random",
            "device": "cpu", "limit": args.limit, **({"budget": args.budget} if args.budget else {}), **extra}
