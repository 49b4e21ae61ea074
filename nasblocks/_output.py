"""Files that the commands write (``viz``, ``export``, ``build -o``, ``study export``): one error
type for what stops them, and the check that the place can be written before any work is spent."""

from __future__ import annotations

from pathlib import Path

from nasblocks.errors import NasblocksError


class OutputError(NasblocksError):
    """A picture, an export or a saved file cannot be written as asked: an unknown format, a
    missing package or program, a path that cannot be written."""


def check_writable(path: Path) -> None:
    """Create ``path``'s folder and the file itself now, so a bad path fails in one line rather
    than after seconds of layout or tracing."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch()
    except OSError as err:
        raise OutputError(f"{path}: cannot write there ({err.strerror or err})") from None


def format_of(path: Path, fmt: str | None, formats: tuple[str, ...]) -> str:
    """The format asked for, or else the one ``path``'s suffix names; one of ``formats``."""
    chosen = (fmt or path.suffix.lstrip(".")).lower()
    if chosen not in formats:
        given = f"--format {fmt!r}" if fmt else f"the suffix of {path}"
        raise OutputError(f"{given}: expected one of {', '.join(formats)}")
    return chosen
