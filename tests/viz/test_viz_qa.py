"""``nasblocks viz`` and ``export`` pushed the way a demanding user pushes them: a huge network
without Graphviz, the picture or the model written to stdout into a pipe."""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from matplotlib.transforms import Bbox

import nasblocks
from nasblocks import _latency_table, cli_viz
from nasblocks._output import check_writable, write_bytes
from nasblocks._viz import picture
from nasblocks._viz_fallback import figure
from nasblocks.cli import main
from nasblocks.errors import LatencyError


def test_without_dot_edge_labels_are_kept_clear_without_comparing_every_pair(monkeypatch: pytest.MonkeyPatch) -> None:
    # Bbox.overlaps, one pair at a time, took minutes for a network of 3,600 ops (a quarter of an
    # hour of comparisons against the boxes and labels before each label)
    pic = picture(nasblocks.expand(nasblocks.load("resnet18")))
    monkeypatch.setattr(Bbox, "overlaps", lambda self, other: pytest.fail("compared one pair at a time"))
    fig = figure(pic)
    monkeypatch.undo()
    boxes = [text.get_bbox_patch().get_window_extent() for text in fig.axes[0].texts if text.get_text().count("\n")]
    labels = [text.get_window_extent() for text in fig.axes[0].texts if "\n" not in text.get_text()]
    assert len(labels) >= 0.9 * len(pic.edges)  # nearly every edge's shape
    assert not [(a, b) for a in labels for b in boxes if a.overlaps(b)]


@pytest.fixture
def pipe() -> Iterator[tuple[int, Path]]:
    """A pipe's reading end, and its writing end as a path: what ``/dev/stdout`` names when the
    output goes to another program (``-o /dev/stdout | dot -Tsvg``)."""
    read, write = os.pipe()
    yield read, Path(f"/proc/self/fd/{write}")
    os.close(read)
    os.close(write)


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_pipe_is_written_in_place(pipe: tuple[int, Path]) -> None:
    read, path = pipe
    check_writable(path)  # its link names pipe:[N], which no folder holds: refused as missing before
    write_bytes(path, b"digraph {}\n")
    assert os.read(read, 100) == b"digraph {}\n"


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_what_was_written_to_stdout_is_said_on_stderr(monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str], pipe: tuple[int, Path],
                                                      tmp_path: Path) -> None:
    read, path = pipe
    monkeypatch.setattr(sys, "stdout", os.fdopen(os.dup(int(path.name)), "w"))
    cli_viz._wrote(path, "16 boxes")
    sys.stdout.close()
    monkeypatch.undo()
    assert capsys.readouterr().err == f"wrote {path}: 16 boxes\n"  # not into the DOT source dot reads
    cli_viz._wrote(tmp_path / "net.svg", "16 boxes")
    assert capsys.readouterr().out == f"wrote {tmp_path / 'net.svg'}: 16 boxes\n"


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")
def test_a_model_exported_into_a_pipe_claims_no_size(monkeypatch: pytest.MonkeyPatch,
                                                     capsys: pytest.CaptureFixture[str], pipe: tuple[int, Path],
                                                     write_spec: Callable[..., Path]) -> None:
    read, path = pipe
    spec = write_spec("input: [3, 8, 8]\nnetwork:\n  - conv: {out: 4, kernel: 3}\n")
    monkeypatch.setattr(sys, "argv", ["nasblocks", "export", str(spec), "-o", str(path), "--format", "onnx"])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code in (0, None)
    assert os.read(read, 1 << 16)  # the model went down the pipe
    assert capsys.readouterr().out == f"wrote {path}: onnx, input 1×3×8×8\n"  # a pipe's size is 0: none said


class StatusSpy:
    """What ``console.status`` shows (rich draws nothing off a terminal)."""

    def __init__(self, shown: list[str], text: str) -> None:
        shown.append(text)

    def __enter__(self) -> StatusSpy:
        return self

    def __exit__(self, *exc: object) -> None:
        return None


def test_a_picture_shaded_by_latency_says_units_are_being_measured(monkeypatch: pytest.MonkeyPatch,
                                                                   capsys: pytest.CaptureFixture[str],
                                                                   latency_cache: Path, tmp_path: Path) -> None:
    shown: list[str] = []
    monkeypatch.setattr(cli_viz.console, "status", lambda text: StatusSpy(shown, text))

    def not_timed_here(graph: object, device: str) -> None:
        raise LatencyError("not timed here")

    monkeypatch.setattr(_latency_table, "predict_detail", not_timed_here)
    monkeypatch.setattr(sys, "argv", ["nasblocks", "viz", "resnet18", "--color", "latency", "-o",
                                      str(tmp_path / "r18.svg")])
    with pytest.raises(SystemExit):
        main()
    assert capsys.readouterr().err == "error: not timed here\n"
    assert shown == ["drawing resnet18 (units missing from the cpu latency table are measured now)"]  # not silent
