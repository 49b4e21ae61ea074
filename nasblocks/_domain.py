"""Domains of a search space: the values one Optuna parameter may take, and a var's template
(its base value with domains at some leaves). See ``_space`` for the file format.

>>> Domain("width", low=0.35, high=1.4, step=0.05).contains(0.75)
True
>>> Domain("kernel", choices=(3, 5, 7)).describe()
'{3, 5, 7}'
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from nasblocks._spec import fail, suggest
from nasblocks._yaml import YList, YMap
from nasblocks.errors import SpecError

if TYPE_CHECKING:
    import optuna

_SCALARS = (type(None), bool, int, float, str)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _kind(value: Any) -> str:
    return "a boolean" if isinstance(value, bool) else "a number" if _number(value) else "a word"


def _same(a: Any, b: Any) -> bool:
    """Equal as spec values: 1 == 1.0, but True is not 1 and 'relu' is not a number."""
    if _number(a) and _number(b):
        return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)
    return type(a) is type(b) and a == b if isinstance(a, (bool, str)) or isinstance(b, (bool, str)) else a == b


@dataclass(frozen=True)
class Domain:
    """The values one Optuna parameter may take: categorical choices or a numeric range."""

    name: str
    choices: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    step: float | None = None
    log: bool = False

    @property
    def integer(self) -> bool:
        return self.choices is None and all(isinstance(v, int) for v in (self.low, self.high, self.step or 1))

    def sample(self, trial: optuna.Trial) -> Any:
        if self.choices is not None:
            return trial.suggest_categorical(self.name, list(self.choices))
        if self.integer:
            return trial.suggest_int(self.name, int(self.low), int(self.high), step=int(self.step or 1),  # type: ignore[arg-type]
                                     log=self.log)
        return self.snap(trial.suggest_float(self.name, self.low, self.high, step=self.step, log=self.log))  # type: ignore[arg-type]

    def snap(self, value: Any) -> Any:
        """A stepped float at the decimals its low end and step are written with: Optuna suggests
        0.35 + 12 × 0.05 as 0.9500000000000001, which a trial's spec should read as 0.95."""
        if self.step is None or self.integer or not _number(value):
            return value
        exponents = [Decimal(repr(v)).as_tuple().exponent for v in (self.low, self.step)]
        return round(value, max(0, *(-e for e in exponents)))  # type: ignore[operator]

    def contains(self, value: Any) -> bool:
        if self.choices is not None:
            return any(_same(value, c) for c in self.choices)
        if not _number(value) or (self.integer and value != int(value)):
            return False
        low, high = self.low, self.high
        if not low - 1e-9 <= value <= high + 1e-9:  # type: ignore[operator]
            return False
        if self.step is None:
            return True
        steps = (value - low) / self.step  # type: ignore[operator]
        return abs(steps - round(steps)) < 1e-6

    def grid(self) -> list[Any]:
        """Every value, for the grid sampler (a continuous range has no grid)."""
        if self.choices is not None:
            return list(self.choices)
        if self.integer:
            return list(range(int(self.low), int(self.high) + 1, int(self.step or 1)))  # type: ignore[arg-type]
        if self.step is None:
            raise SpecError(f"the grid sampler needs a finite domain; parameter {self.name!r} is the "
                            f"continuous range {self.describe()}: give it a step or choices")
        count = int(round((self.high - self.low) / self.step))  # type: ignore[operator]
        return [self.snap(self.low + k * self.step) for k in range(count + 1)]  # type: ignore[operator]

    def lowest(self) -> Any:
        """The smallest value of a range (choices have no order that costs respect)."""
        return self.low if self.choices is None else None

    def at_most(self, value: float) -> list[Any]:
        """The domain's values up to ``value``, largest first (for fitting a width)."""
        if self.choices is not None:
            return sorted((c for c in self.choices if _number(c) and c <= value + 1e-9), reverse=True)
        if self.step is not None or self.integer:
            return [v for v in reversed(self.grid()) if v <= value + 1e-9]
        # a continuous range: 1 % of the range is finer than any width rounding (make_divisible)
        count = 100
        return [value - (value - self.low) * k / count for k in range(count + 1)]  # type: ignore[operator]

    def describe(self) -> str:
        if self.choices is not None:
            return "{" + ", ".join(map(str, self.choices)) + "}"
        text = f"{self.low:g}..{self.high:g}"
        return text + (f" step {self.step:g}" if self.step else "") + (" log" if self.log else "")


@dataclass(frozen=True)
class Cases:
    """A mapping var of which only the case selected by another var (``by``) is searched."""

    by: str
    cases: dict[Any, Any]


