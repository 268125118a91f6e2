"""Manifest files to Desired: the first stage of the pipeline (docs/architecture.md).

Part of the manifests edge: finds the files and reads their bytes (`discovery.py`), parses
each (`walker.py`) or takes it from the cache (`cache.py`) when its bytes were read before
without a problem, checks everything declared across files (`core.validation`), and raises
every problem of every file at once (ManifestError). A folder or file that could not be read
is a problem too, and then the checks across files are left out: they would call what it
declares missing. Never a network call.
"""

from __future__ import annotations

import hashlib
import operator
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import yaml

from reconciler import __version__
from reconciler.core.resources import Declared, Desired, in_apply_order
from reconciler.core.text import printable
from reconciler.core.validation import check_declared
from reconciler.errors import Location, ManifestError, Problem
from reconciler.manifests import walker
from reconciler.manifests.cache import ManifestCache
from reconciler.manifests.discovery import (
    DEFAULT_MAX_FILE_SIZE,
    UnreadableError,
    discover,
    read_manifest,
)
from reconciler.manifests.parsed import declared, well_formed
from reconciler.memory import no_gc

_CACHE_FORMAT = "1"  # what a cache entry holds: parsed.Parsed, from walker.parse
_KEY = operator.attrgetter("key")
_HERE = Path(__file__).parent
# What a file's reading depends on besides its bytes: these modules' sources (see _salt).
_SOURCES = (
    *sorted(_HERE.glob("*.py")),
    _HERE.parent / "core" / "resources.py",
    _HERE.parent / "core" / "text.py",
    _HERE.parent / "core" / "validation.py",
)


def read_manifests(
    paths: Sequence[str | os.PathLike[str]],
    *,
    store: ManifestCache | None = None,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
) -> Desired:
    """Every *.yaml / *.yml under `paths` (files, or folders read recursively), in sorted order.

    Returns the Declared entities keyed by ResourceKey, in apply order. Raises ManifestError with
    every problem of every file (and across files), sorted, including what could not be read
    (discovery.py; a file over `max_file_size` bytes); UsageError if a path is empty or does not
    exist. With `store`, files read before without a problem come from it, and new ones go
    into it.
    """
    files, problems = discover(paths)
    entities: list[Declared] = []
    salt = _salt() if store is not None else b""
    digests = []
    with no_gc():  # 100,000 acyclic values: no collection would free any
        complete = not problems
        for path in files:
            file_problems, file_entities, digest = _read_file(path, store, salt, max_file_size)
            problems.extend(file_problems)
            entities.extend(file_entities)
            digests.append(digest)
            complete = complete and bool(digest)
        checked = _checked_key(salt, files, digests) if store is not None else ""
        # Unless some declarations are missing (then a reference to them is not wrong):
        if complete and (problems or store is None or store.get(checked) is not True):
            problems.extend(check_declared(entities))
            if store is not None and not problems:
                store.put(checked, True)  # the same files together: checked, no need again
        if problems:
            raise ManifestError(problems)
        return {entity.key: entity for entity in in_apply_order(entities, _KEY)}


def _read_file(
    path: str, store: ManifestCache | None, salt: bytes, max_file_size: int
) -> tuple[list[Problem], list[Declared], bytes]:
    """A file's problems and entities, and the sha256 of its bytes (empty if unreadable).
    Their locations show the path escaped: a file's name may hold a control character."""
    shown = printable(path)
    try:
        data = read_manifest(path, max_file_size)
    except UnreadableError as error:
        return [Problem(Location(shown, 1, 1), str(error))], [], b""
    digest = hashlib.sha256(data).digest()
    key = hashlib.sha256(b"file\0" + salt + digest).hexdigest()
    if store is not None:
        stored = well_formed(store.get(key))
        if stored is not None:
            return [], declared(shown, stored), digest
    problems, parsed = walker.parse(shown, data)
    if store is not None and not problems:
        store.put(key, tuple(parsed))
    return problems, declared(shown, parsed), digest


def _salt() -> bytes:
    """Everything besides a file's bytes that its reading depends on: a change in any of it
    (an upgrade, another loader, an edited module) makes every cache entry a miss."""
    parts = [_CACHE_FORMAT, __version__, sys.version, yaml.__version__, walker.LOADER.__name__]
    for source in _SOURCES:
        try:
            parts.append(hashlib.sha256(source.read_bytes()).hexdigest())
        except OSError:
            parts.append("?")
    return "\0".join(parts).encode() + b"\0"


def _checked_key(salt: bytes, files: list[str], digests: list[bytes]) -> str:
    """The key under which the cross-file checks of exactly these files, read as these bytes,
    are recorded as passed."""
    whole = hashlib.sha256(b"checked\0" + salt)
    for path, digest in zip(files, digests, strict=True):
        whole.update(path.encode("utf-8", "surrogateescape") + b"\0" + digest)
    return whole.hexdigest()
