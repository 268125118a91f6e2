"""The S3 state store: the state as one object of a bucket, its lock and journal as objects
beside it (docs/state-backends.md).

Called by `backends.py` only, which imports it (and so boto3) when `--state` is s3://BUCKET/KEY.
For the state object KEY: `KEY` holds exactly the bytes of a state file (`codec.render_state`),
replaced only with If-Match on the ETag it was read with; `KEY.lock` is created with
If-None-Match: * and names its holder (`s3_lock.py`); `KEY.journal/00000000`,
`...00000001`, ... are the journal, one object per durable group, each created with
If-None-Match: *, which joined in order are a journal file. Bucket versioning is the history.
This module reads and writes the state object and the journal (the `Medium` of a StateStore on
S3); `s3_objects.py` holds the client and the conditional requests, and is the only one to
import boto3 and botocore (their errors come through it). Imports the standard library,
`core/text`, `errors` and the state's modules.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

from reconciler.core.resources import ResourceKey
from reconciler.core.text import printable
from reconciler.errors import StateError, StateWriteError, StoreError
from reconciler.state import journal
from reconciler.state.codec import State, render_state
from reconciler.state.location import S3Location
from reconciler.state.lock import LockInfo
from reconciler.state.s3_lock import LockObject, acquire, unlock
from reconciler.state.s3_objects import (
    BotoCoreError,
    ClientError,
    check_bucket,
    get_object,
    head_etag,
    make_client,
    put_if,
    store_errors,
    write_failed,
)
from reconciler.state.store import Places, StateStore, parse_state, replayed

_PART = re.compile(r"[0-9]{8}")  # a journal object's name under KEY.journal/
_BATCH = 1_000  # DeleteObjects takes at most 1,000 keys
_ATTEMPTS = 3  # reads without the lock: a compaction between two reads starts over


def _ignore(message: str) -> None:
    pass


class _Changed(Exception):
    """The state was compacted while being read without the lock: read it again."""


# --- reading --------------------------------------------------------------------------------


def _journal_prefix(location: S3Location) -> str:
    return f"{location.key}.journal/"


def _places(location: S3Location) -> Places:
    return Places(
        str(location), f"{location}.journal/", "the bucket's previous versions (versioning)"
    )


@dataclass(frozen=True)
class _Snapshot:
    state: State | None  # None: no state object yet
    etag: str | None  # the state object's, to replace it with If-Match
    parts: tuple[str, ...]  # the journal objects' keys, in order
    found: journal.JournalFile | None  # the journal they make, None if there is none


def _parts(client: Any, location: S3Location) -> tuple[str, ...]:
    """The journal objects' keys in order; StateError if one is missing between two others
    or a name is not a journal object's."""
    prefix = _journal_prefix(location)
    keys = []
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=location.bucket, Prefix=prefix)
    for page in pages:
        keys += [entry["Key"] for entry in page.get("Contents", ())]
    names = sorted(key[len(prefix) :] for key in keys)
    for number, name in enumerate(names):
        if not _PART.fullmatch(name) or int(name) != number:
            raise StateError(
                f"the journal {location}.journal/ of the state {location} is not whole: "
                f"{printable(prefix + name)!r} is where part {number:08d} should be (a part "
                "was removed, or an object was put there by hand); restore it from the "
                "bucket's previous versions, or move the journal away to drop its changes"
            )
    return tuple(prefix + name for name in names)


def _read_once(client: Any, location: S3Location) -> _Snapshot:
    got = get_object(client, location, location.key)
    stored = parse_state(str(location), got[0]) if got is not None else None
    etag = got[1] if got is not None else None
    parts = _parts(client, location)
    chunks = []
    for key in parts:
        part = get_object(client, location, key)
        if part is None:  # removed since listed: a compaction ran meanwhile
            raise _Changed
        chunks.append(part[0])
    found = journal.parse_journal(f"{location} journal", b"".join(chunks)) if parts else None
    return _Snapshot(stored, etag, parts, found)


def _read(client: Any, location: S3Location, *, locked: bool) -> _Snapshot:
    """The state, its ETag and its journal. Without the lock, a run may compact between the
    reads: the state's ETag is checked again at the end, and all is read again if it moved.
    (A compaction deletes the journal's parts last first, so a reader never sees a gap.)"""
    for _ in range(_ATTEMPTS):
        try:
            snapshot = _read_once(client, location)
        except _Changed:
            continue
        if locked or head_etag(client, location) == snapshot.etag:
            return snapshot
    raise StoreError(
        f"cannot read the state {location}: it kept changing while being read (another run "
        "is compacting it); run again"
    )


def load(location: S3Location) -> State:
    """The state with its journal replayed in memory: no lock, nothing written. An empty state
    if there is no state object yet."""
    client = make_client(location)
    with store_errors(location, "read"):
        snapshot = _read(client, location, locked=False)
    return replayed(_places(location), snapshot.state, snapshot.found).state


# --- writing --------------------------------------------------------------------------------


