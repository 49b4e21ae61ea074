"""The expression language: what it computes, and what it refuses."""

from __future__ import annotations

import pytest
from torchvision.models._utils import _make_divisible

from nasblocks._expr import ExprError, compile_expr, input_env, make_divisible


@pytest.mark.parametrize("text, env, expected", [
    ("1 + 2 * 3", {}, 7),
    ("(1 + 2) * 3", {}, 9),
    ("7 // 2 + 7 % 2", {}, 4),
    ("2 ** 10", {}, 1024),
    ("-w + +w", {"w": 3}, 0),
    ("c * width", {"c": 32, "width": 0.5}, 16.0),
    ("s if i == 0 else 1", {"s": 2, "i": 0}, 2),
    ("s if i == 0 else 1", {"s": 2, "i": 3}, 1),
    ("1 < a <= 3", {"a": 3}, True),
    ("1 < a <= 3", {"a": 4}, False),
    ("a != 'none' and not b", {"a": "relu", "b": False}, True),
    ("a or b", {"a": 0, "b": 5}, 5),  # Python's: the operand that settles it
    ("a and b", {"a": 0, "b": 5}, 0),
    ("bool(a and b)", {"a": 0, "b": 5}, False),  # where an argument takes true or false
    ("in * 4", input_env((24, 56, 56)), 96),
    ("in_h // 2", input_env((24, 56, 56)), 28),
    ("stride == 1 and in == out", {**input_env((16, 8, 8)), "stride": 1, "out": 16}, True),
    ("int(round(in * 6))", input_env((24, 8, 8)), 144),
    ("max(1.0, width) * 1280", {"width": 0.5}, 1280.0),
    ("make_divisible(32 * 0.75)", {}, 24),
    ("make_divisible(c, divisor=4, min_value=16)", {"c": 10}, 16),
    ("rows[1][0]", {"rows": [[1, 2], [3, 4]]}, 3),
    ("len(rows)", {"rows": [[1, 2], [3, 4]]}, 2),
    ("1 / sqrt(n)", {"n": 1000}, 1 / 1000 ** 0.5),  # an init bound: U(±1/√classes)
    ("[k, k]", {"k": 3}, [3, 3]),
])
def test_evaluates(text: str, env: dict, expected: object) -> None:
    assert compile_expr(text)(env) == expected


@pytest.mark.parametrize("value", [0.1 * i for i in range(1, 200)] + [8, 12, 1280 * 1.4, 96 * 0.35])
@pytest.mark.parametrize("divisor", [4, 8, 16])
def test_make_divisible_matches_torchvision(value: float, divisor: int) -> None:
    assert make_divisible(value, divisor) == _make_divisible(value, divisor)


@pytest.mark.parametrize("text, env, message", [
    ("widht * 2", {"width": 1.0}, "undefined name 'widht'; did you mean width?"),
    ("width > 1 and true", {"width": 2}, "undefined name 'true'; expressions are Python: write True"),
    ("null", {"width": 2}, "undefined name 'null'; expressions are Python: write None"),
    ("a / b", {"a": 1, "b": 0}, "division by zero"),
    ("a // 0", {"a": 1}, "division by zero"),
    ("a % 0", {"a": 1}, "modulo by zero"),
    ("sqrt(a)", {"a": -1}, "sqrt(): math domain error"),
    ("3 +", {}, "cannot parse expression '3 +'"),
    ("max(3", {}, "cannot parse expression 'max(3': a bracket is not closed"),
    ("in * (2", {}, "cannot parse expression 'in * (2': a bracket is not closed"),
    ('"""x', {}, "a string is not closed"),
    ("().__class__", {}, "Attribute is not allowed in an expression"),
    ("{'a': 1}", {}, "Dict is not allowed in an expression"),
    ("[c for c in x]", {"x": [1]}, "cannot parse expression"),
    ("lambda: 1", {}, "Lambda is not allowed in an expression"),
    ("__import__('os')", {}, "unknown function '__import__'"),
    ("open('f')", {}, "unknown function 'open'"),
    ("2 ** 1000", {}, "exponent must be at most 64"),
    ("'a' * 'b'", {}, "cannot combine 'a' and 'b'"),
    ("rows[5]", {"rows": [1]}, "cannot index [1] with 5"),
    ("make_divisible(8, 0)", {}, "divisor must be positive"),
    ("make_divisible(32 * width)", {"width": -1}, "the value must be positive, got -32"),
    ("make_divisible(32 * width)", {"width": 0}, "the value must be positive, got 0"),
    ("x" * 1001, {}, "longer than 1000 characters"),
])
def test_refuses(text: str, env: dict, message: str) -> None:
    with pytest.raises(ExprError) as err:
        compile_expr(text)(env)
    assert message in str(err.value)


def test_an_undefined_name_is_carried_on_the_error() -> None:
    with pytest.raises(ExprError) as err:
        compile_expr("width * in")({"width": 1})
    assert err.value.undefined == "in"


def test_in_is_shown_as_in_in_messages() -> None:
    with pytest.raises(ExprError, match="undefined name 'in'"):
        compile_expr("in * 2")({})


def test_parsed_once() -> None:
    assert compile_expr("a + 1") is compile_expr("a + 1")
