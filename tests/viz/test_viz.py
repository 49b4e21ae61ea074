"""``nasblocks viz`` checked as a person would: the SVG is parsed and its boxes, clusters and
edges counted against the graph; collapsed blocks carry their blocks' costs; shading follows
cost; without Graphviz's dot the matplotlib picture is still a valid PNG or SVG."""

from __future__ import annotations

import re
import sys
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from matplotlib import colormaps
from matplotlib.colors import to_hex
from matplotlib.figure import Figure
from matplotlib.transforms import Bbox
from PIL import Image

import nasblocks
from nasblocks import _viz
from nasblocks._graph import INPUT
from nasblocks._latency_units import units
from nasblocks._summary import Row, summary_rows
from nasblocks._viz import draw, picture
from nasblocks._viz_fallback import figure
from nasblocks.cli import main
from nasblocks.errors import NasblocksError

SVG = "{http://www.w3.org/2000/svg}"
README = Path(__file__).parents[2] / "README.md"
SMALL = """
name: small
imports: [blocks.yaml]
input: [3, 16, 16]
network:
  - conv_bn_act: {out: 8, stride: 2}
    name: stem
  - inverted_residual: {out: 8, expand: 2}
    name: block
  - adaptive_avgpool: {}
  - flatten: {}
  - linear: {out: 4}
    name: head
"""


RESIDUAL = (SMALL.replace("imports: [blocks.yaml]", "imports: [blocks.yaml, resnet_blocks.yaml]")
            .replace("inverted_residual: {out: 8, expand: 2}", "basic_block: {planes: 8}"))  # add, then relu: both functional


