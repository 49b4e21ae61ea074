"""Fixtures of the search tests: a tiny spec and space in a temporary folder, a private latency
cache, and the smallest proxy settings that still train (one epoch on a few hundred digits)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

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


@pytest.fixture(autouse=True)
def _private_latency_table(latency_cache: Path) -> Path:
    """Every search here predicts latency from its own table (tests/conftest.py)."""
    return latency_cache


@pytest.fixture
def tiny_space(tmp_path: Path) -> Path:
    (tmp_path / "tiny_spec.yaml").write_text(TINY_SPEC)
    path = tmp_path / "tiny_space.yaml"
    path.write_text(TINY_SPACE)
    return path


@pytest.fixture
def quick(tiny_space: Path) -> dict[str, Any]:
    """SearchConfig values for a search of a few seconds."""
    return {"space": str(tiny_space), "budget": ["1MFLOPs"], "trials": 3, "epochs": 1, "resolution": 16,
            "limit": 240, "device": "cpu", "batch_size": 64, "sampler": "random"}
