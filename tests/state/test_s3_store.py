"""The S3 state store (state/s3.py) against a real S3-compatible server (the `s3` fixture's
SeaweedFS): the state object, its journal objects, its lock object, a real crash of a process
that writes them, another writer, and the store's refusals."""

from __future__ import annotations

import dataclasses
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
from typing import Any

import pytest
from botocore.exceptions import ClientError  # type: ignore[import-untyped]  # no stubs

from reconciler.errors import RefusedError, StateError, StateWriteError, StoreError, UsageError
from reconciler.state import backends, s3_objects
from reconciler.state import s3 as s3_store
from reconciler.state.codec import State, render_state
from reconciler.state.location import S3Location
from reconciler.state.lock import LockInfo
from tests.builders import key
from tests.paths import ROOT
from tests.servers.seaweed import S3Server
from tests.state.samples import ACME, BRAND, EMPTY, GOLDEN, JIRA_CLIENT, PRODUCT, as_dict

KEY = "states/reconciler.state.json"
JOURNAL = f"{KEY}.journal/"
LOCK = f"{KEY}.lock"
APPLY = "reconciler apply manifests"
NEW = key("client", "SALESFORCE", "NEW-1")


@pytest.fixture
def aws(s3: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The AWS chain as the store reads it: the server's keys in the environment, no config or
    credentials file of the user's (child processes inherit it)."""
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", s3.access_key)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", s3.secret_key)
    monkeypatch.setenv("AWS_REGION", s3.region)
    monkeypatch.setenv("AWS_CONFIG_FILE", os.devnull)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", os.devnull)
    for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_DEFAULT_REGION"):
        monkeypatch.delenv(name, raising=False)
    return s3


@pytest.fixture
def client(aws: S3Server) -> Any:
    return aws.client()


@pytest.fixture
def location(aws: S3Server, client: Any) -> S3Location:
    """A state in a bucket of the test's own, versioning on."""
    bucket = f"state-{secrets.token_hex(6)}"
    client.create_bucket(Bucket=bucket)
    client.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    return S3Location(bucket, KEY, aws.endpoint_url)


def read(client: Any, location: S3Location, name: str = KEY) -> bytes:
    body: bytes = client.get_object(Bucket=location.bucket, Key=name)["Body"].read()
    return body


def put(client: Any, location: S3Location, name: str, body: bytes) -> None:
    client.put_object(Bucket=location.bucket, Key=name, Body=body)


def names(client: Any, location: S3Location, prefix: str = "") -> list[str]:
    listed = client.list_objects_v2(Bucket=location.bucket, Prefix=prefix)
    return sorted(entry["Key"] for entry in listed.get("Contents", ()))


def lock_record(**changes: Any) -> bytes:
    info = LockInfo("ci", "runner-elsewhere", 4242, "2026-11-28T10:00:00Z", APPLY)
    return json.dumps(dataclasses.asdict(dataclasses.replace(info, **changes))).encode()


# --- reading and writing --------------------------------------------------------------------


def test_a_bucket_without_the_state_loads_empty(location: S3Location, client: Any) -> None:
    state = s3_store.load(location)

    assert state.serial == 0
    assert state.records == {}
    assert names(client, location) == []  # a load writes nothing, not even a lock


def test_a_run_round_trips_through_the_bucket(location: S3Location, client: Any) -> None:
    with s3_store.open_store(location, command=APPLY) as store:
        store.intend(NEW)
        store.record(ACME)
        with store.batch():
            store.record(BRAND)
            store.record(PRODUCT)
        store.record(JIRA_CLIENT)
        store.forget(JIRA_CLIENT.key)

    loaded = s3_store.load(location)
    assert as_dict(loaded) == {record.key: record for record in (ACME, BRAND, PRODUCT)}
    assert loaded.in_doubt == {NEW}
    assert loaded.serial == 1
    assert read(client, location) == render_state(loaded)  # exactly the file store's bytes
    head = client.head_object(Bucket=location.bucket, Key=KEY)
    assert head["ContentType"] == "application/json"
    assert names(client, location) == [KEY]  # the journal compacted, the lock released


def test_the_state_object_is_the_state_files_bytes(location: S3Location, client: Any) -> None:
    with s3_store.open_store(location, command=APPLY) as store:
        for record in (PRODUCT, BRAND, ACME, EMPTY):  # against the file's order on purpose
            store.record(record)

    lineage = s3_store.load(location).lineage
    assert read(client, location) == GOLDEN.replace("LINEAGE", lineage).encode()


