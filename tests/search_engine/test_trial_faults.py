"""Faults that end one trial, never the study: a loss that turns nan or inf, memory running out,
a candidate that does not build, a trial another worker took over; SIGTERM, which stops a search
as Ctrl-C does; a second process on a SQLite study. Each time the study ends with exactly the
trials asked for."""

from __future__ import annotations

import signal
import weakref
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch
import yaml
from optuna.trial import TrialState
from rich.console import Console
from fault_worker import launch, wait_for
from tiny_search import TINY_SPACE, write_tiny_space

from nasblocks import _storage, _train
from nasblocks._search_run import run_search
from nasblocks._study import StudyError, storage_url
from nasblocks._train import TrainResult
from nasblocks.cli_search import study_export, study_show



def search(root: Path, given: dict[str, Any], **options: Any) -> tuple[Any, str]:
    console = Console(width=250, record=True)
    outcome = run_search(given, root=root, console=console, **options)
    return outcome, console.export_text()


def fake_train(model: Any, data: Any, *, epochs: int, seed: int, report: Any, **_: Any) -> TrainResult:
    """Training without the compute: trial n (seed n) reports accuracy 0.5 - n / 1000 each epoch."""
    accuracy = 0.5 - seed / 1000
    for epoch in range(1, epochs + 1):
        report(epoch, accuracy)
    return TrainResult(accuracy, epochs, 0.0, seed, "cpu")


def faults_in_trials(monkeypatch: pytest.MonkeyPatch, faults: dict[int, Any], others: Any = fake_train) -> None:
    """Trial n (it trains with seed n) runs ``faults[n](model, data, **kwargs)``; the others ``others``."""
    def train(model: Any, data: Any, **kwargs: Any) -> TrainResult:
        return faults.get(kwargs["seed"], others)(model, data, **kwargs)

    monkeypatch.setattr(_train, "train", train)


def test_a_loss_that_turns_nan_or_inf_prunes_its_trial(tmp_path: Path, quick: dict[str, Any],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    real_train, real_loss = _train.train, _train._loss

    def poisoned(poison: float) -> Any:
        def train(model: Any, data: Any, **kwargs: Any) -> TrainResult:
            with monkeypatch.context() as patch:  # the real loop, its loss multiplied by nan or inf
                patch.setattr(_train, "_loss", lambda *args: real_loss(*args) * poison)
                return real_train(model, data, **kwargs)
        return train

    faults_in_trials(monkeypatch, {1: poisoned(float("nan")), 2: poisoned(float("inf"))}, real_train)
    outcome, text = search(tmp_path, {**quick, "trials": 4}, study="diverged")
    trials = outcome.study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.PRUNED, TrialState.PRUNED,
                                         TrialState.COMPLETE]
    for trial in trials[1:3]:
        assert trial.user_attrs["pruned"] == "after epoch 1: the loss turned nan or inf"
        assert "accuracy" not in trial.user_attrs
        assert f"trial {trial.number}: pruned after epoch 1: the loss turned nan or inf" in text


# what torch raises where the CPU allocator fails: a plain RuntimeError
CPU_OOM = "DefaultCPUAllocator: can't allocate memory: you tried to allocate 98304 bytes. Error code 12"


def test_out_of_memory_fails_the_trial_and_frees_its_memory(tmp_path: Path, quick: dict[str, Any],
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    models: list[weakref.ref[Any]] = []
    alive_at_next_trial: list[bool] = []

    def out_of_memory(error: type[Exception], message: str) -> Any:
        def train(model: Any, data: Any, **kwargs: Any) -> TrainResult:
            models.append(weakref.ref(model))
            raise error(message)
        return train

    def next_trial(model: Any, data: Any, **kwargs: Any) -> TrainResult:
        alive_at_next_trial.append(any(ref() is not None for ref in models))
        return fake_train(model, data, **kwargs)

    faults_in_trials(monkeypatch, {1: out_of_memory(torch.OutOfMemoryError, "CUDA out of memory. Tried to "
                                                    "allocate 2.00 GiB"), 2: out_of_memory(RuntimeError, CPU_OOM)},
                     next_trial)
    outcome, text = search(tmp_path, quick, study="oom")
    trials = outcome.study.trials
    # failed trials do not count: the study runs others in their place
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL,
                                         TrialState.COMPLETE, TrialState.COMPLETE]
    reasons = ["out of memory on cpu: CUDA out of memory. Tried to allocate 2.00 GiB", f"out of memory on cpu: {CPU_OOM}"]
    assert [t.user_attrs["failed"] for t in trials[1:3]] == reasons
    assert all(f"trial {n}: failed — {reason}" in text for n, reason in zip((1, 2), reasons))
    # the failed trials' networks were freed before the next trial trained
    assert alive_at_next_trial == [False, False, False]


