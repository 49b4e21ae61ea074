"""The Python API as a notebook uses it: what each public function takes, what a mistake in a call
raises (one clear message, never an error from deep inside), and examples in docstrings that hold."""

from __future__ import annotations

import copy
import doctest
import inspect
import os
import pickle
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch

import nasblocks
from nasblocks import _train
from nasblocks.errors import DeviceError

NET = """
input: [3, 16, 16]
vars: {width: 8}
network:
  - conv: {out: width, kernel: 3}
  - bn: {}
  - relu: {}
  - adaptive_avgpool: {}
  - flatten: {}
  - linear: {out: 10}
"""
TAKE_A_SPEC = [nasblocks.build, nasblocks.cost, nasblocks.expand]


@pytest.mark.parametrize("function", TAKE_A_SPEC, ids=lambda f: f.__name__)
def test_a_spec_a_path_and_a_name_are_the_same_network(function: Callable[..., Any],
                                                       write_spec: Callable[..., Path]) -> None:
    path = write_spec(NET)
    results = [function(given) for given in (nasblocks.load(path), path, str(path))]
    if function is nasblocks.build:
        results = [sorted(m.state_dict()) for m in results]
    elif function is nasblocks.expand:
        results = [str(graph) for graph in results]
    assert results[0] == results[1] == results[2]


def test_expand_takes_a_zoo_name() -> None:
    assert nasblocks.expand("resnet18").macs == nasblocks.cost("resnet18").macs == 1814073344


@pytest.mark.parametrize("function", [*TAKE_A_SPEC, nasblocks.load], ids=lambda f: f.__name__)
@pytest.mark.parametrize("given", [{"network": []}, 18, None], ids=["dict", "int", "None"])
def test_what_is_not_a_spec_is_one_type_error(function: Callable[..., Any], given: Any) -> None:
    with pytest.raises(TypeError, match=rf"a zoo name, got {type(given).__name__}$"):
        function(given)


def test_load_given_a_loaded_spec_points_to_with_vars() -> None:
    with pytest.raises(TypeError, match=r"got Spec; spec\.with_vars\(\.\.\.\) sets"):
        nasblocks.load(nasblocks.load("mobilenet_v2"), width=0.5)


def test_specs_are_set_members_equal_when_the_network_is() -> None:
    spec = nasblocks.load("mobilenet_v2")
    same = {spec, nasblocks.load("mobilenet_v2")}
    other = {spec.with_vars(width=0.5), spec.with_vars(stages=[[1, 16, 1, 1]]), spec.with_input((3, 96, 96))}
    assert len(same) == 1 and len(same | other) == 4


@pytest.mark.parametrize("size", [160, "3x160x160"])
def test_an_input_size_that_is_not_three_numbers_is_a_spec_error(size: Any) -> None:
    with pytest.raises(nasblocks.SpecError, match=rf"input: expected \[channels, height, width\], got {size!r}$"):
        nasblocks.load("mobilenet_v2", input=size)


