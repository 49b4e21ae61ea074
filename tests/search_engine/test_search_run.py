"""Searches of a few seconds on digits: what each trial records, what is written, that budget
violations are never trained, resume, Ctrl-C, pruning, several objectives and latency budgets."""

from __future__ import annotations

import gc
import re
import shlex
import sys
import threading
import weakref
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from rich.console import Console
from tiny_search import TINY_SPACE, write_tiny_space

import nasblocks
from nasblocks import _search_prepare, _train
from nasblocks._search import Search
from nasblocks._search_config import SearchConfig
from nasblocks._search_prepare import SPACE_ATTR, _fresh_name
from nasblocks._search_run import run_search
from nasblocks._study import StudyError, load_study
from nasblocks._train import TrainResult
from nasblocks._weights_spec import used_blocks
from nasblocks.cli import main
from nasblocks.cli_search import study_show
from nasblocks.errors import BudgetError


def search(root: Path, given: dict[str, Any], **options: Any) -> Any:
    return run_search(given, root=root, console=Console(width=120, record=True), **options)


def spy_on_train(monkeypatch: pytest.MonkeyPatch, then: Any = None) -> list[Any]:
    """Record every call of the training loop (and run it, or ``then`` instead)."""
    calls: list[Any] = []
    real = _train.train

    def spy(model: Any, data: Any, **kwargs: Any) -> TrainResult:
        calls.append(model)
        return (then or real)(model, data, **kwargs)

    monkeypatch.setattr(_train, "train", spy)
    return calls


def test_a_search_records_every_trial_and_writes_its_files(tmp_path: Path, quick: dict[str, Any]) -> None:
    outcome = search(tmp_path / "studies", quick, study="tiny")
    study, folder = outcome.study, tmp_path / "studies" / "tiny"
    assert outcome.folder == folder and not outcome.interrupted and len(study.trials) == 3
    for trial in study.trials:
        a = trial.user_attrs
        assert trial.state == TrialState.COMPLETE
        assert 0 <= a["accuracy"] <= 1 and trial.value == a["accuracy"]
        assert 0 < a["macs"] <= 1_000_000 and a["params"] > 0 and a["constraints"][0] <= 0
        assert a["latency_ms"] > 0 and a["latency_source"] == "measured"
        assert a["seed"] == trial.number and a["width"] <= a["width_sampled"]
        assert Path(a["spec"]) == folder / "trials" / f"{trial.number}.yaml"
    for name in ("study.db", "best.yaml", "history.html", "pareto_front.html", "trials/2.yaml"):
        assert (folder / name).is_file(), name
    assert study.user_attrs["nasblocks"]["budget"] == ["1MFLOPs"]


def test_every_trial_spec_builds_with_the_cost_the_trial_recorded(tmp_path: Path, quick: dict[str, Any]) -> None:
    study = search(tmp_path, quick, study="tiny").study
    for trial in study.trials:
        spec = nasblocks.load(trial.user_attrs["spec"])
        cost = nasblocks.cost(spec)
        assert (cost.params, cost.macs) == (trial.user_attrs["params"], trial.user_attrs["macs"])
        assert spec.name == f"tiny_trial{trial.number}" and spec.vars["depth"] == trial.params["depth"]
        assert nasblocks.build(spec) is not None


