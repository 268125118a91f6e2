"""The state in PostgreSQL: rows in a schema of the user's database, an advisory lock, no
journal (docs/state-backends.md).

Part of the state store, imported by `backends.py` only when a location names PostgreSQL (so
that psycopg is needed only then). Records and the keys in doubt are rows of tables in the
location's schema (`postgres_schema.py`: created on first use, versioned, read back as a State),
several states apart by name. Each change is SQL committed before `append` returns (or at the
group's `sync`), the first change of a run bumping the serial in the same transaction: the rows
ARE the state, so a killed run loses nothing committed and there is nothing to compact. The lock
is a session advisory lock, which the server frees when the holder's session ends, beside a
`locks` row naming the holder (`postgres_lock.py`). This module holds the three doors
(`load`, `open_store`, `force_unlock`), the connection and the words for its errors, and the
Medium that writes changes as SQL. `conninfo` (it may hold DATABASE_URL's password) never
reaches a message. Imports psycopg, the standard library, core values, `errors` and the state's
modules.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager, suppress

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from reconciler.core.resources import ResourceKey
from reconciler.core.text import printable
from reconciler.errors import RefusedError, StateWriteError, StoreError, UsageError
from reconciler.state import journal
from reconciler.state.codec import State, key_fields
from reconciler.state.location import PostgresLocation
from reconciler.state.lock import LockInfo, this_run
from reconciler.state.postgres_lock import (
    held_message,
    hold,
    holder,
    holder_of,
    lock_key,
    takeover_warning,
    try_lock,
    unbreakable_message,
    unhold,
    unlock,
)
from reconciler.state.postgres_schema import (
    Connection,
    ensure_schema,
    read_state,
    statements,
    stored_version,
)
from reconciler.state.store import StateStore

_DEFAULTS = (  # what reconciler sets unless the URL, DATABASE_URL or libpq's variable does
    ("application_name", "reconciler", "PGAPPNAME"),
    ("connect_timeout", "10", "PGCONNECT_TIMEOUT"),
)


def _ignore(message: str) -> None:
    pass


# --- the three doors (backends.py) ----------------------------------------------------------


def load(location: PostgresLocation) -> State:
    """The state as stored, read in one snapshot; no lock, nothing written (not even the
    schema). An empty state if there is none yet. StateError if its rows are not a valid
    state; StoreError if the database cannot be reached or read."""
    with _connected(location) as connection, _reading(location):
        connection.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
        connection.read_only = True
        if stored_version(connection, location) is None:
            return State.empty()
        state, _ = read_state(connection, location)
        connection.rollback()
        return state


def open_store(
    location: PostgresLocation, *, command: str, warn: Callable[[str], None] = _ignore
) -> StateStore:
    """The state locked for this run: its advisory lock, held by a session kept open until the
    store is closed. RefusedError naming the holder if another session holds it; a `locks` row
    left by a run whose session ended (it crashed) is taken over, and `warn` says whose."""
    connection = _connect(location)
    try:
        with _reading(location):
            ensure_schema(connection, location)
            if not try_lock(connection, lock_key(location)):
                raise RefusedError(held_message(location, *holder_of(connection, location)))
            previous = holder(connection, location)
            if previous is not None:
                warn(takeover_warning(location, previous))
            state, stored = read_state(connection, location)
            hold(connection, location, this_run(command))
            connection.commit()
    except BaseException:
        _close(connection)
        raise
    medium = _Rows(connection, location, state, stored=stored)
    return StateStore(state, medium)


def force_unlock(location: PostgresLocation) -> LockInfo | None:
    """Delete the `locks` row a run left behind and return whom it named (None if none, or
    unreadable). RefusedError if a live session holds the advisory lock: it cannot be broken
    from here, only by that session ending (or `pg_terminate_backend`, which the message
    gives)."""
    with _connected(location) as connection, _reading(location):
        if stored_version(connection, location) is None:
            return None
        key = lock_key(location)
        if not try_lock(connection, key):
            raise RefusedError(unbreakable_message(location, *holder_of(connection, location)))
        info = holder(connection, location)
        unhold(connection, location)
        connection.commit()
        unlock(connection, key)
    return info if isinstance(info, LockInfo) else None


# --- connecting, and the words for what went wrong -------------------------------------------


def _conninfo(location: PostgresLocation) -> str:
    """The location's conninfo with reconciler's defaults where neither it nor the environment
    sets them (the user's values win). UsageError, quoting nothing of it, if libpq cannot
    parse it: it may hold a password."""
    try:
        given = conninfo_to_dict(location.conninfo)
        extra = {
            name: value
            for name, value, variable in _DEFAULTS
            if name not in given and variable not in os.environ
        }
        return make_conninfo(location.conninfo, **extra)
    except psycopg.Error:
        raise UsageError(
            f"the connection settings of the state {location} (its URL, or DATABASE_URL) are "
            "not valid for libpq (not quoted here: they may hold a password)"
        ) from None


def _connect(location: PostgresLocation) -> Connection:
    conninfo = _conninfo(location)
    try:
        return psycopg.connect(conninfo, autocommit=False)
    except psycopg.Error as error:
        message = f"cannot reach the state {location}: {_said(error, location)}"
        raise StoreError(message) from None


@contextmanager
def _connected(location: PostgresLocation) -> Iterator[Connection]:
    connection = _connect(location)
    try:
        yield connection
    finally:
        _close(connection)


def _close(connection: Connection) -> None:
    with suppress(psycopg.Error):
        connection.close()


@contextmanager
def _reading(location: PostgresLocation) -> Iterator[None]:
    """psycopg's errors as StoreError: the server is gone, or refuses (no access...)."""
    try:
        yield
    except psycopg.OperationalError as error:
        raise StoreError(f"cannot reach the state {location}: {_said(error, location)}") from None
    except psycopg.Error as error:
        raise StoreError(f"cannot read the state {location}: {_said(error, location)}") from None


def _said(error: psycopg.Error, location: PostgresLocation) -> str:
    """psycopg's message on one line, escaped, without any password libpq was given (libpq
    does not quote one; this makes sure)."""
    text = "; ".join(line.strip() for line in str(error).splitlines() if line.strip())
    secrets = [os.environ.get("PGPASSWORD", "")]
    with suppress(psycopg.Error):
        secrets.append(str(conninfo_to_dict(location.conninfo).get("password") or ""))
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return printable(text or type(error).__name__)


# --- the medium: changes as SQL ----------------------------------------------------------------


class _Rows:
    """A StateStore's Medium over the state's rows, on the session that holds the lock."""

    def __init__(
        self, connection: Connection, location: PostgresLocation, state: State, *, stored: bool
    ) -> None:
        self._connection = connection
        self._location = location
        self._sql = statements(location.schema)
        self._lineage, self._serial = state.lineage, state.serial  # as stored at open
        self._stored = stored  # a `states` row exists
        self._bumped = False  # this run's first change made or bumped the `states` row
        self._pending = False  # changes not yet committed (a group)
        self._broken = False  # a write failed: the next compact writes the whole state
        self._overtaken = False  # ...unless the state was changed behind the lock: never over it

    def append(self, entry: journal.Entry, line: bytes, *, sync: bool) -> None:
        if self._overtaken:
            raise StateWriteError(self._overtaken_message())
        if self._broken:
            raise StateWriteError(
                f"cannot write the state {self._location}: unusable after an earlier write failed"
            )
        with self._writing():
            if not self._bumped:
                self._bump()
            self._apply(entry)
            self._pending = True
            if sync:
                self._commit()

    def sync(self) -> None:
        if self._pending and not self._broken:
            with self._writing():
                self._commit()

    def compact(self, state: State | None, filled: Collection[ResourceKey]) -> None:
        """Nothing to compact: the rows are the state. The records' files (`filled`) are
        written; a run whose changes undid each other gives its serial back; after a failed
        write, the whole state is written instead — but never over a state changed behind the
        lock (StateWriteError): this run wrote nothing to it, its first change was refused."""
        if self._overtaken:
            if state is not None:
                raise StateWriteError(self._overtaken_message())
            return
        consistent = state is None or (self._bumped and state.serial == self._serial + 1)
        if self._broken or not consistent:
            if state is not None:
                self.replace(state)
            return
        with self._writing():
            if state is None:
                self._unbump()
            else:
                self._fill(state, filled)
            self._commit()

    def replace(self, state: State) -> None:
        with self._writing():
            self._connection.rollback()  # a group a failure left half done
            name = self._location.state
            self._connection.execute(self._sql["set"], (name, state.lineage, state.serial))
            self._connection.execute(self._sql["clear_records"], (name,))
            self._connection.execute(self._sql["clear_in_doubt"], (name,))
            self._copy(state)
            self._commit()
        self._lineage, self._serial = state.lineage, state.serial
        self._stored, self._bumped, self._broken = True, False, False

    def release(self) -> None:
        """Delete our `locks` row, then let the advisory lock go (in that order, so that no run
        taking it next can have its row deleted), and close the session."""
        connection = self._connection
        with suppress(psycopg.Error):
            connection.rollback()
            unhold(connection, self._location)
            connection.commit()
            unlock(connection, lock_key(self._location))
        _close(connection)

    @contextmanager
    def _writing(self) -> Iterator[None]:
        """A failed write: rolled back, the medium marked broken (so that compact writes the
        whole state), psycopg's error as StateWriteError. Anything else that stops a write
        halfway (KeyboardInterrupt) marks it broken too: the rows may then lack a change the
        StateStore holds."""
        try:
            yield
        except BaseException as error:
            self._broken, self._pending = True, False
            with suppress(psycopg.Error):
                self._connection.rollback()
            if not isinstance(error, psycopg.Error):
                raise
            said = _said(error, self._location)
            raise StateWriteError(f"cannot write the state {self._location}: {said}") from None

    def _commit(self) -> None:
        self._connection.commit()
        self._pending = False

    def _bump(self) -> None:
        """Serial + 1 (a new state: its row, serial 1) in the first change's transaction,
        guarded: the row must be as this run read it."""
        name, lineage, serial = self._location.state, self._lineage, self._serial
        if self._stored:
            cursor = self._connection.execute(self._sql["bump"], (name, lineage, serial))
        else:
            cursor = self._connection.execute(self._sql["create"], (name, lineage, serial + 1))
        if cursor.rowcount != 1:
            self._overtaken = True
            raise StateWriteError(self._overtaken_message())
        self._bumped = True

    def _overtaken_message(self) -> str:
        return (
            f"cannot write the state {self._location}: it was changed behind its lock (it is "
            f"no longer serial {self._serial} of lineage {self._lineage}, as this run read it); "
            "this run wrote nothing to it and will not write over it: run again"
        )

    def _unbump(self) -> None:
        """The changes undid each other (an intent, then its resolve): the serial as before, as
        the file store leaves it (a new state: no row, as no file)."""
        if not self._bumped:
            return
        name, lineage, serial = self._location.state, self._lineage, self._serial
        statement = self._sql["unbump"] if self._stored else self._sql["uncreate"]
        self._connection.execute(statement, (name, lineage, serial + 1))
        self._bumped = False

    def _apply(self, entry: journal.Entry) -> None:
        key = (self._location.state, *key_fields(entry.key).values())
        if entry.op == "put":
            record = entry.record
            assert record is not None  # a put carries its record
            attributes = json.dumps(dict(record.attributes), ensure_ascii=False, sort_keys=True)
            values = (*key, record.cor_id, attributes, record.protected, record.file)
            self._connection.execute(self._sql["put"], (*key, *values))
        elif entry.op == "forget":
            self._connection.execute(self._sql["forget"], (*key, *key))
        else:  # intent, resolve
            self._connection.execute(self._sql[entry.op], key)

    def _fill(self, state: State, filled: Collection[ResourceKey]) -> None:
        rows = []
        for key in filled:
            record = state.records.get(key)
            if record is not None and record.file is not None:
                rows.append((record.file, self._location.state, *key_fields(key).values()))
        if rows:
            with self._connection.cursor() as cursor:
                cursor.executemany(self._sql["fill"], rows)

    def _copy(self, state: State) -> None:
        name = self._location.state
        with self._connection.cursor() as cursor:
            with cursor.copy(self._sql["copy_records"]) as copy:
                for key, record in state.records.items():
                    attributes = json.dumps(
                        dict(record.attributes), ensure_ascii=False, sort_keys=True
                    )
                    copy.write_row(
                        (
                            name,
                            key.kind.value,
                            key.source,
                            key.id,
                            record.cor_id,
                            attributes,
                            record.protected,
                            record.file,
                        )
                    )
            with cursor.copy(self._sql["copy_in_doubt"]) as copy:
                for key in state.in_doubt:
                    copy.write_row((name, key.kind.value, key.source, key.id))
