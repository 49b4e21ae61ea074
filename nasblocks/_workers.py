"""Several workers, one study: the trial count the user asked for, exactly, across all of them.

Every worker runs the same ``nasblocks search --study NAME --storage URL``; when the last one
stops, the study holds ``trials`` finished trials (COMPLETE, or PRUNED: a pruned or rejected
candidate is an answer too). A FAIL trial never counts — out of memory, a dead worker's trial,
a surplus one — so the study runs another in its place. Before each trial a worker looks:

- enough finished trials: it stops;
- a trial queued for retry (WAITING), or trials missing that nobody runs: it starts one (Optuna's
  ``ask`` takes a queued retry first);
- every missing trial running on another worker: it waits, a heartbeat at a time, failing the
  trials whose heartbeat went stale (Optuna's ``fail_stale_trials``); the retry of such a trial
  is queued, and it takes it.

Two workers may still start the last trial at the same moment: each sees the other's trial once
it has one, and the trial with the larger number is surplus, failed before anything is trained.
Storages without heartbeats (the journal file) cannot tell a dead worker's trial from a live one,
so their RUNNING trials are not waited for: there, workers stopping at the same time may finish
a few trials over the count.
"""

from __future__ import annotations

import time
import warnings
from typing import TYPE_CHECKING

import optuna
from optuna.storages import fail_stale_trials
from optuna.storages._heartbeat import is_heartbeat_enabled
from optuna.trial import TrialState
from rich.console import Console

if TYPE_CHECKING:
    from optuna.trial import FrozenTrial

COUNTED = (TrialState.COMPLETE, TrialState.PRUNED)
# a worker whose trials keep failing (every candidate out of memory, say) stops instead of
# looping; the study keeps what it has
MAX_FAILED_IN_A_ROW = 5


class Quota:
    """The study's stop rule for one worker, checked before its first trial, by the trial itself
    (``surplus``) and as an Optuna callback after each trial."""

    def __init__(self, total: int, console: Console) -> None:
        self.total = total
        self.console = console
        self.failed_in_a_row = 0
        self.gave_up: str | None = None  # why this worker stopped before the study was complete

    def work_left(self, study: optuna.Study) -> bool:
        """Whether to start another trial: after waiting, while every missing trial runs on
        another worker, for one of them to finish or to die."""
        heartbeats = is_heartbeat_enabled(study._storage)
        said = False
        while True:
            if heartbeats:
                with warnings.catch_warnings():
                    warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                    fail_stale_trials(study)
            trials = study.get_trials(deepcopy=False)
            finished = sum(t.state in COUNTED for t in trials)
            running = sum(t.state == TrialState.RUNNING for t in trials) if heartbeats else 0
            if finished >= self.total:
                return False
            if finished + running < self.total or any(t.state == TrialState.WAITING for t in trials):
                return True
            if not said:
                self.console.print(f"waiting: the study's last {running} trial(s) run on other workers; "
                                   f"a trial whose worker dies is retried here", highlight=False)
                said = True
            time.sleep(study._storage.get_heartbeat_interval())  # type: ignore[attr-defined]

    def surplus(self, study: optuna.Study, trial: optuna.Trial) -> bool:
        """Whether ``trial`` is one too many: the finished trials and the ones started before
        it (smaller numbers) already make the count."""
        live = COUNTED + (TrialState.WAITING,)
        if is_heartbeat_enabled(study._storage):
            live += (TrialState.RUNNING,)
        ahead = sum(t.state in COUNTED or t.number < trial.number
                    for t in study.get_trials(deepcopy=False, states=live) if t.number != trial.number)
        return ahead >= self.total

    def __call__(self, study: optuna.Study, trial: FrozenTrial) -> None:
        if trial.state in COUNTED:
            self.failed_in_a_row = 0
        elif "surplus" not in trial.user_attrs:
            self.failed_in_a_row += 1
        if self.failed_in_a_row >= MAX_FAILED_IN_A_ROW:
            self.gave_up = (f"{self.failed_in_a_row} trials in a row failed on this worker (last: trial "
                            f"{trial.number}, {trial.user_attrs.get('failed', 'see nasblocks study show --all')})")
            study.stop()
        elif not self.work_left(study):
            study.stop()
