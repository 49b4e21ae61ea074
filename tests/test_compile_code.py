"""What ``model.code`` reads like: each value named as ``nasblocks build SPEC --graph`` lists its
IR node, and a split's chunk written once for all its parts, as torchvision writes it."""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from pathlib import Path

import torch

import nasblocks

# a split in two branches, a shuffle, a residual add of three branches (two fx adds), an identity
# (no code at all), flatten, and an auxiliary head (a GraphModule of its own)
SPEC = """
input: [8, 6, 6]
network:
  - name: unit
    concat:
      - split: {parts: 2, index: 0}
      - seq: [{split: {parts: 2, index: 1}}, {conv: {out: 4, kernel: 1}}]
  - shuffle: {groups: 2}
  - name: head
    aux: 1
    seq: [{mean: {}}, {linear: {out: 3}}]
  - name: res
    add:
      - seq: []
      - conv: {out: 8, kernel: 1}
      - seq: [{relu: {}, functional: true}]
  - identity: {}
    functional: true
  - flatten: {}
"""


def _assigned(module: torch.fx.GraphModule) -> list[str]:
    return re.findall(r"^    (\w+) = ", module.code, re.M)


def test_each_value_in_the_code_has_its_graph_listing_name(write_spec: Callable[..., Path]) -> None:
    spec = nasblocks.load(write_spec(SPEC))
    assert [node.name for node in nasblocks.expand(spec)] == [
        "unit_split", "unit_0_split", "unit_0_0", "unit_concat", "shuffle", "head_mean", "head_0",
        "res_1", "res_2_relu", "res_add", "identity", "flatten"]
    model = nasblocks.build(spec)
    # fx's own names: chunk, getitem, getitem_1, cat, channel_shuffle, run_in_training, add, add_1.
    # What a node writes on the way is named after it (the chunk after the first part, the first
    # of the two sums after the add); the head's call after the head's output.
    assert _assigned(model) == [
        "training", "unit_split_chunk", "unit_split", "unit_0_split", "unit_0_0", "unit_concat", "shuffle",
        "head", "head_0", "res_1", "res_2_relu", "res_add_add", "res_add", "flatten", "training_outputs"]
    assert _assigned(model.head) == ["head_mean", "head_0"]


def test_shufflenet_v2_chunks_each_tensor_once_as_torchvision_does() -> None:
    """torchvision's stride-1 unit: ``x1, x2 = x.chunk(2, dim=1)``. 4 + 8 + 4 units, less the
    first of each stage (stride 2, no split): 13 chunks, each read by its unit's two splits."""
    with torch.device("meta"):
        model = nasblocks.build(nasblocks.load("shufflenet_v2_x0_5", input=(3, 64, 64)))
    chunks = [node for node in model.graph.nodes if node.op == "call_method" and node.target == "chunk"]
    assert len(chunks) == 13
    for chunk in chunks:
        unit = chunk.name.removesuffix("_split_chunk")
        assert [(user.name, user.target, user.args) for user in chunk.users] == [
            (f"{unit}_split", operator.getitem, (chunk, 0)), (f"{unit}_branch2_split", operator.getitem, (chunk, 1))]
