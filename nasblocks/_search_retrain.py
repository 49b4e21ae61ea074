"""A finished trial trained again from what it recorded: its spec, its ``seed`` and its
``training`` settings, at the thread count it trained with (a CPU kernel splits its sums by
thread). On CPU, with the same torch build, the accuracy comes back exactly; where the versions,
the device or the precision differ from the trial's, they are named, as the likely cause of a
different accuracy.

What it trained can be kept (``Retrained.save``): the weights, and beside them the spec of the
network exactly as trained, the *proxy* (the trial's spec with the data's classes and the proxy
input bound), so that ``nasblocks build SPEC --weights FILE`` loads them strictly."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasblocks._output import OutputError, check_writable
from nasblocks._study import StudyError, trial_spec_file
from nasblocks.errors import NasblocksError

if TYPE_CHECKING:
    import optuna
    from torch.fx import GraphModule

    from nasblocks._inherit import Start
    from nasblocks._spec import Spec


@dataclass(frozen=True)
class Retrained:
    """A trial trained again: the accuracy beside the recorded one, and the network it trained."""

    study: str
    number: int
    accuracy: float
    recorded: float
    differences: list[str]  # how this setup differs from the trial's: "torch 2.5.0 (trained with 2.14.1)"
    data: str  # what it trained on: digits, folder:PATH
    network: Spec = field(repr=False)  # the proxy: the trial's spec with the training vars and input bound
    model: GraphModule = field(repr=False)  # trained, in eval mode

    def save(self, path: Path) -> Path:
        """Write the trained weights to ``path`` (a state_dict, with ``torch.save``, or as
        ``.safetensors``) and the network's spec to :func:`spec_beside` ``path``, each whole or not
        at all; return the spec's path. Check both places with :func:`check_output` before training."""
        from nasblocks._study import standalone, write_spec
        from nasblocks._weights import write_state_dict

        write_state_dict(path, self.model.state_dict())
        spec_path = spec_beside(path)
        sizes = _input_vars(self.network)  # {"resolution": 16} where the spec's input reads it
        vars_ = {**self.network.overrides, **(sizes or {})}
        what = (f"The proxy network of trial {self.number} of study {self.study} as study retrain trained it "
                f"on {self.data} at input {'x'.join(map(str, self.network.input))} "
                f"({', '.join(f'{key}={value}' for key, value in vars_.items())}), its weights in {path.name}")
        document = standalone(self.network, f"{self.network.name}_trained", vars_, what)
        document["description"] = f"{what}; {self.network.file} is the network at its own size."
        if sizes is None:  # an input the vars cannot give: written as trained
            document["input"] = list(self.network.input)
        write_spec(spec_path, document, [
            f"trial {self.number} of study {self.study} as study retrain trained it: accuracy "
            f"{self.accuracy:.4f} (recorded {self.recorded:.4f})",
            f"build it: nasblocks build {spec_path} --weights {path}"])
        return spec_path


def _input_vars(spec: Spec) -> dict[str, int] | None:
    """The vars the spec's input is written with (``[3, resolution, resolution]``) set to the
    input it ran at, where the spec so set is the very network it trained (no layer reads them
    besides the input): the written spec keeps its input, and its vars say the size trained.
    None otherwise (the input is then written as a list)."""
    from nasblocks._expand import expand
    from nasblocks._study import plain

    written = plain(spec.document.get("input"))
    if not isinstance(written, list) or len(written) != len(spec.input):
        return None
    sizes = {entry: size for entry, size in zip(written, spec.input) if isinstance(entry, str) and entry in spec.vars}
    try:
        same = sizes and str(expand(replace(spec, input_override=None).with_vars(**sizes))) == str(expand(spec))
    except NasblocksError:  # a size the vars' own checks refuse
        return None
    return sizes if same else None


def spec_beside(path: Path) -> Path:
    """Where the spec of the network saved to ``path`` goes: ``best.pt`` → ``best.yaml``."""
    return path.with_suffix(".yaml")


