"""The state in PostgreSQL (state/postgres.py, postgres_schema.py, postgres_lock.py), against a
real server (the `postgres` fixture): rows that round-trip, commits that are durable when they
return, the advisory lock and its takeover, rows no file could hold refused as a file would be,
and no password in any message. The tests share a database, each with a schema of its own (a
database takes 0.5 s to make)."""

from __future__ import annotations

import dataclasses
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from reconciler.core.resources import Record
from reconciler.errors import RefusedError, StateError, StateWriteError, StoreError
from reconciler.state import postgres as store
from reconciler.state.codec import State
from reconciler.state.location import PostgresLocation, locate
from reconciler.state.lock import LockInfo
from reconciler.state.postgres_lock import lock_key
from tests.builders import recorded
from tests.paths import ROOT
from tests.servers.postgres import RunningPostgres
from tests.state.samples import ACME, BRAND, EMPTY, JIRA_CLIENT, PRODUCT, as_dict

APPLY = "reconciler apply manifests"
UNICODE = recorded("client", "JIRA", "Ü-1", 5, name='Café "☕" \\ 😀', description="two\nlines")
PASSWORD = "Pa55-w0rd-never-printed"  # trust auth ignores it; no message may hold it
HOLDER = """
import sys, time
from reconciler.state import postgres
from reconciler.state.location import locate
from tests.state.samples import ACME

held = postgres.open_store(locate(sys.argv[1], environ={}), command=sys.argv[2])
held.record(ACME)
print("locked", flush=True)
time.sleep(120)
"""


@pytest.fixture(scope="module")
def database(postgres: RunningPostgres) -> RunningPostgres:
    return postgres.create_database(f"state_{uuid.uuid4().hex[:16]}")


@pytest.fixture
def where(database: RunningPostgres) -> PostgresLocation:
    """A state in a schema of its own: tables, rows and lock apart from other tests'."""
    return at(database, f"?schema=t_{uuid.uuid4().hex[:16]}")


def at(database: RunningPostgres, query: str = "") -> PostgresLocation:
    location = locate(database.url + query, environ={})
    assert isinstance(location, PostgresLocation)
    return location


@contextmanager
def raw(where: PostgresLocation) -> Iterator[psycopg.Connection[tuple[Any, ...]]]:
    """Another session, as another program (or a person with psql) would have."""
    with psycopg.connect(where.conninfo, autocommit=True) as connection:
        yield connection


def rows(where: PostgresLocation, query: str, *params: Any) -> list[tuple[Any, ...]]:
    """The rows `query` gives, its `{s}` the schema of `where`; [] if it gives none."""
    with raw(where) as connection:
        cursor = connection.execute(query.replace("{s}", where.schema), params)
        return cursor.fetchall() if cursor.description is not None else []


def write(location: PostgresLocation, *records: Record) -> State:
    with store.open_store(location, command=APPLY) as opened:
        for record in records:
            opened.record(record)
    return store.load(location)


@contextmanager
def held_elsewhere(location: PostgresLocation) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the state's lock (having recorded ACME), until killed."""
    args = [sys.executable, "-c", HOLDER, location.url, APPLY]
    with subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, text=True) as child:
        try:
            assert child.stdout is not None
            assert child.stdout.readline() == "locked\n"
            yield child
        finally:
            child.kill()
            child.wait(timeout=30)


def killed(child: subprocess.Popen[str]) -> None:
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=30) == -signal.SIGKILL


def wait_for_session_end(location: PostgresLocation) -> None:
    """The server notices a killed client's session end a moment later: wait for it."""
    key = lock_key(location)
    with raw(location) as connection:
        for _ in range(500):
            if connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone() == (True,):
                connection.execute("SELECT pg_advisory_unlock(%s)", (key,))
                return
            connection.execute("SELECT pg_sleep(0.01)")
    raise AssertionError("the killed holder's session did not end")


# --- reading and writing ---------------------------------------------------------------------


