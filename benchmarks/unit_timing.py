"""Ways of timing a unit for the CPU latency table, compared side by side on the same networks.

    .venv/bin/python benchmarks/unit_timing.py --threads 1 --clock cpu --random 10 --max-gmacs 1

A unit of the table is timed on CPU after a :class:`~nasblocks._latency.LayerContext`: a few
other layers and a sweep over a share of the last-level cache, standing for the rest of the
network. How large that sweep should be depends on the machine (a busy virtual machine's cache
is emptied by its neighbours; a quiet server's is not), so this script measures it: for each
--sweeps share it fills a table of its own (under $NASBLOCKS_CACHE/unit-timing/), predicts every
network from it, and compares with the network measured once, in the same process.

It also checks a per-device calibration, ``measured ≈ a · predicted + b · units``, fitted by least
squares on every other network and judged on the rest (networks it was not fitted on).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import torch  # noqa: E402
from _networks import accuracy, accuracy_line, add_network_arguments, add_setting_arguments, networks  # noqa: E402

import nasblocks  # noqa: E402
from nasblocks import _latency, _latency_table  # noqa: E402
from nasblocks._compile import compile_graph  # noqa: E402


def calibrated(rows: list[dict], method: str) -> tuple[tuple[float, float], dict[str, float]]:
    """Fit measured ≈ a·predicted + b·units on the even rows; its accuracy on the odd rows."""
    fit, held = rows[::2], rows[1::2]
    design = torch.tensor([[r[method], r["units"]] for r in fit], dtype=torch.float64)
    target = torch.tensor([[r["measured_ms"]] for r in fit], dtype=torch.float64)
    a, b = torch.linalg.lstsq(design, target).solution.flatten().tolist()
    return (a, b), accuracy([a * r[method] + b * r["units"] for r in held], [r["measured_ms"] for r in held])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_setting_arguments(parser)
    add_network_arguments(parser, random_default=10)
    parser.add_argument("--sweeps", default="0,0.0625,0.25", help="shares of the last-level cache swept")
    parser.add_argument("--stat", default="min", choices=("median", "min"))
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--json", type=Path, help="also write every row to this file")
    args = parser.parse_args()

    options = {"batch": args.batch, "threads": args.threads, "dtype": args.dtype,
               "channels_last": args.channels_last, "clock": args.clock}
    folder = _latency_table.cache_dir().parent / "unit-timing"
    methods = {f"sweep {float(share):g}": float(share) for share in args.sweeps.split(",")}
    tables = {name: _latency_table.LatencyTable.open(args.device, folder / f"{name.replace(' ', '-')}.json")
              for name in methods}
    print(f"last-level cache {_latency.last_level_cache_bytes() >> 20} MiB; methods: {', '.join(methods)}")
    rows = []
    for label, spec in networks(args):
        graph = nasblocks.expand(spec)
        measured = _latency.measure(compile_graph(graph), graph.input_shape, device=args.device,
                                    repeats=args.repeats, **options)
        row = {"network": label, "units": len(_latency_table.units(graph)),
               "measured_ms": getattr(measured, f"{args.stat}_ms")}
        for name, share in methods.items():
            _latency.LayerContext.SWEEP_SHARE = share
            row[name] = _latency_table.predict(graph, args.device, stat=args.stat, table=tables[name], **options)
        rows.append(row)
        print(f"{label[:60]:60s} {row['measured_ms']:9.3f} ms " +
              " ".join(f"{100 * (row[name] / row['measured_ms'] - 1):+6.1f}%" for name in methods), flush=True)

    print(f"\n{measured.device} ({measured.device_name}), {measured.threads} thread(s), batch {measured.batch}, "
          f"{measured.clock} clock, torch {measured.torch_version}; {len(rows)} networks; statistic {args.stat}")
    summary = {}
    for name in methods:
        (a, b), held_out = calibrated(rows, name)
        summary[name] = {"raw": accuracy([r[name] for r in rows], [r["measured_ms"] for r in rows]),
                         "calibration": [a, b], "calibrated_held_out": held_out}
        print(f"{name:>12s}: {accuracy_line(summary[name]['raw'])}")
        print(f"{'':>12s}  calibrated (a={a:.3f}, b={1e3 * b:.1f} µs/unit), held-out half: {accuracy_line(held_out)}")
    if args.json:
        args.json.write_text(json.dumps({"summary": summary, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
