"""A study shared through a real PostgreSQL server (conftest's ``postgres``): workers join it
and stop at the study's trial count, leaving the last trials to the workers running them; a dead
worker's trial is failed by its missing heartbeat and retried; dropped connections and a server
restart in the middle of a trial cost nothing; a storage URL's password is never shown; and the
server fixture fails, never skips, when PostgreSQL cannot start. Worker processes killed and
paused are in test_worker_faults.py."""

from __future__ import annotations

import logging
import sys
import time
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from postgres_server import Postgres, start_postgres
from rich.console import Console

from nasblocks import _storage, _train
from nasblocks._search_run import run_search
from nasblocks._study import StudyError, load_study
from nasblocks._workers import Quota
from nasblocks.cli import main

retried = optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number


def search(root: Path, given: dict[str, Any], **options: Any) -> Any:
    return run_search(given, root=root, console=Console(width=120), **options)


def test_workers_share_a_study_in_postgresql(tmp_path: Path, quick: dict[str, Any], postgres: Postgres) -> None:
    first = search(tmp_path, {**quick, "storage": postgres.url, "trials": 2}, study="shared")
    assert [t.state for t in first.study.trials] == [TrialState.COMPLETE] * 2
    assert not (tmp_path / "shared" / "study.db").exists() and (tmp_path / "shared" / "trials" / "1.yaml").is_file()
    # a second worker with the same command joins the study and runs what is missing
    second = search(tmp_path, {**quick, "storage": postgres.url, "trials": 3}, study="shared")
    assert [t.number for t in second.study.trials] == [0, 1, 2] and second.ran == 1
    assert load_study(tmp_path, "shared", postgres.url).user_attrs["nasblocks"]["trials"] == 3
    with pytest.raises(StudyError, match="--budget: study 'shared' was created with"):
        search(tmp_path, {**quick, "storage": postgres.url, "budget": ["2MFLOPs"]}, study="shared")


