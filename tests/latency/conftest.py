"""Fixtures of the latency tests: a tiny network, a private cache directory, quick timing, and
a fake GPU (fake_gpu.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from fake_gpu import FakeGPU, install

import nasblocks

TINY = """
name: tiny
imports: [blocks.yaml]
input: [3, 16, 16]
network:
  - conv_bn_act: {out: 8, stride: 2}
  - inverted_residual: {out: 8, expand: 2}
  - adaptive_avgpool: {}
  - flatten: {}
  - linear: {out: 4}
"""


@pytest.fixture(autouse=True)
def cache(latency_cache: Path) -> Path:
    """Every test here gets its own latency table (tests/conftest.py)."""
    return latency_cache


@pytest.fixture
def tiny_path(write_spec: Callable[..., Path]) -> Path:
    return write_spec(TINY, "tiny.yaml")


@pytest.fixture
def tiny(tiny_path: Path) -> nasblocks.Graph:
    return nasblocks.expand(nasblocks.load(str(tiny_path)))


@pytest.fixture
def gpu(monkeypatch: pytest.MonkeyPatch) -> FakeGPU:
    """torch.cuda faked, the network kept on the CPU."""
    return install(monkeypatch)