def test_each_change_is_an_object_before_it_returns(location: S3Location, client: Any) -> None:
    with s3_store.open_store(location, command=APPLY) as store:
        store.intend(NEW)
        assert names(client, location, JOURNAL) == [f"{JOURNAL}00000000"]
        store.record(ACME)
        assert names(client, location, JOURNAL) == [f"{JOURNAL}00000000", f"{JOURNAL}00000001"]
        assert as_dict(s3_store.load(location)) == {ACME.key: ACME}  # readable meanwhile
        assert s3_store.load(location).in_doubt == {NEW}


def test_a_group_is_one_journal_object(location: S3Location, client: Any) -> None:
    with s3_store.open_store(location, command=APPLY) as store:
        with store.batch():
            store.intend(NEW)
            store.record(ACME)
            store.record(BRAND)
            assert names(client, location, JOURNAL) == []  # nothing durable inside the group
        assert names(client, location, JOURNAL) == [f"{JOURNAL}00000000"]
        lines = read(client, location, f"{JOURNAL}00000000").splitlines()
        assert len(lines) == 4  # the header and the group's three changes


# --- a crash, and the next run ---------------------------------------------------------------

CHILD = """
import sys
from reconciler.state import s3
from reconciler.state.location import S3Location
from tests.state.samples import ACME, BRAND, PRODUCT

store = s3.open_store(S3Location(*sys.argv[1:4]), command="reconciler apply manifests")
store.record(ACME)
with store.batch():
    store.record(BRAND)
    store.record(PRODUCT)
print("recorded", flush=True)
sys.stdin.readline()
"""


def killed_after_recording(location: S3Location) -> None:
    """A process that opens the state, records three (two objects), and is SIGKILLed before
    it closes: its journal objects and its lock object stay behind."""
    args = [sys.executable, "-c", CHILD, location.bucket, location.key, str(location.endpoint_url)]
    with subprocess.Popen(
        args, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    ) as child:
        assert child.stdout is not None
        assert child.stdout.readline() == "recorded\n"
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)


def test_a_killed_run_leaves_its_journal_which_load_replays(
    location: S3Location, client: Any
) -> None:
    killed_after_recording(location)

    assert names(client, location) == [f"{JOURNAL}00000000", f"{JOURNAL}00000001", f"{KEY}.lock"]
    state = s3_store.load(location)
    assert as_dict(state) == {record.key: record for record in (ACME, BRAND, PRODUCT)}
    assert state.serial == 0
    assert names(client, location, JOURNAL) == [f"{JOURNAL}00000000", f"{JOURNAL}00000001"]


def test_the_next_run_takes_over_the_lock_and_compacts(location: S3Location, client: Any) -> None:
    killed_after_recording(location)
    lineage = s3_store.load(location).lineage
    warnings: list[str] = []

    with s3_store.open_store(location, command=APPLY, warn=warnings.append) as store:
        assert store.state.serial == 1
        assert store.state.lineage == lineage
        assert names(client, location, JOURNAL) == []  # compacted before anything else
        assert json.loads(read(client, location, LOCK))["pid"] == os.getpid()

    assert len(warnings) == 1
    assert warnings[0].startswith(f"took over the lock of the state {location}, left by ")
    assert warnings[0].endswith("which is no longer running")
    assert APPLY in warnings[0]
    state = s3_store.load(location)
    assert (state.serial, state.lineage) == (1, lineage)  # nothing changed in the second run
    assert as_dict(state) == {record.key: record for record in (ACME, BRAND, PRODUCT)}
    assert names(client, location) == [KEY]


# --- the lock -------------------------------------------------------------------------------


def test_a_second_run_is_refused_naming_the_holder(location: S3Location, client: Any) -> None:
    with s3_store.open_store(location, command=APPLY) as store:
        with pytest.raises(RefusedError) as refused:
            s3_store.open_store(location, command="reconciler import")
        store.record(ACME)  # the holder goes on

    message = str(refused.value)
    assert f"the state {location} is locked by " in message
    assert f"@{socket.gethostname()} (pid {os.getpid()}, since " in message
    assert APPLY in message
    assert as_dict(s3_store.load(location)) == {ACME.key: ACME}
    assert names(client, location) == [KEY]  # the refused run deleted nobody's lock


def test_a_lock_from_another_host_is_refused(location: S3Location, client: Any) -> None:
    put(client, location, LOCK, lock_record(pid=1))

    with pytest.raises(RefusedError) as refused:
        s3_store.open_store(location, command=APPLY)

    assert "locked by ci@runner-elsewhere (pid 1, since 2026-11-28T10:00:00Z" in str(refused.value)
    assert "`reconciler state unlock --force`" in str(refused.value)
    assert read(client, location, LOCK) == lock_record(pid=1)  # left as it was


