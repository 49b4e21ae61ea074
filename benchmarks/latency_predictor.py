"""How close the table's prediction comes to the measured latency, on at least 50 networks.

    .venv/bin/python benchmarks/latency_predictor.py --device cpu --threads 1 --clock cpu
    .venv/bin/python benchmarks/latency_predictor.py --device cuda --batch 64 --dtype fp16

Networks: every distinct zoo network (at a smaller input where it exceeds --max-gmacs) and
--random variants of the zoo (MobileNetV2 with new stage tables, widths and resolutions; other zoo
networks at other widths and resolutions). For each: predict from the device's table (units
missing from it are measured now), then measure the compiled network (warm-up, --repeats).
Prints one row per network, then for the device and each statistic (median, and min, which a
busy machine disturbs least): the share predicted within ±10 % of measured, the RMSE (ms and
%), the mean and worst error, and the cost of a prediction from a warm table — for every
network, and for those that did not run (predicted wholly from what other networks measured;
--depth-variants makes many such networks, as a depth search does). A network runs when the
table lacks some of its units ("new": how many) or holds a unit timed in fewer than 3 runs, the
latest 10 s old ("r" after "new": it ran). Its units are then timed inside it, so the first
figure flatters networks that ran; the second is the predictor's test.
The goal (issue 5) is >= 95 % within ±10 %. Record results in benchmarks/RESULTS.md.

--remeasure N measures every network N more times once all are done and prints how often the
second measurement agrees with the first within ±10 % (the machine's agreement with itself: on a
shared machine the table is filled at one moment and a network measured at another), and the
predictions against the median of all measurements, a steadier figure than any one of them.

--json rows also hold what each probed run of a network charged its readings of the clock, and
the fastest and median forwards with and without readings it was charged from ("probed").

Nothing here is device-specific: the device, batch, dtype, threads and clock are options, and
each device keeps its own table (``nasblocks latency profile --device ...``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import nasblocks  # noqa: E402
from _networks import (accuracy, accuracy_line, add_network_arguments, add_setting_arguments,  # noqa: E402
                       networks, run_main)
from nasblocks import _latency_probe  # noqa: E402
from nasblocks._compile import compile_graph  # noqa: E402
from nasblocks._latency import Measurement, measure, setting  # noqa: E402
from nasblocks._latency_table import predict_detail  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_setting_arguments(parser)
    parser.add_argument("--stats", default="median,min",
                        help="statistics compared, each of prediction and measurement (median, p10, min); "
                             "min resists a busy machine best")
    add_network_arguments(parser)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--remeasure", type=int, default=0, metavar="N",
                        help="measure every network N more times at the end: how far the machine agrees with "
                             "itself, and a steadier figure to predict")
    parser.add_argument("--json", type=Path, help="also write every row to this file")
    args = parser.parse_args()

    run = setting(args.device, batch=args.batch, threads=args.threads, dtype=args.dtype,
                  channels_last=args.channels_last, clock=args.clock)
    options = {"batch": run.batch, "threads": run.threads, "dtype": run.dtype,
               "channels_last": run.channels_last, "clock": run.clock}
    chosen = networks(args)
    if not chosen:
        parser.error("no network to run: --only names none that fits --max-gmacs, and --random and "
                     "--depth-variants are 0")

    def measure_network(graph: nasblocks.Graph) -> Measurement:
        return measure(compile_graph(graph), graph.input_shape, device=args.device, warmup=args.warmup,
                       repeats=args.repeats, **options)

    stats = args.stats.split(",")
    rows = []
    probed = _record_reading_charges()
    first = None
    print(f"{'network':64s} {'GMACs':>7s} " + " ".join(f"{'pred ' + s:>11s} {'meas ' + s:>11s} {'error':>7s}" for s in stats)
          + f" {'spread':>6s} new")
    for label, spec in chosen:
        graph = nasblocks.expand(spec)
        probed.clear()
        predictions = {stat: predict_detail(graph, args.device, stat=stat, **options) for stat in stats}
        measured = measure_network(graph)
        first = first or measured
        row = {"network": label, "gmacs": graph.macs / 1e9, "spread": measured.spread,
               "units": len(predictions[stats[0]].units),
               "measured_now": sum(p.measured_now for p in predictions.values()),
               "ran": any(p.ran for p in predictions.values()), "probed": list(probed)}
        line = f"{label[:64]:64s} {graph.macs / 1e9:7.3f} "
        for stat, prediction in predictions.items():
            observed = getattr(measured, f"{stat}_ms")
            row[stat] = {"predicted_ms": prediction.latency_ms, "measured_ms": observed,
                         "error": prediction.latency_ms / observed - 1,
                         "gpu_ms": prediction.gpu_ms, "host_ms": prediction.host_ms}
            line += f"{prediction.latency_ms:11.3f} {observed:11.3f} {100 * row[stat]['error']:+6.1f}% "
        rows.append(row)
        first_stat = predictions[stats[0]]
        sides = f" gpu {first_stat.gpu_ms:8.3f} host {first_stat.host_ms:8.3f}" if first_stat.gpu_ms is not None else ""
        print(line + f"{100 * measured.spread:5.1f}% {row['measured_now']:3d}{'r' if row['ran'] else ' '}{sides}",
              flush=True)
        if args.json:  # row by row, so that a run stopped by a time limit keeps what it measured
            args.json.write_text(json.dumps({"device": first.to_dict(), "rows": rows}, indent=1))

    # what a prediction costs once the table holds every unit: expand + a lookup per unit
    start = time.perf_counter()
    for _, spec in chosen:
        predict_detail(nasblocks.expand(spec), args.device, measure_missing=False, **options)
    lookup_ms = (time.perf_counter() - start) * 1e3 / len(chosen)

    assert first is not None
    print(f"\ndevice {first.device} ({first.device_name}), {first.threads} thread(s), batch {first.batch}, "
          f"{first.dtype}, {first.memory_format}, {first.clock} clock, torch {first.torch_version}; "
          f"{len(rows)} networks; prediction from a warm table {lookup_ms:.1f} ms per network (expand included)")
    summary: dict[str, dict[str, float]] = {}

    def report(name: str, label: str, figures: list[float], reference: list[float]) -> None:
        summary[name] = accuracy(figures, reference)
        print(f"{label}{accuracy_line(summary[name])}")

    def column(chosen_rows: list[dict[str, Any]], stat: str, key: str = "predicted_ms") -> list[float]:
        return [r[stat][key] for r in chosen_rows]

    # networks that did not run: predicted from what other networks measured, nothing of their own
    transferred = [r for r in rows if not r["ran"]]
    for stat in stats:
        report(stat, f"{stat:>6s}: ", column(rows, stat), column(rows, stat, "measured_ms"))
        if transferred:
            report(stat + "_from_other_networks", f"{'':>6s}  the {len(transferred)} networks wholly predicted "
                   "from units other networks measured: ", column(transferred, stat),
                   column(transferred, stat, "measured_ms"))
    for _ in range(args.remeasure):  # the same networks, measured again minutes later
        for row, (_, spec) in zip(rows, chosen):
            again = measure_network(nasblocks.expand(spec))
            for stat in stats:
                row[stat].setdefault("remeasured_ms", []).append(getattr(again, f"{stat}_ms"))
    for stat in stats if args.remeasure else ():
        report(stat + "_remeasured", f"{stat:>6s}: measured again against measured first: ",
               [r[stat]["remeasured_ms"][0] for r in rows], column(rows, stat, "measured_ms"))
        for name, chosen_rows in (("", rows), ("_from_other_networks", transferred)):
            if chosen_rows:  # the median of every measurement: a steadier figure than any one of them
                report(stat + "_against_all" + name, f"{'':>6s}  predicted against the median of the "
                       f"{1 + args.remeasure} measurements, {len(chosen_rows)} networks: ", column(chosen_rows, stat),
                       [statistics.median([r[stat]["measured_ms"], *r[stat]["remeasured_ms"]]) for r in chosen_rows])
    if args.json:
        args.json.write_text(json.dumps({"device": first.to_dict(), "summary": summary, "rows": rows}, indent=1))


def _record_reading_charges() -> list[dict[str, float]]:
    """What each probed run of a network charged its readings, and from what (its forwards with
    and without readings): in the JSON rows, so that a prediction's host side can be studied
    after a run on a machine that is gone."""
    probed: list[dict[str, float]] = []
    charge = _latency_probe._host_reading_cost

    def recording(totals: list[float], paces: list[float], readings: int, floor: float) -> float:
        charged = charge(totals, paces, readings, floor)
        probed.append({"min_total_ms": min(totals), "median_total_ms": statistics.median(totals),
                       "min_pace_ms": min(paces), "median_pace_ms": statistics.median(paces),
                       "readings": readings, "floor_ms": floor, "charge_ms": charged})
        return charged

    _latency_probe._host_reading_cost = recording
    return probed


if __name__ == "__main__":
    run_main(main)
