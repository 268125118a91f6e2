"""The PostgreSQL store's tables: their DDL and version, every statement over them, and their
rows read back as a State (docs/state-backends.md).

Part of the PostgreSQL store, used by `postgres.py` and `postgres_lock.py` only. A location's
schema holds `schema_version`, `states` (lineage and serial per state name), `records`,
`in_doubt` and `locks`; several states share them, apart by name. The schema is created on
first use and versioned (`SCHEMA_VERSION`): a newer one is refused, never read. Rows are read
as a state file's document and validated by `store.state_of`, so that a row no file could hold
is refused exactly as the file would be. Imports psycopg, the standard library, core values,
`errors`, `files`, `memory` and the state's modules.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from functools import lru_cache
from typing import Any, TypeAlias

import psycopg
from psycopg import sql

from reconciler.core.text import printable
from reconciler.errors import StateError
from reconciler.files import RefusedJsonError, loads_strictly
from reconciler.memory import no_gc
from reconciler.state.codec import FORMAT_VERSION, State
from reconciler.state.location import PostgresLocation
from reconciler.state.store import state_of

SCHEMA_VERSION = 1  # what this reconciler creates and reads
Connection: TypeAlias = "psycopg.Connection[tuple[Any, ...]]"
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


@lru_cache(maxsize=8)
def statements(schema: str) -> Mapping[str, sql.Composed]:
    """Every statement, its tables in `schema` (quoted as an identifier, never pasted)."""
    name = sql.Identifier(schema)
    return {key: sql.SQL(text).format(s=name) for key, text in _STATEMENTS.items()}


def advisory_key(*parts: str) -> int:
    """The bigint key of reconciler's advisory lock on `parts` (a schema's creation, a state):
    one namespace per database, apart from other programs' keys by a hash."""
    digest = hashlib.sha256("\0".join(("reconciler", *parts)).encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def one_row(cursor: psycopg.Cursor[tuple[Any, ...]]) -> tuple[Any, ...]:
    row = cursor.fetchone()
    assert row is not None  # an aggregate, or EXISTS: always one row
    return row


# --- the schema --------------------------------------------------------------------------------


def stored_version(connection: Connection, location: PostgresLocation) -> int | None:
    """The schema's version, None if there is no schema yet. StateError if it is not one this
    reconciler reads."""
    row = connection.execute(_FIND_SCHEMA, (location.schema,)).fetchone()
    if row is None or row[0] is None:
        return None
    version, count = one_row(connection.execute(statements(location.schema)["version"]))
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


def ensure_schema(connection: Connection, location: PostgresLocation) -> None:
    """Create the schema and its tables if missing, committed. Two first runs at once: the
    transaction-scoped advisory lock makes the second wait for the first's commit, and each
    statement of the creation does nothing if what it makes is there (a backend's catalog
    cache may still miss, in that transaction, what the first made: it is checked again after
    the commit)."""
    if stored_version(connection, location) is None:
        key = advisory_key("schema", location.schema)
        connection.execute("SELECT pg_advisory_xact_lock(%s)", (key,))
        name = sql.Identifier(location.schema)
        if not one_row(connection.execute(_HAS_SCHEMA, (location.schema,)))[0]:
            # not IF NOT EXISTS: that needs CREATE on the database even when the schema
            # exists, which a role given a schema made for it may not have
            connection.execute(sql.SQL("CREATE SCHEMA {s}").format(s=name))
        connection.execute(sql.SQL(_CREATE).format(s=name))
        connection.commit()
        stored_version(connection, location)  # one of a newer reconciler's, made meanwhile
    connection.commit()


# --- reading the state -------------------------------------------------------------------------


def read_state(connection: Connection, location: PostgresLocation) -> tuple[State, bool]:
    """The state's rows as a State, validated as a state file is (`store.state_of`: a row no
    file could hold is refused the same way), and whether it has a `states` row."""
    queries = statements(location.schema)
    row = connection.execute(queries["state"], (location.state,)).fetchone()
    if row is None:
        orphans = connection.execute(queries["orphans"], (location.state,) * 2)
        if one_row(orphans)[0]:
            raise StateError(
                f"the state {location} has records or keys in doubt but no row in "
                f"{location.schema}.states (its lineage and serial): restore that row"
            )
        return State.empty(), False
    lineage, serial = row
    with no_gc():
        resources = _resources(connection, location)
        in_doubt = connection.execute(queries["in_doubt"], (location.state,)).fetchall()
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
    cursor = connection.execute(statements(location.schema)["records"], (location.state,))
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
