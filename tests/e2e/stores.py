"""The remote state stores as tests/e2e/test_state_stores.py drives them through the CLI: a
fresh state in a test server (`Store`), and a `Workspace` whose state lives there.

Why a module of its own: the same apply harness (tests/e2e/test_resilience.py's `Workspace`,
`assert_converged`) must run unchanged against a file, PostgreSQL and S3. A `Store` is a
`--state` URL plus the environment a child process needs to reach it (credentials only there,
as the CLI takes them); `StoreWorkspace` reads its state back with `state pull` into a file, so
the file store's checks apply to the copy. Imports the test servers' types, the state's codec
(to edit a pulled state as a user would: lineage, serial, in-doubt creates) and the stdlib.
"""

from __future__ import annotations

import dataclasses
import os
import secrets
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reconciler.core.resources import ResourceKey
from reconciler.state.codec import State, render_state
from reconciler.state.store import parse_state
from tests.e2e.test_resilience import Workspace
from tests.servers.postgres import RunningPostgres
from tests.servers.seaweed import S3Server

PG_PASSWORD = "pg-password-marker-8c1d5e"  # the cluster trusts everyone: never needed, never shown
# What a store's environment must not inherit from the developer's (another store, a profile).
FOREIGN = (
    *("DATABASE_URL", "PGSERVICE", "PGSERVICEFILE", "PGPASSFILE", "PGDATABASE", "PGUSER"),
    *("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL_S3"),
)


@dataclass(frozen=True)
class Store:
    """One test's state in a server: `url` for --state, `env` for the CLI's processes,
    `secrets` that nothing may print, and what to build further states of the same server."""

    kind: str  # "postgres" | "s3"
    url: str
    env: dict[str, str]
    secrets: tuple[str, ...]
    client: Any = field(default=None, repr=False)  # S3: boto3 client of the bucket
    bucket: str = ""  # S3
    key: str = ""  # S3: the state object's key
    database: RunningPostgres | None = None  # PostgreSQL: the test's own database


def token() -> str:
    """A fresh name part: databases and buckets of one server are shared by every test."""
    return secrets.token_hex(4)


def postgres_store(server: RunningPostgres, state: str = "main") -> Store:
    """A fresh database of the cluster, the state `state` in it; PGPASSWORD set to a marker."""
    database = server.create_database(f"e2e_{token()}")
    return Store(
        kind="postgres",
        url=f"{database.url}?state={state}",
        env={"PGPASSWORD": PG_PASSWORD, "PGCONNECT_TIMEOUT": "10"},
        secrets=(PG_PASSWORD,),
        database=database,
    )


def s3_store(server: S3Server, key: str = "states/main.json") -> Store:
    """A fresh bucket, versioning on (the store's history), the state object `key` in it."""
    client = server.client()
    bucket = f"e2e-{token()}"
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    env = {
        "AWS_ACCESS_KEY_ID": server.access_key,
        "AWS_SECRET_ACCESS_KEY": server.secret_key,
        "AWS_REGION": server.region,
        "AWS_ENDPOINT_URL": server.endpoint_url,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }
    return Store(
        kind="s3",
        url=f"s3://{bucket}/{key}",
        env=env,
        secrets=(server.secret_key,),
        client=client,
        bucket=bucket,
        key=key,
    )


class StoreWorkspace(Workspace):
    """A Workspace whose state is in a store (RECONCILER_STATE in the environment its processes
    inherit); `self.state` is the last `pull()`'s copy, for the file store's checks."""

    def __init__(self, root: Path, manifest: str) -> None:
        super().__init__(root, manifest)
        self.state = root / "pulled.state.json"

    def cli(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        """`reconciler ARGS` in the workspace, as a child process (environment: `env`, else
        the test's); what it printed is kept."""
        done = subprocess.run(
            [sys.executable, "-m", "reconciler", *args],
            cwd=self.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        self.printed += [done.stdout, done.stderr]
        return done.returncode, done.stdout, done.stderr

    def pull(self, *args: str) -> bytes:
        """The state as `state pull` prints it (also written to `self.state`)."""
        code, out, err = self.cli("state", "pull", *args)
        assert code == 0, err
        data = out.encode("utf-8")
        self.state.write_bytes(data)
        return data

    def files(self) -> list[str]:
        """What a store-backed run leaves in the folder: state files pulled or pushed."""
        return [p.read_text(encoding="utf-8", errors="replace") for p in self.root.glob("*.json")]


def edited(data: bytes, **changes: Any) -> bytes:
    """A state file's bytes with some of State's fields replaced (lineage, serial, in_doubt)."""
    state = parse_state("edited", data)
    return render_state(dataclasses.replace(state, **changes))


def in_doubt(data: bytes, key: ResourceKey) -> bytes:
    """The state with `key`'s record turned into a create in doubt, as a killed run leaves it."""
    state = parse_state("edited", data)
    records = {k: r for k, r in state.records.items() if k != key}
    assert len(records) == len(state.records) - 1, f"{key} is not in the state"
    return render_state(State(state.lineage, state.serial, records, state.in_doubt | {key}))
