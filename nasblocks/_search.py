"""A search's trials: Optuna samples a space, nasblocks prices, fits, trains and records each candidate.

A trial's life, in order:

1. **sample** — ``Space.sample`` suggests every parameter (TPE, NSGA-II, random or grid);
2. **price** — the bound spec is expanded to its graph and priced at the deployment input size
   (MACs and params exactly; latency predicted from the per-device table when a budget or an
   objective needs it before anything is built);
3. **fit or reject** — a structure over budget is narrowed to the widest width that fits
   (``fit_width``); if even the narrowest overshoots, the trial is pruned with its violations
   recorded for the sampler's ``constraints_func`` and is never built or trained;
4. **train** — the network is built with the data's classes at the proxy resolution (started from
   ``--weights`` as far as it fits them, ``inherited``: see ``_inherit``) and trained;
   each epoch's accuracy goes to the pruner (single-objective studies; Optuna cannot prune
   multi-objective ones);
5. **record** — accuracy, MACs, params, latency (and whether it was measured or predicted), the
   seed and what trains the network again (``training``: data, resolution, every optimiser
   setting, device, threads, precision; ``versions``) become user attributes, the objectives are
   returned, and the network is written to ``studies/<name>/trials/<n>.yaml``.

A trial's faults end that trial, never the study, and leave their reason as a user attribute:
a candidate that does not build is pruned (``rejected``), one whose loss turns nan or inf is
pruned (``pruned``: its weights are checked after each epoch), one that runs out of memory (CPU
or GPU; the memory is released before the next trial) or meets another nasblocks error fails
(``failed``).

The run around the trials is ``_search_prepare`` (the study, its sampler and pruner) and
``_search_run`` (signals, workers sharing a study, the final report).
"""

from __future__ import annotations

import shlex
import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from nasblocks import _train
from nasblocks._cost import Cost, graph_cost
from nasblocks._expand import expand
from nasblocks._search_config import DEFAULT_RESOLUTION, PROXY_RECIPE, SearchConfig, validate
from nasblocks._fit import fit_width
from nasblocks._space import load_space
from nasblocks._spec import Spec, fail
from nasblocks._yaml import read_yaml
from nasblocks._study import StudyError, best_trial, export_trial, study_dir
from nasblocks.errors import BudgetError, DeviceMemoryError, NasblocksError, SpecError

if TYPE_CHECKING:
    import optuna
    import torch
    from rich.console import Console
    from rich.progress import Progress
    from torch.fx import GraphModule

    from nasblocks._data import Dataset
    from nasblocks._graph import Graph
    from nasblocks._inherit import Inherited, Start
    from nasblocks._weights import Pretrained
    from nasblocks._workers import Quota


class _TrialFailed(Exception):
    """A trial that cannot finish on this worker (out of memory, surplus): Optuna marks it
    failed and the study goes on."""


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the search runs so that it stops as Ctrl-C stops it."""


class _Abandoned(Exception):
    """This worker's trial was failed by another one while this one was paused past the grace
    period; its retry runs elsewhere."""


def _device(config: SearchConfig) -> torch.device:
    import torch

    if config.device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(config.device)


def versions() -> dict[str, str]:
    """The versions a trial's numbers depend on: the code that priced, trained and sampled it."""
    import platform

    import numpy
    import optuna
    import sklearn
    import torch

    import nasblocks

    # torch's own version names its build (2.14.1+cu130): a CPU and a CUDA build compute differently
    return {"python": platform.python_version(), "nasblocks": nasblocks.__version__, "torch": torch.__version__,
            "optuna": optuna.__version__, "numpy": numpy.__version__, "scikit-learn": sklearn.__version__}


def build_proxy(graph: Graph, seed: int, start: Start | None = None) -> tuple[GraphModule, Inherited | None]:
    """The network a trial trains (``graph``, its proxy expanded), its weights drawn from ``seed``
    (set before it is built, as ``train`` expects), then taken from ``start`` as far as they fit
    it: ``study retrain`` builds it the same way, so the weights come back."""
    import torch

    from nasblocks._compile import compile_graph
    from nasblocks._inherit import inherit

    torch.manual_seed(seed)
    module = compile_graph(graph)
    return module, None if start is None else inherit(module, graph, start.pretrained.state, start.renamed)


