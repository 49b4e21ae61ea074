"""The arguments every command that takes a spec shares: the spec (a file or a zoo name), its
``--set`` vars and its ``--input`` size; and ``--weights``, for the commands that build it."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
import yaml

from nasblocks.errors import SpecError

if TYPE_CHECKING:
    from nasblocks._graph import Graph
    from nasblocks._spec import Spec

SpecArg = Annotated[str, typer.Argument(help="A spec file (specs/mobilenet_v2.yaml) or a zoo name (resnet50).")]
SetOpt = Annotated[Optional[list[str]], typer.Option("--set", "-s", metavar="NAME=VALUE",
                                                     help="Set a var: NAME=VALUE (repeatable).")]
InputOpt = Annotated[Optional[str], typer.Option("--input", "-i", metavar="CxHxW",
                                                 help="Input size CxHxW, e.g. 3x160x160.")]
WeightsOpt = Annotated[Optional[Path], typer.Option(
    "--weights", "-w", metavar="FILE", help="Load these weights: a state_dict saved with torch.save, a "
    "checkpoint holding one, or .safetensors (torchvision's and timm's files load as they are).")]


def parse_sets(pairs: list[str]) -> dict[str, Any]:
    """``--set width=0.75`` pairs as typed values (YAML scalars: 0.75, 10, true, relu)."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key.strip():
            raise SpecError(f"--set {pair!r}: expected NAME=VALUE, e.g. --set width=0.75")
        try:
            values[key.strip()] = yaml.safe_load(raw)
        except yaml.YAMLError:
            raise SpecError(f"--set {pair!r}: cannot read the value {raw!r}") from None
    return values


def parse_input(text: str | None) -> tuple[int, int, int] | None:
    """``--input 3x160x160`` as (C, H, W)."""
    if text is None:
        return None
    parts = text.lower().replace("×", "x").split("x")
    if len(parts) != 3 or not all(p.isdigit() and int(p) > 0 for p in parts):
        raise SpecError(f"--input {text!r}: expected CxHxW with positive integers, e.g. 3x224x224")
    return int(parts[0]), int(parts[1]), int(parts[2])


def load_spec(source: str, sets: list[str] | None, input_size: str | None) -> Spec:
    """The spec a command names, with its ``--set`` vars and ``--input`` size."""
    from nasblocks._spec import load

    return load(source, input=parse_input(input_size), **parse_sets(sets or []))


def spec_and_graph(source: str, sets: list[str] | None, input_size: str | None) -> tuple[Spec, Graph]:
    """The spec as its file and ``--set`` give it (at its own input size), and its graph at
    ``--input`` where given."""
    from nasblocks._expand import expand

    loaded = load_spec(source, sets, None)
    return loaded, expand(loaded.with_input(parse_input(input_size)) if input_size else loaded)


def json_head(loaded: Spec, graph: Graph) -> dict[str, Any]:
    """What a command's ``--json`` says of the network first: name, file, vars as bound, the input
    its figures are at, and the spec's own input (``--input`` replaces it, not the vars)."""
    return {"name": loaded.name, "file": loaded.file, "vars": loaded.vars, "input": list(graph.input_shape),
            "spec_input": list(loaded.input)}
