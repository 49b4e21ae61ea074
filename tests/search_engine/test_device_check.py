"""A --device this machine lacks (``cuda:7`` beside one GPU, ``cuda`` with none) is one line and
exit status 2 before any work, in each command that takes one: the one check, ``torch_device``.
torch.cuda's count is faked; no GPU is needed."""

from __future__ import annotations

import copy
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from rich.console import Console

from nasblocks import _train
from nasblocks._latency import torch_device
from nasblocks._search_retrain import retrain
from nasblocks._search_run import run_search
from nasblocks._study import load_study
from nasblocks._train import TrainResult
from nasblocks.cli import main
from nasblocks.errors import DeviceError


def gpus(monkeypatch: pytest.MonkeyPatch, count: int) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: count > 0)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: count)


@pytest.mark.parametrize(("count", "name", "has"), [
    (0, "cuda", "no CUDA device; use --device cpu"),
    (1, "cuda:7", "1 CUDA device (cuda:0)"),
    (2, "cuda:2", "2 CUDA devices (cuda:0, cuda:1)"),
    (8, "cuda:8", "8 CUDA devices (cuda:0 to cuda:7)"),
])
def test_a_device_this_machine_lacks_is_named_with_what_it_has(monkeypatch: pytest.MonkeyPatch, count: int,
                                                               name: str, has: str) -> None:
    gpus(monkeypatch, count)
    with pytest.raises(DeviceError, match=rf"^--device {name}: this machine has {re.escape(has)}$"):
        torch_device(name)
    assert torch_device("cpu") == torch.device("cpu")
    if count:
        assert torch_device(f"cuda:{count - 1}") == torch.device("cuda", count - 1)


def fails(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> str:
    """What ``nasblocks ARGS`` prints to stderr; it must exit with status 2 and print nothing else."""
    monkeypatch.setattr(sys, "argv", ["nasblocks", *args])
    capsys.readouterr()
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    assert exited.value.code == 2 and out == "", out + err
    return err


def untrained(model: Any, data: Any, *, epochs: int, seed: int, report: Any, **_: Any) -> TrainResult:
    report(epochs, 0.5)
    return TrainResult(0.5, epochs, 0.0, seed, "cpu")


def test_latency_search_and_retrain_refuse_a_gpu_this_machine_lacks(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        quick: dict[str, Any]) -> None:
    monkeypatch.setattr(_train, "train", untrained)
    run_search({**quick, "trials": 1}, study="s", root=tmp_path / "studies", console=Console(record=True))
    search = ["search", "--space", quick["space"], "--budget", "1MFLOPs", "--trials", "1", "--dir", str(tmp_path / "new")]
    retrain_s = ["study", "retrain", "s", "--dir", str(tmp_path / "studies")]
    for count, device, line in [(1, "cuda:7", "error: --device cuda:7: this machine has 1 CUDA device (cuda:0)\n"),
                                (0, "cuda", "error: --device cuda: this machine has no CUDA device; use --device cpu\n")]:
        gpus(monkeypatch, count)
        assert fails(monkeypatch, capsys, "latency", str(tmp_path / "tiny_spec.yaml"), "--device", device) == line
        assert fails(monkeypatch, capsys, *search, "--device", device) == line
        assert fails(monkeypatch, capsys, *retrain_s, "--device", device) == line
    assert fails(monkeypatch, capsys, *search, "--device", "gpu") == \
        "error: --device: expected auto, cpu, cuda or cuda:N, got 'gpu'\n"
    assert not (tmp_path / "new").exists()  # refused before the study was made

    study = load_study(tmp_path / "studies", "s")
    trial = copy.deepcopy(study.trials[0])
    trial.user_attrs["training"]["device"] = "cuda:1 (NVIDIA H100 80GB HBM3)"  # trained on another machine
    gpus(monkeypatch, 1)
    with pytest.raises(DeviceError, match=r"^trial 0 trained on cuda:1: this machine has 1 CUDA device \(cuda:0\)$"):
        retrain(study, trial, tmp_path / "studies" / "s")
