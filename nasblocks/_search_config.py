"""A search's settings: their defaults, their validation, and what the study stores of them.

``SearchConfig`` is what ``nasblocks search`` builds from its options and what the study keeps
(its ``nasblocks`` user attribute), so ``--resume`` needs only the study's name.
"""

from __future__ import annotations

import numbers
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, get_type_hints

from nasblocks._budget import Budget, parse_budget
from nasblocks.errors import BudgetError, StudyError

SAMPLERS = ("tpe", "nsga2", "random", "grid")
PRUNERS = ("median", "hyperband", "none")
RECIPES = ("proxy", "seed")
OPTIMIZERS = ("sgd", "adamw")
OBJECTIVE_NAMES = {"accuracy": "accuracy", "acc": "accuracy", "macs": "macs", "flops": "macs",
                   "params": "params", "latency": "latency"}
DEFAULT_RESOLUTION = 32
# A few epochs on a small set need many small steps: at batch 128, 3 epochs of digits are 33 SGD
# steps and MobileNetV2 stays at chance; at 64 it reaches ~0.9 at 32×32. The rest is _train's
# defaults (SGD, lr 0.05, momentum 0.9, weight decay 5e-4, cosine schedule).
PROXY_RECIPE = {"batch_size": 64}


@dataclass
class SearchConfig:
    """Everything a search depends on; stored with the study, so ``--resume`` needs only its name.

    The defaults make ``nasblocks search --budget 300MFLOPs`` a few minutes' run on two CPU
    cores: 12 trials of 3 epochs on scikit-learn's digits at 32×32, pruned by the median rule.
    """

    space: str = "mobilenet_v2"
    budget: list[str] = field(default_factory=lambda: ["300MFLOPs"])
    objectives: list[str] = field(default_factory=lambda: ["accuracy"])
    trials: int = 12
    data: str = "digits"
    resolution: int | None = None       # None: the space's proxy_resolution, else 32
    epochs: int = 3
    seed: int = 0
    sampler: str | None = None          # None: tpe for one objective, nsga2 for several
    pruner: str = "median"
    fit: bool = True
    device: str = "auto"
    recipe: str = "proxy"
    optimizer: str | None = None        # recipe overrides; None keeps the recipe's value
    lr: float | None = None
    momentum: float | None = None
    weight_decay: float | None = None
    label_smoothing: float | None = None
    batch_size: int | None = None
    limit: int | None = None            # cap on the examples used (train and validation)
    weights: str | None = None          # a weights file each trial starts from, as far as it fits
    weights_spec: str | None = None     # the spec of its network: None, the space's base network
    storage: str | None = None

    # settings that may change when a study is resumed; the rest define the study
    RESUMABLE = ("trials", "device", "storage")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> SearchConfig:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in values.items() if k in known})


# The numeric options, each with the types it takes, what it accepts and how to say so: checked
# before any trial, which would otherwise fail with a traceback from torch, scikit-learn's split
# (the seed) or the data loader
_POSITIVE = (int,), lambda v: v > 0, "a positive int"
_NUMBERS: dict[str, tuple[tuple[type, ...], Callable[[Any], bool], str]] = {
    "trials": _POSITIVE, "epochs": _POSITIVE, "resolution": _POSITIVE, "limit": _POSITIVE,
    # a batch norm in training needs two values per channel: at 1×1 a batch of one has one
    "batch_size": ((int,), lambda v: v > 1, "an int >= 2 (batch norm trains on two examples or more)"),
    "lr": ((int, float), lambda v: v > 0, "a number > 0"),
    "momentum": ((int, float), lambda v: v >= 0, "a number >= 0"),
    "weight_decay": ((int, float), lambda v: v >= 0, "a number >= 0"),
    "label_smoothing": ((int, float), lambda v: 0 <= v <= 1, "a number from 0 to 1"),
    "seed": ((int,), lambda v: v >= 0, "an integer >= 0"),
}