def test_budget_violations_are_never_trained(tmp_path: Path, quick: dict[str, Any],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    calls = spy_on_train(monkeypatch)
    study = search(tmp_path, {**quick, "fit": False, "budget": ["0.4MFLOPs"], "trials": 8}).study
    rejected = [t for t in study.trials if "rejected" in t.user_attrs]
    trained = [t for t in study.trials if "rejected" not in t.user_attrs]
    assert rejected and trained
    for trial in rejected:
        assert trial.state == TrialState.PRUNED and "accuracy" not in trial.user_attrs
        assert trial.user_attrs["macs"] > 400_000 and trial.user_attrs["constraints"][0] > 0
        assert trial.user_attrs["rejected"].startswith("over budget (")  # --no-fit: no narrower width tried
    assert all(t.user_attrs["macs"] <= 400_000 for t in trained)
    assert len(calls) == len(trained)


def test_fitting_trains_a_narrower_network_instead_of_rejecting(tmp_path: Path, quick: dict[str, Any]) -> None:
    study = search(tmp_path, {**quick, "budget": ["0.4MFLOPs"], "trials": 4, "sampler": "random"}).study
    narrowed = [t for t in study.trials if t.user_attrs["width"] < t.user_attrs["width_sampled"]]
    assert narrowed and all(t.state == TrialState.COMPLETE for t in narrowed)
    assert all(t.user_attrs["macs"] <= 400_000 for t in narrowed)


def test_resume_continues_the_count_with_the_stored_settings(tmp_path: Path, quick: dict[str, Any]) -> None:
    search(tmp_path, {**quick, "trials": 2}, study="s")
    with pytest.raises(StudyError, match="study 's' already exists .* continue it with --resume"):
        search(tmp_path, {**quick, "trials": 2}, study="s")
    with pytest.raises(StudyError, match=r"--budget: study 's' was created with \['1MFLOPs'\]; a resumed study "
                                         "keeps its settings"):
        search(tmp_path, {"budget": ["2MFLOPs"]}, study="s", resume=True)
    outcome = search(tmp_path, {"trials": 4}, study="s", resume=True)
    assert [t.number for t in outcome.study.trials] == [0, 1, 2, 3] and outcome.ran == 2
    assert outcome.study.user_attrs["nasblocks"]["trials"] == 4
    assert (tmp_path / "s" / "trials" / "3.yaml").is_file()


def test_a_worker_joining_a_study_waits_for_its_creator_to_store_the_settings(
        tmp_path: Path, quick: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    """Optuna creates the study before its creator stores the settings, the last of its user
    attributes: a worker started beside it may find a study without them for a moment."""
    monkeypatch.setattr(_train, "train", lambda *args, **kwargs: TrainResult(0.5, 1, 0.1, 0, "cpu"))
    storage = f"journal:{tmp_path / 'journal.log'}"
    made = search(tmp_path, {**quick, "trials": 1, "storage": storage}, study="made").study
    journal = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(tmp_path / "journal.log")))
    late = optuna.create_study(study_name="late", storage=journal, directions=made.directions)
    for key, value in made.user_attrs.items():  # the creator stores them half a second late
        threading.Timer(0.5, late.set_user_attr, (key, value)).start()
    outcome = search(tmp_path, {**quick, "trials": 2, "storage": storage}, study="late")
    assert [t.state for t in outcome.study.trials] == [TrialState.COMPLETE] * 2

    optuna.create_study(study_name="bare", storage=journal)  # made by another tool, or its creator died
    monkeypatch.setattr(_search_prepare, "SETTLING_S", 0.3)
    with pytest.raises(StudyError, match="^study 'bare' holds no nasblocks settings: nasblocks search did not "
                                         "create it, or the worker creating it stopped"):
        search(tmp_path, {**quick, "storage": storage}, study="bare")


def test_a_study_is_held_to_the_blocks_its_base_network_uses_not_the_whole_library(tiny_space: Path) -> None:
    base = nasblocks.load(tiny_space.with_name("tiny_spec.yaml"))
    assert len(base.blocks) > 2  # blocks.yaml holds more than the two the tiny network is built from
    assert [name for name, _ in used_blocks(base)] == ["conv_bn_act", "inverted_residual"]


def test_a_dataset_given_by_a_relative_path_is_found_again_from_another_folder(
        tmp_path: Path, quick: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    monkeypatch.setattr(_train, "train", lambda *args, **kwargs: TrainResult(0.5, [0.5], 0.1, 0, "cpu"))
    images = tmp_path / "work" / "imgs"
    for label in ("cat", "dog"):
        (images / label).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (12, 12), (60 * i, 0, 0)).save(images / label / f"{i}.png")
    monkeypatch.chdir(tmp_path / "work")
    search(tmp_path / "studies", {**quick, "data": "folder:imgs", "trials": 1}, study="s")
    monkeypatch.chdir(tmp_path)  # resumed elsewhere: the stored path still names the folder
    study = search(tmp_path / "studies", {"trials": 2}, study="s", resume=True).study
    assert study.user_attrs["nasblocks"]["data"] == f"folder:{images}"
    assert [t.user_attrs["training"]["data"] for t in study.trials] == [f"folder:{images}"] * 2


