"""``nasblocks build --summary``: torchinfo's table read off the IR, its rows and totals equal to
the build table's blocks and to nasblocks.cost."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any
from pathlib import Path

import pytest
from rich.console import Console

import nasblocks
from nasblocks import cli
from nasblocks._summary import summary_rows, summary_table
from nasblocks._console import make_console


@pytest.mark.parametrize("name", ["googlenet", "mobilenet_v2", "shufflenet_v2"])
def test_top_level_rows_are_the_build_tables_blocks(name: str) -> None:
    graph = nasblocks.expand(nasblocks.load(name))
    rows = [(row.name, row.shape, row.params, row.macs) for row in summary_rows(graph, depth=1)]
    assert rows == graph.blocks(1)


@pytest.mark.parametrize("depth", [2, 3])
def test_rows_at_a_depth_sum_their_ops(depth: int) -> None:
    graph = nasblocks.expand(nasblocks.load("googlenet"))
    rows = {row.name: row for row in summary_rows(graph, depth)  # modules, not nameless ops
            if row.level == depth and row.name.count(".") == depth - 1}
    blocks: dict[str, list[Any]] = {}  # each op's scope cut to depth parts: its output, params and MACs summed
    for node in graph:
        key = ".".join(node.scope.split(".")[:depth])
        if key.count(".") == depth - 1:
            _, params, macs = blocks.get(key, [None, 0, 0])
            blocks[key] = [node.out_shape, params + node.params, macs + (0 if node.training_only else node.macs)]
    assert set(blocks) == set(rows)  # the names of that depth, modules and blocks alike
    assert {name: [row.shape, row.params, row.macs] for name, row in rows.items()} == blocks
    assert max(row.level for row in summary_rows(graph, depth)) == depth


def test_every_op_is_one_leaf_row_when_deep_enough() -> None:
    graph = nasblocks.expand(nasblocks.load("googlenet"))
    leaves = [row for row in summary_rows(graph, depth=10) if not row.op.split(" ")[0].isdigit()]
    assert len(leaves) == len(graph)
    assert sum(row.params for row in leaves) == nasblocks.cost("googlenet").params
    assert sum(row.macs for row in leaves) == nasblocks.cost("googlenet").macs
    stem = [row for row in leaves if row.name == "conv1.conv"]
    assert stem[0].op == "conv out=64 kernel=7×7 stride=2×2" and stem[0].label == "│  ├─ conv"
    assert [row.op for row in leaves if row.name.startswith("aux1.")][-1] == "linear out=1000 (training only)"


def test_cli_prints_the_tree_and_the_totals(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(cli.console, "width", 200)
    monkeypatch.setattr(sys, "argv", ["nasblocks", "build", "mobilenet_v2", "--summary", "--depth", "2"])
    with pytest.raises(SystemExit) as exited:
        cli.main()
    assert exited.value.code in (0, None)
    out = capsys.readouterr().out
    cost = nasblocks.cost("mobilenet_v2")
    total = next(line for line in out.splitlines() if "total" in line)
    assert f"{cost.params:,}" in total and f"{cost.macs:,}" in total and "153 ops" in total
    assert "│  ├─ 3 " in out and "9 ops" in out  # features.3, an inverted residual, under features
    assert "features.3.conv" not in out          # depth 2 stops above its layers


def test_piped_to_a_file_each_row_stays_on_one_line() -> None:
    # rich assumes 80 columns when stdout is not a terminal and would wrap the op column
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    done = subprocess.run([sys.executable, "-m", "nasblocks", "build", "mobilenet_v2", "--summary", "--depth", "3"],
                          capture_output=True, text=True, env=env, check=True)
    stem = next(line for line in done.stdout.splitlines() if "conv out=32 kernel=3×3 stride=2×2" in line)
    assert "32×112×112" in stem and "864" in stem and "10,838,016" in stem


def test_columns_still_sets_the_width(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "90")
    assert make_console().width == 90
    monkeypatch.delenv("COLUMNS")
    assert make_console().width > 200  # captured by pytest: not a terminal



def test_a_small_network_is_not_summed_up_as_zero(write_spec: Callable[..., Path]) -> None:
    graph = nasblocks.expand(nasblocks.load(str(write_spec("name: tiny\ninput: [3, 8, 8]\nnetwork:\n  - conv: {out: 4, kernel: 3}\n"))))
    assert (graph.params, graph.macs) == (108, 6912)
    console = Console(width=300, record=True)
    console.print(summary_table(graph))
    caption = " ".join(console.export_text().split())  # wrapped at the table's width
    assert "108 parameters (432 bytes as fp32) · 6,912 multiply-adds (= 13.8 k FLOPs counting" in caption
