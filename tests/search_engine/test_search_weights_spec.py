"""``nasblocks search --weights FILE --weights-spec SPEC``: the file holds another network of the
space than its base (three repeats where the base has one), and each trial is matched to that
network's places; the study records the spec, so that ``--resume`` keeps it and refuses another,
and ``study retrain`` trains a trial again from the same start."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from test_search_weights import nasblocks_cli
from tiny_search import TINY_SPEC

import nasblocks
from nasblocks._search_prepare import WEIGHTS_ATTR
from nasblocks._space import load_space
from nasblocks._study import load_study, standalone, write_spec


@pytest.fixture
def deeper(tmp_path: Path, tiny_space: Path) -> tuple[Path, Path]:
    """Weights of the tiny space's network with three repeats and the data's 10 classes, and its
    spec, written as a trial writes its own."""
    space = load_space(str(tiny_space))
    params = {**space.default_params(), "depth": 3}
    spec_path = tmp_path / "deeper.yaml"
    write_spec(spec_path, standalone(space.spec(params), "deeper", {**space.vars_for(params), "num_classes": 10},
                                     "a test"), [])
    torch.manual_seed(0)
    weights = tmp_path / "deeper.pt"
    torch.save(nasblocks.build(nasblocks.load(spec_path)).state_dict(), weights)
    return weights, spec_path


def renamed_for(depth: int) -> dict[str, str]:
    """A trial's modules named otherwise in the file's network: after its repeats, the pooling and
    the classifier, which are 4 and 5 there."""
    return {} if depth == 3 else {str(1 + depth + k): str(4 + k) for k in range(2)}


def test_trials_start_from_the_spec_s_places_and_retrain_and_resume_keep_it(
        tmp_path: Path, quick: dict[str, Any], deeper: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    weights, spec = deeper
    root = tmp_path / "studies"
    study = nasblocks.search("s", root=root, weights=weights, weights_spec=spec, **quick)
    assert study.user_attrs[WEIGHTS_ATTR]["spec"]["path"] == str(spec)
    assert any(t.params["depth"] > 1 for t in study.trials)  # repeats the base network lacks
    for trial in study.trials:
        assert trial.user_attrs["training"]["weights"]["renamed"] == renamed_for(trial.params["depth"])
        assert trial.user_attrs["inherited"]["fresh"] == 0, trial.number

    status, out, _ = nasblocks_cli(monkeypatch, capsys, "study", "retrain", "s", "--dir", str(root), "--trial", "1")
    assert status == 0 and "(the same)" in out, out

    resume = ["search", "--study", "s", "--resume", "--dir", str(root), "--trials", str(len(study.trials) + 1)]
    base = tmp_path / "tiny_spec.yaml"  # a network of the space, but not the file's
    status, _, err = nasblocks_cli(monkeypatch, capsys, *resume, "--weights-spec", str(base))
    assert status == 2 and err.startswith(f"error: --weights-spec {base}: is not the spec study 's' matched its "
                                          f"trials to, {spec} (digest "), err
    status, out, _ = nasblocks_cli(monkeypatch, capsys, *resume)
    assert status == 0 and f"each trial starts from {weights} (the network of {spec}) as far as it fits" in out, out
    added = load_study(root, "s", None).trials[-1]
    assert added.user_attrs["training"]["weights"]["renamed"] == renamed_for(added.params["depth"])


@pytest.mark.parametrize("case", ["no weights", "no such file", "a zoo name misspelt", "another structure",
                                  "another network's file"])
def test_a_spec_that_does_not_name_the_file_s_network_is_refused_before_any_trial(
        tmp_path: Path, quick: dict[str, Any], deeper: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], case: str) -> None:
    weights, spec = deeper
    other = tmp_path / "other.yaml"
    other.write_text(TINY_SPEC.replace("stride: 2}", "stride: 1}"))
    base_weights = tmp_path / "base.pt"
    torch.save(nasblocks.build(nasblocks.load(tmp_path / "tiny_spec.yaml")).state_dict(), base_weights)
    given, message = {
        "no weights": (["--weights-spec", str(spec)],
                       "error: --weights-spec: names the network of a --weights file; give --weights FILE too\n"),
        "no such file": (["--weights", str(weights), "--weights-spec", "nope.yaml"],
                         "error: --weights-spec nope.yaml: no such spec file or zoo name\n"),
        "a zoo name misspelt": (["--weights", str(weights), "--weights-spec", "resnet81"],
                                "error: --weights-spec resnet81: no such spec file or zoo name; did you mean resnet18, "
                                "resnet, resnet152?\n"),
        "another structure": (["--weights", str(weights), "--weights-spec", str(other)],
                              f"error: --weights-spec {other}: not a network of space 'tiny': network[0] ({other}:7) "
                              f"is not the base spec's ({tmp_path / 'tiny_spec.yaml'}:7); give the spec of the "
                              "--weights file's network as this space writes it (a trial's spec, or study retrain "
                              "-o)\n"),
        "another network's file": (["--weights", str(base_weights), "--weights-spec", str(spec)],
                                   f"error: {base_weights}: does not fit the network of {spec}: "),
    }[case]
    status, _, err = nasblocks_cli(monkeypatch, capsys, "search", "--space", quick["space"], "--budget", "1MFLOPs",
                                   *given, "--dir", str(tmp_path / "studies"), "--study", "s")
    assert status == 2 and err.startswith(message) and err.count("\n") == 1, err
    if case == "another network's file":  # not build's --set, which search lacks
        assert err.endswith(" keys the network lacks (3.weight, 3.bias) (--weights-spec must give the network the "
                            "file was saved from, vars included, set in the spec file: study retrain -o base.pt "
                            "writes that spec as base.yaml, with the data's classes)\n"), err
    assert not (tmp_path / "studies" / "s").exists()
