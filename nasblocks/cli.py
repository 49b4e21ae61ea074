"""The ``nasblocks`` command line.

Every error about the user's input (a bad spec, an unknown op, an impossible budget, a missing
dataset) is one line on stderr naming file, line and place, and exit status 2; set
``NASBLOCKS_DEBUG=1`` for the traceback. Only nasblocks' own errors are caught: a bug still
shows as a bug.
"""

from __future__ import annotations

import inspect
import json
import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from nasblocks._console import make_console
from nasblocks._shape import fmt_shape
from nasblocks.errors import NasblocksError
from nasblocks.cli_latency import latency_app
from nasblocks.cli_spec import InputOpt, SetOpt, SpecArg, WeightsOpt, json_head, spec_and_graph
from nasblocks.cli_search import search, space_app, study_app
from nasblocks.cli_viz import export, viz

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False, add_completion=False,
                  context_settings={"help_option_names": ["-h", "--help"]},  # every command inherits it
                  help="Compose, price, compile and search convolutional networks declared in YAML.")
app.add_typer(latency_app, name="latency")
app.command()(search)
app.add_typer(study_app, name="study")
app.add_typer(space_app, name="space")
app.command()(viz)
app.command()(export)
console = make_console()


def _print_version(asked: bool) -> None:
    if asked:
        import platform
        from importlib.metadata import version

        from nasblocks import __version__

        print(f"nasblocks {__version__} (torch {version('torch')}, torchvision {version('torchvision')}, "
              f"Python {platform.python_version()})")
        raise typer.Exit()


@app.callback()
def _top_level(version: Annotated[bool, typer.Option(
        "--version", callback=_print_version, is_eager=True,
        help="Print the versions of nasblocks, torch, torchvision and Python, then exit.")] = False) -> None:
    """The options before any command (the app's help text is given to typer.Typer above)."""


@app.command()
def build(
    spec: SpecArg,
    set_: SetOpt = None,
    input_size: InputOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object instead of a table.")] = False,
    graph: Annotated[bool, typer.Option("--graph", help="Print the graph IR, one line per op.")] = False,
    summary: Annotated[bool, typer.Option("--summary", help="Print one row per module down to --depth, as torchinfo does.")] = False,
    depth: Annotated[Optional[int], typer.Option("--depth", "-d", min=1, help="How deep --summary goes into the hierarchical names \\[default: 3].", show_default=False)] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Save the compiled module (torch.save).")] = None,
    weights: WeightsOpt = None,
) -> None:
    """Expand a spec, print its blocks with shapes, parameters and multiply-adds, and compile it
    (with --weights loaded, checked against the network, and saved with -o)."""
    from nasblocks._output import check_writable, write_saved
    from nasblocks._weights import compiled

    views = [flag for flag, asked in (("--json", as_json), ("--graph", graph), ("--summary", summary)) if asked]
    if len(views) > 1:
        raise NasblocksError(f"give one of {' or '.join(views)}: each prints the network its own way")
    if depth is not None and not summary:
        raise NasblocksError("--depth sets how deep --summary goes: give --summary too")
    loaded, ir = spec_and_graph(spec, set_, input_size)
    if output is not None:
        import torch

        check_writable(output)  # before the module is built
        module = compiled(ir, weights)
        write_saved(output, lambda file: torch.save(module, file))
    elif weights is not None:
        compiled(ir, weights)  # they fit the network, or one error says where not
    if as_json:
        print(json.dumps({
            **json_head(loaded, ir), "output": list(ir.output_shape), "params": ir.params, "macs": ir.macs, "flops": 2 * ir.macs,
            "ops": len(ir), "weights": str(weights) if weights else None, "saved": str(output) if output else None,
        }, default=str))
        return
    if graph:
        console.print(str(ir), markup=False, highlight=False, soft_wrap=True)
        return
    if summary:
        from nasblocks._summary import summary_table

        console.print(summary_table(ir, depth or 3, f"{loaded.name}  ({loaded.file})"))
        return
    replaced = f" from --input; the spec's {fmt_shape(loaded.input)}" if input_size else ""
    table = Table(title=f"{loaded.name}  ({loaded.file}, input {fmt_shape(ir.input_shape)}{replaced})")
    table.add_column("block")
    table.add_column("output", justify="right")
    table.add_column("params", justify="right")
    table.add_column("MACs (multiply-adds)", justify="right")
    for name, shape, params, macs in ir.blocks():
        table.add_row(name, fmt_shape(shape), f"{params:,}", f"{macs:,}")
    table.add_section()
    table.add_row("total", fmt_shape(ir.output_shape), f"{ir.params:,}", f"{ir.macs:,}", style="bold")
    console.print(table)
    console.print(f"{ir.macs / 1e6:,.1f} M multiply-adds (= {2 * ir.macs / 1e6:,.1f} M FLOPs counting "
                  f"multiply and add separately), {ir.params / 1e6:.3f} M parameters, {len(ir)} ops")
    if weights is not None:
        console.print(f"loaded the weights of {weights}: every tensor fits")
    if output is not None:
        console.print(f"saved the compiled module to {output}")


