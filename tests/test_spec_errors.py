"""Every bad spec gets one message naming file, line and the place inside the spec."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import nasblocks
from nasblocks._space import load_space
from nasblocks.cli import main
from nasblocks.errors import SpecError

HEAD = "imports: [blocks.yaml]\ninput: [3, 32, 32]\n"


def error_of(path: Path, **overrides: object) -> SpecError:
    with pytest.raises(SpecError) as caught:
        nasblocks.expand(nasblocks.load(path, **overrides))
    return caught.value


# (case, spec text, line, path inside the spec, message fragment)
CASES = [
    ("yaml syntax", HEAD + "network:\n  - conv: {out: 8\n", 5, None, "invalid YAML"),
    ("not a mapping", "- conv: {kernel: 3, out: 8}\n", 1, None, "a spec must be a YAML mapping, got a list"),
    ("branches not a list", HEAD + "network:\n  - concat: {conv: {kernel: 3, out: 8}}\n", 4, "network[0].concat",
     "concat needs a list of branches, got a mapping"),
    ("vars not a mapping", HEAD + "vars: [1, 2]\nnetwork: []\n", 3, "vars", "expected a mapping of vars, got a list"),
    ("duplicate key", HEAD + "network: []\nnetwork: []\n", 4, None, "duplicate key 'network' (first at line 3)"),
    ("unknown top key", HEAD + "netwrk: []\n", 3, "netwrk", "unknown key 'netwrk'"),
    ("unknown op", HEAD + "network:\n  - cnov: {out: 8}\n", 4, "network[0]", "unknown op or block 'cnov'; did you mean conv"),
    ("unknown block", HEAD + "network:\n  - conv_bn_akt: {out: 8}\n", 4, "network[0]", "unknown op or block 'conv_bn_akt'; did you mean conv_bn_act"),
    ("unknown argument", HEAD + "network:\n  - conv:\n      kernel: 3\n      out: 8\n      kernal: 3\n", 7, "network[0].conv", "unknown argument 'kernal' of op 'conv'"),
    ("unknown block argument", HEAD + "network:\n  - conv_bn_act: {out: 8, strid: 2}\n", 4, "network[0].conv_bn_act", "unknown argument 'strid' of block 'conv_bn_act'; it takes out, kernel, stride"),
    ("missing argument", HEAD + "network:\n  - linear: {bias: true}\n", 4, "network[0].linear", "missing required argument 'out' of op 'linear'"),
    ("missing block argument", HEAD + "network:\n  - conv_bn_act: {kernel: 3}\n", 4, "network[0].conv_bn_act", "missing required argument 'out' of block 'conv_bn_act'"),
    ("wrong type", HEAD + "network:\n  - conv:\n      kernel: 3\n      out: 8\n      bias: 3\n", 7, "network[0].conv.bias", "expected true or false, got 3"),
    ("wrong type float", HEAD + "network:\n  - conv: {kernel: 3, out: 8.5}\n", 4, "network[0].conv.out", "expected an integer, got 8.5"),
    ("bad expression", HEAD + "network:\n  - conv: {kernel: 3, out: '8 *'}\n", 4, "network[0].conv.out", "cannot parse expression '8 *'"),
    ("undefined variable", HEAD + "vars: {width: 1.0}\nnetwork:\n  - conv: {kernel: 3, out: 8 * widht}\n", 5, "network[0].conv.out", "undefined name 'widht'; did you mean width?"),
    ("division by zero", HEAD + "vars: {d: 0}\nnetwork:\n  - conv: {kernel: 3, out: 8 // d}\n", 5, "network[0].conv.out", "division by zero"),
    ("negative channels", HEAD + "network:\n  - conv: {kernel: 3, out: -8}\n", 4, "network[0].conv.out", "expected an integer >= 1, got -8"),
    ("zero channels", HEAD + "vars: {width: 0.0}\nnetwork:\n  - conv: {kernel: 3, out: int(32 * width)}\n", 5, "network[0].conv.out", "expected an integer >= 1, got 0"),
    ("shape mismatch add", HEAD + "network:\n  - add:\n      - conv: {kernel: 3, out: 8}\n      - conv: {kernel: 3, out: 16}\n", 4, "network[0].add", "add needs equal shapes, got 8×32×32, 16×32×32"),
    ("shape mismatch concat", HEAD + "network:\n  - concat:\n      - conv: {kernel: 3, out: 8, stride: 2}\n      - conv: {kernel: 3, out: 8}\n", 4, "network[0].concat", "concat needs equal sizes apart from channels"),
    ("kernel too large", HEAD + "network:\n  - conv: {out: 8, kernel: 7, stride: 8, padding: 0}\n  - conv: {out: 8, kernel: 7, padding: 0}\n", 5, "network[1].conv", "kernel 7 (extent 7) is larger than the padded input 4"),
    ("linear on a feature map", HEAD + "network:\n  - linear: {out: 10}\n", 4, "network[0].linear", "linear needs a flat input, got 3×32×32; add a flatten"),
    ("groups", HEAD + "network:\n  - conv: {kernel: 3, out: 8, groups: 2}\n", 4, "network[0].conv", "groups=2 must divide both input channels (3) and out (8)"),
    ("self reference", HEAD + "blocks:\n  loop:\n    body:\n      - loop: {}\nnetwork:\n  - loop: {}\n", 6, "blocks.loop.body[0].loop", "block 'loop' refers to itself: loop → loop"),
    ("huge repeat", HEAD + "network:\n  - relu: {}\n    repeat: 100000000\n", 5, "network[0]", "repeat must be an integer from 0 to 10,000"),
    ("nested explosion", HEAD + "network:\n  - repeat: 10000\n    seq:\n      - relu: {}\n        repeat: 10000\n", 6, "network[0].seq[0].relu", "more than 20,000 ops"),
    ("two heads", HEAD + "network:\n  - conv: {kernel: 3, out: 8}\n    relu: {}\n", 4, "network[0]", "an item needs exactly one op, block"),
    ("item not a mapping", HEAD + "network:\n  - conv\n", 4, "network[0]", "expected a mapping with one op or block, got 'conv'"),
    ("duplicate names", HEAD + "network:\n  - conv: {kernel: 3, out: 8}\n    name: a\n  - conv: {kernel: 3, out: 8}\n    name: a\n", 7, "network[1].conv", "name 'a' is already used"),
    ("bad input", "input: [3, 0, 32]\nnetwork: []\n", 1, "input", "expected three positive integers, got [3, 0, 32]"),
    ("functional conv", HEAD + "network:\n  - conv: {kernel: 3, out: 8}\n    functional: true\n", 4, "network[0].conv", "cannot be functional"),
    # what a researcher writing a first spec gets wrong, each with the fix in the message
    ("tab", HEAD + "network:\n\t- relu: {}\n", 4, None, "a tab at column 1; YAML indents with spaces, never tabs"),
    ("unclosed brace", HEAD + "network:\n  - conv: {out: 8, kernel: 3\n  - relu: {}\n", 5, None,
     "(for the { opened at line 4); close each {...} and [...], and quote an expression"),
    ("unquoted brackets", HEAD + "vars: {c: [8]}\nnetwork:\n  - conv: {out: c[0], kernel: 3}\n", 5, None,
     "quote an expression that holds a comma, [ ] or { }"),
    ("unquoted comma", HEAD + "network:\n  - conv: {out: max(8, 16), kernel: 3}\n", 4, None,
     "unbalanced parentheses in 'max(8': YAML splits {...} and [...] at every comma, so quote"),
    ("unquoted comma in a list", HEAD + "network:\n  - conv: {out: 8, kernel: [max(3, 5), 3]}\n", 4, None,
     "unbalanced parentheses in 'max(3'"),
    ("library block redeclared", HEAD + "blocks:\n  conv_bn_act:\n    body: [{relu: {}}]\nnetwork: []\n", 4,
     "blocks.conv_bn_act", "block 'conv_bn_act' is already declared in "),
    ("var named in", HEAD + "vars: {in: 4}\nnetwork: []\n", 3, "vars.in", "var 'in' is taken: expressions read"),
    ("argument named in_h", HEAD + "blocks:\n  b:\n    args: {in_h: 1}\n    body: []\nnetwork: []\n", 5,
     "blocks.b.args.in_h", "argument 'in_h' is taken"),
    ("let replaces an argument", HEAD + "blocks:\n  b:\n    args: {out: ~}\n    let: {out: 3}\n    body: []\n"
     "network: []\n", 6, "blocks.b.let.out", "let value 'out' would replace the argument 'out'"),
    ("choices of no var", HEAD + "vars: {act: relu}\nchoices: {actt: [relu]}\nnetwork: []\n", 4, "choices.actt",
     "'actt' is not a var; choices name vars declared under 'vars' (act); did you mean act?"),
    ("choices not a list", HEAD + "vars: {act: relu}\nchoices: {act: relu}\nnetwork: []\n", 4, "choices.act",
     "expected a list of the values var 'act' may take, got a string"),
    ("alias of no var", HEAD + "vars: {width: 1.0}\naliases:\n  small: {widht: 0.5}\nnetwork: []\n", 5,
     "aliases.small.widht", "unknown var 'widht'; this spec's vars are width; did you mean width?"),
    ("alias off the choices", HEAD + "vars: {depth: 2}\nchoices: {depth: [1, 2]}\naliases:\n  deep: {depth: 7}\n"
     "network: []\n", 6, "aliases.deep.depth", "var 'depth' must be one of 1, 2; got 7"),
    ("block library built", "blocks:\n  b:\n    body: []\n", 1, None,
     "this file declares blocks but no network: a block library is imported by a spec"),
    ("no input", "network: []\n", 1, "input", "a spec needs 'input: [channels, height, width]'"),
    ("no network", "input: [3, 8, 8]\n", 1, "network", "a spec needs 'network': a list of items"),
    ("functional block", HEAD + "network:\n  - conv_bn_act: {out: 8}\n    functional: true\n", 5, "network[0]",
     "functional applies to one op; 'conv_bn_act' is not an op"),
    ("inline op", HEAD + "network:\n  - relu: {}\n    inline: true\n", 5, "network[0]", "op 'relu' has none: drop it"),
    ("flag as a string", HEAD + "network:\n  - seq: [{relu: {}}]\n    inline: 'false'\n", 5, "network[0]",
     "inline must be true or false, got 'false'"),
    ("functional op named", HEAD + "network:\n  - flatten: {}\n    name: flat\n", 5, "network[0].flatten",
     "a functional op is a call, with no module to name (op 'flatten' is one unless 'functional: false')"),
    ("meta key misspelt", HEAD + "network:\n  - relu: {}\n    repeats: 2\n", 4, "network[0]",
     "found relu, repeats; did you mean repeat?"),
    ("foreach key misspelt", HEAD + "network:\n  - foreach: [1]\n    ass: r\n    do: [{relu: {}}]\n", 5, "network[0]",
     "unexpected key 'ass' in foreach; allowed: foreach, as, index, do, if, doc; did you mean as?"),
    ("index not a name", HEAD + "network:\n  - foreach: [1]\n    index: 3\n    do: [{relu: {}}]\n", 5,
     "network[0].foreach.index", "index 3 is not a name an expression can use"),
    ("loop variable in", HEAD + "network:\n  - foreach: [1]\n    as: in\n    do: [{relu: {}}]\n", 5,
     "network[0].foreach.as", "loop variable 'in' is taken"),
    ("name template unquoted", HEAD + "network:\n  - relu: {}\n    name: {k}\n", 5, "network[0].relu.name",
     'a name is a word, got a mapping; quote a template that starts with a brace: name: "{k}"'),
    ("spec var in a block", HEAD + "vars: {width: 1.0}\nblocks:\n  b:\n    body: [{conv: {out: 8 * width, kernel: 1}}]\n"
     "network:\n  - b: {}\n", 6, "blocks.b.body[0].conv.out",
     "never the spec's vars: pass width as an argument (in b called at "),
    ("bare word for a required argument", HEAD + "blocks:\n  b:\n    args: {fn: ~}\n    body: [{act: {fn: fn}}]\n"
     "network:\n  - b: {fn: relu}\n", 8, "network[0].b.fn",
     "a required argument takes no bare word: quote it, \"'relu'\", or give the argument a string default"),
    ("aux position skipped", HEAD + "network:\n  - seq: [{flatten: {}}, {linear: {out: 3}}]\n    aux: 2\n  - flatten: {}\n",
     5, "network[0]", "aux 2 leaves position 1 of the training-mode outputs empty; number the auxiliary outputs 1, 2"),
    # names a module cannot take: compiled, each broke the network (eval() failed, self.class did not parse)
    ("name of a module attribute", HEAD + "network:\n  - relu: {}\n    name: training\n", 5, "network[0].relu.name",
     "name 'training' is taken: it is an attribute of every torch module (torch.fx.GraphModule); choose another"),
    ("name of a method", HEAD + "network:\n  - seq: [{relu: {}, name: forward}]\n", 4, "network[0].seq[0].relu.name",
     "name 'forward' is taken: it is an attribute of every torch module"),
    ("keyword as a name", HEAD + "network:\n  - conv: {out: 8, kernel: 3}\n    name: class\n", 5,
     "network[0].conv.name", "name 'class' is taken: it is a Python keyword; choose another"),
    ("misspelt padding", HEAD + "network:\n  - conv: {out: 8, kernel: 3, padding: sme}\n", 4, "network[0].conv.padding",
     "expected an integer, a pair [h, w] or one of auto, same, valid, got 'sme'; did you mean same?"),
    ("misspelt activation", HEAD + "network:\n  - act: {fn: gleu}\n", 4, "network[0].act.fn",
     "got 'gleu'; did you mean gelu?"),
    ("var read above its line", HEAD + "vars:\n  c: d * 2\n  d: 8\nnetwork: []\n", 4, "vars.c",
     "var 'c' reads 'd', which is declared below it (line 5); vars are computed top to bottom: move d up"),
    ("var names a var below", HEAD + "vars:\n  c: d\n  d: 8\nnetwork: []\n", 4, "vars.c",
     "var 'c' reads 'd', which is declared below it (line 5)"),  # not the bare word 'd'
    ("var reads itself", HEAD + "vars:\n  c: c * 2\nnetwork: []\n", 4, "vars.c", "var 'c' reads itself"),
    ("let value read above its line", HEAD + "blocks:\n  b:\n    let:\n      x: y + 1\n      y: 2\n    body: []\n"
     "network:\n  - b: {}\n", 6, "blocks.b.let.x", "let value 'x' reads 'y', which is declared below it (line 7)"),
    ("arguments not a mapping", HEAD + "blocks:\n  b:\n    args: [out]\n    body: []\nnetwork: []\n", 5,
     "blocks.b.args", "expected a mapping of arguments, got a list"),
    ("body not a list", HEAD + "blocks:\n  b:\n    body: {relu: {}}\nnetwork: []\n", 5, "blocks.b.body",
     "a block needs a 'body': a list of items, got a mapping"),
    ("arguments not indented", HEAD + "network:\n  - conv:\n    out: 8\n    kernel: 3\n", 4, "network[0]",
     "conv has no arguments, with its out, kernel beside it: indent its arguments under conv, deeper than it"),
    ("misspelt meta key beside an op without arguments", HEAD + "network:\n  - relu:\n    repaet: 2\n", 4,
     "network[0]", "found relu, repaet; did you mean repeat?"),
    ("empty item", HEAD + "network:\n  -\n  - relu: {}\n", 4, "network[0]",
     "expected a mapping with one op or block, got nothing (an empty '-')"),
    ("no branches", HEAD + "network:\n  - add: []\n", 4, "network[0].add", "add needs a list of branches, got an empty list"),
    ("anchor defined twice", HEAD + "network:\n  - conv: &c {out: 8, kernel: 3}\n  - conv: &c {out: 4, kernel: 1}\n",
     5, None, "invalid YAML: anchor &c is defined twice (first at line 4); give each anchor a name of its own"),
    ("alias before its anchor", HEAD + "network:\n  - relu: *r\n  - relu: &r {}\n", 4, None,
     "invalid YAML: alias *r names no anchor above it: an alias repeats a value marked &r earlier in the same file"),
    ("operator not in the language", HEAD + "network:\n  - conv: {kernel: 3, out: '~8'}\n", 4, "network[0].conv.out",
     "'~8' uses an operator expressions do not have; they have + - * / // % **, == != < <= > >=, and, or, not"),
    ("self as a name", HEAD + "network:\n  - relu: {}\n    name: \"{'self'}\"\n", 5, "network[0].relu.name",
     "name 'self' is taken: it is how the generated forward() calls its module; choose another"),
]


@pytest.mark.parametrize("case, text, line, path, message", CASES, ids=[c[0] for c in CASES])
def test_bad_spec_names_file_line_and_place(write_spec: Callable[..., Path], case: str, text: str,
                                            line: int, path: str | None, message: str) -> None:
    spec = write_spec(text)
    err = error_of(spec)
    assert err.file is not None and err.file.endswith("net.yaml")
    assert err.line == line, str(err)
    assert err.path == path, str(err)
    assert message in err.message, str(err)
    assert str(err).startswith(f"{err.file}:{line}: ")


def test_error_inside_a_block_names_the_call_site(write_spec: Callable[..., Path]) -> None:
    # the block computes the bad value (hidden = round(in * expand) = 0): its own line is named
    spec = write_spec(HEAD + "network:\n  - inverted_residual: {out: 8}\n  - inverted_residual: {out: 8, expand: 0.01}\n")
    err = error_of(spec)
    assert err.file.endswith("blocks.yaml")
    assert err.path == "blocks.inverted_residual.body[0].add[0].seq[0].conv_bn_act.out"
    assert err.message.startswith("expected an integer >= 1, got 0 (passed on to conv.out at ")
    assert err.message.endswith("(in inverted_residual called at " + f"{spec}:5)")


@pytest.mark.parametrize("call, path, line, op", [
    ("conv_bn_act: {out: -8}", "network[0].conv_bn_act.out", 14, "conv.out"),
    ("conv_bn_act: {out: 8, act: gleu}", "network[0].conv_bn_act.act", 17, "act.fn"),
    ("inverted_residual: {out: 8, kernel: 0}", "network[0].inverted_residual.kernel", 14, "conv.kernel"),  # two blocks down
])
def test_a_bad_argument_a_block_hands_on_is_named_at_the_caller(write_spec: Callable[..., Path], call: str,
                                                                path: str, line: int, op: str) -> None:
    spec = write_spec(HEAD + f"network:\n  - {call}\n")
    err = error_of(spec)
    assert (err.file, err.line, err.path) == (str(spec), 4, path), str(err)
    assert f"(passed on to {op} at " in err.message and err.message.endswith(f"blocks.yaml:{line})"), str(err)


SHADOWED = """input: [3, 8, 8]
blocks:
  b:
    args: {i: null}
    body:
      - conv: {out: 8, kernel: 3, stride: i}
        LOOP
