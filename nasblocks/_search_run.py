"""A search run: the Optuna study that a ``Search`` feeds, created or resumed, run and reported.

``_search`` is one trial's life; this is what surrounds the trials. ``_search_prepare`` sets
the study up (its settings, storage, sampler and pruner); here, trials run under a progress
display until the study holds its trial count.
SIGINT (Ctrl-C) and SIGTERM stop the search after marking the running trial failed. Several
workers share a study through ``_storage`` and stop together at its trial count (``_workers``).
The final table, best.yaml and the plots are written after a stop too.

Optuna's study, storage, samplers, pruners, Pareto front and plots are used as they are; nothing
here reimplements them.
"""

from __future__ import annotations

import gc
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nasblocks._console import make_console
from nasblocks._search import Search, _Terminated, _TrialFailed
from nasblocks._search_prepare import prepare, resume_command
from nasblocks._study import (StudyError, best_trial, count_states, pareto_front, quiet_optuna, save_plots,
                              trial_spec_file, trials_table)

if TYPE_CHECKING:
    import optuna


@dataclass
class Outcome:
    """What a run left: the study, its folder, and whether Ctrl-C stopped it."""

    study: optuna.Study
    folder: Path
    interrupted: bool
    ran: int
    status: int = 0  # what the process should exit with: 130 after SIGINT, 143 after SIGTERM


def run_search(given: dict[str, Any], *, study: str | None = None, resume: bool = False,
               root: Path = Path("studies"), console: Console | None = None, python: bool = False) -> Outcome:
    """Run (or resume) a search until the study holds ``trials`` finished trials, counted over
    every worker that shares it, or until SIGINT (Ctrl-C) or SIGTERM.

    ``given`` holds the SearchConfig fields the user set (None: default or stored value).
    A signal stops the search after marking the running trial failed; every finished trial stays
    in storage, and ``--resume`` runs exactly the missing ones (``python``: the run was called
    from Python, and the hint to resume it is a call of ``nasblocks.search``).
    """
    from nasblocks._workers import COUNTED, Quota

    console = console or make_console()
    quiet_optuna()
    with ExitStack() as stack:
        search, optuna_study, remaining = prepare(given, study=study, resume=resume, root=root,
                                                  console=console, stack=stack, python=python)
        config = search.config
        search.quota = Quota(config.trials, console)
        console.print(f"search {search.name}: space {search.space.name} ({search.space.file}), "
                      f"budget {search.budget}, objectives {', '.join(search.objectives)}; "
                      f"{config.data} at {search.resolution}×{search.resolution}, {config.epochs} epoch{'s' * (config.epochs != 1)} on "
                      f"{search.device.type}; {remaining} trial(s) to run, studies in {search.folder}",
                      markup=False, highlight=False)
        if search.smallest_takes is not None:
            network = f" (the network of {config.weights_spec})" if config.weights_spec else ""
            console.print(f"each trial starts from {config.weights}{network} as far as it fits: the space's "
                          f"smallest network takes {search.smallest_takes} tensors", markup=False, highlight=False)
        status = 0
        started = time.perf_counter()
        before = len(optuna_study.trials)
        if remaining:
            with Progress(TextColumn("[bold]{task.description}"), BarColumn(bar_width=16), MofNCompleteColumn(),
                          TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console,
                          transient=False) as progress, _sigterm_as_interrupt():
                search.progress = progress
                budget = str(search.budget).replace(" (multiply-adds)", "")
                done = len(optuna_study.get_trials(deepcopy=False, states=COUNTED))
                search.task = progress.add_task(f"{search.name} {budget}", total=done + remaining,
                                                completed=done, status=search._best_text())
                try:
                    _optimize(search, optuna_study, python)
                except _Terminated:
                    status = 128 + signal.SIGTERM
                except KeyboardInterrupt:
                    status = 128 + signal.SIGINT
                finally:
                    search.progress = None
        ran = len(optuna_study.trials) - before
        finish(search, optuna_study, console, bool(status), time.perf_counter() - started, python)
    if search.quota.gave_up:
        raise StudyError(f"stopped: {search.quota.gave_up}; the study keeps every finished trial")
    return Outcome(optuna_study, search.folder, bool(status), ran, status)


@contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """SIGTERM (a scheduler stopping the job, ``kill``) stops the search as Ctrl-C does, instead
    of killing it with a trial left RUNNING. Only the main thread can take signals."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def stop(signum: int, frame: Any) -> None:
        raise _Terminated

    previous = signal.signal(signal.SIGTERM, stop)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _optimize(search: Search, study: optuna.Study, python: bool = False) -> None:
    """Optuna's loop, until the quota says the study is complete. A trial that another worker
    failed while this one was paused (SIGSTOP, a frozen machine) cannot be told: it is let go,
    its retry runs elsewhere, and the loop goes on. Losing the storage ends the run with one
    line: what was finished is in the storage, and the same command (``python``: the same call
    of ``nasblocks.search``) rejoins."""
    import sqlalchemy.exc

    from nasblocks._storage import heartbeat, redact, scrub

    if not search.quota.work_left(study):
        return
    with _LongLivedFrozen() as frozen:
        while True:
            search.abandoned = None
            try:
                study.optimize(search.objective, gc_after_trial=True, catch=(_TrialFailed,),
                               callbacks=[frozen, search.on_trial_end, search.quota, search.reseed])
                return
            except ValueError:  # Optuna's "Cannot tell a FAIL trial", after _Abandoned
                if search.abandoned is None:
                    raise
            except sqlalchemy.exc.SQLAlchemyError as err:
                url = search.url
                again = "make the same call of nasblocks.search again" if python else "run the same command again"
                raise StudyError(f"lost the study's storage {redact(url)}: {scrub(str(err).splitlines()[0], url)}; "
                                 f"its finished trials are kept there: {again} to rejoin") from None
            search.console.print(f"trial {search.abandoned}: failed by another worker while this one was paused "
                                 f"(no heartbeat for {heartbeat()[1]} s); it is retried there, and this worker goes on",
                                 highlight=False)
            if not search.quota.work_left(study):
                return


class _LongLivedFrozen:
    """Optuna's ``gc_after_trial`` runs a full collection after each trial, which frees the
    trial's network (fx graphs hold reference cycles) before the next one is built. With torch,
    Optuna and the data loaded, a full collection walks half a million objects, a quarter of a
    second a trial on a CPU: as long as a short proxy training. What is alive before the first
    trial, and after the first finished one (the modules torch imports when it first builds and
    trains), lives through the run: it is set aside (``gc.freeze``), and each collection walks
    what the trials made. Afterwards the caller's objects are collectable again."""

    def __init__(self) -> None:
        self.settled = False

    def __enter__(self) -> _LongLivedFrozen:
        gc.collect()
        gc.freeze()
        return self

    def __exit__(self, *exc: object) -> None:
        gc.unfreeze()

    def __call__(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """Optuna callback, after its collection: what the trial left is long-lived, until a
        trial has run to the end (the later ones' leftovers may be freed during the run)."""
        if not self.settled:
            gc.freeze()
            self.settled = trial.state.name == "COMPLETE"


def finish(search: Search, study: optuna.Study, console: Console, interrupted: bool, seconds: float,
           python: bool = False) -> None:
    """The final table, best.yaml and the plots; after Ctrl-C too."""
    from nasblocks._output import write_bytes

    if interrupted:
        again = resume_command(search.name, search.folder.parent, search.config.storage, python)
        console.print(f"stopped: every finished trial is kept in {search.folder}; continue with {again}",
                      markup=False, highlight=False, soft_wrap=True)
    front = pareto_front(study)
    if front:
        console.print(trials_table(front, f"{search.name}: Pareto front, accuracy against "
                                          f"{'MACs' if len(search.objectives) == 1 else ', '.join(search.objectives[1:])}"))
        best = best_trial(study)
        write_bytes(search.folder / "best.yaml", trial_spec_file(study, best, search.folder).read_bytes())
        console.print(f"best: trial {best.number}, accuracy {best.user_attrs['accuracy']:.3f} → "
                      f"{search.folder / 'best.yaml'}", highlight=False)
    try:
        plots = save_plots(study, search.folder)
    except StudyError as err:
        console.print(f"no plots: {err}", highlight=False)
        plots = []
    if plots:
        console.print(f"plots: {', '.join(str(p) for p in plots)}", highlight=False)
    count, states = len(study.trials), count_states(study.trials)
    console.print(f"{count} trial{'s' * (count != 1)} in {search.folder}{': ' * bool(states)}{states} "
                  f"({seconds:.0f} s this run)", highlight=False)