@app.command()
def zoo(
    match: Annotated[Optional[str], typer.Argument(help="Only names containing this text.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print a JSON list instead of a table.")] = False,
) -> None:
    """List every named network: input, parameters, multiply-adds and blocks used (--json adds its spec file and reference)."""
    from nasblocks import expand
    from nasblocks._spec import load, suggest, zoo_names

    names = [name for name in sorted(zoo_names()) if not match or match in name]
    if not names:
        raise NasblocksError(f"no zoo network's name contains {match!r}{suggest(match, zoo_names())}")
    rows = []
    for name in names:
        spec = load(name)
        graph = expand(spec)
        rows.append({"name": name, "spec": spec.file, "reference": spec.document.get("reference", ""),
                     "input": list(spec.input), "params": graph.params, "macs": graph.macs,
                     "blocks": sorted(set(graph.block_calls))})
    if as_json:
        print(json.dumps(rows))
        return
    count = f"{len(rows)} network{'s' * (len(rows) != 1)}"
    table = Table(title=f"the zoo: {count} (costs per image at the input size shown)")
    for column, justify in (("name", "left"), ("input", "right"), ("params", "right"),
                            ("MACs (multiply-adds)", "right"), ("blocks used", "left")):
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for row in rows:
        table.add_row(row["name"], fmt_shape(tuple(row["input"])), f"{row['params']:,}",
                      f"{row['macs']:,}", ", ".join(row["blocks"]))
    console.print(table)


@app.command()
def ops() -> None:
    """List the primitive ops of the registry with their arguments."""
    from nasblocks._op_args import REQUIRED
    from nasblocks._ops import REGISTRY

    table = Table(title="primitive ops")
    table.add_column("op")
    table.add_column("arguments (default)")
    table.add_column("what it is")
    for name in sorted(REGISTRY):
        op = REGISTRY[name]
        args = ", ".join(k if p.default is REQUIRED else f"{k}={p.default}" for k, p in op.params.items())
        table.add_row(name, args, op.doc)
    console.print(table)


def _join_docstring_lines(group: typer.Typer) -> None:
    """Give every command its docstring with each paragraph on one line: typer's rich help keeps
    a docstring's line breaks, so text wrapped for the source came out wrapped twice."""
    for command in group.registered_commands:
        if text := command.help or inspect.getdoc(command.callback):
            command.help = "\n\n".join(" ".join(paragraph.split("\n")) for paragraph in text.split("\n\n"))
    for subgroup in group.registered_groups:
        _join_docstring_lines(subgroup.typer_instance)


def main() -> None:
    """Entry point: run the app, turning nasblocks' errors and click's usage errors (an unknown
    option, a missing argument) into one line and exit status 2."""
    _join_docstring_lines(app)
    try:
        code = app(prog_name="nasblocks", standalone_mode=False)
    except typer.TyperException as err:
        if type(err).__name__ == "NoArgsIsHelpError":  # typer has printed the help (typer's own test)
            sys.exit(2)
        context = getattr(err, "ctx", None)
        hint = f" (try '{context.command_path} --help')" if context is not None else ""
        message = " ".join(err.format_message().split())
        print(f"error: {message}{hint}", file=sys.stderr)
        sys.exit(err.exit_code)
    except NasblocksError as err:
        if os.environ.get("NASBLOCKS_DEBUG"):
            raise
        print(f"error: {err}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:  # before typer ran the command
        code = 130
    if code == 130:  # typer's status for a Ctrl-C in a command (search says more and exits by itself)
        print("interrupted", file=sys.stderr)
    sys.exit(code)  # what typer.Exit asked for; None (0) otherwise
