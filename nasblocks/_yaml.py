"""YAML reading that remembers where every value came from.

Mappings and sequences are loaded as ``YMap``/``YList``, which carry the line of each key or
item, so an error found much later (a shape mismatch at expand time) still names the line that
caused it — the way torch.fx keeps each node's origin in ``node.meta``. Only the safe loader is
used (a tag that would construct a Python object is an error), duplicate keys are errors (a key
written beside a merge key ``<<: *base`` replaces the merged one, as YAML has it), and
oversized or non-text files are refused before parsing. So are documents that only look small:
aliases that repeat a value into millions of values (a "billion laughs"), nesting deeper than any
spec needs, and numbers that are not finite (``.inf``, ``.nan``).
"""

from __future__ import annotations

import codecs
import math
import os
import re
from pathlib import Path
from typing import Any

import yaml

from nasblocks.errors import SpecError

MAX_BYTES = 1 << 20  # a spec is a page of text; a megabyte is already absurd
# The shipped files hold at most ~800 values, nested at most 17 deep, aliases expanded.
MAX_VALUES = 100_000
MAX_DEPTH = 64
MAX_BITS = 4096  # an integer as large as the expression language computes with

_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class YMap(dict):
    """A mapping from a YAML file, with the line of the mapping and of each key."""

    file: str = ""
    line: int = 0
    lines: dict[Any, int]

    @classmethod
    def empty(cls, file: str, line: int) -> YMap:
        """A mapping with no keys yet, placed at ``file:line``: what an omitted or empty section
        (``args:``) reads as, so errors about it still point at the spec."""
        mapping = cls()
        mapping.file, mapping.line, mapping.lines = file, line, {}
        return mapping

    def line_of(self, key: Any) -> int:
        return self.lines.get(key, self.line)


class YList(list):
    """A sequence from a YAML file, with the line of the sequence and of each item."""

    file: str = ""
    line: int = 0
    lines: list[int]

    def line_of(self, index: int) -> int:
        return self.lines[index] if 0 <= index < len(self.lines) else self.line


def kind(value: Any) -> str:
    """What a value is, in YAML's words, for messages: "a list", not "YList"."""
    if value is None:
        return "null"
    for types, name in ((YMap, "a mapping"), (YList, "a list"), (bool, "a boolean"), (str, "a string"),
                        ((int, float), "a number")):
        if isinstance(value, types):
            return name
    return type(value).__name__


class _Loader(_BaseLoader):  # type: ignore[misc, valid-type]
    file = ""


def _check_flow_scalars(loader: _Loader, node: yaml.CollectionNode) -> None:
    """Refuse an unquoted expression that YAML cut at a comma inside ``{...}`` or ``[...]``:
    ``{out: max(8, 16)}`` reads as ``out: "max(8"`` and a key ``"16)"``, which would otherwise
    surface later as an unknown argument ``'16)'``."""
    if not node.flow_style:
        return
    pairs = node.value if isinstance(node, yaml.MappingNode) else [(child,) for child in node.value]
    for child in (child for pair in pairs for child in pair):
        if (isinstance(child, yaml.ScalarNode) and not child.style and child.tag == "tag:yaml.org,2002:str"
                and child.value.count("(") != child.value.count(")")):
            raise SpecError(f"unbalanced parentheses in {child.value!r}: YAML splits {{...}} and [...] at "
                            "every comma, so quote an expression that holds one, as in "
                            '{out: "max(a, b)"}', file=loader.file, line=child.start_mark.line + 1)


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> YMap:
    written = sum(key.tag != "tag:yaml.org,2002:merge" for key, _ in node.value)
    loader.flatten_mapping(node)  # puts the pairs a merge key (<<: *base) brings in first
    merged = len(node.value) - written
    _check_flow_scalars(loader, node)
    result = YMap.empty(loader.file, node.start_mark.line + 1)
    own: set[Any] = set()  # the keys written in this mapping, which replace merged ones
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        line = key_node.start_mark.line + 1
        try:
            hash(key)
        except TypeError:
            raise SpecError("a mapping key must be a plain value", file=loader.file, line=line) from None
        if key in own:
            raise SpecError(f"duplicate key {key!r} (first at line {result.lines[key]})",
                            file=loader.file, line=line)
        if index >= merged:
            own.add(key)
        result[key] = loader.construct_object(value_node, deep=True)
        result.lines[key] = line
    return result


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> YList:
    _check_flow_scalars(loader, node)
    result = YList(loader.construct_object(child, deep=True) for child in node.value)
    result.file, result.line = loader.file, node.start_mark.line + 1
    result.lines = [child.start_mark.line + 1 for child in node.value]
    return result


