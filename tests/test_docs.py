"""The documentation's worked example is a real spec that equals what it claims to."""

from __future__ import annotations

from pathlib import Path

import torch
from torchvision.models.resnet import BasicBlock

import nasblocks

DOC = Path(__file__).parents[1] / "docs" / "spec-language.md"


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
