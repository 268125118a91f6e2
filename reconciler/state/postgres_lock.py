"""The PostgreSQL store's lock: a session advisory lock per state, and the `locks` row that
names its holder (docs/state-backends.md, "The lock").

Part of the PostgreSQL store, used by `postgres.py` only. The advisory lock gives mutual
exclusion and is freed by the server when its session ends (a killed run's included), so only
its row can be left behind; that row says who holds the lock, is read back as the lock file's
record is (`lock.info_of`), and is taken over, with a warning, by the next run that gets the
advisory lock. A live holder cannot be broken from here: the messages say how to end its
session. Imports the state's modules only (it works on the connection `postgres.py` opened).
"""

from __future__ import annotations

from typing import TypeAlias

from reconciler.state.location import PostgresLocation
from reconciler.state.lock import LockInfo, info_of
from reconciler.state.postgres_schema import Connection, advisory_key, one_row, statements

_BACKEND = (  # the session holding a bigint advisory lock: its halves, objsubid 1
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND classid = %s::bigint::oid AND objid = %s::bigint::oid"
)
# whom a `locks` row names: its LockInfo, words for a row that is not one, or None (no row)
Holder: TypeAlias = LockInfo | str | None


def lock_key(location: PostgresLocation) -> int:
    """The advisory lock's key: one bigint per (schema, state) in a database."""
    return advisory_key("state", location.schema, location.state)


def try_lock(connection: Connection, key: int) -> bool:
    """Take the session advisory lock if free (it outlives the transaction, which ends)."""
    locked = bool(one_row(connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)))[0])
    connection.commit()
    return locked


def unlock(connection: Connection, key: int) -> None:
    connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
    connection.commit()


def holder(connection: Connection, location: PostgresLocation) -> Holder:
    """Who the `locks` row names: a LockInfo, words for a row reconciler cannot read (it was
    not written by reconciler), or None if there is no row."""
    statement = statements(location.schema)["holder"]
    row = connection.execute(statement, (location.state,)).fetchone()
    if row is None:
        return None
    info = info_of(dict(zip(("holder", "host", "pid", "started_at", "command"), row, strict=True)))
    if isinstance(info, str):
        return "a run whose row in the locks table reconciler cannot read"
    return info


def holder_of(connection: Connection, location: PostgresLocation) -> tuple[Holder, int | None]:
    """Who holds the lock of `location` (as its locks row says), and the backend pid of the
    session holding it (pg_locks; None if it has just let go)."""
    who = holder(connection, location)
    key = lock_key(location)
    row = connection.execute(_BACKEND, ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF)).fetchone()
    connection.rollback()
    return who, (None if row is None else int(row[0]))


def hold(connection: Connection, location: PostgresLocation, info: LockInfo) -> None:
    """Name this run in the `locks` row (in the caller's transaction)."""
    statement = statements(location.schema)["hold"]
    fields = (info.holder, info.host, info.pid, info.started_at, info.command)
    connection.execute(statement, (location.state, *fields))


def unhold(connection: Connection, location: PostgresLocation) -> None:
    """Delete the `locks` row (in the caller's transaction)."""
    connection.execute(statements(location.schema)["unhold"], (location.state,))


# --- the words ---------------------------------------------------------------------------------


def takeover_warning(location: PostgresLocation, previous: LockInfo | str) -> str:
    return (
        f"took over the lock of the state {location}, left by {previous}, whose "
        "database session has ended"
    )


def held_message(location: PostgresLocation, who: Holder, backend: int | None) -> str:
    hint = _terminate_hint(backend)
    if who is None:
        return (
            f"the state {location} is in use by another reconciler run (it holds the lock, but "
            f"has not said who it is yet): wait for it to finish; {hint}"
        )
    return f"the state {location} is locked by {who}: wait for it to finish; {hint}"


def unbreakable_message(location: PostgresLocation, who: Holder, backend: int | None) -> str:
    return (
        f"cannot unlock the state {location}: {who or 'a run that has not said who it is'}"
        " holds its lock in a live database session, which cannot be broken safely; "
        f"stop that run first; {_terminate_hint(backend)}"
    )


def _terminate_hint(backend: int | None) -> str:
    pid = str(backend) if backend is not None else "<its backend's pid, from pg_locks>"
    return (
        "its lock is released when that run's database session ends (if that run is gone "
        f"and its session lingers: SELECT pg_terminate_backend({pid}))"
    )
