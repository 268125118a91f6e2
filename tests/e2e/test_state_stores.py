"""Apply against the remote state stores (PostgreSQL, S3) through the CLI, as real processes:
from empty, killed at random moments, two at once, a lock left behind, a migrate round trip
file -> PostgreSQL -> S3 -> file, pull/push and saved plans, and no credential in any output.

The file store has these tests in test_resilience.py; its harness (`Workspace`,
`assert_converged`, `no_secret_anywhere`) is reused here through tests/e2e/stores.py, with the
state read back by `state pull`. Each test gets a fresh database or bucket of the session's
servers (the `postgres` / `s3` fixtures).
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from reconciler.core.resources import Kind, ResourceKey
from reconciler.emulator.server import EmulatorServer
from tests.e2e import test_resilience as resilience
from tests.e2e.stores import (
    FOREIGN,
    PG_PASSWORD,
    Store,
    StoreWorkspace,
    edited,
    in_doubt,
    postgres_store,
    s3_store,
)
from tests.e2e.test_resilience import (
    Workspace,
    assert_converged,
    emulator,
    first_created,
    rerun_until_done,
)
from tests.harness import emulator_records
from tests.samples import catalogue
from tests.servers.postgres import RunningPostgres
from tests.servers.seaweed import S3Server

# test_resilience's fixtures, visible here (every workspace's output is searched at the end)
issued_tokens = resilience.issued_tokens
no_secret_anywhere = resilience.no_secret_anywhere

OTHER_HOST_LOCK = {
    "holder": "ci",
    "host": "runner-7.elsewhere.example",
    "pid": 4242,
    "started_at": "2026-12-01T08:00:00Z",
    "command": "reconciler apply manifests",
}


@pytest.fixture(params=["postgres", "s3"])
def store(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Store:
    """A fresh state in a real PostgreSQL or S3 server, made the CLI's (RECONCILER_STATE and
    the store's credentials in the environment every child process inherits)."""
    server = request.getfixturevalue(request.param)
    made = postgres_store(server) if request.param == "postgres" else s3_store(server)
    _use(made, monkeypatch)
    monkeypatch.setenv("RECONCILER_STATE", made.url)
    return made


