"""Export a network to other runtimes: ONNX and torch.export's ``.pt2``.

Both go through ``torch.export``: the compiled module is straight-line fx code, so
:func:`torch.export.export` traces it without graph breaks, and the ExportedProgram is saved
as it is (``pt2``) or handed to :func:`torch.onnx.export` — its torch.export-based exporter, the
default since PyTorch 2.9; the TorchScript-based one is deprecated. That exporter needs
onnxscript (and onnx), the optional extra ``nasblocks[export]``, which also brings onnxruntime to
run the result.

The module is exported in eval mode (auxiliary heads, dropout and batch-norm statistics as at
inference) for one input of the spec's size, batch 1; ``dynamic_batch`` makes the batch
dimension symbolic instead (traced with batch 2, since ``torch.export`` specialises a size of 1).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from nasblocks._output import OutputError, check_writable, format_of, write_saved, writing
from nasblocks._shape import Shape

if TYPE_CHECKING:
    from types import FrameType

    from torch.export import ExportedProgram

FORMATS = ("onnx", "pt2")
INSTALL_HINT = "pip install 'nasblocks[export]'"


def _to_trace(module: nn.Module, input_shape: Shape, dynamic_batch: bool) -> tuple[tuple[torch.Tensor], Any]:
    """An example input and the dynamic shapes to trace ``module`` with (put in eval mode)."""
    module.eval()
    example = (torch.randn(2 if dynamic_batch else 1, *input_shape),)
    return example, ({0: torch.export.Dim("batch")},) if dynamic_batch else None


def exported_program(module: nn.Module, input_shape: Shape, *, dynamic_batch: bool = False) -> ExportedProgram:
    """A compiled network, in eval mode, traced by :func:`torch.export.export` for images of
    ``input_shape`` (C, H, W)."""
    example, dynamic = _to_trace(module, input_shape, dynamic_batch)
    return torch.export.export(module, example, dynamic_shapes=dynamic)


def export(module: nn.Module, input_shape: Shape, path: Path, fmt: str | None = None, *,
           dynamic_batch: bool = False) -> str:
    """Write a compiled network (put in eval mode) to ``path`` as ``fmt`` — one of FORMATS, by
    default the one ``path``'s suffix names — and return the format.

    >>> graph = nasblocks.expand(nasblocks.load("mobilenet_v2"))
    >>> export(compile_graph(graph), graph.input_shape, Path("mbv2.onnx"))
    'onnx'
    """
    fmt = format_of(path, fmt, FORMATS)
    if fmt == "onnx":
        _require_onnx()
    check_writable(path)  # before tracing
    with _ctrl_c_kept():
        if fmt == "pt2":
            program = exported_program(module, input_shape, dynamic_batch=dynamic_batch)
            write_saved(path, lambda file: torch.export.save(program, file))
            return fmt
        # given the module rather than an ExportedProgram, the exporter names the batch axis "batch"
        example, dynamic = _to_trace(module, input_shape, dynamic_batch)
        onnx_program = torch.onnx.export(module, example, dynamic_shapes=dynamic, dynamo=True, verbose=False)
        with writing(path) as staged:
            onnx_program.save(staged)  # weights inline below ONNX's 2 GB limit, in PATH.data above
    return fmt


@contextmanager
def _ctrl_c_kept() -> Iterator[None]:
    """Raise KeyboardInterrupt when Ctrl-C was pressed in this block, whatever the block then did.

    torch.onnx.export tries several ways to trace and catches what each raises: a Ctrl-C that
    lands in one of torch's lazy imports leaves a module half imported, the next use of which
    fails (``module 'torch._dynamo' has no attribute 'exc'``, an operator registered twice), and
    the exporter reports that failure, with a traceback, or goes on with its next way. Python's
    own SIGINT handler is replaced for the while, in the main thread only (where signals land);
    a handler of the caller's own is left to do what it does."""
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler):
        yield
        return
    pressed = False

    def note_and_interrupt(signum: int, frame: FrameType | None) -> None:
        nonlocal pressed
        pressed = True
        signal.default_int_handler(signum, frame)

    signal.signal(signal.SIGINT, note_and_interrupt)
    try:
        yield
    except Exception:
        if not pressed:
            raise
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if pressed:
        raise KeyboardInterrupt


def _require_onnx() -> None:
    """Fail before any work when the exporter's packages are missing, naming the extra."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError as err:
        raise OutputError(f"ONNX export needs the package {err.name or 'onnxscript'}: "
                          f"{INSTALL_HINT}") from None