def api_options(options: dict[str, Any]) -> dict[str, Any]:
    """``nasblocks.search``'s keywords as ``nasblocks search`` gives its options: one budget may be
    a string and the objectives a comma-separated one, as on the command line, and a list a
    tuple; a keyword that is no setting is a TypeError, as for any function, not a setting
    silently left at its default, and an empty budget a BudgetError, not a search without one."""
    from nasblocks._spec import suggest

    known = [f.name for f in fields(SearchConfig)]
    for key in options:
        if key not in known:
            raise TypeError(f"search() got an unexpected keyword argument {key!r}{suggest(key, known)}")
    given = dict(options)
    for key in ("space", "weights", "weights_spec"):
        if isinstance(given.get(key), os.PathLike):
            given[key] = os.fspath(given[key])
    if isinstance(given.get("budget"), str):
        given["budget"] = [given["budget"]]
    if isinstance(given.get("objectives"), str):
        given["objectives"] = given["objectives"].split(",")
    hints = get_type_hints(SearchConfig)
    given = {key: _api_value(key, value, hints[key]) for key, value in given.items()}
    if given.get("budget") == []:
        raise BudgetError("search(budget=[]): expected one bound or more, e.g. '300MFLOPs' or ['60MFLOPs', '8ms']")
    return given


def _api_value(key: str, value: Any, hint: Any) -> Any:
    """A keyword's value as its setting (of type ``hint``) takes it, or a TypeError naming the
    keyword: "no" would be a true flag, "3" or 2.0 no count; a numpy integer is an int, a tuple a
    list. None leaves the setting at its default."""
    expects = f"search({key}=...) expects"
    if hint is bool:
        if not isinstance(value, bool):
            raise TypeError(f"{expects} True or False, got {value!r}")
        return value
    if value is None:
        return None
    if hint in (str, str | None):
        if not isinstance(value, str):
            raise TypeError(f"{expects} a str, got {type(value).__name__}")
        return value
    if hint == list[str]:
        if not (isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value)):
            raise TypeError(f"{expects} a str or a list of str, got {value!r}")
        return list(value)
    number = int if hint in (int, int | None) else float
    abstract, said = (numbers.Integral, "an int") if number is int else (numbers.Real, "a number")
    if isinstance(value, bool) or not isinstance(value, abstract):
        raise TypeError(f"{expects} {said}, got {value!r}")
    return number(value)


def parse_budgets(texts: list[str]) -> Budget:
    """The budget several ``--budget`` texts make together."""
    budget = Budget()
    for text in texts:
        budget = budget.merge(parse_budget(text))
    return budget


def validate(config: SearchConfig) -> tuple[Budget, list[str]]:
    """The config's budget and objectives, or a one-line error for what is wrong."""
    budget = parse_budgets(config.budget)
    names = []
    for raw in config.objectives:
        name = OBJECTIVE_NAMES.get(raw.strip().lower())
        if name is None:
            raise StudyError(f"--objectives: unknown objective {raw!r}; expected accuracy, macs, params "
                             "or latency, comma-separated")
        if name in names:
            raise StudyError(f"--objectives: {name!r} is given twice")
        names.append(name)
    if "accuracy" not in names:
        raise StudyError("--objectives: include accuracy (a search trains for it), e.g. accuracy,latency")
    for option, choices in (("sampler", SAMPLERS), ("pruner", PRUNERS), ("recipe", RECIPES),
                            ("optimizer", OPTIMIZERS)):
        value = getattr(config, option)
        if value is not None and value not in choices:
            raise StudyError(f"--{option}: expected one of {', '.join(choices)}, got {value!r}")
    for name, (kinds, accepts, expected) in _NUMBERS.items():
        value = getattr(config, name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kinds) or not accepts(value)):
            raise StudyError(f"--{name.replace('_', '-')}: expected {expected}, got {value!r}")
    if config.weights_spec is not None and config.weights is None:
        raise StudyError("--weights-spec: names the network of a --weights file; give --weights FILE too")
    if config.device != "auto":
        from nasblocks._latency import torch_device

        # a GPU this machine lacks fails here, before the study is made
        torch_device(config.device, expected="auto, cpu, cuda or cuda:N")
    return budget, names
