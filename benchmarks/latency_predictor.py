"""How close the table's prediction comes to the measured latency, on at least 50 networks.

    .venv/bin/python benchmarks/latency_predictor.py --device cpu --threads 1 --clock cpu
    .venv/bin/python benchmarks/latency_predictor.py --device cuda --batch 64 --dtype fp16

Networks: every distinct zoo network (at a smaller input where it exceeds --max-gmacs) and
--random variants of the zoo (MobileNetV2 with new stage tables, widths and resolutions; other zoo
networks at other widths and resolutions). For each: predict from the device's table (units
missing from it are measured now), then measure the compiled network (warm-up, --repeats).
Prints one row per network, then for the device and each statistic (median, and min, which a
busy machine disturbs least): the share predicted within ±10 % of measured, the RMSE (ms and
%), the mean and worst error, and the cost of a prediction from a warm table.
The goal (issue 5) is >= 95 % within ±10 %. Record results in benchmarks/RESULTS.md.

Nothing here is device-specific: the device, batch, dtype, threads and clock are options, and
each device keeps its own table (``nasblocks latency profile --device ...``).
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import nasblocks  # noqa: E402
from _networks import add_setting_arguments, fit_resolution, random_variants, zoo  # noqa: E402
from nasblocks._compile import compile_graph  # noqa: E402
from nasblocks._latency import measure, setting  # noqa: E402
from nasblocks._latency_table import predict_detail  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_setting_arguments(parser)
    parser.add_argument("--stats", default="median,min",
                        help="statistics compared, each of prediction and measurement (median, p10, min); "
                             "min resists a busy machine best")
    parser.add_argument("--random", type=int, default=30, help="random variants besides the zoo")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-gmacs", type=float, default=None,
                        help="run larger zoo networks at a smaller input (per image)")
    parser.add_argument("--only", nargs="*", help="zoo names to keep (default: all)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--json", type=Path, help="also write every row to this file")
    args = parser.parse_args()

    run = setting(args.device, batch=args.batch, threads=args.threads, dtype=args.dtype,
                  channels_last=args.channels_last, clock=args.clock)
    options = {"batch": run.batch, "threads": run.threads, "dtype": run.dtype,
               "channels_last": run.channels_last, "clock": run.clock}
    max_macs = args.max_gmacs * 1e9 if args.max_gmacs else None
    networks = []
    for name, spec in zoo():
        if args.only and name not in args.only:
            continue
        suffix, spec = fit_resolution(spec, max_macs)
        if suffix != "@skip":
            networks.append((name + suffix, spec))
    networks += list(random_variants(args.random, args.seed))

    stats = args.stats.split(",")
    rows = []
    first = None
    print(f"{'network':64s} {'GMACs':>7s} " + " ".join(f"{'pred ' + s:>11s} {'meas ' + s:>11s} {'error':>7s}" for s in stats)
          + f" {'spread':>6s} new")
    for label, spec in networks:
        graph = nasblocks.expand(spec)
        predictions = {stat: predict_detail(graph, args.device, stat=stat, **options) for stat in stats}
        measured = measure(compile_graph(graph), graph.input_shape, device=args.device, warmup=args.warmup,
                           repeats=args.repeats, **options)
        first = first or measured
        row = {"network": label, "gmacs": graph.macs / 1e9, "spread": measured.spread,
               "measured_now": sum(p.measured_now for p in predictions.values())}
        line = f"{label[:64]:64s} {graph.macs / 1e9:7.3f} "
        for stat, prediction in predictions.items():
            observed = getattr(measured, f"{stat}_ms")
            row[stat] = {"predicted_ms": prediction.latency_ms, "measured_ms": observed,
                         "error": prediction.latency_ms / observed - 1}
            line += f"{prediction.latency_ms:11.3f} {observed:11.3f} {100 * row[stat]['error']:+6.1f}% "
        rows.append(row)
        print(line + f"{100 * measured.spread:5.1f}% {row['measured_now']:3d}", flush=True)

    # what a prediction costs once the table holds every unit: expand + a lookup per unit
    start = time.perf_counter()
    for _, spec in networks:
        predict_detail(nasblocks.expand(spec), args.device, measure_missing=False, **options)
    lookup_ms = (time.perf_counter() - start) * 1e3 / len(networks)

    assert first is not None
    print(f"\ndevice {first.device} ({first.device_name}), {first.threads} thread(s), batch {first.batch}, "
          f"{first.dtype}, {first.memory_format}, {first.clock} clock, torch {first.torch_version}; "
          f"{len(rows)} networks; prediction from a warm table {lookup_ms:.1f} ms per network (expand included)")
    summary = {}
    for stat in stats:
        errors = [r[stat]["error"] for r in rows]
        within = sum(abs(e) <= 0.10 for e in errors) / len(errors)
        rmse_ms = math.sqrt(statistics.fmean((r[stat]["predicted_ms"] - r[stat]["measured_ms"]) ** 2 for r in rows))
        rmse_pct = 100 * math.sqrt(statistics.fmean(e * e for e in errors))
        summary[stat] = {"within_10pct": within, "rmse_ms": rmse_ms, "rmse_pct": rmse_pct}
        print(f"{stat:>6s}: within ±10 % {100 * within:.1f} %; RMSE {rmse_ms:.3f} ms ({rmse_pct:.1f} %); "
              f"mean error {100 * statistics.fmean(errors):+.1f} %; worst {100 * max(errors, key=abs):+.1f} %")
    if args.json:
        args.json.write_text(json.dumps({"device": first.to_dict(), "summary": summary, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