def test_running_out_of_memory_timing_a_candidate_fails_its_trial(tmp_path: Path, quick: dict[str, Any],
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    """Pricing a candidate may time the latency units its table lacks; out of memory there fails
    that trial alone (a smaller candidate may fit), as it does in training."""
    from nasblocks import _latency, _search

    numbers: list[int] = []
    real_trial, real_fit = _search.Search._trial, _search.fit_width

    def trial(self: Any, frozen: Any) -> Any:
        numbers.append(frozen.number)
        return real_trial(self, frozen)

    def fit(*args: Any, **kwargs: Any) -> Any:
        if numbers[-1] == 1:  # as predict_detail's timing run raises it
            with _latency.out_of_memory_as_error(_latency.setting("cpu")):
                raise RuntimeError(CPU_OOM)
        return real_fit(*args, **kwargs)

    monkeypatch.setattr(_search.Search, "_trial", trial)
    monkeypatch.setattr(_search, "fit_width", fit)
    faults_in_trials(monkeypatch, {})
    outcome, text = search(tmp_path, quick, study="oom-pricing")
    trials = outcome.study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE,
                                         TrialState.COMPLETE]
    reason = f"out of memory on cpu timing a batch of 1 ({CPU_OOM})"
    assert trials[1].user_attrs["failed"] == reason and f"trial 1: failed — {reason}" in text