def _domain(raw: YMap, name: str, path: str) -> Domain:
    keys = set(raw)
    if "choices" in keys:
        if keys != {"choices"}:
            raise fail("a choices domain has only 'choices'", raw, None, path)
        choices = raw["choices"]
        if not isinstance(choices, list) or not choices:
            raise fail(f"choices: expected a non-empty list, got {choices!r}", raw, "choices", path)
        bad = [c for c in choices if not isinstance(c, _SCALARS)]
        if bad:
            raise fail(f"choices must be numbers, booleans or words (Optuna's categorical values), "
                       f"got {bad[0]!r}", raw, "choices", path)
        kinds: dict[str, Any] = {}  # each kind's first value; null may stand beside one kind
        for choice in choices:
            if choice is not None:
                kinds.setdefault(_kind(choice), choice)
        if len(kinds) > 1:  # [3, five, 7]: a misspelt value, not a choice between kinds
            (a, first), (b, second) = list(kinds.items())[:2]
            raise fail(f"choices: expected values of one kind (numbers, words or booleans), got {first!r} "
                       f"({a}) and {second!r} ({b})", raw, "choices", path)
        if len(choices) == 1:  # a parameter the sampler can never move
            raise fail(f"choices: one choice is a fixed value; write {choices[0]!r} itself, or give two "
                       f"or more choices", raw, "choices", path)
        twice = [c for i, c in enumerate(choices) if any(_same(c, d) for d in choices[:i])]
        if twice:  # the sampler would draw it twice as often
            raise fail(f"choices: {twice[0]!r} is given twice", raw, "choices", path)
        return Domain(name, choices=tuple(choices))
    unknown = keys - {"low", "high", "step", "log"}
    if unknown or not {"low", "high"} <= keys:
        raise fail("a domain is {choices: [...]} or {low: a, high: b} with an optional step or log; "
                   f"got keys {', '.join(map(str, raw))}", raw, None, path)
    low, high, step, log = raw["low"], raw["high"], raw.get("step"), raw.get("log", False)
    if not (_number(low) and _number(high) and low < high):
        raise fail(f"expected numbers low < high, got low={low!r}, high={high!r}", raw, "low", path)
    if step is not None and not (_number(step) and step > 0):
        raise fail(f"step: expected a positive number, got {step!r}", raw, "step", path)
    if not isinstance(log, bool):
        raise fail(f"log: expected true or false, got {log!r}", raw, "log", path)
    if log and (step is not None or low <= 0):
        raise fail("log: true needs low > 0 and no step", raw, "log", path)
    if step is not None:  # as written, in decimals: 0.05 divides 1.4 - 0.35 though floats say it does not
        span, by = Decimal(repr(high)) - Decimal(repr(low)), Decimal(repr(step))
        if span % by:  # Optuna would move high, with a warning, to the last step below it
            last = Decimal(repr(low)) + span // by * by
            raise fail(f"step: expected a step that divides high - low = {span}, got {step!r}: the range would "
                       f"end at {last}, not at high={high!r}", raw, "step", path)
    return Domain(name, low=low, high=high, step=step, log=log)


def _is_domain(raw: Any) -> bool:
    return isinstance(raw, YMap) and bool(set(raw) & {"choices", "low", "high"})


def _template(raw: Any, name: str, path: str, columns: list[str] | None, row: bool = False) -> Any:
    """A var's value with domains at some leaves; ``name`` is the Optuna name built so far."""
    if _is_domain(raw):
        return _domain(raw, name, path)
    if isinstance(raw, YMap) and "by" in raw:
        if set(raw) != {"by", "cases"} or not isinstance(raw["cases"], YMap):
            raise fail("a var searched per case is {by: <var>, cases: {<value>: ...}}", raw, None, path)
        return Cases(str(raw["by"]), {k: _template(v, f"{name}.{k}", f"{path}.cases.{k}", columns)
                                      for k, v in raw["cases"].items()})
    if isinstance(raw, YMap):
        return {k: _template(v, f"{name}.{k}", f"{path}.{k}", columns) for k, v in raw.items()}
    if isinstance(raw, YList):
        rows = columns is not None and any(isinstance(v, YList) for v in raw)
        out = []
        for i, v in enumerate(raw):
            label = f"{name}.{columns[i]}" if row and columns and i < len(columns) else f"{name}[{i}]"
            out.append(_template(v, label, f"{path}[{i}]", columns, row=rows))
        return out
    return raw


def row_length(value: Any) -> int | None:
    """The length of a table's rows, when ``value`` is a table (a list of rows of one length)."""
    lengths = {len(row) if isinstance(row, list) else None for row in value} if isinstance(value, list) else set()
    return next(iter(lengths)) if len(lengths) == 1 and None not in lengths else None


