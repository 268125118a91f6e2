"""The folder that keeps parsed manifest files between runs (docs/cli.md, the cache).

Imperative shell beside `reader.py`, its only user: a file parsed without a problem is stored
(as `parsed.Parsed`'s plain values) under a key that the reader derives from the sha256 of its
bytes and of everything else the result depends on, so an unchanged file is not parsed again and
a changed file can never be served.

The folder (docs/cli.md) is safe to delete at any time, and safe for concurrent runs: entries
are content-addressed and written atomically (a temporary file renamed into place), so a reader
sees a whole entry or none. Each entry carries the sha256 of its payload, checked before it is
unmarshalled, and the payload's shape is checked before use: an unreadable, truncated or
malformed entry is ignored (the file is parsed again and the entry rewritten), never trusted.
A cache that cannot be written is no error: the run goes on without storing.

Imports the standard library and `files` only.
"""

from __future__ import annotations

import hashlib
import marshal
from contextlib import suppress
from pathlib import Path
from typing import Any

from reconciler.files import PRIVATE, write_atomically

_MAGIC = b"reconciler-cache 1\n"
_DIGEST = hashlib.sha256().digest_size
_TAG = (
    "Signature: 8a477f597d28d172789f06886806bc55\n"
    "# This folder is a cache made by reconciler (docs/cli.md); it can be deleted at any time.\n"
)


class ManifestCache:
    """A folder of parsed manifest files, one entry per key (64 hex digits)."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def _entry(self, key: str) -> Path:
        return self.folder / "entries" / key[:2] / key[2:]

    def get(self, key: str) -> object | None:
        """The payload stored under `key`; None if there is none or it is not intact."""
        try:
            data = self._entry(key).read_bytes()
        except OSError:
            return None
        head = len(_MAGIC) + _DIGEST
        payload = data[head:]
        if data[: len(_MAGIC)] != _MAGIC or data[len(_MAGIC) : head] != _digest(payload):
            return None
        try:
            value: object = marshal.loads(payload)
        except (EOFError, ValueError, TypeError):
            return None
        return value

    def put(self, key: str, payload: Any) -> None:
        """Store `payload` (plain values: tuples, lists, str, int, bool, None) under `key`,
        atomically; quietly does nothing if the folder cannot be written."""
        data = marshal.dumps(payload)
        entry = self._entry(key)
        with suppress(OSError):
            if not entry.parent.is_dir():
                self._make(entry.parent)
            # No fsync: a torn entry left by a crash fails its digest check and is rewritten.
            _write(entry, _MAGIC + _digest(data) + data)

    def _make(self, folder: Path) -> None:
        new = not self.folder.exists()
        folder.mkdir(parents=True, exist_ok=True)
        if new:  # tell backup tools and git to leave it out
            _write(self.folder / "CACHEDIR.TAG", _TAG.encode())
            _write(self.folder / ".gitignore", b"# made by reconciler\n*\n")


def _write(path: Path, data: bytes) -> None:
    """Private to the user (0600), not fsynced: the cache is rebuilt from the manifests."""
    write_atomically(path, data, durable=False, mode=PRIVATE)


def _digest(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