def test_a_worker_whose_every_trial_fails_stops(tmp_path: Path, quick: dict[str, Any],
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    def out_of_memory(model: Any, data: Any, **kwargs: Any) -> TrainResult:
        raise MemoryError

    monkeypatch.setattr(_train, "train", out_of_memory)
    with pytest.raises(StudyError, match=r"^stopped: 5 trials in a row failed on this worker \(last: trial 4, "
                                         r"out of memory on cpu: MemoryError\); the study keeps"):
        search(tmp_path, quick, study="hopeless")


def test_a_candidate_that_does_not_build_is_rejected_and_the_study_goes_on(
        tmp_path: Path, quick: dict[str, Any], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    space = write_tiny_space(tmp_path, TINY_SPACE.replace("choices: [3, 5]", "choices: [3, 0]"))
    monkeypatch.setattr(_train, "train", fake_train)
    outcome, _ = search(tmp_path, {**quick, "space": str(space), "trials": 6}, study="unbuilt")
    trials = outcome.study.trials
    rejected = [t for t in trials if "rejected" in t.user_attrs]
    assert rejected and all(t.params["kernel"] == 0 and t.state == TrialState.PRUNED for t in rejected)
    assert all(t.user_attrs["rejected"].startswith("does not build: ") and "tiny_spec.yaml:" in t.user_attrs["rejected"]
               and "got 0" in t.user_attrs["rejected"] for t in rejected)
    assert len(trials) == 6 and sum(t.state == TrialState.COMPLETE for t in trials) == 6 - len(rejected)
    # `study show --all` says which trials were rejected, and why
    capsys.readouterr()  # the search's own output
    study_show("unbuilt", root=tmp_path, all_trials=True)
    out = capsys.readouterr().out
    rows = {row[1].strip(): row for row in (line.split("│") for line in out.splitlines() if line.startswith("│"))}
    for trial in trials:
        row = rows[str(trial.number)]
        shown = ("rejected", trial.user_attrs["rejected"]) if trial in rejected else ("finished", "")
        assert (row[2].strip(), row[-2].strip()) == shown
    assert f"{len(rejected)} rejected" in out.splitlines()[0]
    # and `study export` of one says why it has no network
    with pytest.raises(StudyError, match=rf"trial {rejected[0].number} of 'unbuilt' has no network: it ended "
                                         r"before it was priced \(does not build: "):
        study_export("unbuilt", output=tmp_path / "rejected.yaml", trial=rejected[0].number, root=tmp_path)


def test_a_trial_failed_by_another_worker_is_let_go(tmp_path: Path, quick: dict[str, Any],
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    def taken_over(model: Any, data: Any, **kwargs: Any) -> TrainResult:
        # what another worker does to a trial whose heartbeat went stale (this one was paused)
        storage = optuna.storages.RDBStorage(storage_url(tmp_path, "taken", None))
        running = storage.get_all_trials(storage.get_study_id_from_name("taken"), states=(TrialState.RUNNING,))
        storage.set_trial_state_values(running[0]._trial_id, TrialState.FAIL)
        return fake_train(model, data, **kwargs)

    faults_in_trials(monkeypatch, {1: taken_over})
    outcome, text = search(tmp_path, quick, study="taken")
    assert [t.state for t in outcome.study.trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE,
                                                       TrialState.COMPLETE]
    assert "trial 1: failed by another worker while this one was paused" in text and not outcome.interrupted


def test_sigterm_stops_cleanly_and_resume_reaches_the_total(tmp_path: Path, quick: dict[str, Any],
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    args = ["search", "--space", quick["space"], "--budget", "1MFLOPs", "--trials", "3", "--epochs", "2",
            "--resolution", "16", "--limit", "240", "--device", "cpu", "--pruner", "none", "--study", "term",
            "--dir", str(tmp_path)]
    worker = launch(args, markers)
    try:
        wait_for(lambda: list(markers.glob(f"1.{worker.pid}")), "trial 1 to start training", worker)
        worker.send_signal(signal.SIGTERM)
        output, _ = worker.communicate(timeout=60)
    finally:
        worker.kill()
    assert worker.returncode == 128 + signal.SIGTERM, output
    assert "stopped: every finished trial is kept" in output and "Traceback" not in output
    stopped = optuna.load_study(study_name="term", storage=storage_url(tmp_path, "term", None))
    assert [t.state for t in stopped.trials] == [TrialState.COMPLETE, TrialState.FAIL]
    assert stopped.trials[1].user_attrs["failed"] == "interrupted by SIGTERM while it ran"
    monkeypatch.setattr(_train, "train", fake_train)
    outcome, text = search(tmp_path, {}, study="term", resume=True)
    assert "2 trial(s) to run" in text
    assert [t.state for t in outcome.study.trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE,
                                                       TrialState.COMPLETE]


def test_a_second_process_on_a_sqlite_study_is_refused_with_the_fix(tmp_path: Path, quick: dict[str, Any],
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_train, "train", fake_train)
    search(tmp_path, {**quick, "trials": 1}, study="busy")
    url = storage_url(tmp_path, "busy", None)
    with _storage.lock_sqlite(url, "busy"):  # another process searching it holds this lock
        with pytest.raises(StudyError) as refused:
            search(tmp_path, {"trials": 2}, study="busy", resume=True)
    assert str(refused.value) == (
        f"study 'busy' ({tmp_path / 'busy' / 'study.db'}) is being searched by another process, and SQLite "
        f"takes one writer at a time. A study that several workers share starts in a shared storage: "
        f"PostgreSQL (--storage postgresql://user@host/db) or, on one machine, Optuna's journal file "
        f"(--storage journal:PATH), under another --study name")
    outcome, _ = search(tmp_path, {"trials": 2}, study="busy", resume=True)  # the lock is free again
    assert len(outcome.study.trials) == 2


def test_workers_share_a_journal_file(tmp_path: Path, quick: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_train, "train", fake_train)
    journal = f"journal:{tmp_path / 'journal.log'}"
    search(tmp_path / "one", {**quick, "storage": journal, "trials": 2}, study="j")
    outcome, _ = search(tmp_path / "two", {**quick, "storage": journal, "trials": 3}, study="j")
    assert [t.state for t in outcome.study.trials] == [TrialState.COMPLETE] * 3 and outcome.ran == 1
    # the best trial, 0, ran in folder "one" (another machine): "two" writes its spec from its parameters
    written, original = (yaml.safe_load(path.read_text()) for path in (tmp_path / "two" / "j" / "best.yaml",
                                                                        tmp_path / "one" / "j" / "trials" / "0.yaml"))
    assert written == original
