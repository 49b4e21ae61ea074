"""Fixtures of the search tests: a tiny spec and space in a temporary folder, a private latency
cache, the smallest proxy settings that still train (one epoch on a few hundred digits), and a
real PostgreSQL server for the studies that workers share."""

from __future__ import annotations

import os
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from postgres_server import SERVER_SCRIPT, Postgres, start_postgres
from tiny_search import write_tiny_space


@pytest.fixture(autouse=True)
def _private_latency_table(latency_cache: Path) -> Path:
    """Every search here predicts latency from its own table (tests/conftest.py)."""
    return latency_cache


@pytest.fixture
def tiny_space(tmp_path: Path) -> Path:
    return write_tiny_space(tmp_path)


@pytest.fixture
def quick(tiny_space: Path) -> dict[str, Any]:
    """SearchConfig values for a search of a few seconds."""
    return {"space": str(tiny_space), "budget": ["1MFLOPs"], "trials": 3, "epochs": 1, "resolution": 16,
            "limit": 240, "device": "cpu", "batch_size": 64, "sampler": "random"}


@pytest.fixture(scope="session")
def postgres() -> Iterator[Postgres]:
    folder = tempfile.mkdtemp(prefix="nasblocks-pg-")
    os.chmod(folder, 0o755)  # the server runs as the postgres user when the tests run as root
    try:
        yield start_postgres(f"{folder}/pg")
    finally:
        subprocess.run([str(SERVER_SCRIPT), "stop", f"{folder}/pg"], check=False, capture_output=True)
        os.rmdir(folder)
