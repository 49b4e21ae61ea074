"""Networks the benchmarks run: the zoo (one name per distinct network) and random variants of it.

Random variants change what a search changes: width, resolution and, for MobileNetV2, the rows of
the paper's Table 2 (expansion t and repeats n per stage). A variant the spec rejects (a width
that breaks a divisibility rule) is skipped, not an error.
"""

from __future__ import annotations

import argparse
import json
import math
import random
import statistics
import sys
from collections.abc import Callable, Iterator

import torchvision

import nasblocks
from nasblocks.errors import NasblocksError

# zoo specs whose width and resolution vars a variant may change
VARIED = ("mobilenet_v2", "mobilenet_v3_large", "mobilenet_v3_small", "mobilenet_v1", "shufflenet_v2_x1_0",
          "resnet18", "resnet50", "squeezenet1_1", "googlenet", "shufflenet_v1_g3_x1_0")
RESOLUTIONS = (96, 128, 160, 192, 224)


def run_main(main: Callable[[], None]) -> None:
    """Run a benchmark's ``main``: a nasblocks error (``--device cuda`` without a GPU, say) is one
    line and exit status 2, as on the command line."""
    try:
        main()
    except NasblocksError as err:
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)


def add_setting_arguments(parser: argparse.ArgumentParser) -> None:
    """The options that name a timing setting (device, batch, threads, dtype, layout, clock),
    shared by the benchmarks that time networks."""
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--dtype", default="fp32")
    parser.add_argument("--channels-last", action="store_true")
    parser.add_argument("--clock", default="wall", help="wall, or cpu (thread CPU time; 1 thread)")


def zoo() -> list[tuple[str, nasblocks.Spec]]:
    """Every distinct zoo network once, under a torchvision name where it has one
    (``resnet50`` rather than its alias ``resnet``)."""
    torchvision_names = set(torchvision.models.list_models())
    seen: dict[tuple[str, str], tuple[str, nasblocks.Spec]] = {}
    for name in sorted(nasblocks.zoo_names(), key=lambda n: (n not in torchvision_names, n)):
        spec = nasblocks.load(name)
        identity = (spec.file, json.dumps(spec.vars, sort_keys=True, default=str))
        seen.setdefault(identity, (name, spec))
    return sorted(seen.values())


def _mobilenet_v2_stages(rng: random.Random) -> list[list[int]]:
    stages = nasblocks.load("mobilenet_v2").vars["stages"]
    return [[rng.choice((1, 3, 4, 6)) if index else t, c, max(1, n + rng.choice((-1, 0, 1))), s]
            for index, (t, c, n, s) in enumerate(stages)]


def random_variants(count: int, seed: int = 0) -> Iterator[tuple[str, nasblocks.Spec]]:
    """``count`` random variants: half of them MobileNetV2 with a new stages table, the rest
    other zoo networks at another width and resolution."""
    rng = random.Random(seed)
    made = 0
    while made < count:
        base = "mobilenet_v2" if made % 2 == 0 else rng.choice(VARIED)
        spec = nasblocks.load(base)
        changes: dict[str, object] = {"resolution": rng.choice(RESOLUTIONS)}
        if isinstance(spec.vars.get("width"), float):
            changes["width"] = round(rng.uniform(0.35, 1.4) if base.startswith("mobilenet") else rng.uniform(0.5, 1.5), 2)
        if base == "mobilenet_v2":
            changes["stages"] = _mobilenet_v2_stages(rng)
        try:
            variant = spec.with_vars(**changes)
            nasblocks.expand(variant)
        except NasblocksError:
            continue
        label = base + "[" + ",".join(f"{k}={v}" for k, v in changes.items() if k != "stages") + \
            (",stages=" + "/".join(f"{t}{n}" for t, _, n, _ in changes["stages"]) if "stages" in changes else "") + "]"  # type: ignore[union-attr]
        made += 1
        yield label, variant


