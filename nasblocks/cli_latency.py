"""``nasblocks latency``: measure a network's latency, predict it from the device's table, fill
the table.

    nasblocks latency specs/mobilenet_v2.yaml                      # CPU: median, spread, threads
    nasblocks latency specs/mobilenet_v2.yaml --device cuda --batch 64 --dtype fp16
    nasblocks latency profile --device cpu                          # fill the table from the zoo
    nasblocks latency specs/mobilenet_v2.yaml --predict             # predicted, measured beside it
    nasblocks latency mobilenet_v2 --predict --json                 # machine-readable

``nasblocks latency SPEC`` is ``nasblocks latency measure SPEC``: a spec is taken for the
``measure`` command whenever the first word is not a command name.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Annotated, Any, Optional

import typer
from typer.core import TyperGroup

from nasblocks._console import make_console
from nasblocks._shape import fmt_shape
from nasblocks.cli_spec import InputOpt, SetOpt, SpecArg, json_head, load_spec, spec_and_graph

console = make_console()


class _SpecOrCommand(TyperGroup):
    """A group whose first word is a command (``profile``) or else a spec for ``measure``."""

    default_command = "measure"

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)


latency_app = typer.Typer(
    cls=_SpecOrCommand, no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
    help="Latency: measured on CPU or GPU, predicted from a per-device table of measured units.\n\n"
         "nasblocks latency SPEC is short for nasblocks latency measure SPEC: "
         "nasblocks latency specs/mobilenet_v2.yaml --predict shows the prediction beside the measurement.")

DeviceOpt = Annotated[str, typer.Option("--device", "-d", help="cpu, cuda or cuda:N.")]
BatchOpt = Annotated[int, typer.Option("--batch", "-b", help="Images per forward.")]
ThreadsOpt = Annotated[Optional[int], typer.Option("--threads", "-t", help="CPU threads (default: torch's).")]
DtypeOpt = Annotated[str, typer.Option(
    "--dtype", help="fp32, or fp16/bf16 under torch.autocast (on CPU prefer bf16: fp16 has no fast CPU "
                    "kernels, and MobileNetV2 runs 17× slower in it than in fp32 on an AMD EPYC).")]
ChannelsLastOpt = Annotated[bool, typer.Option("--channels-last", help="Run in channels_last memory format.")]
ClockOpt = Annotated[str, typer.Option(
    "--clock", help="wall, or cpu: the thread's CPU time (1 CPU thread; steady on a shared machine).")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON object instead of text.")]


def _settings(device: str, batch: int, threads: int | None, dtype: str, channels_last: bool,
              clock: str) -> dict[str, Any]:
    """The options as keyword arguments, checked now (a bad one fails before any work), the
    thread count made explicit (torch's, unless given)."""
    from nasblocks._latency import setting

    return asdict(setting(device, batch=batch, threads=threads, dtype=dtype, channels_last=channels_last,
                          clock=clock))


@latency_app.command()
def measure(
    spec: SpecArg,
    set_: SetOpt = None,
    input_size: InputOpt = None,
    device: DeviceOpt = "cpu",
    batch: BatchOpt = 1,
    threads: ThreadsOpt = None,
    dtype: DtypeOpt = "fp32",
    channels_last: ChannelsLastOpt = False,
    clock: ClockOpt = "wall",
    warmup: Annotated[int, typer.Option(min=0, help="Untimed calls first.")] = 10,
    repeats: Annotated[int, typer.Option(min=1, help="Timed repeats (the median is reported).")] = 50,
    predict: Annotated[bool, typer.Option("--predict", help="Also predict it from the device's table.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Measure a network's latency (median and spread of many timed repeats after warm-up)."""
    from nasblocks._compile import compile_graph
    from nasblocks._latency import measure as measure_module

    options = _settings(device, batch, threads, dtype, channels_last, clock)
    loaded, graph = spec_and_graph(spec, set_, input_size)
    prediction = None
    if predict:  # first, so that units measured now do not run while the network is timed
        from nasblocks._latency_table import predict_detail

        with console.status("predicting (units missing from the table are measured now)"):
            prediction = predict_detail(graph, **options)
    with console.status(f"measuring {loaded.name}"):
        measured = measure_module(compile_graph(graph), graph.input_shape, warmup=warmup,
                                  repeats=repeats, **options)
    if as_json:
        report: dict[str, Any] = {**json_head(loaded, graph), "measured": measured.to_dict()}
        if prediction is not None:
            report["predicted"] = {**prediction.to_dict(),
                                   "error": prediction.latency_ms / measured.median_ms - 1}
        print(json.dumps(report, default=str))
        return
    _say(f"{loaded.name} ({loaded.file}), input {fmt_shape(graph.input_shape)}")
    _say(f"  measured   {measured.median_ms:9.3f} ms  median of {measured.repeats} "
         f"(p10 {measured.p10_ms:.3f}, p90 {measured.p90_ms:.3f}; spread {100 * measured.spread:.1f} %)")
    if prediction is not None:
        error = prediction.latency_ms / measured.median_ms - 1
        sides = (f" (GPU {prediction.gpu_ms:.3f} ms, host {prediction.host_ms:.3f} ms)"
                 if prediction.gpu_ms is not None and prediction.host_ms is not None else "")
        _say(f"  predicted  {prediction.latency_ms:9.3f} ms  {100 * error:+.1f} % vs measured{sides}; "
             f"{len(prediction.units)} units, {prediction.measured_now} measured now")
    threads = f"{measured.threads} thread{'s' * (measured.threads != 1)}, " if measured.device == "cpu" else ""
    _say(f"  on {measured.device} ({measured.device_name}), {threads}batch {measured.batch}, "
         f"{measured.dtype}, {measured.memory_format}, {measured.clock} clock, torch {measured.torch_version}")
    if prediction is not None:
        _say(f"  table {prediction.table}")


@latency_app.command()
def profile(
    specs: Annotated[Optional[list[str]], typer.Argument(
        help="Specs or zoo names whose units to measure (default: every zoo network).")] = None,
    set_: SetOpt = None,
    input_size: InputOpt = None,
    device: DeviceOpt = "cpu",
    batch: BatchOpt = 1,
    threads: ThreadsOpt = None,
    dtype: DtypeOpt = "fp32",
    channels_last: ChannelsLastOpt = False,
    clock: ClockOpt = "wall",
    as_json: JsonOpt = False,
) -> None:
    """Fill the device's latency table: measure the units it lacks, of every zoo network or the
    given ones (each at --input and with --set, where given: the size and vars a search will use)."""
    from nasblocks._expand import expand
    from nasblocks._latency_table import predict_detail, table_for
    from nasblocks._spec import zoo_names

    options = _settings(device, batch, threads, dtype, channels_last, clock)
    names = specs or sorted(zoo_names())
    graphs = [expand(load_spec(name, set_, input_size)) for name in names]  # one that fails, before any work
    measured = 0
    rows = []
    with console.status("profiling") as status:
        for done, (name, graph) in enumerate(zip(names, graphs)):
            status.update(f"profiling {name} ({done + 1} of {len(names)})")
            prediction = predict_detail(graph, **options)
            measured += prediction.measured_now
            rows.append({"name": name, "units": len(prediction.units), "measured_now": prediction.measured_now,
                         "predicted_ms": prediction.latency_ms})
            if not as_json:
                _say(f"  {name:32s} {len(prediction.units):4d} units, {prediction.measured_now:4d} "
                     f"measured now, predicted {prediction.latency_ms:9.3f} ms")
    table = table_for(options["device"])
    if as_json:
        print(json.dumps({"table": str(table.path), "device": table.device, "setting": options,
                          "entries": len(table.entries), "measured_now": measured, "networks": rows}))
        return
    _say(f"{measured} units measured now; {len(table.entries)} entries in {table.path}")


def _say(text: str) -> None:
    console.print(text, markup=False, highlight=False, soft_wrap=True)
