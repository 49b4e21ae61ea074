"""Shared fixtures: tiny specs written to a temporary directory."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import torch

from nasblocks import _latency_table


@pytest.fixture(autouse=True)
def _seed_and_threads() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(2)


@pytest.fixture
def alarm() -> Iterator[None]:
    """A spec that hangs fails the test after 20 s instead of hanging the suite; no time is
    measured, so a slow machine never fails it."""
    def hung(signum: int, frame: object) -> None:
        pytest.fail("still running after 20 s: not refused quickly")

    previous = signal.signal(signal.SIGALRM, hung)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


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
