"""A search's results can be had again: the same command draws and trains the same trials, a
study stopped between trials and resumed draws what one run draws, and each trial records what
trains its exported spec to the same accuracy (on CPU, with the same thread count)."""

from __future__ import annotations

import shutil
import sys
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from rich.console import Console
from safetensors.torch import load_file
from test_search_weights import nasblocks_cli
from tiny_search import write_tiny_space

import nasblocks
from nasblocks import _train
from nasblocks._search_run import run_search
from nasblocks._study import best_trial, load_study
from nasblocks._train import TrainResult
from nasblocks.cli import main
from nasblocks.cli_search import study_export

# a 6-point grid: a study of 3 trials resumed to 6 runs each point once
GRID_SPACE = """
name: tiny
base: tiny_spec.yaml
vars:
  depth: {low: 1, high: 3}
  kernel: {choices: [3, 5]}
"""


def search(root: Path, given: dict[str, Any], **options: Any) -> Any:
    return run_search(given, root=root, console=Console(width=120, record=True), **options).study


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """``nasblocks ARGS``'s output; its exit status must be 0."""
    monkeypatch.setattr(sys, "argv", ["nasblocks", *args])
    capsys.readouterr()  # not what ran before
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    assert not exited.value.code, out + err
    return out


def drawn(study: Any) -> list[tuple[Any, ...]]:
    """What the sampler drew and the trial became, without the timings."""
    return [(t.number, t.state, t.params, *(t.user_attrs.get(k) for k in ("seed", "width", "macs", "accuracy")))
            for t in study.trials]


@pytest.fixture
def trains(quick: dict[str, Any]) -> dict[str, Any]:
    """Settings under which the tiny network learns (the quick ones stay at chance, where every
    accuracy is 0.1 and equal accuracies prove nothing)."""
    return {**quick, "epochs": 2, "limit": 600, "batch_size": 32, "trials": 2}


def by_size(model: Any, data: Any, *, epochs: int, seed: int, report: Any, **_: Any) -> TrainResult:
    """Training without the compute: an accuracy that depends on the network, for TPE to model."""
    accuracy = 0.5 + sum(p.numel() for p in model.parameters()) % 997 / 2000
    report(epochs, accuracy)
    return TrainResult(accuracy, epochs, 0.0, seed, "cpu")