def test_an_unreadable_lock_is_refused(location: S3Location, client: Any) -> None:
    put(client, location, LOCK, b"\x1b[2J not a lock")

    with pytest.raises(RefusedError) as refused:
        s3_store.open_store(location, command=APPLY)

    assert "holds no lock record" in str(refused.value)
    assert "\x1b" not in str(refused.value)


def test_force_unlock_removes_a_lock_left_elsewhere(location: S3Location, client: Any) -> None:
    put(client, location, LOCK, lock_record())

    released = s3_store.force_unlock(location)

    assert released == LockInfo("ci", "runner-elsewhere", 4242, "2026-11-28T10:00:00Z", APPLY)
    assert names(client, location) == []
    with s3_store.open_store(location, command=APPLY) as store:
        store.record(ACME)
    assert as_dict(s3_store.load(location)) == {ACME.key: ACME}


def test_force_unlock_of_nothing_or_of_no_record(location: S3Location, client: Any) -> None:
    assert s3_store.force_unlock(location) is None

    put(client, location, LOCK, b"{}")
    assert s3_store.force_unlock(location) is None
    assert names(client, location) == []


def test_force_unlock_cannot_break_a_running_holder(location: S3Location, client: Any) -> None:
    with s3_store.open_store(location, command=APPLY) as store:
        with pytest.raises(RefusedError) as refused:
            s3_store.force_unlock(location)
        assert names(client, location) == [LOCK]
        store.record(ACME)

    assert f"(pid {os.getpid()}," in str(refused.value)
    assert "stop that process first" in str(refused.value)


# --- another writer, hostile objects, the store's refusals ----------------------------------


def test_a_state_replaced_meanwhile_is_not_overwritten(location: S3Location, client: Any) -> None:
    with s3_store.open_store(location, command=APPLY) as store:
        store.record(ACME)
    store = s3_store.open_store(location, command=APPLY)
    store.record(BRAND)
    theirs = render_state(State("other", 7, s3_store.load(location).records))
    put(client, location, KEY, theirs)

    with pytest.raises(StateWriteError) as refused:
        store.close()

    assert "another writer changed it" in str(refused.value)
    assert read(client, location) == theirs
    assert names(client, location, JOURNAL) == [f"{JOURNAL}00000000"]  # this run's change kept
    assert LOCK not in names(client, location)  # released all the same


def test_a_gap_in_the_journal_is_refused(location: S3Location, client: Any) -> None:
    killed_after_recording(location)
    client.delete_object(Bucket=location.bucket, Key=f"{JOURNAL}00000000")

    with pytest.raises(StateError, match="is not whole") as refused:
        s3_store.load(location)

    assert f"{JOURNAL}00000001" in str(refused.value)


@pytest.mark.parametrize(
    ("body", "says"),
    [
        (b'{"format_version": 2, "lin', "is not valid JSON"),
        (b"\xff\xfe", "is not UTF-8"),
        (
            GOLDEN.replace("LINEAGE", "a" * 32).replace('"ACC-1"', '"A\\u0000"').encode(),
            "resources.1.id: an id cannot hold the character U\\+0000",
        ),
        (b"[]", "holds no JSON object"),
    ],
)
def test_a_hostile_state_object_is_refused(
    location: S3Location, client: Any, body: bytes, says: str
) -> None:
    put(client, location, KEY, body)

    with pytest.raises(StateError, match=says) as refused:
        s3_store.load(location)
    with pytest.raises(StateError):
        s3_store.open_store(location, command=APPLY)

    assert str(refused.value).startswith(str(location))
    assert LOCK not in names(client, location)  # released after the refusal


def test_a_missing_bucket_is_a_store_error(aws: S3Server) -> None:
    location = S3Location(f"missing-{secrets.token_hex(6)}", KEY, aws.endpoint_url)

    with pytest.raises(StoreError, match="NoSuchBucket") as refused:
        s3_store.load(location)
    with pytest.raises(StoreError, match="NoSuchBucket"):
        s3_store.open_store(location, command=APPLY)

    assert str(refused.value).startswith(f"cannot read the state {location}: ")
    with pytest.raises(ClientError):  # not made by the refused run
        aws.client().head_bucket(Bucket=location.bucket)


