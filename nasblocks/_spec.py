"""Loading a spec: a YAML file (or a zoo name) plus values for its vars is one network.

A spec file has these top-level keys (anything else is an error)::

    name: mobilenet_v2                 # defaults to the file's stem
    reference: torchvision.models.mobilenet_v2
    description: ...
    imports: [blocks.yaml]             # block libraries, relative to this file, then specs/
    vars: {width: 1.0, ...}            # defaults; expressions may use earlier vars
    choices: {block: [basic, bottleneck]}   # the values a var may take, where that is a short list
    input: [3, 224, 224]               # C, H, W; expressions allowed
    blocks: {name: {args, let, body}}  # blocks declared in this file
    aliases: {mobilenet_v2_x0_5: {width: 0.5}}   # zoo names for var settings
    network: [items...]                # the top-level sequence
"""

from __future__ import annotations

import difflib
import importlib.resources
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from nasblocks._expr import ExprError, bare_name, evaluate
from nasblocks._ops import REGISTRY
from nasblocks._shape import Shape
from nasblocks._yaml import YList, YMap, display_path, kind, read_yaml
from nasblocks.errors import SpecError

SPEC_KEYS = ("name", "description", "reference", "imports", "vars", "choices", "input", "blocks",
             "aliases", "init", "network")
BLOCK_KEYS = ("doc", "args", "let", "body")
RESERVED = frozenset({"seq", "concat", "add", "mul", "foreach"})
LIBRARY_KEYS = ("description", "imports", "blocks")
INPUT_NAMES = ("in", "in_h", "in_w")  # what expressions call the input; nothing else may take them


