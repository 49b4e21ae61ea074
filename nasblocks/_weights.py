"""Weights from a file on disk, loaded into a compiled network.

The zoo's names give a compiled module the reference's ``state_dict`` keys, so a torchvision or
timm checkpoint the user already has loads as it is, with ``strict=True`` and no mapping. What
this module adds is reading the common file shapes (a bare ``state_dict``, a training checkpoint
that holds one, DataParallel's ``module.`` prefix, safetensors) safely (``weights_only``), and
saying in one line why a file does not fit: which keys are missing or extra, which shapes differ.

A search starts its trials from such a file (``Pretrained``) as far as they fit it: ``_inherit``.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import torch
from torch import nn

from nasblocks._compile import compile_graph
from nasblocks.errors import WeightsError

if TYPE_CHECKING:
    from torch.fx import GraphModule

    from nasblocks._graph import Graph

# where training scripts keep the model's state_dict inside a checkpoint (timm's train.py,
# torchvision's references, Lightning-style loops)
CHECKPOINT_KEYS = ("state_dict", "model", "model_state_dict", "net")
_SHOWN = 3  # keys named in a message before "and N more"
# how a file that does not fit is made to: build's --set sets the vars, or from Python load's keywords
VARS_REMEDY = "the spec's vars, --set num_classes=... or width=..., must give the network the file was saved from"
API_VARS_REMEDY = ("the spec's vars, nasblocks.load(..., num_classes=...) or spec.with_vars(width=...), must give "
                   "the network the file was saved from")

Weights = str | os.PathLike[str] | Mapping[str, torch.Tensor]


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The tensors of a weights file: a ``state_dict`` saved with ``torch.save``, a checkpoint
    holding one under one of CHECKPOINT_KEYS, or a ``.safetensors`` file. Read with
    ``weights_only``: a file cannot run code."""
    with _opened(path) as file:
        return _tensors(file, Path(path))


def _opened(path: str | os.PathLike[str]) -> BinaryIO:
    """The weights file at ``path``, open for reading (a search hashes it and reads its tensors
    from the one handle), or one line saying why it cannot be."""
    if not os.fspath(path).strip():  # an unset variable in --weights "$WEIGHTS"; Path("") is "."
        raise WeightsError("--weights: expected a weights file, got an empty path")
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"{path}: no such file" if not path.exists() else f"{path}: not a file")
    if path.suffix.lower() in (".yaml", ".yml"):  # the spec beside the weights, given in their place
        raise WeightsError(f"{path}: a spec, not a weights file; give the weights saved with it (study retrain "
                           "-o best.pt writes best.pt, and its spec as best.yaml)")
    try:  # torch would call a file it may not read no weights file, safetensors a missing one
        return path.open("rb")
    except OSError as err:
        raise WeightsError(f"{path}: cannot be read ({err.strerror or err})") from None


def _tensors(file: BinaryIO, path: Path) -> dict[str, torch.Tensor]:
    """The state_dict in ``file``, the open weights file ``path``."""
    if path.suffix == ".safetensors":
        return _read_safetensors(path)  # mapped from disk by safetensors, not read into bytes first
    try:
        loaded = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as err:  # noqa: BLE001 -- pickle, zip and torch errors alike: the file is unreadable
        raise WeightsError(f"{path}: {_unreadable(str(err))}; save weights with "
                           "torch.save(model.state_dict(), path)") from None
    return _unwrapped(loaded, path)


def _unreadable(message: str) -> str:
    """Why torch.load refused a file, in a clause: torch's own message is a page long."""
    pickled = re.search(r"Unsupported global: GLOBAL ([\w.]+)", message)
    if pickled:
        return (f"holds a pickled {pickled[1]} (a whole module?), not only tensors, and loading it "
                "would run its code")
    detail = re.search(r"WeightsUnpickler error:\s*(.+)", message)
    lines = message.strip().splitlines()
    return f"not a PyTorch weights file ({detail[1] if detail else (lines[0] if lines else 'unreadable')})"


def write_state_dict(path: Path, state: Mapping[str, torch.Tensor]) -> None:
    """Write ``state`` (on the CPU) to ``path``, whole or not at all, in the form its suffix
    names: ``.safetensors``, else ``torch.save``'s — the forms :func:`read_state_dict` reads.
    Check a ``.safetensors`` path with :func:`check_writable_weights` before the work that makes
    the tensors."""
    from nasblocks._output import write_bytes, write_saved

    tensors = {key: tensor.detach().cpu().contiguous() for key, tensor in state.items()}
    if path.suffix == ".safetensors":
        write_bytes(path, _safetensors(path, "writing").save(tensors))
    else:
        write_saved(path, lambda file: torch.save(tensors, file))


def check_writable_weights(path: Path) -> None:
    """Refuse, before any work, a weights path :func:`write_state_dict` could not write in its form."""
    from nasblocks._output import check_writable

    if path.suffix == ".safetensors":
        _safetensors(path, "writing")
    check_writable(path)


def _safetensors(path: Path, doing: str) -> Any:
    """safetensors' torch module, or one line saying how to install it (an optional package)."""
    try:
        import safetensors.torch
    except ImportError:
        raise WeightsError(f"{path}: {doing} .safetensors needs the package safetensors: "
                           "pip install safetensors") from None
    return safetensors.torch


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    module = _safetensors(path, "reading")
    from safetensors import SafetensorError

    try:
        return module.load_file(path)
    except SafetensorError as err:
        raise WeightsError(f"{path}: not a safetensors file ({err})") from None