def viz(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["nasblocks", "viz", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    return exited.value.code or 0, capsys.readouterr().err


def svg_groups(path: Path, kind: str) -> dict[str, ET.Element]:
    """The SVG's <g class=kind> elements (node, cluster, edge) by their <title>."""
    root = ET.parse(path).getroot()
    return {g.find(f"{SVG}title").text: g for g in root.iter(f"{SVG}g") if g.get("class") == kind}


def texts(group: ET.Element) -> list[str]:
    return [t.text for t in group.iter(f"{SVG}text")]


def expected_clusters(places: list[str]) -> set[str]:
    """Every dotted name holding two or more of the boxes at ``places``."""
    under = Counter(".".join(place.split(".")[:end]) for place in places if place
                    for end in range(1, place.count(".") + 2))
    return {f"cluster_{name}" for name, count in under.items() if count >= 2}


@pytest.fixture
def small(write_spec: Callable[..., Path]) -> Path:
    return write_spec(SMALL, "small.yaml")


@pytest.mark.parametrize("spec", ["specs/googlenet.yaml", "small"])
def test_every_op_is_a_box_and_every_block_a_cluster(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                       tmp_path: Path, small: Path, spec: str) -> None:
    source = str(small) if spec == "small" else spec
    assert viz(monkeypatch, capsys, source, "-o", str(tmp_path / "net.svg"))[0] == 0
    graph = nasblocks.expand(nasblocks.load(source))
    nodes = svg_groups(tmp_path / "net.svg", "node")
    assert set(nodes) == {node.name for node in graph} | {INPUT}
    assert set(svg_groups(tmp_path / "net.svg", "cluster")) == expected_clusters([node.scope for node in graph])
    edges = svg_groups(tmp_path / "net.svg", "edge")
    assert set(edges) == {f"{a}->{b}" for a, b in graph.nx.edges}
    for node in graph:  # the op, its output shape; each edge the shape it carries
        assert node.op in texts(nodes[node.name])[0] and "×".join(map(str, node.out_shape)) in texts(nodes[node.name])
        for source_name in node.inputs:
            shape = "×".join(map(str, graph.shape_of(source_name)))
            assert texts(edges[f"{source_name}->{node.name}"])[0].strip() == shape


def test_arguments_that_differ_from_defaults_are_shown(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    viz(monkeypatch, capsys, "specs/googlenet.yaml", "-o", str(tmp_path / "g.svg"))
    stem = texts(svg_groups(tmp_path / "g.svg", "node")["conv1_conv"])
    assert stem == ["conv", "out=64 kernel=7×7 stride=2×2", "64×112×112", "118 M MACs · 9.41 k params"]


def summary_leaves(graph: nasblocks.Graph, depth: int) -> list[Row]:
    """The rows of ``build --summary --depth`` that have no rows below them."""
    rows = summary_rows(graph, depth)
    return [row for row, after in zip(rows, [*rows[1:], None]) if after is None or after.level <= row.level]


@pytest.mark.parametrize("depth", [1, 2])
def test_depth_collapses_blocks_into_boxes_with_their_costs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                            tmp_path: Path, depth: int) -> None:
    viz(monkeypatch, capsys, "specs/googlenet.yaml", "--depth", str(depth), "-o", str(tmp_path / "g.svg"))
    graph = nasblocks.expand(nasblocks.load("googlenet"))
    node_of = {node.name if node.target != node.scope else node.target: node for node in graph}  # a row's name
    leaves = {row.name if " ops" in row.op else node_of[row.name].name: row for row in summary_leaves(graph, depth)}
    nodes = svg_groups(tmp_path / "g.svg", "node")
    assert set(nodes) == set(leaves) | {INPUT}
    boxes = picture(graph, depth).boxes
    assert {name: (boxes[name].params, boxes[name].macs) for name in leaves} == {
        name: (row.params, row.macs) for name, row in leaves.items()}
    for name, row in leaves.items():
        assert " ops" not in row.op or row.op.split(" (")[0] in texts(nodes[name])
    places = [name if " ops" in row.op else node_of[row.name].scope for name, row in leaves.items()]
    assert set(svg_groups(tmp_path / "g.svg", "cluster")) == expected_clusters(places)
    assert depth == 2 or not expected_clusters(places)


def test_depth_draws_the_summary_rows_at_that_depth(write_spec: Callable[..., Path]) -> None:
    # the block's add and its functional relu sit under block, as build --summary lists them:
    # at depth 2 they are two boxes, not one box named after the whole block
    graph = nasblocks.expand(nasblocks.load(str(write_spec(RESIDUAL))))
    for depth in (1, 2, 3):
        boxes = [box for box in picture(graph, depth).boxes.values() if box.id != INPUT]
        assert [(box.ops, box.params, box.macs) for box in boxes] == [
            (int(row.op.split()[0]) if " ops" in row.op else 1, row.params, row.macs) for row in summary_leaves(graph, depth)]
    assert list(picture(graph, 2).boxes) == list(picture(graph).boxes)  # nothing below depth 2 to collapse


def fills(path: Path) -> dict[str, str]:
    return {name: g.find(f"{SVG}g/{SVG}a/{SVG}path").get("fill") for name, g in svg_groups(path, "node").items()}


def test_color_macs_shades_ops_by_multiply_adds(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    viz(monkeypatch, capsys, "specs/mobilenet_v2.yaml", "--color", "macs", "-o", str(tmp_path / "m.svg"))
    graph = nasblocks.expand(nasblocks.load("mobilenet_v2"))
    fill = fills(tmp_path / "m.svg")
    costly = {node.name for node in graph if node.macs}
    assert {name for name, colour in fill.items() if colour != "white"} == costly
    ranked = sorted(costly, key=lambda name: graph[name].macs)
    ramp = colormaps["YlOrRd"]
    assert fill[ranked[0]] == to_hex(ramp(0.1)) and fill[ranked[-1]] == to_hex(ramp(0.95))
    assert "shaded by multiply-adds" in ET.tostring(ET.parse(tmp_path / "m.svg").getroot(), encoding="unicode")


def test_color_latency_shades_each_fused_unit_once(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                   tmp_path: Path, small: Path, latency_cache: Path) -> None:
    assert viz(monkeypatch, capsys, str(small), "--color", "latency", "-o", str(tmp_path / "s.svg"))[0] == 0
    graph = nasblocks.expand(nasblocks.load(str(small)))
    heads = {unit[0].name for unit in units(graph)}
    shaded = {name for name, colour in fills(tmp_path / "s.svg").items() if colour != "white"}
    assert shaded and shaded <= heads and not shaded & {unit[1].name for unit in units(graph) if len(unit) > 1}
    assert list(latency_cache.rglob("*.json")), "the units were measured into the private table"


def test_without_dot_it_says_so_and_draws_with_matplotlib(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                         tmp_path: Path, small: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot there
    code, err = viz(monkeypatch, capsys, str(small), "-o", str(tmp_path / "s.png"))
    assert code == 0 and err.count("\n") == 1 and "apt-get install graphviz" in err
    with Image.open(tmp_path / "s.png") as image:
        image.verify()
        assert image.format == "PNG" and image.size[0] > 200
    monkeypatch.setattr(sys, "argv", ["nasblocks", "viz", str(small), "-o", str(tmp_path / "s.svg")])
    with pytest.raises(SystemExit):
        main()
    assert capsys.readouterr().out == f"wrote {tmp_path / 's.svg'}: 16 boxes\n"  # no cluster frames claimed
    lines = [t.text or "" for t in ET.parse(tmp_path / "s.svg").getroot().iter(f"{SVG}text")]
    graph = nasblocks.expand(nasblocks.load(str(small)))
    for box in picture(graph).boxes.values():
        assert box.lines[0] in lines
    assert "block" in lines and not any(title.startswith(f"{place}: ") for place, title in zip(lines, lines[1:]))


def test_dot_source_needs_no_program(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, small: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    code, err = viz(monkeypatch, capsys, str(small), "-o", str(tmp_path / "s.dot"))
    source = (tmp_path / "s.dot").read_text()
    assert code == 0 and err == "" and source.startswith("digraph network {")
    assert re.findall(r"subgraph \"?(cluster_[\w.]+)", source) == ["cluster_stem", "cluster_block", "cluster_block.conv",
                                                                   "cluster_block.conv.0", "cluster_block.conv.1"]


@pytest.mark.parametrize(("args", "message"), [
    (["-o", "net.jpg"], "net.jpg: expected one of svg, png, pdf, dot"),
    (["-o", "net.svg", "--color", "flops"], "--color 'flops': expected one of macs, latency"),
    (["-o", "file/net.svg"], "file/net.svg: cannot write there"),
    (["-o", "file/net.svg", "--color", "latency"], "file/net.svg: cannot write there"),  # before measuring
])
def test_bad_requests_get_one_line_and_status_2(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                 tmp_path: Path, small: Path, args: list[str], message: str) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(_viz, "node_latency", lambda *_: pytest.fail("latency measured for a picture that cannot be written"))
    Path("file").write_text("")
    code, err = viz(monkeypatch, capsys, str(small), *args)
    assert code == 2 and err.count("\n") == 1 and message in err and "Traceback" not in err


def test_the_readme_picture_is_what_the_tool_draws(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    line = next(line for line in README.read_text().splitlines() if "nasblocks viz" in line and "docs/images/" in line)
    args = line.split("#")[0].split()
    args = args[args.index("viz") + 1:]
    image = README.parent / args[args.index("-o") + 1]
    assert f"]({image.relative_to(README.parent)})" in README.read_text()
    assert image.stat().st_size < 300_000
    args[args.index("-o") + 1] = str(tmp_path / "fresh.svg")
    viz(monkeypatch, capsys, *args)
    for kind in ("node", "cluster", "edge"):
        assert set(svg_groups(image, kind)) == set(svg_groups(tmp_path / "fresh.svg", kind))


@pytest.mark.parametrize("fmt, with_dot", [("svg", True), ("dot", True), ("png", False)])
def test_a_folder_or_a_full_disk_is_one_line(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                             tmp_path: Path, small: Path, fmt: str, with_dot: bool) -> None:
    if not with_dot:  # matplotlib draws, and writes the file itself
        monkeypatch.setenv("PATH", str(tmp_path))
    folder = tmp_path / f"folder.{fmt}"
    folder.mkdir()
    code, err = viz(monkeypatch, capsys, str(small), "-o", str(folder))
    assert code == 2 and err == f"error: {folder}: is a folder; name a file to write\n"
    code, err = viz(monkeypatch, capsys, str(small), "-o", "/dev/full", "--format", fmt)  # every write fails: ENOSPC
    assert code == 2 and err == "error: /dev/full: cannot write there (No space left on device)\n"


@pytest.mark.parametrize("spec", ["small", "specs/googlenet.yaml"])
def test_a_failing_dot_is_one_line_and_leaves_no_file(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                                                      tmp_path: Path, small: Path, spec: str) -> None:
    # dot fails before reading its input: GoogLeNet's source (80 kB) overfills the pipe, so a
    # writer that does not expect that meets a broken pipe every time, not only under load
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "dot").write_text("#!/bin/sh\nexec 0<&-\necho 'Error: trouble in init_rank' >&2\n"
                                          "echo '  %1 0' >&2\nexit 1\n")
    (tmp_path / "bin" / "dot").chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    code, err = viz(monkeypatch, capsys, str(small) if spec == "small" else spec, "-o", str(tmp_path / "net.svg"))
    assert code == 2 and err == (f"error: {tmp_path / 'net.svg'}: Graphviz's dot failed (Error: trouble in init_rank); "
                                 "write the source instead (-o NAME.dot), or draw fewer boxes (--depth)\n")
    assert not (tmp_path / "net.svg").exists()


def test_a_matplotlib_failure_is_not_called_a_write_failure(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                            small: Path) -> None:
    from matplotlib.figure import Figure

    def broken(*_: object, **__: object) -> None:
        raise OSError("cannot read the font cache")  # matplotlib's own trouble, not the output path's

    monkeypatch.setenv("PATH", str(tmp_path))  # no dot: matplotlib draws
    monkeypatch.setattr(Figure, "savefig", broken)
    with pytest.raises(OSError, match="font cache"):
        draw(nasblocks.expand(nasblocks.load(str(small))), tmp_path / "net.svg")


def test_draw_refuses_an_unwritable_output_before_measuring_latency(monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                                                    small: Path) -> None:
    monkeypatch.setattr(_viz, "node_latency", lambda *_: pytest.fail("latency measured for a picture that cannot be written"))
    (tmp_path / "file").write_text("")
    with pytest.raises(NasblocksError, match="^" + re.escape(f"{tmp_path}/file/net.svg: cannot write there (")):
        draw(nasblocks.expand(nasblocks.load(str(small))), tmp_path / "file" / "net.svg", color="latency")


def drawn_texts(fig: Figure) -> tuple[list[Bbox], list[Bbox]]:
    """The window extents of a drawn figure's boxes (texts in a rounded frame) and of its other
    texts (the title, the edges' labels)."""
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes, others = [], []
    for text in fig.axes[0].texts:
        frame = text.get_bbox_patch()
        framed = frame is not None and "Round" in type(frame.get_boxstyle()).__name__
        (boxes if framed else others).append((frame if framed else text).get_window_extent(renderer))
    return boxes, others


def test_without_dot_no_two_boxes_or_labels_overlap() -> None:
    # googlenet at depth 2: four branches a layer, and the auxiliary heads beside them, which the
    # old layout (every layer one figure wide, boxes spaced evenly whatever their size) drew on top of each other
    pic = picture(nasblocks.expand(nasblocks.load("googlenet")), 2)
    boxes, others = drawn_texts(figure(pic))
    assert len(boxes) == len(pic.boxes)
    assert not [(a, b) for i, a in enumerate(boxes) for b in boxes[i + 1:] if a.overlaps(b)]
    assert not [(a, b) for i, a in enumerate(others) for b in [*boxes, *others[i + 1:]] if a.overlaps(b)]
    assert len(others) - 1 >= 0.9 * len(pic.edges)  # the title, and nearly every edge's shape
