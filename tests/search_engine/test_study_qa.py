"""Studies as a demanding user manages them: storage URLs that would lose or misread trials, reading
commands given a mistyped storage, a study folder renamed or half deleted, a study that holds no
nasblocks settings. Each refusal is one line and exit status 2, and leaves nothing behind."""

from __future__ import annotations

import shutil
from pathlib import Path

import optuna
import pytest
from test_search_cli import run
from tiny_search import write_tiny_space

from nasblocks._storage import _check_at_signs, open_storage, redact, scrub


def quick_args(space: str, root: Path) -> list[str]:
    return ["--space", space, "--budget", "1MFLOPs", "--trials", "1", "--epochs", "1", "--resolution", "16",
            "--limit", "40", "--batch-size", "16", "--device", "cpu", "--dir", str(root)]


@pytest.mark.parametrize("storage, message", [
    ("sqlite://", "error: --storage sqlite://: an in-memory database, whose trials end with the process; expected "
                  "sqlite:///PATH, the path of the database file"),
    ("sqlite:///:memory:", "error: --storage sqlite:///:memory:: an in-memory database, whose trials end with the "
                           "process"),
    ("sqlite:x", "error: --storage sqlite:x: not a database URL (Could not parse SQLAlchemy URL"),
    ("sqlite:///{tmp}", "error: --storage sqlite:///{tmp}: {tmp} is a folder; expected sqlite:///PATH, the path of "
                        "the database file"),
    ("journal:{tmp}/notes.txt", "error: --storage journal:{tmp}/notes.txt: {tmp}/notes.txt is not an Optuna journal "
                                "file (Expecting value: line 1 column 1 (char 0)); expected journal:PATH"),
    ("postgresql://me:p@ss@db/nas", "error: --storage postgresql://me:***@db/nas: the password holds '@', which "
                                    "ends it in a URL: write it as %40"),
    ("postgresql://me:p/s@ss@db/nas", "error: --storage postgresql://me:***@db/nas: the password holds '@'"),
])
def test_a_storage_that_would_lose_or_misread_trials_is_one_line(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path, tiny_space: Path,
        storage: str, message: str) -> None:
    (tmp_path / "notes.txt").write_text("not a journal\n")
    root = tmp_path / "studies"
    _, err = run(monkeypatch, capsys, "search", *quick_args(str(tiny_space), root), "--study", "s",
                 "--storage", storage.format(tmp=tmp_path), status=2)
    assert err.startswith(message.format(tmp=tmp_path)) and err.count("\n") == 1, err
    assert "ss@" not in err and not root.exists()
    assert (tmp_path / "notes.txt").read_text() == "not a journal\n"


@pytest.mark.parametrize("storage", ["sqlite:///{tmp}/typo.db", "journal:{tmp}/typo.log"])
@pytest.mark.parametrize("command", [["study", "list"], ["study", "show", "s"], ["study", "export", "s", "-o", "x.yaml"],
                                     ["search", "--study", "s", "--resume"]])
def test_a_mistyped_storage_file_is_not_there_and_stays_so(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str], tmp_path: Path,
                                                           storage: str, command: list[str]) -> None:
    url = storage.format(tmp=tmp_path)
    _, err = run(monkeypatch, capsys, *command, "--storage", url, "--dir", str(tmp_path), status=2)
    typo = Path(url.partition(":")[2].removeprefix("///"))
    assert err == f"error: --storage {url}: {typo} does not exist\n"
    assert list(tmp_path.iterdir()) == []  # not an empty database, which would say "no studies"


