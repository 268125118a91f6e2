"""Watching the state store's fsyncs from outside."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def fsyncs_watched() -> Iterator[list[tuple[int, int]]]:
    """Within the block, every os.fsync still syncs and is noted as the (inode, size) of the
    file it synced, in order."""
    synced: list[tuple[int, int]] = []
    real_fsync = os.fsync

    def spy(fd: Any) -> None:  # os.fsync's own parameter type: an fd or a file
        synced.append((os.fstat(fd).st_ino, os.fstat(fd).st_size))
        real_fsync(fd)

    os.fsync = spy
    try:
        yield synced
    finally:
        os.fsync = real_fsync
