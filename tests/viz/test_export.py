"""Export: every zoo network through torch.export computes what the compiled module computes;
ONNX files run in onnxruntime with the same outputs; ``nasblocks export`` as a user runs it.

Times, on two cores: torch.export takes 0.3-2 s per network, so the zoo's 65 names take about a
minute; 26 of them repeat another's structure (the same ops, wiring and argument forms, only
sizes differ: widths, ShuffleNet v1's groups, aliases), and the export of a structure is checked
once. ONNX conversion takes seconds more per network (3-7 s for a MobileNetV2), so ONNX is
checked on ``op_forms.yaml``: every op of the registry and every form in which the zoo uses one,
which a test here keeps true.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import onnxruntime
import pytest
import torch
from rich.filesize import decimal

import nasblocks
from nasblocks._compile import compile_graph
from nasblocks._export import export, exported_program
from nasblocks._ops import REGISTRY
from nasblocks.cli import main

OP_FORMS = Path(__file__).with_name("op_forms.yaml")
SIZES = (64, 224, 299)  # ShuffleNet v1 pools 7×7 at the end, Inception v3's aux head needs 299
_EXPORTED: dict[tuple, float] = {}  # a structure → the max difference its export gave


def smallest(name: str) -> nasblocks.Graph:
    """The zoo network at the smallest of SIZES it allows."""
    for size in SIZES:
        try:
            return nasblocks.expand(nasblocks.load(name, input=(3, size, size)))
        except nasblocks.SpecError:
            continue
    raise AssertionError(f"{name} expands at none of {SIZES}")


def form(node: nasblocks.Node) -> tuple[str, ...]:
    """The op and the arguments it sets (with the value, for flags and names)."""
    return (node.op, *sorted(k if not isinstance(v, (bool, str)) else f"{k}={v}"
                             for k, v in node.set_args().items()))


def run_onnx(path: Path, x: torch.Tensor) -> np.ndarray:
    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (output,) = session.run(None, {session.get_inputs()[0].name: x.numpy()})
    return output


def cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["nasblocks", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code or 0


def structure(graph: nasblocks.Graph) -> tuple:
    """What torch.export traces, sizes aside: each op, its inputs and the form of its arguments."""
    return tuple((node.op, node.inputs, form(node)) for node in graph)


@pytest.mark.parametrize("name", sorted(nasblocks.zoo_names()))
def test_every_zoo_network_exports_with_torch_export(name: str) -> None:
    graph = smallest(name)
    key = structure(graph)
    if key not in _EXPORTED:
        module = compile_graph(graph)
        program = exported_program(module, graph.input_shape)
        x = torch.randn(1, *graph.input_shape)
        with torch.no_grad():
            expected = module(x)
            _EXPORTED[key] = (program.module()(x) - expected).abs().max().item()
        assert expected.std() > 0, "a constant output would compare equal to anything"
    assert _EXPORTED[key] < 1e-4


def test_op_forms_cover_the_registry_and_the_zoo() -> None:
    graph = nasblocks.expand(nasblocks.load(str(OP_FORMS)))
    covered = {form(node) for node in graph}
    assert {f[0] for f in covered} == set(REGISTRY)
    zoo = {form(node) for name in nasblocks.zoo_names() for node in smallest(name)}
    assert zoo - covered == set(), "add these forms to op_forms.yaml"


def test_onnx_runs_in_onnxruntime_with_the_same_outputs_at_any_batch(tmp_path: Path) -> None:
    graph = nasblocks.expand(nasblocks.load(str(OP_FORMS)))
    module = compile_graph(graph)
    export(module, graph.input_shape, tmp_path / "net.onnx", dynamic_batch=True)
    x = torch.randn(3, *graph.input_shape)
    with torch.no_grad():
        expected = module(x).numpy()
    assert np.abs(run_onnx(tmp_path / "net.onnx", x) - expected).max() < 1e-4


def test_pt2_loads_with_the_same_outputs_at_any_batch(tmp_path: Path) -> None:
    graph = nasblocks.expand(nasblocks.load(str(OP_FORMS)))
    module = compile_graph(graph)
    export(module, graph.input_shape, tmp_path / "net.pt2", dynamic_batch=True)
    loaded = torch.export.load(tmp_path / "net.pt2").module()
    x = torch.randn(5, *graph.input_shape)
    with torch.no_grad():
        assert (loaded(x) - module(x)).abs().max() < 1e-4


@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
def test_cli_exports_batch_one_by_default(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path, fmt: str) -> None:
    target = tmp_path / "out" / f"net.{fmt}"
    assert cli(monkeypatch, "export", str(OP_FORMS), "--format", fmt, "-o", str(target)) == 0
    assert capsys.readouterr().out == f"wrote {target}: {fmt}, input 1×3×128×128, {decimal(target.stat().st_size)}\n"
    x = torch.randn(1, 3, 128, 128)
    if fmt == "onnx":
        session = onnxruntime.InferenceSession(str(target), providers=["CPUExecutionProvider"])
        assert [i.shape for i in session.get_inputs()] == [[1, 3, 128, 128]]
        assert run_onnx(target, x).shape == (1, 10)
    else:
        assert torch.export.load(target).module()(x).shape == (1, 10)


def one_line_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert cli(monkeypatch, "export", "specs/mobilenet_v2.yaml", *args) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    return err


def test_cli_refuses_an_unknown_format(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    err = one_line_error(monkeypatch, capsys, "--format", "tflite", "-o", str(tmp_path / "x.tflite"))
    assert "--format 'tflite': expected one of onnx, pt2" in err


def test_cli_refuses_an_unwritable_output(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    err = one_line_error(monkeypatch, capsys, "--format", "pt2", "-o", str(tmp_path / "file" / "x.pt2"))
    assert f"{tmp_path / 'file' / 'x.pt2'}: cannot write there" in err


def test_cli_names_the_extra_when_onnx_packages_are_missing(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "onnxscript", None)  # what an uninstalled package imports as
    err = one_line_error(monkeypatch, capsys, "--format", "onnx", "-o", str(tmp_path / "x.onnx"))
    assert "pip install 'nasblocks[export]'" in err and "onnxscript" in err
    assert not (tmp_path / "x.onnx").exists()


@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
def test_cli_refuses_a_folder_and_reports_a_full_disk(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path, write_spec: Callable[..., Path], fmt: str) -> None:
    folder = tmp_path / f"folder.{fmt}"
    folder.mkdir()
    assert one_line_error(monkeypatch, capsys, "-o", str(folder)) == f"error: {folder}: is a folder; name a file to write\n"
    spec = write_spec("name: tiny\ninput: [3, 8, 8]\nnetwork:\n  - conv: {out: 4, kernel: 3}\n")  # traced in a moment
    assert cli(monkeypatch, "export", str(spec), "--format", fmt, "-o", "/dev/full") == 2  # every write fails: ENOSPC
    assert capsys.readouterr().err == "error: /dev/full: cannot write there (No space left on device)\n"


def test_an_onnx_write_that_fails_leaves_neither_the_model_nor_its_weights_file(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path, write_spec: Callable[..., Path]) -> None:
    save = torch.onnx.ONNXProgram.save

    def save_then_fill_the_disk(program: torch.onnx.ONNXProgram, destination: Path, **_: object) -> None:
        save(program, destination, external_data=True)  # what a model over ONNX's 2 GB limit gets
        assert destination.with_name(f"{destination.name}.data").is_file()
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch.onnx.ONNXProgram, "save", save_then_fill_the_disk)
    graph = nasblocks.expand(nasblocks.load(write_spec("name: tiny\ninput: [3, 8, 8]\nnetwork:\n  - conv: {out: 4, kernel: 3}\n")))
    with pytest.raises(nasblocks.NasblocksError, match="x.onnx: cannot write there"):
        export(compile_graph(graph), graph.input_shape, tmp_path / "x.onnx")
    assert list(tmp_path.iterdir()) == [tmp_path / "net.yaml"]


@pytest.mark.parametrize("fmt", ["onnx", "pt2"])
def test_an_interrupted_export_leaves_no_empty_file_and_keeps_an_old_one(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        write_spec: Callable[..., Path], fmt: str) -> None:
    def interrupted(*_: object, **__: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C while torch.export traces

    monkeypatch.setattr(torch.export, "export", interrupted)
    monkeypatch.setattr(torch.onnx, "export", interrupted)
    spec = write_spec("name: tiny\ninput: [3, 8, 8]\nnetwork:\n  - conv: {out: 4, kernel: 3}\n")
    assert cli(monkeypatch, "export", str(spec), "-o", str(tmp_path / f"new.{fmt}")) == 130
    assert capsys.readouterr().err == "interrupted\n"
    assert not (tmp_path / f"new.{fmt}").exists()
    (tmp_path / f"old.{fmt}").write_bytes(b"an earlier export")
    assert cli(monkeypatch, "export", str(spec), "-o", str(tmp_path / f"old.{fmt}")) == 130
    assert (tmp_path / f"old.{fmt}").read_bytes() == b"an earlier export"


def test_ctrl_c_inside_the_onnx_exporter_is_an_interruption_not_its_failure(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        write_spec: Callable[..., Path]) -> None:
    """A Ctrl-C in one of torch's lazy imports leaves the module half imported; the exporter's
    ``except torch._dynamo.exc.UserError`` then raises AttributeError, which it catches and
    reports, with a traceback, as its own failure to trace."""
    import torch._dynamo

    def ctrl_c(*_: object, **__: object) -> None:
        signal.raise_signal(signal.SIGINT)  # as the terminal sends it: to the handler in place

    monkeypatch.delattr(torch._dynamo, "exc")  # what the interrupted import of torch._dynamo.exc left
    monkeypatch.setattr(torch.export, "export", ctrl_c)
    spec = write_spec("name: tiny\ninput: [3, 8, 8]\nnetwork:\n  - conv: {out: 4, kernel: 3}\n")
    assert cli(monkeypatch, "export", str(spec), "-o", str(tmp_path / "net.onnx")) == 130
    assert capsys.readouterr().err == "interrupted\n"
    assert list(tmp_path.iterdir()) == [spec]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
