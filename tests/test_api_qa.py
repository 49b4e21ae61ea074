"""The Python API as a demanding caller meets it: a message a call raises or prints opens with the
keyword the caller wrote, says what to call where it says what to do (``nasblocks.load``'s
keywords, ``nasblocks.search(..., resume=True)``), not what to type, and blames what actually
caused it; a keyword of the wrong type or an empty one is refused before anything is written."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
import sqlalchemy.exc
import torch

import nasblocks
from nasblocks import _train
from nasblocks._search_config import api_options
from nasblocks._search_prepare import resume_command
from nasblocks._search_run import _optimize
from nasblocks._weights import VARS_REMEDY, compiled
from nasblocks.errors import BudgetError, LatencyError, SpecError, StudyError, WeightsError

NET = """
input: [3, 16, 16]
vars: {width: 8, num_classes: 10}
network:
  - conv: {out: width, kernel: 3}
  - bn: {}
  - relu: {}
  - adaptive_avgpool: {}
  - flatten: {}
  - linear: {out: num_classes}
"""
SPACE = "base: net.yaml\nvars: {width: {choices: [4, 8]}}\n"
# a search of one small trial (the ``space`` fixture stands in for its training)
QUICK = {"budget": "1MFLOPs", "trials": 1, "epochs": 1, "resolution": 16, "limit": 120, "device": "cpu"}


@pytest.fixture
def space(write_spec: Callable[..., Path], latency_cache: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A space of two networks, whose trials train instantly."""
    write_spec(NET)
    monkeypatch.setattr(_train, "train", lambda model, data, *, seed, **kwargs:
                        _train.TrainResult(0.5, 1, 0.0, seed, "cpu"))
    return str(write_spec(SPACE, "space.yaml"))


@pytest.mark.parametrize("given", ["file", "state_dict"])
def test_weights_that_do_not_fit_say_how_a_caller_sets_the_vars(given: str, write_spec: Callable[..., Path],
                                                               tmp_path: Path) -> None:
    """build() has no --set: the vars that make the network the file's are load's keywords."""
    net = write_spec(NET)
    state = nasblocks.build(net).state_dict()
    torch.save(state, tmp_path / "w.pt")
    weights = tmp_path / "w.pt" if given == "file" else state
    with pytest.raises(WeightsError) as raised:
        nasblocks.build(nasblocks.load(net, num_classes=5), weights=weights)
    assert "4.weight is [10, 8] there and [5, 8] here" in str(raised.value)
    assert str(raised.value).endswith("(the spec's vars, nasblocks.load(..., num_classes=...) or "
                                      "spec.with_vars(width=...), must give the network the file was saved from)")


def test_the_command_still_says_set(write_spec: Callable[..., Path]) -> None:
    net = write_spec(NET)
    with pytest.raises(WeightsError, match=r"\(the spec's vars, --set num_classes=\.\.\. or width"):
        compiled(nasblocks.expand(nasblocks.load(net, num_classes=5)), nasblocks.build(net).state_dict())
    assert VARS_REMEDY.startswith("the spec's vars, --set")


@pytest.mark.parametrize("stat", ["mean", None])
def test_a_wrong_stat_names_the_keyword(stat: Any, write_spec: Callable[..., Path], latency_cache: Path) -> None:
    """stat has no command-line option: its error opened with the bare setting's name."""
    with pytest.raises(LatencyError) as raised:
        nasblocks.cost(write_spec(NET), latency="cpu", stat=stat)
    assert str(raised.value) == f"cost(stat=...): expected one of median, p10, min, got {stat!r}"


