"""Specs written to hurt: YAML tags that would run code, alias bombs, deep nesting, numbers and
sequences too large to compute, attribute access. Each is refused with its file and line, in
well under the alarm that would otherwise stop a hang. (Huge repeat counts and op explosions are
in tests/test_spec_errors.py.)"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import nasblocks
from nasblocks.errors import SpecError

HEAD = "imports: [blocks.yaml]\ninput: [3, 32, 32]\n"
LAUGHS = "".join(f"  a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 9))


def out(expression: str) -> str:
    return HEAD + f"network:\n  - conv: {{out: '{expression}', kernel: 3}}\n"


# (case, spec text, line, message fragment)
CASES = [
    ("python object tag", HEAD + "network:\n  - relu: !!python/object/apply:os.system ['touch {marker}']\n", 4,
     "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'"),
    ("python name tag", HEAD + "vars: {a: !!python/name:os.system }\nnetwork: []\n", 3,
     "could not determine a constructor"),
    ("attribute access", out("width.__class__"), 4, "Attribute is not allowed in an expression"),
    ("9**9**9", out("9**9**9"), 4, "exponent must be at most 64 in magnitude, got 387420489"),
    ("power tower", out("((((9**64)**64)**64)**64)**64"), 4, "is too large (more than 4096 bits)"),
    ("float overflow", out("int(1e300 ** 2)"), 4, "cannot compute with 1e+300 and 2: "),
    ("infinite result", out("int(1e308 * 10)"), 4, "the result is not a finite number (inf)"),
    ("zero to a negative power", out("int(0 ** -1)"), 4, "cannot compute with 0 and -1"),
    ("huge string", out("len(\"ab\" * 9**9)"), 4, "repeating 2 items 387420489 times makes more than 10,000"),
    ("huge list", out("len([1] * 9**9)"), 4, "repeating 1 items 387420489 times makes more than 10,000"),
    ("doubling vars", HEAD + "vars: {a: \"'x' * 9000\", b: 'a + a'}\nnetwork: []\n", 3,
     "joining 9000 and 9000 items makes more than 10,000"),
    ("deep expression", out("-" * 900 + "1"), 4, "expression nested more than 100 levels deep"),
    ("deep YAML", HEAD + "vars: {a: " + "[" * 900 + "]" * 900 + "}\nnetwork: []\n", 3,
     "values nested more than 64 levels deep"),
    ("alias bomb in vars", HEAD + "vars:\n  a0: &a0 [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]\n" + LAUGHS + "network: []\n", 8,
     "this value holds more than 100,000 values once its aliases are expanded (111,111)"),
    ("alias inside its own anchor", HEAD + "vars: {a: &a [1, *a]}\nnetwork: []\n", 3,
     "this value contains itself (an alias to an anchor it is inside of)"),
    ("infinite literal", HEAD + "network:\n  - conv: {out: .inf, kernel: 3}\n", 4, "expected a finite number, got .inf"),
    ("huge integer literal", HEAD + "network:\n  - conv: {out: " + "9" * 5000 + ", kernel: 3}\n", 4,
     "integer of 5,000 characters is too large (at most 4096 bits)"),
]


@pytest.mark.parametrize("case, text, line, message", CASES, ids=[c[0] for c in CASES])
def test_hostile_specs_are_refused_with_file_and_line(write_spec: Callable[..., Path], tmp_path: Path,
                                                     alarm: None, case: str, text: str, line: int,
                                                     message: str) -> None:
    marker = tmp_path / "ran"
    spec = write_spec(text.replace("{marker}", str(marker)))
    with pytest.raises(SpecError) as refused:
        nasblocks.expand(nasblocks.load(spec))
    assert str(refused.value).startswith(f"{refused.value.file}:{line}: ") and message in str(refused.value), \
        str(refused.value)
    assert refused.value.file.endswith("net.yaml") and not marker.exists()
