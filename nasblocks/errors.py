"""nasblocks' error types: one root, so the CLI can catch exactly its own errors.

Every error about user input carries where it came from: a file, a line and the path inside
the spec (``specs/x.yaml:41: network[3].inverted_residual.out: expected ...``). The CLI prints
that one line and exits with status 2; a traceback appears only with ``--debug``.
"""

from __future__ import annotations


class NasblocksError(Exception):
    """Root of every error nasblocks raises about its input."""


class SpecError(NasblocksError):
    """A spec (or search space) is malformed; names file, line and path inside the spec."""

    def __init__(self, message: str, *, file: str | None = None, line: int | None = None,
                 path: str | None = None) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.path = path
        super().__init__(str(self))

    def __str__(self) -> str:
        where = ""
        if self.file:
            where = f"{self.file}:{self.line}: " if self.line else f"{self.file}: "
        place = f"{self.path}: " if self.path else ""
        return f"{where}{place}{self.message}"


class BudgetError(NasblocksError):
    """A budget string (``--budget 300MFLOPs``) cannot be read as one positive quantity."""


class StudyError(NasblocksError):
    """A study cannot be found, created, resumed or exported as asked."""


class DataError(NasblocksError):
    """A proxy dataset source is unknown, or its files are missing or not in the expected layout."""


class DeviceError(NasblocksError):
    """A device (``--device``, ``cost(latency=...)``, the device a trial trained on) is not one
    nasblocks runs on, or not on this machine: ``--device cuda`` without a GPU, ``cuda:3`` on a
    machine with one."""


class LatencyError(NasblocksError):
    """A latency cannot be measured or predicted as asked: a setting (dtype, batch, threads) or a
    latency table file is invalid, or the GPU does not behave as the timing needs."""


class DeviceMemoryError(LatencyError):
    """The device ran out of memory running a network to time it: a batch, or a network, too
    large for it. A search fails that trial and goes on, where other latency errors stop it."""


class WeightsError(NasblocksError):
    """A weights file (``--weights``, ``nasblocks.build(spec, weights=...)``) cannot be read, or
    its tensors do not fit the network: the keys missing on either side and the shapes that
    differ are named."""
