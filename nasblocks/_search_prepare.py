"""Preparing a search run: the settings (given, or stored by the study that ``--resume``
continues, its data and weights file maybe elsewhere now), the study's name and folder, its
storage, sampler and pruner, and the checks that keep one study from writing over another or
mixing two spaces' or two datasets' trials."""

from __future__ import annotations

import hashlib
import math
import re
import shlex
import time
from contextlib import ExitStack, closing
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from nasblocks._search import Search
from nasblocks._search_config import SearchConfig
from nasblocks._space import Space, load_space, spaces_dir
from nasblocks._study import (CONFIG_ATTR, DIRECTIONS, StudyError, check_name, quiet_metric_names, storage_url,
                              study_dir)
from nasblocks._weights_spec import network_digest

if TYPE_CHECKING:
    import optuna

    from nasblocks._data import Dataset


# Optuna's GridSampler holds every point of the grid in a list and scans it for each trial
GRID_POINTS_MAX = 100_000
# how long a worker waits for the one creating a study to store its settings (milliseconds after
# it created the study, unless it died in between)
SETTLING_S = 30.0


def _space_source(text: str) -> str:
    """A shipped space by name stays a name; a file becomes an absolute path (for --resume)."""
    path = Path(text)
    if path.suffix and path.exists():
        if path.resolve().parent == spaces_dir().resolve():
            return path.stem
        return str(path.resolve())
    return text


def _file_source(text: str) -> str:
    """A file or folder by its absolute path (for --resume and ``study retrain``, which may run
    from another folder); one that does not exist as typed (its error names it)."""
    path = Path(text).expanduser()
    return str(path.resolve()) if path.exists() else text


def _data_source(text: str) -> str:
    """A dataset on disk by its absolute path (``cifar10:PATH``, ``folder:PATH``); ``digits`` as
    typed."""
    kind, _, path = text.partition(":")
    return f"{kind}:{_file_source(path)}" if path else text


def data_now(recorded: str, given: str | None, what: str) -> str:
    """The data ``what`` (a study, a trial) trained on: as recorded, or where ``given`` says it
    is now (another machine, a moved folder), which must be the same kind of data."""
    kind, _, path = recorded.partition(":")
    if given is None:
        if path and not Path(path).exists():
            raise StudyError(f"{what} trained on {recorded}, which is not there: give where it is now "
                             f"with --data {kind}:PATH")
        return recorded
    if given.partition(":")[0] != kind:
        where = f"give where that data is now, {kind}:PATH" if path else f"drop --data or give {kind}"
        raise StudyError(f"--data {given}: {what} trained on {recorded}; {where}")
    return given


def _data_signature(data: Dataset) -> dict[str, Any]:
    """What a study knows its data by, where it may move: its classes and how many examples it
    holds (up to --limit); a digest of every image would read them all again."""
    return {"classes": list(data.classes), "examples": len(data.train_y) + len(data.val_y)}


def _check_same_data(recorded: dict[str, Any] | None, data: Dataset, was: str, study: str) -> None:
    """Refuse data whose classes or number of examples are not those the study's trials trained
    on (``recorded``; a study from an older nasblocks, None, is not held to it)."""
    now = _data_signature(data)
    if recorded is None or recorded == now:
        return
    how = f"changed since study {study!r} trained on it" if data.name == was else \
        f"is not the data study {study!r} trained on, {was}"
    differs = "classes" if recorded["classes"] != now["classes"] else "examples"
    raise StudyError(f"--data {data.name}: {how} ({_described(recorded, differs)} then, "
                     f"{_described(now, differs)} now); a resumed study keeps its data")


def _described(signature: dict[str, Any], key: str) -> str:
    """``3 classes (cat, dog, fox)`` or ``240 examples``."""
    if key == "examples":
        return f"{signature['examples']} examples"
    classes = signature["classes"]
    return f"{len(classes)} classes ({', '.join(classes[:5])}{', …' if len(classes) > 5 else ''})"


def _budget_label(texts: list[str]) -> str:
    return "-".join(re.sub(r"[^A-Za-z0-9.]", "", t) for t in texts)


def _sampler(config: SearchConfig, search: Search, objectives: int, number: int,
             shared: bool) -> optuna.samplers.BaseSampler:
    """The sampler that draws trial ``number``. One process searching a study makes one before
    each trial (``Search.reseed``), seeded ``seed + number``: what trial n draws depends on the
    seed, n and the trials before it, so a study stopped between trials and resumed draws what
    one uninterrupted run draws. The grid sampler's seed orders the grid, whose points the trials
    name by index: it stays ``seed`` for the study's life. Workers sharing a study each draw their
    own (one seed would have them all propose the same candidates), and TPE treats the trials
    running elsewhere as bad (its constant liar), so that workers spread out instead of piling
    onto one region."""
    import optuna

    seed = None if shared else config.seed + number
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
    return optuna.samplers.GridSampler(grid, seed=None if shared else config.seed)


