"""`nasblocks search`, `study` and `space` as a user runs them: output, files, exit statuses and
one-line errors."""

from __future__ import annotations

import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest
from tiny_search import TINY_SPACE, write_tiny_space

import nasblocks
from nasblocks.cli import main


def run(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str,
        status: int = 0) -> tuple[str, str]:
    monkeypatch.setattr(sys, "argv", ["nasblocks", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    out, err = capsys.readouterr()
    assert (exited.value.code or 0) == status, out + err
    return out, err


def quick_args(quick: dict[str, Any], root: Path) -> list[str]:
    return ["--space", quick["space"], "--budget", "1MFLOPs", "--trials", "2", "--epochs", "1",
            "--resolution", "16", "--limit", "240", "--batch-size", "64", "--device", "cpu", "--dir", str(root)]


def test_search_show_and_export(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                tmp_path: Path, quick: dict[str, Any]) -> None:
    root = tmp_path / "studies"
    out, _ = run(monkeypatch, capsys, "search", *quick_args(quick, root), "--study", "t")
    assert "search t: space tiny" in out and "budget ≤ 1,009,999 MACs (multiply-adds)" in out
    assert "trial 0: accuracy" in out and "trial 1:" in out
    assert "t: Pareto front, accuracy against MACs" in out and "best: trial" in out
    assert (root / "t" / "pareto_front.html").is_file()

    out, _ = run(monkeypatch, capsys, "study", "show", "t", "--dir", str(root))
    assert out.startswith("study t: space") and "2 finished" in out and "Pareto front" in out
    _, err = run(monkeypatch, capsys, "study", "show", "nope", "--dir", str(root), status=2)
    assert err.endswith(f"does not exist; studies in {root}: t\n")
    (root / "broken").mkdir()
    sqlite3.connect(root / "broken" / "study.db").close()  # a database that holds no study
    out, _ = run(monkeypatch, capsys, "study", "list", "--dir", str(root))
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.startswith("│")}
    assert "unreadable: no study 'broken'" in rows["broken"] and "│ 2 " in rows["t"]  # the others still listed
    (tmp_path / "file").write_text("")
    _, err = run(monkeypatch, capsys, "study", "export", "t", "-o", str(tmp_path / "file" / "best.yaml"),
                 "--dir", str(root), status=2)
    assert err.startswith(f"error: {tmp_path / 'file' / 'best.yaml'}: cannot write there (") and err.count("\n") == 1

    target = tmp_path / "best.yaml"
    out, _ = run(monkeypatch, capsys, "study", "export", "t", "--best", "-o", str(target), "--dir", str(root))
    assert f"→ {target}" in out.replace("\n", "")
    out, _ = run(monkeypatch, capsys, "build", str(target), "--json")
    built = json.loads(out)
    study_out, _ = run(monkeypatch, capsys, "study", "export", "t", "--trial", "1", "-o", str(tmp_path / "one.yaml"),
                       "--dir", str(root))
    assert "trial 1" in study_out
    from nasblocks._study import best_trial, load_study

    best = best_trial(load_study(root, "t"))
    assert (built["params"], built["macs"]) == (best.user_attrs["params"], best.user_attrs["macs"])


def test_resume_through_the_cli(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                tmp_path: Path, quick: dict[str, Any]) -> None:
    root = tmp_path / "studies"
    run(monkeypatch, capsys, "search", *quick_args(quick, root), "--study", "r")
    out, _ = run(monkeypatch, capsys, "search", "--study", "r", "--resume", "--trials", "3", "--dir", str(root))
    assert "1 trial(s) to run" in out and "trial 2:" in out


@pytest.mark.parametrize("args, message", [
    (["--budget", "0.1MFLOPs"], "error: budget ≤ 100,999 MACs (multiply-adds) is below the smallest network of "
                                "space 'tiny': the smallest cost it can reach is 129,664 MACs"),
    (["--budget", "1 MFLOPz"], "error: budget '1 MFLOPz': expected a number followed by a unit"),
    (["--latency", "1MFLOPs"], "error: --latency 1MFLOPs: expected a time, such as 8ms or 0.008s; a count of "
                               "multiply-adds or parameters is a --budget"),
    (["--data", "cifar10:/nonexistent/cifar"], "error: cifar10 path '/nonexistent/cifar' does not exist"),
    (["--objectives", "accuracy,speed"], "error: --objectives: unknown objective 'speed'"),
    (["--sampler", "cmaes"], "error: --sampler: expected one of tpe, nsga2, random, grid, got 'cmaes'"),
    (["--optimizer", "adam"], "error: --optimizer: expected one of sgd, adamw, got 'adam'"),
    (["--lr", "-0.1"], "error: --lr: expected a number > 0, got -0.1"),
    (["--label-smoothing", "2"], "error: --label-smoothing: expected a number from 0 to 1, got 2.0"),
    (["--seed", "-1"], "error: --seed: expected an integer >= 0, got -1"),
])
def test_bad_input_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                          tmp_path: Path, quick: dict[str, Any], args: list[str], message: str) -> None:
    _, err = run(monkeypatch, capsys, "search", *quick_args(quick, tmp_path), *args, status=2)
    assert err.startswith(message) and err.count("\n") == 1, err
    assert not list(tmp_path.glob("*/study.db"))