def test_an_empty_database_is_an_empty_state_and_load_writes_nothing(
    where: PostgresLocation,
) -> None:
    state = store.load(where)
    assert (state.serial, dict(state.records), state.in_doubt) == (0, {}, frozenset())
    assert len(state.lineage) == 32
    assert rows(where, "SELECT nspname FROM pg_namespace WHERE nspname = '{s}'") == []


def test_a_run_round_trips_and_the_next_keeps_the_lineage(where: PostgresLocation) -> None:
    with store.open_store(where, command=APPLY) as opened:
        opened.intend(ACME.key)
        opened.record(ACME)
        with opened.batch():
            opened.record(BRAND)
            opened.record(UNICODE)
            opened.intend(PRODUCT.key)
            opened.intend(EMPTY.key)
        opened.resolve(EMPTY.key)
    first = store.load(where)
    assert as_dict(first) == {r.key: r for r in (ACME, BRAND, UNICODE)}
    assert (first.serial, first.in_doubt) == (1, frozenset({PRODUCT.key}))
    with store.open_store(where, command=APPLY) as opened:
        assert opened.state == first
        opened.record(PRODUCT)
        opened.forget(BRAND.key)
        opened.record(ACME._replace(cor_id=999, protected=True, file="manifests/a.yaml"))
    second = store.load(where)
    assert (second.lineage, second.serial, second.in_doubt) == (first.lineage, 2, frozenset())
    assert as_dict(second) == {
        ACME.key: ACME._replace(cor_id=999, protected=True, file="manifests/a.yaml"),
        UNICODE.key: UNICODE,
        PRODUCT.key: PRODUCT,
    }


def test_a_run_that_changes_nothing_leaves_the_serial(where: PostgresLocation) -> None:
    with store.open_store(where, command=APPLY) as opened:
        opened.intend(PRODUCT.key)
        opened.resolve(PRODUCT.key)  # undone: a new state that never was
    assert rows(where, "SELECT * FROM {s}.states") == []
    before = write(where, ACME)
    with store.open_store(where, command=APPLY):
        pass
    with store.open_store(where, command=APPLY) as opened:
        opened.intend(PRODUCT.key)
        opened.resolve(PRODUCT.key)
    assert store.load(where) == before
    assert before.serial == 1


def test_a_group_is_committed_at_its_end_only(where: PostgresLocation) -> None:
    count = "SELECT count(*) FROM {s}.records"
    with store.open_store(where, command=APPLY) as opened:
        with opened.batch():
            opened.record(ACME)
            opened.record(BRAND)
            opened.intend(PRODUCT.key)
            assert rows(where, count) == [(0,)]
            assert store.load(where).records == {}
        assert rows(where, count) == [(2,)]
        after_batch = store.load(where)
        assert (len(after_batch.records), after_batch.in_doubt) == (2, frozenset({PRODUCT.key}))


def test_each_change_is_committed_before_it_returns(where: PostgresLocation) -> None:
    with store.open_store(where, command=APPLY) as opened:
        opened.intend(PRODUCT.key)
        seen = store.load(where)  # another session, while the run goes on
        assert (seen.serial, seen.in_doubt, dict(seen.records)) == (
            1,
            frozenset({PRODUCT.key}),
            {},
        )
        opened.record(PRODUCT)
        seen = store.load(where)
        assert (seen.serial, seen.in_doubt, as_dict(seen)) == (
            1,
            frozenset(),
            {PRODUCT.key: PRODUCT},
        )
    assert store.load(where).serial == 1


def test_replace_writes_the_state_as_given(where: PostgresLocation) -> None:
    write(where, ACME, BRAND)
    given = State("f" * 32, 41, as_dict(write(where, PRODUCT)) | {EMPTY.key: EMPTY})
    given = State(given.lineage, given.serial, given.records, frozenset({JIRA_CLIENT.key}))
    with store.open_store(where, command="reconciler state push") as opened:
        opened.replace(given)
    assert store.load(where) == given
    with store.open_store(where, command=APPLY) as opened:
        opened.record(JIRA_CLIENT)
    after = store.load(where)
    assert (after.lineage, after.serial, after.in_doubt) == ("f" * 32, 42, frozenset())


