"""File primitives of the edges: the one atomic writer, fsync, strict JSON, and opening a file
that must be a regular one.

Imperative shell, shared by the edges that write files (never the core): the state store
(`state/`: its file, journal and lock), the manifest cache (`manifests/cache.py`) and the CLI's
saved plans. Imports the standard library and `errors` only.
"""

from __future__ import annotations

import errno
import glob
import json
import os
import re
import stat
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from reconciler.errors import StateError, StateWriteError


class RefusedJsonError(Exception):
    """JSON that parses, or would, but that reconciler refuses to read. `what` says why;
    `line` is where (1-based), 0 if not known."""

    def __init__(self, what: str, line: int = 0) -> None:
        super().__init__(f"line {line}: {what}" if line else what)
        self.what = what
        self.line = line


class DuplicateKeyError(RefusedJsonError):
    pass


def loads_strictly(text: str) -> Any:
    """json.loads, refusing `{"cor_id": 1, "cor_id": 2}` (a careless merge) instead of keeping
    the last value, and what Python's decoder cannot hold: arrays or objects nested deeper than
    its recursion limit, an integer longer than its digit limit (both ended as crashes). Raises
    JSONDecodeError or RefusedJsonError (DuplicateKeyError for a key twice)."""
    try:
        return _DECODER.decode(text)
    except RecursionError:
        depth, line = _deepest(text)
        raise RefusedJsonError(f"arrays or objects nested {depth} deep", line) from None
    except json.JSONDecodeError:
        raise
    except ValueError:  # the C decoder's only other ValueError: int()'s digit limit
        limit = sys.get_int_max_str_digits()
        found = re.search(f"[0-9]{{{limit + 1},}}", text)
        line = text.count("\n", 0, found.start()) + 1 if found else 0
        raise RefusedJsonError(f"a number of more than {limit} digits", line) from None


_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


def _deepest(text: str) -> tuple[int, int]:
    """How deep the arrays and objects of `text` nest, and the line where they are deepest
    first. Only on the failure path: a scan in Python."""
    depth = deepest = at = 0
    for token in _TOKENS.finditer(text):
        opening = token.group()
        if opening in ("[", "{"):
            depth += 1
            if depth > deepest:
                deepest, at = depth, token.start()
        elif opening in ("]", "}"):
            depth -= 1
    return deepest, text.count("\n", 0, at) + 1


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        names = [name for name, _ in pairs]
        twice = sorted({name for name in names if names.count(name) > 1})
        raise DuplicateKeyError(f"an object has the key {twice[0]!r} twice")
    return document


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)  # one, not one per journal line


def real_path(path: Path) -> Path:
    """The file `path` names: a symbolic link resolved (every link on the way), so that a link
    to the state and the state itself are one file, with one lock and one journal, and a write
    replaces the file the link points to rather than the link. `path` itself, as the user wrote
    it, when it is not a link (a linked folder above it changes nothing: `<path>.lock` is the
    same file whichever way the folder is reached)."""
    return Path(os.path.realpath(path)) if os.path.islink(path) else path


_KINDS = (
    (stat.S_ISREG, "a regular file"),
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISDIR, "a folder"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def kind_of(mode: int) -> str:
    """What a file of `mode` (st_mode) is, in words: "a regular file", "a symbolic link", "a
    FIFO (named pipe)"...; the state store and manifest discovery say it alike."""
    return next((words for test, words in _KINDS if test(mode)), "a file of another kind")


def _not_regular(path: Path, what: str, mode: int) -> StateError:
    return StateError(
        f"{what} {path} is {kind_of(mode)}, not a regular file; reconciler reads and writes "
        "it only as a regular file, and never through a link: move it away"
    )


def open_regular(path: Path, flags: int, what: str) -> int | None:
    """`os.open(path, flags)` for a file that must be a regular one (the state, its journal
    and lock): a final symbolic link is not followed, and a FIFO, device, socket or folder is
    not opened at all. None if `path` does not exist (and `flags` do not create it).

    StateError (exit 3), naming `what`, the path and what it is, if it is not a regular file:
    a fault of what is on disk. If it cannot be opened (permissions): StateError to read it,
    StateWriteError (exit 1) to write it, as for any other write.
    """
    failed = StateWriteError if flags & (os.O_WRONLY | os.O_RDWR) else StateError
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as exc:
        raise failed(f"cannot open {what} {path}: {exc.strerror}") from exc
    if mode is not None and not stat.S_ISREG(mode):
        raise _not_regular(path, what, mode)
    if mode is None and not flags & os.O_CREAT:
        return None
    safe = flags | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
    try:
        fd = os.open(path, safe, 0o666)
    except FileNotFoundError:
        return None
    except OSError as exc:  # ELOOP: it became a link since lstat; ENXIO: a socket
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.EISDIR):
            raise _not_regular(path, what, os.lstat(path).st_mode) from exc
        raise failed(f"cannot open {what} {path}: {exc.strerror}") from exc
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):  # replaced between lstat and open
        os.close(fd)
        raise _not_regular(path, what, mode)
    return fd


