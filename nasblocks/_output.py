"""Files that the commands write (``viz``, ``export``, ``build -o``, ``study export``, a search's
trial specs and plots, the latency table): one error type for what stops them, the check that
the place can be written before any work is spent, and the write itself, whole or not at all.

A file is written into a fresh folder beside it and renamed over it (``os.replace``) once whole,
so a full disk, a failure or Ctrl-C midway leaves an earlier file as it was, byte for byte, and no
new file half written."""

from __future__ import annotations

import io
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from nasblocks.errors import NasblocksError


class OutputError(NasblocksError):
    """A picture, an export or a saved file cannot be written as asked: an unknown format, a
    missing package or program, a path that cannot be written."""


def check_writable(path: Path) -> None:
    """Create ``path``'s folder and check that the file can be written there now — a file opened
    for appending (nothing in it changes) where one is, a file made and dropped in its folder
    where the new one will be renamed in — so a bad path fails in one line rather than after
    seconds of layout or tracing. No file is created: one appears only when it is written whole."""
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; name a file to write")
    for folder in path.parents:  # mkdir would say "File exists" of a file where a folder must be
        if folder.exists() and not folder.is_dir():
            raise OutputError(f"{path}: cannot write there ({folder} is a file, not a folder)")
    target = Path(os.path.realpath(path))
    try:
        if path.exists():
            with path.open("ab"):  # a file its owner made read-only is refused, as by cp
                pass
        if not _in_place(path):
            target.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=target.parent):
                pass
    except OSError as err:
        raise _cannot_write(path, err) from None


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """Yield where to write ``path``: the same name in a fresh folder beside it. When the block
    ends without error, what it wrote there (``path`` and the files the same write makes beside
    it, ONNX's weights file) is renamed over the files of those names, ``path`` last; the folder
    is removed whatever happens. A replaced file keeps its permissions; a new one gets the
    umask's, as any file created in place would (mkstemp's 0600 would hide a model or a shared
    latency table from the folder's other users). Through a link, the linked file is replaced;
    a file that cannot be replaced (``/dev/stdout``, ``/dev/full``) is written in place.
    An OSError (a full disk, most often) is raised as it is."""
    if _in_place(path):
        yield path
        return
    target = Path(os.path.realpath(path))
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        yield staging / target.name
        for written in sorted(staging.iterdir(), key=lambda file: file.name == target.name):
            _replace(written, target.parent / written.name)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _in_place(path: Path) -> bool:
    """Whether ``path`` is written where it is: something other than a file (a device, a pipe),
    seen through its links as the kernel sees them — ``/dev/stdout`` piped to another program
    names a pipe that no folder holds."""
    return path.exists() and not path.is_file()


def _replace(written: Path, target: Path) -> None:
    """Rename ``written`` over ``target`` once it is on disk (a crash just after a rename
    otherwise can leave the new name with no contents), with ``target``'s permissions."""
    if target.exists():
        os.chmod(written, stat.S_IMODE(target.stat().st_mode))
    file = os.open(written, os.O_RDONLY)
    try:
        os.fsync(file)
    finally:
        os.close(file)
    os.replace(written, target)


@contextmanager
def writing(path: Path) -> Iterator[Path]:
    """:func:`replacing`, with an OSError as one OutputError naming ``path``: the way to write
    what a command makes for its user (a model, a picture, a spec, a plot)."""
    try:
        with replacing(path) as staged:
            yield staged
    except OSError as err:
        raise _cannot_write(path, err) from None


def write_bytes(path: Path, data: bytes | memoryview) -> None:
    """Write ``data`` to ``path`` whole or not at all (:func:`writing`)."""
    with writing(path) as staged:
        staged.write_bytes(data)


def write_saved(path: Path, save: Callable[[IO[bytes]], object]) -> None:
    """Let ``save`` (``torch.save``, ``torch.export.save``, a figure's ``savefig``) write into
    memory, then write that to ``path``: torch's own file writer reports a full disk as a cryptic
    RuntimeError, or aborts."""
    saved = io.BytesIO()
    save(saved)
    write_bytes(path, saved.getbuffer())


def _cannot_write(path: Path, err: OSError) -> OutputError:
    return OutputError(f"{path}: cannot write there ({err.strerror or err})")


def format_of(path: Path, fmt: str | None, formats: tuple[str, ...]) -> str:
    """The format asked for, or else the one ``path``'s suffix names; one of ``formats``."""
    chosen = (fmt or path.suffix.lstrip(".")).lower()
    if chosen not in formats:
        given = f"--format {fmt!r}" if fmt else f"the suffix of {path}"
        raise OutputError(f"{given}: expected one of {', '.join(formats)}")
    return chosen
