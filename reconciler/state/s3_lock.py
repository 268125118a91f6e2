"""The S3 store's lock: the object `KEY.lock` beside the state object (docs/state-backends.md).

Used by `s3.py` only (its `open_store` and `force_unlock`). The lock object is created with
If-None-Match: *, so that one run at a time gets it, and names its holder (`lock.LockInfo`, as
JSON, read back with `lock.info_of`); it is deleted with If-Match on the ETag it was created
with, so that a run never deletes a lock that is no longer its own. A lock left by a dead run of
this host is taken over; one of another host stays until `state unlock --force`. Imports the
standard library, `files`, `errors` and the state's modules (`s3_objects` for every request,
and for botocore's errors).
"""

from __future__ import annotations

import dataclasses
import json
import socket
from collections.abc import Callable
from contextlib import suppress
from typing import Any

from reconciler.errors import RefusedError
from reconciler.files import RefusedJsonError, loads_strictly
from reconciler.state.location import S3Location
from reconciler.state.lock import LockInfo, alive, info_of, this_run
from reconciler.state.s3_objects import (
    BotoCoreError,
    ClientError,
    delete_if,
    error_code,
    get_object,
    put_if,
)

_MAX_LOCK = 65_536  # a lock record is ~200 bytes; more is not one
_UNLOCK = "if that run is gone, `reconciler state unlock --force`"


def _lock_key(location: S3Location) -> str:
    return f"{location.key}.lock"


def _parse_lock(data: bytes) -> LockInfo | str:
    """The holder a lock object names, or why it names none."""
    if len(data) >= _MAX_LOCK:
        return "it is far too large"
    try:
        document = loads_strictly(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RefusedJsonError):
        return "it is not a lock record (JSON)"
    return info_of(document)


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


class LockObject:
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
            delete_if(self._client, self._location, _lock_key(self._location), self._etag)


def _create_lock(client: Any, location: S3Location, body: bytes) -> str | None:
    """The new lock object's ETag, or None if there is one already."""
    try:
        return put_if(client, location, _lock_key(location), body, None)
    except ClientError as error:
        if error_code(error) == "PreconditionFailed":
            return None
        raise


def acquire(
    client: Any, location: S3Location, command: str, warn: Callable[[str], None]
) -> LockObject:
    """Create the lock object, or take over one left by a dead run of this host (once);
    RefusedError naming the holder otherwise. S3's failures: ClientError or BotoCoreError."""
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
            return LockObject(client, location, etag)
        found = get_object(client, location, _lock_key(location))
        if found is None:
            continue  # released meanwhile: create it again
        holder = _parse_lock(found[0])
        if taken_over is not None or not _left_behind(holder):
            raise _refusal(location, holder)
        taken_over = holder
        try:
            delete_if(client, location, _lock_key(location), found[1])
        except ClientError as error:
            if error_code(error) != "PreconditionFailed":
                raise  # taken over by another run meanwhile: the create says whose it is
    raise RefusedError(
        f"the state {location} is being locked and released by other runs: run again"
    )


def unlock(client: Any, location: S3Location) -> LockInfo | None:
    """Delete the lock object a run left, and return whom it named (None if it named nobody
    or there was none). RefusedError if it names a run of this host that is still running, or
    if it changed meanwhile. S3's failures: ClientError or BotoCoreError."""
    found = get_object(client, location, _lock_key(location))
    if found is None:
        return None
    holder = _parse_lock(found[0])
    if isinstance(holder, LockInfo) and holder.host == socket.gethostname() and alive(holder.pid):
        raise RefusedError(
            f"cannot unlock the state {location}: {holder} is running on this host "
            "and holds its lock; stop that process first (it releases the lock as it ends)"
        )
    try:
        delete_if(client, location, _lock_key(location), found[1])
    except ClientError as error:
        if error_code(error) != "PreconditionFailed":
            raise
        raise RefusedError(
            f"cannot unlock the state {location}: its lock changed meanwhile (another run "
            "took it); run `reconciler state unlock --force` again to see whose it is"
        ) from None
    return holder if isinstance(holder, LockInfo) else None
