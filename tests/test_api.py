"""The Python API as a notebook uses it: what each public function takes, what a mistake in a call
raises (one clear message, never an error from deep inside), and examples in docstrings that hold."""

from __future__ import annotations

import copy
import doctest
import inspect
import os
import pickle
import signal
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
    with pytest.raises(DeviceError, match="expected cpu, cuda or cuda:N, got 'gpu'"):
        nasblocks.cost("resnet18", latency="gpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceError, match="this machine has no CUDA device"):
        nasblocks.cost("resnet18", latency="cuda")


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
