"""Weights from files on disk: the reference's own checkpoint files load into the compiled network
and give the reference's outputs; files that do not fit are one error naming what differs."""

from __future__ import annotations

import builtins
import hashlib
import io
import sys
from pathlib import Path

import pytest
import torch
import torchvision
from safetensors.torch import save_file

import nasblocks
from nasblocks._weights import Pretrained
from nasblocks.cli import main
from nasblocks.errors import NasblocksError, WeightsError

INPUT = (3, 96, 96)


@pytest.fixture(scope="module")
def reference() -> torch.nn.Module:
    torch.manual_seed(0)
    return torchvision.models.squeezenet1_1().eval()


def same_outputs(path: Path | dict[str, torch.Tensor], reference: torch.nn.Module) -> None:
    spec = nasblocks.load("squeezenet1_1", input=INPUT)
    model = nasblocks.build(spec, weights=path).eval()
    x = torch.randn(2, *INPUT)
    with torch.inference_mode():
        torch.testing.assert_close(model(x), reference(x), rtol=0, atol=0)


def test_a_torchvision_state_dict_file_gives_torchvision_outputs(reference: torch.nn.Module, tmp_path: Path) -> None:
    torch.save(reference.state_dict(), tmp_path / "squeezenet1_1.pth")
    same_outputs(tmp_path / "squeezenet1_1.pth", reference)


def test_a_training_checkpoint_with_dataparallel_names_loads(reference: torch.nn.Module, tmp_path: Path) -> None:
    state = {f"module.{key}": value for key, value in reference.state_dict().items()}
    torch.save({"epoch": 90, "optimizer": {}, "state_dict": state}, tmp_path / "checkpoint.pth.tar")
    same_outputs(tmp_path / "checkpoint.pth.tar", reference)


def test_safetensors_and_in_memory_state_dicts_load(reference: torch.nn.Module, tmp_path: Path) -> None:
    save_file(reference.state_dict(), tmp_path / "model.safetensors")
    same_outputs(tmp_path / "model.safetensors", reference)
    same_outputs(reference.state_dict(), reference)


def test_a_checkpoint_from_before_num_batches_tracked_loads(tmp_path: Path) -> None:
    reference = torchvision.models.resnet18(num_classes=10)
    old = {k: v for k, v in reference.state_dict().items() if not k.endswith("num_batches_tracked")}
    torch.save(old, tmp_path / "old.pth")
    model = nasblocks.build(nasblocks.load("resnet18", num_classes=10), weights=tmp_path / "old.pth")
    assert torch.equal(model.state_dict()["fc.weight"], reference.fc.weight)


def test_another_num_classes_names_the_keys_and_both_shapes(reference: torch.nn.Module, tmp_path: Path) -> None:
    torch.save(reference.state_dict(), tmp_path / "sq.pth")
    with pytest.raises(WeightsError) as err:
        nasblocks.build(nasblocks.load("squeezenet1_1", num_classes=10), weights=tmp_path / "sq.pth")
    assert str(err.value).startswith(f"{tmp_path / 'sq.pth'}: does not fit squeezenet1_1: 2 shapes differ "
                                     "(classifier.1.weight is [1000, 512, 1, 1] there and [10, 512, 1, 1] here")
    assert "nasblocks.load(..., num_classes=...)" in str(err.value)  # the caller's way to set vars


def test_one_extra_key_and_one_shape_are_said_in_the_singular(reference: torch.nn.Module, tmp_path: Path) -> None:
    state = {**reference.state_dict(), "extra.weight": torch.zeros(1)}
    state["classifier.1.bias"] = torch.zeros(10)
    torch.save(state, tmp_path / "sq.pth")
    with pytest.raises(WeightsError, match=r"^\S+: does not fit squeezenet1_1: 1 key the network lacks \(extra.weight\); "
                                           r"1 shape differs \(classifier.1.bias is \[10\] there and \[1000\] here\)"):
        nasblocks.build("squeezenet1_1", weights=tmp_path / "sq.pth")


def test_another_network_names_missing_and_extra_keys_a_few_at_a_time(
        reference: torch.nn.Module, tmp_path: Path) -> None:
    torch.save(reference.state_dict(), tmp_path / "sq.pth")
    with pytest.raises(WeightsError, match=r"does not fit resnet18: \d+ of the network's keys missing \(conv1.weight, "
                       r"bn1.weight, bn1.bias, and \d+ more\); 52 keys the network lacks \(features.0.weight"):
        nasblocks.build("resnet18", weights=tmp_path / "sq.pth")