@pytest.mark.parametrize("budget", [[], ()], ids=["list", "tuple"])
def test_an_empty_budget_is_refused_not_a_search_without_one(budget: Any, tmp_path: Path) -> None:
    with pytest.raises(BudgetError) as raised:
        nasblocks.search(root=tmp_path, budget=budget)
    assert str(raised.value) == "search(budget=[]): expected one bound or more, e.g. '300MFLOPs' or ['60MFLOPs', '8ms']"
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(("budget", "shown"), [("", "''"), (["1MFLOPs", "8 mz"], "'8 mz'")])
def test_a_budget_that_does_not_read_names_the_keyword(budget: Any, shown: str, tmp_path: Path, space: str) -> None:
    with pytest.raises(BudgetError) as raised:
        nasblocks.search(root=tmp_path / "studies", space=space, budget=budget)
    assert str(raised.value).startswith(f"search(budget={shown}): expected a number followed by a unit")
    assert not (tmp_path / "studies").exists()


@pytest.mark.parametrize(("options", "message"), [
    ({"trials": "3"}, "search(trials=...) expects an int, got '3'"),
    ({"trials": 2.0}, "search(trials=...) expects an int, got 2.0"),
    ({"epochs": True}, "search(epochs=...) expects an int, got True"),
    ({"resolution": 16.0}, "search(resolution=...) expects an int, got 16.0"),
    ({"lr": "0.1"}, "search(lr=...) expects a number, got '0.1'"),
    ({"label_smoothing": False}, "search(label_smoothing=...) expects a number, got False"),
], ids=["a str", "a float", "a bool", "a float resolution", "a str lr", "a bool label_smoothing"])
def test_a_number_of_the_wrong_type_is_one_type_error(options: dict[str, Any], message: str, tmp_path: Path) -> None:
    """README: a search's setting of the wrong type is a TypeError, as for any function."""
    with pytest.raises(TypeError) as raised:
        nasblocks.search(root=tmp_path, **options)
    assert str(raised.value) == message and not any(tmp_path.iterdir())


def test_numpy_numbers_and_tuples_are_taken_as_ints_floats_and_lists() -> None:
    """A notebook's loop over np.arange or a tuple of budgets: what the study stores is plain."""
    given = api_options({"budget": ("60MFLOPs", "8ms"), "objectives": ("accuracy", "latency"),
                         "trials": np.int64(3), "lr": np.float32(0.5), "momentum": 0})
    assert given == {"budget": ["60MFLOPs", "8ms"], "objectives": ["accuracy", "latency"], "trials": 3, "lr": 0.5,
                     "momentum": 0.0}
    assert [type(value) for value in given.values()] == [list, list, int, float, float]


@pytest.mark.parametrize("storage", ["", "  "])
def test_an_empty_storage_is_refused(storage: str, tmp_path: Path, space: str) -> None:
    """An unset $STORAGE: no study in SQLite beside, nor an error about a folder not made yet."""
    with pytest.raises(StudyError) as raised:
        nasblocks.search("s", root=tmp_path / "studies", space=space, storage=storage, **QUICK)
    assert str(raised.value) == (f"search(storage={storage!r}): expected a database URL "
                                 "(postgresql://user@host/db, sqlite:///path) or journal:PATH")
    assert not (tmp_path / "studies").exists()


def test_a_search_run_twice_says_the_call_that_resumes_it(tmp_path: Path, space: str) -> None:
    """A notebook's cell run again: the hint is a call, and that call continues the study."""
    root = tmp_path / "studies"
    first = nasblocks.search("s", root=root, space=space, **QUICK)
    with pytest.raises(StudyError) as raised:
        nasblocks.search("s", root=root, space=space, **QUICK)
    call = f"nasblocks.search('s', resume=True, root='{root}')"
    assert str(raised.value) == f"study 's' already exists in {root / 's'}; continue it with {call}, or choose another name"
    resumed = eval(call, {"nasblocks": nasblocks})
    assert [t.number for t in resumed.trials] == [t.number for t in first.trials] == [0]


