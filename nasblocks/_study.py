"""A study on disk: where it lives, its trials as standalone specs, its Pareto front, its plots.

    studies/<name>/
        study.db             Optuna's SQLite storage (or a --storage URL elsewhere: _storage)
        trials/<n>.yaml      every trial's network, a spec that `nasblocks build` compiles (a
                             trial that a worker ran under another --dir is written on demand)
        best.yaml            the best trial's spec, rewritten at the end of each run
        history.html         optuna.visualization.plot_optimization_history
        pareto_front.html    optuna.visualization.plot_pareto_front (accuracy against cost)

What a trial recorded is in its user attributes (``accuracy``, ``macs``, ``params``,
``latency_ms`` with ``latency_source`` "measured" or "predicted", ``seed``, ``width`` and
``width_sampled``, ``spec``, and what trains it again: ``training`` and ``versions``); the
search's settings are the study's ``nasblocks`` attribute.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from rich.table import Table
from rich.text import Text

from nasblocks._cost import Cost, graph_cost
from nasblocks._output import write_bytes, writing
from nasblocks._spec import SPEC_KEYS, Spec, specs_dir
from nasblocks.errors import NasblocksError, StudyError

if TYPE_CHECKING:
    import optuna

    from nasblocks._space import Space

CONFIG_ATTR = "nasblocks"
DIRECTIONS = {"accuracy": "maximize", "macs": "minimize", "params": "minimize", "latency": "minimize"}


def study_dir(root: Path, name: str) -> Path:
    return root / name


def storage_url(root: Path, name: str, storage: str | None) -> str:
    """``--storage`` as given, or SQLite at studies/<name>/study.db."""
    return storage or f"sqlite:///{(study_dir(root, name) / 'study.db').resolve()}"


def check_name(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.\-]*", name):
        raise StudyError(f"--study {name!r}: expected letters, digits, '_', '.' or '-' (it names a folder)")
    return name


def quiet_optuna() -> None:
    """nasblocks prints its own progress and errors; Optuna's log would repeat them (and print a
    traceback for the trial that Ctrl-C interrupts). Errors that are bugs still propagate."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)


def load_study(root: Path, name: str, storage: str | None = None) -> optuna.Study:
    """An existing study, or a StudyError naming where it looked."""
    import optuna

    quiet_optuna()

    check_name(name)
    url = storage_url(root, name, storage)
    if storage is None and not (study_dir(root, name) / "study.db").is_file():
        known = sorted(p.parent.name for p in root.glob("*/study.db")) if root.is_dir() else []
        hint = f"; studies in {root}: {', '.join(known)}" if known else ""
        if (study_dir(root, name) / "trials").is_dir():  # searched with a --storage, which nothing here names
            hint = f"; {study_dir(root, name)} holds the trials of a study in another storage: give its --storage"
        raise StudyError(f"no study {name!r}: {study_dir(root, name) / 'study.db'} does not exist{hint}")
    from nasblocks._storage import open_storage, redact

    opened = open_storage(url, create=False)
    try:
        return optuna.load_study(study_name=name, storage=opened)
    except KeyError:
        hint = _renamed(opened, study_dir(root, name)) if storage is None else ""
        raise StudyError(f"no study {name!r} in {redact(url)}{hint}") from None


def _renamed(storage: optuna.storages.BaseStorage, folder: Path) -> str:
    """Why a study's own SQLite file does not hold it: its folder was renamed (Optuna keeps a
    study's name inside its database)."""
    import optuna

    names = optuna.get_all_study_names(storage)
    if len(names) != 1:
        return ""
    return (f"; it holds study {names[0]!r}: a study keeps its name, and its folder must too "
            f"(rename {folder} back to {folder.with_name(names[0])})")


# --- trials as specs ------------------------------------------------------------------------------