def _unwrapped(loaded: object, path: Path) -> dict[str, torch.Tensor]:
    """The state_dict inside what torch.load returned, without DataParallel's ``module.``."""
    if isinstance(loaded, Mapping) and not _is_state_dict(loaded):
        loaded = next((loaded[key] for key in CHECKPOINT_KEYS if _is_state_dict(loaded.get(key))), loaded)
    if not _is_state_dict(loaded):
        what = (f"a dict with keys {', '.join(map(str, list(loaded)[:5]))}" if loaded else "an empty dict") \
            if isinstance(loaded, Mapping) else f"a {type(loaded).__name__}"
        raise WeightsError(f"{path}: holds {what}, not a state_dict (names to tensors) nor a checkpoint "
                           f"with one under {', '.join(CHECKPOINT_KEYS)}")
    state = dict(loaded)  # type: ignore[arg-type]
    if all(key.startswith("module.") for key in state):
        state = {key.removeprefix("module."): value for key, value in state.items()}
    return state


def _is_state_dict(value: object) -> bool:
    return isinstance(value, Mapping) and bool(value) and \
        all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in value.items())


def compiled(graph: Graph, weights: Weights | None = None, remedy: str = VARS_REMEDY) -> GraphModule:
    """``graph`` compiled to a module, with ``weights`` loaded into it when given (``remedy``: how
    the caller sets the vars of weights that do not fit, see :func:`check_fits`)."""
    module = compile_graph(graph)
    if weights is not None:
        load_weights(module, weights, graph.name, remedy)
    return module


def load_weights(module: nn.Module, weights: Weights, network: str, remedy: str = VARS_REMEDY) -> int:
    """Load ``weights`` (a file, or a state_dict) into ``module`` (the compiled ``network``),
    strictly, and return how many tensors were loaded; :func:`check_fits` first."""
    source = "the state_dict" if isinstance(weights, Mapping) else str(weights)
    state = dict(weights) if isinstance(weights, Mapping) else read_state_dict(weights)
    check_fits(module, state, source, network, remedy)
    module.load_state_dict(state, strict=True)
    return len(state)


def check_fits(module: nn.Module, state: Mapping[str, torch.Tensor], source: str, network: str,
               remedy: str = VARS_REMEDY) -> None:
    """Refuse ``state`` (read from ``source``) where it does not fit ``module`` (the compiled
    ``network``) strictly: a key missing on either side or a shape that differs is one
    WeightsError naming them, and ``remedy``: how the command that loads them gives the network
    the file was saved from."""
    own = module.state_dict()
    # torch fills a batch norm's num_batches_tracked that an older checkpoint lacks
    missing = [k for k in own if k not in state and not k.endswith(".num_batches_tracked")]
    extra = [k for k in state if k not in own]
    differ = [f"{k} is {_shape(state[k])} there and {_shape(own[k])} here"
              for k in own if k in state and state[k].shape != own[k].shape]
    problems = [_listed(f"{len(missing)} of the network's keys missing", missing),
                _listed(f"{len(extra)} {'key' if len(extra) == 1 else 'keys'} the network lacks", extra),
                _listed(f"{len(differ)} {'shape differs' if len(differ) == 1 else 'shapes differ'}", differ)]
    problems = [p for p in problems if p]
    if problems:
        raise WeightsError(f"{source}: does not fit {network}: {'; '.join(problems)} ({remedy})")


@dataclass(frozen=True)
class Pretrained:
    """A weights file that a search's trials start from, read once. Its digest tells a resumed
    study and ``study retrain`` whether the file is still the one the trials started from."""

    path: str
    sha256: str
    state: dict[str, torch.Tensor] = field(repr=False)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Pretrained:
        with _opened(path) as file:
            digest = hashlib.file_digest(file, "sha256").hexdigest()
            file.seek(0)
            return cls(os.fspath(path), digest, _tensors(file, Path(path)))

    def record(self) -> dict[str, str]:
        """What a study and its trials keep of the file."""
        return {"path": self.path, "sha256": self.sha256}

    @classmethod
    def reread(cls, path: str | os.PathLike[str], recorded: Mapping[str, str], what: str) -> Pretrained:
        """The file that ``what`` (a study, a trial) started from, ``recorded``, read again at
        ``path``: the recorded place, or where it is now (another machine, a moved file). It is
        known by its digest, and refused when the digest differs."""
        then = f"{recorded['sha256'][:12]}…"
        if not Path(path).exists():
            raise WeightsError(f"{path}: no such file; {what} started from the file of sha256 {then} there: "
                               "give where it is now with --weights FILE")
        pretrained = cls.read(path)
        if pretrained.sha256 != recorded["sha256"]:
            how = f"changed since {what} started from it" if os.fspath(path) == recorded["path"] else \
                f"is not the file {what} started from, {recorded['path']}"
            raise WeightsError(f"{path}: {how} (sha256 {then} then, {pretrained.sha256[:12]}… now); give the "
                               "file it started from")
        return pretrained


def _listed(what: str, items: list[str]) -> str:
    if not items:
        return ""
    more = f", and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return f"{what} ({', '.join(items[:_SHOWN])}{more})"


def _shape(tensor: torch.Tensor) -> str:
    return "[" + ", ".join(map(str, tensor.shape)) + "]"
