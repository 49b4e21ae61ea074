"""The PostgreSQL server of the shared-study tests, started by scripts/postgres-test-server.sh:
on loopback, trusting local users, gone when the tests end."""

from __future__ import annotations

import socket
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

SERVER_SCRIPT = Path(__file__).parents[2] / "scripts" / "postgres-test-server.sh"


@dataclass
class Postgres:
    """A throwaway server on loopback (scripts/postgres-test-server.sh), trusting local users."""

    url: str
    folder: str
    port: int

    def restart(self, down: float = 0) -> None:
        """Stop the server (every connection dropped), wait ``down`` seconds, start it again."""
        subprocess.run([str(SERVER_SCRIPT), "restart", self.folder, str(down)], check=True, capture_output=True)


def start_postgres(folder: str) -> Postgres:
    """Start the test server, or fail — never skip — saying why and how to install it."""
    with socket.socket() as probe:  # a free port on loopback
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    done = subprocess.run([str(SERVER_SCRIPT), "start", folder, str(port)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.fail(f"the PostgreSQL test server did not start ({SERVER_SCRIPT.name} exited with "
                    f"{done.returncode}): {done.stderr.strip()}\nInstall it with scripts/install-services.sh "
                    f"(make services); CI runs it before the tests.", pytrace=False)
    return Postgres(done.stdout.strip(), folder, port)
