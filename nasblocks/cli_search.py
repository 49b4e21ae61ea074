"""``nasblocks search``, ``nasblocks study`` and ``nasblocks space``.

    nasblocks search --budget 300MFLOPs                      # default space and data
    nasblocks search --space search_spaces/mobilenet_v3.yaml --budget 60MFLOPs --latency 8ms \\
        --objectives accuracy,latency --trials 200 --study mbv3-small --data cifar10:/data/cifar
    nasblocks search --study mbv3-small --resume
    nasblocks study show mbv3-small                          # the Pareto front
    nasblocks study export mbv3-small --best -o best.yaml    # a standalone spec
    nasblocks space check search_spaces/mobilenet_v2.yaml specs/mobilenet_v2.yaml

Options left out of ``search`` take the defaults below (or, with ``--resume``, the values the
study was created with).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Optional

import typer
from rich.table import Table

from nasblocks._console import make_console
from nasblocks._search_config import DEFAULT_RESOLUTION, PRUNERS, SAMPLERS, SearchConfig

if TYPE_CHECKING:
    import optuna

console = make_console()
_D = SearchConfig()
DirOpt = Annotated[Path, typer.Option("--dir", help="Folder holding the studies.")]
_PANEL_DATA = "Proxy training"
_PANEL_STUDY = "Study"


def _opt(*names: str, help: str, panel: str | None = None, metavar: str | None = None) -> Any:
    # rich reads [..] as markup in help texts: escape the "[default: ...]" notes
    return typer.Option(*names, help=help.replace("[", "\\["), rich_help_panel=panel, show_default=False,
                        metavar=metavar)


def search(
    space: Annotated[Optional[str], _opt("--space", help=f"Search space: a YAML file or a shipped space's name [default: {_D.space}].")] = None,
    budget: Annotated[Optional[list[str]], _opt("--budget", "-b", help="Hard budget, repeatable: 300MFLOPs (= multiply-adds), 0.3GMACs, 3.5M params, 8ms [default: 300MFLOPs unless --latency is given].")] = None,
    latency: Annotated[Optional[str], _opt("--latency", help="Latency budget, e.g. 8ms, predicted from the device's latency table before anything is built.")] = None,
    objectives: Annotated[Optional[str], _opt("--objectives", help="Comma-separated: accuracy plus any of macs, params, latency [default: accuracy]. Several objectives make a Pareto front (NSGA-II).")] = None,
    trials: Annotated[Optional[int], _opt("--trials", "-n", help=f"Trials the study should hold when done; a resumed study runs the missing ones [default: {_D.trials}].")] = None,
    study: Annotated[Optional[str], _opt("--study", help="Study name, its folder under --dir [default: <space>-<budget>, made unique].", panel=_PANEL_STUDY)] = None,
    resume: Annotated[bool, typer.Option("--resume", help="Continue the stopped study named by --study with its stored settings.", rich_help_panel=_PANEL_STUDY)] = False,
    storage: Annotated[Optional[str], _opt("--storage", help="Where the study lives: postgresql://user@host/db shared by workers on any machines, journal:PATH shared by processes on one machine [default: sqlite under --dir/<study>/study.db, one process at a time].", panel=_PANEL_STUDY)] = None,
    sampler: Annotated[Optional[str], _opt("--sampler", help=f"One of {', '.join(SAMPLERS)} [default: tpe for one objective, nsga2 for several].", panel=_PANEL_STUDY)] = None,
    pruner: Annotated[Optional[str], _opt("--pruner", help=f"One of {', '.join(PRUNERS)}, over each epoch's accuracy (one-objective studies) [default: {_D.pruner}].", panel=_PANEL_STUDY)] = None,
    fit: Annotated[Optional[bool], typer.Option("--fit/--no-fit", help="Narrow an over-budget structure to the widest width that fits, instead of rejecting it \\[default: fit].", show_default=False, rich_help_panel=_PANEL_STUDY)] = None,
    seed: Annotated[Optional[int], _opt("--seed", help=f"Seed of the train/validation split; trial n draws and trains with seed + n [default: {_D.seed}].", panel=_PANEL_STUDY)] = None,
    data: Annotated[Optional[str], _opt("--data", help=f"digits (scikit-learn's, no download), cifar10:<path> or folder:<path>; with --resume, where the study's data is now, if it moved [default: {_D.data}].", panel=_PANEL_DATA)] = None,
    resolution: Annotated[Optional[int], _opt("--resolution", "-r", help=f"Proxy training resolution; costs stay at the spec's input size [default: the space's proxy_resolution, else {DEFAULT_RESOLUTION}].", panel=_PANEL_DATA)] = None,
    epochs: Annotated[Optional[int], _opt("--epochs", "-e", help=f"Proxy training epochs per trial [default: {_D.epochs}].", panel=_PANEL_DATA)] = None,
    limit: Annotated[Optional[int], _opt("--limit", help="Use at most this many examples (train and validation) [default: all].", panel=_PANEL_DATA)] = None,
    weights: Annotated[Optional[str], _opt("--weights", "-w", help="A checkpoint of the space's base network (torchvision's, say), or of the network --weights-spec names, that each trial starts from as far as it fits: modules matched by their place in the spec, tensors whole or their overlap (leading channels, kernel centre), the classifier only whole.", panel=_PANEL_DATA, metavar="FILE")] = None,
    weights_spec: Annotated[Optional[str], _opt("--weights-spec", help="The network the --weights file holds, when it is another of the space's networks than its base: a spec file (best.yaml of study retrain -o, a trial's spec) or a zoo name (resnet18 for the resnet space); trials are matched to its places in the spec [default: the space's base network].", panel=_PANEL_DATA, metavar="SPEC")] = None,
    device: Annotated[Optional[str], _opt("--device", help="auto, cpu, cuda or cuda:N: data, training (mixed precision on GPU) and latency [default: auto].", panel=_PANEL_DATA)] = None,
    recipe: Annotated[Optional[str], _opt("--recipe", help=f"proxy (SGD lr 0.05, momentum 0.9, batch 64, cosine: for a few epochs) or seed (the space's seed network's optimiser settings) [default: {_D.recipe}].", panel=_PANEL_DATA)] = None,
    optimizer: Annotated[Optional[str], _opt("--optimizer", help="sgd or adamw (overrides the recipe).", panel=_PANEL_DATA)] = None,
    lr: Annotated[Optional[float], _opt("--lr", help="Learning rate (overrides the recipe).", panel=_PANEL_DATA)] = None,
    momentum: Annotated[Optional[float], _opt("--momentum", help="SGD momentum (overrides the recipe).", panel=_PANEL_DATA)] = None,
    weight_decay: Annotated[Optional[float], _opt("--weight-decay", help="Weight decay (overrides the recipe).", panel=_PANEL_DATA)] = None,
    label_smoothing: Annotated[Optional[float], _opt("--label-smoothing", help="Label smoothing (overrides the recipe).", panel=_PANEL_DATA)] = None,
    batch_size: Annotated[Optional[int], _opt("--batch-size", help="Batch size (overrides the recipe).", panel=_PANEL_DATA)] = None,
    root: DirOpt = Path("studies"),
) -> None:
    """Search a space under hard budgets with Optuna, proxy-training each candidate that fits.

    With no option: MobileNetV2-like space, 300 MFLOPs (multiply-adds) budget, 12 TPE trials of
    3 epochs on scikit-learn's digits at 32×32 with median pruning — a few minutes on two CPU
    cores. Each trial's network is written to <dir>/<study>/trials/<n>.yaml; the study, plots
    and best.yaml sit beside it. Ctrl-C or SIGTERM stops cleanly: finished trials are kept;
    --resume goes on. The same command with --study and --storage on several machines runs one
    study: together the workers stop at --trials.
    """
    from nasblocks._budget import parse_budget
    from nasblocks._search_run import run_search
    from nasblocks.errors import BudgetError

    if latency is not None and parse_budget(latency).latency_ms is None:
        raise BudgetError(f"--latency {latency}: expected a time, such as 8ms or 0.008s; a count of "
                          "multiply-adds or parameters is a --budget")
    budgets = [*(budget or []), *([latency] if latency else [])] or None
    given = {"space": space, "budget": budgets,
             "objectives": objectives.split(",") if objectives else None, "trials": trials,
             "data": data, "resolution": resolution, "epochs": epochs, "seed": seed, "sampler": sampler,
             "pruner": pruner, "fit": fit, "device": device, "recipe": recipe, "optimizer": optimizer,
             "lr": lr, "momentum": momentum, "weight_decay": weight_decay,
             "label_smoothing": label_smoothing, "batch_size": batch_size, "limit": limit,
             "weights": weights, "weights_spec": weights_spec, "storage": storage}
    outcome = run_search(given, study=study, resume=resume, root=root, console=console)
    if outcome.interrupted:
        sys.exit(outcome.status)


# --- nasblocks study ------------------------------------------------------------------------------

study_app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                        help="Look into finished or running studies and export their networks.")
StudyArg = Annotated[str, typer.Argument(help="The study's name (its folder under --dir).")]
# a study that nasblocks search did not make (another tool's, in a shared database), or whose
# search was stopped while it created it
NO_SETTINGS = "no nasblocks settings"
StorageOpt = Annotated[Optional[str], typer.Option("--storage", help="RDB storage URL, when not the study's SQLite file.")]


@study_app.command("show")
def study_show(name: StudyArg, root: DirOpt = Path("studies"), storage: StorageOpt = None,
               all_trials: Annotated[bool, typer.Option("--all", help="Every trial, not only the Pareto front, with how it ended and why.")] = False) -> None:
    """A table of the study's Pareto front (accuracy against its cost objectives, or against
    MACs for a one-objective study), best accuracy first; with --all, every trial in order, its
    state (finished, pruned, rejected, failed, running) and the reason it recorded."""
    from nasblocks._study import count_states, load_study, pareto_front, trials_table

    study = load_study(root, name, storage)
    trials = study.trials if all_trials else pareto_front(study)
    config = study.user_attrs.get("nasblocks")
    settings = NO_SETTINGS if config is None else (f"space {config.get('space')}, budget "
                                                   f"{', '.join(config.get('budget') or [])}, objectives "
                                                   f"{', '.join(config.get('objectives') or [])}")
    console.print(f"study {name}: {settings}; {count_states(study.trials) or 'no trial'}", highlight=False)
    if not trials:  # not an empty table
        console.print("no trial yet" if all_trials else
                      "no finished trial yet; --all lists each trial and how it ended")
        return
    console.print(trials_table(trials, f"{name}: {'all trials' if all_trials else 'Pareto front'}",
                               states=all_trials))


@study_app.command("export")
def study_export(
    name: StudyArg,
    output: Annotated[Path, typer.Option("--output", "-o", help="Where to write the spec.")],
    best: Annotated[bool, typer.Option("--best", help="The most accurate finished trial (the default).")] = False,
    trial: Annotated[Optional[int], typer.Option("--trial", "-t", help="A chosen trial, e.g. a point of the Pareto front from `study show`.")] = None,
    root: DirOpt = Path("studies"),
    storage: StorageOpt = None,
) -> None:
    """Write a trial's network as a standalone spec that `nasblocks build` compiles."""
    from nasblocks._output import check_writable, write_bytes
    from nasblocks._study import StudyError, load_study, study_dir, trial_reason, trial_spec_file, trial_state

    if best and trial is not None:
        raise StudyError("give --best or --trial N, not both")
    study = load_study(root, name, storage)
    chosen = _chosen(study, trial)
    source = trial_spec_file(study, chosen, study_dir(root, name))  # written again if it ran elsewhere
    spec = source.read_bytes()
    check_writable(output)
    write_bytes(output, spec)
    accuracy = chosen.user_attrs.get("accuracy")
    state = "" if chosen.state.name == "COMPLETE" else \
        f" ({trial_state(chosen)}: {trial_reason(chosen) or 'not finished'})"
    console.print(f"trial {chosen.number}{state}: accuracy "
                  f"{'—' if accuracy is None else f'{accuracy:.3f}'}, {chosen.user_attrs.get('macs', 0):,} MACs "
                  f"→ {output}", highlight=False)


