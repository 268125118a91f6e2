"""Which recorded records a run may prune: those whose manifest file lies within its paths.

Pure core: the prune rule of `plan.build_plan` (through `limits.make_plan`), and the one form of
a manifest file's path that the state records (docs/state.md, "The manifest file"). The state
records which file last declared each record; a run given `manifests/salesforce` may prune only
records recorded from a file under it (path components: `manifests/sales` does not hold
`manifests/salesforce/x.yaml`). A record recorded without a file (read from a `format_version`
1 state) may be pruned only by a run given the whole, default manifest root.

A path is written as the run saw it, normalised lexically (no file is touched, no link
followed): posix separators, no `.` or `..` components, relative to the folder of the state
file when inside it, else absolute, whatever folder the run is started from. The current folder
(`cwd`) and the state's folder (`base`) are handed in. Imports the standard
library, `core.resources` and `core.text`.
"""

from __future__ import annotations

import os
import posixpath
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from reconciler.core.resources import Desired, Record, ResourceKey
from reconciler.core.text import UNSAFE, printable

MAX_FILE_LENGTH = 4096  # characters: PATH_MAX, as Linux counts bytes; a longer one is no path
# What a recorded file may not hold: what does not print, and half of a UTF-16 pair (a file
# name that is not UTF-8, read with surrogateescape), which cannot be written as UTF-8.
FILE_REFUSED = re.compile(f"{UNSAFE.pattern}|[\ud800-\udfff]")


def normalise(path: str, cwd: str = "", base: str | None = None) -> str:
    """`path` in the form the state records (module docstring); `cwd`, the current folder
    (absolute), is what a relative `path` is relative to; `base` (absolute; default `cwd`: the
    state file's folder, as the CLI passes it) makes a path inside it relative and one outside
    it absolute ("" leaves that as written)."""
    if base is None or base == cwd:
        base = cwd
    elif cwd and not path.startswith(("/", os.sep)):
        path = posixpath.join(cwd.replace(os.sep, "/"), path.replace(os.sep, "/"))
    if os.sep != "/":
        path = path.replace(os.sep, "/")
        base = base.replace(os.sep, "/")
    normal = posixpath.normpath(path)
    if base and (normal == ".." or normal.startswith("../")):
        normal = posixpath.normpath(posixpath.join(base, normal))
    if base and normal.startswith("/"):
        base = posixpath.normpath(base)
        if normal == base:
            return "."
        prefix = base.rstrip("/") + "/"
        if normal.startswith(prefix):
            return normal[len(prefix) :]
    return normal


def usable(file: str) -> bool:
    """Whether `file` may be recorded (docs/state.md): not empty, at most MAX_FILE_LENGTH
    characters, and only characters that print."""
    return 0 < len(file) <= MAX_FILE_LENGTH and FILE_REFUSED.search(file) is None


def file_names(cwd: str = "", base: str | None = None) -> Callable[[str], str | None]:
    """The file a Declared's `location.path` names, as recorded (None if it cannot be: too
    long, or not text). Paths are shown escaped there (`core/text.printable`), so `cwd` and
    `base` are escaped alike. Each distinct path is worked out once: 100,000 records share a
    few files."""
    here = printable(cwd)
    there = None if base is None else printable(base)
    known: dict[str, str | None] = {}

    def name(path: str) -> str | None:
        file = known.get(path, "")
        if file == "":
            file = normalise(path, here, there)
            file = known[path] = file if usable(file) else None
        return file

    return name


@dataclass(frozen=True)
class PruneScope:
    """The paths given to a run, normalised (`scope_of`), and whether they are the whole,
    default manifest root. A saved plan keeps it (core/saved_plan.py)."""

    # Read strictly in a saved plan: no unknown field, no coercion.
    __pydantic_config__: ClassVar[Any] = {"extra": "forbid", "strict": True}
    paths: tuple[str, ...] = ()
    whole_root: bool = False

    def matcher(self) -> Callable[[str | None], bool]:
        """covers(file): whether a record recorded from `file` (None: unknown) is within the
        scope, so that a prune may delete it."""
        exact = frozenset(self.paths)
        prefixes = tuple("" if path == "/" else f"{path}/" for path in self.paths if path != ".")
        relative = "." in exact  # the state's folder: every file recorded relative to it
        whole_root = self.whole_root

        def covers(file: str | None) -> bool:
            if file is None:
                return whole_root
            if file in exact or file.startswith(prefixes):
                return True
            return relative and not file.startswith("/")

        return covers


def scope_of(
    paths: Iterable[str], cwd: str, root: Iterable[str], base: str | None = None
) -> PruneScope:
    """The scope of a run given `paths` (none: `root`, the default manifest root), from the
    folder `cwd`: normalised as the state records files (relative to `base`), each once, those
    inside another one given left out; `whole_root` if that leaves exactly the root's."""
    whole = _outermost(root, cwd, base)
    given = _outermost(paths, cwd, base) or whole
    return PruneScope(given, given == whole)


def _outermost(paths: Iterable[str], cwd: str, base: str | None) -> tuple[str, ...]:
    here = printable(cwd)
    there = None if base is None else printable(base)
    normal = sorted({normalise(printable(path), here, there) for path in paths})
    kept = []
    for path in normal:  # a few paths, given on the command line
        others = PruneScope(tuple(other for other in normal if other != path)).matcher()
        if not others(path):
            kept.append(path)
    return tuple(kept)


def files_to_fill(
    desired: Desired, records: Mapping[ResourceKey, Record], cwd: str = "", base: str | None = None
) -> dict[ResourceKey, str]:
    """The file of each declared record whose recorded file is unknown (a `format_version` 1
    state's): written silently when the state is next written (StateStore.fill_files)."""
    if all(record.file is not None for record in records.values()):  # the usual state
        return {}
    name = file_names(cwd, base)
    filled = {}
    for key, record in records.items():
        declared = desired.get(key)
        if record.file is None and declared is not None:
            file = name(declared.location.path)
            if file is not None:
                filled[key] = file
    return filled
