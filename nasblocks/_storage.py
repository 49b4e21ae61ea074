"""Where a study's trials are kept, and how several workers share them.

- ``sqlite:///...`` (the default, studies/<name>/study.db): no server, one writer. A lock file
  beside the database refuses a second process instead of letting SQLite's "database is locked"
  surface mid-trial.
- ``postgresql://user@host/db`` (any SQLAlchemy server URL): Optuna's RDB storage, shared by
  any number of workers on any number of machines. Each worker beats a heartbeat while it runs a
  trial; a RUNNING trial whose heartbeat is older than the grace period belongs to a dead worker,
  and the next worker to start a trial marks it failed and queues it again (Optuna's
  ``RetryHeartbeatStaleTrialCallback``). Pooled connections are pinged before use, so a
  connection that the server dropped while idle, or a server restart, costs a reconnect.
- ``journal:PATH``: Optuna's journal storage in one file, shared by processes on one machine
  (file locks, no server). Optuna gives it no heartbeats.

A storage URL is shown only through ``redact``: its password never reaches a message or a log.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import warnings
from pathlib import Path
from typing import IO
from urllib.parse import unquote

import optuna
import sqlalchemy.exc
from optuna.storages import BaseStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend, JournalStorage
from sqlalchemy.engine import make_url

from nasblocks._study import StudyError

# A worker writes a heartbeat every 30 s while it runs a trial; a RUNNING trial whose last
# heartbeat is older than 90 s belongs to a dead worker: it is failed and retried (twice at most).
# NASBLOCKS_HEARTBEAT=INTERVAL,GRACE (seconds) changes both, e.g. for tests or short trials.
HEARTBEAT = (30, 90)
HEARTBEAT_ENV = "NASBLOCKS_HEARTBEAT"
MAX_RETRY = 2
JOURNAL = "journal:"
_SQLITE_PATH = "expected sqlite:///PATH, the path of the database file"


# A URL's password, as the user meant it: from the ':' after the user name (which may hold '@',
# as Azure's user@server does) to the last '@' before the query. It may hold '/'. SQLAlchemy ends
# it at the first '@', so a password holding one is refused (_check_at_signs).
_PASSWORD = re.compile(r"^([\w+.-]+://[^:/]*):([^?]*)@")


def redact(url: str) -> str:
    """``url`` as it may be shown: the password replaced by ``***``."""
    return _PASSWORD.sub(r"\1:***@", url, count=1)


def scrub(text: str, url: str) -> str:
    """``text`` (a driver's error message, say) with the URL's password, as typed or decoded,
    replaced by ``***``."""
    found = _PASSWORD.match(url)
    if found and found.group(2):
        for secret in {found.group(2), unquote(found.group(2))}:
            text = text.replace(secret, "***")
    return text


def heartbeat() -> tuple[int, int]:
    """(interval, grace period) in seconds, from NASBLOCKS_HEARTBEAT or the defaults."""
    text = os.environ.get(HEARTBEAT_ENV)
    if not text:
        return HEARTBEAT
    found = re.fullmatch(r"\s*(\d+)\s*,\s*(\d+)\s*", text)
    if not found or not 0 < int(found.group(1)) < int(found.group(2)):
        raise StudyError(f"{HEARTBEAT_ENV}={text!r}: expected INTERVAL,GRACE in seconds with "
                           f"0 < INTERVAL < GRACE, e.g. {HEARTBEAT[0]},{HEARTBEAT[1]}")
    return int(found.group(1)), int(found.group(2))


class ServerStorage(RDBStorage):
    """Optuna's RDB storage on a database server, with one change: a heartbeat that cannot reach
    the server (it is restarting) is skipped rather than ending the heartbeat thread; the next
    beat, on a fresh connection, lands."""

    def record_heartbeat(self, trial_id: int) -> None:
        try:
            super().record_heartbeat(trial_id)
        except (sqlalchemy.exc.OperationalError, optuna.exceptions.StorageInternalError):
            pass


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite:")


def is_shared(url: str) -> bool:
    """Whether several processes may write the study at once."""
    return not is_sqlite(url)


def _check_file(url: str, path: Path, expected: str, create: bool) -> None:
    """A storage file's folder must exist: nasblocks makes none for a --storage elsewhere. Where
    nothing is to be created (``create`` false: a command that reads studies, ``--resume``), the
    file itself must: opening a mistyped path would leave an empty database there."""
    if path.is_dir():
        raise StudyError(f"--storage {redact(url)}: {path} is a folder; {expected}")
    if not path.parent.is_dir():
        raise StudyError(f"--storage {redact(url)}: folder {path.parent} does not exist")
    if not create and not path.exists():
        raise StudyError(f"--storage {redact(url)}: {path} does not exist")


def _open_journal(url: str, create: bool) -> JournalStorage:
    text = url[len(JOURNAL):]
    expected = "expected journal:PATH, the path of the journal file"
    if not text:
        raise StudyError(f"--storage {url}: {expected}")
    path = Path(text).expanduser()
    _check_file(url, path, expected, create)
    try:
        _check_first_log(path)
        return JournalStorage(JournalFileBackend(str(path)))
    except OSError as err:
        raise StudyError(f"--storage {url}: cannot open {path} ({err.strerror or err})") from None
    except (ValueError, KeyError, TypeError) as err:  # lines that are not JSON, or not Optuna's
        raise StudyError(f"--storage {url}: {path} is not an Optuna journal file ({err}); {expected}") from None


def _check_first_log(path: Path) -> None:
    """Raise ValueError unless ``path`` is empty, absent or starts with a log of Optuna's: its reader
    passes over a last line that is not one (a write cut short: so is a first line without its
    newline, as Optuna's reader takes it), and would append its logs to a file of one line of
    anything else."""
    if not path.exists():
        return
    with path.open("rb") as file:
        first = file.readline()
    if not first or (not first.endswith(b"\n") and re.match(rb'{ ?"op_code": ?', first)):  # a first log cut short
        return
    if not (isinstance(log := json.loads(first), dict) and "op_code" in log):
        raise ValueError(f"its first line is not a log of Optuna's: {first[:40]!r}")


def _sqlite_file(url: str) -> Path:
    """The file of a SQLite URL; an in-memory database, which ends with the process and its
    trials, is refused."""
    try:
        database = make_url(url).database
    except (sqlalchemy.exc.ArgumentError, ValueError) as err:
        raise _not_a_url(url, err) from None
    if not database or database == ":memory:":
        raise StudyError(f"--storage {url}: an in-memory database, whose trials end with the "
                         f"process; {_SQLITE_PATH}")
    return Path(database)


def _check_at_signs(url: str) -> None:
    """An '@' ends the password; SQLAlchemy would take a password's own '@' for that one, connect
    to the wrong host, and show the rest of the password as the host's name."""
    found = _PASSWORD.match(url)
    if found and "@" in found.group(2):
        raise StudyError(f"--storage {redact(url)}: the password holds '@', which ends it in a URL: write it as "
                         f"%40, or keep the password out of the URL (PGPASSWORD, ~/.pgpass)")


def open_storage(url: str, *, create: bool = True) -> BaseStorage:
    """The storage a URL names, or a StudyError that shows the URL without its password. With
    ``create`` false, a storage file (SQLite's, a journal) that is not there is an error."""
    _check_at_signs(url)
    if url.startswith(JOURNAL):
        return _open_journal(url, create)
    interval, grace = heartbeat()
    try:
        if is_sqlite(url):
            _check_file(url, _sqlite_file(url), _SQLITE_PATH, create)
            return RDBStorage(url)
        with warnings.catch_warnings():  # heartbeats are marked experimental since Optuna 2.8
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return ServerStorage(url, engine_kwargs={"pool_pre_ping": True}, heartbeat_interval=interval,
                                 grace_period=grace,
                                 heartbeat_stale_trial_callback=RetryHeartbeatStaleTrialCallback(MAX_RETRY))
    except ImportError as err:  # Optuna's, raised from SQLAlchemy's ModuleNotFoundError
        missing = getattr(err.__cause__, "name", None) or err
        raise StudyError(f"--storage {redact(url)}: its database driver is not installed ({missing}); "
                         f"for PostgreSQL: pip install 'psycopg[binary]'") from None
    except (sqlalchemy.exc.ArgumentError, ValueError) as err:
        raise _not_a_url(url, err) from None
    except (sqlalchemy.exc.SQLAlchemyError, optuna.exceptions.OptunaError) as err:
        raise StudyError(f"--storage: cannot open {redact(url)}: "
                           f"{scrub(str(err).splitlines()[0], url)}") from None


def _not_a_url(url: str, err: Exception) -> StudyError:
    return StudyError(f"--storage {redact(url)}: not a database URL ({scrub(str(err), url)}); expected "
                      f"e.g. postgresql://user@host/db, sqlite:///path or journal:PATH")


def lock_sqlite(url: str, study: str) -> IO[str]:
    """Take the only writer's place on a SQLite study for as long as the returned file stays
    open, or refuse, naming what shares a study between processes."""
    database = _sqlite_file(url)
    _check_file(url, database, _SQLITE_PATH, create=True)
    try:
        handle = open(f"{database}.lock", "a")
    except OSError as err:
        raise StudyError(f"--storage {redact(url)}: cannot write {database}.lock ({err.strerror or err})") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise StudyError(
            f"study {study!r} ({database}) is being searched by another process, and SQLite takes "
            f"one writer at a time. A study that several workers share starts in a shared storage: "
            f"PostgreSQL (--storage postgresql://user@host/db) or, on one machine, Optuna's journal "
            f"file (--storage journal:PATH), under another --study name") from None
    return handle
