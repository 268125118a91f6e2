"""The S3 state store: the state as one object of a bucket, its lock and journal as objects
beside it (docs/state-backends.md).

Called by `backends.py` only, which imports it (and so boto3) when `--state` is s3://BUCKET/KEY.
For the state object KEY: `KEY` holds exactly the bytes of a state file (`codec.render_state`),
replaced only with If-Match on the ETag it was read with; `KEY.lock` is created with
If-None-Match: * and names its holder (`lock.LockInfo`, as JSON); `KEY.journal/00000000`,
`...00000001`, ... are the journal, one object per durable group, each created with
If-None-Match: *, which joined in order are a journal file. Bucket versioning is the history.
Credentials come from the AWS chain only and never reach a message. Imports the standard
library, boto3/botocore, `core/text`, `errors` and the state's modules.
"""

from __future__ import annotations

import dataclasses
import json
import re
import socket
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from typing import Any

import boto3  # type: ignore[import-untyped]  # no stubs: clients are Any
from botocore.config import Config  # type: ignore[import-untyped]  # same
from botocore.exceptions import BotoCoreError, ClientError  # type: ignore[import-untyped]

from reconciler.core.resources import ResourceKey
from reconciler.core.text import printable
from reconciler.errors import RefusedError, StateError, StateWriteError, StoreError
from reconciler.files import RefusedJsonError, loads_strictly
from reconciler.state import journal
from reconciler.state.codec import State, render_state
from reconciler.state.location import S3Location
from reconciler.state.lock import LockInfo, alive, this_run
from reconciler.state.store import Places, StateStore, parse_state, replayed

_PART = re.compile(r"[0-9]{8}")  # a journal object's name under KEY.journal/
_BATCH = 1_000  # DeleteObjects takes at most 1,000 keys
_MAX_LOCK = 65_536  # a lock record is ~200 bytes; more is not one
_ATTEMPTS = 3  # reads without the lock: a compaction between two reads starts over
_UNLOCK = "if that run is gone, `reconciler state unlock --force`"


def _ignore(message: str) -> None:
    pass


class _Changed(Exception):
    """The state was compacted while being read without the lock: read it again."""


# --- the client and its errors --------------------------------------------------------------


def _client(location: S3Location) -> Any:
    """An S3 client: region and credentials from the AWS chain, path-style for an endpoint."""
    session = boto3.session.Session()
    style = {"addressing_style": "path"} if location.endpoint_url else None
    config = Config(
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=5,
        read_timeout=30,
        s3=style,
    )
    region = session.region_name or "us-east-1"
    return session.client(
        "s3", endpoint_url=location.endpoint_url, region_name=region, config=config
    )


def _code(error: ClientError) -> str:
    code: str = error.response.get("Error", {}).get("Code", "")
    return code


def _why(error: Exception) -> str:
    """What went wrong, short and escaped: S3's code and message, or botocore's own text
    (neither holds a secret key: requests are signed, the key is never sent)."""
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        text = f"{detail.get('Code') or status}: {detail.get('Message') or 'no message'}"
    else:
        text = f"{type(error).__name__}: {error}"
    return printable(text if len(text) <= 300 else text[:300] + "...")


@contextmanager
def _store_errors(location: S3Location, what: str) -> Iterator[None]:
    """S3's refusals and botocore's failures as StoreError naming the state and the cause."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise StoreError(f"cannot {what} the state {location}: {_why(error)}") from None


def _write_failed(location: S3Location, what: str, error: Exception) -> StateWriteError:
    if isinstance(error, ClientError) and _code(error) == "PreconditionFailed":
        return StateWriteError(
            f"cannot {what} the state {location}: another writer changed it since this "
            "run read it (its lock was broken, or an object was replaced by hand); check who, "
            "then run again"
        )
    return StateWriteError(f"cannot {what} the state {location}: {_why(error)}")


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


def _get(client: Any, location: S3Location, key: str) -> tuple[bytes, str] | None:
    """An object's bytes and ETag; None if there is no such object."""
    try:
        answer = client.get_object(Bucket=location.bucket, Key=key)
    except ClientError as error:
        if _code(error) in ("NoSuchKey", "404"):
            return None
        raise
    body: bytes = answer["Body"].read()
    return body, answer["ETag"]


def _etag(client: Any, location: S3Location) -> str | None:
    try:
        answer = client.head_object(Bucket=location.bucket, Key=location.key)
    except ClientError as error:
        if _code(error) in ("NoSuchKey", "404"):
            return None
        raise
    etag: str = answer["ETag"]
    return etag


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
    got = _get(client, location, location.key)
    stored = parse_state(str(location), got[0]) if got is not None else None
    etag = got[1] if got is not None else None
    parts = _parts(client, location)
    chunks = []
    for key in parts:
        part = _get(client, location, key)
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
        if locked or _etag(client, location) == snapshot.etag:
            return snapshot
    raise StoreError(
        f"cannot read the state {location}: it kept changing while being read (another run "
        "is compacting it); run again"
    )