def check_output(path: Path) -> None:
    """Refuse, before any training, a weights path that ``Retrained.save`` cannot write: the
    spec's own suffix, ``.safetensors`` without its package, a place that cannot be written (for
    the weights or the spec beside them)."""
    from nasblocks._weights import check_writable_weights

    if path.suffix.lower() in (".yaml", ".yml"):
        raise OutputError(f"{path}: name the weights file (such as {path.with_suffix('.pt')}); the network's "
                          f"spec is written beside it, as {spec_beside(path)}")
    check_writable_weights(path)
    check_writable(spec_beside(path))


def retrain(study: optuna.Study, trial: optuna.trial.FrozenTrial, folder: Path,
            device: str | None = None, weights: Path | None = None, data: str | None = None,
            report: Callable[[int, float], None] | None = None) -> Retrained:
    """Train ``trial``'s network again on ``device`` (default: the one it trained on), on its
    data and from the weights file it started from, if any; ``data`` and ``weights`` say where
    they are now when they moved (another machine). ``report(epoch, accuracy)`` follows the
    training, epoch by epoch, as the trial reported to the pruner."""
    import torch

    from nasblocks._data import load_dataset
    from nasblocks._expand import expand
    from nasblocks._latency import torch_device
    from nasblocks._search import build_proxy, versions
    from nasblocks._search_prepare import data_now
    from nasblocks._spec import load
    from nasblocks._train import RECIPE_DEFAULTS, precision, train

    recorded, training = trial.user_attrs, trial.user_attrs.get("training")
    if trial.state.name != "COMPLETE":
        raise StudyError(f"trial {trial.number} of {study.study_name!r} did not finish "
                         f"({trial.state.name.lower()}): only a finished trial's accuracy can be trained again")
    if training is None:
        raise StudyError(f"trial {trial.number} of {study.study_name!r} ran before nasblocks recorded its "
                         f"training settings: it cannot be trained again as it was")
    # --device, or the trial's own device ("cuda:0 (NVIDIA H100 80GB HBM3)"), checked before any work
    where = torch_device(device) if device is not None else \
        torch_device(training["device"].split(" ")[0], f"trial {trial.number} trained on")
    proxy = load(trial_spec_file(study, trial, folder)).with_vars(**training["vars"]).with_input(training["input"])
    start = _started_from(training, trial.number, weights)
    data = data_now(training["data"], data, f"trial {trial.number}")
    dataset = load_dataset(data, resolution=training["input"][-1], device=where, seed=training["split_seed"],
                           limit=training["limit"])
    threads = torch.get_num_threads()
    torch.set_num_threads(training["threads"])
    try:
        model, _ = build_proxy(expand(proxy), recorded["seed"], start)
        result = train(model, dataset, epochs=training["epochs"], seed=recorded["seed"], report=report,
                       **{key: training[key] for key in RECIPE_DEFAULTS})
    finally:
        torch.set_num_threads(threads)
    now = {**versions(), "device": str(where), "precision": precision(where)}
    was = {**recorded.get("versions", {}), "device": training["device"].split(" ")[0],
           "precision": training["precision"]}
    differences = [f"{key} {now[key]} (trained with {was.get(key, '?')})" for key in now if now[key] != was.get(key)]
    return Retrained(study.study_name, trial.number, result.accuracy, recorded["accuracy"], differences, data,
                     proxy, model)


def _started_from(training: dict[str, Any], number: int, path: Path | None) -> Start | None:
    """What the trial's network started from: the weights file (at ``path``, if it moved),
    checked to be the same still."""
    from nasblocks._inherit import Start
    from nasblocks._weights import Pretrained

    if "weights" not in training:
        if path is not None:
            raise StudyError(f"--weights: trial {number} started from no weights file; drop --weights")
        return None
    recorded = training["weights"]
    pretrained = Pretrained.reread(path or recorded["path"], recorded, f"trial {number}")
    return Start(pretrained, recorded["renamed"])
