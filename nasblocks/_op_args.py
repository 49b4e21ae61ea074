"""The arguments of primitive ops: their kinds (int, pair, float, floats, bool, str, padding),
defaults and ranges, and the coercion of a spec's value to what the op's module takes, so that a
bad value is refused at its place in the spec, before torch sees it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

Args = Mapping[str, Any]

REQUIRED: Any = object()
PADDINGS = ("auto", "same", "valid")  # the words a padding takes besides numbers


class ArgError(ValueError):
    """An argument has the wrong type or value; the caller adds file, line and path."""


def _int(value: Any, minimum: int | None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        raise ArgError(f"expected an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise ArgError(f"expected an integer >= {minimum}, got {int(value)}")
    return int(value)


def _pair(value: Any, minimum: int) -> tuple[int, int]:
    if isinstance(value, (list, tuple)):
        if len(value) != 2:
            raise ArgError(f"expected an integer or a pair [h, w], got {list(value)!r}")
        return _int(value[0], minimum), _int(value[1], minimum)
    number = _int(value, minimum)
    return number, number


@dataclass(frozen=True)
class Param:
    """One argument of an op: its kind (int, pair, float, floats, bool, str, padding), default,
    range."""

    kind: str
    default: Any = REQUIRED
    minimum: int | float | None = None
    choices: tuple[str, ...] | None = None
    maximum: float | None = None  # floats only: a probability is at most 1

    @property
    def words(self) -> tuple[str, ...]:
        """The words this argument takes, which a misspelt one is matched against."""
        return PADDINGS if self.kind == "padding" else self.choices or ()

    def coerce(self, value: Any) -> Any:
        kind = self.kind
        if value is None and self.default is None:
            return None
        if kind == "int":
            return _int(value, self.minimum)  # type: ignore[arg-type]
        if kind == "pair":
            return _pair(value, int(self.minimum or 0))
        if kind == "float":
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise ArgError(f"expected a number, got {value!r}")
            if self.maximum is not None and not self.minimum <= value <= self.maximum:
                raise ArgError(f"expected a number from {self.minimum} to {self.maximum}, got {value}")
            if self.minimum is not None and value < self.minimum:
                raise ArgError(f"expected a number >= {self.minimum}, got {value}")
            return float(value)
        if kind == "bool":
            if not isinstance(value, bool):
                raise ArgError(f"expected true or false, got {value!r}")
            return value
        if kind == "str":
            if not isinstance(value, str) or (self.choices and value not in self.choices):
                raise ArgError(f"expected one of {', '.join(self.choices or ())}, got {value!r}")
            return value
        if kind == "floats":
            if not isinstance(value, (list, tuple)) or not all(
                    isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                raise ArgError(f"expected a list of numbers, got {value!r}")
            return tuple(float(v) for v in value)
        if kind == "padding":
            if value in PADDINGS:
                return value
            if isinstance(value, str):
                raise ArgError(f"expected an integer, a pair [h, w] or one of {', '.join(PADDINGS)}, "
                               f"got {value!r}")
            return _pair(value, 0)
        raise AssertionError(kind)
