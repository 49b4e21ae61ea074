"""Expansion: a bound spec becomes a graph of primitive ops with shapes and costs.

An item of a sequence is a mapping with one *head* — an op (``conv: {...}``), a block
(``inverted_residual: {...}``), a composite (``seq``, ``concat``, ``add``, ``mul``: lists of
items; the last three run their items as parallel branches on the same input and merge them) or
a ``foreach`` over rows — and optional meta keys:

- ``name``: the item's module name; ``{expr}`` inside it is evaluated (``layer{k + 1}``).
  Without it an item is named by its position among the items present, as in ``nn.Sequential``.
- ``if``: skip the item when false. ``repeat``: splice the item n times, with ``i`` its index.
- ``functional``: compile an op as a call instead of a submodule (no name, no position).
- ``inline``: put a block's or composite's children in the enclosing scope.
- ``aux``: a training-only side output at that position of the training-mode outputs
  (GoogLeNet's and Inception v3's auxiliary classifiers); the main flow skips it.
- ``init``: an op's own initialisation rule, instead of the spec's for its kind (``_init``).

Every error names the file, line and path of the YAML that caused it; inside a block, the call
sites are added (``in inverted_residual called at specs/mobilenet_v2.yaml:40``). A bad value a
block hands on unchanged from its caller (``conv: {out: out}``) is named at the caller's argument.
"""

from __future__ import annotations

import keyword
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from nasblocks._expr import ExprError, bare_name, input_env
from nasblocks._fragments import CACHE, fragment_key, node_base, record, remember, replay
from nasblocks._graph import INPUT, Calls, Graph, Node
from nasblocks._init import OP_KINDS, check_rule, check_rules
from nasblocks._op_args import REQUIRED, ArgError
from nasblocks._ops import REGISTRY, OpDef, ShapeError
from nasblocks._shape import fmt_shape
from nasblocks._spec import RESERVED, BlockDef, Spec, check_name, fail, read_order, resolve, suggest
from nasblocks._yaml import YList, YMap
from nasblocks._yaml import kind as yaml_kind  # `kind` names a composite's kind here
from nasblocks.errors import SpecError

META = ("name", "if", "repeat", "functional", "inline", "aux", "doc", "init")
FOREACH = ("foreach", "as", "index", "do")
MAX_NODES = 20_000
MAX_REPEAT = 10_000
MAX_DEPTH = 48
_TEMPLATE = re.compile(r"\{([^{}]*)\}")
_NAME = re.compile(r"[0-9A-Za-z_]+")
FLAGS = ("functional", "inline")


@cache
def _taken_names() -> frozenset[str]:
    """The names no module may take: Python's keywords (``self.class`` does not parse), ``self``
    and the attributes of a GraphModule and of the plain modules inside it (``training``,
    ``forward``, ``eval``, ``code``, ``_modules``), which a submodule would hide or fail to set."""
    import torch.fx
    from torch import nn

    return frozenset({*keyword.kwlist, "self", *dir(torch.fx.GraphModule(nn.Module(), torch.fx.Graph()))})


@dataclass
class Scope:
    """A module namespace: its dotted prefix, the next free position and the names taken."""

    prefix: str
    position: int = 0

    def __post_init__(self) -> None:
        self.taken: set[str] = set()

    def child(self, name: str) -> str:
        return f"{self.prefix}.{name}" if self.prefix else name


class Place:
    """Where an item sits: its container and key (for file and line), its path in the spec, and
    the block calls that led there. The path is joined only when an error needs it: expansion
    creates a Place per item and argument, and most are never printed."""

    __slots__ = ("container", "key", "parent", "suffix", "calls")

    def __init__(self, container: YMap | YList, key: Any, suffix: str, parent: Place | None = None,
                 calls: tuple[tuple[str, str], ...] = ()) -> None:
        self.container, self.key, self.suffix, self.parent, self.calls = container, key, suffix, parent, calls

    @property
    def path(self) -> str:
        return self.suffix if self.parent is None else self.parent.path + self.suffix

    def error(self, message: str, key: Any = None, container: YMap | YList | None = None) -> SpecError:
        trail = "".join(f" (in {block} called at {site})" for block, site in reversed(self.calls))
        if container is None:
            return fail(message + trail, self.container, self.key, self.path)
        return fail(message + trail, container, key, self.path)

    def origin(self) -> str:
        return f"{self.container.file}:{self.container.line_of(self.key)}"

    def at(self, container: YMap | YList, key: Any, suffix: str) -> Place:
        return Place(container, key, suffix, self, self.calls)