def _use(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """The store's environment in os.environ, which every child process inherits."""
    for name in FOREIGN:
        monkeypatch.delenv(name, raising=False)
    for name, value in store.env.items():
        monkeypatch.setenv(name, value)


@pytest.fixture
def spaces(store: Store, no_secret_anywhere: list[Workspace]) -> Iterator[list[Workspace]]:
    """no_secret_anywhere, and the store's own secrets (S3 key, PGPASSWORD) too."""
    yield no_secret_anywhere
    for space in no_secret_anywhere:
        for text in space.printed + space.files():
            for secret in store.secrets:
                assert secret not in text


def _space(tmp_path: Path, manifest: str, spaces: list[Workspace]) -> StoreWorkspace:
    space = StoreWorkspace(tmp_path, manifest)
    spaces.append(space)
    return space


def _converged(space: StoreWorkspace, server: EmulatorServer, expected: int) -> None:
    """test_resilience's assert_converged, on the store's state as `state pull` gives it."""
    space.pull()
    assert_converged(space, server, expected)


def _advisory_locks_gone(store: Store, timeout: float = 20) -> None:
    """Wait until no session holds an advisory lock in the store's database: a SIGKILLed
    client's backend ends a moment after its socket closes, and only then is its lock free."""
    if store.database is None:
        return
    deadline = time.monotonic() + timeout
    query = "SELECT count(*) FROM pg_locks l JOIN pg_database d ON d.oid = l.database "
    query += "WHERE l.locktype = 'advisory' AND d.datname = %s"
    with psycopg.connect(store.database.conninfo, autocommit=True) as connection:
        while time.monotonic() < deadline:
            row = connection.execute(query, (store.database.dbname,)).fetchone()
            if row is not None and row[0] == 0:
                return
            time.sleep(0.05)
    pytest.fail("the killed apply's database session did not end")


def _killed_mid_apply(space: StoreWorkspace, server: EmulatorServer) -> int:
    """Start an apply, SIGKILL it once it has created something; its pid."""
    process = space.start(server, "--parallelism", "2")
    assert first_created(process), space.finish(process)
    process.kill()
    space.finish(process)
    return process.pid


# --- 1. apply from empty --------------------------------------------------------------------


def test_apply_from_empty_then_no_changes_and_every_record_listed(
    tmp_path: Path, store: Store, spaces: list[Workspace]
) -> None:
    space = _space(tmp_path, catalogue(2, 2, 10), spaces)  # 2 + 4 + 40 = 46 records
    with emulator() as server:
        assert space.apply(server, "--parallelism", "4") == 0, space.printed[-1]
        _converged(space, server, 46)
        code, out, _ = space.cli("state", "list")
        live = emulator_records(server.url)
    assert code == 0
    listed = sorted(out.splitlines())
    assert listed == sorted(
        f"{r['kind']} {r['source']}/{r['id']}  cor_id {r['cor_id']}" for r in live
    )
    assert json.loads(space.pull())["serial"] == 1  # one run changed something: serial 1
    assert not list(tmp_path.glob("reconciler.state.json*")), "the file store was used"


def test_import_audit_and_state_rm_work_on_the_store(
    tmp_path: Path, store: Store, spaces: list[Workspace]
) -> None:
    """The other commands that read or write the state: `state rm` forgets a record (COR keeps
    it), `audit` sees it undeclared-in-state, `import` adopts it back by its external id, and
    then `audit` finds all agree."""
    space = _space(tmp_path, catalogue(1, 1, 2), spaces)  # 1 + 1 + 2 = 4 records
    with emulator() as server:
        assert space.apply(server) == 0, space.printed[-1]
        code, out, err = space.cli("state", "show", "product", "SAP/P0-0-0")
        assert code == 0, err
        cor_id = json.loads(out)["cor_id"]
        code, out, err = space.cli("state", "rm", "product", "SAP/P0-0-0")
        assert code == 0, err
        assert f"(cor_id {cor_id})" in out
        code, out, _ = space.cli("audit", "--detailed-exitcode")
        assert code == 2, out
        code, out, err = space.cli("import", env=space.env(server))
        assert code == 0, out + err
        code, out, err = space.cli("state", "show", "product", "SAP/P0-0-0")
        assert code == 0, err
        assert json.loads(out)["cor_id"] == cor_id
        code, out, _ = space.cli("audit", "--detailed-exitcode")
        assert code == 0, out
        assert len(emulator_records(server.url)) == 4  # nothing created twice


# --- 2. SIGKILL at random moments -----------------------------------------------------------


def test_sigkill_at_random_moments_then_rerun_converges(
    tmp_path: Path, store: Store, spaces: list[Workspace]
) -> None:
    space = _space(tmp_path, catalogue(5, 5, 19), spaces)  # 5 + 25 + 475 = 505 records
    rng = random.Random(20261203)
    kills = mid_requests = 0
    with emulator(latency_ms=50) as server:  # about 40 creates a second: 20 kills fit in
        while kills < 20:
            before = len(emulator_records(server.url))
            process = space.start(server, "--parallelism", "2")
            if rng.random() < 0.3:  # anywhere: start-up, connect, lock, compaction, plan
                time.sleep(rng.uniform(0.0, 0.8))
            else:  # in the middle of the requests: once the first create is done
                first_created(process)
                time.sleep(rng.uniform(0.0, 0.6))
            if process.poll() is None:
                process.kill()
                kills += 1
                mid_requests += len(emulator_records(server.url)) > before
            space.finish(process)
        made = len(emulator_records(server.url))
        assert 0 < made < 505, "the kills should have hit a running apply"
        assert mid_requests >= 10, "most kills should land among the requests"
        _advisory_locks_gone(store)
        rerun_until_done(space, server, f"after {kills} kills")
        _converged(space, server, 505)


# --- 3. two applies at once -----------------------------------------------------------------


def test_two_applies_at_once_one_is_refused_naming_the_holder(
    tmp_path: Path, store: Store, spaces: list[Workspace]
) -> None:
    space = _space(tmp_path, catalogue(2, 2, 20), spaces)  # 86 records: ~2.6 s of requests
    with emulator(latency_ms=60) as server:  # (a second run's start-up, imports and all, is ~1 s)
        first = space.start(server, "--parallelism", "2")
        assert first_created(first), space.finish(first)
        second = space.start(server, token=True)
        assert space.finish(second) == 4, space.printed[-2:]
        assert "is locked by" in space.printed[-1]
        assert f"pid {first.pid}" in space.printed[-1]
        assert space.finish(first) == 0, space.printed[-1]
        _converged(space, server, 86)


# --- 4. a lock left behind ------------------------------------------------------------------


def test_lock_of_a_killed_apply_is_taken_over_with_a_warning(
    tmp_path: Path, store: Store, spaces: list[Workspace]
) -> None:
    space = _space(tmp_path, catalogue(2, 2, 10), spaces)
    with emulator(latency_ms=40) as server:
        killed = _killed_mid_apply(space, server)
        assert _lock_holder_pid(store) == killed  # what it left: a holder row, a lock object
        _advisory_locks_gone(store)
        assert space.apply(server) == 0, space.printed[-1]
        warning = space.printed[-1]
        assert "took over the lock" in warning
        assert f"pid {killed}" in warning
        _converged(space, server, 46)
    assert _lock_holder_pid(store) is None


def _lock_holder_pid(store: Store) -> int | None:
    """The pid the store's lock record names (a `locks` row, a lock object), None if none."""
    if store.kind == "s3":
        try:
            body = store.client.get_object(Bucket=store.bucket, Key=f"{store.key}.lock")["Body"]
        except store.client.exceptions.NoSuchKey:
            return None
        pid: int = json.loads(body.read())["pid"]
        return pid
    assert store.database is not None
    with psycopg.connect(store.database.conninfo, autocommit=True) as connection:
        row = connection.execute(
            "SELECT pid FROM reconciler.locks WHERE state = %s", ("main",)
        ).fetchone()
    return None if row is None else int(row[0])


@pytest.mark.parametrize("store", ["s3"], indirect=True)
def test_s3_lock_of_another_host_refuses_until_unlock_force(
    tmp_path: Path, store: Store, spaces: list[Workspace]
) -> None:
    space = _space(tmp_path, catalogue(1, 1, 3), spaces)
    lock = f"{store.key}.lock"
    store.client.put_object(Bucket=store.bucket, Key=lock, Body=json.dumps(OTHER_HOST_LOCK))
    with emulator() as server:
        assert space.apply(server) == 4
        assert "is locked by ci@runner-7.elsewhere.example (pid 4242" in space.printed[-1]
        assert emulator_records(server.url) == []
        code, out, _ = space.cli("state", "unlock", "--force")
        assert code == 0
        assert "held by ci@runner-7.elsewhere.example (pid 4242" in out
        assert space.apply(server) == 0, space.printed[-1]
        _converged(space, server, 5)


# --- 5. migrate: file -> PostgreSQL -> S3 -> file ------------------------------------------


@pytest.fixture
def both(
    postgres: RunningPostgres, s3: S3Server, monkeypatch: pytest.MonkeyPatch
) -> tuple[Store, Store]:
    """A fresh PostgreSQL state and a fresh S3 state, both reachable from the environment."""
    stores = postgres_store(postgres), s3_store(s3)
    for made in stores:
        _use(made, monkeypatch)
    return stores


def test_migrate_round_trip_file_postgres_s3_file_is_byte_identical(
    tmp_path: Path,
    both: tuple[Store, Store],
    no_secret_anywhere: list[Workspace],
) -> None:
    pg, s3 = both
    space = StoreWorkspace(tmp_path, catalogue(2, 2, 3))  # 2 + 4 + 12 = 18 records
    no_secret_anywhere.append(space)
    start = tmp_path / "reconciler.state.json"
    with emulator() as server:
        assert space.apply(server, "--state", str(start)) == 0, space.printed[-1]
    doubt = tmp_path / "in-doubt.json"
    doubt.write_bytes(in_doubt(start.read_bytes(), ResourceKey(Kind("product"), "SAP", "P1-1-2")))
    code, _, err = space.cli("state", "push", "--force", "--state", str(start), str(doubt))
    assert code == 0, err
    original = start.read_bytes()
    assert json.loads(original)["in_doubt"] == [
        {"kind": "product", "source": "SAP", "id": "P1-1-2"}
    ]

    final = tmp_path / "final.state.json"
    for source, target in ((str(start), pg.url), (pg.url, s3.url), (s3.url, str(final))):
        before = space.pull("--state", source)
        code, out, err = space.cli("state", "migrate", "--state", source, "--to", target)
        assert code == 0, err
        assert "checked" in out
        assert space.pull("--state", source) == before == original  # the source: untouched
    assert start.read_bytes() == original
    assert final.read_bytes() == original
    assert space.pull("--state", s3.url) == original
    for made in both:
        for text in space.printed:
            for secret in made.secrets:
                assert secret not in text


# --- 6. pull and push, and a saved plan made before a push --------------------------------


def test_push_needs_the_same_lineage_and_a_newer_serial_unless_forced(
    tmp_path: Path, store: Store, spaces: list[Workspace]
) -> None:
    space = _space(tmp_path, catalogue(1, 1, 3), spaces)
    with emulator() as server:
        assert space.apply(server) == 0, space.printed[-1]
        pulled = space.pull()
        serial = json.loads(pulled)["serial"]
        files = {
            "newer.json": edited(pulled, serial=serial + 1),
            "older.json": pulled,  # the store is at serial + 1 once newer.json is pushed
            "other.json": edited(pulled, lineage="0" * 32, serial=serial + 5),
        }
        for name, data in files.items():
            (tmp_path / name).write_bytes(data)
        assert space.cli("state", "push", "newer.json")[0] == 0
        assert space.pull() == files["newer.json"]

        code, _, err = space.cli("state", "push", "older.json")
        assert code == 4
        assert "not newer" in err
        code, _, err = space.cli("state", "push", "other.json")
        assert code == 4
        assert "another one" in err
        assert space.pull() == files["newer.json"]  # refused: nothing changed

        (tmp_path / "manifests" / "sap.yaml").write_text(catalogue(1, 1, 4), encoding="utf-8")
        assert space.cli("plan", "--out", "saved.plan")[0] == 0
        code, _, err = space.cli("state", "push", "--force", "older.json")
        assert code == 0, err
        assert json.loads(space.pull())["serial"] == serial + 2  # one more than it replaced
        assert space.pull() == edited(pulled, serial=serial + 2)

        assert space.apply(server, "--plan", "saved.plan") == 4
        assert "serial" in space.printed[-1]
        assert len(emulator_records(server.url)) == 5  # the saved plan's create never left


# --- 7. no credential in any output ---------------------------------------------------------


def test_no_store_credential_in_any_output_even_on_failures(
    tmp_path: Path, store: Store, spaces: list[Workspace], monkeypatch: pytest.MonkeyPatch
) -> None:
    space = _space(tmp_path, catalogue(1, 1, 3), spaces)
    with emulator() as server:
        cor = space.env(server)
        code, _, err = space.cli(
            "--debug", "--log-level", "debug", "apply", "--auto-approve", env=cor
        )
        assert code == 0, err
        space.cli("--debug", "state", "list")
        space.cli("--debug", "state", "show", "product", "SAP/P0-0-0")
        space.cli("--debug", "state", "push", "--force", "missing.json")
        broken = _unreachable(store)
        for args in (("plan",), ("state", "pull"), ("state", "unlock", "--force")):
            code, _, err = space.cli("--debug", *args, "--state", broken)
            assert code != 0
            assert err
        if store.kind == "postgres":  # the password in DATABASE_URL's conninfo, a bad database
            assert store.database is not None
            db = store.database
            url = f"postgresql://{db.user}:{PG_PASSWORD}@{db.host}:{db.port}/missing_db"
            monkeypatch.setenv("DATABASE_URL", url)
            code, _, err = space.cli("--debug", "plan", "--state", "postgresql://?state=main")
            assert code != 0
            assert "missing_db" in err
    printed = "".join(space.printed)
    assert "SAP/P0-0-2" in printed  # what was printed is searched, and it is not nothing
    stored = _stored_text(store)
    assert "P0-0-2" in stored
    for secret in store.secrets:
        assert secret not in printed
        assert secret not in stored


def _stored_text(store: Store) -> str:
    """Everything the store holds for the test, as text: every version of every object of the
    bucket, or every row of every table of reconciler's schema."""
    if store.kind == "s3":
        listed = store.client.list_object_versions(Bucket=store.bucket)
        versions = listed.get("Versions", [])
        bodies = [
            store.client.get_object(Bucket=store.bucket, Key=v["Key"], VersionId=v["VersionId"])
            for v in versions
        ]
        return "".join(body["Body"].read().decode("utf-8", "replace") for body in bodies)
    assert store.database is not None
    texts: list[str] = []
    with psycopg.connect(store.database.conninfo, autocommit=True) as connection:
        tables = connection.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = 'reconciler'"
        ).fetchall()
        for (table,) in tables:
            query = sql.SQL("SELECT t::text FROM reconciler.{} t").format(sql.Identifier(table))
            texts += [row[0] for row in connection.execute(query).fetchall()]
    return "\n".join(texts)


def _unreachable(store: Store) -> str:
    """A state of the same kind that cannot be read: a closed port, a bucket that is not."""
    if store.kind == "s3":
        return f"s3://no-such-{store.bucket}/state.json"
    assert store.database is not None
    return f"postgresql://{store.database.user}@127.0.0.1:1/nowhere?state=main"
