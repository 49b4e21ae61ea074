"""``nasblocks search --weights FILE``: each trial starts from the file as far as its network fits
it, and records what it took; ``study retrain`` and ``--resume`` start from the same file again,
and refuse one that changed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from rich.console import Console
from safetensors.torch import save_file
from tiny_search import write_tiny_space

import nasblocks
from nasblocks._data import load_dataset
from nasblocks._search_prepare import WEIGHTS_ATTR
from nasblocks._search_run import run_search
from nasblocks._study import best_trial, load_study
from nasblocks._train import train
from nasblocks.cli import main


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny space's base network, trained a little on the data the searches use."""
    folder = tmp_path_factory.mktemp("pretrained")
    write_tiny_space(folder)
    torch.manual_seed(0)
    model = nasblocks.build(nasblocks.load(folder / "tiny_spec.yaml", input=(3, 16, 16), num_classes=10))
    data = load_dataset("digits", resolution=16, device=torch.device("cpu"), seed=0, limit=600)
    train(model, data, epochs=4, seed=0, batch_size=32)
    torch.save(model.state_dict(), folder / "tiny.pt")
    return folder / "tiny.pt"


@pytest.fixture
def learns(quick: dict[str, Any]) -> dict[str, Any]:
    """One epoch on 600 digits: from scratch the tiny networks stay near chance."""
    return {**quick, "trials": 4, "limit": 600, "batch_size": 32}


def search(root: Path, given: dict[str, Any], **options: Any) -> Any:
    return run_search(given, root=root, console=Console(width=120, record=True), **options).study