def test_a_missing_dataset_is_refused_before_any_latency_unit_is_timed(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, quick: dict[str, Any],
        latency_cache: Path) -> None:
    _, err = run(monkeypatch, capsys, "search", *quick_args(quick, tmp_path), "--budget", "1s",
                 "--data", "cifar10:/nonexistent/cifar", status=2)
    assert err.startswith("error: cifar10 path '/nonexistent/cifar' does not exist")
    assert not list(latency_cache.rglob("*.json"))  # the budget's latency was not priced first


@pytest.mark.parametrize("width, message", [
    ("{low: 0.5, high: 3.0}", "error: the grid sampler needs a finite domain; parameter 'width' is the continuous "
                              "range 0.5..3: give it a step or choices"),
    ("{low: 0.5, high: 3.0, step: 0.0001}", "error: --sampler grid: space 'tiny' has 150,006 points and the grid "
                                            "sampler lists every one in memory (at most 100,000)"),
])
def test_a_grid_it_cannot_list_is_refused_before_anything_is_written(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, width: str,
        message: str) -> None:
    space = write_tiny_space(tmp_path, TINY_SPACE.replace("{low: 0.5, high: 3.0, step: 0.25}", width))
    root = tmp_path / "studies"
    _, err = run(monkeypatch, capsys, "search", *quick_args({"space": str(space)}, root), "--sampler", "grid",
                 status=2)
    assert err.startswith(message) and err.count("\n") == 1, err
    assert not root.exists()


def test_an_unwritable_dir_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                       tmp_path: Path, quick: dict[str, Any]) -> None:
    (tmp_path / "file").write_text("")
    root = tmp_path / "file" / "studies"
    _, err = run(monkeypatch, capsys, "search", *quick_args(quick, root), "--study", "s", status=2)
    assert err.startswith(f"error: --dir {root}: cannot create {root / 's'} (") and err.count("\n") == 1


@pytest.mark.parametrize("storage, message", [
    ("mysql://me:s3cret@db/nas", "error: --storage mysql://me:***@db/nas: its database driver is not installed "
                                 "(MySQLdb)"),
    ("sqlite:///{tmp}/nope/x.db", "error: --storage sqlite:///{tmp}/nope/x.db: folder {tmp}/nope does not exist"),
    ("journal:", "error: --storage journal:: expected journal:PATH, the path of the journal file"),
    ("journal:{tmp}", "error: --storage journal:{tmp}: {tmp} is a folder; expected journal:PATH, the path of "
                      "the journal file"),
])
def test_a_bad_storage_is_one_line_and_leaves_no_folder(monkeypatch: pytest.MonkeyPatch,
                                                        capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                        quick: dict[str, Any], storage: str, message: str) -> None:
    root = tmp_path / "studies"
    _, err = run(monkeypatch, capsys, "search", *quick_args(quick, root), "--storage",
                 storage.format(tmp=tmp_path), status=2)
    assert err.startswith(message.format(tmp=tmp_path)) and err.count("\n") == 1, err
    assert "s3cret" not in err and not root.exists()


def test_study_list_reads_a_storage_database(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                            tmp_path: Path) -> None:
    import optuna

    from nasblocks._storage import open_storage

    url = f"journal:{tmp_path / 'studies.log'}"
    for name, trials in (("b", 2), ("a", 1)):  # studies that workers made there, no folder of theirs
        study = optuna.create_study(study_name=name, storage=open_storage(url))
        study.set_user_attr("nasblocks", {"space": "tiny", "budget": ["1MFLOPs"]})
        for k in range(trials):
            trial = study.ask()
            trial.set_user_attr("accuracy", 0.5 + k / 10)
            trial.set_user_attr("macs", 1000)
            study.tell(trial, 0.5 + k / 10)
    out, _ = run(monkeypatch, capsys, "study", "list", "--storage", url, "--dir", str(tmp_path / "none"))
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in out.splitlines() if line.startswith("│")]
    assert "studies in" in out and rows == [["a", "1", "0.500", "tiny", "1MFLOPs"],
                                                        ["b", "2", "0.600", "tiny", "1MFLOPs"]]
    _, err = run(monkeypatch, capsys, "study", "list", "--storage", "journal:", status=2)
    assert err == "error: --storage journal:: expected journal:PATH, the path of the journal file\n"


