"""The S3 store's objects: its client, S3's errors as reconciler's, and conditional object
operations (docs/state-backends.md).

Used by `s3.py` (the state object and its journal) and `s3_lock.py` (the lock object), which
share one client per run. Every write is conditional: created with If-None-Match: *, replaced
with If-Match on an ETag, deleted with If-Match; a refused condition is a ClientError whose code
is PreconditionFailed, which the callers turn into their own message. Credentials come from the
AWS chain only and never reach a message. The only module of the store to import boto3 (first,
so that a missing library is named as `backends.py` expects) and botocore, whose errors it
passes on. Imports the standard library, boto3/botocore, `core/text`, `errors` and the state's
location.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3  # type: ignore[import-untyped]  # no stubs: clients are Any
from botocore.config import Config  # type: ignore[import-untyped]  # same

# Re-exported ("as"): s3.py and s3_lock.py catch these, and import no library themselves.
from botocore.exceptions import BotoCoreError as BotoCoreError  # type: ignore[import-untyped]
from botocore.exceptions import ClientError as ClientError

from reconciler.core.text import printable
from reconciler.errors import StateWriteError, StoreError
from reconciler.state.location import S3Location

# --- the client and its errors --------------------------------------------------------------


def make_client(location: S3Location) -> Any:
    """An S3 client: region and credentials from the AWS chain, path-style for an endpoint."""
    session = boto3.session.Session()
    style = {"addressing_style": "path"} if location.endpoint_url else None
    config = Config(
        retries={"mode": "standard", "max_attempts": 4},
        connect_timeout=5,
        read_timeout=30,
        s3=style,
        # A checksum only where asked (the state object: put_if(checksum=True)). Journal parts
        # are small, written once per scheduling round on the apply's thread, and checked line
        # by line when read: botocore's default CRC on every part cost ~0.5 ms of a ~4 ms put
        # (docs/benchmarks.md, "State stores").
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    region = session.region_name or "us-east-1"
    return session.client(
        "s3", endpoint_url=location.endpoint_url, region_name=region, config=config
    )


def error_code(error: ClientError) -> str:
    code: str = error.response.get("Error", {}).get("Code", "")
    return code


def _why(error: Exception) -> str:
    """What went wrong, short and escaped: S3's code and message, or botocore's own text
    (neither holds a secret key: requests are signed, the key is never sent)."""
    if isinstance(error, ClientError):
        detail = error.response.get("Error", {})
        status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode", "?")
        text = f"{detail.get('Code') or status}: {detail.get('Message') or 'no message'}"
    else:
        text = f"{type(error).__name__}: {error}"
    return printable(text if len(text) <= 300 else text[:300] + "...")


@contextmanager
def store_errors(location: S3Location, what: str) -> Iterator[None]:
    """S3's refusals and botocore's failures as StoreError naming the state and the cause."""
    try:
        yield
    except (ClientError, BotoCoreError) as error:
        raise StoreError(f"cannot {what} the state {location}: {_why(error)}") from None


def write_failed(location: S3Location, what: str, error: Exception) -> StateWriteError:
    """A failed write as StateWriteError; a refused condition says that another writer did it."""
    if isinstance(error, ClientError) and error_code(error) == "PreconditionFailed":
        return StateWriteError(
            f"cannot {what} the state {location}: another writer changed it since this "
            "run read it (its lock was broken, or an object was replaced by hand); check who, "
            "then run again"
        )
    return StateWriteError(f"cannot {what} the state {location}: {_why(error)}")


# --- the bucket and its objects -------------------------------------------------------------


def check_bucket(client: Any, location: S3Location) -> None:
    """StoreError if the bucket does not exist: some stores (SeaweedFS) would make it at the
    first write, without versioning, where a misspelt name should be refused."""
    try:
        client.head_bucket(Bucket=location.bucket)
    except ClientError as error:
        if error_code(error) not in ("404", "NoSuchBucket"):
            raise
        raise StoreError(
            f"cannot lock the state {location}: NoSuchBucket: the bucket "
            f"{printable(location.bucket)} does not exist (create it, with versioning on)"
        ) from None


def get_object(client: Any, location: S3Location, key: str) -> tuple[bytes, str] | None:
    """An object's bytes and ETag; None if there is no such object."""
    try:
        answer = client.get_object(Bucket=location.bucket, Key=key)
    except ClientError as error:
        if error_code(error) in ("NoSuchKey", "404"):
            return None
        raise
    body: bytes = answer["Body"].read()
    return body, answer["ETag"]


def head_etag(client: Any, location: S3Location) -> str | None:
    """The state object's ETag; None if there is no state object."""
    try:
        answer = client.head_object(Bucket=location.bucket, Key=location.key)
    except ClientError as error:
        if error_code(error) in ("NoSuchKey", "404"):
            return None
        raise
    etag: str = answer["ETag"]
    return etag


def put_if(
    client: Any,
    location: S3Location,
    key: str,
    body: bytes,
    condition: str | None,
    *,
    checksum: bool = False,
) -> str:
    """Put `body` at `key` if the object there is still the one with ETag `condition` (None:
    if there is none); its new ETag. ClientError PreconditionFailed if it is not, unless it
    already holds `body`: botocore retries a put whose answer was lost, and the retry finds
    the first attempt's object. With `checksum`, the store checks the body's CRC32."""
    when: dict[str, str] = {"IfMatch": condition} if condition is not None else {"IfNoneMatch": "*"}
    if checksum:
        when["ChecksumAlgorithm"] = "CRC32"
    try:
        answer = client.put_object(
            Bucket=location.bucket, Key=key, Body=body, ContentType="application/json", **when
        )
    except ClientError as error:
        if error_code(error) != "PreconditionFailed":
            raise
        found = get_object(client, location, key)
        if found is None or found[0] != body:
            raise
        return found[1]
    etag: str = answer["ETag"]
    return etag


def delete_if(client: Any, location: S3Location, key: str, etag: str) -> None:
    """Delete `key` if it is still the object with `etag` (a store that cannot delete on a
    condition: at once). A ClientError PreconditionFailed if it was replaced."""
    try:
        client.delete_object(Bucket=location.bucket, Key=key, IfMatch=etag)
    except ClientError as error:
        if error_code(error) not in ("NotImplemented", "InvalidArgument"):
            raise
        client.delete_object(Bucket=location.bucket, Key=key)