def test_resume_refuses_a_space_edited_since_the_study_began(tmp_path: Path, quick: dict[str, Any],
                                                            tiny_space: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_train, "train", lambda *args, **kwargs: TrainResult(0.5, [0.5], 0.1, 0, "cpu"))
    search(tmp_path, {**quick, "trials": 1}, study="s")
    space = tiny_space.read_text()
    tiny_space.write_text(space.replace("choices: [3, 5]", "choices: [3, 7]"))
    with pytest.raises(StudyError, match=r"space 'tiny' \(.*tiny_space.yaml\) has changed since study 's' began "
                                         r"\(kernel: \{3, 5\} → \{3, 7\}\); a study keeps its space"):
        search(tmp_path, {"trials": 2}, study="s", resume=True)
    tiny_space.write_text(space.replace("fit: width", "fit: ~"))
    with pytest.raises(StudyError, match=r"\(its fixed values, fit var, recipe or base spec\)"):
        search(tmp_path, {"trials": 2}, study="s", resume=True)
    tiny_space.write_text(space)
    base = tiny_space.with_name("tiny_spec.yaml")
    network = base.read_text()
    base.write_text(network.replace("expand: 2", "expand: 4"))  # the same vars, another network
    with pytest.raises(StudyError, match=r"\(its base network: .*tiny_spec.yaml, the blocks it uses, or "
                                         r"proxy_vars\)"):
        search(tmp_path, {"trials": 2}, study="s", resume=True)
    base.write_text(network)
    assert len(search(tmp_path, {"trials": 2}, study="s", resume=True).study.trials) == 2

    # a study from before the base network was recorded is not held to it
    stored = optuna.load_study(study_name="s", storage=f"sqlite:///{tmp_path / 's' / 'study.db'}")
    stored.set_user_attr(SPACE_ATTR, {k: v for k, v in stored.user_attrs[SPACE_ATTR].items() if k != "network"})
    base.write_text(network.replace("expand: 2", "expand: 4"))
    assert len(search(tmp_path, {"trials": 3}, study="s", resume=True).study.trials) == 3