def depth_variants(count: int, seed: int = 0) -> Iterator[tuple[str, nasblocks.Spec]]:
    """``count`` variants at the zoo's own widths and resolution that change only what a depth
    search changes: MobileNetV2's expansion and repeats per stage (new stage tables) and ResNet's
    blocks per stage. Their layers are layers of the zoo and of one another, so a table filled by
    other networks predicts them without measuring anything."""
    rng = random.Random(seed)
    for made in range(count):
        if made % 2 == 0:
            stages = _mobilenet_v2_stages(rng)
            label = "mobilenet_v2[stages=" + "/".join(f"{t}{n}" for t, _, n, _ in stages) + "]"
            yield label, nasblocks.load("mobilenet_v2").with_vars(stages=stages)
        else:
            depth = rng.choice((18, 50))
            layers = [rng.randint(1, top) for top in (3, 4, 6, 3)]
            yield f"resnet{depth}[layers={'/'.join(map(str, layers))}]", \
                nasblocks.load(f"resnet{depth}").with_vars(layers=layers)


def fit_resolution(spec: nasblocks.Spec, max_macs: float | None) -> tuple[str, nasblocks.Spec]:
    """The spec at its own input size, or at the largest of RESOLUTIONS that keeps it within
    ``max_macs`` multiply-adds per image (a benchmark on two CPU cores cannot run VGG-19 at 224
    fifty times); the suffix says which."""
    if max_macs is None or nasblocks.expand(spec).macs <= max_macs:
        return "", spec
    for size in sorted(RESOLUTIONS, reverse=True):
        try:
            smaller = spec.with_input((spec.input[0], size, size))
            if nasblocks.expand(smaller).macs <= max_macs:
                return f"@{size}", smaller
        except NasblocksError:
            break
    return "@skip", spec


def add_network_arguments(parser: argparse.ArgumentParser, random_default: int = 30) -> None:
    """The options that choose the networks a predictor benchmark runs (:func:`networks`)."""
    parser.add_argument("--random", type=int, default=random_default, help="random variants besides the zoo")
    parser.add_argument("--depth-variants", type=int, default=0,
                        help="variants that change only depths (MobileNetV2 stage tables, ResNet blocks)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-gmacs", type=float, default=None,
                        help="run larger zoo networks at a smaller input (per image)")
    parser.add_argument("--only", nargs="*", help="zoo names to keep (default: all)")


def networks(args: argparse.Namespace) -> list[tuple[str, nasblocks.Spec]]:
    """The zoo (each at its own input, or smaller where it exceeds --max-gmacs), then --random
    variants, then --depth-variants: what :func:`add_network_arguments` asked for."""
    max_macs = args.max_gmacs * 1e9 if args.max_gmacs else None
    chosen = []
    for name, spec in zoo():
        if args.only and name not in args.only:
            continue
        suffix, spec = fit_resolution(spec, max_macs)
        if suffix != "@skip":
            chosen.append((name + suffix, spec))
    return chosen + list(random_variants(args.random, args.seed)) + list(depth_variants(args.depth_variants, args.seed))


def accuracy(predicted: list[float], measured: list[float]) -> dict[str, float]:
    """How close predictions come: the share within ±10 % of measured, the RMSE in ms and in %
    of measured, the mean and the worst relative error."""
    errors = [p / m - 1 for p, m in zip(predicted, measured)]
    return {"within_10pct": sum(abs(e) <= 0.10 for e in errors) / len(errors),
            "rmse_ms": math.sqrt(statistics.fmean((p - m) ** 2 for p, m in zip(predicted, measured))),
            "rmse_pct": 100 * math.sqrt(statistics.fmean(e * e for e in errors)),
            "mean_pct": 100 * statistics.fmean(errors), "worst_pct": 100 * max(errors, key=abs)}


def accuracy_line(figures: dict[str, float]) -> str:
    return (f"within ±10 % {100 * figures['within_10pct']:.1f} %; RMSE {figures['rmse_ms']:.3f} ms "
            f"({figures['rmse_pct']:.1f} %); mean error {figures['mean_pct']:+.1f} %; "
            f"worst {figures['worst_pct']:+.1f} %")