@pytest.mark.parametrize("content, message", [
    (None, "no such file"),
    (b"not a checkpoint", r"not a PyTorch weights file \(.+\); save weights with torch.save\(model.state_dict"),
    ({"epoch": 3}, "holds a dict with keys epoch, not a state_dict"),
    ([torch.zeros(1)], "holds a list, not a state_dict"),
    (torchvision.models.squeezenet1_1(), r"holds a pickled torchvision.models.squeezenet.SqueezeNet \(a whole "
                                         "module\\?\\), not only tensors, and loading it would run its code"),
])
def test_a_file_that_holds_no_weights_is_one_error_naming_it(content: object, message: str, tmp_path: Path) -> None:
    path = tmp_path / "weights.pth"
    if isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        torch.save(content, path)
    with pytest.raises(WeightsError, match=f"^{path}: {message}"):
        nasblocks.build("squeezenet1_1", weights=path)


def test_a_spec_given_for_weights_is_one_error_naming_the_weights_beside_it(tmp_path: Path) -> None:
    spec = tmp_path / "best.yaml"
    spec.write_text("name: best\n")
    with pytest.raises(WeightsError, match=f"^{spec}: a spec, not a weights file; give the weights saved with it "
                                           r"\(study retrain -o best.pt writes best.pt, and its spec as best.yaml\)$"):
        nasblocks.build("squeezenet1_1", weights=spec)


def test_a_broken_safetensors_file_is_a_weights_error(tmp_path: Path) -> None:
    (tmp_path / "bad.safetensors").write_bytes(b"\x00" * 16)
    with pytest.raises(NasblocksError, match="bad.safetensors: not a safetensors file"):
        nasblocks.build("squeezenet1_1", weights=tmp_path / "bad.safetensors")


def test_a_search_s_weights_file_is_opened_once_for_its_tensors_and_its_digest(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    path = tmp_path / "model.pt"  # (safetensors maps its file itself, from Rust)
    state = {"conv.weight": torch.randn(4, 3, 3, 3), "conv.bias": torch.randn(4)}
    torch.save(state, path)
    opened: list[str] = []

    def counted(file: object, *args: object, **kwargs: object) -> object:
        opened.append(str(file))
        return real_open(file, *args, **kwargs)  # type: ignore[call-overload]

    real_open = io.open
    monkeypatch.setattr(io, "open", counted)  # Path.open's
    monkeypatch.setattr(builtins, "open", counted)  # torch.load's and hashlib's
    pretrained = Pretrained.read(path)
    assert opened.count(str(path)) == 1
    assert pretrained.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert pretrained.state.keys() == state.keys() and all(torch.equal(pretrained.state[k], state[k]) for k in state)


def cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["nasblocks", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    return exited.value.code or 0, out, err


def test_build_and_export_take_weights_from_the_command_line(
        reference: torch.nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    torch.save(reference.state_dict(), tmp_path / "sq.pth")
    shape = "x".join(map(str, INPUT))
    code, out, _ = cli(monkeypatch, capsys, "build", "squeezenet1_1", "--input", shape, "-w", str(tmp_path / "sq.pth"),
                       "-o", str(tmp_path / "sq.pt"))
    assert code == 0 and f"loaded the weights of {tmp_path / 'sq.pth'}: every tensor fits" in out
    x = torch.randn(2, *INPUT)
    with torch.inference_mode():
        saved = torch.load(tmp_path / "sq.pt", weights_only=False).eval()
        torch.testing.assert_close(saved(x), reference(x), rtol=0, atol=0)
    code, _, _ = cli(monkeypatch, capsys, "export", "squeezenet1_1", "--input", shape, "--weights",
                     str(tmp_path / "sq.pth"), "-o", str(tmp_path / "sq.pt2"))
    assert code == 0
    with torch.inference_mode():
        exported = torch.export.load(tmp_path / "sq.pt2").module()
        torch.testing.assert_close(exported(x[:1]), reference(x[:1]))


@pytest.mark.parametrize("command", ["build", "export"])
def test_weights_that_do_not_fit_are_one_line_and_no_file(
        command: str, reference: torch.nn.Module, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    torch.save(reference.state_dict(), tmp_path / "sq.pth")
    target = tmp_path / ("sq.pt" if command == "build" else "sq.pt2")
    code, out, err = cli(monkeypatch, capsys, command, "squeezenet1_1", "--set", "num_classes=10", "-w",
                         str(tmp_path / "sq.pth"), "-o", str(target))
    assert code == 2 and out == "" and not target.exists()
    assert err.startswith(f"error: {tmp_path / 'sq.pth'}: does not fit squeezenet1_1: 2 shapes differ")
    assert err.count("\n") == 1
