"""Mutated specs and search spaces never give a traceback: each either builds and prices, or is
refused with one error that names the file and the line — quickly, and in bounded memory.

Hypothesis mutates the shipped files as users break them: keys dropped or renamed, values of the
wrong type, garbage text and expressions, deep nesting, huge numbers, and, on the text itself,
YAML tags, alias bombs, truncation. ``derandomize`` makes every run draw the same examples, so
CI is deterministic; a failure prints the example (the YAML text) to reproduce it.
"""

from __future__ import annotations

import copy
import itertools
import re
import resource
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import nasblocks
from nasblocks._space import load_space
from nasblocks.cli import main
from nasblocks.errors import NasblocksError

ROOT = Path(__file__).parents[2]
SPECS = ["mobilenet_v2", "shufflenet_v2", "squeezenet", "inception_v3"]
SPACES = ["mobilenet_v2", "mobilenet_v3", "shufflenet", "googlenet"]
# ``file.yaml:LINE: ...``; only a file that cannot be read as text at all has no line to name
LOCATED = re.compile(r"^[^\n:]+\.yaml:\d+: \S")
WHOLE_FILE = re.compile(r"^[^\n:]+\.yaml: (empty file|not UTF-8 text|not a text file)")
FUZZ = settings(derandomize=True, database=None, deadline=5000, print_blob=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
names = itertools.count()

TOKENS = ["width", "in", "in_h", "i", "c", "t", "(", ")", "+", "-", "*", "**", "//", "/", "%", "9", "0", "-1",
          "1e308", "0.5", "make_divisible(", "int(", "len(", "min(", ",", "if", "else", "==", "<", "not", "and",
          "[", "]", "'a'", "x.__class__", "__import__(", "9**9**9"]
expressions = st.lists(st.sampled_from(TOKENS), min_size=1, max_size=10).map(" ".join)
huge = st.sampled_from([10**6, 10**12, -10**12, 2**63, 2**5000, 10**400 // 7, 1e308, -1e-308, 0, -1])
scalars = st.one_of(st.none(), st.booleans(), st.integers(), huge, st.floats(), st.text(max_size=20), expressions)
garbage = st.one_of(scalars, st.lists(scalars, max_size=4), st.dictionaries(st.text(max_size=8), scalars, max_size=3))


def slots(document: Any) -> list[tuple[Any, Any]]:
    """Every (container, key) in the document: the places a mutation may strike."""
    found, stack = [], [document]
    while stack:
        node = stack.pop()
        keys = list(node) if isinstance(node, dict) else range(len(node)) if isinstance(node, list) else []
        for key in keys:
            found.append((node, key))
            stack.append(node[key])
    return found


def swap_type(value: Any) -> Any:
    if isinstance(value, dict):
        return list(value.values())
    if isinstance(value, list):
        return {str(i): v for i, v in enumerate(value)} if len(value) % 2 else (value[0] if value else "[]")
    return [value] if isinstance(value, str) else str(value)


@st.composite
def mutated(draw: st.DrawFn, source: Path) -> str:
    document = copy.deepcopy(yaml.safe_load(source.read_text()))
    for _ in range(draw(st.integers(1, 3))):
        places = slots(document)
        container, key = draw(st.sampled_from(places))
        kind = draw(st.sampled_from(["drop", "garbage", "garbage", "swap", "rename", "nest", "huge"]))
        if kind == "drop":
            del container[key]
        elif kind == "rename" and isinstance(container, dict):
            container[f"{key}{draw(st.sampled_from(['x', '_', 's']))}"] = container.pop(key)
        elif kind == "swap":
            container[key] = swap_type(container[key])
        elif kind == "nest":
            value = container[key]
            for _ in range(draw(st.sampled_from([2, 10, 70]))):
                value = [value]
            container[key] = value
        elif kind == "huge":
            container[key] = draw(huge)
        else:
            container[key] = draw(garbage)
    text = yaml.safe_dump(document, sort_keys=False, allow_unicode=True, width=100)
    lines = text.splitlines(keepends=True)
    at = draw(st.integers(0, len(lines)))
    edit = draw(st.sampled_from(["none", "none", "none", "truncate", "tag", "bomb", "char", "duplicate"]))
    if edit == "truncate":
        return text[:draw(st.integers(0, len(text)))]
    if edit == "tag":
        return text.replace(": ", ": !!python/object/apply:os.system ['false'] ", 1)
    if edit == "bomb":
        laughs = "".join(f"b{i}: &b{i} [{', '.join([f'*b{i - 1}'] * 9)}]\n" for i in range(1, 8))
        return "b0: &b0 [lol]\n" + laughs + text
    if edit == "char":
        position = draw(st.integers(0, len(text)))
        return text[:position] + draw(st.sampled_from(["\t", "{", "]", "&", "*x", "%", "\ufeff", "é", ":"])) + text[position:]
    if edit == "duplicate" and lines:
        return "".join(lines[:at] + lines[max(0, at - 1):])
    return text


def write(folder: Path, text: str) -> Path:
    path = folder / f"m{next(names)}.yaml"  # a new name each time: the loader caches by path
    path.write_text(text)
    return path


price = nasblocks.cost  # parameters and MACs, read off the graph


def build_spec(path: Path) -> None:
    spec = nasblocks.load(path)
    nasblocks.expand(spec)
    nasblocks.cost(spec)


def build_space(path: Path) -> None:
    load_space(path).smallest(price)


def refused_properly(build: Any, path: Path) -> bool:
    """Whether ``build`` refused the file (with one located line) rather than building it."""
    try:
        build(path)
    except NasblocksError as err:
        message = str(err)
        assert LOCATED.match(message) or WHOLE_FILE.match(message), message
        assert "\n" not in message, message
        return True
    return False


def resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * resource.getpagesize()


@pytest.fixture
def bounded_memory() -> Any:
    """Fails the test if the process grew by more than 500 MB at any moment while it ran. The
    resident size is sampled every 10 ms: the process's peak (ru_maxrss) would miss growth below
    an earlier test's peak."""
    before = resident_bytes()
    peak = [before]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], resident_bytes())

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    yield
    done.set()
    sampler.join()
    grown = max(peak[0], resident_bytes()) - before
    assert grown < 500e6, f"memory grew by {grown / 1e6:.0f} MB"


FILES = [(f"specs/{name}.yaml", build_spec, 40) for name in SPECS] + \
        [(f"search_spaces/{name}.yaml", build_space, 30) for name in SPACES]


@pytest.mark.parametrize("source, build, examples", FILES, ids=[f[0] for f in FILES])
def test_mutated_files_build_or_name_file_and_line(source: str, build: Any, examples: int,
                                                   tmp_path_factory: pytest.TempPathFactory,
                                                   bounded_memory: None) -> None:
    folder = tmp_path_factory.mktemp("mutated")
    refused = []

    @settings(FUZZ, max_examples=examples)
    @given(text=mutated(ROOT / source))
    def check(text: str) -> None:
        refused.append(refused_properly(build, write(folder, text)))

    check()
    assert any(refused), "no mutated file was refused: the error messages were never checked"


def test_the_cli_exits_2_with_one_line_for_mutated_files(tmp_path_factory: pytest.TempPathFactory,
                                                         monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path_factory.mktemp("cli")
    statuses = []

    @settings(FUZZ, max_examples=12)
    @given(text=mutated(ROOT / "specs" / "mobilenet_v2.yaml"), command=st.sampled_from(["build", "space"]))
    def check(text: str, command: str) -> None:
        path = write(folder, text)
        args = ["build", str(path), "--json"] if command == "build" else ["space", "show", str(path)]
        monkeypatch.setattr(sys, "argv", ["nasblocks", *args])
        with pytest.raises(SystemExit) as exited:
            main()
        err = capsys.readouterr().err
        statuses.append(exited.value.code or 0)
        assert (exited.value.code or 0) in (0, 2), err
        if exited.value.code:
            assert err.startswith("error: ") and err.count("\n") == 1, err

    check()
    assert 2 in statuses
