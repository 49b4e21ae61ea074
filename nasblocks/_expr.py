"""The spec expression language: parsed with Python's ``ast``, checked against a whitelist, never
``eval``ed.

An expression is a string in a spec, such as ``make_divisible(c * width)`` or
``s if i == 0 else 1``. It is parsed once (cached), every node kind is checked against the
tables below, and the tree is turned into a chain of small closures that evaluate against an
explicit environment: the spec's vars, a block's arguments, loop variables and the input's
shape (``in``, ``in_h``, ``in_w``).

    >>> compile_expr("make_divisible(32 * width)")({"width": 0.75})
    24
"""

from __future__ import annotations

import ast
import difflib
import io
import math
import operator
import tokenize
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

Env = Mapping[str, Any]
Evaluator = Callable[[Env], Any]

# ``in`` (the input's channels) is a Python keyword, so the tokenizer renames it before parsing.
_IN = "__in__"
MAX_LENGTH = 1000
MAX_EXPONENT = 64
# Bounds that keep a 1000-character expression from asking for gigabytes or hours: integers of
# at most 4096 bits (``(9**64)**64`` already has 13,000), lists and strings of at most 10,000
# items, trees at most 100 nodes deep.
MAX_BITS = 4096
MAX_ITEMS = 10_000
MAX_DEPTH = 100


