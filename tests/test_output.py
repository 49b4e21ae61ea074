"""Files written whole or not at all (nasblocks._output): a write that fails or is interrupted
midway leaves an earlier file as it was, byte for byte, and nothing beside it; a new file never
exists half written; permissions follow the earlier file, or the umask."""

from __future__ import annotations

import errno
import os
import resource
import stat
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from nasblocks._output import OutputError, check_writable, write_bytes, writing
from nasblocks.cli import main

EARLIER = b"an earlier file\n"


@pytest.fixture
def earlier(tmp_path: Path) -> Path:
    path = tmp_path / "m.pt"
    path.write_bytes(EARLIER)
    path.chmod(0o640)
    return path


@pytest.fixture
def umask() -> Iterator[Callable[[int], None]]:
    previous = os.umask(0o022)
    yield os.umask
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


STOPS = [pytest.param(OSError, OutputError, id="full-disk"), pytest.param(KeyboardInterrupt, KeyboardInterrupt, id="ctrl-c")]


def stopped(stop: type[BaseException]) -> BaseException:
    return OSError(errno.ENOSPC, "No space left on device") if stop is OSError else stop()


@pytest.mark.parametrize(("stop", "raised"), STOPS)
def test_a_write_stopped_midway_keeps_the_earlier_file(earlier: Path, stop: type[BaseException], raised: type) -> None:
    with pytest.raises(raised) as caught, writing(earlier) as staged:
        staged.write_bytes(b"the first half of a new model")
        staged.with_name(f"{staged.name}.data").write_bytes(b"its weights")  # what ONNX writes beside
        raise stopped(stop)
    assert earlier.read_bytes() == EARLIER and mode(earlier) == 0o640
    assert list(earlier.parent.iterdir()) == [earlier]
    if raised is OutputError:
        assert str(caught.value) == f"{earlier}: cannot write there (No space left on device)"


@pytest.mark.parametrize(("stop", "raised"), STOPS)
def test_a_new_file_stopped_midway_is_not_there(tmp_path: Path, stop: type[BaseException], raised: type) -> None:
    with pytest.raises(raised), writing(tmp_path / "new.pt") as staged:
        staged.write_bytes(b"the first half")
        raise stopped(stop)
    assert list(tmp_path.iterdir()) == []


def test_a_replaced_file_keeps_its_permissions_and_a_new_one_follows_the_umask(
        earlier: Path, tmp_path: Path, umask: Callable[[int], None]) -> None:
    write_bytes(earlier, b"new")
    assert earlier.read_bytes() == b"new" and mode(earlier) == 0o640
    write_bytes(tmp_path / "new.pt", b"new")
    umask(0o027)
    write_bytes(tmp_path / "private.pt", b"new")
    assert mode(tmp_path / "new.pt") == 0o644 and mode(tmp_path / "private.pt") == 0o640
    assert sorted(path.name for path in tmp_path.iterdir()) == ["m.pt", "new.pt", "private.pt"]


def test_files_written_beside_land_with_it(tmp_path: Path) -> None:
    (tmp_path / "m.onnx.data").write_bytes(b"earlier weights")
    with writing(tmp_path / "m.onnx") as staged:
        staged.write_bytes(b"model")
        staged.with_name("m.onnx.data").write_bytes(b"weights")
    assert {path.name: path.read_bytes() for path in tmp_path.iterdir()} == \
        {"m.onnx": b"model", "m.onnx.data": b"weights"}


def test_through_a_link_the_linked_file_is_replaced(earlier: Path, tmp_path: Path) -> None:
    link = tmp_path / "latest.pt"
    link.symlink_to(earlier.name)
    write_bytes(link, b"new")
    assert link.is_symlink() and earlier.read_bytes() == b"new" and mode(earlier) == 0o640


def test_the_early_check_changes_and_creates_nothing(earlier: Path, tmp_path: Path) -> None:
    before = earlier.stat()
    check_writable(earlier)
    check_writable(tmp_path / "sub" / "new.pt")
    after = earlier.stat()
    assert earlier.read_bytes() == EARLIER and (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size)
    assert sorted(path.relative_to(tmp_path).as_posix() for path in tmp_path.rglob("*")) == ["m.pt", "sub"]


@pytest.mark.parametrize("stop", ["file-too-large", "ctrl-c"])
def test_build_o_stopped_while_writing_keeps_the_earlier_model(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str], earlier: Path,
                                                               write_spec: Callable[..., Path], stop: str) -> None:
    spec = write_spec("name: wide\ninput: [64, 4, 4]\nnetwork:\n  - conv: {out: 256, kernel: 3}\n")  # 0.6 MB saved
    monkeypatch.setattr(sys, "argv", ["nasblocks", "build", str(spec), "-o", str(earlier)])
    if stop == "ctrl-c":
        write = Path.write_bytes

        def interrupted(path: Path, data: bytes) -> int:
            write(path, bytes(data[:len(data) // 2]))
            raise KeyboardInterrupt

        monkeypatch.setattr(Path, "write_bytes", interrupted)
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    if stop == "file-too-large":  # past RLIMIT_FSIZE a write fails with EFBIG (Python ignores SIGXFSZ)
        resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, hard))
    try:
        with pytest.raises(SystemExit) as exited:
            main()
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    err = capsys.readouterr().err
    if stop == "ctrl-c":
        assert exited.value.code == 130 and err == "interrupted\n"
    else:
        assert exited.value.code == 2 and err == f"error: {earlier}: cannot write there (File too large)\n"
    assert earlier.read_bytes() == EARLIER and mode(earlier) == 0o640
    assert sorted(path.name for path in earlier.parent.iterdir()) == ["m.pt", "net.yaml"]
