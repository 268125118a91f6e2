"""File primitives of the edges: the one atomic writer, fsync, strict JSON.

Imperative shell, shared by the edges that write files (never the core): the state store
(`state/`: its file, journal and lock), the manifest cache (`manifests/cache.py`) and the CLI's
saved plans. Imports the standard library and `errors` only.
"""

from __future__ import annotations

import glob
import json
import os
import stat
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from reconciler.errors import StateError, StateWriteError


class DuplicateKeyError(Exception):
    pass


def loads_strictly(text: str) -> Any:
    """json.loads, refusing `{"cor_id": 1, "cor_id": 2}` (a careless merge) instead of keeping
    the last value. Raises JSONDecodeError or DuplicateKeyError."""
    return _DECODER.decode(text)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document = dict(pairs)
    if len(document) != len(pairs):
        names = [name for name, _ in pairs]
        twice = sorted({name for name in names if names.count(name) > 1})
        raise DuplicateKeyError(f"an object has the key {twice[0]!r} twice")
    return document


_DECODER = json.JSONDecoder(object_pairs_hook=_unique_keys)  # one, not one per journal line


def read_if_exists(path: Path, what: str) -> bytes | None:
    """The bytes of `path`, None if it does not exist; StateError if it cannot be read."""
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
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
    remains. Raises OSError.

    `mode`: the new file's permissions; by default the old file's (a new file: what the umask
    gives), as the state file keeps whatever its owner chose. Saved plans and cache entries
    pass 0o600: private to their owner, as they have always been.

    `durable`: the file and its folder are fsynced before it returns (the state file); without,
    a crash may leave the old file or a torn temporary one (a cache entry, a saved plan).
    `backup`: the previous content is copied there first (the state file's `.backup`).
    """
    temps: list[str] = []
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
