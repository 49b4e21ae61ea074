"""Budgets: upper bounds on a candidate's multiply-adds, parameters and latency.

"FLOPs" in a budget means multiply-adds, exactly as "MACs" does: the convention of the MobileNet
and ShuffleNet papers (ShuffleNet, Table 1: "FLOPs, i.e. the number of floating-point
multiplication-adds"), under which MobileNetV2 1.0 is a "300 MFLOPs" network (300.8 M
multiply-adds at 224x224). So ``300MFLOPs`` and ``300MMACs`` are the same budget, and no factor
of two is ever applied.

A count is as precise as it is written, the way the papers quote their networks, but never
coarser than three significant digits: ``300MFLOPs`` admits every network that reads "300 M" —
MobileNetV2's 300.8 M included, as DESIGN.md requires — so its limit is 300,999,999; so does
``0.3GMACs`` (read as 0.300 G); ``300.0MFLOPs`` means at most 300,099,999 and ``300000000FLOPs``
exactly 300,000,000. The slack is thus under 1 %. Latency bounds are exact.

>>> b = parse_budget("300MFLOPs").merge(parse_budget("8 ms"))
>>> b
Budget(macs=300999999, params=None, latency_ms=8.0)
>>> print(b)
≤ 300,999,999 MACs (multiply-adds), ≤ 8 ms
>>> b.violations(macs=300_774_272, latency_ms=10.0)  # MobileNetV2 fits; 25 % over on time
{'macs': -0.0007499235905312762, 'latency_ms': 0.25}
"""

from __future__ import annotations

import difflib
import math
from decimal import Decimal
import re
from dataclasses import dataclass, fields

from nasblocks.errors import BudgetError

_EXPECTED = "expected a number followed by a unit (MFLOPs, GMACs, M params, ms)"
_NUMBER = re.compile(
    r"\s*([-+]?(?:nan|inf(?:inity)?|(?:\d+(?:\.\d*)?|\.\d+)(?:e[-+]?\d+)?))\s*(.*?)\s*$",
    re.IGNORECASE,
)
_PREFIXES = {"": 1, "k": 10**3, "m": 10**6, "g": 10**9}
# unit spelling (lower case) -> Budget field
_COUNT_UNITS = {
    "flops": "macs", "flop": "macs", "macs": "macs", "mac": "macs",
    "params": "params", "param": "params", "parameters": "params",
}
_TIME_UNITS = {"ms": 1.0, "s": 1000.0}
# what a suggestion may offer for a misspelt unit
_KNOWN = [p.upper() + u for p in _PREFIXES for u in ("FLOPs", "MACs")] + [
    f"{p.upper()} params".lstrip() for p in _PREFIXES] + list(_TIME_UNITS)


@dataclass(frozen=True)
class Budget:
    """Upper bounds a candidate network must stay within; ``None`` leaves a quantity free.

    ``macs`` counts multiply-adds (what budgets call FLOPs), ``params`` trainable parameters,
    ``latency_ms`` the measured or predicted latency in milliseconds.
    """

    macs: int | None = None
    params: int | None = None
    latency_ms: float | None = None

    def merge(self, other: Budget) -> Budget:
        """Both budgets at once; where both bound a quantity, the tighter bound holds."""
        values = {}
        for f in fields(self):
            mine, theirs = getattr(self, f.name), getattr(other, f.name)
            values[f.name] = theirs if mine is None else mine if theirs is None else min(mine, theirs)
        return Budget(**values)

    def violations(self, macs: float | None = None, params: float | None = None,
                   latency_ms: float | None = None) -> dict[str, float]:
        """Relative overshoot ``value / limit - 1`` of each bounded quantity.

        Positive means violated and zero or negative means satisfied, which is what Optuna's
        ``constraints_func`` expects: return ``list(budget.violations(...).values())``. The keys
        keep a fixed order (macs, params, latency_ms) so the list's positions stay stable across
        trials. A bounded quantity must be given a value.
        """
        given = {"macs": macs, "params": params, "latency_ms": latency_ms}
        out = {}
        for name, value in given.items():
            limit = getattr(self, name)
            if limit is None:
                continue
            if value is None:
                raise ValueError(f"budget bounds {name}, so a value for {name} is required, got None")
            out[name] = value / limit - 1.0
        return out

    def __str__(self) -> str:
        parts = []
        if self.macs is not None:
            parts.append(f"≤ {self.macs:,} MACs (multiply-adds)")
        if self.params is not None:
            parts.append(f"≤ {self.params:,} params")
        if self.latency_ms is not None:
            parts.append(f"≤ {self.latency_ms:g} ms")
        return ", ".join(parts) or "unbounded"


def parse_budget(text: str) -> Budget:
    """Read one quantity, e.g. ``300MFLOPs``, ``0.3 GMACs``, ``3.5M params``, ``8ms``, ``1.5s``.

    Units are case-insensitive and take a K, M or G multiplier (counts only). FLOPs means
    multiply-adds (see the module docstring). Raises :class:`BudgetError` saying what was expected
    and what was found.
    """
    if not text.strip():
        raise BudgetError(f"budget {text!r}: {_EXPECTED}, got an empty string")
    match = _NUMBER.match(text)
    if match is None:
        raise BudgetError(f"budget {text!r}: {_EXPECTED}, got no number at the start")
    number, unit = match.groups()
    if not unit:
        raise BudgetError(f"budget {text!r}: {_EXPECTED}, got a bare number without a unit")
    field, scale = _unit(text, unit)
    value = float(number) * scale
    if not math.isfinite(value) or value <= 0:
        raise BudgetError(f"budget {text!r}: expected a positive, finite amount, got {number}")
    if field == "latency_ms":
        return Budget(latency_ms=value)
    count = round(value)
    if count < 1:
        raise BudgetError(f"budget {text!r}: expected a count of at least 1, got {value:g}")
    written = Decimal(scale).scaleb(int(Decimal(number).as_tuple().exponent))  # last written digit
    three_digits = Decimal(10) ** (len(str(count)) - 3)
    resolution = max(1, round(min(written, three_digits)))
    return Budget(**{field: count + resolution - 1})


def _unit(text: str, unit: str) -> tuple[str, float]:
    """The Budget field a unit bounds and the factor that converts to that field's unit."""
    lowered = unit.lower()
    if lowered in ("k", "m", "g"):
        raise BudgetError(f"budget {text!r}: {_EXPECTED}, got the multiplier {unit!r} without a unit; "
                          f"did you mean '{unit.upper()}FLOPs' or '{unit.upper()} params'?")
    if lowered in _TIME_UNITS:
        return "latency_ms", _TIME_UNITS[lowered]
    prefix, rest = lowered[:1], lowered[1:].lstrip()
    if lowered in _COUNT_UNITS:
        return _COUNT_UNITS[lowered], 1
    if prefix in _PREFIXES and rest in _COUNT_UNITS:
        return _COUNT_UNITS[rest], _PREFIXES[prefix]
    known = {k.lower(): k for k in _KNOWN}
    close = difflib.get_close_matches(lowered, known, n=1)
    hint = f"; did you mean {known[close[0]]!r}?" if close else ""
    raise BudgetError(f"budget {text!r}: {_EXPECTED}, got unknown unit {unit!r}{hint}")