@study_app.command("retrain")
def study_retrain(
    name: StudyArg,
    trial: Annotated[Optional[int], _opt("--trial", "-t", help="A finished trial [default: the most accurate].")] = None,
    device: Annotated[Optional[str], _opt("--device", help="cpu, cuda or cuda:N [default: the device the trial trained on].")] = None,
    weights: Annotated[Optional[Path], _opt("--weights", "-w", help="Where the weights file the trial started from is now, if it moved; known by its SHA-256 [default: the path the study recorded].", metavar="FILE")] = None,
    data: Annotated[Optional[str], _opt("--data", help="Where the trial's data is now, if it moved: cifar10:PATH or folder:PATH, the kind it trained on [default: the path the study recorded].")] = None,
    output: Annotated[Optional[Path], _opt("--output", "-o", help="Save the trained weights here (a state_dict, e.g. best.pt, or best.safetensors) and the spec of the network as trained (the proxy: the data's classes, the proxy input) beside them (best.pt → best.yaml), for `nasblocks build best.yaml --weights best.pt`.", metavar="FILE")] = None,
    root: DirOpt = Path("studies"),
    storage: StorageOpt = None,
) -> None:
    """Train a finished trial's network again from its spec, its seed and the training settings it
    recorded, at the thread count it trained with, and compare the accuracy with the recorded one;
    exit status 1 when they differ (the versions or device that differ from the trial's are named).
    On a terminal, a bar follows the epochs beside the accuracies the trial recorded. With -o, the
    trained network is kept, whether or not the accuracy is the same."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from nasblocks._search_retrain import check_output, retrain
    from nasblocks._study import load_study, study_dir

    study = load_study(root, name, storage)
    chosen = _chosen(study, trial)
    if output is not None:
        check_output(output)
    epochs, recorded = chosen.user_attrs.get("training", {}).get("epochs"), chosen.intermediate_values
    with Progress(TextColumn("{task.description}"), BarColumn(bar_width=16), MofNCompleteColumn(),
                  TextColumn("{task.fields[status]}"), TimeElapsedColumn(), console=console, transient=True,
                  disable=not console.is_terminal) as progress:
        task = progress.add_task(f"trial {chosen.number}, epoch", total=epochs, status="")

        def report(epoch: int, accuracy: float) -> None:
            then = f" (recorded {recorded[epoch]:.4f})" if epoch in recorded else ""
            progress.update(task, completed=epoch, status=f"accuracy {accuracy:.4f}{then}")

        again = retrain(study, chosen, study_dir(root, name), device, weights, data, report)
    same = again.accuracy == again.recorded
    console.print(f"trial {chosen.number}: accuracy {again.accuracy:.4f}, recorded {again.recorded:.4f}"
                  f"{' (the same)' if same else ''}" + (f"; this setup differs: {', '.join(again.differences)}"
                                                        if again.differences else ""), highlight=False)
    if output is not None:
        spec = again.save(output)
        console.print(f"saved the network as trained: weights {output}, spec {spec}\n"
                      f"build it: nasblocks build {spec} --weights {output}", highlight=False, soft_wrap=True)
    if not same:
        raise typer.Exit(1)


def _chosen(study: optuna.Study, number: int | None) -> optuna.trial.FrozenTrial:
    """Trial ``number`` of the study, or its most accurate finished trial."""
    from nasblocks._study import StudyError, best_trial

    if number is None:
        return best_trial(study)
    found = [t for t in study.trials if t.number == number]
    if not found:
        raise StudyError(f"study {study.study_name!r} has no trial {number}; it has trials 0 to {len(study.trials) - 1}")
    return found[0]


@study_app.command("list")
def study_list(root: DirOpt = Path("studies"), storage: StorageOpt = None) -> None:
    """The studies under --dir (or in the --storage database), with their trial counts and best accuracy."""
    import optuna

    from nasblocks._storage import open_storage, redact
    from nasblocks._study import StudyError, best_trial, load_study

    # opened once, not per study: each opening replays a journal or connects to a database
    opened = None if storage is None else open_storage(storage, create=False)
    if opened is None:
        names = [db.parent.name for db in sorted(root.glob("*/study.db"))] if root.is_dir() else []
    else:
        names = sorted(optuna.get_all_study_names(opened))
    where = root if storage is None else redact(storage)
    if not names:  # not an empty table: a --dir typo says so
        missing = storage is None and not root.is_dir()
        console.print(f"no studies in {where}{': no such folder' if missing else ''}")
        return
    table = Table(title=f"studies in {where}")
    for column in ("study", "trials", "best accuracy", "space", "budget"):
        table.add_column(column)
    for name in names:
        try:
            study = load_study(root, name) if opened is None else optuna.load_study(study_name=name, storage=opened)
        except StudyError as err:  # one unreadable folder does not hide the others
            table.add_row(name, "—", "—", f"unreadable: {err}", "")
            continue
        try:
            best = f"{best_trial(study).user_attrs['accuracy']:.3f}"
        except StudyError:
            best = "—"
        config = study.user_attrs.get("nasblocks")
        table.add_row(name, str(len(study.trials)), best, NO_SETTINGS if config is None else str(config.get("space")),
                      "" if config is None else ", ".join(config.get("budget") or []))
    console.print(table)


# --- nasblocks space ------------------------------------------------------------------------------

space_app = typer.Typer(no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                        help="Search spaces: list them, show their parameters, check which networks they hold.")
SpaceArg = Annotated[str, typer.Argument(help="A search space file or a shipped space's name.")]


@space_app.command("check")
def space_check(space: SpaceArg,
                specs: Annotated[list[str] | None, typer.Argument(
                    help="Spec files or zoo names to look for in the space; none: the space's base network.",
                    show_default=False)] = None) -> None:
    """Prove that networks are points of a space: find the assignment from their vars, expand
    both graphs and compare them node by node. Exit status 1 when one is not in the space."""
    from nasblocks._membership import check
    from nasblocks._space import load_space
    from nasblocks._spec import load

    loaded = load_space(space)
    missing = 0
    for source in specs or [None]:  # a space of your own: do its domains hold the network it varies?
        result = check(loaded, load(source) if source else loaded.base)
        console.print(("✓ " if result.ok else "✗ ") + result.message, markup=False, highlight=False,
                      soft_wrap=True)
        missing += not result.ok
    if missing:
        raise typer.Exit(1)


@space_app.command("show")
def space_show(space: SpaceArg) -> None:
    """The space's base spec, its parameters with their domains, and its smallest network."""
    from nasblocks import cost
    from nasblocks._space import load_space

    loaded = load_space(space)
    _, smallest = loaded.smallest(cost)  # first: a space that builds nothing prints only its error
    console.print(f"space {loaded.name} ({loaded.file}): base {loaded.base.name} ({loaded.base.file})"
                  + (f", fitted by {loaded.fit}" if loaded.fit else ""), highlight=False)
    table = Table()
    table.add_column("parameter")
    table.add_column("domain")
    for domain in loaded.domains:
        table.add_row(domain.name, domain.describe())
    console.print(table)
    console.print(f"smallest network: {smallest.macs:,} MACs (multiply-adds), {smallest.params:,} params",
                  highlight=False)


@space_app.command("list")
def space_list() -> None:
    """The shipped search spaces and their base specs."""
    from nasblocks._space import load_space, spaces_dir

    table = Table(title="search spaces")
    for column in ("space", "base", "parameters", "description"):
        table.add_column(column)
    for path in sorted(spaces_dir().glob("*.yaml")):
        loaded = load_space(path)
        table.add_row(loaded.name, loaded.base.name, str(len(loaded.domains)),
                      loaded.description.split(":")[0])
    console.print(table)