def test_ctrl_c_stops_cleanly_and_the_command_it_prints_resumes(tmp_path: Path, quick: dict[str, Any],
                                                                monkeypatch: pytest.MonkeyPatch,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    def interrupt_second(model: Any, data: Any, **kwargs: Any) -> TrainResult:
        if len(calls) == 2:
            raise KeyboardInterrupt
        return _train_real(model, data, **kwargs)

    _train_real = _train.train
    calls = spy_on_train(monkeypatch, interrupt_second)
    root, storage = tmp_path / "st13", f"sqlite:///{tmp_path / 'elsewhere.db'}"
    console = Console(width=60, record=True)  # narrower than the command: it must not be wrapped
    outcome = run_search({**quick, "storage": storage}, study="c", root=root, console=console)
    text = console.export_text()
    assert outcome.interrupted
    assert [t.state for t in outcome.study.trials] == [TrialState.COMPLETE, TrialState.FAIL]
    assert "2 trials in" in text and ": 1 finished, 1 failed (" in " ".join(text.split())

    capsys.readouterr()  # the search's own output
    study_show("c", root=root, storage=storage, all_trials=True)
    rows = [line.split("│") for line in capsys.readouterr().out.splitlines() if line.startswith("│")]
    assert [(row[1].strip(), row[2].strip()) for row in rows] == [("0", "finished"), ("1", "failed")]
    assert rows[1][-2].strip() == "interrupted by Ctrl-C (SIGINT) while it ran" and rows[0][-2].strip() == ""

    command = text.split("continue with ")[1].splitlines()[0]
    monkeypatch.setattr(_train, "train", _train_real)
    monkeypatch.setattr(sys, "argv", shlex.split(command))
    with pytest.raises(SystemExit) as exited:
        main()
    assert not exited.value.code, capsys.readouterr()
    states = [t.state for t in load_study(root, "c", storage).trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE, TrialState.COMPLETE]


def test_the_pruner_stops_a_trial_behind_the_median(tmp_path: Path, quick: dict[str, Any],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # a fake training loop: four good trials, then one whose accuracy lags from epoch 2 on
    def fake(model: Any, data: Any, *, epochs: int, seed: int, report: Any, **_: Any) -> TrainResult:
        accuracy = 0.1 if seed == 4 else 0.9
        for epoch in range(1, epochs + 1):
            report(epoch, accuracy)
        return TrainResult(accuracy, epochs, 0.0, seed, "cpu")

    spy_on_train(monkeypatch, fake)
    study = search(tmp_path, {**quick, "trials": 5, "epochs": 3}).study
    assert [t.state for t in study.trials][:4] == [TrialState.COMPLETE] * 4
    last = study.trials[4]
    assert last.state == TrialState.PRUNED and last.user_attrs["pruned"] == "after epoch 2 at accuracy 0.100"


def test_several_objectives_make_a_pareto_front_with_nsga2(tmp_path: Path, quick: dict[str, Any]) -> None:
    from nasblocks._study import pareto_front

    outcome = search(tmp_path, {**quick, "objectives": ["accuracy", "macs"], "sampler": None, "trials": 4})
    study = outcome.study
    assert [d.name for d in study.directions] == ["MAXIMIZE", "MINIMIZE"]
    assert isinstance(study.sampler, optuna.samplers.NSGAIISampler)
    assert all(t.values == [t.user_attrs["accuracy"], t.user_attrs["macs"]] for t in study.trials)
    front = pareto_front(study)
    assert front and {t.number for t in front} == {t.number for t in study.best_trials}


def test_a_latency_budget_is_checked_on_the_predicted_latency(tmp_path: Path, quick: dict[str, Any]) -> None:
    study = search(tmp_path, {**quick, "budget": ["1MFLOPs", "1000ms"], "objectives": ["accuracy", "latency"],
                              "trials": 2}).study
    for trial in study.trials:
        assert trial.user_attrs["latency_source"] == "predicted" and trial.user_attrs["latency_ms"] > 0
        assert trial.values[1] == trial.user_attrs["latency_ms"] and len(trial.user_attrs["constraints"]) == 2


def test_an_impossible_budget_names_the_smallest_reachable_cost(tmp_path: Path, quick: dict[str, Any]) -> None:
    with pytest.raises(BudgetError) as err:
        search(tmp_path, {**quick, "budget": ["0.1MFLOPs"]})
    assert str(err.value).startswith("budget ≤ 100,999 MACs (multiply-adds) is below the smallest network of "
                                     "space 'tiny': the smallest cost it can reach is 129,664 MACs")
    assert str(err.value).endswith("(width=0.5, depth=1, kernel=3)")
    assert not (tmp_path / "tiny-0.1MFLOPs").exists()


def test_the_default_space_searches_mobilenet_v2_variants(tmp_path: Path) -> None:
    outcome = search(tmp_path, {"trials": 1, "epochs": 1, "resolution": 8, "limit": 200, "device": "cpu"})
    assert outcome.folder.name == "mobilenet_v2-300MFLOPs"
    trial = outcome.study.trials[0]
    assert trial.state == TrialState.COMPLETE and trial.user_attrs["macs"] <= 300_000_000
    assert nasblocks.load(trial.user_attrs["spec"]).input == (3, 224, 224)


def test_a_default_name_never_reuses_a_study(tmp_path: Path, quick: dict[str, Any]) -> None:
    first = search(tmp_path, {**quick, "trials": 1})
    again = search(tmp_path, {**quick, "trials": 1})
    assert (first.folder.name, again.folder.name) == ("tiny-1MFLOPs", "tiny-1MFLOPs-2")


def test_the_python_api_runs_a_search(tmp_path: Path, quick: dict[str, Any]) -> None:
    import nasblocks

    # one budget may be a string, objectives a comma-separated one, as on the command line
    study = nasblocks.search("api", root=str(tmp_path), **{**quick, "trials": 2, "budget": "1MFLOPs",
                                                           "objectives": "accuracy,macs"})
    assert study.study_name == "api" and len(study.trials) == 2
    settings = study.user_attrs["nasblocks"]
    assert (settings["budget"], settings["objectives"]) == (["1MFLOPs"], ["accuracy", "macs"])
    assert (tmp_path / "api" / "study.db").is_file()
    priced = [t for t in study.trials if "spec" in t.user_attrs]
    assert priced and all(Path(t.user_attrs["spec"]).is_file() for t in priced)


def test_the_python_api_refuses_an_unknown_keyword(tmp_path: Path, quick: dict[str, Any]) -> None:
    with pytest.raises(TypeError, match=r"^search\(\) got an unexpected keyword argument 'budgets'; did you "
                                        r"mean budget\?$"):
        nasblocks.search("api", root=str(tmp_path / "studies"), **quick, budgets=["300MFLOPs"])
    assert not (tmp_path / "studies").exists()


def test_a_new_study_never_writes_into_another_studys_folder(tmp_path: Path, quick: dict[str, Any]) -> None:
    """The same --study name in another storage would write its trials over the specs the first
    study's trials point at."""
    journal = {**quick, "trials": 1, "storage": f"journal:{tmp_path / 'a.log'}"}
    shared = search(tmp_path, journal, study="tiny-1MFLOPs")
    spec = (shared.folder / "trials" / "0.yaml").read_text()
    with pytest.raises(StudyError, match=r"^study folder .*tiny-1MFLOPs already holds the trial specs of a study "
                                         r"in another --storage: join or resume that study with its --storage"):
        search(tmp_path, {**quick, "trials": 1}, study="tiny-1MFLOPs")  # SQLite, --storage forgotten
    assert (shared.folder / "trials" / "0.yaml").read_text() == spec
    assert not (shared.folder / "study.db").exists()
    assert _fresh_name(tmp_path, "tiny-1MFLOPs") == "tiny-1MFLOPs-2"  # a default name steps over it
    with pytest.raises(StudyError, match=r"study.db does not exist; .*tiny-1MFLOPs holds the trials of a study in "
                                         r"another storage: give its --storage$"):
        load_study(tmp_path, "tiny-1MFLOPs")  # `study show`, `export`, `--resume` without it
    (tmp_path / "local").mkdir()
    optuna.create_study(study_name="local", storage=f"sqlite:///{tmp_path / 'local' / 'study.db'}")
    with pytest.raises(StudyError, match=r"already holds another study named 'local' \(a SQLite study.db\); a "
                                         r"new one in journal:.*b.log would write over its trials' specs"):
        search(tmp_path, {**journal, "storage": f"journal:{tmp_path / 'b.log'}"}, study="local")


def test_a_grid_search_stops_when_every_point_has_run(tmp_path: Path, quick: dict[str, Any]) -> None:
    """Optuna's GridSampler, asked for more trials than points, runs a point again and stops;
    a resumed grid ran one duplicate per --resume."""
    space = write_tiny_space(tmp_path, "base: tiny_spec.yaml\nvars:\n  kernel: {choices: [3, 5]}\n")
    grid = {**quick, "space": str(space), "sampler": "grid", "trials": 3}
    console = Console(width=200, record=True)
    study = run_search(grid, study="grid", root=tmp_path, console=console).study
    assert sorted(t.params["kernel"] for t in study.trials) == [3, 5]
    assert "--sampler grid: space 'tiny_space' has 2 points, 2 of them not run yet" in console.export_text()
    again = run_search({}, study="grid", resume=True, root=tmp_path, console=console)
    assert again.ran == 0 and len(again.study.trials) == 2
    assert "--sampler grid: every point of space 'tiny_space' has run (2)" in console.export_text()


def test_an_impossible_budget_points_at_the_space_file_it_came_from(tmp_path: Path, quick: dict[str, Any]) -> None:
    """`nasblocks space show tiny` would find no space: a file of the user's is shown by its path."""
    space = write_tiny_space(tmp_path, TINY_SPACE + "  resolution: {choices: [32, 48]}\n"
                                                    "  num_classes: {choices: [10, 100]}\n")
    with pytest.raises(BudgetError) as err:
        search(tmp_path, {**quick, "space": str(space), "budget": ["0.1MFLOPs"]})
    assert str(err.value).endswith(f", … 1 more: nasblocks space show {space})")


def test_pricing_says_when_it_times_units_the_latency_table_lacks(tmp_path: Path, quick: dict[str, Any],
                                                                  latency_cache: Path) -> None:
    """Filling the table takes seconds per new network on a CPU; the search says it does."""
    console = Console(width=300, record=True)
    config = SearchConfig.from_dict({**quick, "budget": ["1MFLOPs", "1000ms"]})
    Search(config, "s", tmp_path, console).check_budget()
    said = re.fullmatch(r"space tiny: \d+ unit\(s\) new to the cpu latency table \((.*)\) timed in "
                        r"[\d.]+ s\n", console.export_text())
    assert said and Path(said[1]).is_relative_to(latency_cache) and Path(said[1]).is_file()
    Search(config, "s", tmp_path, console).check_budget()  # the same network: looked up
    assert console.export_text() == ""


def test_each_trials_network_is_freed_by_a_collection_that_skips_what_lives_through_the_run(
        tmp_path: Path, quick: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    # Optuna collects garbage after each trial; what was alive before the first trial (torch,
    # Optuna, the data: most of the heap) is frozen, so that collection walks what trials made
    seen: list[tuple[bool, int, int]] = []
    networks: list[weakref.ref[Any]] = []

    def train(model: Any, data: Any, **kwargs: Any) -> TrainResult:
        previous_alive = bool(networks) and networks[-1]() is not None
        networks.append(weakref.ref(model))
        seen.append((previous_alive, gc.get_freeze_count(), len(gc.get_objects())))
        return real(model, data, **kwargs)

    real = _train.train
    monkeypatch.setattr(_train, "train", train)
    search(tmp_path, quick)
    assert len(seen) == 3
    assert not any(alive for alive, _, _ in seen)  # the previous trial's network was freed
    assert all(frozen > walked for _, frozen, walked in seen)
    assert gc.get_freeze_count() == 0  # and the caller's objects are collectable again