def load(location: S3Location) -> State:
    """The state with its journal replayed in memory: no lock, nothing written. An empty state
    if there is no state object yet."""
    client = _client(location)
    with _store_errors(location, "read"):
        snapshot = _read(client, location, locked=False)
    return replayed(_places(location), snapshot.state, snapshot.found).state


# --- writing --------------------------------------------------------------------------------


def _put(client: Any, location: S3Location, key: str, body: bytes, condition: str | None) -> str:
    """Put `body` at `key` if the object there is still the one with ETag `condition` (None:
    if there is none); its new ETag. ClientError PreconditionFailed if it is not, unless it
    already holds `body`: botocore retries a put whose answer was lost, and the retry finds
    the first attempt's object."""
    when = {"IfMatch": condition} if condition is not None else {"IfNoneMatch": "*"}
    try:
        answer = client.put_object(
            Bucket=location.bucket, Key=key, Body=body, ContentType="application/json", **when
        )
    except ClientError as error:
        if _code(error) != "PreconditionFailed":
            raise
        found = _get(client, location, key)
        if found is None or found[0] != body:
            raise
        return found[1]
    etag: str = answer["ETag"]
    return etag


def _put_state(client: Any, location: S3Location, state: State, etag: str | None) -> str:
    """Replace the state object if it is still the one read (`etag`; None: there was none);
    its new ETag. ClientError PreconditionFailed if another writer changed it."""
    return _put(client, location, location.key, render_state(state), etag)


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


# --- the lock -------------------------------------------------------------------------------


def _lock_key(location: S3Location) -> str:
    return f"{location.key}.lock"


def _parse_lock(data: bytes) -> LockInfo | str:
    """The holder a lock object names, or why it names none."""
    if len(data) >= _MAX_LOCK:
        return "it is far too large"
    from pydantic import ValidationError

    from reconciler.state.schema import LockFile

    try:
        model = LockFile.model_validate(loads_strictly(data.decode("utf-8")))
    except (UnicodeDecodeError, json.JSONDecodeError, RefusedJsonError):
        return "it is not a lock record (JSON)"
    except ValidationError as error:
        return f"it is not a lock record: {error.error_count()} wrong fields"
    return LockInfo(**model.model_dump())


def _refusal(location: S3Location, holder: LockInfo | str) -> RefusedError:
    if isinstance(holder, str):
        return RefusedError(
            f"the state {location} is locked, but its lock object {location}.lock holds no "
            f"lock record reconciler can read ({holder}): wait for it to finish; {_UNLOCK}"
        )
    return RefusedError(
        f"the state {location} is locked by {holder}: wait for it to finish; {_UNLOCK}"
    )


def _left_behind(holder: LockInfo | str) -> bool:
    """Whether a holder is a run of this host that ended without releasing the lock."""
    return (
        isinstance(holder, LockInfo)
        and holder.host == socket.gethostname()
        and not alive(holder.pid)
    )


def _delete_if(client: Any, location: S3Location, key: str, etag: str) -> None:
    """Delete `key` if it is still the object with `etag` (a store that cannot delete on a
    condition: at once). A ClientError PreconditionFailed if it was replaced."""
    try:
        client.delete_object(Bucket=location.bucket, Key=key, IfMatch=etag)
    except ClientError as error:
        if _code(error) not in ("NotImplemented", "InvalidArgument"):
            raise
        client.delete_object(Bucket=location.bucket, Key=key)


class _HeldLock:
    """This run's lock object, deleted at release() if it is still this run's."""

    def __init__(self, client: Any, location: S3Location, etag: str) -> None:
        self._client, self._location, self._etag = client, location, etag
        self._held = True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        # Not ours any more (`state unlock --force`), or unreachable: the next run says whose.
        with suppress(ClientError, BotoCoreError):
            _delete_if(self._client, self._location, _lock_key(self._location), self._etag)


def _create_lock(client: Any, location: S3Location, body: bytes) -> str | None:
    """The new lock object's ETag, or None if there is one already."""
    try:
        return _put(client, location, _lock_key(location), body, None)
    except ClientError as error:
        if _code(error) == "PreconditionFailed":
            return None
        raise