class Search:
    """One search run: the space, the budget, the data and the Optuna study it feeds."""

    def __init__(self, config: SearchConfig, name: str, root: Path, console: Console) -> None:
        self.config = config
        self.name = name
        self.folder = study_dir(root, name)
        self.console = console
        self.budget, self.objectives = validate(config)
        self.space = load_space(config.space)
        self.device = _device(config)
        self.resolution = config.resolution or self.space.proxy_resolution or DEFAULT_RESOLUTION
        self.predict_latency = self.budget.latency_ms is not None or "latency" in self.objectives
        self.latency_device = "cuda" if self.device.type == "cuda" else "cpu"
        self.recipe = self._recipe()
        self.data: Dataset | None = None
        self.pretrained: Pretrained | None = None  # set by check_weights
        self.pretrained_graph: Graph | None = None  # the network the file is of: the space's base or --weights-spec
        self.pretrained_spec: dict[str, str] | None = None  # --weights-spec's path and digest
        self.smallest_takes: Inherited | None = None  # what the smallest network takes of it
        self.smallest: tuple[dict[str, Any], Cost] | None = None
        self.study: optuna.Study  # set by prepare() once the study exists
        self.progress: Progress | None = None  # the live display while trials run
        self.task: Any = None
        self.quota: Quota  # set by run_search
        self.abandoned: int | None = None  # the trial another worker took from this one
        self.url = ""  # the storage's URL, set by prepare()
        self.timed_units = 0  # latency-table units this run timed because the table lacked them
        self.timing_s = 0.0  # and the seconds that took
        self.versions = versions()
        # the sampler that draws trial n, made afresh before each trial (None: workers share the study)
        self.sampler_for: Callable[[int], optuna.samplers.BaseSampler] | None = None

    # --- pricing ----------------------------------------------------------------------------------

    def price(self, spec: Spec) -> Cost:
        """Cost of a spec at its deployment input, from its graph (latency predicted if needed)."""
        graph = expand(spec)
        latency = None
        if self.predict_latency:
            from nasblocks._latency_table import predict_detail

            start = time.perf_counter()
            prediction = predict_detail(graph, self.latency_device)
            if prediction.ran:  # the network was run to time units the table lacked (or had timed once)
                self.timed_units += prediction.measured_now
                self.timing_s += time.perf_counter() - start
            latency = prediction.latency_ms
        return graph_cost(graph, latency)

    @contextmanager
    def timing_latency(self, what: str) -> Iterator[None]:
        """Say what pricing is doing while it may time units the latency table lacks (seconds
        each, on the search's device), and then how many it timed and how long that took."""
        if not self.predict_latency:
            yield
            return
        units, seconds = self.timed_units, self.timing_s
        doing = f"{what}: timing on {self.latency_device} the units its latency table lacks"
        if self.progress is not None:
            self.progress.update(self.task, status=doing)
            yield
        else:
            with self.console.status(doing):
                yield
        if self.timed_units > units:
            from nasblocks._latency_table import table_path

            where = f" ({table_path(self.latency_device)})" if units == 0 else ""
            self.console.print(f"{what}: {self.timed_units - units} unit(s) new to the {self.latency_device} "
                               f"latency table{where} timed in {self.timing_s - seconds:.1f} s",
                               markup=False, highlight=False)

    def violations(self, cost: Cost) -> dict[str, float]:
        return self.budget.violations(**{k: getattr(cost, k) for k in ("macs", "params", "latency_ms")
                                         if getattr(self.budget, k) is not None})

    def feasible(self, cost: Cost) -> bool:
        return all(v <= 0 for v in self.violations(cost).values())

    def check_budget(self) -> None:
        """An impossible budget is an error now, naming the smallest cost the space reaches."""
        with self.timing_latency(f"space {self.space.name}"):
            params, cost = self.smallest = self.space.smallest(self.price)
        if self.feasible(cost):
            return
        reached = f"{cost.macs:,} MACs (multiply-adds, {cost.macs / 1e6:.1f}M), {cost.params:,} params"
        if cost.latency_ms is not None:
            reached += f", {cost.latency_ms:.2f} ms predicted on {self.latency_device}"
        shown = ", ".join(f"{k}={v}" for k, v in list(params.items())[:4])
        more = (f", … {len(params) - 4} more: nasblocks space show {shlex.quote(self.config.space)}"
                if len(params) > 4 else "")  # a space of the user's by its file: only shipped ones go by name
        raise BudgetError(f"budget {self.budget} is below the smallest network of space {self.space.name!r}: "
                          f"the smallest cost it can reach is {reached} ({shown}{more})")

    # --- data and training ------------------------------------------------------------------------

    def _recipe(self) -> dict[str, Any]:
        """Every training setting, as trained and recorded: the options over the recipe over
        ``train``'s defaults."""
        recipe = dict(self.space.recipe) if self.config.recipe == "seed" else dict(PROXY_RECIPE)
        if self.config.recipe == "seed" and not recipe:
            raise StudyError(f"--recipe seed: space {self.space.name!r} gives no recipe of its seed network")
        given = {key: getattr(self.config, key) for key in _train.RECIPE_DEFAULTS}
        return {**_train.RECIPE_DEFAULTS, **recipe, **{k: v for k, v in given.items() if v is not None}}

    def load_data(self) -> Dataset:
        from nasblocks._data import load_dataset

        self.data = load_dataset(self.config.data, resolution=self.resolution, device=self.device,
                                 seed=self.config.seed, limit=self.config.limit, console=self.console)
        return self.data

    def proxy(self, spec: Spec, space_vars: bool = True) -> Spec:
        """The network as trained: the data's classes, the space's proxy_vars (unless not
        ``space_vars``), the proxy resolution."""
        extra = self._proxy_vars(spec, space_vars)
        spec = spec.with_vars(**extra) if extra else spec
        return spec.with_input(self._proxy_input())

    def _proxy_vars(self, spec: Spec, space_vars: bool = True) -> dict[str, Any]:
        assert self.data is not None
        extra = dict(self.space.proxy_vars) if space_vars else {}
        if "num_classes" in spec.vars:
            extra["num_classes"] = self.data.num_classes
        return extra

    def _proxy_input(self) -> tuple[int, int, int]:
        assert self.data is not None
        return self.data.in_channels, self.resolution, self.resolution

    def check_proxy(self) -> None:
        """The space's networks run at the proxy resolution, with an output for each class of the data
        (a spec without a num_classes var keeps its own classifier)."""
        assert self.smallest is not None and self.data is not None
        spec = self.space.spec(self.smallest[0])
        try:
            graph = expand(self.proxy(spec))
        except SpecError as err:
            raise self._proxy_fault(spec, err) from None
        if graph.output_shape[0] < self.data.num_classes:
            raise StudyError(f"--data {self.config.data}: {self.data.num_classes} classes, but the networks of "
                             f"space {self.space.name!r} have {graph.output_shape[0]} outputs; give its base spec "
                             f"a num_classes var for its classifier's out, which a search sets to the data's classes")

    def _proxy_fault(self, spec: Spec, err: SpecError) -> NasblocksError:
        """Why ``spec``'s proxy does not build (``err``), blamed on what made it so: the space's
        proxy_vars where it builds without them, else the proxy resolution where it was set
        (--resolution, the space's proxy_resolution, or the default)."""
        cannot = f"space {self.space.name!r} cannot run at {self.resolution}×{self.resolution}"
        document = read_yaml(Path(self.space.file))
        if self.space.proxy_vars:
            try:
                expand(self.proxy(spec, space_vars=False))
            except SpecError:
                pass
            else:
                return fail(f"with these vars {cannot} ({err}); without them it can", document, "proxy_vars",
                            "proxy_vars")
        if self.config.resolution is not None:
            return StudyError(f"--resolution {self.resolution}: {cannot} ({err}); use a larger --resolution")
        if self.space.proxy_resolution is not None:
            return fail(f"{cannot} ({err}); set a larger proxy_resolution, or give a larger --resolution",
                        document, "proxy_resolution", "proxy_resolution")
        return StudyError(f"{cannot}, the default proxy resolution ({err}); give a larger --resolution, or the "
                          f"space a proxy_resolution")

    def check_weights(self, recorded: dict[str, Any] | None) -> None:
        """Read ``--weights`` (and ``--weights-spec``) once, for every trial; refuse a file or spec
        that is not the one the study's trials started from (``recorded``), a file that does not
        fit the spec's network, or one that none of the space's networks takes a tensor of."""
        from nasblocks._compile import compile_graph
        from nasblocks._search_retrain import spec_beside
        from nasblocks._weights import Pretrained, check_fits
        from nasblocks._weights_spec import read_weights_spec

        assert self.config.weights is not None and self.smallest is not None
        what = f"study {self.name!r}"
        self.pretrained = Pretrained.read(self.config.weights) if recorded is None else \
            Pretrained.reread(self.config.weights, recorded, what)
        if self.config.weights_spec is None:
            self.pretrained_graph = expand(self.space.base)
        else:
            spec, self.pretrained_spec = read_weights_spec(self.config.weights_spec, self.space.base, self.space.name,
                                                           None if recorded is None else recorded["spec"], what)
            self.pretrained_graph = expand(spec)
            saved = Path(self.pretrained.path)  # its tensors read once, here as for every trial
            check_fits(compile_graph(self.pretrained_graph), self.pretrained.state, str(saved),
                       f"the network of {spec.file}",
                       f"--weights-spec must give the network the file was saved from, vars included, set in "
                       f"the spec file: study retrain -o {saved.name} writes that spec as "
                       f"{spec_beside(saved).name}, with the data's classes")
        smallest = expand(self.proxy(self.space.spec(self.smallest[0])))
        _, takes = build_proxy(smallest, self.config.seed, self.start(smallest))
        assert takes is not None
        if not takes.whole + takes.part:
            theirs = ", ".join(list(self.pretrained.state)[:3])
            raise StudyError(f"--weights {self.config.weights}: none of its {len(self.pretrained.state)} tensors "
                             f"has a name the networks of space {self.space.name!r} have (it has {theirs}, …); "
                             f"give weights of the space's base network, {self.space.base.name}")
        self.smallest_takes = takes

    def weights_record(self) -> dict[str, Any]:
        """What the study keeps of the weights file its trials start from, and of its spec."""
        assert self.pretrained is not None
        return {**self.pretrained.record(), **({"spec": self.pretrained_spec} if self.pretrained_spec else {})}

    def start(self, graph: Graph) -> Start | None:
        """What the network of ``graph`` starts from: ``--weights``, matched to it, or nothing."""
        from nasblocks._inherit import Start, counterparts

        if self.pretrained is None:
            return None
        assert self.pretrained_graph is not None
        return Start(self.pretrained, counterparts(graph, self.pretrained_graph))

    # --- the objective ----------------------------------------------------------------------------

    def objective(self, trial: optuna.Trial) -> float | list[float]:
        """Optuna's objective: one trial's life (see the module's docstring)."""
        from optuna.exceptions import UpdateFinishedTrialError

        if self.quota.surplus(self.study, trial):
            trial.set_user_attr("surplus", True)
            self._fail(trial, "surplus: the study's other trials are finished or running on other "
                              "workers; not trained")
        try:
            return self._trial(trial)
        except UpdateFinishedTrialError:  # failed by another worker: no heartbeat for the grace period
            self.abandoned = trial.number
            raise _Abandoned(f"trial {trial.number} was failed by another worker") from None
        except KeyboardInterrupt as stop:  # Optuna fails the trial and stops: record why
            signal = "SIGTERM" if isinstance(stop, _Terminated) else "Ctrl-C (SIGINT)"
            trial.set_user_attr("failed", f"interrupted by {signal} while it ran")
            raise

    def _trial(self, trial: optuna.Trial) -> float | list[float]:
        import optuna

        from nasblocks._latency import out_of_memory

        seed = self.config.seed + trial.number
        trial.set_user_attr("seed", seed)
        sampled = self.space.sample(trial)
        fault = None
        with self.timing_latency(f"trial {trial.number}"):
            try:
                fitted = fit_width(self.space, sampled, self.price, self.feasible, fit=self.config.fit)
            except DeviceMemoryError as err:  # timing the latency units its table lacks
                fault = str(err)
        if fault is not None:  # outside the except clause, as below
            self._fail_freed(trial, fault)
        if fitted.cost is None:  # the sampled point is outside what the base spec can build
            trial.set_user_attr("rejected", f"does not build: {fitted.error}")
            raise optuna.TrialPruned(fitted.error)
        cost = fitted.cost
        spec = self.space.spec(fitted.params)
        violations = self.violations(cost)
        with warnings.catch_warnings():  # a retried trial carries its original's (equal) constraints
            warnings.filterwarnings("ignore", "The constraint value is ignored", UserWarning)
            for key, value in violations.items():  # positive: over budget; the samplers read them
                trial.set_constraint(key, value)
        attrs = {"macs": cost.macs, "params": cost.params, "flops_2x": 2 * cost.macs,
                 "constraints": list(violations.values())}
        if self.space.fit:
            attrs.update(width=fitted.params[self.space.fit], width_sampled=fitted.sampled)
        if cost.latency_ms is not None:
            attrs.update(latency_ms=cost.latency_ms, latency_source="predicted")
        attrs["spec"] = str(self._export(trial.number, spec, fitted.params, cost))
        for key, value in attrs.items():
            trial.set_user_attr(key, value)
        if not fitted.feasible:
            narrowed = self.space.fit and self.config.fit  # else no narrower width was tried
            where = " even at its narrowest" if narrowed else ""
            reason = f"over budget{where} ({self._cost_text(cost)}); not trained"
            trial.set_user_attr("rejected", reason)
            raise optuna.TrialPruned(reason)
        try:
            proxy = expand(self.proxy(spec))
            start = self.start(proxy)
        except SpecError as err:
            trial.set_user_attr("rejected", f"cannot run at the proxy resolution: {err}")
            raise optuna.TrialPruned(str(err)) from None
        trial.set_user_attr("training", self._training(spec, start))
        trial.set_user_attr("versions", self.versions)
        try:
            result = self._train_proxy(trial, proxy, seed, start)
            latency = self._measure(spec) if cost.latency_ms is None else cost.latency_ms
        except (MemoryError, RuntimeError) as err:  # torch's CPU allocator fails with a plain RuntimeError
            said = out_of_memory(err)
            if said is None:
                raise
            fault = f"out of memory on {self.device.type}: {said}"
        except NasblocksError as err:
            fault = str(err)
        if fault is not None:  # outside the except clause: its traceback, and the tensors, are gone
            self._fail_freed(trial, fault)
        trial.set_user_attr("accuracy", result.accuracy)
        trial.set_user_attr("train_seconds", round(result.seconds, 2))
        if cost.latency_ms is None:
            trial.set_user_attr("latency_ms", latency)
            trial.set_user_attr("latency_source", "measured")
        values = {"accuracy": result.accuracy, "macs": cost.macs, "params": cost.params, "latency": latency}
        chosen = [float(values[name]) for name in self.objectives]
        return chosen[0] if len(chosen) == 1 else chosen

    def _training(self, spec: Spec, start: Start | None) -> dict[str, Any]:
        """What a trial trains with besides its spec and seed: what ``nasblocks study retrain``
        trains it again with (``_search_retrain``)."""
        import torch

        assert self.data is not None
        device = str(self.device)
        if self.device.type == "cuda":
            device += f" ({torch.cuda.get_device_name(self.device)})"
        return {"vars": self._proxy_vars(spec), "input": list(self._proxy_input()), "data": self.config.data,
                "limit": self.config.limit, "split_seed": self.config.seed, "epochs": self.config.epochs,
                **self.recipe, "device": device, "threads": torch.get_num_threads(),
                "precision": _train.precision(self.device),
                **({"weights": start.record()} if start else {})}

    def _train_proxy(self, trial: optuna.Trial, proxy: Graph, seed: int, start: Start | None) -> _train.TrainResult:
        """Build the proxy network and train it, each epoch's accuracy going to the pruner. After
        each epoch the weights are checked: a loss that turned nan or inf leaves them non-finite,
        and the trial is pruned rather than ranked by the accuracy of a broken network."""
        import optuna
        import torch

        model, inherited = build_proxy(proxy, seed, start)
        if inherited is not None:
            trial.set_user_attr("inherited", asdict(inherited))

        def report(epoch: int, accuracy: float) -> None:
            if not all(bool(torch.isfinite(p).all()) for p in model.parameters()):
                reason = f"after epoch {epoch}: the loss turned nan or inf"
                trial.set_user_attr("pruned", reason)
                raise optuna.TrialPruned(reason)
            trial.set_user_attr("accuracy", accuracy)
            trial.set_user_attr("epochs_run", epoch)
            self.progress_epoch(trial.number, epoch, accuracy)
            if len(self.objectives) == 1:
                trial.report(accuracy, epoch)
                # after the last epoch the result is complete: nothing left to save by pruning
                if epoch < self.config.epochs and trial.should_prune():
                    trial.set_user_attr("pruned", f"after epoch {epoch} at accuracy {accuracy:.3f}")
                    raise optuna.TrialPruned(f"pruned after epoch {epoch} at accuracy {accuracy:.3f}")

        assert self.data is not None
        return _train.train(model, self.data, epochs=self.config.epochs, seed=seed, report=report,
                            **self.recipe)

    def _fail(self, trial: optuna.Trial, reason: str) -> NoReturn:
        trial.set_user_attr("failed", reason)
        raise _TrialFailed(reason)

    def _fail_freed(self, trial: optuna.Trial, reason: str) -> NoReturn:
        """Fail a trial that broke while running, its memory freed before the next trial: its
        tensors now, and on a GPU the blocks PyTorch's caching allocator would otherwise keep."""
        import gc

        import torch

        gc.collect()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
        self._fail(trial, reason)

    def _measure(self, spec: Spec) -> float:
        """Latency of the deployment network (batch 1, its input size) on the search's device."""
        from nasblocks._compile import compile_graph
        from nasblocks._latency import measure

        module = compile_graph(expand(spec)).eval()
        return measure(module, spec.input, device=self.latency_device, warmup=2, repeats=7).median_ms

    def _cost_text(self, cost: Cost) -> str:
        text = f"{cost.macs / 1e6:,.1f}M MACs, {cost.params / 1e6:.2f}M params"
        return text + (f", {cost.latency_ms:.2f} ms" if cost.latency_ms is not None else "")

    def _export(self, number: int, spec: Spec, params: dict[str, Any], cost: Cost) -> Path:
        return export_trial(self.folder, self.name, self.space, str(self.budget), number, spec, params, cost)

    # --- progress -----------------------------------------------------------------------------------

    def progress_epoch(self, number: int, epoch: int, accuracy: float) -> None:
        if self.progress is not None:
            self.progress.update(self.task, status=f"{self._best_text()} · trial {number} epoch "
                                                   f"{epoch}/{self.config.epochs}: {accuracy:.3f}")

    def _best_text(self) -> str:
        try:
            best = best_trial(self.study)
        except StudyError:
            return "best —"
        return f"best {best.user_attrs['accuracy']:.3f} (trial {best.number})"

    def reseed(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        """Optuna callback: the next trial's sampler, seeded by that trial's number, so that
        what a trial draws does not depend on how many runs the study took to reach it."""
        if self.sampler_for is not None:
            study.sampler = self.sampler_for(trial.number + 1)

    def on_trial_end(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        a = trial.user_attrs
        width = f", width {a['width']:g}" + (f" (fitted from {a['width_sampled']:g})"
                                               if a.get("width_sampled") != a.get("width") else "") \
            if "width" in a else ""
        cost = f"{a.get('macs', 0) / 1e6:,.1f}M MACs, {a.get('params', 0) / 1e6:.2f}M params{width}"
        state = trial.state.name.lower()
        if "rejected" in a:
            line = f"trial {trial.number}: rejected — {a['rejected']}"
        elif "failed" in a:
            line = f"trial {trial.number}: failed — {a['failed']}"
        elif "pruned" in a:
            line = f"trial {trial.number}: pruned {a['pruned']} — {cost}"
        elif state == "complete":
            latency = f", {a['latency_ms']:.2f} ms {a['latency_source']}" if "latency_ms" in a else ""
            line = (f"trial {trial.number}: accuracy {a['accuracy']:.3f}{latency} — {cost}, "
                    f"{a.get('train_seconds', 0):.0f} s")
        else:
            line = f"trial {trial.number}: {state}"
        self.console.print(line, markup=False, highlight=False)
        if self.progress is not None:
            self.progress.update(self.task, advance=1, status=self._best_text())
