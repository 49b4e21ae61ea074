"""``nasblocks viz`` (a picture of the graph) and ``nasblocks export`` (ONNX, torch.export).

    nasblocks viz specs/googlenet.yaml -o googlenet.svg              # whole graph, blocks as clusters
    nasblocks viz specs/googlenet.yaml --depth 1 -o googlenet.png    # blocks collapsed to one box
    nasblocks viz specs/mobilenet_v2.yaml --color macs -o mbv2.svg   # ops shaded by cost
    nasblocks export specs/mobilenet_v2.yaml --format onnx -o mbv2.onnx
    nasblocks export specs/mobilenet_v2.yaml -o mbv2.pt2 --dynamic-batch
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console

from nasblocks.cli_spec import InputOpt, SetOpt, SpecArg, WeightsOpt, load_spec

console = Console(stderr=True)  # what is being done, on a terminal; stdout may be the picture (-o /dev/stdout)
OutputOpt = Annotated[Path, typer.Option("--output", "-o", help="The file to write.")]


def viz(
    spec: SpecArg,
    output: OutputOpt,
    depth: Annotated[Optional[int], typer.Option("--depth", "-d", min=1, help="Collapse the blocks below this depth of the hierarchical names into one box each (1: one box per top-level item) \\[default: every op].", show_default=False)] = None,
    color: Annotated[Optional[str], typer.Option("--color", "-c", help="Shade the boxes by cost: macs (multiply-adds) or latency (predicted from the device's table).")] = None,
    device: Annotated[str, typer.Option("--device", help="The device whose latency table --color latency reads: cpu, cuda or cuda:N.")] = "cpu",
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help="svg, png, pdf or dot \\[default: the output's suffix].", show_default=False)] = None,
    set_: SetOpt = None,
    input_size: InputOpt = None,
) -> None:
    """Draw the graph IR with Graphviz's dot (networkx and matplotlib where dot is missing):
    hierarchical names as nested clusters, each op with its arguments, output shape and cost,
    edges labelled with tensor shapes."""
    from nasblocks._expand import expand
    from nasblocks._viz import DOT_MISSING, draw

    graph = expand(load_spec(spec, set_, input_size))
    measuring = f" (units missing from the {device} latency table are measured now)" if color == "latency" else ""
    with console.status(f"drawing {graph.name}{measuring}"):  # seconds to minutes
        pic, drawer = draw(graph, output, fmt, depth, color, device)
    if drawer == "matplotlib":
        print(f"note: {DOT_MISSING}", file=sys.stderr)
    framed = f", {len(pic.clusters)} cluster{'s' * (len(pic.clusters) != 1)}" if drawer == "dot" else ""
    _wrote(output, f"{len(pic.boxes)} boxes{framed}")


def export(
    spec: SpecArg,
    output: OutputOpt,
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help="onnx or pt2 (torch.export) \\[default: the output's suffix].", show_default=False)] = None,
    dynamic_batch: Annotated[bool, typer.Option("--dynamic-batch", help="A symbolic batch dimension instead of batch 1.")] = False,
    set_: SetOpt = None,
    input_size: InputOpt = None,
    weights: WeightsOpt = None,
) -> None:
    """Export the compiled network, in eval mode, as ONNX or torch.export's .pt2, freshly
    initialised or with --weights (ONNX needs pip install 'nasblocks\\[export]')."""
    from rich.filesize import decimal

    from nasblocks._expand import expand
    from nasblocks._export import FORMATS
    from nasblocks._export import export as export_module
    from nasblocks._output import format_of
    from nasblocks._shape import fmt_shape
    from nasblocks._weights import compiled

    fmt = format_of(output, fmt, FORMATS)  # before the module is built
    graph = expand(load_spec(spec, set_, input_size))
    written = export_module(compiled(graph, weights), graph.input_shape, output, fmt, dynamic_batch=dynamic_batch)
    batch = "batch" if dynamic_batch else "1"
    size = f", {decimal(output.stat().st_size)}" if output.is_file() else ""  # a pipe's is 0
    _wrote(output, f"{written}, input {batch}×{fmt_shape(graph.input_shape)}{size}")


def _wrote(output: Path, what: str) -> None:
    """Say what was written: on stderr where it was written to stdout (``-o /dev/stdout | dot
    -Tsvg``), so that the line does not end up in the file."""
    try:
        to_stdout = os.path.samestat(os.stat(output), os.fstat(sys.stdout.fileno()))
    except (OSError, ValueError):
        to_stdout = False
    print(f"wrote {output}: {what}", file=sys.stderr if to_stdout else sys.stdout)