def test_files_filled_at_the_end_of_a_run_that_changed_something(
    where: PostgresLocation,
) -> None:
    write(where, ACME, BRAND)
    with store.open_store(where, command=APPLY) as opened:
        opened.fill_files({ACME.key: "manifests/clients.yaml", BRAND.key: "manifests/b.yaml"})
        opened.record(BRAND._replace(file="manifests/brands.yaml"))  # its own file wins
    after = store.load(where)
    assert after.records[ACME.key].file == "manifests/clients.yaml"
    assert after.records[BRAND.key].file == "manifests/brands.yaml"
    assert after.serial == 2


def test_two_thousand_records_round_trip(where: PostgresLocation) -> None:
    many = [recorded("product", "SALESFORCE", f"P-{n}", n, name=f"Widget {n}") for n in range(2000)]
    with store.open_store(where, command=APPLY) as opened, opened.batch():
        for record in many:
            opened.record(record)
    assert as_dict(store.load(where)) == {record.key: record for record in many}
    given = State("a" * 32, 7, {record.key: record for record in many})
    with store.open_store(where, command="reconciler state push") as opened:
        opened.replace(given)
    assert store.load(where) == given


def test_states_apart_by_name_and_by_schema(
    database: RunningPostgres, where: PostgresLocation
) -> None:
    other_name = at(database, f"?schema={where.schema}&state=client-b")
    other_schema = at(database, f"?state={where.schema}")  # the default schema, reconciler
    write(where, ACME)
    with (
        store.open_store(other_name, command=APPLY) as a,
        store.open_store(other_schema, command=APPLY) as b,
    ):  # three locks at once, one per state
        a.record(BRAND)
        b.record(PRODUCT)
        b.record(PRODUCT._replace(cor_id=7))
    assert as_dict(store.load(where)) == {ACME.key: ACME}
    assert as_dict(store.load(other_name)) == {BRAND.key: BRAND}
    assert as_dict(store.load(other_schema)) == {PRODUCT.key: PRODUCT._replace(cor_id=7)}
    assert rows(other_schema, "SELECT name FROM {s}.states WHERE name = %s", where.schema) == [
        (where.schema,)
    ]
    assert rows(where, "SELECT name FROM {s}.states ORDER BY name") == [
        ("client-b",),
        ("default",),
    ]


def test_first_runs_at_once_create_the_schema_once(database: RunningPostgres) -> None:
    schema = f"t_{uuid.uuid4().hex[:16]}"
    locations = [at(database, f"?schema={schema}&state=s{n}") for n in range(6)]
    failures: list[BaseException] = []

    def run(location: PostgresLocation) -> None:
        try:
            write(location, ACME)
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=run, args=(location,)) for location in locations]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    assert rows(locations[0], "SELECT version FROM {s}.schema_version") == [(1,)]
    assert all(store.load(location).serial == 1 for location in locations)


def test_a_role_that_may_not_create_schemas_uses_one_made_for_it(
    database: RunningPostgres, where: PostgresLocation
) -> None:
    role = f"r_{uuid.uuid4().hex[:16]}"
    rows(where, f"CREATE ROLE {role} LOGIN")  # no CREATE on the database: PUBLIC has none
    rows(where, f"CREATE SCHEMA {where.schema} AUTHORIZATION {role}")  # as a DBA would
    as_role = at(dataclasses.replace(database, user=role), f"?schema={where.schema}")
    assert write(as_role, ACME).serial == 1
    assert rows(where, "SELECT tableowner FROM pg_tables WHERE schemaname = '{s}' LIMIT 1") == [
        (role,)
    ]


# --- the lock ----------------------------------------------------------------------------------


