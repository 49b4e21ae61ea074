"""A search run: the Optuna study that a ``Search`` feeds, created or resumed, run and reported.

``_search`` is one trial's life; this is what surrounds the trials. The settings are the ones
given or, with ``--resume``, the ones the study stored; the study gets its storage, its sampler
and its pruner; trials run under a progress display until the study holds its trial count.
SIGINT (Ctrl-C) and SIGTERM stop the search after marking the running trial failed. Several
workers share a study through ``_storage`` and stop together at its trial count (``_workers``).
The final table, best.yaml and the plots are written after a stop too.

Optuna's study, storage, samplers, pruners, Pareto front and plots are used as they are; nothing
here reimplements them.
"""

from __future__ import annotations

import hashlib
import math
import re
import shlex
import signal
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from nasblocks._console import make_console
from nasblocks._search import Search, _Terminated, _TrialFailed
from nasblocks._search_config import SearchConfig
from nasblocks._space import Space, load_space, spaces_dir
from nasblocks._study import (CONFIG_ATTR, DIRECTIONS, StudyError, best_trial, check_name, count_states,
                              pareto_front, quiet_metric_names, quiet_optuna, save_plots, storage_url, study_dir,
                              trial_spec_file, trials_table)

if TYPE_CHECKING:
    import optuna


# Optuna's GridSampler holds every point of the grid in a list and scans it for each trial
GRID_POINTS_MAX = 100_000


def _space_source(text: str) -> str:
    """A shipped space by name stays a name; a file becomes an absolute path (for --resume)."""
    path = Path(text)
    if path.suffix and path.exists():
        if path.resolve().parent == spaces_dir().resolve():
            return path.stem
        return str(path.resolve())
    return text


def _budget_label(texts: list[str]) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9.]", "", t) for t in texts) or "nobudget"


@dataclass
class Outcome:
    """What a run left: the study, its folder, and whether Ctrl-C stopped it."""

    study: optuna.Study
    folder: Path
    interrupted: bool
    ran: int
    status: int = 0  # what the process should exit with: 130 after SIGINT, 143 after SIGTERM


