"""The spec language: naming, blocks, branches, repeats, conditions, loops and auxiliary outputs."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import nasblocks
from nasblocks import _expand
from nasblocks._fragments import Fragment
from nasblocks._graph import Calls
from nasblocks._spec import specs_dir

HEAD = "imports: [blocks.yaml]\ninput: [8, 16, 16]\n"


def graph_of(write_spec: Callable[..., Path], text: str, **overrides: object) -> nasblocks.Graph:
    return nasblocks.expand(nasblocks.load(write_spec(HEAD + text), **overrides))


def targets(graph: nasblocks.Graph) -> list[str]:
    return [n.target for n in graph if n.target]


def test_positions_count_present_items_like_nn_sequential(write_spec: Callable[..., Path]) -> None:
    graph = graph_of(write_spec, """vars: {deep: false}
network:
  - conv: {out: 8, kernel: 3}
  - conv: {out: 8, kernel: 3}
    if: deep
  - relu: {}
  - relu: {}
    functional: true
  - bn: {}
    name: norm
  - conv: {out: 8, kernel: 1}
""")
    assert targets(graph) == ["0", "1", "norm", "3"]
    assert [n.op for n in graph] == ["conv", "relu", "relu", "bn", "conv"]


def test_blocks_take_arguments_defaults_and_derived_values(write_spec: Callable[..., Path]) -> None:
    graph = graph_of(write_spec, """blocks:
  widen:
    args: {factor: ~, act: relu6}
    let: {hidden: in * factor}
    body:
      - conv: {out: hidden, kernel: 1}
        name: expand
      - act: {fn: act}
network:
  - widen: {factor: 3}
    name: w
  - widen: {factor: 2, act: hardswish}
""")
    assert [(n.target, n.out_shape[0]) for n in graph if n.op == "conv"] == [("w.expand", 24), ("1.expand", 48)]
    assert [n.args["fn"] for n in graph if n.op == "act"] == ["relu6", "hardswish"]


def test_residual_branch_and_identity(write_spec: Callable[..., Path]) -> None:
    graph = graph_of(write_spec, """network:
  - inverted_residual: {out: 8, expand: 6}
  - inverted_residual: {out: 16, expand: 6}
""")
    adds = [n for n in graph if n.op == "add"]
    assert len(adds) == 1 and adds[0].inputs[0].startswith("_0_conv") and adds[0].inputs[1] == "x"
    assert "0.conv.0.0" in targets(graph) and "1.conv.3" in targets(graph)


def test_repeat_with_per_repeat_values_and_foreach_rows(write_spec: Callable[..., Path]) -> None:
    graph = graph_of(write_spec, """vars:
  rows: [[16, 2, 2], [24, 3, 1]]
network:
  - foreach: rows
    as: [c, n, s]
    index: k
    do:
      - conv: {out: c, kernel: 3, stride: s if i == 0 else 1}
        name: "stage{k}_{i}"
        repeat: n
""")
    assert targets(graph) == ["stage0_0", "stage0_1", "stage1_0", "stage1_1", "stage1_2"]
    assert [n.args["stride"] for n in graph] == [(2, 2), (1, 1), (1, 1), (1, 1), (1, 1)]
    assert graph.output_shape == (24, 8, 8)


def test_inline_puts_children_in_the_enclosing_scope(write_spec: Callable[..., Path]) -> None:
    graph = graph_of(write_spec, """network:
  - name: outer
    seq:
      - inline: true
        seq:
          - conv: {out: 8, kernel: 1}
          - conv: {out: 8, kernel: 1}
      - conv: {out: 8, kernel: 1}
""")
    assert targets(graph) == ["outer.0", "outer.1", "outer.2"]


def test_concat_branches_and_dropped_branch(write_spec: Callable[..., Path]) -> None:
    graph = graph_of(write_spec, """vars: {pool_branch: false}
network:
  - concat:
      - conv: {out: 4, kernel: 1}
        name: branch1
      - name: branch2
        seq:
          - conv: {out: 4, kernel: 1}
          - conv: {out: 6, kernel: 3}
      - maxpool: {kernel: 3, stride: 1, padding: 1}
        if: pool_branch
    name: mixed
""")
    assert targets(graph) == ["mixed.branch1", "mixed.branch2.0", "mixed.branch2.1"]
    assert graph.output_shape == (10, 16, 16)


def test_vars_feed_expressions_and_the_input_size(write_spec: Callable[..., Path]) -> None:
    spec = nasblocks.load(write_spec("""vars: {resolution: 32, width: 1.0, base: "make_divisible(32 * width)"}
input: [3, resolution, resolution]
network:
  - conv: {out: base, kernel: 3}
"""), width=0.5, resolution=48)
    assert spec.input == (3, 48, 48) and spec.vars["base"] == 16
    assert nasblocks.expand(spec).output_shape == (16, 48, 48)


def test_auxiliary_outputs_run_in_training_only(write_spec: Callable[..., Path]) -> None:
    path = write_spec(HEAD + """vars: {aux_logits: true}
network:
  - conv: {out: 8, kernel: 3}
  - name: aux
    aux: 1
    if: aux_logits
    seq: [{mean: {}}, {linear: {out: 5}}]
  - mean: {}
  - linear: {out: 3}
    name: fc