def _put_state(client: Any, location: S3Location, state: State, etag: str | None) -> str:
    """Replace the state object if it is still the one read (`etag`; None: there was none);
    its new ETag. ClientError PreconditionFailed if another writer changed it."""
    return put_if(client, location, location.key, render_state(state), etag, checksum=True)


def _delete_parts(client: Any, location: S3Location, keys: Collection[str]) -> None:
    """Delete the journal's parts, the last first: a reader or a crash never leaves a gap,
    only the parts before those deleted (a leftover, which the next run drops)."""
    last_first = sorted(keys, reverse=True)
    for start in range(0, len(last_first), _BATCH):
        batch = [{"Key": key} for key in last_first[start : start + _BATCH]]
        answer = client.delete_objects(
            Bucket=location.bucket, Delete={"Objects": batch, "Quiet": True}
        )
        errors = answer.get("Errors") or []
        if errors:
            first = errors[0]
            raise StateWriteError(
                f"cannot remove the journal {location}.journal/ of the state {location}: "
                f"{len(errors)} parts refused, e.g. "
                f"{printable(str(first.get('Code')))}: {printable(str(first.get('Message')))}"
            )


# --- the store ------------------------------------------------------------------------------


class _S3Medium:
    """Where a StateStore on S3 writes: one journal object per durable group, the state object
    replaced (If-Match) at compaction, the lock object deleted at release()."""

    def __init__(
        self, client: Any, location: S3Location, state: State, etag: str | None, lock: LockObject
    ) -> None:
        self._client, self._location, self._lock = client, location, lock
        self._header = journal.header_line(state.lineage, state.serial)
        self._etag = etag
        self._buffer: list[bytes] = []
        self._next = 0  # the next part's number; open_store left no journal
        self._touched = False  # a part was (perhaps) written: compaction lists them
        self._broken: StateWriteError | None = None

    def append(self, entry: journal.Entry, line: bytes, *, sync: bool) -> None:
        if self._broken is not None:
            raise StateWriteError(str(self._broken))
        self._buffer.append(line)
        if sync:
            self._put_part()

    def sync(self) -> None:
        if self._buffer:
            self._put_part()

    def _put_part(self) -> None:
        if self._broken is not None:
            raise StateWriteError(str(self._broken))
        lines = ([self._header] if self._next == 0 else []) + self._buffer
        self._buffer = []
        self._touched = True
        key = f"{_journal_prefix(self._location)}{self._next:08d}"
        try:
            put_if(self._client, self._location, key, b"".join(lines), None)
        except (ClientError, BotoCoreError) as error:
            self._broken = write_failed(self._location, "write the journal of", error)
            raise self._broken from None
        self._next += 1

    def compact(self, state: State | None, filled: Collection[ResourceKey]) -> None:
        if state is not None:
            self._write(state)
        if self._touched:
            self._drop_journal()

    def replace(self, state: State) -> None:
        self._write(state)
        self._drop_journal()

    def _write(self, state: State) -> None:
        try:
            self._etag = _put_state(self._client, self._location, state, self._etag)
        except (ClientError, BotoCoreError) as error:
            raise write_failed(self._location, "write", error) from None

    def _drop_journal(self) -> None:
        try:
            _delete_parts(self._client, self._location, _parts(self._client, self._location))
        except (ClientError, BotoCoreError) as error:
            raise write_failed(self._location, "remove the journal of", error) from None
        self._touched = False

    def release(self) -> None:
        self._lock.release()


def open_store(
    location: S3Location, *, command: str, warn: Callable[[str], None] = _ignore
) -> StateStore:
    """Lock the state (RefusedError naming the holder if held; a lock left by a dead run of
    this host is taken over, `warn` saying whose), load it, and compact a journal left by an
    interrupted run (serial + 1 if it changed something), as StateStore.open does a file."""
    client = make_client(location)
    with store_errors(location, "lock"):
        check_bucket(client, location)
        lock = acquire(client, location, command, warn)
    try:
        with store_errors(location, "read"):
            snapshot = _read(client, location, locked=True)
        loaded = replayed(_places(location), snapshot.state, snapshot.found)
        state, etag = loaded.state, snapshot.etag
        if loaded.changed:
            state = State(state.lineage, state.serial + 1, state.records, state.in_doubt)
            try:
                etag = _put_state(client, location, state, etag)
            except (ClientError, BotoCoreError) as error:
                raise write_failed(location, "compact the journal of", error) from None
        if loaded.has_journal:
            with store_errors(location, "remove the journal of"):
                _delete_parts(client, location, snapshot.parts)
    except BaseException:
        lock.release()
        raise
    return StateStore(state, _S3Medium(client, location, state, etag, lock))


def force_unlock(location: S3Location) -> LockInfo | None:
    """Delete the lock object a run left, and return whom it named (None if it named nobody
    or there was none). RefusedError if it names a run of this host that is still running."""
    client = make_client(location)
    with store_errors(location, "unlock"):
        return unlock(client, location)
