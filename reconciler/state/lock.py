"""The lock beside the state file: one apply at a time, and a lock that names its holder.

Part of the state store, used by `store.py` and `state unlock` (docs/state.md, "The lock").
Mutual exclusion is an `flock` on `<state>.lock`, which the OS releases when its holder dies.
The file also holds who holds it, as JSON, so that a refusal names the run to wait for and a
lock left behind can be told from one in use (read with `schema.LockFile`). The lock belongs to
the real state file (`files.real_path`: a link and its target share it), and is opened only as
a regular file, never through a link (`files.open_regular`). Imports the standard library,
core values, `errors`, `files` and the state's schema.
"""

from __future__ import annotations

import dataclasses
import fcntl
import getpass
import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from reconciler.core.text import printable
from reconciler.errors import RefusedError
from reconciler.files import (
    RefusedJsonError,
    loads_strictly,
    open_regular,
    os_errors,
    real_path,
    write_all,
)

_MAX_SIZE = 65_536  # a lock record is ~200 bytes; more is not one


@dataclass(frozen=True)
class LockInfo:
    """Who holds (or held) the lock of a state, as its lock file says."""

    holder: str  # the user name
    host: str  # the host name
    pid: int
    started_at: str  # ISO 8601 UTC, e.g. 2026-11-28T10:00:00Z
    command: str  # e.g. "reconciler apply manifests"

    def __str__(self) -> str:
        """Escaped (`core/text.printable`): the file is read from disk and printed."""
        return printable(
            f"{self.holder}@{self.host} (pid {self.pid}, since {self.started_at}, `{self.command}`)"
        )


@dataclass(frozen=True)
class _Unreadable:
    reason: str


def lock_path(state: Path) -> Path:
    """`<state>.lock`, beside the real state file (`files.real_path`)."""
    state = real_path(state)
    return state.with_name(state.name + ".lock")


class HeldLock:
    """The flock on `<state>.lock`, with this run's LockInfo in the file until release()."""

    def __init__(self, path: Path, fd: int, info: LockInfo) -> None:
        self.path = path
        self.info = info
        self._fd = fd

    def release(self) -> None:
        """Clear the holder's info, then let the flock go (in that order, so that no run that
        takes the lock next can have its info cleared). Never raises: an info left behind only
        makes the next run on this host take over with a warning."""
        if self._fd < 0:
            return
        try:
            os.ftruncate(self._fd, 0)
            os.fsync(self._fd)
        except OSError:
            pass
        finally:
            os.close(self._fd)
            self._fd = -1


def acquire(state: Path, command: str, warn: Callable[[str], None]) -> HeldLock:
    """Lock `state` for this run, or RefusedError naming who holds it.

    A lock left behind by a dead run on this host is taken over, with `warn` naming it; one
    left by a run on another host is refused until `reconciler state unlock --force`.
    StateError if the lock file is not a regular file (a link, a FIFO...).
    """
    state = real_path(state)
    path = lock_path(state)
    fd = open_regular(path, os.O_RDWR | os.O_CREAT, "the lock file")
    assert fd is not None  # O_CREAT: made if missing
    try:
        with os_errors(f"lock {path}"):
            locked = _try_flock(fd)
        if not locked:
            raise RefusedError(_held_message(state, _read_info(fd)))
        previous = _read_info(fd)
        if previous is not None:
            warn(_takeover_warning(state, previous))
        mine = this_run(command)
        with os_errors(f"write the lock file {path}"):
            _write_info(fd, mine)
    except BaseException:
        os.close(fd)  # lets the flock go, if taken
        raise
    return HeldLock(path, fd, mine)