def test_a_second_run_is_refused_naming_the_holder(where: PostgresLocation) -> None:
    with store.open_store(where, command=APPLY) as opened:
        with pytest.raises(RefusedError) as refused:
            store.open_store(where, command="reconciler import")
        message = str(refused.value)
        assert message.startswith(f"the state {where} is locked by ")
        assert f"`{APPLY}`" in message
        assert "SELECT pg_terminate_backend(" in message
        opened.record(ACME)  # the holder goes on
    write(where, BRAND)  # and the lock is free once it is done
    assert set(store.load(where).records) == {ACME.key, BRAND.key}


def test_a_killed_holders_lock_is_taken_over_with_a_warning(where: PostgresLocation) -> None:
    with held_elsewhere(where) as child:
        with pytest.raises(RefusedError, match=f"pid {child.pid},"):
            store.open_store(where, command=APPLY)
        killed(child)
    wait_for_session_end(where)
    warnings: list[str] = []
    with store.open_store(where, command=APPLY, warn=warnings.append) as opened:
        assert as_dict(opened.state) == {ACME.key: ACME}  # what it committed survives it
        assert opened.state.serial == 1
        opened.record(BRAND)
    assert len(warnings) == 1
    assert warnings[0].startswith(f"took over the lock of the state {where}, left by ")
    assert f"pid {child.pid}," in warnings[0]
    assert warnings[0].endswith("whose database session has ended")
    assert store.load(where).serial == 2
    assert rows(where, "SELECT count(*) FROM {s}.locks") == [(0,)]


def test_a_lingering_session_ends_with_the_backend_the_message_names(
    where: PostgresLocation,
) -> None:
    lingering = store.open_store(where, command=APPLY)  # as a hung run's session would
    try:
        with pytest.raises(RefusedError) as refused:
            store.open_store(where, command=APPLY)
        backend = str(refused.value).rsplit("pg_terminate_backend(", 1)[1].split(")")[0]
        assert rows(where, "SELECT pg_terminate_backend(%s)", int(backend)) == [(True,)]
        wait_for_session_end(where)
        warnings: list[str] = []
        with store.open_store(where, command=APPLY, warn=warnings.append):
            pass
        assert len(warnings) == 1
    finally:
        lingering.close()  # its session is gone: closing says nothing, raises nothing


def test_force_unlock_deletes_a_row_left_behind(where: PostgresLocation) -> None:
    assert store.force_unlock(where) is None  # no schema yet: nothing to unlock, nothing made
    assert rows(where, "SELECT nspname FROM pg_namespace WHERE nspname = '{s}'") == []
    with held_elsewhere(where) as child:
        killed(child)
    wait_for_session_end(where)
    info = store.force_unlock(where)
    assert isinstance(info, LockInfo)
    assert (info.pid, info.command) == (child.pid, APPLY)
    assert rows(where, "SELECT count(*) FROM {s}.locks") == [(0,)]
    assert store.force_unlock(where) is None
    warnings: list[str] = []
    with store.open_store(where, command=APPLY, warn=warnings.append):
        assert warnings == []


def test_force_unlock_refuses_a_live_holder(where: PostgresLocation) -> None:
    with store.open_store(where, command=APPLY):
        with pytest.raises(RefusedError) as refused:
            store.force_unlock(where)
        message = str(refused.value)
        assert message.startswith(f"cannot unlock the state {where}: ")
        assert f"`{APPLY}`" in message
        assert "SELECT pg_terminate_backend(" in message
        assert rows(where, "SELECT command FROM {s}.locks") == [(APPLY,)]


def test_a_store_session_is_named_unless_the_url_names_it(
    database: RunningPostgres, where: PostgresLocation
) -> None:
    query = (
        "SELECT application_name FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name LIKE 're%%'"
    )
    with store.open_store(where, command=APPLY):
        assert rows(where, query) == [("reconciler",)]
    named = at(database, f"?schema={where.schema}&application_name=release-7")
    with store.open_store(named, command=APPLY):
        assert rows(where, query) == [("release-7",)]