@pytest.mark.filterwarnings("ignore:Heartbeat of storage", "ignore::optuna.exceptions.ExperimentalWarning")
def test_a_dead_workers_trial_is_failed_and_retried(tmp_path: Path, quick: dict[str, Any], postgres: Postgres,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NASBLOCKS_HEARTBEAT", "1,2")
    search(tmp_path, {**quick, "storage": postgres.url, "trials": 1}, study="heartbeat")
    storage = _storage.open_storage(postgres.url)
    study = optuna.load_study(study_name="heartbeat", storage=storage)
    dead = study.ask()  # a worker that started a trial, beat once, and died
    storage.record_heartbeat(dead._trial_id)
    time.sleep(3)
    outcome = search(tmp_path, {"storage": postgres.url, "trials": 2}, study="heartbeat", resume=True)
    trials = outcome.study.trials
    assert trials[dead.number].state == TrialState.FAIL
    retries = [t for t in trials if retried(t) == dead.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE
    assert len([t for t in trials if t.state == TrialState.COMPLETE]) == 2


@pytest.mark.filterwarnings("error::pytest.PytestUnhandledThreadExceptionWarning")
@pytest.mark.filterwarnings("ignore:Heartbeat of storage", "ignore::optuna.exceptions.ExperimentalWarning")
def test_the_last_trials_are_left_to_the_workers_running_them(postgres: Postgres,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NASBLOCKS_HEARTBEAT", "1,2")
    storage = _storage.open_storage(postgres.url)
    study = optuna.create_study(study_name="quota", storage=storage)
    study.add_trial(optuna.trial.create_trial(value=0.5))
    elsewhere, late = study.ask(), study.ask()  # two workers started a trial each; one is missing
    for trial in (elsewhere, late):
        storage.record_heartbeat(trial._trial_id)
    console = Console(record=True)
    quota = Quota(total=2, console=console)
    assert quota.surplus(study, late) and not quota.surplus(study, elsewhere)
    # both workers die: once their heartbeats are stale, a waiting worker fails them and takes a retry
    assert quota.work_left(study)
    assert console.export_text().startswith("waiting: the study's last 2 trial(s) run on other workers")
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.FAIL, TrialState.FAIL, TrialState.WAITING, TrialState.WAITING]
    study.tell(study.ask(), 0.7)
    assert not quota.work_left(study)


def test_a_server_restart_in_the_middle_of_a_trial_loses_nothing(
        tmp_path: Path, quick: dict[str, Any], postgres: Postgres, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NASBLOCKS_HEARTBEAT", "1,30")  # beats every second: two fall while the server is down
    real = _train.train

    def restart_during_trial_1(model: Any, data: Any, **kwargs: Any) -> Any:
        if kwargs["seed"] == 1:
            postgres.restart(down=2.5)
        return real(model, data, **kwargs)

    monkeypatch.setattr(_train, "train", restart_during_trial_1)
    outcome = search(tmp_path, {**quick, "storage": postgres.url, "trials": 3}, study="restart")
    assert [t.state for t in outcome.study.trials] == [TrialState.COMPLETE] * 3
    reloaded = optuna.load_study(study_name="restart", storage=postgres.url)
    assert [t.user_attrs["accuracy"] for t in reloaded.trials] == [t.user_attrs["accuracy"] for t in outcome.study.trials]


def test_connections_the_server_dropped_are_made_again(postgres: Postgres) -> None:
    study = optuna.create_study(study_name="pre-ping", storage=_storage.open_storage(postgres.url))
    study.set_user_attr("before", 1)  # the pool now holds an open connection
    postgres.restart()  # which the server closes
    study.set_user_attr("after", 2)
    assert optuna.load_study(study_name="pre-ping", storage=postgres.url).user_attrs == {"before": 1, "after": 2}


SECRET = "s3cret-Pa55"


def run_cli(monkeypatch: pytest.MonkeyPatch, *args: str) -> int:
    monkeypatch.setattr(sys, "argv", ["nasblocks", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code or 0


def test_a_password_in_the_storage_url_is_never_shown(
        tmp_path: Path, quick: dict[str, Any], postgres: Postgres, monkeypatch: pytest.MonkeyPatch,
        capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)  # every logger, Optuna's and SQLAlchemy's included
    with_password = postgres.url.replace("nasblocks@", f"nasblocks:{SECRET}@")  # the server trusts loopback
    wrong_port = f"postgresql://nasblocks:{SECRET}@127.0.0.1:1/nasblocks"
    not_a_url = f"postgresql://nasblocks:{SECRET}@127.0.0.1:port/nasblocks"
    quick_args = ["--space", quick["space"], "--budget", "1MFLOPs", "--trials", "1", "--epochs", "1",
                  "--resolution", "16", "--limit", "240", "--device", "cpu", "--dir", str(tmp_path)]
    assert run_cli(monkeypatch, "search", *quick_args, "--study", "secret", "--storage", with_password) == 0
    assert run_cli(monkeypatch, "study", "show", "secret", "--storage", with_password, "--all") == 0
    assert run_cli(monkeypatch, "study", "show", "nope", "--storage", with_password) == 2
    assert run_cli(monkeypatch, "search", *quick_args, "--study", "x", "--storage", wrong_port) == 2
    assert run_cli(monkeypatch, "search", *quick_args, "--study", "x", "--storage", not_a_url) == 2
    out, err = capfd.readouterr()
    assert "trial 0: accuracy" in out
    lines = err.splitlines()
    assert lines[0] == f"error: no study 'nope' in {postgres.url.replace('nasblocks@', 'nasblocks:***@')}"
    assert lines[1].startswith("error: --storage: cannot open postgresql://nasblocks:***@127.0.0.1:1/nasblocks: ")
    assert lines[2].startswith("error: --storage postgresql://nasblocks:***@127.0.0.1:port/nasblocks: not a "
                               "database URL")
    assert len(lines) == 3
    shown = out + err + caplog.text + str(load_study(tmp_path, "secret", postgres.url).user_attrs)
    assert SECRET not in shown and "s3cret" not in shown


def test_heartbeat_periods_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NASBLOCKS_HEARTBEAT", raising=False)
    assert _storage.heartbeat() == (30, 90)
    monkeypatch.setenv("NASBLOCKS_HEARTBEAT", " 5, 20 ")
    assert _storage.heartbeat() == (5, 20)
    monkeypatch.setenv("NASBLOCKS_HEARTBEAT", "20,5")
    with pytest.raises(StudyError, match=r"NASBLOCKS_HEARTBEAT='20,5': expected INTERVAL,GRACE in seconds with "
                                         r"0 < INTERVAL < GRACE, e.g. 30,90"):
        _storage.heartbeat()


def test_the_server_fixture_fails_loudly_when_postgres_cannot_start(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PG_BIN", str(tmp_path))  # no server binaries there
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    with pytest.raises(pytest.fail.Exception, match="(?s)the PostgreSQL test server did not start .*server "
                                                    "binaries not found.*scripts/install-services.sh"):
        start_postgres(str(tmp_path / "pg"))
