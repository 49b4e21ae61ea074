"""`nasblocks build` as a user runs it: the table, --json, --graph, -o and the op listing; and
every command's --help."""

from __future__ import annotations

import json
import re
import resource
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch
import typer
from typer.core import TyperCommand, TyperGroup

import nasblocks
from nasblocks.cli import app, main


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    monkeypatch.setattr(sys, "argv", ["nasblocks", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code in (0, None)
    return capsys.readouterr().out


def test_build_prints_a_row_per_block_and_totals(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(monkeypatch, capsys, "build", "specs/mobilenet_v2.yaml")
    assert "features.17" in out and "classifier.1" in out
    assert "3,504,872" in out and "300,774,272" in out
    assert "300.8 M multiply-adds" in out


def test_build_gives_a_block_of_the_network_one_row_however_shallow(monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    out = run(monkeypatch, capsys, "build", "googlenet")
    rows = [line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│")]
    # blocks called at the top (conv1, inception3a) are a row each, not a row per op or branch inside
    assert rows[:7] == ["conv1", "maxpool1", "conv2", "conv3", "maxpool2", "inception3a", "inception3b"]
    assert rows[-5:] == ["avgpool", "flatten", "dropout", "fc", "total"] and len(rows) == 23
    resnet = nasblocks.expand("resnet18").blocks()
    assert [name for name, *_ in resnet] == ["conv1", "bn1", "relu", "maxpool", "layer1.0", "layer1.1", "layer2.0",
                                            "layer2.1", "layer3.0", "layer3.1", "layer4.0", "layer4.1", "avgpool",
                                            "flatten", "fc"]
    assert sum(params for *_, params, _ in resnet) == 11_689_512


def test_an_op_without_a_module_in_a_named_sequence_is_a_row_of_its_own(write_spec: Callable[..., Path]) -> None:
    spec = write_spec("input: [3, 8, 8]\nnetwork:\n  - conv: {out: 8, kernel: 3}\n    name: stem\n"
                      "  - name: classifier\n    seq: [{mean: {}}, {flatten: {}}, {linear: {out: 10}}]\n")
    rows = nasblocks.expand(spec).blocks()
    # not a row "classifier" of the mean and flatten alone, beside "classifier.0"
    assert [name for name, *_ in rows] == ["stem", "classifier_mean", "classifier_flatten", "classifier.0"]
    assert [name for name, *_ in nasblocks.expand(spec).blocks(1)] == ["stem", "classifier"]


def test_build_json_with_vars_and_input(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(monkeypatch, capsys, "build", "specs/mobilenet_v2.yaml", "--set", "width=0.75", "--input", "3x160x160", "--json")
    report = json.loads(out)
    assert report["name"] == "mobilenet_v2" and report["input"] == [3, 160, 160] and report["output"] == [1000]
    assert report["params"] == 2_636_424 and report["macs"] == 107_295_200 and report["vars"]["width"] == 0.75


def test_build_saves_the_compiled_module(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    target = tmp_path / "mbv2.pt"
    run(monkeypatch, capsys, "build", "mobilenet_v2", "--set", "width=0.5", "--input", "3x64x64", "-o", str(target))
    model = torch.load(target, weights_only=False).eval()
    assert model(torch.randn(1, 3, 64, 64)).shape == (1, 1000)


def test_build_graph_prints_the_ir(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(monkeypatch, capsys, "build", "mobilenet_v2", "--graph")
    lines = out.splitlines()
    assert lines[0].startswith("graph mobilenet_v2(%x: 3×224×224)")
    assert any(line.strip().startswith("%features_0_0 : 32×112×112 = conv[out=32, kernel=3×3, stride=2×2](%x)") for line in lines)
    assert lines[-1].strip() == "return %classifier_1"


def test_ops_lists_the_registry(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out = run(monkeypatch, capsys, "ops")
    for name in ("conv", "dwconv", "shuffle", "split", "channel_affine"):
        assert name in out


def test_zoo_lists_networks_with_costs_and_blocks(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    rows = json.loads(run(monkeypatch, capsys, "zoo", "mobilenet_v2", "--json"))
    by_name = {row["name"]: row for row in rows}
    assert by_name["mobilenet_v2"]["macs"] == 300_774_272 and by_name["mobilenet_v2"]["params"] == 3_504_872
    assert by_name["mobilenet_v2_050"]["macs"] == 97_131_840
    assert by_name["mobilenet_v2"]["blocks"] == ["conv_bn_act", "inverted_residual"]
    assert all("mobilenet_v2" in name for name in by_name)


Command = TyperCommand | TyperGroup


def _commands(command: Command, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], Command]]:
    yield path, command
    for name, sub in getattr(command, "commands", {}).items():
        yield from _commands(sub, (*path, name))


def test_help_keeps_every_bracketed_note(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    # rich reads "[...]" in a help text as markup and drops it unless it is escaped as "\["
    monkeypatch.setenv("COLUMNS", "400")  # no wrapping inside a note
    checked = 0
    for path, command in _commands(typer.main.get_command(app)):
        shown = run(monkeypatch, capsys, *path, "--help")
        for text in (command.help, *(getattr(p, "help", None) for p in command.params)):
            for note in re.findall(r"\[[^\]\\]*\]", text or ""):
                assert note in shown, f"nasblocks {' '.join(path)} --help lost {note!r}"
                checked += 1
    assert checked >= 20  # the search options' defaults, viz's and export's


@pytest.mark.parametrize(("args", "message"), [
    (("build", "specs/mobilenet_v2.yaml", "--ouput", "x.pt"),
     "error: No such option: --ouput (Possible options: --input, --output) (try 'nasblocks build --help')"),
    (("build",), "error: Missing argument 'spec'. (try 'nasblocks build --help')"),
    (("search", "--trials", "many"), "error: Invalid value for '--trials' / '-n': "),
    (("study", "shwo"), "error: No such command 'shwo'."),
    (("zoo", "resnet_18"), "error: no zoo network's name contains 'resnet_18'; did you mean resnet18, "),  # not an empty table
])
def test_usage_errors_are_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                   args: tuple[str, ...], message: str) -> None:
    monkeypatch.setattr(sys, "argv", ["nasblocks", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    err = capsys.readouterr().err
    assert exited.value.code == 2 and err.startswith(message) and err.count("\n") == 1, err


def test_no_arguments_prints_the_help(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(sys, "argv", ["nasblocks", "study"])
    with pytest.raises(SystemExit) as exited:
        main()
    printed = capsys.readouterr()
    assert exited.value.code == 2 and "show" in printed.out and not printed.err



def test_version_names_nasblocks_torch_and_python(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    import nasblocks

    out = run(monkeypatch, capsys, "--version")
    assert out.startswith(f"nasblocks {nasblocks.__version__} (torch {version('torch')}, ")
    assert version("nasblocks") == nasblocks.__version__  # pyproject reads it from the package


def test_h_is_help_in_every_command(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    for path, _ in _commands(typer.main.get_command(app)):
        assert run(monkeypatch, capsys, *path, "-h") == run(monkeypatch, capsys, *path, "--help")


def test_help_wraps_each_paragraph_at_the_terminal_not_at_the_source(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("COLUMNS", "1000")  # wider than any paragraph
    lines = [line.strip() for line in run(monkeypatch, capsys, "search", "--help").splitlines()]
    assert any(line.startswith("With no option:") and line.endswith("stop at --trials.") for line in lines)
    lines = [line.strip("│ ") for line in run(monkeypatch, capsys, "--help").splitlines()]
    assert any(line.startswith("viz") and line.endswith("labelled with tensor shapes.") for line in lines)


def test_build_o_to_a_place_it_cannot_write_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setattr(sys, "argv", ["nasblocks", "build", "mobilenet_v2", "-o", str(tmp_path / "file" / "m.pt")])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    err = capsys.readouterr().err
    assert err == f"error: {tmp_path / 'file' / 'm.pt'}: cannot write there ({tmp_path / 'file'} is a file, not a folder)\n"


@pytest.mark.parametrize("args, message", [
    (["--json", "--graph"], "give one of --json or --graph: each prints the network its own way"),
    (["--graph", "--summary", "--json"], "give one of --json or --graph or --summary: each prints the network its own way"),
    (["--depth", "2"], "--depth sets how deep --summary goes: give --summary too"),
])
def test_build_options_that_do_not_go_together_are_one_line(monkeypatch: pytest.MonkeyPatch,
                                                            capsys: pytest.CaptureFixture[str],
                                                            args: list[str], message: str) -> None:
    monkeypatch.setattr(sys, "argv", ["nasblocks", "build", "mobilenet_v2", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2 and capsys.readouterr().err == f"error: {message}\n"


def build_error(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], output: Path) -> str:
    """What `build -o output` prints when it fails: exit status 2 and the error line."""
    monkeypatch.setattr(sys, "argv", ["nasblocks", "build", "mobilenet_v2", "--set", "width=0.5", "--input", "3x64x64",
                                      "-o", str(output)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    return capsys.readouterr().err


def test_build_o_to_a_folder_or_a_full_disk_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert build_error(monkeypatch, capsys, tmp_path) == f"error: {tmp_path}: is a folder; name a file to write\n"
    err = build_error(monkeypatch, capsys, Path("/dev/full"))  # every write there fails: ENOSPC
    assert err == "error: /dev/full: cannot write there (No space left on device)\n"


def test_build_o_stopped_half_way_leaves_no_file(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path) -> None:
    # past RLIMIT_FSIZE a write fails with EFBIG (Python ignores SIGXFSZ) after the first megabyte
    # of the module, some megabytes, is on disk
    target = tmp_path / "m.pt"
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1_000_000, hard))
    try:
        err = build_error(monkeypatch, capsys, target)
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert err == f"error: {target}: cannot write there (File too large)\n"
    assert not target.exists()


def test_build_o_interrupted_while_compiling_leaves_no_empty_file(monkeypatch: pytest.MonkeyPatch,
                                                                 tmp_path: Path) -> None:
    def interrupted(*_: object) -> None:
        raise KeyboardInterrupt  # Ctrl-C while the module is built

    monkeypatch.setattr("nasblocks._weights.compile_graph", interrupted)
    target = tmp_path / "m.pt"
    monkeypatch.setattr(sys, "argv", ["nasblocks", "build", "mobilenet_v2", "-o", str(target)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 130 and not target.exists()


# --- output outside a terminal: narrow windows, pipes, the input --input replaced ---------------

def narrow(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    """The commands' console as a window ``columns`` wide makes it (it reads COLUMNS when made)."""
    from nasblocks import cli
    from nasblocks._console import make_console

    monkeypatch.setenv("COLUMNS", str(columns))
    monkeypatch.setattr(cli, "console", make_console())


def test_a_narrow_window_cuts_no_name_or_number(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import nasblocks
    from nasblocks._summary import summary_rows

    narrow(monkeypatch, 1000)
    wide = run(monkeypatch, capsys, "build", "googlenet", "--summary", "--depth", "2")
    narrow(monkeypatch, 60)  # rich cut every column short here: '2,223…', 'inceptio…'
    out = run(monkeypatch, capsys, "build", "googlenet", "--summary", "--depth", "2")
    assert "…" not in out and "\x1b" not in out  # nor any colour, printed to a pipe
    lines = out.splitlines()
    for row in summary_rows(nasblocks.expand(nasblocks.load("googlenet")), 2):  # each on one line, whole
        assert any(line.startswith(f"│ {row.label} ") and f" {row.params:,} " in line and f" {row.macs:,} " in line
                   for line in lines), row
    assert max(map(len, lines)) < max(map(len, wide.splitlines()))  # the op column wraps at spaces
    rows = json.loads(run(monkeypatch, capsys, "zoo", "squeezenet", "--json"))
    table = run(monkeypatch, capsys, "zoo", "squeezenet")
    assert "…" not in table
    for row in rows:
        assert re.search(rf"│ {row['name']} +│ .* {row['params']:,} │ +{row['macs']:,} │", table), row["name"]


def test_build_json_says_the_input_used_and_the_specs_own(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    import nasblocks

    report = json.loads(run(monkeypatch, capsys, "build", "mobilenet_v2", "--input", "3x96x96", "--json"))
    assert report["input"] == [3, 96, 96] and report["spec_input"] == [3, 224, 224]
    assert report["vars"]["resolution"] == 224  # the var as bound: --input replaces the size, not the var
    assert report["macs"] == nasblocks.cost(nasblocks.load("mobilenet_v2", input=(3, 96, 96))).macs
    by_var = json.loads(run(monkeypatch, capsys, "build", "mobilenet_v2", "--set", "resolution=96", "--json"))
    assert by_var["input"] == by_var["spec_input"] == [3, 96, 96] and by_var["macs"] == report["macs"]
    title = " ".join(run(monkeypatch, capsys, "build", "mobilenet_v2", "--input", "3x96x96").split())
    assert "input 3×96×96 from --input; the spec's 3×224×224" in title