class _LoopEnv(dict):  # type: ignore[type-arg]
    """The names a repeated or foreach item's children see: those around it with its loop
    variables bound over them, and which names loops have bound since the block was entered
    (``rebound``), so that a block argument a loop variable shadows is not blamed on the caller."""

    def __init__(self, env: Mapping[str, Any], bound: Mapping[str, Any]) -> None:
        super().__init__({**env, **bound})
        self.rebound: frozenset[str] = getattr(env, "rebound", frozenset()) | frozenset(bound)


class Expander:
    """Walks a spec's items depth-first, adding one node per primitive op to a Graph."""

    def __init__(self, spec: Spec) -> None:
        self.spec = spec
        self.graph = Graph(spec.name, spec.input)
        self._names: dict[str, int] = {}
        self._training_only = 0
        self._aux_at: dict[int, tuple[Place, YMap]] = {}  # each auxiliary output's position: its item
        # where the walk is (Where): the block calls it is inside, and the repeat index of each
        # enclosing repeated item inside the innermost one
        self._calls: Calls = ()
        self._repeats: tuple[int, ...] = ()
        # the arguments the innermost block was given by its caller, each one's place there: a
        # bad value the block hands on unchanged is blamed on the caller
        self._given: dict[str, Place] = {}

    def run(self) -> Graph:
        document = self.spec.document
        env = {**self.spec.vars, **input_env(self.spec.input)}
        place = Place(document, "network", "network")
        self.graph.init = check_rules(document.get("init"), document, lambda value: resolve(value, env, words=True))
        self.graph.output = self.sequence(document["network"], place, env, INPUT, Scope(""), ())
        for expected, position in enumerate(sorted(self._aux_at), 1):
            if position != expected:  # the training-mode outputs are a tuple: a gap would shift the heads after it
                at, item = self._aux_at[position]
                raise at.error(f"aux {position} leaves position {expected} of the training-mode outputs empty; "
                               "number the auxiliary outputs 1, 2, ... (an 'if' may have dropped one)", "aux", item)
        return self.graph

    # --- structure ------------------------------------------------------------------------------

    def sequence(self, items: Any, place: Place, env: Mapping[str, Any], x: str, scope: Scope,
                 stack: tuple[str, ...]) -> str:
        if not isinstance(items, YList):
            raise place.error(f"expected a list of items, got {yaml_kind(items)}")
        for index, item in enumerate(items):
            out = self.item(item, place.at(items, index, f"[{index}]"), env, x, scope, stack)
            x = x if out is None else out
        return x

    def item(self, item: Any, place: Place, env: Mapping[str, Any], x: str, scope: Scope,
             stack: tuple[str, ...]) -> str | None:
        """Expand one item (all its repeats); None when it was skipped entirely."""
        if not isinstance(item, YMap):
            got = "nothing (an empty '-')" if item is None else repr(item)
            raise place.error(f"expected a mapping with one op or block, got {got}")
        head = self._head(item, place)
        for flag in FLAGS:
            if flag in item and not isinstance(item[flag], bool):
                raise place.error(f"{flag} must be true or false, got {item[flag]!r}", flag, item)
        count = self._count(item, place, env) if "repeat" in item else None
        produced = None
        outer = self._repeats
        for i in range(1 if count is None else count):
            local = env if count is None else _LoopEnv(env, {"i": i})
            self._repeats = outer if count is None else (*outer, i)
            if "if" in item and not self.value(item["if"], local, place.at(item, "if", ".if")):
                continue
            if "aux" in item:
                self.auxiliary(item, head, place, local, x, scope, stack)
                produced = x
            else:
                produced = x = self.single(head, item, place, local, x, scope, stack)
        self._repeats = outer
        return produced

    def auxiliary(self, item: YMap, head: str, place: Place, env: Mapping[str, Any], x: str,
                  scope: Scope, stack: tuple[str, ...]) -> None:
        """A training-only side output (an auxiliary classifier): it reads the current value,
        its output joins the training-mode outputs at position ``aux`` (1 = right after the
        main output), and the main flow goes on from its input. Its parameters count; its
        multiply-adds do not, since the reference figures are for inference."""
        position = self.value(item["aux"], env, place.at(item, "aux", ".aux"))
        taken = {p for p, _ in self.graph.aux_outputs}
        if isinstance(position, bool) or not isinstance(position, int) or position < 1 or position in taken:
            raise place.error(f"aux must be a free output position (1, 2, ...), got {position!r}",
                              "aux", item)
        self._training_only += 1
        try:
            out = self.single(head, item, place, env, x, scope, stack)
        finally:
            self._training_only -= 1
        self.graph.aux_outputs.append((position, out))
        self._aux_at[position] = (place, item)

    def _head(self, item: YMap, place: Place) -> str:
        if "foreach" in item:
            allowed = (*FOREACH, "if", "doc")
            for key in item:
                if key not in allowed:
                    raise place.error(f"unexpected key {key!r} in foreach; allowed: "
                                      f"{', '.join(allowed)}{suggest(key, allowed)}", key, item)
            return "foreach"
        heads = [k for k in item if k not in META]
        named = [k for k in heads if k in REGISTRY or k in self.spec.blocks]
        beside = [str(k) for k in heads if k not in named]
        if len(named) == 1 and beside and item[named[0]] is None and \
                set(beside) <= set(REGISTRY[named[0]].params if named[0] in REGISTRY else
                                   self.spec.blocks[named[0]].args):  # `conv:` with its arguments beside it
            raise place.error(f"{named[0]} has no arguments, with its {', '.join(beside)} beside it: indent its "
                              f"arguments under {named[0]}, deeper than it")
        if len(heads) != 1:
            found = ", ".join(map(str, heads)) or "none"
            unknown = [k for k in heads if k not in REGISTRY and k not in self.spec.blocks]
            hint = suggest(unknown[0], META) if unknown else ""
            raise place.error("an item needs exactly one op, block, seq, concat, add, mul or "
                              f"foreach (meta keys: {', '.join(META)}); found {found}{hint}")
        return str(heads[0])

    def _count(self, item: YMap, place: Place, env: Mapping[str, Any]) -> int:
        count = self.value(item["repeat"], env, place.at(item, "repeat", ".repeat"))
        if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_REPEAT:
            raise place.error(f"repeat must be an integer from 0 to {MAX_REPEAT:,}, got {count!r}",
                              "repeat", item)
        return count

    def single(self, head: str, item: YMap, place: Place, env: Mapping[str, Any], x: str,
               scope: Scope, stack: tuple[str, ...]) -> str:
        inner = place.at(item, head, f".{head}")
        if head == "foreach":
            return self.foreach(item, inner, env, x, scope, stack)
        if head in REGISTRY and head not in RESERVED:
            if item.get("inline"):
                raise place.error(f"inline puts a block's or composite's children in the enclosing "
                                  f"scope; op {head!r} has none: drop it", "inline", item)
            return self.op(REGISTRY[head], item, inner, env, x, scope)
        if "init" in item and (head in RESERVED or head in self.spec.blocks):
            raise place.error(f"init gives an op's layers their initialisation; {head!r} is not an op: put "
                              "'init' on its ops, or give every layer of a kind one under the spec's 'init'",
                              "init", item)
        if item.get("functional") and (head in RESERVED or head in self.spec.blocks):
            raise place.error(f"functional applies to one op; {head!r} is not an op: put "
                              "'functional: true' on its ops", "functional", item)
        if head in RESERVED:
            child = self.enter(item, place, env, scope)
            return self.composite(head, item[head], inner, env, x, child, stack)
        if head in self.spec.blocks:
            child = self.enter(item, place, env, scope)
            if child is not scope and not self._calls:  # a block of the network's own: a row of the build table
                self.graph.block_scopes.add(child.prefix)
            return self.block(self.spec.blocks[head], item[head], inner, env, x, child, stack,
                              cacheable=child is not scope)
        known = [*REGISTRY, *self.spec.blocks, *RESERVED]
        raise place.error(f"unknown op or block {head!r}{suggest(head, known)}", head, item)

    def enter(self, item: YMap, place: Place, env: Mapping[str, Any], scope: Scope) -> Scope:
        """The scope a block or composite puts its children in (its own, unless inline)."""
        if item.get("inline"):
            if "name" in item:
                raise place.error("an inline item has no name of its own", "name", item)
            return scope
        return Scope(scope.child(self.name_in(scope, item, place, env)))

    def name_in(self, scope: Scope, item: YMap, place: Place, env: Mapping[str, Any]) -> str:
        """Claim the item's name in ``scope``: its ``name`` (templated) or its position."""
        if "name" in item:
            name = self._template(item["name"], env, place.at(item, "name", ".name"))
        else:
            name = str(scope.position)
        scope.position += 1
        if name in scope.taken:
            raise place.error(f"name {name!r} is already used in {scope.prefix or 'the network'}",
                              "name" if "name" in item else None, item)
        scope.taken.add(name)
        self.graph.placed.append((scope.child(name), (self._calls, place, self._repeats)))
        return name

    def _template(self, raw: Any, env: Mapping[str, Any], place: Place) -> str:
        if isinstance(raw, (YMap, YList)):
            raise place.error(f"a name is a word, got {yaml_kind(raw)}; quote a template that starts "
                              'with a brace: name: "{k}"')
        text = str(raw)
        try:
            name = _TEMPLATE.sub(lambda m: str(resolve(m.group(1), env)), text)
        except ExprError as err:
            raise place.error(str(err)) from None
        if not _NAME.fullmatch(name):
            raise place.error(f"a name must be an identifier or a number, got {name!r}")
        if name in _taken_names():
            why = ("a Python keyword" if keyword.iskeyword(name) else "how the generated forward() calls its module"
                   if name == "self" else "an attribute of every torch module (torch.fx.GraphModule)")
            raise place.error(f"name {name!r} is taken: it is {why}; choose another")
        return name

    def foreach(self, item: YMap, place: Place, env: Mapping[str, Any], x: str, scope: Scope,
                stack: tuple[str, ...]) -> str:
        rows = self.value(item["foreach"], env, place)
        if not isinstance(rows, list):
            raise place.error(f"foreach needs a list, got {rows!r}")
        names = item.get("as", "row")
        names = names if isinstance(names, list) else [names]
        if not all(isinstance(n, str) and n.isidentifier() for n in names):
            raise place.error(f"'as' must name one variable or a list of them, got {names!r}", "as", item)
        for name in names:
            check_name(name, "loop variable", item, "as", f"{place.path}.as")
        if "index" in item:
            check_name(item["index"], "index", item, "index", f"{place.path}.index")
        if "do" not in item:
            raise place.error("foreach needs 'do': the items to repeat per row")
        for k, row in enumerate(rows):
            if len(names) > 1 and (not isinstance(row, list) or len(row) != len(names)):
                raise place.error(f"row {k} has {row!r}; expected {len(names)} values for "
                                  f"{', '.join(names)}")
            bound = dict(zip(names, row if len(names) > 1 else [row]))
            if "index" in item:
                bound[str(item["index"])] = k
            local = _LoopEnv(env, bound)
            x = self.sequence(item["do"], place.at(item, "do", f"[{k}].do"), local, x, scope, stack)
        return x

    def composite(self, kind: str, branches: Any, place: Place, env: Mapping[str, Any], x: str,
                  scope: Scope, stack: tuple[str, ...]) -> str:
        if kind == "seq":
            return self.sequence(branches, place, env, x, scope, stack)
        if not isinstance(branches, YList) or not branches:
            got = yaml_kind(branches) if not isinstance(branches, YList) else "an empty list"
            raise place.error(f"{kind} needs a list of branches, got {got}")
        outputs = []
        for index, branch in enumerate(branches):
            out = self.item(branch, place.at(branches, index, f"[{index}]"), env, x, scope, stack)
            if out is not None:
                outputs.append(out)
        if not outputs:
            raise place.error(f"{kind} has no branch left (every branch's 'if' is false)")
        if len(outputs) == 1:
            return outputs[0]
        return self.add_node(REGISTRY[kind], {}, outputs, None, scope.prefix, place)

    def block(self, block: BlockDef, raw: Any, place: Place, env: Mapping[str, Any], x: str,
              scope: Scope, stack: tuple[str, ...], cacheable: bool) -> str:
        if block.name in stack:
            raise place.error(f"block {block.name!r} refers to itself: {' → '.join((*stack, block.name))}")
        if len(stack) >= MAX_DEPTH:
            raise place.error(f"blocks nest deeper than {MAX_DEPTH}")
        raw = self._arguments(raw, place)
        local: dict[str, Any] = dict(input_env(self.graph.shape_of(x)))
        for key in raw:
            if key not in block.args:
                raise place.error(f"unknown argument {key!r} of block {block.name!r}; it takes "
                                  f"{', '.join(block.args) or 'none'}{suggest(key, block.args)}", key, raw)
        given: dict[str, Place] = {}
        for key, default in block.args.items():
            if key in raw:
                at = place.at(raw, key, f".{key}")
                local[key] = self.value(raw[key], env, at, words=isinstance(default, str),
                                        required=default is None)
                given[key] = self._forwarded(raw[key], env) or at
            elif default is None:
                raise place.error(f"missing required argument {key!r} of block {block.name!r}")
            else:
                local[key] = self.value(default, local, Place(block.args, key, f"blocks.{block.name}.args.{key}"),
                                        words=isinstance(default, str))
        calls = (*place.calls, (block.name, place.origin()))
        for key, value in block.let.items():
            at = Place(block.let, key, f"blocks.{block.name}.let.{key}", calls=calls)
            try:
                local[key] = resolve(value, local)
            except ExprError as err:
                if err.undefined in block.let:
                    raise at.error(read_order(err.undefined, key, block.let, "let value")) from None
                raise self._expression_error(err, at) from None
        body = Place(block.where, "body", f"blocks.{block.name}.body", calls=calls)
        key = fragment_key(block, local, self._training_only > 0) if cacheable else None
        outer, repeats, handed = self._calls, self._repeats, self._given
        inside = (*outer, (place, repeats))  # the body's places are the item paths within the block
        if key is not None and key in CACHE:
            out = replay(CACHE[key], self.graph, x, scope.prefix, inside)
            if out is not None:
                return out
        since = (len(self.graph), len(self.graph.block_calls), len(self.graph.placed))
        aux = len(self.graph.aux_outputs)
        self.graph.block_calls.append(block.name)
        self._calls, self._repeats, self._given = inside, (), given
        try:
            out = self.sequence(block.body, body, local, x, scope, (*stack, block.name))
        finally:
            self._calls, self._repeats, self._given = outer, repeats, handed
        if key is not None and len(self.graph.aux_outputs) == aux:
            fragment = record(self.graph, since, len(inside), x, out, scope.prefix)
            if fragment is not None:
                remember(key, fragment)
        return out

    # --- ops --------------------------------------------------------------------------------------

    @staticmethod
    def _arguments(raw: Any, place: Place) -> YMap:
        if raw is None:
            return YMap.empty(place.container.file, place.container.line_of(place.key))
        if not isinstance(raw, YMap):
            raise place.error(f"expected a mapping of arguments, got {raw!r}")
        return raw

    def op(self, opdef: OpDef, item: YMap, place: Place, env: Mapping[str, Any], x: str,
           scope: Scope) -> str:
        raw = self._arguments(item[opdef.name], place)
        args: dict[str, Any] = {}
        for key in raw:
            if key not in opdef.params:
                allowed = ", ".join(opdef.params) or "none"
                raise place.error(f"unknown argument {key!r} of op {opdef.name!r}; it takes {allowed}"
                                  f"{suggest(key, opdef.params)}", key, raw)
        for key, param in opdef.params.items():
            if key in raw:
                try:
                    value = resolve(raw[key], env, words=param.kind in ("str", "padding"))
                except ExprError as err:
                    raise self._expression_error(err, place.at(raw, key, f".{key}")) from None
                try:
                    args[key] = param.coerce(value)
                except ArgError as err:
                    at = place.at(raw, key, f".{key}")
                    message = f"{err}{suggest(value, param.words) if isinstance(value, str) else ''}"
                    caller = self._forwarded(raw[key], env)
                    if caller is not None:  # the caller's value, handed on unchanged: the caller's mistake
                        raise caller.error(f"{message} (passed on to {opdef.name}.{key} at {at.origin()})") from None
                    raise at.error(message) from None
            elif param.default is REQUIRED:
                raise place.error(f"missing required argument {key!r} of op {opdef.name!r}")
            else:
                args[key] = None if param.default is None else param.coerce(param.default)
        functional = item.get("functional", opdef.functional)
        if functional and opdef.emit is None:
            raise place.error(f"op {opdef.name!r} has parameters or state; it cannot be functional")
        if functional and "name" in item:
            why = "" if "functional" in item else f" (op {opdef.name!r} is one unless 'functional: false')"
            raise place.error(f"a functional op is a call, with no module to name{why}; drop 'name' or "
                              "'functional'", "name", item)
        if not functional and opdef.module is None:
            raise place.error(f"op {opdef.name!r} exists only as a function; drop 'functional: false'")
        target = None if functional else scope.child(self.name_in(scope, item, place, env))
        init = None
        if "init" in item:
            if functional or opdef.name not in OP_KINDS:
                raise place.error(f"this {opdef.name} has no weights to initialise; drop 'init'", "init", item)
            try:
                init = check_rule(item["init"], lambda value: resolve(value, env, words=True), OP_KINDS[opdef.name])
            except ValueError as err:
                raise place.error(str(err), "init", item) from None
        name = self.add_node(opdef, args, [x], target, target or scope.prefix, place, init)
        if init is not None and not self.graph[name].params:  # a batch norm without affine parameters
            raise place.error(f"this {opdef.name} has no weights to initialise; drop 'init'", "init", item)
        return name

    def add_node(self, opdef: OpDef, args: dict[str, Any], inputs: list[str], target: str | None,
                 scope: str, place: Place, init: dict[str, Any] | None = None) -> str:
        in_shapes = tuple(self.graph.shape_of(i) for i in inputs)
        try:
            out = opdef.shape(args, in_shapes)
        except ShapeError as err:
            if len(inputs) > 1:  # a merge: the message already shows its branches' shapes
                raise place.error(str(err)) from None
            raise place.error(f"{err} (input {fmt_shape(in_shapes[0])})") from None
        if any(d <= 0 for d in out):
            raise place.error(f"{opdef.name} would produce an empty output {fmt_shape(out)}")
        params, macs = opdef.cost(args, in_shapes, out)
        if len(self.graph) >= MAX_NODES:
            raise place.error(f"the network expands to more than {MAX_NODES:,} ops; check repeat "
                              "counts and nesting")
        name = self._unique(target or (f"{scope}.{opdef.name}" if scope else opdef.name))
        self.graph.add(Node(name, opdef.name, args, target, scope, tuple(inputs), in_shapes, out,
                            params, macs, place.origin(), self._training_only > 0, init))
        return name

    def _unique(self, dotted: str) -> str:
        base = node_base(dotted)
        count = self._names.get(base, 0)
        name = base if count == 0 else f"{base}_{count}"
        while name in self.graph:
            count += 1
            name = f"{base}_{count}"
        self._names[base] = count + 1
        return name

    def _forwarded(self, raw: Any, env: Mapping[str, Any]) -> Place | None:
        """Where the value of ``raw`` was given, when ``raw`` is the bare name of an argument the
        innermost block's caller gave (and no loop variable has since taken the name)."""
        name = bare_name(raw) if isinstance(raw, str) else None
        if name is None or name not in self._given or name in getattr(env, "rebound", ()):
            return None
        return self._given[name]

    def value(self, raw: Any, env: Mapping[str, Any], place: Place, *, words: bool = False,
              required: bool = False) -> Any:
        """Evaluate ``raw``; ``required`` marks a required block argument, which takes no bare word."""
        try:
            return resolve(raw, env, words=words)
        except ExprError as err:
            error = self._expression_error(err, place)
            if required and raw == err.undefined:
                error = place.error(f"{err}; a required argument takes no bare word: quote it, "
                                    f"\"'{raw}'\", or give the argument a string default")
            raise error from None

    def _expression_error(self, err: ExprError, place: Place) -> SpecError:
        """The expression's error at ``place``; a spec var read inside a block says why it fails."""
        name = err.undefined
        if name in self.spec.vars and place.path.startswith("blocks."):
            return place.error(f"{err}; a block sees only its arguments, let values and input, never "
                               f"the spec's vars: pass {name} as an argument")
        return place.error(str(err))


def expand(spec: Spec) -> Graph:
    """Expand a spec into its graph of primitive ops, shapes and costs (no torch involved).

    >>> graph = expand(load("mobilenet_v2"))
    >>> graph.macs
    300774272
    """
    return Expander(spec).run()