class ExprError(ValueError):
    """An expression is malformed or cannot be evaluated; the caller adds file, line and path.
    ``undefined`` is the name an "undefined name" error is about, for callers that explain it."""

    def __init__(self, message: str, undefined: str | None = None) -> None:
        super().__init__(message)
        self.undefined = undefined


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round ``value`` to the nearest multiple of ``divisor``, never below 90 % of it.

    The channel rounding of MobileNet v2/v3 (torchvision's ``_make_divisible``, from TF-slim):
    round to nearest, at least ``min_value`` (default ``divisor``), and step up once if rounding
    lost more than 10 %. A value of 0 or less is refused rather than rounded up to ``min_value``:
    it comes from a width or channel count set below zero, which no network has.
    """
    if divisor <= 0:
        raise ExprError(f"divisor must be positive, got {divisor}")
    if value <= 0:
        raise ExprError(f"the value must be positive, got {value:g}")
    floor = divisor if min_value is None else min_value
    rounded = max(floor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def _nonzero(op: Callable[[Any, Any], Any], what: str) -> Callable[[Any, Any], Any]:
    """``op`` refusing a zero right operand with a spec's message, not ZeroDivisionError's."""
    def apply(a: Any, b: Any) -> Any:
        if b == 0:
            raise ExprError(f"{what} by zero")
        return op(a, b)
    return apply


def _power(a: Any, b: Any) -> Any:
    if abs(b) > MAX_EXPONENT:
        raise ExprError(f"exponent must be at most {MAX_EXPONENT} in magnitude, got {b}")
    if isinstance(a, int) and isinstance(b, int) and b > 0 and a.bit_length() * b > MAX_BITS:
        raise ExprError(f"{_brief(a)} ** {b} is too large (more than {MAX_BITS} bits)")
    return a**b


def _multiply(a: Any, b: Any) -> Any:
    for items, times in ((a, b), (b, a)):
        if isinstance(items, (str, list)) and isinstance(times, int) and len(items) * times > MAX_ITEMS:
            raise ExprError(f"repeating {len(items)} items {times} times makes more than {MAX_ITEMS:,}")
    return a * b


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, (str, list)) and isinstance(b, (str, list)) and len(a) + len(b) > MAX_ITEMS:
        raise ExprError(f"joining {len(a)} and {len(b)} items makes more than {MAX_ITEMS:,}")
    return a + b


BINARY: dict[type, Callable[[Any, Any], Any]] = {
    ast.Add: _add, ast.Sub: operator.sub, ast.Mult: _multiply,
    ast.Div: _nonzero(operator.truediv, "division"), ast.FloorDiv: _nonzero(operator.floordiv, "division"),
    ast.Mod: _nonzero(operator.mod, "modulo"), ast.Pow: _power,
}
UNARY: dict[type, Callable[[Any], Any]] = {
    ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Not: operator.not_,
}
COMPARE: dict[type, Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge,
}
FUNCTIONS: dict[str, Callable[..., Any]] = {
    "make_divisible": make_divisible, "int": int, "float": float, "round": round, "min": min,
    "max": max, "abs": abs, "ceil": math.ceil, "floor": math.floor, "len": len, "bool": bool,
    "sqrt": math.sqrt,
}


def _rename_in(text: str) -> str:
    """Rewrite the keyword ``in`` to a legal name, so ``in * 4`` parses."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except tokenize.TokenError as err:  # the text ended inside brackets or a triple-quoted string
        unclosed = "a bracket" if "statement" in err.args[0] else "a string"
        raise ExprError(f"cannot parse expression {text!r}: {unclosed} is not closed") from None
    except (IndentationError, SyntaxError) as err:
        raise ExprError(f"cannot parse expression {text!r}: {err.msg}") from None
    if not any(t.type == tokenize.NAME and t.string == "in" for t in tokens):
        return text
    renamed = [(t.type, _IN if t.type == tokenize.NAME and t.string == "in" else t.string)
               for t in tokens]
    return tokenize.untokenize(renamed)


def _shown(name: str) -> str:
    return "in" if name == _IN else name


# YAML's and JSON's spellings of Python's constants, which an expression (Python) does not know
_PYTHON_SPELLING = {"true": "True", "false": "False", "null": "None", "none": "None"}


def _name(name: str) -> Evaluator:
    def lookup(env: Env) -> Any:
        try:
            return env[name]
        except KeyError:
            if name.lower() in _PYTHON_SPELLING:
                hint = f"; expressions are Python: write {_PYTHON_SPELLING[name.lower()]}"
            else:
                known = sorted(_shown(k) for k in env if not k.startswith("_") or k == _IN)
                close = difflib.get_close_matches(_shown(name), known, n=3)
                hint = (f"; did you mean {', '.join(close)}?" if close
                        else f"; known names: {', '.join(known)}" if known else "")
            raise ExprError(f"undefined name {_shown(name)!r}{hint}", undefined=_shown(name)) from None
    return lookup


def _brief(value: Any) -> str:
    """A value as messages show it: its repr, cut short."""
    text = repr(value)
    return text if len(text) <= 40 else f"{text[:36]}…"


def _finite(value: Any) -> Any:
    """A number a spec can use: not inf or nan, not an integer too large to compute with."""
    if isinstance(value, float) and not math.isfinite(value):
        raise ExprError(f"the result is not a finite number ({value})")
    if isinstance(value, int) and value.bit_length() > MAX_BITS:
        raise ExprError(f"the result is too large (more than {MAX_BITS} bits)")
    return value


def _binary(op: Callable[[Any, Any], Any], left: Evaluator, right: Evaluator) -> Evaluator:
    def apply(env: Env) -> Any:
        a, b = left(env), right(env)
        try:
            return _finite(op(a, b))
        except TypeError:
            raise ExprError(f"cannot combine {_brief(a)} and {_brief(b)}") from None
        except ArithmeticError as err:  # overflow, or 0 ** -1
            raise ExprError(f"cannot compute with {_brief(a)} and {_brief(b)}: {err}") from None
    return apply


def _compare(ops: list[Callable[[Any, Any], bool]], operands: list[Evaluator]) -> Evaluator:
    def apply(env: Env) -> bool:
        left = operands[0](env)
        for op, operand in zip(ops, operands[1:]):
            right = operand(env)
            try:
                if not op(left, right):
                    return False
            except TypeError:
                raise ExprError(f"cannot compare {_brief(left)} and {_brief(right)}") from None
            left = right
        return True
    return apply


def _boolean(conjunction: bool, parts: list[Evaluator]) -> Evaluator:
    """``and``/``or`` as Python has them: the first operand that settles the result, else the
    last (``c or 16`` is c when c is set), evaluating no further."""
    def apply(env: Env) -> Any:
        for part in parts:
            value = part(env)
            if bool(value) != conjunction:
                return value
        return value
    return apply


def _call(name: str, args: list[Evaluator], kwargs: dict[str, Evaluator]) -> Evaluator:
    fn = FUNCTIONS[name]

    def apply(env: Env) -> Any:
        values = [a(env) for a in args]
        named = {k: v(env) for k, v in kwargs.items()}
        try:
            return _finite(fn(*values, **named))
        except (TypeError, ValueError, ArithmeticError) as err:
            raise ExprError(f"{name}(): {err}") from None
    return apply


def _build(node: ast.AST) -> Evaluator:
    """Turn one whitelisted AST node into a closure; anything else is an error."""
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float, str, bool, type(None))):
        value = _finite(node.value)
        return lambda env: value
    if isinstance(node, ast.Name):
        return _name(node.id)
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        return _binary(BINARY[type(node.op)], _build(node.left), _build(node.right))
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
        op, operand = UNARY[type(node.op)], _build(node.operand)
        return lambda env: op(operand(env))
    if isinstance(node, ast.BoolOp):
        return _boolean(isinstance(node.op, ast.And), [_build(v) for v in node.values])
    if isinstance(node, ast.Compare) and all(type(o) in COMPARE for o in node.ops):
        return _compare([COMPARE[type(o)] for o in node.ops],
                        [_build(node.left), *(_build(c) for c in node.comparators)])
    if isinstance(node, ast.IfExp):
        test, body, orelse = _build(node.test), _build(node.body), _build(node.orelse)
        return lambda env: body(env) if test(env) else orelse(env)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS:
        if any(k.arg is None for k in node.keywords) or any(isinstance(a, ast.Starred) for a in node.args):
            raise ExprError("* and ** arguments are not allowed")
        return _call(node.func.id, [_build(a) for a in node.args],
                     {k.arg: _build(k.value) for k in node.keywords if k.arg})
    if isinstance(node, ast.Call):
        called = node.func.id if isinstance(node.func, ast.Name) else ast.unparse(node.func)
        raise ExprError(f"unknown function {called!r}; available: {', '.join(sorted(FUNCTIONS))}")
    if isinstance(node, (ast.List, ast.Tuple)):
        items = [_build(e) for e in node.elts]
        return lambda env: [item(env) for item in items]
    if isinstance(node, ast.Subscript):
        value, index = _build(node.value), _build(node.slice)

        def subscript(env: Env) -> Any:
            container, key = value(env), index(env)
            try:
                return container[key]
            except (IndexError, KeyError, TypeError):
                raise ExprError(f"cannot index {_brief(container)} with {_brief(key)}") from None
        return subscript
    if isinstance(node, (ast.BinOp, ast.UnaryOp, ast.Compare)):
        raise ExprError(f"{ast.unparse(node)!r} uses an operator expressions do not have; they have "
                        "+ - * / // % **, == != < <= > >=, and, or, not")
    raise ExprError(f"{type(node).__name__} is not allowed in an expression")