def _construct_float(loader: _Loader, node: yaml.ScalarNode) -> float:
    value = loader.construct_yaml_float(node)
    if not math.isfinite(value):
        raise SpecError(f"expected a finite number, got {node.value}", file=loader.file,
                        line=node.start_mark.line + 1)
    return value


def _construct_int(loader: _Loader, node: yaml.ScalarNode) -> int:
    try:
        value = loader.construct_yaml_int(node)
    except ValueError:  # more digits than Python converts (sys.get_int_max_str_digits)
        value = None
    if value is None or value.bit_length() > MAX_BITS:
        raise SpecError(f"integer of {len(node.value):,} characters is too large (at most {MAX_BITS} bits)",
                        file=loader.file, line=node.start_mark.line + 1)
    return value


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)
_Loader.add_constructor("tag:yaml.org,2002:float", _construct_float)
_Loader.add_constructor("tag:yaml.org,2002:int", _construct_int)


def _check_extent(root: yaml.Node, file: str) -> None:
    """Refuse a document whose values, aliases expanded, are too many or nested too deep, before
    anything walks them. One pass over the composed nodes, children before parents, each node
    once (an alias is the same node again), so a billion laughs costs what its text costs."""
    values: dict[int, int] = {}
    depth: dict[int, int] = {}
    open_: set[int] = set()  # nodes whose children are being walked: an alias back to one is a cycle
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, children_done = stack.pop()
        if id(node) in values:
            continue
        if isinstance(node, yaml.MappingNode):
            children = [child for pair in node.value for child in pair]
        else:
            children = node.value if isinstance(node, yaml.SequenceNode) else []
        if not children_done:
            if id(node) in open_:
                raise SpecError("this value contains itself (an alias to an anchor it is inside of)",
                                file=file, line=node.start_mark.line + 1)
            open_.add(id(node))
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in values)
            continue
        open_.discard(id(node))
        values[id(node)] = 1 + sum(values[id(child)] for child in children)
        depth[id(node)] = 1 + max((depth[id(child)] for child in children), default=0)
        line = node.start_mark.line + 1
        if values[id(node)] > MAX_VALUES:
            raise SpecError(f"this value holds more than {MAX_VALUES:,} values once its aliases are "
                            f"expanded ({values[id(node)]:,}); a spec is far smaller", file=file, line=line)
        if depth[id(node)] > MAX_DEPTH:
            raise SpecError(f"values nested more than {MAX_DEPTH} levels deep", file=file, line=line)


def parse_yaml(text: str, file: str) -> Any:
    """Parse ``text`` with positions; YAML errors become SpecErrors naming file and line."""
    loader = _Loader(text)
    loader.file = file
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _check_extent(node, file)
        return loader.construct_document(node)
    except RecursionError:  # the pure-Python composer, where libyaml is missing, recurses
        raise SpecError(f"values nested more than {MAX_DEPTH} levels deep", file=file) from None
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        raise SpecError(f"invalid YAML: {_explain(err, text)}", file=file,
                        line=mark.line + 1 if mark else None) from None
    except yaml.YAMLError as err:
        raise SpecError(f"invalid YAML: {err}", file=file) from None
    finally:
        loader.dispose()