def shipped_dir(folder: str) -> Path:
    """A data folder shipped inside the wheel as ``nasblocks.<folder>`` — or, in a source
    checkout that was never installed (``python -m nasblocks`` from the repository), the
    repository's own folder."""
    try:
        return Path(str(importlib.resources.files(f"nasblocks.{folder}")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[1] / folder


def specs_dir() -> Path:
    """The directory holding the zoo and the block library."""
    return shipped_dir("specs")


def suggest(name: str, known: Any) -> str:
    """'; did you mean x?' for the closest known names, or ''."""
    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=3)
    return f"; did you mean {', '.join(close)}?" if close else ""


def fail(message: str, where: YMap | YList | None, key: Any = None, path: str = "") -> SpecError:
    """A SpecError located at ``where[key]`` (or at ``where`` itself)."""
    if where is None:
        return SpecError(message, path=path or None)
    line = where.line if key is None else where.line_of(key)
    return SpecError(message, file=where.file, line=line, path=path or None)


def resolve(value: Any, env: Mapping[str, Any], *, words: bool = False) -> Any:
    """Evaluate a spec value; with ``words``, a bare word not defined in ``env`` is a string,
    in a list too (``units: [v2, v2, v1]``)."""
    if words and isinstance(value, str) and bare_name(value) and value not in env:
        return value
    if words and isinstance(value, list):
        return [resolve(v, env, words=True) for v in value]
    return evaluate(value, env)


@dataclass(frozen=True)
class BlockDef:
    """A block declared in YAML: named arguments (None = required), derived values, a body."""

    name: str
    args: YMap
    let: YMap
    body: YList
    where: YMap
    doc: str = ""


@dataclass(frozen=True)
class Spec:
    """A validated spec with its vars bound: one network. Build it with ``nasblocks.build``."""

    name: str
    file: str
    document: YMap = field(repr=False)
    vars: Mapping[str, Any]
    input: Shape
    blocks: Mapping[str, BlockDef] = field(repr=False)
    overrides: Mapping[str, Any] = field(default_factory=dict, repr=False)  # vars set by the user
    input_override: Shape | None = field(default=None, repr=False)  # an input size set by the user

    def __hash__(self) -> int:
        """Specs are set members and dictionary keys (a search's candidates): equal specs hash
        alike. Equality compares the YAML document and the vars, mappings that do not hash; the
        hash reads the fields that do."""
        return hash((self.name, self.file, self.input))

    def with_vars(self, **overrides: Any) -> Spec:
        """The same spec with some vars set (unknown names are errors); vars derived from others
        by expressions follow the new values."""
        spec = _bind(self.document, self.blocks, {**self.overrides, **overrides}, self.name)
        return spec.with_input(self.input_override) if self.input_override else spec

    def with_input(self, shape: Shape) -> Spec:
        """The same network at another input size (C, H, W)."""
        shape = _check_input(list(shape) if isinstance(shape, (list, tuple)) else shape, self.document)
        return replace(self, input=shape, input_override=shape)


def _check_keys(mapping: YMap, allowed: tuple[str, ...], path: str) -> None:
    for key in mapping:
        if key not in allowed:
            raise fail(f"unknown key {key!r}; allowed: {', '.join(allowed)}{suggest(key, allowed)}",
                       mapping, key, f"{path}.{key}" if path else str(key))


def check_name(name: Any, what: str, where: YMap | YList, key: Any, path: str) -> None:
    """A name an expression will read (a var, a block argument, a let value, a loop variable)
    must be an identifier, and not one of the input's names, which it would hide or lose."""
    if not isinstance(name, str) or not name.isidentifier():
        raise fail(f"{what} {name!r} is not a name an expression can use; use letters, digits and _",
                   where, key, path)
    if name in INPUT_NAMES:
        raise fail(f"{what} {name!r} is taken: expressions read the input's channels, height and width "
                   f"as {', '.join(INPUT_NAMES)}; choose another name", where, key, path)


def _mapping(value: Any, parent: YMap, key: str, what: str, path: str = "") -> YMap:
    if value is None:
        return YMap.empty(parent.file, parent.line_of(key))
    if not isinstance(value, YMap):
        raise fail(f"expected a mapping of {what}, got {kind(value)}", parent, key, path or key)
    return value


def _block_defs(document: YMap, seen: tuple[str, ...] = ()) -> dict[str, BlockDef]:
    """The blocks a spec can use: its imports' (in order), then its own."""
    blocks: dict[str, BlockDef] = {}
    imports = document.get("imports") or YList()
    if not isinstance(imports, YList):
        raise fail("expected a list of block library files", document, "imports", "imports")
    for index, entry in enumerate(imports):
        path = _locate_import(entry, document, imports, index)
        if str(path) in seen:
            raise fail(f"import cycle through {entry!r}", imports, index, f"imports[{index}]")
        library = read_yaml(path)
        if not isinstance(library, YMap):
            raise fail("a block library must be a YAML mapping with 'blocks'", imports, index,
                       f"imports[{index}]")
        for key in library:
            if key not in LIBRARY_KEYS:
                raise fail(f"unknown key {key!r} in a block library (imported at {imports.file}:"
                           f"{imports.line_of(index)}); a library holds only {', '.join(LIBRARY_KEYS)}"
                           f"{suggest(key, LIBRARY_KEYS)}", library, key, str(key))
        for block in _block_defs(library, (*seen, str(path))).values():
            _add_block(blocks, block, imports, index, f"imports[{index}]")
    own = _mapping(document.get("blocks"), document, "blocks", "blocks")
    for name, body in own.items():
        _add_block(blocks, _block_def(name, body, own), own, name, f"blocks.{name}")
    return blocks


def _add_block(blocks: dict[str, BlockDef], block: BlockDef, where: YMap | YList, key: Any, path: str) -> None:
    """One name, one block: a second declaration would silently change every block of a library
    that calls the first, so a library would no longer mean the same thing in every spec."""
    earlier = blocks.get(block.name)
    if earlier is not None and earlier.where is not block.where:
        raise fail(f"block {block.name!r} is already declared in {earlier.where.file}; "
                   "choose another name (the blocks that call it would get this one)", where, key, path)
    blocks[block.name] = block


def _locate_import(entry: Any, document: YMap, imports: YList, index: int) -> Path:
    if not isinstance(entry, str):
        raise fail(f"expected a file name, got {entry!r}", imports, index, f"imports[{index}]")
    for base in (Path(document.file).parent, specs_dir()):
        if (base / entry).is_file():
            return base / entry
    raise fail(f"block library {entry!r} not found next to the spec or in {display_path(specs_dir())}",
               imports, index, f"imports[{index}]")


def _block_def(name: Any, body: Any, blocks: YMap) -> BlockDef:
    path = f"blocks.{name}"
    if not isinstance(name, str) or not name.isidentifier():
        raise fail(f"a block name must be an identifier, got {name!r}", blocks, name, path)
    if name in REGISTRY or name in RESERVED:
        raise fail(f"block {name!r} has the name of a built-in op; choose another", blocks, name, path)
    if not isinstance(body, YMap):
        raise fail("a block is a mapping with 'args', 'let' and 'body'", blocks, name, path)
    _check_keys(body, BLOCK_KEYS, path)
    items = body.get("body")
    if not isinstance(items, YList):
        got = f", got {kind(items)}" if "body" in body else ""
        raise fail(f"a block needs a 'body': a list of items{got}", body, "body" if "body" in body else None,
                   f"{path}.body")
    args = _mapping(body.get("args"), body, "args", "arguments", f"{path}.args")
    let = _mapping(body.get("let"), body, "let", "derived values", f"{path}.let")
    for key in args:
        check_name(key, "argument", args, key, f"{path}.args.{key}")
    for key in let:
        check_name(key, "let value", let, key, f"{path}.let.{key}")
        if key in args:
            raise fail(f"let value {key!r} would replace the argument {key!r}; give it another name",
                       let, key, f"{path}.let.{key}")
    return BlockDef(name, args, let, items, body, str(body.get("doc") or ""))


def _check_input(values: Any, document: YMap, env: Mapping[str, Any] | None = None) -> Shape:
    if values is None:
        raise fail("a spec needs 'input: [channels, height, width]'", document, None, "input")
    if not isinstance(values, list) or len(values) != 3:
        raise fail(f"expected [channels, height, width], got {values!r}", document, "input", "input")
    try:
        shape = tuple(evaluate(v, env or {}) for v in values)
    except ExprError as err:
        raise fail(str(err), document, "input", "input") from None
    if not all(isinstance(d, int) and not isinstance(d, bool) and d > 0 for d in shape):
        raise fail(f"expected three positive integers, got {list(shape)}", document, "input", "input")
    return shape


def _compatible(default: Any, value: Any) -> bool:
    """Whether an override fits a var's default: numbers stay numbers (an int where a float is
    expected is fine), booleans stay booleans; expressions and lists take anything."""
    if isinstance(default, bool) or isinstance(value, bool):
        return isinstance(default, bool) and isinstance(value, bool)
    if isinstance(default, int):
        return isinstance(value, int)
    if isinstance(default, float):
        return isinstance(value, (int, float))
    return True


def _unknown_var(name: Any, declared: YMap) -> str:
    if not declared:
        return f"unknown var {name!r}; this spec has no vars (a spec declares them under 'vars')"
    return f"unknown var {name!r}; this spec's vars are {', '.join(declared)}{suggest(name, declared)}"


def _incompatible(name: str, default: Any, value: Any) -> str:
    return f"var {name!r} expects {type(default).__name__}, got {value!r}"


def read_order(name: str, key: str, declared: YMap, what: str) -> str:
    """The message for a var or let value ``key`` whose expression reads ``name``, one of
    ``declared`` not yet computed: they are computed top to bottom, so it read itself or one below it."""
    if name == key:
        return f"{what} {key!r} reads itself; {what}s are computed top to bottom, each from those above it"
    return (f"{what} {key!r} reads {name!r}, which is declared below it (line {declared.line_of(name)}); "
            f"{what}s are computed top to bottom: move {name} up")


def _check_aliases(document: YMap) -> None:
    """Check every alias where it is written: a misspelt var in one would otherwise go unnoticed
    until someone asks for that zoo name, and forever in a spec outside the zoo."""
    aliases = _mapping(document.get("aliases"), document, "aliases", "aliases")
    declared = _mapping(document.get("vars"), document, "vars", "vars")
    choices = document.get("choices") if isinstance(document.get("choices"), YMap) else {}
    for alias, values in aliases.items():
        values = _mapping(values, aliases, alias, "var settings")
        for key, value in values.items():
            path = f"aliases.{alias}.{key}"
            if key not in declared:
                raise fail(_unknown_var(key, declared), values, key, path)
            if not _compatible(declared[key], value):
                raise fail(_incompatible(key, declared[key], value), values, key, path)
            allowed = choices.get(key)
            if isinstance(allowed, list) and value not in allowed:
                raise fail(f"var {key!r} must be one of {', '.join(map(str, allowed))}; got {value!r}",
                           values, key, path)


def _bind(document: YMap, blocks: Mapping[str, BlockDef], overrides: Mapping[str, Any], name: str) -> Spec:
    declared = _mapping(document.get("vars"), document, "vars", "vars")
    unknown = [k for k in overrides if k not in declared]
    if unknown:
        raise fail(_unknown_var(unknown[0], declared), document, "vars" if "vars" in document else None, "vars")
    choices = _mapping(document.get("choices"), document, "choices", "var choices")
    for key, allowed in choices.items():
        if key not in declared:
            raise fail(f"{key!r} is not a var; choices name vars declared under 'vars' "
                       f"({', '.join(map(str, declared)) or 'none'}){suggest(key, declared)}",
                       choices, key, f"choices.{key}")
        if not isinstance(allowed, list):
            raise fail(f"expected a list of the values var {key!r} may take, got {kind(allowed)}",
                       choices, key, f"choices.{key}")
    env: dict[str, Any] = {}
    for key, default in declared.items():
        check_name(key, "var", declared, key, f"vars.{key}")
        if key in overrides:
            value = overrides[key]
            if not _compatible(default, value):
                raise fail(_incompatible(key, default, value), declared, key, f"vars.{key}")
        else:
            value = default
        written = key not in overrides  # a value of the file's, whose order the message may fault
        if written and isinstance(value, str) and value in declared and value not in env:  # not a word: a var below
            raise fail(read_order(value, key, declared, "var"), declared, key, f"vars.{key}")
        try:
            env[key] = resolve(value, env, words=True)
        except ExprError as err:
            below = written and err.undefined in declared
            message = read_order(err.undefined, key, declared, "var") if below else str(err)
            raise fail(message, declared, key, f"vars.{key}") from None
        allowed = choices.get(key)
        if allowed is not None and env[key] not in allowed:
            raise fail(f"var {key!r} must be one of {', '.join(map(str, allowed))}; got {env[key]!r}"
                       f"{suggest(env[key], allowed)}", declared, key, f"vars.{key}")
    if "network" not in document and "input" not in document and "blocks" in document:
        raise fail("this file declares blocks but no network: a block library is imported by a spec "
                   "(imports: [file]), not built", document)
    shape = _check_input(document.get("input"), document, env)
    if "network" not in document:
        raise fail("a spec needs 'network': a list of items", document, None, "network")
    if not isinstance(document["network"], YList):
        raise fail(f"expected a list of items, got {kind(document['network'])}", document, "network", "network")
    return Spec(name, document.file, document, env, shape, blocks, dict(overrides))


@lru_cache(maxsize=None)
def _alias_index(directory: str) -> dict[str, tuple[Path, dict[str, Any]]]:
    index: dict[str, tuple[Path, dict[str, Any]]] = {}
    for path in sorted(Path(directory).glob("*.yaml")):
        document = read_yaml(path)
        if isinstance(document, YMap) and "network" in document:
            index.setdefault(str(document.get("name") or path.stem), (path, {}))
            for alias, values in (document.get("aliases") or {}).items():
                index[str(alias)] = (path, dict(values or {}))
    return index


def zoo_names() -> dict[str, tuple[Path, dict[str, Any]]]:
    """Every name ``load`` accepts besides a path: spec names and their aliases."""
    return _alias_index(str(specs_dir()))


def _missing_file(path: Path) -> None:
    """A spec file that is not there; where nasblocks ships one of that name (``nasblocks build
    specs/mobilenet_v2.yaml`` run outside the repository), the zoo name that loads it (every
    shipped spec is a zoo network under its own name)."""
    shipped = zoo_names().get(path.stem)
    hint = f"; the zoo name {path.stem} loads nasblocks' own {path.name}" \
        if shipped and shipped[0].name == path.name else ""
    raise SpecError(f"file not found{hint}", file=display_path(path))


def load(source: str | os.PathLike[str], *, input: Shape | None = None, **overrides: Any) -> Spec:
    """Load a spec from a path or a zoo name, with vars set by keyword and, with ``input``, at
    another input size (C, H, W). A mistake in the file or the values is a :class:`SpecError`.

    >>> spec = load("mobilenet_v2", width=0.75)
    >>> spec.vars["width"]
    0.75
    """
    if not isinstance(source, (str, os.PathLike)):
        hint = "; spec.with_vars(...) sets the vars of a loaded spec" if isinstance(source, Spec) else ""
        raise TypeError(f"load() expects a spec file's path or a zoo name, got {type(source).__name__}{hint}")
    if not os.fspath(source).strip():  # an unset $SPEC, which Path() would take as ".", this folder
        raise SpecError(f"expected a spec file's path or a zoo name, got {os.fspath(source)!r}")
    path = Path(source)
    name_vars: dict[str, Any] = {}
    name = None
    if not path.suffix and not path.exists():
        zoo = zoo_names()
        if str(source) not in zoo:
            raise SpecError(f"no spec file or zoo network named {str(source)!r}{suggest(source, zoo)}")
        path, name_vars = zoo[str(source)]
        name = str(source)
    elif not path.exists():
        _missing_file(path)
    document = read_yaml(path)
    if document is None:
        raise SpecError("empty file: a spec is a YAML mapping with at least 'input' and 'network'",
                        file=display_path(path))
    if not isinstance(document, YMap):
        raise SpecError(f"a spec must be a YAML mapping, got {kind(document)}",
                        file=display_path(path), line=1)
    _check_keys(document, SPEC_KEYS, "")
    _check_aliases(document)
    spec = _bind(document, _block_defs(document), {**name_vars, **overrides},
                 name or str(document.get("name") or path.stem))
    return spec.with_input(input) if input is not None else spec
