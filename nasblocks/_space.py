"""Search spaces: a base spec plus domains for some of its vars.

A space file (``search_spaces/*.yaml``) has these top-level keys (anything else is an error)::

    name: mobilenet_v2
    description: ...
    base: mobilenet_v2.yaml      # the spec it varies: next to this file, then in specs/, or a zoo name
    fit: width                   # the var scaled down until a sampled structure fits the budget
    columns: {stages: [t, c, n, s]}   # names of a table's columns, for readable parameter names
    proxy_resolution: 32         # the resolution proxy training uses unless --resolution is given
    proxy_vars: {aux_logits: false}   # vars set only for proxy training (not in the trial's spec)
    recipe: {lr: 0.045, ...}     # the seed network's optimiser settings (``--recipe seed``)
    vars:                        # each var is the base's value with some leaves made domains
      width: {low: 0.35, high: 1.4, step: 0.05}
      kernels: [{choices: [3, 5, 7]}, ...]
      bneck: {by: arch, cases: {large: [...], small: [...]}}

A domain is ``{choices: [...]}`` (categorical) or ``{low: a, high: b}`` with an optional ``step``
or ``log: true`` (integer when a, b and step are integers). Any other leaf is a fixed value.
``{by: v, cases: {...}}`` searches only the case that var ``v`` selects (the other cases keep
the base spec's values): MobileNetV3's Large and Small tables are one space without sampling
the rows of the table that is not used.

Each domain is one Optuna parameter named by its place in the var: ``width``, ``kernels[2]``,
``stages[1].t``. An *assignment* maps those names to values; binding it to the base spec gives
one network (``Space.spec``), priced from its graph before anything is built.

>>> space = load_space("mobilenet_v2")
>>> spec = space.spec(space.default_params())
>>> expand(spec).macs
300774272
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasblocks._cost import Cost
from nasblocks._domain import Cases, Domain, _domains, _number, _same, _template, check_like_base, table_widths
from nasblocks._search_config import _NUMBERS, OPTIMIZERS
from nasblocks._spec import Spec, _compatible, fail, load, shipped_dir, specs_dir, suggest, zoo_names
from nasblocks._yaml import YMap, display_path, read_yaml
from nasblocks.errors import SpecError

if TYPE_CHECKING:
    import optuna

SPACE_KEYS = ("name", "description", "base", "fit", "columns", "proxy_resolution", "proxy_vars", "recipe",
              "vars")
RECIPE_KEYS = ("optimizer", "lr", "momentum", "weight_decay", "label_smoothing", "batch_size")


def spaces_dir() -> Path:
    """The directory of the shipped search spaces."""
    return shipped_dir("search_spaces")


# --- the space ------------------------------------------------------------------------------------

Pick = Callable[[Domain], Any]


@dataclass(frozen=True)
class Space:
    """A loaded search space: the base spec and, per searched var, its template of domains."""

    name: str
    file: str
    base: Spec = field(repr=False)
    templates: dict[str, Any] = field(repr=False)
    fit: str | None = None
    proxy_resolution: int | None = None
    recipe: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    overrides: dict[str, Any] = field(default_factory=dict)  # the base's vars the space fixes
    proxy_vars: dict[str, Any] = field(default_factory=dict)  # set only while proxy training
    columns: dict[str, list[str]] = field(default_factory=dict)  # a table var's column names

    @property
    def domains(self) -> list[Domain]:
        return [d for t in self.templates.values() for d in _domains(t)]

    def domain(self, name: str) -> Domain:
        for d in self.domains:
            if d.name == name:
                return d
        raise SpecError(f"space {self.name!r} has no parameter {name!r}"
                        f"{suggest(name, [d.name for d in self.domains])}")

    # sampling and binding: one walk, three ways of picking a domain's value

    def sample(self, trial: optuna.Trial) -> dict[str, Any]:
        """Suggest every parameter the trial's structure uses; returns the assignment."""
        return self._assign(lambda d: d.sample(trial))

    def default_params(self) -> dict[str, Any]:
        """The assignment that reproduces the base spec (where its values lie in the domains)."""
        return self.match(self.base).params  # type: ignore[return-value]

    def _assign(self, pick: Pick) -> dict[str, Any]:
        params: dict[str, Any] = {}

        def record(d: Domain) -> Any:
            params[d.name] = value = pick(d)
            return value

        self._bind(record)
        return params

    def vars_for(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """The base spec's var values for an assignment."""
        missing = [d.name for d in self.domains if d.name not in params]

        def lookup(d: Domain) -> Any:
            if d.name not in params:
                raise SpecError(f"assignment for space {self.name!r} lacks parameter {d.name!r}"
                                f" (missing: {', '.join(missing)})")
            return d.snap(params[d.name])  # Optuna's stored value may carry float noise

        return self._bind(lookup)

    def _bind(self, pick: Pick) -> dict[str, Any]:
        bound: dict[str, Any] = {}
        for var, template in self.templates.items():
            bound[var] = self._walk(template, pick, bound, self.base.vars.get(var))
        return bound

    def _walk(self, template: Any, pick: Pick, bound: Mapping[str, Any], base: Any) -> Any:
        if isinstance(template, Domain):
            return pick(template)
        if isinstance(template, Cases):
            chosen = bound.get(template.by, self.base.vars.get(template.by))
            selected = [case for key, case in template.cases.items() if _same(key, chosen)]
            return {key: self._walk(selected[0], pick, bound, value) if selected and _same(key, chosen) else value
                    for key, value in base.items()}  # the cases not selected, or not written, keep the base's
        if isinstance(template, dict):
            return {k: self._walk(v, pick, bound, (base or {}).get(k) if isinstance(base, Mapping) else None)
                    for k, v in template.items()}
        if isinstance(template, list):
            return [self._walk(v, pick, bound, base[i] if isinstance(base, list) and i < len(base) else None)
                    for i, v in enumerate(template)]
        return template

    def spec(self, params: Mapping[str, Any], **extra: Any) -> Spec:
        """The base spec bound to an assignment (and to ``extra`` vars, e.g. a fitted width)."""
        return self.base.with_vars(**{**self.vars_for(params), **extra})

    # membership

    def match(self, spec: Spec) -> Match:
        """The assignment whose vars equal ``spec``'s, or where they leave the space."""
        params: dict[str, Any] = {}
        problems: list[str] = []
        for var, template in self.templates.items():
            value = spec.vars.get(var, self.base.vars.get(var))
            self._match(template, value, var, params, problems, spec.vars, self.columns.get(var))
        return Match(params if not problems else None, problems)

    def _match(self, template: Any, value: Any, path: str, params: dict[str, Any], problems: list[str],
               env: Mapping[str, Any], columns: list[str] | None = None, row: bool = False) -> None:
        """Compare ``value`` with ``template``, naming a table's cells by their columns
        (``stages[0].t``), as the parameters are named."""
        if isinstance(template, Domain):
            if template.contains(value):
                params[template.name] = value
            else:
                problems.append(f"{path} = {value!r} is outside the domain {template.describe()}")
        elif isinstance(template, Cases):
            chosen = env.get(template.by, self.base.vars.get(template.by))
            for key, case in template.cases.items():
                if _same(key, chosen):
                    inner = value.get(key) if isinstance(value, Mapping) else None
                    self._match(case, inner, f"{path}.{key}", params, problems, env, columns)
        elif isinstance(template, dict):
            if not isinstance(value, Mapping):
                problems.append(f"{path} = {value!r}; the space expects a mapping")
                return
            for k, inner in template.items():
                self._match(inner, value.get(k), f"{path}.{k}", params, problems, env, columns)
        elif isinstance(template, list):
            if not isinstance(value, list) or len(value) != len(template):
                count = len(value) if isinstance(value, list) else "not a list"
                problems.append(f"{path} has {count} entries; the space has {len(template)}")
                return
            rows = columns is not None and any(isinstance(t, list) for t in template)
            for i, (inner, v) in enumerate(zip(template, value)):
                label = f"{path}.{columns[i]}" if row and columns and i < len(columns) else f"{path}[{i}]"
                self._match(inner, v, label, params, problems, env, columns, rows)
        elif not _same(template, value):
            problems.append(f"{path} = {value!r}, but the space fixes it at {template!r}")

    # costs

    def smallest(self, price: Callable[[Spec], Cost]) -> tuple[dict[str, Any], Cost]:
        """The cheapest assignment the space reaches, and its cost.

        Ranges take their low end (cost grows with width, depth, kernel and expansion); each
        categorical parameter is then set, one after the other, to its cheapest choice — one pass
        of coordinate descent, exact when choices change the cost independently. Points that do
        not build (a ShuffleNet group count without that width) are stepped over.
        """
        failure = SpecError("")

        def key(p: Mapping[str, Any]) -> tuple[float, float, float]:
            nonlocal failure
            try:
                cost = price(self.spec(p))
            except SpecError as err:
                failure = err
                return math.inf, math.inf, math.inf
            return cost.macs, cost.params, cost.latency_ms or 0.0

        # every domain gets a value, the cases not selected included, so that switching a case
        # (MobileNetV3's large to small) finds its table's parameters already set
        params = {d.name: d.lowest() if d.choices is None else d.choices[0] for d in self.domains}
        best = key(params)
        for d in self.domains:
            if d.choices is None:
                continue
            for choice in d.choices:
                trial = {**params, d.name: choice}
                found = key(trial)
                if found < best:
                    params, best = trial, found
        if best[0] == math.inf:  # located where the last point tried fails
            raise SpecError(f"{failure.message}; none of the points tried in space {self.name!r} "
                            f"({self.file}) builds", file=failure.file, line=failure.line, path=failure.path)
        used = self._assign(lambda d: params[d.name])  # only the parameters the point uses
        return used, price(self.spec(used))


@dataclass(frozen=True)
class Match:
    """The result of matching a spec's vars against a space: an assignment, or the problems."""

    params: dict[str, Any] | None
    problems: list[str]


def load_space(source: str | Path) -> Space:
    """Load a search space from a path, or by name from the shipped ``search_spaces/``."""
    if not os.fspath(source).strip():  # an unset $SPACE, which Path() would take as ".", this folder
        raise SpecError(f"expected a search space file or a shipped space's name, got {os.fspath(source)!r}")
    path = Path(source)
    if not path.suffix and not path.exists():
        shipped = {p.stem: p for p in spaces_dir().glob("*.yaml")}
        if str(source) not in shipped:
            raise SpecError(f"no search space file or shipped space named {str(source)!r}; shipped: "
                            f"{', '.join(sorted(shipped))}{suggest(source, shipped)}")
        path = shipped[str(source)]
    document = read_yaml(path)
    if not isinstance(document, YMap):
        raise SpecError("a search space must be a YAML mapping with 'base' and 'vars'",
                        file=display_path(path), line=1)
    if "network" in document and "base" not in document:  # `space show specs/net.yaml`
        raise fail(f"expected a search space, got a spec (it has a network): a space names a spec as its base "
                   f"(base: {path.name}) and gives some of its vars a domain", document, "network", "network")
    for key in document:
        if key not in SPACE_KEYS:
            raise fail(f"unknown key {key!r}; allowed: {', '.join(SPACE_KEYS)}{suggest(key, SPACE_KEYS)}",
                       document, key, str(key))
    if "base" not in document:
        raise fail("a search space needs 'base': the spec it varies", document, None, "base")
    base, overrides = _load_base(document, path)
    raw_vars = document.get("vars")
    if not isinstance(raw_vars, YMap) or not raw_vars:
        raise fail("expected 'vars': a mapping from the base spec's vars to their domains", document,
                   "vars" if "vars" in document else None, "vars")
    columns = _columns(document, raw_vars, base)
    templates: dict[str, Any] = {}
    for var, raw in raw_vars.items():
        if var not in base.vars:
            raise fail(f"unknown var {var!r} of base spec {base.name!r} ({display_path(Path(base.file))}); "
                       f"its vars are {', '.join(base.vars)}{suggest(var, base.vars)}", raw_vars, var,
                       f"vars.{var}")
        check_like_base(raw, base.vars[var], f"vars.{var}", columns.get(var), base.vars)
        templates[str(var)] = _template(raw, str(var), f"vars.{var}", columns.get(var))
        _check_base_takes(templates[str(var)], str(var), raw_vars, f"vars.{var}", base)
        by = templates[str(var)].by if isinstance(templates[str(var)], Cases) else None
        if by is not None and by in raw_vars and by not in templates:
            raise fail(f"var {var!r} is searched by {by!r}, which must come before it", raw_vars, var,
                       f"vars.{var}")
    space = Space(str(document.get("name") or path.stem), display_path(path), base, templates,
                  _fit(document, templates), _resolution(document), _recipe(document),
                  str(document.get("description") or "").strip(), overrides,
                  _proxy_vars(document, base), {str(k): list(v) for k, v in columns.items()})
    names = [d.name for d in space.domains]
    if len(set(names)) != len(names):
        twice = sorted({n for n in names if names.count(n) > 1})
        raise fail(f"two domains share the parameter name {twice[0]!r}", document, "vars", "vars")
    fixed = {var: space._walk(t, lambda d: None, {}, base.vars.get(var))
             for var, t in templates.items() if not any(True for _ in _domains(t))}
    if fixed:  # vars written as plain values are part of the base: bind them once
        space = Space(space.name, space.file, base.with_vars(**fixed),
                      {k: v for k, v in templates.items() if k not in fixed}, space.fit,
                      space.proxy_resolution, space.recipe, space.description, {**overrides, **fixed},
                      space.proxy_vars, space.columns)
    return space


def _load_base(document: YMap, path: Path) -> tuple[Spec, dict[str, Any]]:
    """The base spec, and the vars its zoo name sets (``base: resnet50`` sets depth)."""
    entry = document["base"]
    if not isinstance(entry, str):
        raise fail(f"expected a spec file or zoo name, got {entry!r}", document, "base", "base")
    for folder in (path.parent, specs_dir()):
        if (folder / entry).is_file() and (folder / entry).resolve() != path.resolve():
            try:
                return load(folder / entry), {}
            except SpecError:
                other = read_yaml(folder / entry)
                if isinstance(other, YMap) and "base" in other and "network" not in other:
                    raise fail(f"expected a spec, got the search space {entry!r}: a space's base is the spec it "
                               f"varies (that space's base is {other['base']!r})", document, "base", "base") from None
                raise
    if Path(entry).suffix and not Path(entry).is_file():  # a file, not a zoo name
        raise fail(f"no spec file {entry!r} beside the space (in {path.parent.resolve()}) or among the "
                   f"shipped specs (in {specs_dir()}){suggest(Path(entry).stem, zoo_names())}",
                   document, "base", "base")
    try:
        return load(entry), dict(zoo_names().get(entry, (None, {}))[1])
    except SpecError as err:
        if err.file:  # an error inside the base spec keeps its own place
            raise
        raise fail(err.message, document, "base", "base") from None


def _check_base_takes(template: Any, var: str, where: YMap, path: str, base: Spec) -> None:
    """Every value a var's domain, fixed value or proxy value gives is one the base spec takes for
    it: of its default's type, and among its ``choices:`` if it has them. A value it refuses would
    fail each trial that drew it, reported at the base spec's line (or blamed on --resolution)."""
    allowed = (base.document.get("choices") or {}).get(var)
    if isinstance(template, Domain):
        if template.choices is not None:
            values = list(template.choices)
        elif not isinstance(allowed, list):
            values = [template.low, template.high]
        elif template.step is not None or template.integer:
            values = template.grid()
        else:
            raise fail(f"expected choices among the values base spec {base.name!r} takes for {var!r}, "
                       f"{', '.join(map(str, allowed))}; got the range {template.describe()}", where, var, path)
    elif not any(True for _ in _domains(template)):
        values = [template]
    else:
        return
    default = (base.document.get("vars") or {}).get(var)
    for value in values:
        if not _compatible(default, value):
            raise fail(f"expected {type(default).__name__} values, as the base spec's {default!r} is, got {value!r}",
                       where, var, path)
        if isinstance(allowed, list) and not any(_same(value, a) for a in allowed):
            raise fail(f"expected values base spec {base.name!r} takes for {var!r}, one of "
                       f"{', '.join(map(str, allowed))}; got {value!r}", where, var, path)


def _columns(document: YMap, raw_vars: YMap, base: Spec) -> YMap:
    """``columns``: for a table var of ``vars``, one name per value of its rows (a misspelt var
    or a name too many would otherwise leave the parameters named by position, silently)."""
    columns = document.get("columns") or YMap()
    if not isinstance(columns, YMap) or any(not isinstance(v, list) for v in columns.values()):
        raise fail("expected {var: [column names]}", document, "columns", "columns")
    for var, names in columns.items():
        if var not in raw_vars:
            raise fail(f"{var!r} is not a var of this space's 'vars'; columns name a searched table's "
                       f"columns{suggest(var, raw_vars)}", columns, var, f"columns.{var}")
        widths = table_widths(base.vars.get(var))
        if widths != {len(names)}:
            found = (f"rows of {' or '.join(map(str, sorted(widths)))} values" if widths
                     else "no table (a list of rows of one length)")
            raise fail(f"expected one name per column of {var!r}, whose base value has {found}; got "
                       f"[{', '.join(map(str, names))}]", columns, var, f"columns.{var}")
    return columns


def _fit(document: YMap, templates: Mapping[str, Any]) -> str | None:
    fit = document.get("fit")
    if fit is None:
        return None
    numeric = [var for var, t in templates.items()
               if isinstance(t, Domain) and (t.choices is None or all(_number(c) for c in t.choices))]
    if fit not in numeric:  # compared, not hashed: `fit: [width]` is a list
        raise fail(f"expected a searched numeric var (a width) of this space, got {fit!r}"
                   f"{suggest(fit, numeric)}", document, "fit", "fit")
    return str(fit)


def _resolution(document: YMap) -> int | None:
    value = document.get("proxy_resolution")
    if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
        raise fail(f"expected a positive integer, got {value!r}", document,
                   "proxy_resolution", "proxy_resolution")
    return value


def _proxy_vars(document: YMap, base: Spec) -> dict[str, Any]:
    values = document.get("proxy_vars") or YMap()
    if not isinstance(values, YMap):
        raise fail("expected a mapping of the base spec's vars", document, "proxy_vars", "proxy_vars")
    for key, value in values.items():
        if key not in base.vars:
            raise fail(f"unknown var {key!r} of base spec {base.name!r}{suggest(key, base.vars)}", values,
                       key, f"proxy_vars.{key}")
        _check_base_takes(value, str(key), values, f"proxy_vars.{key}", base)
    return dict(values)


def _recipe(document: YMap) -> dict[str, Any]:
    recipe = document.get("recipe") or YMap()
    if not isinstance(recipe, YMap):
        raise fail("expected a mapping of training settings", document, "recipe", "recipe")
    for key, value in recipe.items():  # checked as --lr and the other options are
        if key not in RECIPE_KEYS:
            raise fail(f"unknown recipe setting {key!r}; allowed: {', '.join(RECIPE_KEYS)}"
                       f"{suggest(key, RECIPE_KEYS)}", recipe, key, f"recipe.{key}")
        if key == "optimizer":
            if value not in OPTIMIZERS:
                raise fail(f"expected one of {', '.join(OPTIMIZERS)}, got {value!r}", recipe, key, f"recipe.{key}")
            continue
        kinds, accepts, expected = _NUMBERS[key]
        if isinstance(value, bool) or not isinstance(value, kinds) or not accepts(value):
            raise fail(f"expected {expected}, got {value!r}", recipe, key, f"recipe.{key}")
    return dict(recipe)
