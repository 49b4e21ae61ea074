"""Files that the commands write (``viz``, ``export``, ``build -o``, ``study export``): one error
type for what stops them, the check that the place can be written before any work is spent, and
the guard around the write itself (a full disk shows only then)."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from nasblocks.errors import NasblocksError


class OutputError(NasblocksError):
    """A picture, an export or a saved file cannot be written as asked: an unknown format, a
    missing package or program, a path that cannot be written."""


def check_writable(path: Path) -> None:
    """Create ``path``'s folder and open the file itself for writing now (appending, so nothing
    is lost yet), so a bad path fails in one line rather than after seconds of layout or tracing."""
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; name a file to write")
    for folder in path.parents:  # mkdir would say "File exists" of a file where a folder must be
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"{path}: cannot write there ({folder} is a file, not a folder)")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("ab"):
            pass
    except OSError as err:
        raise _cannot_write(path, err) from None


@contextmanager
def claimed(path: Path) -> Iterator[None]:
    """:func:`check_writable` before the work inside this block, so that a bad path fails at
    once; when the work then fails or is interrupted, the file the check created is removed
    rather than left to pass for a picture, a model or a spec (a file that was there before is
    left)."""
    existed = path.exists()
    check_writable(path)
    try:
        yield
    except BaseException:
        if not existed and path.is_file():
            path.unlink()
        raise


@contextmanager
def writing(path: Path, *beside: Path) -> Iterator[None]:
    """Write ``path`` (and the files ``beside`` it that the same write makes) inside this block:
    an OSError there (a full disk, most often) becomes one OutputError naming the path, and the
    half-written files are removed (check_writable opened ``path`` already, so what fails here is
    the write, after the old contents were truncated)."""
    try:
        yield
    except OSError as err:
        for written in (path, *beside):
            if written.is_file():
                written.unlink()
        raise _cannot_write(path, err) from None


def write_saved(path: Path, save: Callable[[IO[bytes]], object]) -> None:
    """Let ``save`` (``torch.save``, ``torch.export.save``) write into memory, then write that to
    ``path``: torch's own file writer reports a full disk as a cryptic RuntimeError, or aborts."""
    saved = io.BytesIO()
    save(saved)
    with writing(path):
        path.write_bytes(saved.getbuffer())


def _cannot_write(path: Path, err: OSError) -> OutputError:
    return OutputError(f"{path}: cannot write there ({err.strerror or err})")


def format_of(path: Path, fmt: str | None, formats: tuple[str, ...]) -> str:
    """The format asked for, or else the one ``path``'s suffix names; one of ``formats``."""
    chosen = (fmt or path.suffix.lstrip(".")).lower()
    if chosen not in formats:
        given = f"--format {fmt!r}" if fmt else f"the suffix of {path}"
        raise OutputError(f"{given}: expected one of {', '.join(formats)}")
    return chosen
