"""File primitives for the state file, its journal and its lock: strict JSON, atomic replace, fsync.

Imperative shell, used only by `reconciler/state.py`, `reconciler/journal.py` and
`reconciler/lock.py`.
Imports the standard library only (and reconciler's errors).
"""

from __future__ import annotations

import gc
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


@contextmanager
def no_gc() -> Iterator[None]:
    """Pauses the cyclic garbage collector while hundreds of thousands of acyclic values are
    made (records, manifest entries): each collection would rescan all made so far, for nothing
    to free (3x slower); reference counting still frees everything. At the end, what was made
    goes straight to the oldest generation, as if it had survived collections: resumed plainly,
    the collector would first scan all of it (0.1 s at 100,000 products), then again."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            if not gc.get_freeze_count():  # else someone froze objects on purpose: leave them
                gc.freeze()
                gc.unfreeze()
            gc.enable()


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


def write_temp(path: Path, data: bytes, mode: int, keep_open: bool = False) -> tuple[int, str]:
    """A new file beside `path` holding `data`, fsynced; its fd (-1 if closed) and name."""
    fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.fchmod(fd, mode)
        write_all(fd, data)
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


def replace_file(path: Path, data: bytes, backup: Path) -> None:
    """Replace `path` by `data` atomically, keeping the previous content as `backup`.

    At every instant a complete file exists at `path`; on failure it is left as it was and
    no temporary file remains. Raises OSError.
    """
    temps: list[str] = []
    try:
        mode = file_mode(path)
        new = write_temp(path, data, mode)[1]
        temps.append(new)
        if path.exists():  # copy, not rename: the old file stays in place until replaced
            old = write_temp(path, path.read_bytes(), mode)[1]
            temps.append(old)
            os.replace(old, backup)
            temps.remove(old)
        os.replace(new, path)
        temps.remove(new)
        fsync_dir(path.parent)
    finally:
        for name in temps:
            remove_quietly(name)


def remove_temps(path: Path) -> None:
    """Remove the temporary files a killed writer left beside `path` (only under the lock)."""
    for leftover in path.parent.glob(f".{glob.escape(path.name)}.*.tmp"):
        remove_quietly(leftover)
