"""The state in PostgreSQL: rows in a schema of the user's database, an advisory lock, no
journal (docs/state-backends.md).

Part of the state store, imported by `backends.py` only when a location names PostgreSQL (so
that psycopg is needed only then). Records and the keys in doubt are rows of tables in the
location's schema (created on first use, versioned), several states apart by name. Each change
is SQL committed before `append` returns (or at the group's `sync`), the first change of a run
bumping the serial in the same transaction: the rows ARE the state, so a killed run loses
nothing committed and there is nothing to compact. The lock is a session advisory lock, which
the server frees when the holder's session ends, beside a `locks` row naming the holder.
`conninfo` (it may hold DATABASE_URL's password) never reaches a message. Imports psycopg, the
standard library, core values, `errors`, `files` and the state's modules.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager, suppress
from functools import lru_cache
from typing import Any, TypeAlias

import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from reconciler.core.resources import ResourceKey
from reconciler.core.text import printable
from reconciler.errors import RefusedError, StateError, StateWriteError, StoreError, UsageError
from reconciler.files import RefusedJsonError, loads_strictly
from reconciler.memory import no_gc
from reconciler.state import journal
from reconciler.state.codec import FORMAT_VERSION, State, key_fields
from reconciler.state.location import PostgresLocation
from reconciler.state.lock import LockInfo, this_run
from reconciler.state.store import StateStore, state_of

SCHEMA_VERSION = 1  # what this reconciler creates and reads
Connection: TypeAlias = "psycopg.Connection[tuple[Any, ...]]"
_DEFAULTS = (  # what reconciler sets unless the URL, DATABASE_URL or libpq's variable does
    ("application_name", "reconciler", "PGAPPNAME"),
    ("connect_timeout", "10", "PGCONNECT_TIMEOUT"),
)
_CREATE = """
CREATE TABLE IF NOT EXISTS {s}.schema_version (version integer NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.states (
    name text PRIMARY KEY, lineage text NOT NULL, serial bigint NOT NULL);
CREATE TABLE IF NOT EXISTS {s}.records (
    state text, kind text, source text, id text, cor_id bigint NOT NULL,
    attributes json NOT NULL, protected boolean NOT NULL DEFAULT false, file text,
    PRIMARY KEY (state, kind, source, id));
CREATE TABLE IF NOT EXISTS {s}.in_doubt (
    state text, kind text, source text, id text, PRIMARY KEY (state, kind, source, id));
CREATE TABLE IF NOT EXISTS {s}.locks (
    state text PRIMARY KEY, holder text, host text, pid integer, started_at text, command text);
INSERT INTO {s}.schema_version (version)
    SELECT 1 WHERE NOT EXISTS (SELECT FROM {s}.schema_version);
"""
_KEY = "state = %s AND kind = %s AND source = %s AND id = %s"
_STATEMENTS = {
    "version": "SELECT max(version), count(*) FROM {s}.schema_version",
    "state": "SELECT lineage, serial FROM {s}.states WHERE name = %s",
    "orphans": "SELECT EXISTS (SELECT FROM {s}.records WHERE state = %s) "
    "OR EXISTS (SELECT FROM {s}.in_doubt WHERE state = %s)",
    "records": "SELECT kind, source, id, cor_id, attributes::text, protected, file "
    "FROM {s}.records WHERE state = %s",
    "in_doubt": "SELECT kind, source, id FROM {s}.in_doubt WHERE state = %s",
    "holder": "SELECT holder, host, pid, started_at, command FROM {s}.locks WHERE state = %s",
    "hold": "INSERT INTO {s}.locks (state, holder, host, pid, started_at, command) "
    "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (state) DO UPDATE SET holder = "
    "EXCLUDED.holder, host = EXCLUDED.host, pid = EXCLUDED.pid, started_at = "
    "EXCLUDED.started_at, command = EXCLUDED.command",
    "unhold": "DELETE FROM {s}.locks WHERE state = %s",
    "bump": "UPDATE {s}.states SET serial = serial + 1 "
    "WHERE name = %s AND lineage = %s AND serial = %s",
    "unbump": "UPDATE {s}.states SET serial = serial - 1 "
    "WHERE name = %s AND lineage = %s AND serial = %s",
    "create": "INSERT INTO {s}.states (name, lineage, serial) VALUES (%s, %s, %s) "
    "ON CONFLICT (name) DO NOTHING",
    "uncreate": "DELETE FROM {s}.states WHERE name = %s AND lineage = %s AND serial = %s",
    "set": "INSERT INTO {s}.states (name, lineage, serial) VALUES (%s, %s, %s) "
    "ON CONFLICT (name) DO UPDATE SET lineage = EXCLUDED.lineage, serial = EXCLUDED.serial",
    "intent": "INSERT INTO {s}.in_doubt (state, kind, source, id) VALUES (%s, %s, %s, %s) "
    "ON CONFLICT DO NOTHING",
    "put": "WITH doubt AS (DELETE FROM {s}.in_doubt WHERE " + _KEY + ") "
    "INSERT INTO {s}.records (state, kind, source, id, cor_id, attributes, protected, file) "
    "VALUES (%s, %s, %s, %s, %s, %s::json, %s, %s) ON CONFLICT (state, kind, source, id) "
    "DO UPDATE SET cor_id = EXCLUDED.cor_id, attributes = EXCLUDED.attributes, "
    "protected = EXCLUDED.protected, file = EXCLUDED.file",
    "resolve": "DELETE FROM {s}.in_doubt WHERE " + _KEY,
    "forget": "WITH doubt AS (DELETE FROM {s}.in_doubt WHERE " + _KEY + ") "
    "DELETE FROM {s}.records WHERE " + _KEY,
    "fill": "UPDATE {s}.records SET file = %s WHERE " + _KEY + " AND file IS NULL",
    "clear_records": "DELETE FROM {s}.records WHERE state = %s",
    "clear_in_doubt": "DELETE FROM {s}.in_doubt WHERE state = %s",
    "copy_records": "COPY {s}.records (state, kind, source, id, cor_id, attributes, protected, "
    "file) FROM STDIN",
    "copy_in_doubt": "COPY {s}.in_doubt (state, kind, source, id) FROM STDIN",
}
_HAS_SCHEMA = "SELECT EXISTS (SELECT FROM pg_namespace WHERE nspname = %s)"
_FIND_SCHEMA = "SELECT to_regclass(format('%%I.schema_version', %s::text))"
_BACKEND = (  # the session holding a bigint advisory lock: its halves, objsubid 1
    "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted AND objsubid = 1 "
    "AND database = (SELECT oid FROM pg_database WHERE datname = current_database()) "
    "AND classid = %s::bigint::oid AND objid = %s::bigint::oid"
)


@lru_cache(maxsize=8)
def _statements(schema: str) -> Mapping[str, sql.Composed]:
    """Every statement, its tables in `schema` (quoted as an identifier, never pasted)."""
    name = sql.Identifier(schema)
    return {key: sql.SQL(text).format(s=name) for key, text in _STATEMENTS.items()}


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
        if _stored_version(connection, location) is None:
            return State.empty()
        state, _ = _read_state(connection, location)
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
            _ensure_schema(connection, location)
            key = lock_key(location)
            if not _try_lock(connection, key):
                raise RefusedError(_held_message(location, *_holder_of(connection, location)))
            previous = _holder(connection, location)
            if previous is not None:
                warn(
                    f"took over the lock of the state {location}, left by {previous}, whose "
                    "database session has ended"
                )
            state, stored = _read_state(connection, location)
            _hold(connection, location, this_run(command))
            connection.commit()
    except BaseException:
        _close(connection)
        raise
    medium = _Rows(connection, location, state, stored=stored)
    return StateStore(str(location), state, medium)


def force_unlock(location: PostgresLocation) -> LockInfo | None:
    """Delete the `locks` row a run left behind and return whom it named (None if none, or
    unreadable). RefusedError if a live session holds the advisory lock: it cannot be broken
    from here, only by that session ending (or `pg_terminate_backend`, which the message
    gives)."""
    with _connected(location) as connection, _reading(location):
        if _stored_version(connection, location) is None:
            return None
        key = lock_key(location)
        if not _try_lock(connection, key):
            who, backend = _holder_of(connection, location)
            raise RefusedError(
                f"cannot unlock the state {location}: {who or 'a run that has not said who it is'}"
                " holds its lock in a live database session, which cannot be broken safely; "
                f"stop that run first; {_terminate_hint(backend)}"
            )
        info = _holder(connection, location)
        connection.execute(_statements(location.schema)["unhold"], (location.state,))
        connection.commit()
        _unlock(connection, key)
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


# --- the schema --------------------------------------------------------------------------------


def _stored_version(connection: Connection, location: PostgresLocation) -> int | None:
    """The schema's version, None if there is no schema yet. StateError if it is not one this
    reconciler reads."""
    row = connection.execute(_FIND_SCHEMA, (location.schema,)).fetchone()
    if row is None or row[0] is None:
        return None
    version, count = _one(connection.execute(_statements(location.schema)["version"]))
    if count != 1 or version is None or version < 1:
        raise StateError(
            f"the state {location}: the table {location.schema}.schema_version must hold one "
            f"row, the schema's version (a positive number); it holds {count}, the largest "
            f"{version}"
        )
    if version > SCHEMA_VERSION:
        raise StateError(
            f"the state {location} is in a schema of version {version}, written by a newer "
            f"reconciler; upgrade (this one reads version {SCHEMA_VERSION})"
        )
    return int(version)


def _ensure_schema(connection: Connection, location: PostgresLocation) -> None:
    """Create the schema and its tables if missing, committed. Two first runs at once: the
    transaction-scoped advisory lock makes the second wait for the first's commit, and each
    statement of the creation does nothing if what it makes is there (a backend's catalog
    cache may still miss, in that transaction, what the first made: it is checked again after
    the commit)."""
    if _stored_version(connection, location) is None:
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (_key("schema", location.schema),))
        name = sql.Identifier(location.schema)
        if not _one(connection.execute(_HAS_SCHEMA, (location.schema,)))[0]:
            # not IF NOT EXISTS: that needs CREATE on the database even when the schema
            # exists, which a role given a schema made for it may not have
            connection.execute(sql.SQL("CREATE SCHEMA {s}").format(s=name))
        connection.execute(sql.SQL(_CREATE).format(s=name))
        connection.commit()
        _stored_version(connection, location)  # one of a newer reconciler's, made meanwhile
    connection.commit()


def _one(cursor: psycopg.Cursor[tuple[Any, ...]]) -> tuple[Any, ...]:
    row = cursor.fetchone()
    assert row is not None  # an aggregate, or EXISTS: always one row
    return row


# --- reading the state -------------------------------------------------------------------------


def _read_state(connection: Connection, location: PostgresLocation) -> tuple[State, bool]:
    """The state's rows as a State, validated as a state file is (`store.state_of`: a row no
    file could hold is refused the same way), and whether it has a `states` row."""
    statements = _statements(location.schema)
    row = connection.execute(statements["state"], (location.state,)).fetchone()
    if row is None:
        orphans = connection.execute(statements["orphans"], (location.state,) * 2)
        if _one(orphans)[0]:
            raise StateError(
                f"the state {location} has records or keys in doubt but no row in "
                f"{location.schema}.states (its lineage and serial): restore that row"
            )
        return State.empty(), False
    lineage, serial = row
    with no_gc():
        resources = _resources(connection, location)
        in_doubt = connection.execute(statements["in_doubt"], (location.state,)).fetchall()
        document: dict[str, Any] = {
            "format_version": FORMAT_VERSION,
            "lineage": lineage,
            "serial": serial,
            "resources": resources,
        }
        if in_doubt:
            document["in_doubt"] = [
                {"kind": kind, "source": source, "id": id_} for kind, source, id_ in in_doubt
            ]
        return state_of(str(location), document), True


def _resources(connection: Connection, location: PostgresLocation) -> list[dict[str, Any]]:
    """The records' rows as a state file's `resources`: `protected` only if true, `file` only
    if known (as `codec.record_fields` writes them); attributes read as the file's JSON is
    (`loads_strictly`: a key twice is refused, not the last kept)."""
    cursor = connection.execute(_statements(location.schema)["records"], (location.state,))
    resources = []
    for kind, source, id_, cor_id, attributes, protected, file in cursor:
        fields = {"kind": kind, "source": source, "id": id_, "cor_id": cor_id}
        try:
            fields["attributes"] = loads_strictly(attributes)
        except (RefusedJsonError, json.JSONDecodeError) as error:
            raise StateError(
                f"the state {location}: the attributes of {printable(f'{kind} {source}/{id_}')} "
                f"are not valid: {error}"
            ) from None
        if protected is not False:
            fields["protected"] = protected
        if file is not None:
            fields["file"] = file
        resources.append(fields)
    return resources


# --- the lock ----------------------------------------------------------------------------------


def lock_key(location: PostgresLocation) -> int:
    """The advisory lock's key: one bigint per (schema, state) in a database."""
    return _key("state", location.schema, location.state)


