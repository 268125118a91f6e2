"""Which files the manifests are: every *.yaml / *.yml under the paths given.

Part of the manifests edge: the only module that lists folders. Hidden files and folders (a
leading dot) are left out; each file is read once, however many paths lead to it. Imports the
standard library and `errors` only.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from reconciler.errors import UsageError

_SUFFIXES = (".yaml", ".yml")


def discover(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """The manifest files under `paths` (files, or folders read recursively), sorted;
    UsageError if a path does not exist."""
    found: dict[str, str] = {}  # real path -> the path as discovered, so a file is read once
    for arg in paths:
        top = Path(arg)
        if not top.exists():
            raise UsageError(f"{os.fspath(arg)}: no such file or directory")
        if not top.is_dir():
            found.setdefault(os.path.realpath(top), str(top))
            continue
        for folder, subfolders, names in os.walk(top):
            subfolders[:] = [name for name in subfolders if not name.startswith(".")]
            for name in names:
                if name.endswith(_SUFFIXES) and not name.startswith("."):
                    path = os.path.join(folder, name)
                    found.setdefault(os.path.realpath(path), path)
    return sorted(found.values())
