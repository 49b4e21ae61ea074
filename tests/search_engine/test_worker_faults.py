"""Three worker processes on one PostgreSQL study, each with its own --dir as on its own machine.
One is killed (SIGKILL) in the middle of a trial; one is paused (SIGSTOP) in the middle of a
trial until another worker has failed that trial for its missing heartbeat, then resumed; the
third is killed in the middle of a trial too. The paused worker finishes the study alone.

The scenario runs once (about twenty seconds: heartbeats every second, a grace period of two);
each test reads one property of what it left."""

from __future__ import annotations

import re
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass

import optuna
import pytest
from fault_worker import launch, wait_for
from optuna.trial import FrozenTrial, TrialState
from postgres_server import Postgres
from tiny_search import write_tiny_space

from nasblocks._study import trial_reason

TOTAL = 8
retry_history = optuna.storages.RetryHeartbeatStaleTrialCallback.retry_history


@dataclass
class Scenario:
    trials: list[FrozenTrial]
    killed: list[int]          # trials whose worker was killed in the middle
    paused: int                # the trial of the paused worker
    logs: dict[str, str]
    survivor_status: int | None


@pytest.fixture(scope="module")
def scenario(postgres: Postgres, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Scenario]:
    root = tmp_path_factory.mktemp("workers")
    markers = root / "markers"
    markers.mkdir()
    space = write_tiny_space(root)
    args = ["search", "--study", "faults", "--storage", postgres.url, "--space", str(space), "--budget", "1MFLOPs",
            "--trials", str(TOTAL), "--epochs", "2", "--resolution", "16", "--limit", "240", "--device", "cpu",
            "--sampler", "random", "--pruner", "none"]
    names = ("killed-first", "paused", "killed-later")
    logs = {name: open(root / f"{name}.log", "w") for name in names}
    workers = {name: launch([*args, "--dir", str(root / name)], markers, logs[name], NASBLOCKS_HEARTBEAT="1,2",
                            NASBLOCKS_CACHE=str(root / "cache")) for name in names}

    def next_trial(name: str) -> int:
        """The number of the next trial that worker starts training: it is RUNNING, in the middle
        of its first epoch, and its heartbeat has been written."""
        pid = workers[name].pid
        seen = {p.name for p in markers.glob(f"*.{pid}")}
        fresh = wait_for(lambda: [p for p in markers.glob(f"*.{pid}") if p.name not in seen],
                         f"worker {name} to start a trial", workers[name])
        time.sleep(0.2)
        return int(fresh[0].name.split(".")[0])

    def state(number: int) -> TrialState:
        loaded = optuna.load_study(study_name="faults", storage=postgres.url)
        return loaded.trials[number].state

    try:
        killed = [next_trial("killed-first")]
        workers["killed-first"].send_signal(signal.SIGKILL)
        paused = next_trial("paused")
        workers["paused"].send_signal(signal.SIGSTOP)
        wait_for(lambda: state(paused) == TrialState.FAIL, f"trial {paused} to be failed by another worker",
                 workers["killed-later"])
        workers["paused"].send_signal(signal.SIGCONT)
        killed.append(next_trial("killed-later"))
        workers["killed-later"].send_signal(signal.SIGKILL)
        status = workers["paused"].wait(timeout=120)
    finally:
        for worker in workers.values():
            worker.kill()
            worker.wait()
        for log in logs.values():
            log.close()
    yield Scenario(optuna.load_study(study_name="faults", storage=postgres.url).trials, killed, paused,
                   {name: (root / f"{name}.log").read_text() for name in names}, status)


def test_the_study_ends_with_exactly_the_trials_asked_for(scenario: Scenario) -> None:
    assert scenario.survivor_status == 0, scenario.logs["paused"]
    finished = [t for t in scenario.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)]
    assert len(finished) == TOTAL
    assert not [t.number for t in scenario.trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]


def test_trial_numbers_are_unique(scenario: Scenario) -> None:
    assert [t.number for t in scenario.trials] == list(range(len(scenario.trials)))


@pytest.mark.filterwarnings("ignore::optuna.exceptions.ExperimentalWarning")
def test_every_killed_or_paused_trial_is_failed_and_retried_to_completion(scenario: Scenario) -> None:
    by_number = {t.number: t for t in scenario.trials}
    for number in [*scenario.killed, scenario.paused]:
        trial = by_number[number]
        assert trial.state == TrialState.FAIL, number
        assert trial_reason(trial) == "its worker stopped while it ran"  # as `study show --all` says
        while trial.state == TrialState.FAIL:  # a retry may itself have been killed: follow the chain
            retries = [t for t in scenario.trials if retry_history(t)[-1:] == [trial.number]]
            assert len(retries) == 1, f"trial {trial.number} was retried {len(retries)} times"
            trial = retries[0]
        assert trial.state == TrialState.COMPLETE and trial.params == by_number[number].params


def test_every_trial_a_worker_reported_finished_is_in_the_study(scenario: Scenario) -> None:
    by_number = {t.number: t for t in scenario.trials}
    reported = {name: [(int(n), float(a)) for n, a in re.findall(r"^trial (\d+): accuracy ([\d.]+)", log, re.M)]
                for name, log in scenario.logs.items()}
    assert reported["killed-later"], "the worker killed later had finished trials before"
    for name, trials in reported.items():
        for number, accuracy in trials:
            assert by_number[number].state == TrialState.COMPLETE, (name, number)
            assert round(by_number[number].user_attrs["accuracy"], 3) == accuracy


def test_the_paused_worker_lets_its_trial_go_and_goes_on(scenario: Scenario) -> None:
    log = scenario.logs["paused"]
    assert f"trial {scenario.paused}: failed by another worker while this one was paused" in log
    after = log.split(f"trial {scenario.paused}: failed by another worker")[1]
    assert re.search(r"^trial \d+: accuracy", after, re.M), "it finished trials after resuming"
    assert all("Traceback" not in text for text in scenario.logs.values())