def _grid(search: Search) -> dict[str, list[Any]]:
    return {d.name: d.grid() for d in search.space.domains}


def _grid_left(search: Search, study: optuna.Study, remaining: int, console: Console, python: bool) -> int:
    """The trials a grid search still runs: Optuna's GridSampler runs each point once (a point
    whose trial failed counts as run) and, asked for more, runs a point again and stops. So the
    search stops when every point has run, saying so when --trials asks for more (in the
    caller's words: ``python``, a call of ``nasblocks.search``)."""
    points = math.prod(len(values) for values in _grid(search).values())
    run = {t.system_attrs["grid_id"] for t in study.get_trials(deepcopy=False)
           if t.state.is_finished() and "grid_id" in t.system_attrs}
    left = points - len(run)
    grid = "search(sampler='grid')" if python else "--sampler grid"
    if left == 0 < remaining:
        console.print(f"{grid}: every point of space {search.space.name!r} has run ({points:,})", highlight=False)
    elif left < remaining:
        console.print(f"{grid}: space {search.space.name!r} has {points:,} points, {left:,} of them not "
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
WEIGHTS_ATTR = "nasblocks_weights"  # and the weights file they started from (its path and digest, and its spec's)
DATA_ATTR = "nasblocks_data"  # and what the data they trained on holds, wherever it is (_data_signature)


def _space_signature(space: Space) -> dict[str, Any]:
    """Each parameter's domain, a digest of the rest of the space (its fixed values, the fit var,
    the recipe, the base spec's name) and one of the base network as written (its spec file, the
    blocks it uses, the space's proxy_vars): what a study's trials were drawn from."""
    rest = repr((space.templates, space.overrides, space.fit, space.recipe, space.proxy_resolution, space.base.name))
    return {"domains": {d.name: d.describe() for d in space.domains},
            "digest": hashlib.sha256(rest.encode()).hexdigest()[:16],
            "network": network_digest(space.base, space.proxy_vars)}


def _check_space_unchanged(stored: dict[str, Any] | None, space: Space, study: str) -> None:
    """Refuse to add trials from a space edited since the study began: Optuna would fail on a
    parameter whose domain changed, and the study would mix networks of two spaces. (What a study
    from an older nasblocks did not record, it is not held to: None, or no ``network``.)"""
    now = _space_signature(space)
    if stored is None or stored == {key: now[key] for key in stored if key in now}:
        return
    was, new = stored["domains"], now["domains"]
    changed = [f"{k}: {was.get(k, 'absent')} → {new.get(k, 'absent')}" for k in dict.fromkeys([*was, *new])
               if was.get(k) != new.get(k)]
    if changed:
        what = "; ".join(changed[:3]) + (f"; … {len(changed) - 3} more" if len(changed) > 3 else "")
    elif stored["digest"] != now["digest"]:
        what = "its fixed values, fit var, recipe or base spec"
    else:
        what = f"its base network: {space.base.file}, the blocks it uses, or proxy_vars"
    raise StudyError(f"space {space.name!r} ({space.file}) has changed since study {study!r} began ({what}); "
                     f"a study keeps its space: restore the file, or start a new study")


def _settings(study: optuna.Study, name: str, shared: bool) -> dict[str, Any]:
    """The settings the study was created with. A worker started beside the one creating the
    study in a ``shared`` storage may find it there a moment before they are stored (they are
    stored last)."""
    deadline = time.monotonic() + (SETTLING_S if shared else 0)
    while (stored := study.user_attrs.get(CONFIG_ATTR)) is None:  # read from the storage each time
        if time.monotonic() > deadline:
            raise StudyError(f"study {name!r} holds no nasblocks settings: nasblocks search did not create "
                             "it, or the worker creating it stopped; choose another --study name")
        time.sleep(0.1)
    return dict(stored)


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


def resume_command(name: str, root: Path, storage: str | None, python: bool = False) -> str:
    """The command that continues study ``name`` in ``root``, with the --dir and --storage it
    needs (a password shows as ***: the user types it, or keeps it in PGPASSWORD); with
    ``python``, the call of ``nasblocks.search`` that does."""
    from nasblocks._storage import redact

    folder = str(root) if root != Path("studies") else None
    storage = redact(storage) if storage else None
    if python:
        call = [repr(name), "resume=True"]
        if folder:
            call.append(f"root={folder!r}")
        if storage:
            call.append(f"storage={storage!r}")
        return f"nasblocks.search({', '.join(call)})"
    words = ["nasblocks", "search", "--study", name, "--resume"]
    if folder:
        words += ["--dir", folder]
    if storage:
        words += ["--storage", storage]
    return shlex.join(words)


def prepare(given: dict[str, Any], *, study: str | None, resume: bool, root: Path, console: Console,
            stack: ExitStack, python: bool = False) -> tuple[Search, optuna.Study, int]:
    """The Search and the Optuna study it feeds (created, or loaded with --resume), and how many
    trials are left to run. A SQLite study stays locked to this process until ``stack`` closes.
    ``python``: called from ``nasblocks.search``, whose caller is told what to call, not type."""
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
    if storage_given is not None and not storage_given.strip():  # an unset $STORAGE; "" would mean SQLite here
        raise StudyError(f"--storage {storage_given!r}: expected a database URL (postgresql://user@host/db, "
                         "sqlite:///path) or journal:PATH")
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
        again = f"{resume_command(study, root, None, python)}, or choose another name" if python else \
            "--resume, or choose another --study name"
        raise StudyError(f"study {study!r} already exists in {study_dir(root, study)}; continue it with {again}")
    elif study is not None and (held := _held(study_dir(root, study))):
        raise StudyError(f"study folder {study_dir(root, study)} already holds {held}: join or resume that study "
                         f"with its --storage, or choose another --study name or --dir")
    if existing is not None:
        stored = _settings(existing, str(study), shared=storage_given is not None)
        for key, value in given.items():
            if key == "space" and value is not None:
                value = _space_source(value)
            if key == "data":  # the same data, maybe elsewhere: data_now
                continue
            if key in ("weights", "weights_spec") and value is not None:  # known by digests: they may move
                if stored.get(key) is None:
                    raise StudyError(f"--{key.replace('_', '-')}: study {study!r} was created without "
                                     f"{'weights' if key == 'weights' else 'a --weights-spec'}; a resumed study "
                                     "keeps its settings")
                continue
            if value is not None and key not in SearchConfig.RESUMABLE and stored.get(key) != value:
                raise StudyError(f"--{key.replace('_', '-')}: study {study!r} was created with "
                                 f"{stored.get(key)!r}; a resumed study keeps its settings (only --trials, "
                                 f"--device and where the --data, the --weights file and its --weights-spec "
                                 f"are may change)")
        config = SearchConfig.from_dict({**stored, **{k: v for k, v in given.items() if v is not None}})
        config.data = _data_source(data_now(stored["data"], given.get("data"), f"study {study!r}"))
        name = str(study)
    else:
        config = SearchConfig.from_dict({k: v for k, v in given.items() if v is not None})
        if given.get("space") is not None:
            config.space = _space_source(given["space"])
        config.data = _data_source(config.data)
        name = study or _fresh_name(root, f"{load_space(config.space).name}-{_budget_label(config.budget)}")
    config.weights = config.weights and _file_source(config.weights)
    config.weights_spec = config.weights_spec and _file_source(config.weights_spec)  # or a zoo name
    search = Search(config, name, root, console)
    if existing is not None:
        _check_space_unchanged(existing.user_attrs.get(SPACE_ATTR), search.space, name)
    data = search.load_data()  # a missing dataset is refused before the budget check times latency units
    if existing is not None:
        _check_same_data(existing.user_attrs.get(DATA_ATTR), data, stored["data"], name)
    search.check_budget()
    search.check_proxy()
    if config.weights is not None:
        search.check_weights(existing.user_attrs.get(WEIGHTS_ATTR) if existing is not None else None)
    url = search.url = storage_url(root, name, config.storage)
    directions = [DIRECTIONS[o] for o in search.objectives]
    number = 0 if existing is None else len(existing.trials)  # the next trial's
    sampler = _sampler(config, search, len(directions), number, is_shared(url))  # before anything is written
    if not is_shared(url):
        search.sampler_for = partial(_sampler, config, search, len(directions), shared=False)
    # the default SQLite file lives in the study's folder; a --storage elsewhere opens first, so
    # that a bad one leaves no empty folder behind
    inside = config.storage is None
    if inside:
        _make_folder(search.folder, root)
    if is_sqlite(url):
        stack.enter_context(closing(lock_sqlite(url, name)))
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
    optuna_study.set_user_attr(SPACE_ATTR, _space_signature(search.space))
    optuna_study.set_user_attr(DATA_ATTR, _data_signature(data))
    if search.pretrained is not None:
        optuna_study.set_user_attr(WEIGHTS_ATTR, search.weights_record())
    # the settings --resume reads, stored last: a worker joining waits for them (_settings); the
    # storage URL (and any password in it) is not one of them
    optuna_study.set_user_attr(CONFIG_ATTR, {**config.to_dict(), "storage": None})
    search.study = optuna_study
    done = len(optuna_study.get_trials(deepcopy=False, states=COUNTED))
    remaining = max(0, config.trials - done)
    if isinstance(sampler, optuna.samplers.GridSampler):
        remaining = _grid_left(search, optuna_study, remaining, console, python)
    return search, optuna_study, remaining


