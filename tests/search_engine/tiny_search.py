"""The tiny spec and space the search tests run on: a MobileNetV2-like network of a few
thousand parameters whose width, depth and kernel are searched."""

from __future__ import annotations

from pathlib import Path

TINY_SPEC = """
name: tiny
imports: [blocks.yaml]
vars: {width: 1.0, depth: 1, kernel: 3, num_classes: 1000, resolution: 32}
input: [3, resolution, resolution]
network:
  - conv_bn_act: {out: "make_divisible(16 * width, 8)", stride: 2}
  - inverted_residual: {out: "make_divisible(24 * width, 8)", expand: 2, kernel: kernel,
                        stride: "2 if i == 0 else 1"}
    repeat: depth
  - adaptive_avgpool: {}
  - flatten: {}
  - linear: {out: num_classes}
"""

TINY_SPACE = """
name: tiny
base: tiny_spec.yaml
fit: width
vars:
  width: {low: 0.5, high: 3.0, step: 0.25}
  depth: {low: 1, high: 3}
  kernel: {choices: [3, 5]}
"""


def write_tiny_space(folder: Path, space: str = TINY_SPACE) -> Path:
    (folder / "tiny_spec.yaml").write_text(TINY_SPEC)
    path = folder / "tiny_space.yaml"
    path.write_text(space)
    return path