def test_cost_latency_takes_a_device_name(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(TypeError, match=r'latency=\.\.\.\) expects "cpu", "cuda" or "cuda:N", got True'):
        nasblocks.cost("resnet18", latency=True)  # type: ignore[arg-type]
    with pytest.raises(DeviceError, match=r"^cost\(latency=\.\.\.\): expected cpu, cuda or cuda:N, got 'gpu'$"):
        nasblocks.cost("resnet18", latency="gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match=r"^cost\(latency='cuda'\): this machine has no CUDA device; use --device cpu"):
        nasblocks.cost("resnet18", latency="cuda")


@pytest.mark.parametrize(("call", "message"), [
    (lambda net, space: nasblocks.cost(net, latency="cpu", batch=0),
     "cost(batch=...): expected a positive integer, got 0"),
    (lambda net, space: nasblocks.cost(net, latency="cpu", channels_last="no"),
     "cost(channels_last=...): expected True or False, got 'no'"),
    (lambda net, space: nasblocks.cost(net, latency="cpu", clock="cpu", threads=2),
     # named later in the message: as the command names them (word by word, prose read garbled)
     "--clock cpu measures one thread's CPU time: it needs --device cpu and --threads 1, got --device cpu --threads 2"),
    (lambda net, space: nasblocks.build(net, weights=""),
     "build(weights=...): expected a weights file, got an empty path"),
    (lambda net, space: nasblocks.search(root=net.parent, space=space, trials=0),
     "search(trials=...): expected a positive int, got 0"),
    (lambda net, space: nasblocks.search(root=net.parent, space=space, objectives="accuracy,speed"),
     "search(objectives=...): unknown objective 'speed'; expected accuracy, macs, params or latency, comma-separated"),
    (lambda net, space: nasblocks.search(root=net.parent, space=space, weights_spec="net.yaml"),
     "search(weights_spec=...): names the network of a --weights file; give --weights FILE too"),
    (lambda net, space: nasblocks.search("a/b", root=net.parent, space=space),
     "search(study='a/b'): expected letters, digits, '_', '.' or '-' (it names a folder)"),
    (lambda net, space: nasblocks.search("my study", root=net.parent, space=space),
     "search(study='my study'): expected letters, digits, '_', '.' or '-' (it names a folder)"),
    (lambda net, space: nasblocks.search(root=net, space=space, device="cpu"),
     "search(root='{net}'): cannot create {net}/space-300MFLOPs (Not a directory)"),
], ids=["batch", "channels_last", "clock", "weights", "trials", "objectives", "weights_spec", "study",
         "study with a space", "root"])
def test_an_error_inside_a_call_names_what_the_caller_wrote(call: Callable[[Path, str], Any], message: str,
                                                          write_spec: Callable[..., Path], latency_cache: Path) -> None:
    """The command's messages name its options (--batch, --weights-spec); raised from a call,
    the same error names the call's keyword, with the value given where the message shows it."""
    net = write_spec(NET)
    space = write_spec("base: net.yaml\nvars: {width: {choices: [4, 8]}}\n", "space.yaml")
    with pytest.raises(nasblocks.NasblocksError) as raised:
        call(net, str(space))
    assert str(raised.value) == message.format(net=net)


def test_errors_is_an_attribute_of_a_bare_import() -> None:
    """README: weights that do not fit are a nasblocks.errors.WeightsError, caught before any call."""
    code = "import nasblocks; print(nasblocks.errors.WeightsError.__mro__[1].__name__)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout) == (0, "NasblocksError\n"), done.stderr


def test_search_study_is_a_name(tmp_path: Path) -> None:
    with pytest.raises(TypeError, match=r"search\(study=\.\.\.\) expects the study's name, a str, got int"):
        nasblocks.search(5, root=tmp_path)  # type: ignore[arg-type]
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(("options", "message"), [
    ({"budget": 300}, "search(budget=...) expects a str or a list of str, got 300"),
    ({"budget": ["300MFLOPs", 8]}, "search(budget=...) expects a str or a list of str, got ['300MFLOPs', 8]"),
    ({"data": Path("digits")}, "search(data=...) expects a str, got PosixPath"),
    ({"device": 0}, "search(device=...) expects a str, got int"),
])
def test_search_options_of_the_wrong_type_are_one_type_error(tmp_path: Path, options: dict[str, Any],
                                                             message: str) -> None:
    with pytest.raises(TypeError) as raised:
        nasblocks.search(root=tmp_path, **options)
    assert str(raised.value) == message and not any(tmp_path.iterdir())


@pytest.mark.parametrize(("options", "message"), [
    ({"fit": "no", "trials": 0}, "search(fit=...) expects True or False, got 'no'"),
    ({"resume": "yes", "study": "s"}, "search(resume=...) expects True or False, got 'yes'"),
    ({"resume": True}, "search(resume=True) needs the study's name: nasblocks.search('name', resume=True)"),
    ({"root": 5}, "search(root=...) expects the folder of studies, a str or a Path, got int"),
], ids=["fit", "resume", "resume without a study", "root"])
def test_search_flags_and_folder_of_the_wrong_kind_are_one_type_error(tmp_path: Path, options: dict[str, Any],
                                                                      message: str) -> None:
    """"no" is true: a search would silently fit, resume, or write where nobody looks."""
    with pytest.raises(TypeError) as raised:
        nasblocks.search(**{"root": tmp_path, **options})
    assert str(raised.value) == message and not any(tmp_path.iterdir())


@pytest.mark.parametrize(("weights", "message"), [
    (5, ", got int"),
    (b"net.pth", ", got bytes"),
    (torch.nn.Linear(2, 2), ", got Linear; give its .state_dict()"),
    ({"0.weight": [[1.0]]}, "; found '0.weight': list"),
    ({0: torch.zeros(1)}, "; found 0: Tensor"),
], ids=["int", "bytes", "module", "a list", "a key no name"])
def test_weights_that_are_no_path_nor_state_dict_are_one_type_error(weights: Any, message: str,
                                                                    write_spec: Callable[..., Path]) -> None:
    with pytest.raises(TypeError) as raised:
        nasblocks.build(write_spec(NET), weights=weights)
    assert str(raised.value) == \
        "build(weights=...) expects a weights file's path or a state_dict (names to tensors)" + message


def test_a_graph_and_a_cost_print_what_they_hold(write_spec: Callable[..., Path]) -> None:
    path = write_spec(NET)
    assert repr(nasblocks.expand(path)) == \
        "<Graph net: 3×16×16 → 10, 6 ops, 322 params, 55,376 MACs; print() it for one line per op>"
    assert repr(nasblocks.cost(path)) == "Cost(params=322, macs=55376, latency_ms=None)"


def test_the_readmes_python_example_runs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """As written, with torchvision's weights file made here (nothing is downloaded) and the
    search's keywords checked as search checks them, not run for minutes."""
    from torchvision.models import resnet18

    from nasblocks._search_config import api_options

    readme = (Path(__file__).parents[1] / "README.md").read_text()
    code = readme.split("\n## Python\n")[1].split("```python\n")[1].split("```")[0]
    weights = tmp_path / "resnet18-f37072fd.pth"
    torch.save(resnet18().state_dict(), weights)
    searched: list[dict[str, Any]] = []
    monkeypatch.setattr(nasblocks, "search", lambda **options: searched.append(api_options(options)))
    monkeypatch.chdir(Path(__file__).parents[1])
    exec(code.replace(f'"{weights.name}"', repr(str(weights))), {})  # the README's own code
    assert searched == [{"budget": ["300MFLOPs"], "trials": 12}]


def test_search_takes_the_space_and_the_weights_as_paths() -> None:
    from nasblocks._search_config import api_options

    space, weights = Path("search_spaces/mobilenet_v2.yaml"), Path("mobilenet_v2.pth")
    assert api_options({"space": space, "weights": weights}) == \
        {"space": "search_spaces/mobilenet_v2.yaml", "weights": "mobilenet_v2.pth"}


def test_public_functions_declare_what_they_return() -> None:
    functions = [getattr(nasblocks, name) for name in nasblocks.__all__
                 if inspect.isfunction(getattr(nasblocks, name))]
    assert {f.__name__ for f in functions} >= {"build", "cost", "expand", "load", "search"}
    for function in functions:
        assert inspect.signature(function).return_annotation is not inspect.Signature.empty, function
    assert inspect.signature(nasblocks.build).return_annotation == "GraphModule"


def test_docstring_examples_hold() -> None:
    """help() shows these examples: run them as a reader would, after ``import nasblocks``."""
    finder, runner = doctest.DocTestFinder(), doctest.DocTestRunner()
    tests = finder.find(nasblocks, extraglobs={"nasblocks": nasblocks})
    for name in nasblocks.__all__:
        public = getattr(nasblocks, name)
        if public.__module__ != "nasblocks":
            globs = {**vars(sys.modules[public.__module__]), "nasblocks": nasblocks}
            tests += finder.find(public, name, globs=globs)
    for test in tests:
        runner.run(test)
    assert runner.summarize(verbose=False) == (0, runner.tries)
    assert runner.tries >= 8


def test_a_built_network_survives_deepcopy_and_pickle(write_spec: Callable[..., Path]) -> None:
    model = nasblocks.build(write_spec(NET)).eval()
    x = torch.randn(2, 3, 16, 16)
    for copied in (copy.deepcopy(model), pickle.loads(pickle.dumps(model))):
        assert torch.equal(copied(x), model(x))


@pytest.mark.parametrize(("sent", "raised"), [(signal.SIGINT, KeyboardInterrupt), (signal.SIGTERM, SystemExit)])
def test_search_stopped_by_a_signal_keeps_its_trials_then_stops_the_caller(
        sent: int, raised: type[BaseException], write_spec: Callable[..., Path], latency_cache: Path,
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    """A notebook's interrupt or a script's loop of searches: Ctrl-C stops the caller too, as
    Optuna's optimize does, and SIGTERM ends the process, after the search stopped cleanly."""
    write_spec(NET)
    space = write_spec("base: net.yaml\nvars: {width: {choices: [4, 8]}}\n", "space.yaml")
    monkeypatch.setattr(_train, "train", lambda *args, **kwargs: os.kill(os.getpid(), sent))
    with pytest.raises(raised) as stopped:
        nasblocks.search("s", root=space.parent / "studies", space=str(space), budget="1MFLOPs",
                         trials=1, epochs=1, resolution=16, limit=120, device="cpu")
    assert raised is KeyboardInterrupt or stopped.value.code == 128 + signal.SIGTERM
    said = " ".join(capsys.readouterr().out.split())  # the hint, in the language it was called from
    assert f"continue with nasblocks.search('s', resume=True, root='{space.parent / 'studies'}')" in said
    kept = optuna.load_study(study_name="s", storage=f"sqlite:///{space.parent / 'studies/s/study.db'}")
    assert [t.state for t in kept.trials] == [optuna.trial.TrialState.FAIL]
