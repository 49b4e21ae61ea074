"""The spec language's documentation: its worked example is a real spec that equals what it
claims to, its error lines are the loader's, and its lists of keys, heads, meta keys and
functions are the loader's; the commands the README and the docs show take the options they are
given, and name specs and vars that are."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import torch
import typer
from torchvision.models.resnet import BasicBlock

import nasblocks
from nasblocks._expand import META
from nasblocks._export import FORMATS as EXPORTS
from nasblocks._expr import FUNCTIONS
from nasblocks._output import format_of
from nasblocks._spec import RESERVED, SPEC_KEYS, specs_dir
from nasblocks._viz import FORMATS as PICTURES
from nasblocks.cli import app
from nasblocks.cli_spec import load_spec
from nasblocks.errors import SpecError

ROOT = Path(__file__).parents[1]
DOC = ROOT / "docs" / "spec-language.md"
COMMAND = re.compile(r"^ {4}(?:\.venv/bin/)?nasblocks ((?:build|viz|export|zoo|ops)\b.*?)(?: +#.*)?$", re.MULTILINE)


def test_worked_example_equals_torchvision_basic_blocks(tmp_path: Path) -> None:
    text = DOC.read_text().split("### A worked example")[1].split("```yaml\n")[1].split("```")[0]
    spec = tmp_path / "net.yaml"
    spec.write_text(text)
    model = nasblocks.build(nasblocks.load(spec)).eval()
    shortcut = torch.nn.Sequential(torch.nn.Conv2d(64, 128, 1, 2, bias=False), torch.nn.BatchNorm2d(128))
    reference = torch.nn.Sequential()
    reference.add_module("block1", BasicBlock(64, 64))
    reference.add_module("block2", BasicBlock(64, 128, 2, shortcut))
    reference.eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(1, 64, 28, 28)
    assert (model(x) - reference(x)).abs().max() < 1e-5
    first = str(nasblocks.expand(nasblocks.load(spec))).splitlines()[1]
    assert first.strip().replace(str(spec), "net.yaml") in DOC.read_text()


# a spec whose network[3] sits at line 12, as in the doc's error examples
ERRING = """imports: [blocks.yaml]
input: [3, 32, 32]
network:
  # stem
  - conv_bn_act: {out: 16, stride: 2}
  # stage 1
  - inverted_residual: {out: 16}
  # stage 2
  - inverted_residual:
      out: 24
      stride: 2
  - """


@pytest.mark.parametrize("item", ["conv: {out: -8, kernel: 3}", "inverted_residual: {out: 8, expand: 0.01}",
                                  "inverted_residual: {out: -8}"])
def test_the_error_lines_the_spec_language_shows_are_the_loaders(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                                  item: str) -> None:
    monkeypatch.chdir(tmp_path)  # paths shown relative to it, as the doc's
    (tmp_path / "specs").mkdir()
    (tmp_path / "specs" / "net.yaml").write_text(ERRING + item + "\n")
    with pytest.raises(SpecError) as caught:
        nasblocks.expand(nasblocks.load("specs/net.yaml"))
    shown = str(caught.value).replace(str(specs_dir() / "blocks.yaml"), "specs/blocks.yaml")
    assert f"\nerror: {shown}\n" in DOC.read_text()


def test_the_spec_file_sketch_is_a_spec_once_its_elisions_are_filled(tmp_path: Path) -> None:
    sketch = DOC.read_text().split("## A spec file")[1].split("```yaml\n")[1].split("```")[0]
    spec = tmp_path / "sketch.yaml"
    spec.write_text(sketch.replace("{...}", "{}").replace("  - ...", "  - conv_bn_act: {out: round_nearest}"))
    assert nasblocks.expand(nasblocks.load(spec, round_nearest=16)).output_shape == (16, 224, 224)


def test_spec_language_lists_the_keys_heads_meta_keys_and_functions_the_loader_knows() -> None:
    text = DOC.read_text()
    sketch = text.split("## A spec file")[1].split("```yaml\n")[1].split("```")[0]
    top_level = [line.split(":")[0] for line in sketch.splitlines() if line[:1].isalpha()]
    assert sorted(top_level) == sorted(SPEC_KEYS)
    items = text.split("| head | what it is |")[1].split("\n\n")[0]
    heads = re.findall(r"(?:^\| |, )`(\w+): ", items, re.MULTILINE)  # an op, a block, then RESERVED
    assert heads[:2] == ["conv", "conv_bn_act"] and set(heads[2:]) == RESERVED
    meta = text.split("| meta key | effect |")[1].split("\n\n")[0]
    assert re.findall(r"^\| `(\w+):", meta, re.MULTILINE) == list(META)
    listed = text.split("- functions:")[1].split(";")[0]
    assert {name for chunk in re.findall(r"`([^`]+)`", listed) for name in chunk.split("(")[0].split()} \
        == set(FUNCTIONS)


def documented_commands() -> list[list[str]]:
    """The words of each build, viz, export, zoo and ops line in the README's and the docs'
    command blocks."""
    texts = [(ROOT / name).read_text() for name in ("README.md", "docs/spec-language.md", "docs/viz-export.md")]
    return [shlex.split(line) for text in texts for line in COMMAND.findall(text)]


def test_the_docs_show_the_commands_of_their_sections() -> None:
    shown = {words[0] for words in documented_commands()}
    assert shown == {"build", "viz", "export", "zoo", "ops"} and len(documented_commands()) >= 20


@pytest.mark.parametrize("words", documented_commands(), ids=" ".join)
def test_a_documented_command_parses_and_names_a_network_that_expands(monkeypatch: pytest.MonkeyPatch,
                                                                     words: list[str]) -> None:
    monkeypatch.chdir(ROOT)  # the paths are the repository's, as the README's set-up leaves the shell
    command = typer.main.get_command(app).commands[words[0]]  # type: ignore[attr-defined]
    given = command.make_context(words[0], words[1:]).params  # an unknown option or a bad value raises
    if "spec" in given:
        nasblocks.expand(load_spec(given["spec"], given["set_"], given["input_size"]))
    if words[0] in ("viz", "export"):
        assert format_of(given["output"], given["fmt"], PICTURES if words[0] == "viz" else EXPORTS)