@lru_cache(maxsize=4096)
def compile_expr(text: str) -> Evaluator:
    """Parse ``text`` into an evaluator ``env -> value``; raises ExprError when malformed."""
    if len(text) > MAX_LENGTH:
        raise ExprError(f"expression longer than {MAX_LENGTH} characters")
    try:
        tree = ast.parse(_rename_in(text).strip(), mode="eval")
    except SyntaxError as err:
        raise ExprError(f"cannot parse expression {text!r}: {err.msg}") from None
    except (RecursionError, MemoryError):  # CPython's parser gives up on very deep nesting
        raise ExprError(f"expression nested more than {MAX_DEPTH} levels deep") from None
    if _depth(tree.body) > MAX_DEPTH:  # evaluation recurses as deep as the tree
        raise ExprError(f"expression nested more than {MAX_DEPTH} levels deep")
    return _build(tree.body)


def _depth(root: ast.AST) -> int:
    deepest, stack = 0, [(root, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in ast.iter_child_nodes(node))
    return deepest


def bare_name(text: str) -> str | None:
    """The identifier ``text`` consists of, or None: lets string arguments take bare words."""
    return text if text.isidentifier() and text != "in" else None


def evaluate(value: Any, env: Env) -> Any:
    """Evaluate a spec value: strings are expressions, lists element-wise, the rest literal."""
    if isinstance(value, str):
        return compile_expr(value)(env)
    if isinstance(value, list):
        return [evaluate(v, env) for v in value]
    return value


def input_env(shape: tuple[int, ...]) -> dict[str, int]:
    """The names an expression uses for its input: ``in`` (channels), ``in_h``, ``in_w``."""
    env = {_IN: shape[0]}
    if len(shape) == 3:
        env["in_h"], env["in_w"] = shape[1], shape[2]
    return env