# the byte-order marks of text in wider units, and their bits; UTF-32's first: UTF-32-LE's begins
# with UTF-16-LE's
_WIDE_BOMS = ((codecs.BOM_UTF32_LE, 32), (codecs.BOM_UTF32_BE, 32), (codecs.BOM_UTF16_LE, 16),
              (codecs.BOM_UTF16_BE, 16))
_ANCHOR = re.compile(r"[&*]([^\s,\[\]{}]+)")  # an anchor (&name) or an alias (*name) in the text


def _explain(err: yaml.MarkedYAMLError, text: str) -> str:
    """PyYAML's message, with what a spec author needs to fix it: a tab named as such, an anchor or
    alias named (libyaml leaves the name out), and for an unclosed ``{...}`` or ``[...]`` the line
    it opened on and the quoting rule."""
    lines = text.splitlines()

    def char_at(mark: yaml.Mark | None) -> str:
        return lines[mark.line][mark.column:mark.column + 1] if mark and mark.line < len(lines) else ""

    mark, opened = err.problem_mark, err.context_mark
    if mark and char_at(mark) == "\t":
        return f"a tab at column {mark.column + 1}; YAML indents with spaces, never tabs"
    problem = " ".join(p for p in (err.context, err.problem) if p)
    anchor = _ANCHOR.match(lines[mark.line], mark.column) if mark and mark.line < len(lines) else None
    if anchor and "duplicate anchor" in problem and opened:  # libyaml's messages leave the name out
        return (f"anchor &{anchor[1]} is defined twice (first at line {opened.line + 1}); "
                "give each anchor a name of its own")
    if anchor and "undefined alias" in problem:
        return (f"alias *{anchor[1]} names no anchor above it: an alias repeats a value marked "
                f"&{anchor[1]} earlier in the same file")
    if err.context and err.context.startswith("while parsing a flow"):
        if opened and mark and opened.line != mark.line:
            problem += f" (for the {char_at(opened)} opened at line {opened.line + 1})"
        problem += "; close each {...} and [...], and quote an expression that holds a comma, [ ] or { }"
    return problem


_cache: dict[tuple[str, int, int], Any] = {}


def display_path(path: Path) -> str:
    """The path as a user would type it: relative to the working directory when inside it."""
    try:
        relative = os.path.relpath(path)
    except ValueError:
        return str(path)
    return str(path.absolute()) if relative.startswith("..") else relative


def read_yaml(path: Path) -> Any:
    """Read and parse a YAML file once per version of it (cached on path, mtime and size); an
    empty one (or one of comments only) is None."""
    shown = display_path(path)
    try:
        stat = path.stat()
    except FileNotFoundError:
        raise SpecError("file not found", file=shown) from None
    except OSError as err:
        raise SpecError(f"cannot read file: {err.strerror}", file=shown) from None
    if not path.is_file():
        raise SpecError("not a file", file=shown)
    key = (str(path.resolve()), stat.st_mtime_ns, stat.st_size)
    if key in _cache:
        return _cache[key]
    if stat.st_size > MAX_BYTES:
        raise SpecError(f"file is {stat.st_size:,} bytes; a spec must be under {MAX_BYTES:,}", file=shown)
    raw = path.read_bytes()
    wide = next((f"UTF-{bits}" for bom, bits in _WIDE_BOMS  # as Windows tools write
                 if raw.startswith(bom) and len(raw) % (bits // 8) == 0), None)
    if wide is not None:
        raise SpecError(f"{wide} text; a spec is UTF-8: save the file as UTF-8", file=shown)
    if b"\0" in raw:
        raise SpecError("not a text file (it contains NUL bytes)", file=shown)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise SpecError(f"not UTF-8 text (byte {err.start})", file=shown) from None
    _cache[key] = data = parse_yaml(text, shown)  # what an empty file should hold is the caller's to say
    return data