# --- writes that fail --------------------------------------------------------------------------


def test_a_state_changed_behind_the_lock_is_never_written_over(where: PostgresLocation) -> None:
    write(where, ACME)
    opened = store.open_store(where, command=APPLY)
    try:
        rows(where, "UPDATE {s}.states SET serial = 5")
        with pytest.raises(StateWriteError, match="changed behind its lock"):
            opened.intend(BRAND.key)
        with pytest.raises(StateWriteError, match="changed behind its lock"):
            opened.record(PRODUCT)
    finally:
        with pytest.raises(StateWriteError, match="will not write over it"):
            opened.close()
    after = store.load(where)
    assert (after.serial, as_dict(after), after.in_doubt) == (5, {ACME.key: ACME}, frozenset())
    assert rows(where, "SELECT count(*) FROM {s}.locks") == [(0,)]


def test_after_a_failed_write_the_end_of_the_run_writes_the_whole_state(
    where: PostgresLocation,
) -> None:
    write(where, ACME)
    opened = store.open_store(where, command=APPLY)
    rows(where, "ALTER TABLE {s}.records ADD CONSTRAINT no_brand CHECK (id <> 'BR-1')")
    with pytest.raises(StateWriteError) as failed:
        opened.record(BRAND)
    assert str(failed.value).startswith(f"cannot write the state {where}: ")
    assert "no_brand" in str(failed.value)
    with pytest.raises(StateWriteError, match="unusable after an earlier write failed"):
        opened.record(PRODUCT)
    assert as_dict(store.load(where)) == {ACME.key: ACME}
    rows(where, "ALTER TABLE {s}.records DROP CONSTRAINT no_brand")
    opened.close()
    after = store.load(where)
    assert (after.serial, set(after.records)) == (2, {ACME.key, BRAND.key, PRODUCT.key})


