"""Shared fixtures: tiny specs written to a temporary directory."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
import torch

from nasblocks import _latency_table


@pytest.fixture(autouse=True)
def _seed_and_threads() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(2)


@pytest.fixture
def write_spec(tmp_path: Path) -> Callable[..., Path]:
    """write_spec(text, name="net.yaml") → the path of a spec file holding ``text``."""

    def write(text: str, name: str = "net.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


@pytest.fixture
def latency_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private latency table (NASBLOCKS_CACHE), none left open by another test, and unit
    timing cut to a few calls: behaviour is tested, never a timing."""
    root = tmp_path / "cache"
    monkeypatch.setenv("NASBLOCKS_CACHE", str(root))
    monkeypatch.setattr(_latency_table, "_OPEN", {})
    monkeypatch.setattr(_latency_table, "UNIT_TIMING", {"warmup": 1, "repeats": 3})
    return root