def _key(*parts: str) -> int:
    digest = hashlib.sha256("\0".join(("reconciler", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def _try_lock(connection: Connection, key: int) -> bool:
    """Take the session advisory lock if free (it outlives the transaction, which ends)."""
    locked = bool(_one(connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)))[0])
    connection.commit()
    return locked


def _unlock(connection: Connection, key: int) -> None:
    connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
    connection.commit()


def _holder(connection: Connection, location: PostgresLocation) -> LockInfo | str | None:
    """Who the `locks` row names: a LockInfo, words for a row reconciler cannot read (it was
    not written by reconciler), or None if there is no row."""
    from pydantic import ValidationError

    from reconciler.state.schema import LockFile

    statement = _statements(location.schema)["holder"]
    row = connection.execute(statement, (location.state,)).fetchone()
    if row is None:
        return None
    fields = dict(zip(("holder", "host", "pid", "started_at", "command"), row, strict=True))
    try:
        return LockInfo(**LockFile.model_validate(fields).model_dump())
    except ValidationError:
        return "a run whose row in the locks table reconciler cannot read"


def _holder_of(
    connection: Connection, location: PostgresLocation
) -> tuple[LockInfo | str | None, int | None]:
    """Who holds the lock of `location` (as its locks row says), and the backend pid of the
    session holding it (pg_locks; None if it has just let go)."""
    who = _holder(connection, location)
    key = lock_key(location)
    row = connection.execute(_BACKEND, ((key >> 32) & 0xFFFFFFFF, key & 0xFFFFFFFF)).fetchone()
    connection.rollback()
    return who, (None if row is None else int(row[0]))


def _hold(connection: Connection, location: PostgresLocation, info: LockInfo) -> None:
    statement = _statements(location.schema)["hold"]
    fields = (info.holder, info.host, info.pid, info.started_at, info.command)
    connection.execute(statement, (location.state, *fields))


def _terminate_hint(backend: int | None) -> str:
    pid = str(backend) if backend is not None else "<its backend's pid, from pg_locks>"
    return (
        "its lock is released when that run's database session ends (if that run is gone "
        f"and its session lingers: SELECT pg_terminate_backend({pid}))"
    )


def _held_message(
    location: PostgresLocation, who: LockInfo | str | None, backend: int | None
) -> str:
    hint = _terminate_hint(backend)
    if who is None:
        return (
            f"the state {location} is in use by another reconciler run (it holds the lock, but "
            f"has not said who it is yet): wait for it to finish; {hint}"
        )
    return f"the state {location} is locked by {who}: wait for it to finish; {hint}"


# --- the medium: changes as SQL ----------------------------------------------------------------


class _Rows:
    """A StateStore's Medium over the state's rows, on the session that holds the lock."""

    def __init__(
        self, connection: Connection, location: PostgresLocation, state: State, *, stored: bool
    ) -> None:
        self._connection = connection
        self._location = location
        self._sql = _statements(location.schema)
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
            connection.execute(self._sql["unhold"], (self._location.state,))
            connection.commit()
            _unlock(connection, lock_key(self._location))
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
