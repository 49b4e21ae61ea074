"""`nasblocks search` for the fault tests, with the proxy training replaced by a stand-in that
sleeps instead of computing and touches ``<markers>/<trial>.<pid>`` when a trial starts training,
so that a test can kill, pause or stop a worker in the middle of a trial. Everything else (the
study, its storage, the heartbeats, the stop rule, the CLI) is the real one.

    NASBLOCKS_TEST_MARKERS=DIR python tests/search_engine/fault_worker.py search --study s ...
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import pytest

from nasblocks import _search, _train
from nasblocks._train import TrainResult

EPOCH_SECONDS = 0.4


def slow_train(model: Any, data: Any, *, epochs: int, seed: int, report: Any, **_: Any) -> TrainResult:
    """Each epoch sleeps and reports; trial n (seed n) reaches accuracy 0.5 + n / 1000."""
    (Path(os.environ["NASBLOCKS_TEST_MARKERS"]) / f"{seed}.{os.getpid()}").touch()
    accuracy = 0.5 + seed / 1000
    for epoch in range(1, epochs + 1):
        time.sleep(EPOCH_SECONDS)
        report(epoch, accuracy)
    return TrainResult(accuracy, epochs, epochs * EPOCH_SECONDS, seed, "cpu")


def install() -> None:
    """Swap in the stand-in training and a fixed latency (no timing of the deployment network)."""
    _train.train = slow_train  # type: ignore[assignment]
    _search.Search._measure = lambda self, spec: 1.0  # type: ignore[method-assign]


def launch(args: list[str], markers: Path, output: IO[str] | int = subprocess.PIPE,
           **env: str) -> subprocess.Popen[str]:
    """A worker process running ``nasblocks <args>`` with this module's stand-in training."""
    return subprocess.Popen([sys.executable, __file__, *args], stdout=output, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "NASBLOCKS_TEST_MARKERS": str(markers), "COLUMNS": "250", **env})


def wait_for(condition: Callable[[], Any], what: str, process: subprocess.Popen[str], timeout: float = 60) -> Any:
    """Poll until ``condition()`` is true and return it; fail if the worker exits or time runs out."""
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        if process.poll() is not None or time.monotonic() > deadline:
            pytest.fail(f"waited in vain for {what} (worker exit status {process.poll()})")
        time.sleep(0.05)
    return found


if __name__ == "__main__":
    install()
    from nasblocks.cli import main

    sys.argv = ["nasblocks", *sys.argv[1:]]
    main()