@pytest.mark.parametrize("sampler", ["tpe", "nsga2", "grid"])
def test_a_study_resumed_between_trials_draws_what_one_run_draws(tmp_path: Path, quick: dict[str, Any],
                                                                 monkeypatch: pytest.MonkeyPatch, sampler: str) -> None:
    """Each trial's sampler is seeded by the trial's number, so what it draws does not depend on
    where the study stopped; a grid keeps its order, so each point runs once (a resumed grid
    study was reshuffled: its trials' indices named other points, some run twice, some never)."""
    monkeypatch.setattr(_train, "train", by_size)
    given = {**quick, "sampler": sampler, "trials": 6 if sampler == "grid" else 4}
    if sampler == "nsga2":
        given["objectives"] = ["accuracy", "macs"]
    if sampler == "grid":
        given["space"] = str(write_tiny_space(tmp_path, GRID_SPACE))
    whole = search(tmp_path / "whole", given, study="s")
    search(tmp_path / "parts", {**given, "trials": given["trials"] // 2}, study="s")
    resumed = search(tmp_path / "parts", {"trials": given["trials"]}, study="s", resume=True)
    assert drawn(resumed) == drawn(whole)
    if sampler == "grid":
        assert sorted((t.params["depth"], t.params["kernel"]) for t in resumed.trials) == \
            [(1, 3), (1, 5), (2, 3), (2, 5), (3, 3), (3, 5)]


def test_the_same_search_twice_gives_the_same_trials_each_recording_what_trains_it_again(
        tmp_path: Path, trains: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    first, second = (search(tmp_path / run, trains, study="s") for run in ("a", "b"))
    assert drawn(first) == drawn(second)
    assert len({t.user_attrs["accuracy"] for t in first.trials}) > 1  # the trials learnt, differently
    best = best_trial(first)
    assert best.number == best_trial(second).number

    recorded, training = best.user_attrs, best.user_attrs["training"]
    assert training["device"] == "cpu" and training["precision"] == "fp32"
    assert training["threads"] == torch.get_num_threads()
    assert recorded["versions"]["torch"] == torch.__version__ and recorded["versions"]["nasblocks"]
    assert {k: training[k] for k in ("data", "limit", "split_seed", "epochs", "batch_size")} == \
        {"data": "digits", "limit": 600, "split_seed": 0, "epochs": 2, "batch_size": 32}

    study_export("s", output=tmp_path / "best.yaml", best=True, root=tmp_path / "a")
    cost = nasblocks.cost(tmp_path / "best.yaml")
    assert (cost.macs, cost.params) == (recorded["macs"], recorded["params"])

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # retrain trains at the trial's thread count, then gives this one back
    try:
        out = cli(monkeypatch, capsys, "study", "retrain", "s", "--dir", str(tmp_path / "a"))
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(threads)
    accuracy = f"{recorded['accuracy']:.4f}"
    assert out == f"trial {best.number}: accuracy {accuracy}, recorded {accuracy} (the same)\n"


@pytest.mark.parametrize("args, message", [
    (["--device", "tpu"], "error: --device: expected cpu, cuda or cuda:N, got 'tpu'"),
    (["--trial", "9"], "error: study 's' has no trial 9; it has trials 0 to 1"),
])
def test_retrain_refuses_bad_input_in_one_line(tmp_path: Path, quick: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
                                               capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    monkeypatch.setattr(_train, "train", by_size)
    search(tmp_path, {**quick, "trials": 2}, study="s")
    monkeypatch.setattr(sys, "argv", ["nasblocks", "study", "retrain", "s", "--dir", str(tmp_path), *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main()
    _, err = capsys.readouterr()
    assert exited.value.code == 2 and err.startswith(message) and err.count("\n") == 1, err


def by_data(model: Any, data: Any, *, epochs: int, seed: int, report: Any = None, **_: Any) -> TrainResult:
    """Training without the compute: an accuracy that depends on the data it was given."""
    accuracy = 0.5 + len(data.train_y) / 1000
    if report is not None:
        report(epochs, accuracy)
    return TrainResult(accuracy, epochs, 0.0, seed, "cpu")


def image_folder(folder: Path, classes: tuple[str, ...] = ("cat", "dog"), images: int = 6) -> Path:
    """An image folder of a few 8×8 images in each class."""
    from PIL import Image

    for k, label in enumerate(classes):
        (folder / label).mkdir(parents=True)
        for i in range(images):
            Image.new("RGB", (8, 8), tuple(40 * i * (c == k) for c in range(3))).save(folder / label / f"{i}.png")
    return folder


def test_retrain_finds_data_that_moved_where_data_says(tmp_path: Path, quick: dict[str, Any],
                                                      monkeypatch: pytest.MonkeyPatch,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    """A study trained on an image folder, retrained on a machine where the folder is elsewhere."""
    monkeypatch.setattr(_train, "train", by_data)
    images = image_folder(tmp_path / "images")
    search(tmp_path / "a", {**quick, "trials": 1, "data": f"folder:{images}"}, study="s")
    moved = images.rename(tmp_path / "moved")
    retrain = ["nasblocks", "study", "retrain", "s", "--dir", str(tmp_path / "a")]
    for args, status, message in [
        ([], 2, f"error: trial 0 trained on folder:{images}, which is not there: give where it is now with "
                "--data folder:PATH\n"),
        (["--data", f"cifar10:{moved}"], 2, f"error: --data cifar10:{moved}: trial 0 trained on folder:{images}; "
                                            "give where that data is now, folder:PATH\n"),
        (["--data", f"folder:{moved}"], 0, ""),
    ]:
        monkeypatch.setattr(sys, "argv", [*retrain, *args])
        capsys.readouterr()
        with pytest.raises(SystemExit) as exited:
            main()
        out, err = capsys.readouterr()
        assert (exited.value.code or 0, err) == (status, message), out + err
    assert out == "trial 0: accuracy 0.5090, recorded 0.5090 (the same)\n"  # 9 training images


def test_a_resumed_study_takes_its_data_where_it_is_now_and_each_trial_records_where_it_trained(
        tmp_path: Path, quick: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """A study resumed on a machine where its image folder is elsewhere: the same kind of data,
    known by its classes and number of examples; study retrain finds each trial's data where the
    trial trained."""
    monkeypatch.setattr(_train, "train", by_data)
    images = image_folder(tmp_path / "images")
    search(tmp_path / "a", {**quick, "trials": 1, "data": f"folder:{images}"}, study="s")
    moved = images.rename(tmp_path / "moved")
    other = image_folder(tmp_path / "other", ("cat", "dog", "fox"))
    resume = ["search", "--study", "s", "--resume", "--dir", str(tmp_path / "a"), "--trials"]
    for args, status, message in [
        (["2"], 2, f"error: study 's' trained on folder:{images}, which is not there: give where it is now with "
                   "--data folder:PATH\n"),
        (["2", "--data", f"cifar10:{moved}"], 2, f"error: --data cifar10:{moved}: study 's' trained on "
                                                 f"folder:{images}; give where that data is now, folder:PATH\n"),
        (["2", "--data", f"folder:{other}"], 2, f"error: --data folder:{other}: is not the data study 's' trained "
                                                f"on, folder:{images} (2 classes (cat, dog) then, 3 classes (cat, "
                                                "dog, fox) now); a resumed study keeps its data\n"),
        (["2", "--data", f"folder:{moved}"], 0, ""),
    ]:
        assert nasblocks_cli(monkeypatch, capsys, *resume, *args)[::2] == (status, message)
    study = load_study(tmp_path / "a", "s", None)
    assert [t.user_attrs["training"]["data"] for t in study.trials] == [f"folder:{images}", f"folder:{moved}"]
    assert retrain_exits(monkeypatch, capsys, tmp_path / "a", "--trial", "1")[:2] == \
        (0, "trial 1: accuracy 0.5090, recorded 0.5090 (the same)\n")
    (moved / "dog" / "5.png").unlink()  # the study's data, as it now records it, changed in place
    assert nasblocks_cli(monkeypatch, capsys, *resume, "3")[::2] == (
        2, f"error: --data folder:{moved}: changed since study 's' trained on it (12 examples then, 11 examples "
           "now); a resumed study keeps its data\n")


def test_a_worker_joining_a_study_takes_its_data_where_it_is_on_its_machine(
        tmp_path: Path, quick: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_train, "train", by_data)
    images = image_folder(tmp_path / "images")
    there = shutil.copytree(images, tmp_path / "there")  # the same images on the joining worker's machine
    shared = {**quick, "storage": f"journal:{tmp_path / 'journal.log'}"}
    search(tmp_path / "a", {**shared, "trials": 1, "data": f"folder:{images}"}, study="s")
    study = search(tmp_path / "b", {**shared, "trials": 2, "data": f"folder:{there}"}, study="s")
    assert [t.user_attrs["training"]["data"] for t in study.trials] == [f"folder:{images}", f"folder:{there}"]


def retrain_exits(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], root: Path,
                  *args: str) -> tuple[int, str, str]:
    """``nasblocks study retrain s --dir ROOT ARGS``: its exit status, output and errors."""
    monkeypatch.setattr(sys, "argv", ["nasblocks", "study", "retrain", "s", "--dir", str(root), *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    return exited.value.code or 0, out, err


def test_retrain_keeps_the_network_as_trained_which_build_loads_strictly(
        tmp_path: Path, quick: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """-o saves the proxy network retrain trained (the digits' 10 classes, the proxy input), not
    the trial's spec at its own size: built from the two files, it computes what the network of
    a second retrain computes."""
    from nasblocks._search_retrain import retrain
    from nasblocks.errors import WeightsError

    study = search(tmp_path, {**quick, "trials": 1}, study="s")
    weights, spec = tmp_path / "kept" / "best.pt", tmp_path / "kept" / "best.yaml"
    out = cli(monkeypatch, capsys, "study", "retrain", "s", "--dir", str(tmp_path), "-o", str(weights))
    assert out.splitlines()[1:] == [f"saved the network as trained: weights {weights}, spec {spec}",
                                    f"build it: nasblocks build {spec} --weights {weights}"]
    training = study.trials[0].user_attrs["training"]
    saved = nasblocks.load(spec)
    assert (saved.vars["num_classes"], list(saved.input)) == (10, training["input"]) != (1000, [3, 32, 32])
    # the spec's input still reads its resolution var, which says the size trained; one description
    written = yaml.safe_load(spec.read_text())
    assert (written["input"], written["vars"]["resolution"]) == ([3, "resolution", "resolution"], 16)
    assert written["description"] == (
        "The proxy network of trial 0 of study s as study retrain trained it on digits at input 3x16x16 "
        f"(num_classes=10, resolution=16), its weights in best.pt; {tmp_path / 's' / 'trials' / '0.yaml'} is "
        "the network at its own size.")

    model = nasblocks.build(saved, weights=weights).eval()
    epochs: dict[int, float] = {}  # what study retrain's progress bar shows, epoch by epoch
    again = retrain(study, study.trials[0], tmp_path / "s", report=epochs.__setitem__).model
    assert epochs == study.trials[0].intermediate_values and len(epochs) == training["epochs"]
    x = torch.randn(8, *training["input"])
    with torch.no_grad():
        assert torch.equal(model(x), again(x))
    with pytest.raises(WeightsError, match="does not fit"):  # the trial's own spec has 1000 classes
        nasblocks.build(tmp_path / "s" / "trials" / "0.yaml", weights=weights)


def test_retrain_refuses_a_place_it_cannot_save_to_before_training(
        tmp_path: Path, quick: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(_train, "train", by_size)
    search(tmp_path, {**quick, "trials": 1}, study="s")
    trained: list[int] = []
    monkeypatch.setattr(_train, "train", lambda *args, **kwargs: trained.append(1))
    (tmp_path / "taken").write_text("")
    (tmp_path / "kept.yaml").mkdir()
    monkeypatch.setitem(sys.modules, "safetensors.torch", None)  # import safetensors.torch fails
    for output, message in [
        ("best.yaml", "{0}/best.yaml: name the weights file (such as {0}/best.pt); the network's spec is written "
                      "beside it, as {0}/best.yaml"),
        ("best.safetensors", "{0}/best.safetensors: writing .safetensors needs the package safetensors: "
                             "pip install safetensors"),  # an optional package, made missing below
        ("taken/best.pt", "{0}/taken/best.pt: cannot write there ({0}/taken is a file, not a folder)"),
        ("kept.pt", "{0}/kept.yaml: is a folder; name a file to write"),  # where the spec would go
    ]:
        status, _, err = retrain_exits(monkeypatch, capsys, tmp_path, "-o", str(tmp_path / output))
        assert (status, err) == (2, f"error: {message.format(tmp_path)}\n")
    assert not trained and not list(tmp_path.rglob("*.pt"))


def test_retrain_keeps_a_network_whose_accuracy_differs_and_exits_1(
        tmp_path: Path, quick: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    """The weights are what this setup trained, so they are saved (here as .safetensors); the
    status still tells."""
    monkeypatch.setattr(_train, "train", by_size)
    search(tmp_path, {**quick, "trials": 1}, study="s")

    def lower(*args: Any, **kwargs: Any) -> TrainResult:
        return replace(by_size(*args, **kwargs), accuracy=0.25)  # retrain reports its progress

    monkeypatch.setattr(_train, "train", lower)
    status, out, _ = retrain_exits(monkeypatch, capsys, tmp_path, "-o", str(tmp_path / "best.safetensors"))
    assert status == 1 and out.startswith("trial 0: accuracy 0.2500, recorded ") and "saved the network" in out
    model = nasblocks.build(tmp_path / "best.yaml", weights=tmp_path / "best.safetensors")  # strictly
    saved = load_file(tmp_path / "best.safetensors")  # a safetensors file, not torch.save's
    assert saved.keys() == model.state_dict().keys()


@pytest.mark.parametrize("pool, sizes", [
    ("{adaptive_avgpool: {size: 1}}", {"resolution": 16}),  # only the input reads it: kept, at the size trained
    ("{conv: {out: 1 + resolution // 100, kernel: 1}}", None),  # a layer reads it too: the input as a list
])
def test_the_written_spec_keeps_its_resolution_var_only_where_that_is_the_network_trained(
        tmp_path: Path, pool: str, sizes: dict[str, int] | None) -> None:
    from nasblocks._search_retrain import _input_vars

    path = tmp_path / "net.yaml"
    path.write_text(f"name: net\nvars: {{resolution: 224}}\ninput: [3, resolution, resolution]\n"
                    f"network:\n  - conv: {{out: 4, kernel: 3}}\n  - {pool}\n")
    proxy = nasblocks.load(path).with_input((3, 16, 16))  # as a trial's proxy: the var as written, another input
    assert _input_vars(proxy) == sizes
