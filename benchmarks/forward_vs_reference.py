"""The compiled fx module against torchvision's own module: forward latency, as ratios.

    .venv/bin/python benchmarks/forward_vs_reference.py --threads 1 --clock cpu
    .venv/bin/python benchmarks/forward_vs_reference.py --device cuda --batch 64 --torch-compile

For every zoo network that torchvision has (the spec's ``reference:`` when it is a plain
``torchvision.models.NAME(arg=expr, ...)`` call, else a zoo name torchvision lists), the two modules
are checked to be the same network (the reference's state_dict loads with strict=True) and timed in
alternation, --rounds times, so that a machine's drift hits both alike; the ratio is the median over
rounds of compiled / reference (each round's median, or with --stat min its minimum), printed with
that round's two figures. Target (issue 5): within 2 %. ``--torch-compile`` also times
torch.compile (inductor) of the compiled module, against torch.compile of the reference.
"""

from __future__ import annotations

import argparse
import ast
import statistics
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
import torchvision  # noqa: E402
from _networks import add_setting_arguments, fit_resolution, run_main, zoo  # noqa: E402

import nasblocks  # noqa: E402
from nasblocks._expr import evaluate  # noqa: E402
from nasblocks._latency import measure  # noqa: E402


def reference(name: str, spec: nasblocks.Spec) -> torch.nn.Module | None:
    """torchvision's module for this zoo network, or None where torchvision has none."""
    text = str(spec.document.get("reference") or "")
    call = None
    try:
        call = ast.parse(text, mode="eval").body
    except SyntaxError:
        pass
    builder, kwargs = None, {}
    if isinstance(call, ast.Call) and ast.unparse(call.func).startswith("torchvision.models."):
        builder = ast.unparse(call.func).removeprefix("torchvision.models.")
        kwargs = {k.arg: evaluate(ast.unparse(k.value), spec.vars) for k in call.keywords if k.arg}
    elif name in torchvision.models.list_models():
        builder = name
    if builder is None or builder not in torchvision.models.list_models():
        return None
    if builder in ("googlenet", "inception_v3"):
        kwargs["init_weights"] = False  # skips a slow initialisation; no shape changes
    return torchvision.models.get_model(builder, weights=None, **kwargs).eval()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_setting_arguments(parser)
    parser.add_argument("--stat", default="median", choices=("median", "min"),
                        help="each round's figure (min resists a busy machine best)")
    parser.add_argument("--rounds", type=int, default=5, help="alternations of the two modules")
    parser.add_argument("--repeats", type=int, default=10, help="timed repeats per module per round")
    parser.add_argument("--max-gmacs", type=float, default=None, help="run larger networks at a smaller input")
    parser.add_argument("--only", nargs="*", help="zoo names to keep (default: all)")
    parser.add_argument("--torch-compile", action="store_true", help="also compare under torch.compile")
    args = parser.parse_args()
    options: dict[str, Any] = {"device": args.device, "batch": args.batch, "threads": args.threads,
                               "dtype": args.dtype, "channels_last": args.channels_last, "clock": args.clock,
                               "warmup": 3, "repeats": args.repeats}

    print(f"{'network':26s} {'input':>9s} {'compiled ms':>12s} {'torchvision ms':>15s} {'ratio':>7s}"
          + (f" {'compile() ratio':>16s}" if args.torch_compile else ""))
    ratios, last = [], None
    for name, spec in zoo():
        if args.only and name not in args.only:
            continue
        ref = reference(name, spec)
        if ref is None:
            continue
        suffix, spec = fit_resolution(spec, args.max_gmacs * 1e9 if args.max_gmacs else None)
        if suffix == "@skip":
            continue
        ours = nasblocks.build(spec).eval()
        ours.load_state_dict(ref.state_dict(), strict=True)  # the same network, weight for weight
        pairs = [(ours, ref)]
        if args.torch_compile:
            pairs.append((torch.compile(ours), torch.compile(ref)))
        shown = []
        for mine, theirs in pairs:
            per_round = []
            for _ in range(args.rounds):
                a = measure(mine, spec.input, **options)
                b = measure(theirs, spec.input, **options)
                per_round.append((getattr(a, f"{args.stat}_ms"), getattr(b, f"{args.stat}_ms")))
                last = a
            # the round with the median ratio (the lower middle one for an even count), its two
            # figures shown with it: medians of each column, taken apart, need not match the ratio
            mine_ms, theirs_ms = sorted(per_round, key=lambda pair: pair[0] / pair[1])[(len(per_round) - 1) // 2]
            shown.append((mine_ms, theirs_ms, mine_ms / theirs_ms))
        ratios.append(shown[0][2])
        line = f"{name:26s} {'x'.join(map(str, spec.input[1:])):>9s} {shown[0][0]:12.3f} {shown[0][1]:15.3f} {shown[0][2]:7.3f}"
        if args.torch_compile:
            line += f" {shown[1][2]:16.3f}"
        print(line, flush=True)
    if last is None:
        print("no zoo network with a torchvision reference")
        return
    within = sum(abs(r - 1) <= 0.02 for r in ratios)
    print(f"\n{last.device} ({last.device_name}), {last.threads} thread(s), batch {last.batch}, {last.dtype}, "
          f"{last.memory_format}, {last.clock} clock, torch {last.torch_version}, torchvision {torchvision.__version__}; "
          f"statistic: {args.stat}")
    print(f"{len(ratios)} networks: median ratio {statistics.median(ratios):.3f}, within 2 %: {within}/{len(ratios)}, "
          f"range {min(ratios):.3f}–{max(ratios):.3f}")


if __name__ == "__main__":
    run_main(main)