def _sampler(config: SearchConfig, search: Search, objectives: int, offset: int,
             shared: bool) -> optuna.samplers.BaseSampler:
    """The sampler, seeded so that a resumed study does not replay its first random draws. Workers
    sharing a study each draw their own (one seed would have them all propose the same
    candidates), and TPE treats the trials running elsewhere as bad (its constant liar), so that
    workers spread out instead of piling onto one region."""
    import optuna

    seed = None if shared else config.seed + offset
    kind = config.sampler or ("tpe" if objectives == 1 else "nsga2")
    if kind == "tpe":
        # Optuna's default of 10 random start-up trials is most of a 12-trial search
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=min(10, max(3, config.trials // 3)),
                                          constant_liar=shared)
    if kind == "nsga2":
        return optuna.samplers.NSGAIISampler(seed=seed, population_size=min(50, max(4, config.trials // 4)))
    if kind == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    grid = _grid(search)
    points = math.prod(len(values) for values in grid.values())
    if points > GRID_POINTS_MAX:
        raise StudyError(f"--sampler grid: space {search.space.name!r} has {points:,} points and the grid sampler "
                         f"lists every one in memory (at most {GRID_POINTS_MAX:,}); use tpe or random, or a space "
                         f"with fewer choices")
    return optuna.samplers.GridSampler(grid, seed=seed)


def _grid(search: Search) -> dict[str, list[Any]]:
    return {d.name: d.grid() for d in search.space.domains}


def _grid_left(search: Search, study: optuna.Study, remaining: int, console: Console) -> int:
    """The trials a grid search still runs: Optuna's GridSampler runs each point once (a point
    whose trial failed counts as run) and, asked for more, runs a point again and stops. So the
    search stops when every point has run, saying so when --trials asks for more."""
    points = math.prod(len(values) for values in _grid(search).values())
    run = {t.system_attrs["grid_id"] for t in study.get_trials(deepcopy=False)
           if t.state.is_finished() and "grid_id" in t.system_attrs}
    left = points - len(run)
    if left == 0 < remaining:
        console.print(f"--sampler grid: every point of space {search.space.name!r} has run ({points:,})",
                      highlight=False)
    elif left < remaining:
        console.print(f"--sampler grid: space {search.space.name!r} has {points:,} points, {left:,} of them not "
                      f"run yet; the search stops when each has run once", highlight=False)
    return min(left, remaining)


def _pruner(config: SearchConfig) -> optuna.pruners.BasePruner:
    import optuna

    if config.pruner == "median":
        # no verdict on the first epoch: a few steps of proxy training barely rank anything
        return optuna.pruners.MedianPruner(n_startup_trials=3, n_warmup_steps=2)
    if config.pruner == "hyperband":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=config.epochs)
    return optuna.pruners.NopPruner()


def _held(folder: Path) -> str | None:
    """What of a study a folder already holds: its SQLite file, or the trial specs a study in
    another storage wrote there. A new study in that folder would write over them."""
    if (folder / "study.db").exists():
        return "a SQLite study.db"
    if (folder / "trials").is_dir():
        return "the trial specs of a study in another --storage"
    return None


SPACE_ATTR = "nasblocks_space"  # the study's user attribute: what its trials were drawn from


def _space_signature(space: Space) -> dict[str, Any]:
    """Each parameter's domain, and a digest of the rest of the space (its fixed values, the fit
    var, the recipe, the base spec's name): what a study's trials were drawn from."""
    rest = repr((space.templates, space.overrides, space.fit, space.recipe, space.proxy_resolution, space.base.name))
    return {"domains": {d.name: d.describe() for d in space.domains},
            "digest": hashlib.sha256(rest.encode()).hexdigest()[:16]}


def _check_space_unchanged(stored: dict[str, Any] | None, space: Space, study: str) -> None:
    """Refuse to add trials from a space edited since the study began: Optuna would fail on a
    parameter whose domain changed, and the study would mix networks of two spaces."""
    now = _space_signature(space)
    if stored is None or stored == now:  # None: a study from before nasblocks recorded its space
        return
    was, new = stored["domains"], now["domains"]
    changed = [f"{k}: {was.get(k, 'absent')} → {new.get(k, 'absent')}" for k in dict.fromkeys([*was, *new])
               if was.get(k) != new.get(k)]
    what = "; ".join(changed[:3]) + (f"; … {len(changed) - 3} more" if len(changed) > 3 else "") if changed \
        else "its fixed values, fit var, recipe or base spec"
    raise StudyError(f"space {space.name!r} ({space.file}) has changed since study {study!r} began ({what}); "
                     f"a study keeps its space: restore the file, or start a new study")


def _fresh_name(root: Path, base: str) -> str:
    name, k = base, 1
    while _held(study_dir(root, name)):
        k += 1
        name = f"{base}-{k}"
    return name


def _make_folder(folder: Path, root: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise StudyError(f"--dir {root}: cannot create {folder} ({err.strerror or err})") from None


def prepare(given: dict[str, Any], *, study: str | None, resume: bool, root: Path, console: Console,
            stack: ExitStack) -> tuple[Search, optuna.Study, int]:
    """The Search and the Optuna study it feeds (created, or loaded with --resume), and how many
    trials are left to run. A SQLite study stays locked to this process until ``stack`` closes."""
    import optuna
    from optuna.trial import TrialState

    from nasblocks._storage import is_shared, is_sqlite, lock_sqlite, open_storage, redact
    from nasblocks._study import load_study
    from nasblocks._workers import COUNTED

    if study is not None:
        check_name(study)
    if resume and study is None:
        raise StudyError("--resume needs --study NAME: the study to continue")
    storage_given = given.get("storage")
    existing = None
    if resume:
        existing = load_study(root, study, storage_given)  # type: ignore[arg-type]
    elif study is not None and storage_given is not None:  # another worker may have created it
        try:
            existing = load_study(root, study, storage_given)
        except StudyError:
            existing = None
        if existing is None and (held := _held(study_dir(root, study))):
            raise StudyError(f"study folder {study_dir(root, study)} already holds another study named {study!r} "
                             f"({held}); a new one in {redact(storage_given)} would write over its trials' specs: "
                             f"choose another --study name or --dir")
    elif study is not None and (study_dir(root, study) / "study.db").exists():
        raise StudyError(f"study {study!r} already exists in {study_dir(root, study)}; continue it "
                         f"with --resume, or choose another --study name")
    elif study is not None and (held := _held(study_dir(root, study))):
        raise StudyError(f"study folder {study_dir(root, study)} already holds {held}: join or resume that study "
                         f"with its --storage, or choose another --study name or --dir")
    if existing is not None:
        stored = dict(existing.user_attrs.get(CONFIG_ATTR, {}))
        for key, value in given.items():
            if key == "space" and value is not None:
                value = _space_source(value)
            if value is not None and key not in SearchConfig.RESUMABLE and stored.get(key) != value:
                raise StudyError(f"--{key.replace('_', '-')}: study {study!r} was created with "
                                 f"{stored.get(key)!r}; a resumed study keeps its settings (only "
                                 f"--trials and --device may change)")
        config = SearchConfig.from_dict({**stored, **{k: v for k, v in given.items() if v is not None}})
        name = str(study)
    else:
        config = SearchConfig.from_dict({k: v for k, v in given.items() if v is not None})
        if given.get("space") is not None:
            config.space = _space_source(given["space"])
        name = study or _fresh_name(root, f"{load_space(config.space).name}-{_budget_label(config.budget)}")
    search = Search(config, name, root, console)
    if existing is not None:
        _check_space_unchanged(existing.user_attrs.get(SPACE_ATTR), search.space, name)
    search.check_budget()
    search.load_data()
    search.check_proxy()
    url = search.url = storage_url(root, name, config.storage)
    directions = [DIRECTIONS[o] for o in search.objectives]
    offset = 0 if existing is None else len(existing.trials)
    sampler = _sampler(config, search, len(directions), offset, is_shared(url))  # before anything is written
    # the default SQLite file lives in the study's folder; a --storage elsewhere opens first, so
    # that a bad one leaves no empty folder behind
    inside = config.storage is None
    if inside:
        _make_folder(search.folder, root)
    if is_sqlite(url) and (lock := lock_sqlite(url, name)) is not None:
        stack.enter_context(closing(lock))
    storage = open_storage(url)
    if not inside:
        _make_folder(search.folder, root)
    if existing is not None and is_sqlite(url):
        # this process holds the only writer's lock: a RUNNING trial was interrupted
        for trial in existing.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL)
    optuna_study = optuna.create_study(
        study_name=name, storage=storage, directions=directions,
        load_if_exists=existing is not None or is_shared(url),  # a worker starting beside this one
        sampler=sampler, pruner=_pruner(config))
    quiet_metric_names(optuna_study, search.objectives)
    # the settings --resume reads; the storage URL (and any password in it) is not one of them
    optuna_study.set_user_attr(CONFIG_ATTR, {**config.to_dict(), "storage": None})
    optuna_study.set_user_attr(SPACE_ATTR, _space_signature(search.space))
    search.study = optuna_study
    done = len(optuna_study.get_trials(deepcopy=False, states=COUNTED))
    remaining = max(0, config.trials - done)
    if isinstance(sampler, optuna.samplers.GridSampler):
        remaining = _grid_left(search, optuna_study, remaining, console)
    return search, optuna_study, remaining


def run_search(given: dict[str, Any], *, study: str | None = None, resume: bool = False,
               root: Path = Path("studies"), console: Console | None = None) -> Outcome:
    """Run (or resume) a search until the study holds ``trials`` finished trials, counted over
    every worker that shares it, or until SIGINT (Ctrl-C) or SIGTERM.

    ``given`` holds the SearchConfig fields the user set (None: default or stored value).
    A signal stops the search after marking the running trial failed; every finished trial stays
    in storage, and ``--resume`` runs exactly the missing ones.
    """
    from nasblocks._workers import COUNTED, Quota

    console = console or make_console()
    quiet_optuna()
    with ExitStack() as stack:
        search, optuna_study, remaining = prepare(given, study=study, resume=resume, root=root,
                                                  console=console, stack=stack)
        config = search.config
        search.quota = Quota(config.trials, console)
        console.print(f"search {search.name}: space {search.space.name} ({search.space.file}), "
                      f"budget {search.budget}, objectives {', '.join(search.objectives)}; "
                      f"{config.data} at {search.resolution}×{search.resolution}, {config.epochs} epoch{'s' * (config.epochs != 1)} on "
                      f"{search.device.type}; {remaining} trial(s) to run, studies in {search.folder}",
                      markup=False, highlight=False)
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
                    _optimize(search, optuna_study)
                except _Terminated:
                    status = 128 + signal.SIGTERM
                except KeyboardInterrupt:
                    status = 128 + signal.SIGINT
                finally:
                    search.progress = None
        ran = len(optuna_study.trials) - before
        finish(search, optuna_study, console, bool(status), time.perf_counter() - started)
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


def _optimize(search: Search, study: optuna.Study) -> None:
    """Optuna's loop, until the quota says the study is complete. A trial that another worker
    failed while this one was paused (SIGSTOP, a frozen machine) cannot be told: it is let go,
    its retry runs elsewhere, and the loop goes on. Losing the storage ends the run with one
    line: what was finished is in the storage, and the same command rejoins."""
    import sqlalchemy.exc

    from nasblocks._storage import heartbeat, redact, scrub

    if not search.quota.work_left(study):
        return
    while True:
        search.abandoned = None
        try:
            study.optimize(search.objective, gc_after_trial=True, catch=(_TrialFailed,),
                           callbacks=[search.on_trial_end, search.quota])
            return
        except ValueError:  # Optuna's "Cannot tell a FAIL trial", after _Abandoned
            if search.abandoned is None:
                raise
        except sqlalchemy.exc.SQLAlchemyError as err:
            url = search.url
            raise StudyError(f"lost the study's storage {redact(url)}: {scrub(str(err).splitlines()[0], url)}; "
                             f"its finished trials are kept there: run the same command again to rejoin") from None
        search.console.print(f"trial {search.abandoned}: failed by another worker while this one was paused "
                             f"(no heartbeat for {heartbeat()[1]} s); it is retried there, and this worker goes on",
                             highlight=False)
        if not search.quota.work_left(study):
            return


def finish(search: Search, study: optuna.Study, console: Console, interrupted: bool, seconds: float) -> None:
    """The final table, best.yaml and the plots; after Ctrl-C too."""
    import shutil

    if interrupted:
        console.print(f"stopped: every finished trial is kept in {search.folder}; continue with "
                      f"{resume_command(search)}", markup=False, highlight=False, soft_wrap=True)
    front = pareto_front(study)
    if front:
        console.print(trials_table(front, f"{search.name}: Pareto front, accuracy against "
                                          f"{'MACs' if len(search.objectives) == 1 else ', '.join(search.objectives[1:])}"))
        best = best_trial(study)
        shutil.copyfile(trial_spec_file(study, best, search.folder), search.folder / "best.yaml")
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


def resume_command(search: Search) -> str:
    """The command that continues a stopped study, with the --dir and --storage it needs (a
    password shows as ***: the user types it, or keeps it in PGPASSWORD)."""
    from nasblocks._storage import redact

    words = ["nasblocks", "search", "--study", search.name, "--resume"]
    if search.folder.parent != Path("studies"):
        words += ["--dir", str(search.folder.parent)]
    if search.config.storage:
        words += ["--storage", redact(search.config.storage)]
    return shlex.join(words)