def read_if_exists(path: Path, what: str) -> bytes | None:
    """The bytes of `path`, None if it does not exist; StateError if it is not a regular file
    (`open_regular`: a link is not followed) or cannot be read."""
    fd = open_regular(path, os.O_RDONLY, what)
    if fd is None:
        return None
    try:
        with open(fd, "rb") as file:  # closes fd
            return file.read()
    except OSError as exc:
        raise StateError(f"cannot read {what} {path}: {exc}") from exc


@contextmanager
def os_errors(action: str) -> Iterator[None]:
    """Turn an OSError into a StateWriteError saying what could not be done."""
    try:
        yield
    except OSError as exc:
        raise StateWriteError(f"cannot {action}: {exc}") from exc


def write_temp(
    path: Path, data: bytes, mode: int, *, keep_open: bool = False, sync: bool = True
) -> tuple[int, str]:
    """A new file beside `path` (`.NAME.XXXX.tmp`) holding `data`, fsynced unless `sync` is
    false; its fd (-1 if closed) and name."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        write_all(fd, data)
        if sync:
            os.fsync(fd)
        if not keep_open:
            os.close(fd)
            fd = -1
    except BaseException:
        if fd >= 0:
            os.close(fd)
        remove_quietly(name)
        raise
    return fd, name


def write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


PRIVATE = 0o600  # read and written by the owner only


def fsync_dir(directory: Path) -> None:
    """Make renames and removals in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def file_mode(path: Path) -> int:
    """The permissions of the file at `path`, or what the umask gives a new file."""
    try:
        return stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        umask = os.umask(0o022)
        os.umask(umask)
        return 0o666 & ~umask


def remove_quietly(name: str | Path) -> None:
    with suppress(FileNotFoundError):
        os.unlink(name)


def write_atomically(
    path: Path,
    data: bytes,
    *,
    durable: bool = True,
    backup: Path | None = None,
    mode: int | None = None,
) -> None:
    """Replace (or create) `path` with `data` atomically: at every instant a reader finds the
    old file or the new one, whole; on failure `path` is left as it was and no temporary file
    remains. Raises OSError. A symbolic link is not replaced by a file: the file it points to is
    (`real_path`).

    `mode`: the new file's permissions; by default the old file's (a new file: what the umask
    gives), as the state file keeps whatever its owner chose. Saved plans and cache entries
    pass 0o600: private to their owner, as they have always been.

    `durable`: the file and its folder are fsynced before it returns (the state file); without,
    a crash may leave the old file or a torn temporary one (a cache entry, a saved plan).
    `backup`: the previous content is copied there first (the state file's `.backup`).
    """
    temps: list[str] = []
    path = real_path(path)
    try:
        mode = file_mode(path) if mode is None else mode
        new = write_temp(path, data, mode, sync=durable)[1]
        temps.append(new)
        if backup is not None and path.exists():  # copy: the old file stays until replaced
            old = write_temp(path, path.read_bytes(), mode, sync=durable)[1]
            temps.append(old)
            os.replace(old, backup)
            temps.remove(old)
        os.replace(new, path)
        temps.remove(new)
        if durable:
            fsync_dir(path.parent)
    finally:
        for name in temps:
            remove_quietly(name)


def remove_temps(path: Path) -> None:
    """Remove the temporary files a killed writer left beside `path` (only under the lock)."""
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        remove_quietly(leftover)
