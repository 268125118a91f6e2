"""What a state store holds, written by someone else (docs/hostile-inputs.md, "State stores"):
rows and objects are read like a state file is — judged, escaped, never trusted — through the
CLI, against the real servers the suite starts (tests/servers/)."""

from __future__ import annotations

import json
import os
import secrets
from typing import Any

import psycopg
import pytest

from reconciler.state.codec import State, render_state
from reconciler.state.location import PostgresLocation, locate
from reconciler.state.postgres import open_store
from tests.builders import recorded, state_of
from tests.harness import Cli, WorkFolder
from tests.hostile.checks import assert_clean
from tests.servers.postgres import RunningPostgres
from tests.servers.seaweed import S3Server

TITLE = "\x1b]0;pwned\x07"
CLEAR = "\x1b[2J"
ACME = recorded("client", "JIRA", "C-1", 7, name="Acme")


def _postgres_state(database: RunningPostgres) -> str:
    url = f"{database.url}?state=main"
    location = locate(url)
    assert isinstance(location, PostgresLocation)
    with open_store(location, command="test") as store:
        store.record(ACME)
    return url


def _sql(postgres: RunningPostgres, statement: str) -> None:
    with psycopg.connect(postgres.conninfo, autocommit=True) as connection:
        connection.execute(statement.encode())


@pytest.mark.parametrize(
    ("statement", "exit_code", "says"),
    [
        pytest.param(
            f"UPDATE reconciler.records SET id = 'C-1{CLEAR}'",
            3,
            "cannot hold the character U+001B",
            id="pg-row-control-id",
        ),
        pytest.param(
            'UPDATE reconciler.records SET attributes = \'{"name": "A", "name": "B"}\'',
            3,
            "twice",
            id="pg-row-duplicate-key",
        ),
        pytest.param(
            "UPDATE reconciler.schema_version SET version = 99",
            3,
            "newer reconciler",
            id="pg-schema-newer",
        ),
    ],
)
def test_a_row_written_by_hand_is_judged_like_a_state_file(
    postgres: RunningPostgres,
    work_folder: WorkFolder,
    cli: Cli,
    statement: str,
    exit_code: int,
    says: str,
) -> None:
    database = postgres.create_database(f"hostile_{secrets.token_hex(4)}")  # its own tables
    url = _postgres_state(database)
    _sql(database, statement)
    code, out, err = cli("state", "list", "--state", url)
    assert_clean(code, out, err, exit_code=exit_code, says=says)


@pytest.fixture
def aws(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> Any:
    """The CLI reaches the test server through the AWS chain's variables, as a user's would."""
    for name, value in {
        "AWS_ACCESS_KEY_ID": s3.access_key,
        "AWS_SECRET_ACCESS_KEY": s3.secret_key,
        "AWS_REGION": s3.region,
        "AWS_ENDPOINT_URL": s3.endpoint_url,
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
    }.items():
        monkeypatch.setenv(name, value)
    client = s3.client()
    bucket = f"hostile-{secrets.token_hex(5)}"
    client.create_bucket(Bucket=bucket)
    return client, bucket


@pytest.mark.parametrize(
    ("key", "body", "exit_code", "says"),
    [
        pytest.param(
            "state.json",
            b'{"format_version": 2, "lineage"',
            3,
            "is not valid JSON",
            id="s3-state-truncated",
        ),
        pytest.param(
            "state.json.lock",
            json.dumps(
                {
                    "holder": "eve",
                    "host": f"elsewhere{TITLE}",
                    "pid": 1,
                    "started_at": "2026-11-28T10:00:00Z",
                    "command": f"apply{CLEAR}",
                }
            ).encode(),
            4,
            "holds no lock record",
            id="s3-lock-control",
        ),
        pytest.param(
            "state.json.journal/00000000",
            b'{"journal":2,"lineage":"'
            + b"0" * 32
            + b'","serial":1}\n{"op":"intent","kind":"client","source":"JIRA","id":".."}\n',
            3,
            "an id cannot be '..'",
            id="s3-journal-id-dots",
        ),
    ],
)
def test_an_object_written_by_someone_else_is_judged_and_escaped(
    aws: Any, work_folder: WorkFolder, cli: Cli, key: str, body: bytes, exit_code: int, says: str
) -> None:
    client, bucket = aws
    state = State("0" * 32, 1, state_of(ACME))
    client.put_object(Bucket=bucket, Key="state.json", Body=render_state(state))
    client.put_object(Bucket=bucket, Key=key, Body=body)
    code, out, err = cli(
        "state", "rm", "--state", f"s3://{bucket}/state.json", "client", "JIRA/C-1"
    )
    assert_clean(code, out, err, exit_code=exit_code, says=says)
    kept = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    assert kept == body, "the object written by someone else was replaced"
