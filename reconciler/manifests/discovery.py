"""Which files the manifests are, and their bytes: every *.yaml / *.yml under the paths given.

Part of the manifests edge: the only module that lists folders or opens a manifest file. It
reads everything it is given or says why not (docs/manifests.md, "Files"): a folder or file
that cannot be read, anything but a regular file (a FIFO, a device, a socket: refused from its
folder entry or stat, never opened for reading), a symbolic link that points outside the paths
given or nowhere, a file over the size limit — each is a Problem, never a silent skip, so
`--prune` never deletes what an unread folder declared. Links that stay inside the paths are
followed; each real folder and file is read once (a link to a parent folder ends there). Hidden
files and folders (a leading dot) are left out. Imports the standard library, `errors`, core
text and the manifests' wording.
"""

from __future__ import annotations

import heapq
import os
import stat
from collections.abc import Sequence
from typing import NamedTuple

from reconciler.core.text import printable
from reconciler.errors import Location, Problem, UsageError
from reconciler.files import kind_of
from reconciler.manifests import problems

_SUFFIXES = (".yaml", ".yml")
DEFAULT_MAX_FILE_SIZE = 64 * 1024 * 1024  # bytes; docs/manifests.md
_CHUNK = 1 << 20  # read past a file's stated size (it grew) this much at a time
_OPEN_FLAGS = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOCTTY", 0)


class Discovered(NamedTuple):
    """The manifest files found (sorted, each once) and why anything could not be read."""

    files: list[str]
    problems: list[Problem]


class UnreadableError(Exception):
    """A manifest file that cannot be read whole; its message says why (problems.py)."""


def discover(paths: Sequence[str | os.PathLike[str]]) -> Discovered:
    """The manifest files under `paths` (files, or folders read recursively), sorted, and a
    Problem for each thing that could not be read (module docstring). UsageError for an empty
    path or one that does not exist."""
    names = [os.fspath(arg) for arg in paths]
    for name in names:
        if not name:
            raise UsageError(problems.EMPTY_PATH)
    walk = _Walk([os.path.realpath(name) for name in names])
    for name in names:
        walk.argument(name)
    walk.follow_links()
    return Discovered(sorted(walk.found.values()), sorted(walk.problems))


class _Walk:
    """Lists folders, sorted, each real folder once; links wait until every folder reached
    without one is listed, so that a file shows under its own path rather than a link's."""

    def __init__(self, roots: list[str]) -> None:
        self._roots = [(root, root.rstrip(os.sep) + os.sep) for root in roots]
        self.found: dict[str, str] = {}  # real path -> the path as discovered
        self.problems: list[Problem] = []
        self._walked: set[str] = set()  # real folders listed
        self._links: list[str] = []

    def argument(self, name: str) -> None:
        """A path given: followed wherever it points (it was named); it must exist."""
        try:
            info = os.stat(name)
        except (FileNotFoundError, NotADirectoryError):
            if os.path.islink(name):
                self._add(name, problems.dangling_link(_target(name)))
                return
            raise UsageError(f"{printable(name)}: no such file or directory") from None
        except OSError as error:
            self._add(name, problems.cannot_reach(error))
            return
        real = os.path.realpath(name)
        if stat.S_ISDIR(info.st_mode):
            self._folder(name, real)
        elif stat.S_ISREG(info.st_mode):
            self.found.setdefault(real, name)
        else:
            self._add(name, problems.not_regular(kind_of(info.st_mode)))

    def follow_links(self) -> None:
        while self._links:
            self._link(heapq.heappop(self._links))

    def _folder(self, shown: str, real: str) -> None:
        pending = [(shown, real)]
        while pending:
            shown, real = pending.pop()
            if real in self._walked:
                continue
            self._walked.add(real)
            try:
                with os.scandir(shown) as listing:
                    entries = sorted(listing, key=lambda entry: entry.name, reverse=True)
            except OSError as error:
                self._add(shown, problems.cannot_read_folder(error))
                continue
            for entry in entries:
                if not entry.name.startswith("."):
                    self._entry(entry, real, pending)

    def _entry(self, entry: os.DirEntry[str], real: str, pending: list[tuple[str, str]]) -> None:
        try:
            if entry.is_symlink():
                heapq.heappush(self._links, entry.path)
            elif entry.is_dir(follow_symlinks=False):
                pending.append((entry.path, os.path.join(real, entry.name)))
            elif entry.name.endswith(_SUFFIXES):
                if entry.is_file(follow_symlinks=False):
                    self.found.setdefault(os.path.join(real, entry.name), entry.path)
                else:
                    mode = entry.stat(follow_symlinks=False).st_mode
                    self._add(entry.path, problems.not_regular(kind_of(mode)))
        except OSError as error:
            self._add(entry.path, problems.cannot_read(error))

    def _link(self, path: str) -> None:
        """A link met in a folder: followed if it stays inside the paths given; a link to a
        file is one only if its own name is a manifest's."""
        try:
            real = os.path.realpath(path, strict=True)
            info = os.stat(real)
        except FileNotFoundError:
            self._add(path, problems.dangling_link(_target(path)))
            return
        except OSError as error:
            self._add(path, problems.broken_link(_target(path), error))
            return
        is_dir = stat.S_ISDIR(info.st_mode)
        if not is_dir and not path.endswith(_SUFFIXES):
            return  # not a manifest, wherever it points
        if not self._inside(real):
            self._add(path, problems.link_outside(_target(path), real))
        elif is_dir:
            self._folder(path, real)
        elif stat.S_ISREG(info.st_mode):
            self.found.setdefault(real, path)
        else:
            self._add(path, problems.not_regular(kind_of(info.st_mode)))

    def _inside(self, real: str) -> bool:
        return any(real == root or real.startswith(prefix) for root, prefix in self._roots)

    def _add(self, path: str, message: str) -> None:
        self.problems.append(Problem(Location(printable(path), 1, 1), message))


def _target(link: str) -> str:
    try:
        return os.readlink(link)
    except OSError:
        return "?"


def read_manifest(path: str, limit: int) -> bytes:
    """The bytes of the manifest file at `path`: at most `limit` of them, else
    UnreadableError, as for anything but a regular file. Opened without blocking and checked
    before any read, so a FIFO or device put in a file's place since discovery is not read."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as error:
        raise UnreadableError(problems.cannot_read(error)) from error
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise UnreadableError(problems.not_regular(kind_of(info.st_mode)))
        if info.st_size > limit:
            raise UnreadableError(problems.too_large(limit))
        data = _read_at_most(fd, limit + 1, info.st_size)
    except OSError as error:
        raise UnreadableError(problems.cannot_read(error)) from error
    finally:
        os.close(fd)
    if len(data) > limit:  # it grew past the limit since the stat
        raise UnreadableError(problems.too_large(limit))
    return data


def _read_at_most(fd: int, most: int, size: int) -> bytes:
    """Up to `most` bytes; `size` (the stated size) + 1 in the first read, which is usually
    all: the next one finds the end."""
    chunks = [os.read(fd, min(most, size + 1))]
    total = len(chunks[0])
    while chunks[-1] and total < most:
        chunks.append(os.read(fd, min(most - total, _CHUNK)))
        total += len(chunks[-1])
    if not chunks[-1]:
        chunks.pop()
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
