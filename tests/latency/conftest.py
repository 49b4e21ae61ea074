"""Fixtures of the latency tests: a tiny network, a private cache directory, quick timing."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import nasblocks
from nasblocks import _latency_table

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
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own NASBLOCKS_CACHE, no table left open from another test, and unit
    timing cut to a few calls (behaviour is tested here, never a timing)."""
    root = tmp_path / "cache"
    monkeypatch.setenv("NASBLOCKS_CACHE", str(root))
    monkeypatch.setattr(_latency_table, "_OPEN", {})
    monkeypatch.setattr(_latency_table, "UNIT_TIMING", {"warmup": 1, "repeats": 3, "min_block_ms": 0.05})
    return root


@pytest.fixture
def tiny_path(write_spec: Callable[..., Path]) -> Path:
    return write_spec(TINY, "tiny.yaml")


@pytest.fixture
def tiny(tiny_path: Path) -> nasblocks.Graph:
    return nasblocks.expand(nasblocks.load(str(tiny_path)))