def force_unlock(state: Path) -> LockInfo | None:
    """Clear the holder's info that a run left in the lock of `state`, and return it.

    None if the lock named nobody (no lock file, empty, or unreadable). RefusedError if a
    running process holds the flock: a lock in use cannot be broken, only its holder ending
    releases it. StateError if the lock file is not a regular file: a link is never written
    through (its target is left as it is).
    """
    state = real_path(state)
    path = lock_path(state)
    fd = open_regular(path, os.O_RDWR, "the lock file")
    if fd is None:
        return None
    try:
        with os_errors(f"lock {path}"):
            locked = _try_flock(fd)
        info = _read_info(fd)
        if not locked:
            raise RefusedError(_unbreakable_message(state, info))
        with os_errors(f"clear the lock file {path}"):
            os.ftruncate(fd, 0)
            os.fsync(fd)
    finally:
        os.close(fd)
    return info if isinstance(info, LockInfo) else None


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def _read_info(fd: int) -> LockInfo | _Unreadable | None:
    """The info in the lock file; None if it is empty (nobody, or a holder not yet written)."""
    try:
        data = os.pread(fd, _MAX_SIZE, 0)
    except OSError as exc:
        return _Unreadable(f"cannot read it: {exc}")
    if len(data) == _MAX_SIZE:
        return _Unreadable("it is far too large")
    if not data.strip():
        return None
    try:
        document = loads_strictly(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RefusedJsonError):
        return _Unreadable("it is not a lock record (JSON)")
    info = info_of(document)
    return info if isinstance(info, LockInfo) else _Unreadable(info)


def info_of(document: object) -> LockInfo | str:
    """A lock record read back (the lock file's JSON, a database row's fields, a lock object's
    JSON), validated with `schema.LockFile`: its LockInfo, or why it is not one."""
    from pydantic import ValidationError

    from reconciler.state.schema import LockFile

    try:
        model = LockFile.model_validate(document)
    except ValidationError as exc:
        return f"it is not a lock record: {exc.error_count()} wrong fields"
    return LockInfo(**model.model_dump())


def _write_info(fd: int, info: LockInfo) -> None:
    """Truncate first: a crash halfway leaves an empty file (nobody), never a mix of two."""
    data = json.dumps(dataclasses.asdict(info), ensure_ascii=False) + "\n"
    os.ftruncate(fd, 0)
    os.lseek(fd, 0, os.SEEK_SET)
    write_all(fd, data.encode("utf-8"))
    os.fsync(fd)


def this_run(command: str) -> LockInfo:
    try:
        holder = getpass.getuser()
    except (KeyError, OSError):  # no login name and no passwd entry (a bare container)
        holder = str(os.getuid())
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    # The command line is the user's argv: escaped, so that the record reads back (a control
    # character or an undecodable byte would make it unreadable, and the lock not taken over).
    command = printable(command.encode("utf-8", "backslashreplace").decode("utf-8"))
    return LockInfo(holder, socket.gethostname(), os.getpid(), now, command)


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # it exists, as another user's process
        return True
    return True


def _takeover_warning(state: Path, previous: LockInfo | _Unreadable) -> str:
    """The warning for taking over a lock left behind, or RefusedError if it may be in use.

    The flock is free, so no process on this host holds it; a run on another host may, if the
    folder is shared and flock does not reach across machines.
    """
    unlock = "once sure that no reconciler run uses it, run `reconciler state unlock --force`"
    if isinstance(previous, _Unreadable):
        raise RefusedError(
            f"the lock file {lock_path(state)} of the state {state} holds no lock record "
            f"reconciler can read ({previous.reason}); a run on another host may hold it: "
            f"{unlock}"
        )
    if previous.host != socket.gethostname():
        raise RefusedError(
            f"the state {state} is locked by {previous}, on another host (a shared folder, "
            f"where this host cannot see its lock): wait for it to finish; {unlock}"
        )
    why = "is no longer running" if not alive(previous.pid) else "no longer holds it"
    return f"took over the lock of the state {state}, left by {previous}, which {why}"


def _held_message(state: Path, info: LockInfo | _Unreadable | None) -> str:
    if not isinstance(info, LockInfo):
        return (
            f"the state {state} is in use by another reconciler run (it holds "
            f"{lock_path(state)}, but has not said who it is): wait for it to finish"
        )
    if info.host == socket.gethostname():
        return (
            f"the state {state} is locked by {info}: wait for it to finish (its lock is "
            "released when that process ends)"
        )
    return (
        f"the state {state} is locked by {info}: wait for it to finish; if that run is gone, "
        "`reconciler state unlock --force`"
    )


def _unbreakable_message(state: Path, info: LockInfo | _Unreadable | None) -> str:
    who = f"{info}" if isinstance(info, LockInfo) else "a process that has not said who it is"
    return (
        f"cannot unlock the state {state}: {who} is running and holds its lock, which cannot "
        "be broken safely; stop that process first (its lock is released when it ends)"
    )