network:
  - b: {i: 0}
"""


@pytest.mark.parametrize("loop, blamed", [
    ("repeat: 2", (6, "blocks.b.body[0].conv.stride")),  # i is the repeat's index, 0 first
    ("if: true", (9, "network[0].b.i")),  # no loop: the caller's 0, handed on
])
def test_a_block_argument_a_loop_variable_shadows_is_not_blamed_on_the_caller(
        write_spec: Callable[..., Path], loop: str, blamed: tuple[int, str]) -> None:
    err = error_of(write_spec(SHADOWED.replace("LOOP", loop)))
    assert (err.line, err.path) == blamed, str(err)


def test_a_word_given_for_a_var_is_a_word_even_where_a_var_below_has_that_name(write_spec: Callable[..., Path]) -> None:
    """Only the file's own values are faulted for reading a var below them: the caller's word is
    not in the file, and nothing there is out of order."""
    spec = write_spec(HEAD + "vars: {act: relu, b: 3}\nnetwork: []\n")
    assert nasblocks.load(spec, act="b").vars["act"] == "b"


def test_unknown_var_override(write_spec: Callable[..., Path]) -> None:
    spec = write_spec(HEAD + "vars: {width: 1.0}\nnetwork: []\n")
    with pytest.raises(SpecError, match="unknown var 'widht'; this spec's vars are width; did you mean width"):
        nasblocks.load(spec, widht=2)
    with pytest.raises(SpecError, match="var 'width' expects float, got 'wide'"):
        nasblocks.load(spec, width="wide")
    with pytest.raises(SpecError, match=r"unknown var 'width'; this spec has no vars \(a spec declares them under 'vars'\)$"):
        nasblocks.load(write_spec(HEAD + "network: []\n", "plain.yaml"), width=0.5)


EMPTY = "empty file: a spec is a YAML mapping with at least 'input' and 'network'"


@pytest.mark.parametrize("content, message", [
    (b"", EMPTY),
    (b"   \n\n", EMPTY),
    (b"# comments only\n", EMPTY),
    (b"\x00\x01binary", "not a text file (it contains NUL bytes)"),
    ("input: [3, 8, 8]\n".encode("utf-16"), "UTF-16 text; a spec is UTF-8: save the file as UTF-8"),
    ("input: [3, 8, 8]\n".encode("utf-32"), "UTF-32 text; a spec is UTF-8: save the file as UTF-8"),
    (b"\xff\xfe\xfa", "not UTF-8 text (byte 0)"),
    (b"a: 1\n" * 300_000, "file is 1,500,000 bytes; a spec must be under 1,048,576"),
])
def test_unreadable_files_are_named(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    with pytest.raises(SpecError) as caught:
        nasblocks.load(path)
    assert str(caught.value) == f"{path}: {message}"


def test_an_empty_library_or_space_is_named_for_what_it_must_hold(write_spec: Callable[..., Path]) -> None:
    write_spec("", "empty.yaml")
    spec = write_spec(HEAD.replace("[blocks.yaml]", "[empty.yaml]") + "network: []\n")
    with pytest.raises(SpecError) as caught:
        nasblocks.load(spec)
    assert str(caught.value) == f"{spec}:1: imports[0]: a block library must be a YAML mapping with 'blocks'"
    space = write_spec("", "space.yaml")
    with pytest.raises(SpecError) as caught:
        load_space(space)
    assert str(caught.value) == f"{space}:1: a search space must be a YAML mapping with 'base' and 'vars'"


def test_missing_file_and_unknown_name() -> None:
    with pytest.raises(SpecError) as caught:
        nasblocks.load("nope.yaml")
    assert str(caught.value) == "nope.yaml: file not found"
    with pytest.raises(SpecError) as caught:
        nasblocks.load("mobilenetv2")
    assert str(caught.value) == ("no spec file or zoo network named 'mobilenetv2'; "
                                 "did you mean mobilenet_v2, mobilenet_v3, mobilenet_v1?")
    for empty in ("", " "):  # an unset $SPEC (Path("") is ".", this folder: not a file)
        with pytest.raises(SpecError) as caught:
            nasblocks.load(empty)
        assert str(caught.value) == f"expected a spec file's path or a zoo name, got {empty!r}"


@pytest.mark.parametrize("path", ["specs/mobilenet_v2.yaml", "elsewhere/squeezenet.yaml"])
def test_a_shipped_spec_file_missing_here_names_the_zoo_name_that_loads_it(
        path: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)  # outside the repository, as after pip install
    with pytest.raises(SpecError) as caught:
        nasblocks.load(path)
    name = Path(path).stem
    assert str(caught.value) == f"{path}: file not found; the zoo name {name} loads nasblocks' own {name}.yaml"


def test_explosive_specs_are_refused_quickly(write_spec: Callable[..., Path], alarm: None) -> None:
    # a YAML alias bomb: each level refers to the previous one ten times
    levels = ["a0: &a0 [{relu: {}}]"] + [f"a{i}: &a{i} [{', '.join(['{seq: *a%d}' % (i - 1)] * 10)}]" for i in range(1, 9)]
    text = HEAD + "vars:\n  " + "\n  ".join(levels) + "\nnetwork:\n  - seq: *a8\n"
    spec = write_spec(text)
    with pytest.raises(SpecError, match=r"net.yaml:9: this value holds more than 100,000 values once its aliases "
                                        r"are expanded \(633,331\)"):
        nasblocks.expand(nasblocks.load(spec))


def test_a_network_larger_than_memory_is_one_error_naming_its_largest_layer(write_spec: Callable[..., Path]) -> None:
    spec = write_spec(HEAD + "network:\n  - flatten: {}\n  - linear: {out: 10000000000}\n    name: fc\n")
    with pytest.raises(SpecError) as caught:
        nasblocks.build(spec)  # before torch allocates 123 TB (a traceback) or the kernel kills the process
    message = str(caught.value)
    assert message.startswith(f"{spec}:5: network[1].linear: the network's 30,730,000,000,000 parameters take "
                              "122.9 TB as float32, more than this machine's memory (") and message.endswith(
        "); this layer (fc) holds 30,730,000,000,000 of them"), message
    with pytest.raises(SpecError, match=r"^\S+blocks.yaml:\d+: blocks.conv_bn_act.body\[0\].conv: the network's .* "
                                        r"this layer \(features.18.0\) holds .* \(in conv_bn_act called at "
                                        r"\S+mobilenet_v2.yaml:\d+\)$"):
        nasblocks.build(nasblocks.load("mobilenet_v2", width=300))  # inside a block: the call that led there


CLI_SPEC = HEAD + "vars: {width: 1.0}\nnetwork:\n  - conv: {out: 8, kernel: 7, stride: 8, padding: 0}\n" \
    "  - conv: {out: 8, kernel: 7, padding: 0}\n"


@pytest.mark.parametrize("args, message", [
    (["build", "{spec}"], "kernel 7 (extent 7) is larger than the padded input 4"),
    (["build", "{spec}", "--set", "width"], "--set 'width': expected NAME=VALUE"),
    (["build", "{spec}", "--set", "widht=2"], "unknown var 'widht'"),
    (["build", "{spec}", "--input", "3x0"], "--input '3x0': expected CxHxW"),
    (["build", "missing.yaml"], "missing.yaml: file not found"),
])
def test_cli_prints_one_line_and_exits_2(write_spec: Callable[..., Path], monkeypatch: pytest.MonkeyPatch,
                                         capsys: pytest.CaptureFixture[str], args: list[str], message: str) -> None:
    spec = write_spec(CLI_SPEC)
    monkeypatch.setattr(sys, "argv", ["nasblocks", *[a.format(spec=spec) for a in args]])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and message in lines[0], lines


def test_cli_subprocess_has_no_traceback(write_spec: Callable[..., Path]) -> None:
    spec = write_spec(CLI_SPEC)
    done = subprocess.run([sys.executable, "-m", "nasblocks", "build", str(spec)], capture_output=True,
                          text=True, cwd=spec.parent)
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"error: {spec.name}:6: network[1].conv: kernel 7")


def test_var_choices_refuse_a_misspelt_value(write_spec: Callable[..., Path]) -> None:
    spec = write_spec(HEAD + "vars: {block: basic}\nchoices: {block: [basic, bottleneck]}\nnetwork: []\n")
    assert nasblocks.load(spec, block="bottleneck").vars["block"] == "bottleneck"
    with pytest.raises(SpecError) as caught:
        nasblocks.load(spec, block="bottlenek")
    assert str(caught.value).endswith("net.yaml:3: vars.block: var 'block' must be one of basic, bottleneck; "
                                      "got 'bottlenek'; did you mean bottleneck?")


def test_a_merge_names_its_branches_shapes_once(write_spec: Callable[..., Path]) -> None:
    spec = write_spec(HEAD + "network:\n  - add:\n      - conv: {kernel: 3, out: 8}\n      - conv: {kernel: 3, out: 16}\n")
    assert error_of(spec).message == "add needs equal shapes, got 8×32×32, 16×32×32"


def test_a_network_spec_imported_as_a_library_names_the_import(write_spec: Callable[..., Path]) -> None:
    write_spec("vars: {width: 1.0}\nblocks: {}\n", name="lib.yaml")
    spec = write_spec("imports: [lib.yaml]\ninput: [3, 8, 8]\nnetwork: []\n")
    err = error_of(spec)
    assert err.file.endswith("lib.yaml") and err.line == 1 and err.path == "vars"
    assert err.message == (f"unknown key 'vars' in a block library (imported at {spec}:1); a library holds only "
                           "description, imports, blocks")