def test_a_write_interrupted_halfway_is_made_good_at_the_end_of_the_run(
    where: PostgresLocation, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(where, ACME)
    opened = store.open_store(where, command=APPLY)

    def interrupted(rows: Any, entry: Any) -> None:
        raise KeyboardInterrupt  # Ctrl-C after the serial's bump, before the record's row

    with monkeypatch.context() as patch:
        patch.setattr(store._Rows, "_apply", interrupted)
        with pytest.raises(KeyboardInterrupt):
            opened.record(BRAND)
    opened.close()
    after = store.load(where)
    assert (after.serial, set(after.records)) == (2, {ACME.key, BRAND.key})


def test_a_lost_session_is_a_write_error_naming_the_state(
    database: RunningPostgres, where: PostgresLocation
) -> None:
    url = f"postgres://?schema={where.schema}&state=lost"
    located = with_password(url, database)
    opened = store.open_store(located, command=APPLY)
    opened.record(ACME)
    terminate = (
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
        "WHERE datname = current_database() AND application_name = 'reconciler'"
    )
    assert rows(located, terminate) == [(True,)]
    with pytest.raises(StateWriteError) as failed:
        opened.record(BRAND)
    assert str(failed.value).startswith(f"cannot write the state {url}: ")
    with pytest.raises(StateWriteError) as failed_again:
        opened.close()  # the whole state, once more: the session is gone
    for error in (failed.value, failed_again.value):
        assert PASSWORD not in str(error)
    assert as_dict(store.load(located)) == {ACME.key: ACME}


# --- what is refused ---------------------------------------------------------------------------


def with_password(url: str, database: RunningPostgres, port: int | None = None) -> PostgresLocation:
    """`url` located with the server, and PASSWORD, given only by DATABASE_URL (as CI would)."""
    environ = {
        "DATABASE_URL": f"postgresql://{database.user}:{PASSWORD}@{database.host}:"
        f"{port or database.port}/{database.dbname}"
    }
    location = locate(url, environ=environ)
    assert isinstance(location, PostgresLocation)
    return location


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_server_is_a_store_error_without_the_password(
    database: RunningPostgres,
) -> None:
    where = with_password("postgres://", database, free_port())
    for attempt in (
        lambda: store.load(where),
        lambda: store.open_store(where, command=APPLY),
        lambda: store.force_unlock(where),
    ):
        with pytest.raises(StoreError) as failed:
            attempt()
        message = str(failed.value)
        assert message.startswith("cannot reach the state postgres://: ")
        assert "refused" in message.lower()
        assert PASSWORD not in message
        assert "\n" not in message
        assert "Traceback" not in message
        assert failed.value.__cause__ is None


def test_a_password_from_the_environment_connects_and_is_never_said(
    database: RunningPostgres, where: PostgresLocation
) -> None:
    url = f"postgres://?schema={where.schema}"
    located = with_password(url, database)
    write(located, ACME)
    with store.open_store(located, command=APPLY), pytest.raises(RefusedError) as refused:
        store.open_store(located, command=APPLY)
    assert PASSWORD not in str(refused.value)
    rows(located, "UPDATE {s}.records SET cor_id = -1")
    with pytest.raises(StateError) as invalid:
        store.load(located)
    assert PASSWORD not in str(invalid.value)
    assert str(invalid.value).startswith(f"{url} is not a valid state file: ")


HOSTILE_ROWS = {
    "an id with a control character": "UPDATE {s}.records SET id = E'ACC-\\x1b[2J'",
    "a negative cor_id": "UPDATE {s}.records SET cor_id = -5",
    "a key twice in the attributes": (
        'UPDATE {s}.records SET attributes = \'{"name": "a", "name": "b"}\''
    ),
    "an attribute that is a number": "UPDATE {s}.records SET attributes = '{\"name\": 1}'",
    "an unknown kind": "UPDATE {s}.records SET kind = 'planet'",
    "recorded and in doubt": (
        "INSERT INTO {s}.in_doubt SELECT state, kind, source, id FROM {s}.records"
    ),
    "records without a states row": "DELETE FROM {s}.states",
    "a schema of a newer reconciler": "UPDATE {s}.schema_version SET version = 2",
    "two schema versions": "INSERT INTO {s}.schema_version VALUES (1)",
    "a lineage with a control character": "UPDATE {s}.states SET lineage = E'\\x07'",
}


@pytest.mark.parametrize("change", HOSTILE_ROWS.values(), ids=HOSTILE_ROWS.keys())
def test_rows_no_state_file_could_hold_are_refused(where: PostgresLocation, change: str) -> None:
    write(where, ACME)
    rows(where, change + "")
    with pytest.raises(StateError) as refused:
        store.load(where)
    with pytest.raises(StateError):
        store.open_store(where, command=APPLY)
    assert "\x1b" not in str(refused.value)
    assert "\x07" not in str(refused.value)
    assert rows(where, "SELECT count(*) FROM {s}.locks") == [(0,)]


def test_a_newer_schema_says_to_upgrade(where: PostgresLocation) -> None:
    write(where, ACME)
    rows(where, "UPDATE {s}.schema_version SET version = 9")
    for attempt in (
        lambda: store.load(where),
        lambda: store.open_store(where, command=APPLY),
        lambda: store.force_unlock(where),
    ):
        with pytest.raises(StateError, match="written by a newer reconciler; upgrade"):
            attempt()


def test_a_hostile_lock_row_is_printed_escaped(where: PostgresLocation) -> None:
    write(where, ACME)
    with store.open_store(where, command=APPLY):
        rows(where, "UPDATE {s}.locks SET command = E'x\\x1b[2Jy'")
        with pytest.raises(RefusedError) as refused:
            store.open_store(where, command=APPLY)
    assert "\x1b" not in str(refused.value)
    assert "reconciler cannot read" in str(refused.value)  # LockFile refuses it