def plain(value: Any) -> Any:
    """YMap/YList (and tuples) as plain dicts and lists, which yaml.safe_dump writes."""
    if isinstance(value, dict):
        return {plain(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value


def standalone(spec: Spec, name: str, vars_: dict[str, Any], origin: str) -> dict[str, Any]:
    """The spec's document with ``vars`` set, renamed, without aliases, and with imports that
    resolve from wherever the file is written: shipped libraries by name (the loader finds them
    in specs/), any other by absolute path. ``origin`` (where the network came from) opens its
    description, and the base's ``reference`` goes: it names another network's code and weights."""
    document = plain(spec.document)
    document["name"] = name
    base = " ".join(str(document.get("description", "")).split())
    document["description"] = f"{origin}. The base network: {base}" if base else f"{origin}."
    document.pop("aliases", None)
    document.pop("reference", None)
    document["vars"] = {**document.get("vars", {}), **plain(vars_)}
    here = Path(spec.file).parent
    imports = []
    for entry in document.get("imports", []):
        shipped = (specs_dir() / entry).is_file() and not (here / entry).is_file()
        imports.append(entry if shipped or (here / entry).resolve() == (specs_dir() / entry).resolve()
                       else str((here / entry).resolve()))
    if imports:
        document["imports"] = imports
    return {k: document[k] for k in SPEC_KEYS if k in document}  # init too: a retrain starts as the trial did


class _SpecDumper(yaml.SafeDumper):
    """Rows of scalars on one line (``[6, 24, 2, 2]``), so a table var still reads like the paper."""


def _list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.Node:
    flow = all(not isinstance(v, (dict, list)) for v in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_SpecDumper.add_representer(list, _list)


def write_spec(path: Path, document: dict[str, Any], header: list[str]) -> None:
    """Write ``document`` as a spec file under a comment ``header``, whole or not at all."""
    path.parent.mkdir(parents=True, exist_ok=True)
    text = "".join(f"# {line}\n" for line in header)
    text += yaml.dump(document, Dumper=_SpecDumper, sort_keys=False, allow_unicode=True, width=100)
    write_bytes(path, text.encode())


def export_trial(folder: Path, study: str, space: Space, budget: str, number: int, spec: Spec,
                 params: dict[str, Any], cost: Cost) -> Path:
    """Write trial ``number``'s network as a standalone spec, ``folder/trials/<number>.yaml``."""
    path = folder / "trials" / f"{number}.yaml"
    vars_ = {**space.overrides, **space.vars_for(params)}
    header = [f"trial {number} of study {study}: space {space.name} ({space.file}), "
              f"base spec {Path(space.base.file).name}",
              f"{cost.macs:,} MACs (multiply-adds), {cost.params:,} params at input "
              f"{'x'.join(map(str, spec.input))}; budget {budget}",
              f"build it: nasblocks build {path}"]
    origin = f"Trial {number} of study {study}, searched in space {space.name} from {space.base.name}"
    write_spec(path, standalone(spec, f"{study}_trial{number}", vars_, origin), header)
    return path


def trial_spec_file(study: optuna.Study, trial: optuna.trial.FrozenTrial, folder: Path) -> Path:
    """The trial's spec under ``folder``: the file it wrote there, or, when a worker on another
    machine (another --dir) ran it, the same spec written again from its parameters."""
    from nasblocks._expand import expand
    from nasblocks._search_config import parse_budgets
    from nasblocks._space import load_space

    path = folder / "trials" / f"{trial.number}.yaml"
    if path.is_file():
        return path
    if "macs" not in trial.user_attrs:
        why = trial.user_attrs.get("rejected") or trial.user_attrs.get("failed") or trial.state.name.lower()
        raise StudyError(f"trial {trial.number} of {study.study_name!r} has no network: it ended before it "
                         f"was priced ({why})")
    config = study.user_attrs.get(CONFIG_ATTR, {})
    try:
        space = load_space(config["space"])
    except NasblocksError as err:  # the space file moved, or was deleted
        raise StudyError(f"trial {trial.number} of {study.study_name!r}: its spec {path} is not there, and writing "
                         f"it again needs the study's space, which cannot be read: {err}") from None
    params = {**trial.params, **({space.fit: trial.user_attrs["width"]} if space.fit else {})}
    spec = space.spec(params)
    graph = expand(spec)
    return export_trial(folder, study.study_name, space, str(parse_budgets(config.get("budget", []))),
                        trial.number, spec, params, graph_cost(graph))


# --- reading results ------------------------------------------------------------------------------

def quiet_metric_names(study: optuna.Study, names: list[str]) -> None:
    """Name the objectives (shown by Optuna's plots) without its 'experimental' warning."""
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        study.set_metric_names(names)


def objectives(study: optuna.Study) -> list[str]:
    return list(study.user_attrs.get(CONFIG_ATTR, {}).get("objectives", ["accuracy"]))


def finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """Trials that trained to the end (the only ones with an accuracy to rank)."""
    from optuna.trial import TrialState

    return [t for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))]


def front_study(study: optuna.Study) -> optuna.Study:
    """The study itself when it has several objectives; else an in-memory copy of its finished
    trials with two, accuracy (max) against MACs (min), so a single-objective search still has
    a Pareto front to show and plot."""
    import optuna

    if len(study.directions) > 1:
        return study
    shadow = optuna.create_study(directions=["maximize", "minimize"], study_name=study.study_name)
    quiet_metric_names(shadow, ["accuracy", "macs"])
    shadow.add_trials([optuna.trial.create_trial(
        values=[t.user_attrs["accuracy"], t.user_attrs["macs"]], params=t.params,
        distributions=t.distributions, user_attrs={**t.user_attrs, "number": t.number})
        for t in finished(study)])
    return shadow


def pareto_front(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    """The non-dominated finished trials (by accuracy, then cost), best accuracy first."""
    numbers = {t.user_attrs.get("number", t.number) for t in front_study(study).best_trials}
    trials = [t for t in finished(study) if t.number in numbers]
    return sorted(trials, key=lambda t: (-t.user_attrs["accuracy"], t.user_attrs["macs"]))


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial:
    """The most accurate finished trial (ties: fewer MACs), among feasible ones."""
    trials = finished(study)
    if not trials:
        raise StudyError(f"study {study.study_name!r} has no finished trial yet")
    return min(trials, key=lambda t: (-t.user_attrs["accuracy"], t.user_attrs["macs"], t.number))


def _fmt_count(value: Any) -> str:
    if not isinstance(value, (int, float)):
        return "—"
    return f"{value / 1e6:,.1f}M" if value >= 1e6 else f"{value / 1e3:,.1f}K"


STATES = ("finished", "pruned", "rejected", "failed", "running", "waiting")


def trial_state(trial: optuna.trial.FrozenTrial) -> str:
    """How a trial ended, in the reports' words: a rejected trial (over budget, or a network that
    does not build) is one that Optuna counts as pruned, never trained."""
    if "rejected" in trial.user_attrs:
        return "rejected"
    return {"COMPLETE": "finished", "FAIL": "failed"}.get(trial.state.name, trial.state.name.lower())


def trial_reason(trial: optuna.trial.FrozenTrial) -> str:
    """Why a trial did not finish, as it recorded it ('' for a finished or running one)."""
    a = trial.user_attrs
    reason = a.get("rejected") or a.get("pruned") or a.get("failed")
    # a trial whose worker was killed records nothing: Optuna's heartbeat check, or --resume of a
    # SQLite study, fails it
    return reason or ("its worker stopped while it ran" if trial.state.name == "FAIL" else "")


def count_states(trials: list[optuna.trial.FrozenTrial]) -> str:
    """``3 finished, 1 rejected, 1 failed``."""
    counts = [(state, sum(trial_state(t) == state for t in trials)) for state in STATES]
    return ", ".join(f"{n} {state}" for state, n in counts if n)


def trial_row(trial: optuna.trial.FrozenTrial) -> list[str]:
    a = trial.user_attrs
    latency = a.get("latency_ms")
    shown_latency = f"{latency:.2f} ({a.get('latency_source', '?')[0]})" if latency is not None else "—"
    width = a.get("width")
    width_text = "" if width is None else f"{width:g}" + (
        f"←{a['width_sampled']:g}" if a.get("width_sampled") not in (None, width) else "")
    accuracy = a.get("accuracy")
    return [str(trial.number), f"{accuracy:.3f}" if accuracy is not None else "—", _fmt_count(a.get("macs")),
            _fmt_count(a.get("params")), shown_latency, width_text, "/".join(Path(a.get("spec", "")).parts[-2:])]


def trials_table(trials: list[optuna.trial.FrozenTrial], title: str, states: bool = False) -> Table:
    """One row per trial; with ``states`` (trials that did not all finish), how each ended and why."""
    table = Table(title=title)
    columns = [("trial", "right"), ("accuracy", "right"), ("MACs", "right"), ("params", "right"),
               ("latency ms", "right"), ("width", "right"), ("spec", "left")]
    if states:
        columns[1:1] = [("state", "left")]
        columns.append(("why", "left"))
    for column, justify in columns:
        table.add_column(column, justify=justify)  # type: ignore[arg-type]
    for trial in trials:
        row: list[str | Text] = [*trial_row(trial)]
        if states:
            row[1:1] = [trial_state(trial)]
            row.append(Text(trial_reason(trial)))  # not markup: a reason may quote [t, c, n, s]
        table.add_row(*row)
    table.caption = "MACs: multiply-adds; latency: (m)easured or (p)redicted; width: fitted←sampled"
    return table


def save_plots(study: optuna.Study, folder: Path) -> list[Path]:
    """Optuna's history and Pareto-front plots as HTML files (plotly; no browser needed), each
    written whole with the plotly.min.js it loads beside it."""
    from optuna.visualization import is_available, plot_optimization_history, plot_pareto_front

    if not is_available():
        raise StudyError("plots need plotly: pip install plotly")
    if not finished(study):
        return []
    names = objectives(study)
    plots = {"history.html": plot_optimization_history(
                 study, target=(lambda t: t.values[0]) if len(names) > 1 else None, target_name=names[0]),
             "pareto_front.html": plot_pareto_front(front_study(study))}
    for name, plot in plots.items():
        with writing(folder / name) as staged:
            plot.write_html(staged, include_plotlyjs="directory")
    return [folder / name for name in plots]