def _lock(
    client: Any, location: S3Location, command: str, warn: Callable[[str], None]
) -> _HeldLock:
    """Create the lock object, or take over one left by a dead run of this host (once);
    RefusedError naming the holder otherwise."""
    body = (json.dumps(dataclasses.asdict(this_run(command)), ensure_ascii=False) + "\n").encode()
    taken_over: LockInfo | str | None = None
    for _ in range(2):
        etag = _create_lock(client, location, body)
        if etag is not None:
            if isinstance(taken_over, LockInfo):
                warn(
                    f"took over the lock of the state {location}, left by {taken_over}, "
                    "which is no longer running"
                )
            return _HeldLock(client, location, etag)
        found = _get(client, location, _lock_key(location))
        if found is None:
            continue  # released meanwhile: create it again
        holder = _parse_lock(found[0])
        if taken_over is not None or not _left_behind(holder):
            raise _refusal(location, holder)
        taken_over = holder
        try:
            _delete_if(client, location, _lock_key(location), found[1])
        except ClientError as error:
            if _code(error) != "PreconditionFailed":
                raise  # taken over by another run meanwhile: the create says whose it is
    raise RefusedError(
        f"the state {location} is being locked and released by other runs: run again"
    )


# --- the store ------------------------------------------------------------------------------


def _check_bucket(client: Any, location: S3Location) -> None:
    """StoreError if the bucket does not exist: some stores (SeaweedFS) would make it at the
    first write, without versioning, where a misspelt name should be refused."""
    try:
        client.head_bucket(Bucket=location.bucket)
    except ClientError as error:
        if _code(error) not in ("404", "NoSuchBucket"):
            raise
        raise StoreError(
            f"cannot lock the state {location}: NoSuchBucket: the bucket "
            f"{printable(location.bucket)} does not exist (create it, with versioning on)"
        ) from None


class _S3Medium:
    """Where a StateStore on S3 writes: one journal object per durable group, the state object
    replaced (If-Match) at compaction, the lock object deleted at release()."""

    def __init__(
        self, client: Any, location: S3Location, state: State, etag: str | None, lock: _HeldLock
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
            _put(self._client, self._location, key, b"".join(lines), None)
        except (ClientError, BotoCoreError) as error:
            self._broken = _write_failed(self._location, "write the journal of", error)
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
            raise _write_failed(self._location, "write", error) from None

    def _drop_journal(self) -> None:
        try:
            _delete_parts(self._client, self._location, _parts(self._client, self._location))
        except (ClientError, BotoCoreError) as error:
            raise _write_failed(self._location, "remove the journal of", error) from None
        self._touched = False

    def release(self) -> None:
        self._lock.release()


def open_store(
    location: S3Location, *, command: str, warn: Callable[[str], None] = _ignore
) -> StateStore:
    """Lock the state (RefusedError naming the holder if held; a lock left by a dead run of
    this host is taken over, `warn` saying whose), load it, and compact a journal left by an
    interrupted run (serial + 1 if it changed something), as StateStore.open does a file."""
    client = _client(location)
    with _store_errors(location, "lock"):
        _check_bucket(client, location)
        lock = _lock(client, location, command, warn)
    try:
        with _store_errors(location, "read"):
            snapshot = _read(client, location, locked=True)
        loaded = replayed(_places(location), snapshot.state, snapshot.found)
        state, etag = loaded.state, snapshot.etag
        if loaded.changed:
            state = State(state.lineage, state.serial + 1, state.records, state.in_doubt)
            try:
                etag = _put_state(client, location, state, etag)
            except (ClientError, BotoCoreError) as error:
                raise _write_failed(location, "compact the journal of", error) from None
        if loaded.has_journal:
            with _store_errors(location, "remove the journal of"):
                _delete_parts(client, location, snapshot.parts)
    except BaseException:
        lock.release()
        raise
    return StateStore(str(location), state, _S3Medium(client, location, state, etag, lock))


def force_unlock(location: S3Location) -> LockInfo | None:
    """Delete the lock object a run left, and return whom it named (None if it named nobody
    or there was none). RefusedError if it names a run of this host that is still running."""
    client = _client(location)
    with _store_errors(location, "unlock"):
        found = _get(client, location, _lock_key(location))
        if found is None:
            return None
        holder = _parse_lock(found[0])
        if (
            isinstance(holder, LockInfo)
            and holder.host == socket.gethostname()
            and alive(holder.pid)
        ):
            raise RefusedError(
                f"cannot unlock the state {location}: {holder} is running on this host "
                "and holds its lock; stop that process first (it releases the lock as it ends)"
            )
        try:
            _delete_if(client, location, _lock_key(location), found[1])
        except ClientError as error:
            if _code(error) != "PreconditionFailed":
                raise
            raise RefusedError(
                f"cannot unlock the state {location}: its lock changed meanwhile (another run "
                "took it); run `reconciler state unlock --force` again to see whose it is"
            ) from None
    return holder if isinstance(holder, LockInfo) else None