def test_study_list_of_no_studies_says_so_and_names_a_folder_that_is_not_there(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out, _ = run(monkeypatch, capsys, "study", "list", "--dir", str(tmp_path / "studeis"))
    assert out == f"no studies in {tmp_path / 'studeis'}: no such folder\n"
    out, _ = run(monkeypatch, capsys, "study", "list", "--dir", str(tmp_path))
    assert out == f"no studies in {tmp_path}\n"


def test_study_show_of_no_finished_trial_says_so(monkeypatch: pytest.MonkeyPatch,
                                                 capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    import optuna

    from nasblocks._storage import open_storage

    url = f"journal:{tmp_path / 'studies.log'}"
    study = optuna.create_study(study_name="s", storage=open_storage(url))
    study.set_user_attr("nasblocks", {"space": "tiny", "budget": ["1MFLOPs"], "objectives": ["accuracy"]})
    trial = study.ask()
    trial.set_user_attr("rejected", "over budget even at its narrowest")
    study.tell(trial, state=optuna.trial.TrialState.PRUNED)
    out, _ = run(monkeypatch, capsys, "study", "show", "s", "--storage", url)
    assert out.splitlines()[1:] == ["no finished trial yet; --all lists each trial and how it ended"]
    out, _ = run(monkeypatch, capsys, "study", "show", "s", "--storage", url, "--all")
    assert "over budget even at its narrowest" in out


def test_unknown_space_var_is_one_line_with_file_and_line(monkeypatch: pytest.MonkeyPatch,
                                                          capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    space = tmp_path / "bad.yaml"
    space.write_text("base: mobilenet_v2\nvars:\n  widht: {low: 0.5, high: 1.0}\n")
    _, err = run(monkeypatch, capsys, "search", "--space", str(space), "--dir", str(tmp_path), status=2)
    assert err.startswith("error: ") and ":3: vars.widht: unknown var 'widht' of base spec 'mobilenet_v2'" in err
    assert err.rstrip().endswith("did you mean width?") and err.count("\n") == 1


def test_space_show_prints_only_the_error_of_a_space_that_builds_nothing(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    space = tmp_path / "bad.yaml"
    space.write_text("base: mobilenet_v2\nvars:\n  width: {low: 0.5, high: 1.0}\n  kernels: [0, 3, 3, 3, 3, 3, 3]\n")
    out, err = run(monkeypatch, capsys, "space", "show", str(space), status=2)
    assert out == "" and err.count("\n") == 1 and err.rstrip().endswith(f"none of the points tried in space 'bad' "
                                                                        f"({space}) builds"), out + err


def test_resume_of_a_missing_study(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                   tmp_path: Path) -> None:
    _, err = run(monkeypatch, capsys, "search", "--study", "nope", "--resume", "--dir", str(tmp_path), status=2)
    assert err == f"error: no study 'nope': {tmp_path / 'nope' / 'study.db'} does not exist\n"


def test_space_check_proves_membership_and_says_where_graphs_differ(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out, _ = run(monkeypatch, capsys, "space", "check", "search_spaces/mobilenet_v2.yaml", "specs/mobilenet_v2.yaml",
                 "mobilenet_v2_075")
    lines = out.splitlines()
    assert lines[0].startswith("✓ mobilenet_v2 is in space mobilenet_v2: width=1.0, stages[1].t=6")
    assert lines[0].endswith("(same graph, 153 ops, 3,504,872 params, 300,774,272 MACs)")
    assert lines[1].startswith("✓ mobilenet_v2_075 is in space mobilenet_v2: width=0.75")
    out, _ = run(monkeypatch, capsys, "space", "check", "mobilenet_v2", "resnet18", status=1)
    assert out.startswith("✗ resnet18 is not in space mobilenet_v2: ")


def test_space_show_and_list(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    out, _ = run(monkeypatch, capsys, "space", "show", "mobilenet_v2")
    assert "stages[1].t" in out and "0.35..1.4 step 0.05" in out and "smallest network:" in out
    out, _ = run(monkeypatch, capsys, "space", "list")
    assert "mobilenet_v2" in out
    assert nasblocks.cost("mobilenet_v2").macs == 300_774_272


def test_study_export_to_a_folder_or_a_full_disk_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                              quick: dict[str, Any]) -> None:
    root = tmp_path / "studies"
    run(monkeypatch, capsys, "search", *quick_args(quick, root), "--trials", "1", "--study", "t")
    export = ["study", "export", "t", "--best", "--dir", str(root), "-o"]
    _, err = run(monkeypatch, capsys, *export, str(tmp_path), status=2)
    assert err == f"error: {tmp_path}: is a folder; name a file to write\n"
    _, err = run(monkeypatch, capsys, *export, "/dev/full", status=2)  # every write there fails: ENOSPC
    assert err == "error: /dev/full: cannot write there (No space left on device)\n"