def test_wrong_credentials_are_a_store_error_without_the_secret(
    location: S3Location, aws: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = secrets.token_urlsafe(30)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", wrong)

    with pytest.raises(StoreError, match="SignatureDoesNotMatch") as refused:
        s3_store.load(location)

    assert str(refused.value).startswith(f"cannot read the state {location}: ")
    assert wrong not in str(refused.value)
    assert aws.secret_key not in str(refused.value)


def test_no_server_is_a_store_error(location: S3Location) -> None:
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there now
    nowhere = dataclasses.replace(location, endpoint_url=f"http://127.0.0.1:{port}")

    with pytest.raises(StoreError, match="EndpointConnectionError"):
        s3_store.load(nowhere)


def test_versioning_keeps_each_runs_state(location: S3Location, client: Any) -> None:
    with s3_store.open_store(location, command=APPLY) as store:
        store.record(ACME)
    with s3_store.open_store(location, command=APPLY) as store:
        store.record(BRAND)

    versions = client.list_object_versions(Bucket=location.bucket, Prefix=KEY)["Versions"]
    bodies = [
        client.get_object(Bucket=location.bucket, Key=KEY, VersionId=version["VersionId"])[
            "Body"
        ].read()
        for version in versions
        if version["Key"] == KEY
    ]
    serials = sorted(json.loads(body)["serial"] for body in bodies)
    assert serials == [1, 2]


def test_a_failed_journal_write_fails_fast_and_close_writes_it_all(
    location: S3Location, client: Any
) -> None:
    store = s3_store.open_store(location, command=APPLY)
    store.record(ACME)
    put(client, location, f"{JOURNAL}00000001", b"")  # where this run's next part goes

    with pytest.raises(StateWriteError, match="another writer changed it"):
        store.record(BRAND)
    with pytest.raises(StateWriteError):
        store.record(PRODUCT)  # no further part is tried once one failed
    store.close()  # the whole state, from memory: every change, the failed ones too

    assert as_dict(s3_store.load(location)) == {r.key: r for r in (ACME, BRAND, PRODUCT)}
    assert names(client, location) == [KEY]


def test_replace_makes_a_state_the_stored_one_whole(location: S3Location, client: Any) -> None:
    with s3_store.open_store(location, command=APPLY) as store:
        store.record(ACME)
    pushed = State("f" * 32, 9, s3_store.load(location).records, frozenset({NEW}))

    with s3_store.open_store(location, command="reconciler state push") as store:
        store.replace(pushed)

    assert read(client, location) == render_state(pushed)
    assert s3_store.load(location) == pushed


def test_a_put_retried_after_a_lost_answer_finds_its_own_object(
    location: S3Location, client: Any
) -> None:
    """botocore retries a put whose answer was lost; the retry's 412 is then its own object."""
    s3c = s3_objects.make_client(location)
    first = s3_objects.put_if(s3c, location, LOCK, b"mine", None)

    assert s3_objects.put_if(s3c, location, LOCK, b"mine", None) == first
    with pytest.raises(ClientError, match="PreconditionFailed"):
        s3_objects.put_if(s3c, location, LOCK, b"theirs", None)
    assert read(client, location, LOCK) == b"mine"


def test_a_load_during_a_compaction_reads_again(
    location: S3Location, client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run compacts between the load's read of the state object and its listing of the
    journal: the load sees the state object's ETag move, and reads the compacted state."""
    killed_after_recording(location)
    real_parts = s3_store._parts
    compactions: list[LockInfo | None] = []

    def compacting_first(s3c: Any, where: S3Location) -> tuple[str, ...]:
        if not compactions:
            compactions.append(s3_store.force_unlock(where))
            s3_store.open_store(where, command=APPLY).close()  # calls _parts: compactions set
        return real_parts(s3c, where)

    monkeypatch.setattr(s3_store, "_parts", compacting_first)
    state = s3_store.load(location)

    assert len(compactions) == 1
    assert names(client, location, JOURNAL) == []
    assert state.serial == 1  # not the empty state the load first read
    assert as_dict(state) == {record.key: record for record in (ACME, BRAND, PRODUCT)}


def test_without_boto3_the_store_says_which_extra_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Installed without the `s3` extra, neither boto3 nor botocore is there; `backends.py`
    names boto3 only if the store's first library import is boto3's (`s3_objects.py` imports
    it first, and the store's other modules take botocore's errors from it)."""
    for name in ("boto3", "botocore", "botocore.config", "botocore.exceptions"):
        monkeypatch.setitem(sys.modules, name, None)  # None: "not installed" to `import`
    for name in ("reconciler.state.s3", "reconciler.state.s3_lock", "reconciler.state.s3_objects"):
        monkeypatch.delitem(sys.modules, name)  # imported again, and put back afterwards

    with pytest.raises(UsageError, match=r"needs boto3, .* 'cor-reconciler\[s3\]'"):
        backends.load_state(S3Location("bucket", KEY, None))
