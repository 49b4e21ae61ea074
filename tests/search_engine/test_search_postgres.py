"""A study shared through a real PostgreSQL server (started by scripts/postgres-test-server.sh):
workers join it, stop at the study's trial count, and a dead worker's trial is failed by its
missing heartbeat and retried."""

from __future__ import annotations

import os
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from optuna.trial import TrialState
from rich.console import Console

from nasblocks import _study
from nasblocks._search import run_search

SCRIPT = Path(__file__).parents[2] / "scripts" / "postgres-test-server.sh"


@pytest.fixture(scope="module")
def postgres() -> Iterator[str]:
    with socket.socket() as probe:  # a free port on loopback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    folder = tempfile.mkdtemp(prefix="nasblocks-pg-")
    os.chmod(folder, 0o755)  # the server runs as the postgres user when the tests run as root
    url = subprocess.run([str(SCRIPT), "start", f"{folder}/pg", str(port)], check=True, capture_output=True,
                         text=True).stdout.strip()
    try:
        yield url
    finally:
        subprocess.run([str(SCRIPT), "stop", f"{folder}/pg"], check=False)
        os.rmdir(folder)


def search(root: Path, given: dict[str, Any], **options: Any) -> Any:
    return run_search(given, root=root, console=Console(width=120), **options)


def test_workers_share_a_study_in_postgresql(tmp_path: Path, quick: dict[str, Any], postgres: str) -> None:
    first = search(tmp_path, {**quick, "storage": postgres, "trials": 2}, study="shared")
    assert [t.state for t in first.study.trials] == [TrialState.COMPLETE] * 2
    assert not (tmp_path / "shared" / "study.db").exists() and (tmp_path / "shared" / "trials" / "1.yaml").is_file()
    # a second worker with the same command joins the study and runs what is missing
    second = search(tmp_path, {**quick, "storage": postgres, "trials": 3}, study="shared")
    assert [t.number for t in second.study.trials] == [0, 1, 2] and second.ran == 1
    assert _study.load_study(tmp_path, "shared", postgres).user_attrs["nasblocks"]["trials"] == 3
    with pytest.raises(_study.StudyError, match="--budget: study 'shared' was created with"):
        search(tmp_path, {**quick, "storage": postgres, "budget": ["2MFLOPs"]}, study="shared")


@pytest.mark.filterwarnings("ignore:Heartbeat of storage", "ignore::optuna.exceptions.ExperimentalWarning")
def test_a_dead_workers_trial_is_failed_and_retried(tmp_path: Path, quick: dict[str, Any], postgres: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_study, "HEARTBEAT", (1, 2))
    search(tmp_path, {**quick, "storage": postgres, "trials": 1}, study="heartbeat")
    storage = _study.open_storage(postgres)
    study = optuna.load_study(study_name="heartbeat", storage=storage)
    dead = study.ask()  # a worker that started a trial, beat once, and died
    storage.record_heartbeat(dead._trial_id)
    time.sleep(3)
    outcome = search(tmp_path, {"storage": postgres, "trials": 2}, study="heartbeat", resume=True)
    trials = outcome.study.trials
    assert trials[dead.number].state == TrialState.FAIL
    retried = optuna.storages.RetryHeartbeatStaleTrialCallback.retried_trial_number
    retries = [t for t in trials if retried(t) == dead.number]
    assert len(retries) == 1 and retries[0].state == TrialState.COMPLETE


def test_an_unreachable_server_is_one_line(tmp_path: Path, quick: dict[str, Any]) -> None:
    with pytest.raises(_study.StudyError, match=r"--storage: cannot open postgresql://\*\*\*@127.0.0.1:1/x"):
        search(tmp_path, {**quick, "storage": "postgresql://u:secret@127.0.0.1:1/x"}, study="nowhere")
