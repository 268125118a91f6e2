"""One door to every store of the state: the file (the default), PostgreSQL and S3
(docs/state-backends.md).

The commands call these functions with the `StateLocation` that `location.locate` made of
`--state`; each dispatches to the store's module. The remote stores' modules (`postgres.py`,
`s3.py`) and their libraries (psycopg, boto3) are imported only when a location names them, so
that the file store's commands start as fast as before and need neither. Imports the standard
library, `errors` and the state's modules.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from pathlib import Path
from types import ModuleType

from reconciler.errors import UsageError
from reconciler.state import store
from reconciler.state.codec import State
from reconciler.state.location import PostgresLocation, S3Location, StateLocation
from reconciler.state.lock import LockInfo
from reconciler.state.lock import force_unlock as force_unlock_file

_LIBRARIES = {
    "reconciler.state.postgres": ("psycopg", "postgres"),
    "reconciler.state.s3": ("boto3", "s3"),
}


def _ignore(message: str) -> None:
    pass


def load_state(location: StateLocation) -> State:
    """The state as stored, any journal replayed in memory; takes no lock, writes nothing.
    An empty state where there is none yet. StateError if it cannot be read or is not valid."""
    if isinstance(location, Path):
        return store.load_state(location)
    loaded: State = _module(location).load(location)
    return loaded


def open_store(
    location: StateLocation, *, command: str = "reconciler", warn: Callable[[str], None] = _ignore
) -> store.StateStore:
    """The state locked for this run, a journal left by an interrupted run compacted first.
    RefusedError naming the holder if another run holds the lock."""
    if isinstance(location, Path):
        return store.StateStore.open(location, command=command, warn=warn)
    opened: store.StateStore = _module(location).open_store(location, command=command, warn=warn)
    return opened


def force_unlock(location: StateLocation) -> LockInfo | None:
    """Release a lock left behind; the holder it named, or None if it named nobody.
    RefusedError if a running holder still has it (docs/state-backends.md, per store)."""
    if isinstance(location, Path):
        return force_unlock_file(location)
    released: LockInfo | None = _module(location).force_unlock(location)
    return released


def previous_versions(location: StateLocation) -> str:
    """Where the version before a write is kept, for messages."""
    if isinstance(location, Path):
        return f"{location}.backup"
    if isinstance(location, S3Location):
        return f"the bucket's versions of {location} (with versioning on)"
    return "nowhere: PostgreSQL keeps no previous version (use `state pull` first)"


def _module(location: PostgresLocation | S3Location) -> ModuleType:
    name = "reconciler.state.postgres"
    if isinstance(location, S3Location):
        name = "reconciler.state.s3"
    library, extra = _LIBRARIES[name]
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as error:
        if error.name != library:
            raise
        raise UsageError(
            f"the state {location} needs {library}, which is not installed: "
            f"pip install 'cor-reconciler[{extra}]'"
        ) from None
