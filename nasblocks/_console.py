"""The console nasblocks prints to (the commands, and ``nasblocks.search``): rich's, except for
tables, whose names and numbers are never cut.

rich fits a table to the console's width: it wraps cells at spaces, and where that is not
enough it cuts every column short (``13,004,8…``, ``inceptio…``). Here a table's cells still
wrap at spaces, but no word, name or number is cut: a table that cannot be whole in the
console's width is printed as narrow as it can be whole, its lines longer than the window (a
terminal wraps them, a pager scrolls them, a file keeps them). Where the output goes to a file or
a pipe, tables keep their natural width, where rich assumes 80 columns (``nasblocks build SPEC
--summary > summary.txt``), unless ``COLUMNS`` sets one. Colour follows rich's rules: none in a
file or a pipe, none where ``NO_COLOR`` is set.
"""

from __future__ import annotations

import os
from typing import Any

from rich.console import Console
from rich.measure import Measurement
from rich.segment import Segments
from rich.table import Table

# wide enough for any table the commands print; a table takes only the width it needs
_UNBOUNDED = 1000


class _WholeTablesConsole(Console):
    """rich's console, printing a table as narrow as the console where it can be whole there,
    and as narrow as it can be whole where not."""

    def print(self, *objects: Any, **options: Any) -> None:
        if len(objects) == 1 and isinstance(objects[0], Table):
            table = objects[0]
            _keep_whole(self, table)
            whole = Measurement.get(self, self.options.update_width(_UNBOUNDED), table).minimum
            objects = (Segments(self.render(table, self.options.update_width(max(self.width, whole)))),)
            options = {"crop": False} | options  # its lines as long as they are
        super().print(*objects, **options)


def _keep_whole(console: Console, table: Table) -> None:
    """Give each column of ``table`` the least width that cuts none of its cells: its longest
    word, or where the column does not wrap its longest cell (header included)."""
    wide = console.options.update_width(_UNBOUNDED)
    for column in table.columns:
        sizes = [Measurement.get(console, wide, cell) for cell in [column.header, *column.cells]]
        whole = max(size.maximum if column.no_wrap else size.minimum for size in sizes)
        column.min_width = max(column.min_width or 0, whole)


def make_console() -> Console:
    """A terminal's console as rich sets it up; elsewhere one without a width limit (unless
    ``COLUMNS`` sets one)."""
    console = _WholeTablesConsole()
    if console.is_terminal or "COLUMNS" in os.environ:
        return console
    return _WholeTablesConsole(width=_UNBOUNDED)