def table_widths(value: Any) -> set[int]:
    """The row lengths of the tables inside a var's value (MobileNetV3's ``bneck`` maps its
    variants to a table each)."""
    length = row_length(value)
    if length is not None:
        return {length}
    items = value.values() if isinstance(value, dict) else value if isinstance(value, list) else ()
    return {n for item in items for n in table_widths(item)}


def check_like_base(raw: Any, base: Any, path: str, columns: list[str] | None, base_vars: Mapping[str, Any]) -> None:
    """The space's value has the base's shape where the base spec reads it. Where the base's
    value is a table (rows of one length), the space's rows have that length too: the base
    unpacks each row into as many names (``foreach: stages, as: [t, c, n, s]``), and a short row
    would otherwise be reported at that line of the base spec, not at the space's line that
    wrote it. A var searched per case (``{by: arch, cases: ...}``) is, in the base, a mapping
    that a var of the base indexes: each case is one of its keys. A domain over a whole number of
    the base (a count, channels) gives whole numbers: ``step: 0.5`` on a repeat count would only
    make trials that fail to build."""
    if _is_domain(raw):
        if isinstance(base, int) and not isinstance(base, bool):
            _check_whole(raw, base, path)
        return
    if isinstance(raw, YMap) and "by" in raw and isinstance(raw.get("cases"), YMap):
        cases: YMap = raw["cases"]
        _check_cases(raw, cases, base, path, base_vars)
        for key, value in cases.items():
            check_like_base(value, _case(base, key), f"{path}.cases.{key}", columns, base_vars)
    elif isinstance(raw, YMap):
        for key, value in raw.items():
            check_like_base(value, base.get(key) if isinstance(base, dict) else None, f"{path}.{key}", columns,
                            base_vars)
    elif isinstance(raw, YList):
        length = row_length(base)
        if length is None:  # not a table: its items may hold one
            for index, value in enumerate(raw):
                inner = base[index] if isinstance(base, list) and index < len(base) else None
                check_like_base(value, inner, f"{path}[{index}]", columns, base_vars)
            return
        named = f" ({', '.join(map(str, columns))})" if columns and len(columns) == length else ""
        for index, row in enumerate(raw):
            if not isinstance(row, YList) or len(row) != length:
                raise fail(f"expected a row of {length} values{named} like the base spec's, got {row!r}",
                           raw, index, f"{path}[{index}]")
            check_like_base(row, base[min(index, len(base) - 1)], f"{path}[{index}]", columns, base_vars)


def _check_whole(raw: YMap, base: int, path: str) -> None:
    choices = raw.get("choices") if isinstance(raw.get("choices"), list) else []
    fractions = [(key, raw[key]) for key in ("low", "high", "step") if isinstance(raw.get(key), float)] + \
        [("choices", choice) for choice in choices if isinstance(choice, float)]
    if fractions:
        key, value = fractions[0]
        raise fail(f"expected whole numbers, as the base spec's value {base!r} is, got {key}={value!r}; where "
                   f"fractions are meant, the base writes {float(base)!r}", raw, key, path)


def _case(base: Mapping[Any, Any], key: Any) -> Any:
    """The base's value for a case, its keys compared as spec values (11 is 11.0)."""
    return next((value for k, value in base.items() if _same(k, key)), None)


def _check_cases(raw: YMap, cases: YMap, base: Any, path: str, base_vars: Mapping[str, Any]) -> None:
    """``by`` is a var of the base; the base's value is a mapping with each case as a key (a
    list cannot be indexed by a case, and a misspelt case would never be selected)."""
    by = raw["by"]
    if not isinstance(by, str) or by not in base_vars:
        raise fail(f"expected the base spec's var that selects the case, got {by!r}"
                   f"{suggest(str(by), base_vars)}", raw, "by", f"{path}.by")
    if not isinstance(base, dict):
        raise fail(f"searched by {by!r}, so the base spec's value must be a mapping from the values of {by!r} "
                   f"to a value each; it is {base!r}", raw, None, path)
    for key in cases:
        if not any(_same(k, key) for k in base):
            known = [str(k) for k in base]
            raise fail(f"expected a case of the base spec's mapping ({', '.join(known)}), got {key!r}"
                       f"{suggest(str(key), known)}", cases, key, f"{path}.cases.{key}")


def _domains(template: Any) -> Iterator[Domain]:
    if isinstance(template, Domain):
        yield template
    elif isinstance(template, Cases):
        for case in template.cases.values():
            yield from _domains(case)
    elif isinstance(template, dict):
        for value in template.values():
            yield from _domains(value)
    elif isinstance(template, list):
        for value in template:
            yield from _domains(value)