def test_a_grid_search_from_python_says_its_keyword(tmp_path: Path, space: str,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    nasblocks.search(root=tmp_path, space=space, **{**QUICK, "sampler": "grid", "trials": 3})
    said = " ".join(capsys.readouterr().out.split())
    assert "search(sampler='grid'): space 'space' has 2 points, 2 of them not run yet" in said
    assert "--" not in said


@pytest.mark.parametrize(("python", "again"), [(False, "run the same command again"),
                                                (True, "make the same call of nasblocks.search again")])
def test_a_lost_storage_says_how_to_rejoin_in_the_callers_words(python: bool, again: str) -> None:
    def lose(*args: Any, **kwargs: Any) -> None:
        raise sqlalchemy.exc.OperationalError("SELECT", {}, Exception("server closed the connection"))

    search = SimpleNamespace(quota=SimpleNamespace(work_left=lambda study: True), url="sqlite:////s/study.db",
                             abandoned=None, objective=None, on_trial_end=None, reseed=None)
    with pytest.raises(StudyError, match=rf"its finished trials are kept there: {again} to rejoin$"):
        _optimize(search, SimpleNamespace(optimize=lose), python)  # type: ignore[arg-type]


@pytest.mark.parametrize(("python", "command"), [
    (False, "nasblocks search --study s --resume --dir /runs --storage 'postgresql://me:***@db/x'"),
    (True, "nasblocks.search('s', resume=True, root='/runs', storage='postgresql://me:***@db/x')"),
])
def test_the_resume_hint_carries_the_folder_and_the_storage_without_its_password(python: bool, command: str) -> None:
    assert resume_command("s", Path("/runs"), "postgresql://me:secret@db/x", python) == command
    plain = "nasblocks.search('s', resume=True)" if python else "nasblocks search --study s --resume"
    assert resume_command("s", Path("studies"), None, python) == plain


PROXY_NET = """
input: [3, 64, 64]
vars: {width: 8, k: 2, num_classes: 10}
network:
  - conv: {out: width, kernel: 3}
  - maxpool: {kernel: k, stride: 2}
  - maxpool: {kernel: 2, stride: 2}
  - adaptive_avgpool: {}
  - flatten: {}
  - linear: {out: num_classes}
"""


@pytest.mark.parametrize(("base_k", "space_line", "resolution", "error", "message"), [
    (2, "proxy_vars: {k: 40}", None, SpecError,
     "{space}:3: proxy_vars: with these vars space 'space' cannot run at 32×32 ({net}:6: network[1].maxpool: "
     "pool kernel 40 (extent 40) is larger than the padded input 32 (input 4×32×32)); without them it can"),
    (2, "proxy_resolution: 3", None, SpecError,
     "{space}:3: proxy_resolution: space 'space' cannot run at 3×3 ({net}:7: network[2].maxpool: pool kernel 2 "
     "(extent 2) is larger than the padded input 1 (input 4×1×1)); set a larger proxy_resolution, or give a "
     "larger --resolution"),
    (40, "", None, StudyError,
     "space 'space' cannot run at 32×32, the default proxy resolution ({net}:6: network[1].maxpool: pool kernel "
     "40 (extent 40) is larger than the padded input 32 (input 4×32×32)); give a larger --resolution, or the "
     "space a proxy_resolution"),
    (2, "proxy_resolution: 64", 3, StudyError,
     "search(resolution=3): space 'space' cannot run at 3×3 ({net}:7: network[2].maxpool: pool kernel 2 "
     "(extent 2) is larger than the padded input 1 (input 4×1×1)); use a larger --resolution"),
], ids=["proxy_vars", "proxy_resolution", "the default", "resolution"])
def test_a_proxy_that_does_not_build_blames_what_made_it(base_k: int, space_line: str, resolution: int | None,
                                                         error: type[Exception], message: str, tmp_path: Path,
                                                         write_spec: Callable[..., Path], latency_cache: Path) -> None:
    """Not --resolution where the caller gave none: the space's proxy_vars or proxy_resolution, at
    its line in the space file, or the default resolution."""
    net = write_spec(PROXY_NET.replace("k: 2,", f"k: {base_k},"))
    space = write_spec(f"{SPACE}{space_line}\n", "space.yaml")
    given = {} if resolution is None else {"resolution": resolution}
    with pytest.raises(error) as raised:
        nasblocks.search(root=tmp_path / "studies", space=str(space), device="cpu", limit=120, **given)
    assert str(raised.value) == message.format(space=space, net=net)
    assert not (tmp_path / "studies").exists()