def nasblocks_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    """``nasblocks ARGS``'s exit status, standard output and standard error."""
    monkeypatch.setattr(sys, "argv", ["nasblocks", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    return int(exited.value.code or 0), out, err


def test_trials_start_from_the_file_and_learn_faster(tmp_path: Path, learns: dict[str, Any], pretrained: Path) -> None:
    scratch = search(tmp_path / "scratch", learns)
    started = search(tmp_path / "started", {**learns, "weights": str(pretrained)}, study="s")
    assert [t.params for t in started.trials] == [t.params for t in scratch.trials]
    assert min(t.user_attrs["accuracy"] for t in started.trials) > \
        max(t.user_attrs["accuracy"] for t in scratch.trials) + 0.1
    for trial in started.trials:
        inherited = trial.user_attrs["inherited"]
        assert inherited["whole"] + inherited["part"] > 0
        recorded = trial.user_attrs["training"]["weights"]
        assert {key: recorded[key] for key in ("path", "sha256")} == started.user_attrs[WEIGHTS_ATTR]
        # the file's network has one repeat; the pooling and the classifier after them are 2 and 3 there
        depth = trial.params["depth"]
        assert recorded["renamed"] == {**{str(1 + i): None for i in range(1, depth)},
                                       **{str(1 + depth + k): str(2 + k) for k in range(2) if depth > 1}}
        assert "inherited" not in scratch.trials[trial.number].user_attrs
    assert started.user_attrs[WEIGHTS_ATTR]["path"] == str(pretrained)
    wider = [t for t in started.trials if t.user_attrs["width"] > 1]  # the file's network is width 1
    assert wider and all(t.user_attrs["inherited"]["part"] for t in wider)


def test_retrain_and_resume_find_the_file_by_its_digest(
        tmp_path: Path, learns: dict[str, Any], pretrained: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    weights = tmp_path / "weights.pt"
    weights.write_bytes(pretrained.read_bytes())
    study = search(tmp_path, {**learns, "trials": 1, "weights": str(weights)}, study="s")
    accuracy = f"{best_trial(study).user_attrs['accuracy']:.4f}"
    same = f"trial 0: accuracy {accuracy}, recorded {accuracy} (the same)\n"
    retrain = ["study", "retrain", "s", "--dir", str(tmp_path)]
    resume = ["search", "--study", "s", "--resume", "--dir", str(tmp_path)]
    threads = torch.get_num_threads()
    try:
        assert nasblocks_cli(monkeypatch, capsys, *retrain)[:2] == (0, same)
        moved = weights.rename(tmp_path / "moved.pt")
        status, _, err = nasblocks_cli(monkeypatch, capsys, *retrain)
        assert (status, err) == (2, f"error: {weights}: no such file; trial 0 started from the file of sha256 "
                                    f"{study.user_attrs[WEIGHTS_ATTR]['sha256'][:12]}… there: give where it is "
                                    "now with --weights FILE\n")
        assert nasblocks_cli(monkeypatch, capsys, *retrain, "--weights", str(moved))[:2] == (0, same)
    finally:
        torch.set_num_threads(threads)

    other = tmp_path / "other.pt"
    state = torch.load(moved)
    state[next(iter(state))] += 1
    torch.save(state, other)
    status, _, err = nasblocks_cli(monkeypatch, capsys, *retrain, "--weights", str(other))
    assert status == 2 and err.startswith(f"error: {other}: is not the file trial 0 started from, {weights} "
                                          "(sha256 "), err
    status, _, err = nasblocks_cli(monkeypatch, capsys, *resume, "--trials", "2", "--weights", str(other))
    assert status == 2 and err.startswith(f"error: {other}: is not the file study 's' started from"), err
    torch.save(state, moved)  # changed where it is
    status, _, err = nasblocks_cli(monkeypatch, capsys, *resume, "--trials", "2", "--weights", str(moved))
    assert status == 2 and err.startswith(f"error: {moved}: is not the file study 's' started from"), err
    assert len(load_study(tmp_path, "s", None).trials) == 1

    moved.write_bytes(pretrained.read_bytes())
    assert nasblocks_cli(monkeypatch, capsys, *resume, "--trials", "2", "--weights", str(moved))[0] == 0
    resumed = load_study(tmp_path, "s", None)
    assert len(resumed.trials) == 2 and resumed.user_attrs[WEIGHTS_ATTR]["path"] == str(moved)
    assert resumed.trials[1].user_attrs["training"]["weights"]["path"] == str(moved)


def test_weights_on_resume_of_a_study_without_them_are_refused(
        tmp_path: Path, quick: dict[str, Any], pretrained: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    search(tmp_path, {**quick, "trials": 1}, study="s")
    status, _, err = nasblocks_cli(monkeypatch, capsys, "search", "--study", "s", "--resume", "--trials", "2",
                                   "--weights", str(pretrained), "--dir", str(tmp_path))
    assert (status, err) == (2, "error: --weights: study 's' was created without weights; a resumed study keeps "
                                "its settings\n")
    status, _, err = nasblocks_cli(monkeypatch, capsys, "study", "retrain", "s", "--weights", str(pretrained),
                                   "--dir", str(tmp_path), "--trial", "0")
    assert (status, err) == (2, "error: --weights: trial 0 started from no weights file; drop --weights\n")


@pytest.mark.parametrize("make, message", [
    (str, "error: {path}: no such file"),
    (lambda path: torch.save({"conv1.weight": torch.ones(2), "fc.bias": torch.ones(2)}, path) or str(path),
     "error: --weights {path}: none of its 2 tensors has a name the networks of space 'tiny' have "
     "(it has conv1.weight, fc.bias, …); give weights of the space's base network, tiny"),
    # --weights "$WEIGHTS" with the variable unset: Path("") is the current folder
    (lambda path: "", "error: --weights: expected a weights file, got an empty path"),
], ids=["missing", "another network's", "empty"])
def test_weights_no_network_of_the_space_takes_are_refused_before_any_trial(
        tmp_path: Path, quick: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        make: Any, message: str) -> None:
    path = tmp_path / "other.pt"
    status, _, err = nasblocks_cli(monkeypatch, capsys, "search", "--space", quick["space"], "--budget", "1MFLOPs",
                                "--weights", make(path), "--dir", str(tmp_path / "studies"), "--study", "s")
    assert status == 2 and err == message.format(path=path) + "\n"
    assert not (tmp_path / "studies" / "s").exists()


@pytest.mark.parametrize("name", ["locked.pt", "locked.safetensors"])
def test_a_weights_file_that_cannot_be_read_is_one_line(
        tmp_path: Path, quick: dict[str, Any], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
        name: str) -> None:
    """torch took a file it may not open for no weights file, and safetensors for a missing one
    (a traceback). The file is refused as the system refuses a user without read permission
    (root reads any file, so chmod alone proves nothing)."""
    path = tmp_path / name
    save_file({"0.0.weight": torch.ones(1)}, path)  # the suffix is what tells the readers apart
    real_open = Path.open

    def refused(self: Path, *args: Any, **kwargs: Any) -> Any:
        if self == path:
            raise PermissionError(13, "Permission denied", str(self))
        return real_open(self, *args, **kwargs)

    monkeypatch.setattr(Path, "open", refused)
    status, _, err = nasblocks_cli(monkeypatch, capsys, "search", "--space", quick["space"], "--budget", "1MFLOPs",
                                   "--weights", str(path), "--dir", str(tmp_path / "studies"), "--study", "s")
    assert (status, err) == (2, f"error: {path}: cannot be read (Permission denied)\n")
    assert not (tmp_path / "studies" / "s").exists()


def test_a_trial_and_its_retrain_expand_their_proxy_network_once(
        tmp_path: Path, quick: dict[str, Any], pretrained: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Matching the network to the file's places and building it read the same graph."""
    from nasblocks import _expand, _search
    from nasblocks._search_retrain import retrain

    proxy_input = (3, quick["resolution"], quick["resolution"])  # the deployment input is 32x32
    expanded: list[int] = []

    def counted(spec: nasblocks.Spec) -> Any:
        expanded.append(tuple(spec.input) == proxy_input)
        return real_expand(spec)

    def one_trial(self: _search.Search, trial: Any) -> Any:
        del expanded[:]
        try:
            return real_trial(self, trial)
        finally:
            per_trial.append(sum(expanded))

    real_expand, real_trial, per_trial = _expand.expand, _search.Search._trial, []
    monkeypatch.setattr(_search, "expand", counted)
    monkeypatch.setattr(_expand, "expand", counted)  # what retrain imports
    monkeypatch.setattr(_search.Search, "_trial", one_trial)
    study = search(tmp_path, {**quick, "trials": 2, "weights": str(pretrained)}, study="s")
    finished = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert finished and all(per_trial[t.number] == 1 for t in finished)
    del expanded[:]
    retrain(study, finished[0], tmp_path / "s")
    assert sum(expanded) == 1
