"""`--state` read as a file path or a store's URL (reconciler/state/location.py): what each URL
becomes, and every URL refused, never echoing a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import UsageError
from reconciler.state.location import PostgresLocation, S3Location, is_url, locate


@pytest.mark.parametrize(
    "text", ["reconciler.state.json", "states/prod.json", "/abs/state.json", "s3.json", "x:y"]
)
def test_a_path_stays_a_path(text: str) -> None:
    assert locate(text) == Path(text)
    assert not is_url(text)


def test_a_postgres_url_names_a_state_and_a_schema() -> None:
    location = locate(
        "postgresql://ci@db.example:5433/cor?state=agency-a&schema=ops&sslmode=require"
    )
    assert isinstance(location, PostgresLocation)
    assert (location.state, location.schema) == ("agency-a", "ops")
    assert location.conninfo == "postgresql://ci@db.example:5433/cor?sslmode=require"
    assert str(location) == (
        "postgresql://ci@db.example:5433/cor?state=agency-a&schema=ops&sslmode=require"
    )


def test_postgres_defaults_and_the_short_scheme() -> None:
    location = locate("postgres://db/cor")
    assert isinstance(location, PostgresLocation)
    assert (location.state, location.schema, location.conninfo) == (
        "default",
        "reconciler",
        "postgres://db/cor",
    )


def test_database_url_serves_a_url_naming_no_database() -> None:
    secret = "pa55-in-the-environment"
    environ = {"DATABASE_URL": f"postgresql://app:{secret}@db:5432/cor"}
    location = locate("postgres://?state=nightly", environ=environ)
    assert isinstance(location, PostgresLocation)
    assert location.conninfo == environ["DATABASE_URL"]
    assert location.state == "nightly"
    assert secret not in str(location)
    assert secret not in repr(location)
    # a URL naming its own database ignores DATABASE_URL
    named = locate("postgres://db/cor", environ=environ)
    assert isinstance(named, PostgresLocation)
    assert secret not in named.conninfo


@pytest.mark.parametrize(
    "text",
    [
        "postgresql://ci:hunter2@db/cor",
        "postgresql://ci:@db/cor",
        "postgresql://db/cor?password=hunter2",
    ],
)
def test_a_password_in_the_url_is_refused_without_echoing_it(text: str) -> None:
    with pytest.raises(UsageError) as refused:
        locate(text)
    assert "holds a password" in str(refused.value)
    assert "PGPASSWORD" in str(refused.value)
    assert "hunter2" not in str(refused.value)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("postgresql://db/cor?state=", "is not a state's name"),
        ("postgresql://db/cor?state=a%20b", "is not a state's name"),
        ("postgresql://db/cor?state=" + "x" * 64, "is not a state's name"),
        ("postgresql://db/cor?schema=Public", "is not a schema's name"),
        ("postgresql://db/cor?schema=x;drop", "is not a schema's name"),
        ("postgresql://db/cor?state=a&state=b", "twice"),
        ("postgresql://db:99999/cor", "is not a URL"),
        ("postgresql://db/cor#x", "#fragment"),
        ("postgresql://db/cor\x1b[2J", "control character"),
        ("gs://bucket/key", "no 'gs' store"),
        ("https://example.com/state.json", "no 'https' store"),
    ],
)
def test_bad_postgres_and_unknown_urls_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(UsageError) as refused:
        locate(text)
    assert says in str(refused.value)
    assert "\x1b" not in str(refused.value)


def test_an_s3_url_names_bucket_and_key_and_the_endpoint_comes_apart() -> None:
    location = locate("s3://cor-states/agency/prod.json", s3_endpoint_url="http://127.0.0.1:8333")
    assert location == S3Location("cor-states", "agency/prod.json", "http://127.0.0.1:8333")
    assert str(location) == "s3://cor-states/agency/prod.json"
    from_env = locate("s3://cor-states/x.json", environ={"AWS_ENDPOINT_URL": "https://minio:9000"})
    assert isinstance(from_env, S3Location)
    assert from_env.endpoint_url == "https://minio:9000"
    assert locate("s3://cor-states/x.json", environ={}) == S3Location("cor-states", "x.json")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("s3://AKIA:secret@bucket/key", "user information"),
        ("s3://bucket", "give the state object's key"),
        ("s3://bucket/", "give the state object's key"),
        ("s3://bucket/dir/", "give the state object's key"),
        ("s3://bucket/" + "k" * 901, "at most 900 bytes"),
        ("s3://bucket/a/../b", "a . or .. part"),
        ("s3://Bucket/key", "is not a bucket's name"),
        ("s3://b/key", "is not a bucket's name"),
        ("s3://bucket/key?versionId=3", "without ?query"),
    ],
)
def test_bad_s3_urls_say_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(UsageError) as refused:
        locate(text)
    assert says in str(refused.value)
    assert "secret" not in str(refused.value)


@pytest.mark.parametrize(
    "endpoint", ["ftp://host", "localhost:9000", "http://key:secret@host:9000", "http://"]
)
def test_a_bad_endpoint_is_refused(endpoint: str) -> None:
    with pytest.raises(UsageError) as refused:
        locate("s3://bucket/key", s3_endpoint_url=endpoint)
    assert "secret" not in str(refused.value)
