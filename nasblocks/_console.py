"""The console nasblocks prints to (the commands, and ``nasblocks.search``): rich's, except that
tables keep their natural width when the output goes to a file or a pipe, where rich assumes 80
columns and wraps every cell that overflows (``nasblocks build SPEC --summary > summary.txt``)."""

from __future__ import annotations

import os

from rich.console import Console

# wide enough for any table the commands print; a table takes only the width it needs
_UNBOUNDED = 1000


def make_console() -> Console:
    """A terminal's console as rich sets it up; elsewhere one without a width limit (unless
    ``COLUMNS`` sets one)."""
    console = Console()
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return Console(width=_UNBOUNDED)