""")
    graph = nasblocks.expand(nasblocks.load(path))
    without = nasblocks.expand(nasblocks.load(path, aux_logits=False))
    assert graph.macs == without.macs and graph.params == without.params + 8 * 5 + 5
    model = nasblocks.build(nasblocks.load(path))
    x = torch.randn(2, 8, 16, 16)
    model.train()
    main, aux = model(x)
    assert main.shape == (2, 3) and aux.shape == (2, 5)
    model.eval()
    assert torch.equal(model(x), main)
    calls: list[int] = []
    model.aux.register_forward_hook(lambda *_: calls.append(1))  # the head is a module of its own
    model(x)
    assert calls == []  # eval mode skips the head's work
    model.train()
    model(x)
    assert calls == [1]


def test_graph_prints_one_line_per_node(write_spec: Callable[..., Path]) -> None:
    graph = graph_of(write_spec, "network:\n  - conv_bn_act: {out: 8, stride: 2}\n    name: stem\n")
    lines = str(graph).splitlines()
    assert lines[0] == "graph net(%x: 8×16×16):"
    assert lines[1].startswith("    %stem_0 : 8×8×8 = conv[out=8, kernel=3×3, stride=2×2](%x)  params=576 macs=36,864  # ")
    # the origin is the line of conv_bn_act's conv in the block library, and the next two follow it
    library = (specs_dir() / "blocks.yaml").read_text().splitlines()
    conv = library.index("      - conv: {out: out, kernel: kernel, stride: stride, groups: groups, dilation: dilation,") + 1
    origins = [line.rsplit("  # ", 1)[1] for line in lines[1:4]]
    assert all(origin.endswith(f"specs/blocks.yaml:{conv + k}") for origin, k in zip(origins, (0, 2, 3))), origins
    assert lines[-1] == "    return %stem_2"
    assert len(lines) == len(graph) + 2


def test_networkx_view_carries_nodes_and_edge_positions(write_spec: Callable[..., Path]) -> None:
    graph = graph_of(write_spec, "network:\n  - inverted_residual: {out: 8}\n")
    view = graph.nx
    add = next(n for n in graph if n.op == "add")
    assert view.nodes[add.name]["node"] is add
    assert {view.edges[i, add.name]["position"] for i in add.inputs} == {0, 1}
    graph.lint()


def test_block_fragments_replay_identically(write_spec: Callable[..., Path],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    # repeats 1 and 2 (and repeat 0 once cached) are replayed; the walk without a cache is the oracle
    text = "network:\n  - inverted_residual: {out: 8, expand: 6}\n    repeat: 3\n"
    graph_of(write_spec, text)
    replays: list[str] = []   # the prefixes replayed under
    real = _expand.replay

    def replay(fragment: Fragment, graph: nasblocks.Graph, block_input: str, prefix: str,
               call: Calls) -> str | None:
        out = real(fragment, graph, block_input, prefix, call)
        if out is not None:
            replays.append(prefix)
        return out

    monkeypatch.setattr(_expand, "replay", replay)
    replayed = graph_of(write_spec, text)
    assert replays == ["0", "1", "2"]
    with monkeypatch.context() as patch:
        patch.setattr(_expand, "fragment_key", lambda *args: None)  # no block is cached or replayed
        walked = graph_of(write_spec, text)
    assert [dataclasses.astuple(n) for n in replayed] == [dataclasses.astuple(n) for n in walked]


def test_with_vars_recomputes_derived_vars_and_keeps_a_set_input(write_spec: Callable[..., Path]) -> None:
    spec = nasblocks.load(write_spec("""vars: {resolution: 32, width: 1.0, base: "make_divisible(32 * width)"}
input: [3, resolution, resolution]
network:
  - conv: {out: base, kernel: 3}
"""))
    half = spec.with_vars(width=0.5)
    assert half.vars["base"] == 16 and spec.vars["base"] == 32
    assert half.with_vars(resolution=64).input == (3, 64, 64)
    fixed = spec.with_input((3, 20, 20)).with_vars(width=0.5)
    assert fixed.input == (3, 20, 20) and fixed.vars["base"] == 16


def test_bare_words_are_strings_in_var_lists_too(write_spec: Callable[..., Path]) -> None:
    spec = nasblocks.load(write_spec("""vars:
  acts: [relu, hardswish, "'relu6'"]
  depth: 2
  sizes: [depth * 8, 16]
input: [3, 8, 8]
network:
  - foreach: acts
    as: a
    do:
      - act: {fn: a}
"""))
    assert spec.vars["acts"] == ["relu", "hardswish", "relu6"] and spec.vars["sizes"] == [16, 16]
    assert [n.args["fn"] for n in nasblocks.expand(spec)] == ["relu", "hardswish", "relu6"]


def test_a_library_imported_twice_is_one_declaration(write_spec: Callable[..., Path]) -> None:
    # mobilenet_blocks.yaml imports blocks.yaml too: its conv_bn_act is the same block, not a second one
    graph = nasblocks.expand(nasblocks.load(write_spec("""imports: [blocks.yaml, mobilenet_blocks.yaml]
input: [8, 16, 16]
network:
  - conv_bn_act: {out: 8}
  - mobilenet_v3_block: {out: 8, expanded: 16}
""")))
    assert graph.output_shape == (8, 16, 16)


def test_a_merge_key_takes_the_anchored_arguments_and_the_written_ones_replace_them(
        write_spec: Callable[..., Path]) -> None:
    graph = graph_of(write_spec, """network:
  - conv: &base {out: 8, kernel: 3, stride: 2}
  - conv: {<<: *base, out: 16}
  - conv:
      <<: *base
      kernel: 1
""")
    assert [(n.args["out"], n.args["kernel"], n.args["stride"]) for n in graph] == \
        [(8, (3, 3), (2, 2)), (16, (3, 3), (2, 2)), (8, (1, 1), (2, 2))]


def test_and_and_or_give_the_operand_that_settles_them_as_in_python(write_spec: Callable[..., Path]) -> None:
    graph = graph_of(write_spec, """vars: {c: 0, d: 24}
network:
  - conv: {out: c or 16, kernel: 1}
  - conv: {out: d and 32, kernel: 1}
""")
    assert [n.args["out"] for n in graph] == [16, 32]
