"""The `postgres` fixture's cluster (tests/servers/postgres.py) does what the PostgreSQL state
store will rely on: rows that come back, a session advisory lock that excludes a second session
and frees itself when its holder is killed, a private server on 127.0.0.1 that is gone (folder
included) once stopped."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from psycopg import errors

from tests.servers.postgres import (
    PostgresBinaries,
    PostgresCluster,
    PostgresUnavailableError,
    RunningPostgres,
    find_binaries,
)

HOLD_THEN_WAIT = """
import sys, time, psycopg
connection = psycopg.connect(sys.argv[1], autocommit=True)
connection.execute("SELECT pg_advisory_lock(%s)", (int(sys.argv[2]),))
print("held", flush=True)
time.sleep(120)
"""


def try_lock(connection: psycopg.Connection[tuple[bool]], key: int) -> bool:
    row = connection.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()
    assert row is not None
    return row[0]


def test_a_table_takes_a_row_and_gives_it_back(postgres: RunningPostgres) -> None:
    database = postgres.create_database("smoke_rows")
    with psycopg.connect(database.conninfo) as connection:
        connection.execute("CREATE TABLE records (kind text, id text, cor_id bigint)")
        connection.execute("INSERT INTO records VALUES (%s, %s, %s)", ("product", "P-1", 42))
        connection.commit()
    with psycopg.connect(database.socket_conninfo) as connection:  # the unix socket too
        rows = connection.execute("SELECT kind, id, cor_id FROM records").fetchall()
    assert rows == [("product", "P-1", 42)]


def test_a_session_advisory_lock_excludes_a_second_session(postgres: RunningPostgres) -> None:
    key = 1301
    with (
        psycopg.connect(postgres.conninfo, autocommit=True) as first,
        psycopg.connect(postgres.conninfo, autocommit=True) as second,
    ):
        assert try_lock(first, key)
        assert not try_lock(second, key)
        second.execute("SET lock_timeout = '200ms'")
        with pytest.raises(errors.LockNotAvailable):  # the blocking form waits, then gives up
            second.execute("SELECT pg_advisory_lock(%s)", (key,))
        assert first.execute("SELECT pg_advisory_unlock(%s)", (key,)).fetchone() == (True,)
        assert try_lock(second, key)
        assert not try_lock(first, key)


def test_a_killed_holders_lock_frees_itself(postgres: RunningPostgres) -> None:
    key = 1302
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_THEN_WAIT, postgres.conninfo, str(key)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        with psycopg.connect(postgres.conninfo, autocommit=True) as other:
            assert not try_lock(other, key)
            holder.kill()  # SIGKILL: no unlock, no goodbye; the server sees the socket close
            holder.wait()
            deadline = time.monotonic() + 30
            while not try_lock(other, key):
                assert time.monotonic() < deadline, "the killed holder's lock was never freed"
                time.sleep(0.05)
    finally:
        holder.kill()
        holder.wait()
        if holder.stdout is not None:
            holder.stdout.close()


def test_the_server_is_private_and_unprivileged(postgres: RunningPostgres) -> None:
    assert postgres.host == "127.0.0.1"
    assert "password" not in postgres.conninfo + postgres.url
    with psycopg.connect(postgres.conninfo) as connection:
        row = connection.execute(
            "SELECT current_setting('listen_addresses'), pg_backend_pid(), "
            "current_setting('server_version_num')::int"
        ).fetchone()
        assert row is not None
        listen, backend_pid, version = row
        # the backend serving this connection (gone once it closes): never root, even when
        # the tests are
        assert os.stat(f"/proc/{backend_pid}").st_uid != 0
    assert listen == "127.0.0.1"
    assert version >= 130000  # the minimum: PostgreSQL 13


def test_a_second_cluster_gets_its_own_port_and_folder_and_leaves_nothing(
    postgres: RunningPostgres,
) -> None:
    cluster = PostgresCluster(find_binaries())
    with cluster as other:
        assert (other.port, other.socket_dir) != (postgres.port, postgres.socket_dir)
        with psycopg.connect(other.conninfo) as connection:
            assert connection.execute("SELECT 1").fetchone() == (1,)
    assert not other.socket_dir.exists()
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(other.conninfo, connect_timeout=5)
    with psycopg.connect(postgres.conninfo) as connection:  # the session's cluster lives on
        assert connection.execute("SELECT 1").fetchone() == (1,)


def fake_binaries(root: Path, version: str) -> Path:
    bin_dir = root / version / "bin"
    bin_dir.mkdir(parents=True)
    for tool in ("initdb", "pg_ctl", "postgres"):
        (bin_dir / tool).write_text("#!/bin/sh\n", encoding="utf-8")
        (bin_dir / tool).chmod(0o755)
    return bin_dir


def test_the_newest_installed_version_is_chosen(tmp_path: Path) -> None:
    fake_binaries(tmp_path, "13")
    newest = fake_binaries(tmp_path, "15")
    empty_path = str(tmp_path / "nothing")
    assert find_binaries(tmp_path, path=empty_path, euid=1000) == PostgresBinaries(newest)


def test_missing_binaries_say_how_to_install_them(tmp_path: Path) -> None:
    with pytest.raises(PostgresUnavailableError, match=r"apt-get install postgresql-15"):
        find_binaries(tmp_path, path=str(tmp_path), euid=1000)
