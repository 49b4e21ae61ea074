"""Which network a spec writes, and ``search --weights-spec``: the network a weights file holds
when it is another point of the space than the base network (the trained best network of an
earlier search, from ``study retrain -o``; ResNet-18's file for the ``resnet`` space, whose base
is ResNet-50).

Trials are matched to that network's places in the spec (``_inherit.counterparts``: the item,
the ``foreach`` row, the repeat), and a place means the same module only in a spec of the base's
structure: the same network items and the same blocks, with other vars and input, which is what
the trials' own specs and the zoo's aliases are. A study knows the spec by a digest of what it
loads to (a zoo name's vars are not in its file), as it knows the weights file by its SHA-256:
``--resume`` and a worker joining the study refuse another.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nasblocks._spec import load, suggest, zoo_names
from nasblocks.errors import StudyError

if TYPE_CHECKING:
    from nasblocks._spec import BlockDef, Spec


def used_blocks(spec: Spec) -> list[tuple[str, BlockDef]]:
    """The blocks ``spec`` names, and those they name, in name order: the ones its networks are
    built from (a block library's other blocks may change without changing them)."""
    named = {name for name in spec.blocks if re.search(rf"\b{name}\b", repr(spec.document))}
    while True:
        body = repr([spec.blocks[name].body for name in named])
        more = {name for name in spec.blocks if name not in named and re.search(rf"\b{name}\b", body)}
        if not more:
            return [(name, spec.blocks[name]) for name in sorted(named)]
        named |= more


def network_digest(spec: Spec, *extra: Any) -> str:
    """A digest of ``spec``'s document and the blocks it uses (and of ``extra``)."""
    network = repr((spec.document, {name: (b.args, b.let, b.body) for name, b in used_blocks(spec)}, *extra))
    return hashlib.sha256(network.encode()).hexdigest()[:16]


def read_weights_spec(text: str, base: Spec, space: str, recorded: Mapping[str, str] | None,
                      what: str) -> tuple[Spec, dict[str, str]]:
    """The spec ``--weights-spec`` names (a file or a zoo name) and what a study records of it:
    a network of the base's structure and, when ``recorded``, the one ``what`` (a study) matched
    its trials to then, read where ``text`` says it is now."""
    path = Path(text)
    if recorded is not None and path.suffix and not path.exists():
        raise StudyError(f"{text}: no such file; {what} matched its trials to the spec of digest "
                         f"{recorded['sha256']} there: give where it is now with --weights-spec SPEC")
    if not path.exists() and (path.suffix or text not in zoo_names()):
        raise StudyError(f"--weights-spec {text}: no such spec file or zoo name"
                         f"{'' if path.suffix else suggest(text, zoo_names())}")
    spec = load(text)
    digest = network_digest(spec, dict(spec.vars), spec.input)
    if recorded is not None and digest != recorded["sha256"]:
        how = f"changed since {what} matched its trials to it" if text == recorded["path"] else \
            f"is not the spec {what} matched its trials to, {recorded['path']}"
        raise StudyError(f"--weights-spec {text}: {how} (digest {recorded['sha256']} then, {digest} now); "
                         "a resumed study keeps its settings")
    _check_structure(spec, base, space, text)
    return spec, {"path": text, "sha256": digest}


def _check_structure(spec: Spec, base: Spec, space: str, text: str) -> None:
    """Refuse a spec whose network items or blocks are not the base's: its places would name
    other modules than the trials' places."""
    mine, theirs = spec.document["network"], base.document["network"]
    item = next((i for i in range(max(len(mine), len(theirs)))
                 if i >= len(mine) or i >= len(theirs) or mine[i] != theirs[i]), None)
    if item is not None:
        what = f"network[{item}] ({spec.file}:{mine.line_of(item)}) is not the base spec's " \
               f"({base.file}:{theirs.line_of(item)})"
    else:
        ours, its = dict(used_blocks(spec)), dict(used_blocks(base))
        differ = sorted(name for name in {*ours, *its} if name not in ours or name not in its or
                        (ours[name].args, ours[name].let, ours[name].body) !=
                        (its[name].args, its[name].let, its[name].body))
        if not differ:
            return
        what = f"its block {differ[0]!r} is not the base spec's, {base.file}"
    raise StudyError(f"--weights-spec {text}: not a network of space {space!r}: {what}; give the spec of the "
                     "--weights file's network as this space writes it (a trial's spec, or study retrain -o)")