def test_a_renamed_study_folder_names_the_study_it_holds(monkeypatch: pytest.MonkeyPatch,
                                                         capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "mbv2").mkdir()
    url = f"sqlite:///{tmp_path / 'mbv2' / 'study.db'}"
    optuna.create_study(study_name="mbv2", storage=open_storage(url))
    (tmp_path / "mbv2").rename(tmp_path / "mbv2-300")
    renamed = url.replace("mbv2", "mbv2-300")
    _, err = run(monkeypatch, capsys, "study", "show", "mbv2-300", "--dir", str(tmp_path), status=2)
    assert err == (f"error: no study 'mbv2-300' in {renamed}; it holds study 'mbv2': a study keeps its name, and "
                   f"its folder must too (rename {tmp_path / 'mbv2-300'} back to {tmp_path / 'mbv2'})\n")


def test_a_study_without_nasblocks_settings_says_so(monkeypatch: pytest.MonkeyPatch,
                                                    capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "other").mkdir()  # another tool's study, or a search stopped while it created the study
    optuna.create_study(study_name="other", storage=open_storage(f"sqlite:///{tmp_path / 'other' / 'study.db'}"))
    out, _ = run(monkeypatch, capsys, "study", "show", "other", "--dir", str(tmp_path))
    assert out.splitlines()[0] == "study other: no nasblocks settings; no trial"
    out, _ = run(monkeypatch, capsys, "study", "list", "--dir", str(tmp_path))
    row = next(line for line in out.splitlines() if line.startswith("│ other"))
    assert [cell.strip() for cell in row.split("│")[1:-1]] == ["other", "0", "—", "no nasblocks settings", ""]


def test_a_trial_whose_spec_and_space_are_gone_is_one_line(monkeypatch: pytest.MonkeyPatch,
                                                           capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    (tmp_path / "spaces").mkdir()
    space = write_tiny_space(tmp_path / "spaces")
    root = tmp_path / "studies"
    run(monkeypatch, capsys, "search", *quick_args(str(space), root), "--study", "t")
    shutil.rmtree(root / "t" / "trials")  # half deleted: the specs, and the space they came from
    shutil.rmtree(tmp_path / "spaces")
    _, err = run(monkeypatch, capsys, "study", "export", "t", "-o", str(tmp_path / "best.yaml"), "--dir", str(root),
                 status=2)
    assert err.startswith(f"error: trial 0 of 't': its spec {root / 't' / 'trials' / '0.yaml'} is not there, and "
                          f"writing it again needs the study's space, which cannot be read: ") and err.count("\n") == 1
    assert err.rstrip().endswith("file not found") and not (tmp_path / "best.yaml").exists()


@pytest.mark.parametrize("url, shown, password", [
    ("postgresql://alice@srv:s3cret@srv.example.com/db", "postgresql://alice@srv:***@srv.example.com/db", "s3cret"),
    ("postgresql://alice:pa/ss@host/db", "postgresql://alice:***@host/db", "pa/ss"),
    ("postgresql://alice:pa%2Fss@host/db?sslmode=require", "postgresql://alice:***@host/db?sslmode=require", "pa/ss"),
    ("postgresql://alice@host:5432/db", "postgresql://alice@host:5432/db", None),
    ("sqlite:////home/a@b/study.db", "sqlite:////home/a@b/study.db", None),
], ids=["user@server", "slash", "encoded", "no password", "sqlite path"])
def test_a_password_is_hidden_whatever_it_holds(url: str, shown: str, password: str | None) -> None:
    """Azure's user@server names are taken (SQLAlchemy reads them), and a password's '/' hides too."""
    assert redact(url) == shown
    _check_at_signs(url)
    if password is not None:
        assert scrub(f"FATAL: password authentication failed ({password})", url) == \
            "FATAL: password authentication failed (***)"


def test_a_journal_whose_first_log_was_cut_short_is_taken_as_optuna_takes_it(tmp_path: Path) -> None:
    """What a worker killed while writing the study's first log leaves: Optuna passes over it."""
    cut = tmp_path / "cut.log"
    cut.write_text('{"op_code":0,"worker_id":"x","study_name"')
    assert optuna.get_all_study_names(open_storage(f"journal:{cut}", create=False)) == []
