"""The state file (state/store.py): format, validation, atomic writes, and real crashes of a
process that writes it. The journal's replay and creates in doubt: test_journal.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

import pytest

from reconciler.core.resources import Kind, Record, ResourceKey
from reconciler.errors import RefusedError, StateError, StateWriteError
from reconciler.state import journal
from reconciler.state.codec import FORMAT_VERSION, State
from reconciler.state.store import StateStore, load_state
from tests.builders import key, recorded
from tests.paths import ROOT
from tests.state.samples import (
    ACME,
    BRAND,
    EMPTY,
    GOLDEN,
    JIRA_CLIENT,
    PRODUCT,
    SF,
    as_dict,
    backup_of,
    fail_on,
    journal_of,
    snapshot,
    write_records,
)
from tests.state.spies import fsyncs_watched

# --- format ---------------------------------------------------------------------------------


def test_round_trip(path: Path) -> None:
    unicode = recorded(
        "client", "JIRA", "Ü-1", 5, name='Café "☕" \\ 😀', description="two\nlines\t", phone=""
    )
    records = (ACME, BRAND, PRODUCT, JIRA_CLIENT, EMPTY, unicode)
    state = write_records(path, *records)
    assert as_dict(state) == {record.key: record for record in records}
    assert state.serial == 1


def test_file_is_byte_exact_sorted_and_deterministic(path: Path) -> None:
    write_records(path, PRODUCT, BRAND, ACME, EMPTY)  # recorded against apply order on purpose
    lineage = load_state(path).lineage
    text = path.read_bytes().decode("utf-8")
    assert text == GOLDEN.replace("LINEAGE", lineage)
    assert json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n" == text


@pytest.mark.parametrize("value", ["plain", "Café ☕ 😀", 'quote " backslash \\', "new\nline\ttab"])
def test_file_bytes_equal_json_dumps(path: Path, value: str) -> None:
    ext_id = value.replace("\n", " ").replace("\t", " ")  # an id holds neither
    write_records(path, recorded("client", "JIRA", ext_id, 1, name="n", description=value))
    text = path.read_text(encoding="utf-8")
    assert json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n" == text
    assert (
        load_state(path).records[key("client", "JIRA", ext_id)].attributes["description"] == value
    )


def test_missing_file_is_an_empty_state_and_is_not_written(path: Path) -> None:
    state = load_state(path)
    assert (state.serial, dict(state.records)) == (0, {})
    assert len(state.lineage) == 32
    assert int(state.lineage, 16) >= 0
    assert State.empty().lineage != State.empty().lineage
    assert list(path.parent.iterdir()) == []


def test_records_view_is_read_only(path: Path) -> None:
    state = write_records(path, ACME)
    with pytest.raises(TypeError):
        state.records[BRAND.key] = BRAND  # type: ignore[index]  # the point of the test


def valid_document() -> dict[str, Any]:
    return json.loads(GOLDEN)  # type: ignore[no-any-return]


def edited(change: Callable[[dict[str, Any]], object]) -> bytes:
    document = valid_document()
    change(document)
    return json.dumps(document, indent=2).encode()


DUPLICATE_KEY = GOLDEN.replace('"cor_id": 8,', '"cor_id": 8,\n      "cor_id": 9,')
CORRUPT: list[tuple[str, bytes, str]] = [
    ("not JSON", b"<<<<<<< HEAD\n", "not valid JSON"),
    ("empty", b"", "not valid JSON"),
    ("truncated", GOLDEN.encode()[:-60], "not valid JSON"),
    ("not UTF-8", b'{"lineage": "\xff"}', "not UTF-8"),
    ("not an object", b"[]", "no JSON object"),
    ("newer format_version", edited(lambda d: d.update(format_version=3)), "newer reconciler"),
    ("format_version 0", edited(lambda d: d.update(format_version=0)), "format_version"),
    ("format_version text", edited(lambda d: d.update(format_version="1")), "format_version"),
    ("missing format_version", edited(lambda d: d.pop("format_version")), "format_version"),
    ("missing lineage", edited(lambda d: d.pop("lineage")), "lineage: Field required"),
    ("missing cor_id", edited(lambda d: d["resources"][1].pop("cor_id")), "resources.1.cor_id"),
    ("cor_id as text", edited(lambda d: d["resources"][0].update(cor_id="8")), "cor_id"),
    ("cor_id as bool", edited(lambda d: d["resources"][0].update(cor_id=True)), "cor_id"),
    (
        "attribute not text",
        edited(lambda d: d["resources"][1]["attributes"].update(n=1)),
        "attributes.n",
    ),
    ("serial negative", edited(lambda d: d.update(serial=-1)), "serial"),
    ("resources not a list", edited(lambda d: d.update(resources={})), "resources"),
    ("empty id", edited(lambda d: d["resources"][0].update(id="")), "resources.0.id"),
    ("unknown kind", edited(lambda d: d["resources"][0].update(kind="project")), "kind"),
    ("unknown field", edited(lambda d: d["resources"][0].update(colour="red")), "colour"),
    ("unknown top field", edited(lambda d: d.update(extra=1)), "extra"),
    ("duplicate entry", edited(lambda d: d["resources"].append(d["resources"][1])), "second"),
    ("duplicate JSON key", DUPLICATE_KEY.encode(), "'cor_id' twice"),
    ("in_doubt not a list", edited(lambda d: d.update(in_doubt={})), "in_doubt"),
    (
        "in_doubt with a cor_id",
        edited(lambda d: d.update(in_doubt=[{**d["resources"][0], "attributes": None}])),
        "in_doubt.0.cor_id",
    ),
    (
        "in_doubt twice",
        edited(lambda d: d.update(in_doubt=[{"kind": "client", "source": SF, "id": "X"}] * 2)),
        "in_doubt.1 is a second entry",
    ),
    (
        "in_doubt empty id",
        edited(lambda d: d.update(in_doubt=[{"kind": "client", "source": SF, "id": ""}])),
        "in_doubt.0.id",
    ),
]


@pytest.mark.parametrize(
    ("content", "expected"), [c[1:] for c in CORRUPT], ids=[c[0] for c in CORRUPT]
)
def test_corrupt_state_is_refused_and_left_untouched(
    path: Path, content: bytes, expected: str
) -> None:
    path.write_bytes(content)
    with pytest.raises(StateError) as info:
        load_state(path)
    assert str(path) in str(info.value)
    assert expected in str(info.value)
    with pytest.raises(StateError):
        StateStore.open(path).close()
    assert path.read_bytes() == content
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name, path.name + ".lock"]


def test_corrupt_state_message_points_at_the_backup(path: Path) -> None:
    write_records(path, ACME)
    write_records(path, BRAND)
    path.write_bytes(GOLDEN.encode()[:100])
    with pytest.raises(StateError, match=r"previous version is in .*\.backup"):
        load_state(path)


# --- writes ---------------------------------------------------------------------------------


def test_serial_increments_per_write_and_lineage_is_kept(path: Path) -> None:
    first = write_records(path, ACME)
    second = write_records(path, BRAND)
    third = write_records(path, PRODUCT)
    assert [first.serial, second.serial, third.serial] == [1, 2, 3]
    assert first.lineage == second.lineage == third.lineage
    assert as_dict(third) == {r.key: r for r in (ACME, BRAND, PRODUCT)}


def test_backup_holds_the_previous_version(path: Path) -> None:
    write_records(path, ACME)
    first = path.read_bytes()
    assert not backup_of(path).exists()
    write_records(path, BRAND)
    assert backup_of(path).read_bytes() == first
    assert path.read_bytes() != first


def test_nothing_recorded_writes_nothing(path: Path) -> None:
    with StateStore.open(path):
        pass
    assert not path.exists()
    write_records(path, ACME)
    before = path.stat()
    folder = snapshot(path.parent)
    with StateStore.open(path) as store:
        store.record(ACME)  # the same record again: nothing changes
        store.forget(BRAND.key)  # not recorded: nothing changes
    after = path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert snapshot(path.parent) == folder
    assert load_state(path).serial == 1


def test_forget_removes_a_record(path: Path) -> None:
    write_records(path, ACME, BRAND)
    with StateStore.open(path) as store:
        store.forget(BRAND.key)
        assert BRAND.key not in store.state.records
    state = load_state(path)
    assert (as_dict(state), state.serial) == ({ACME.key: ACME}, 2)


def test_record_appends_one_journal_line_and_leaves_the_state_file(path: Path) -> None:
    write_records(path, ACME)
    before = snapshot(path.parent)
    inode = path.stat().st_ino
    with StateStore.open(path) as store:
        store.record(BRAND)
        store.record(PRODUCT)
        lines = journal_of(path).read_bytes().splitlines()
        assert len(lines) == 3
        assert json.loads(lines[0]) == {"journal": 2, "lineage": store.state.lineage, "serial": 1}
        assert json.loads(lines[2])["op"] == "put"
        assert path.stat().st_ino == inode
        assert path.read_bytes() == before[path.name]
        assert dict(store.state.records) == {r.key: r for r in (ACME, BRAND, PRODUCT)}
    assert not journal_of(path).exists()


def test_record_is_fsynced_before_it_returns(path: Path) -> None:
    with StateStore.open(path) as store:
        store.record(ACME)
        with fsyncs_watched() as synced:
            store.record(BRAND)
        info = journal_of(path).stat()
        assert (info.st_ino, info.st_size) in synced


def test_a_batch_is_fsynced_once_when_it_ends(path: Path) -> None:
    with StateStore.open(path) as store, fsyncs_watched() as synced:
        store.record(ACME)  # creates the journal
        synced.clear()
        with store.batch():
            store.intend(BRAND.key)
            store.record(BRAND)
            with store.batch():  # nested: the outer block decides
                store.intend(JIRA_CLIENT.key)
            assert synced == []
            assert journal_of(path).read_bytes().count(b"\n") == 5  # written, not yet synced
        info = journal_of(path).stat()
        assert synced == [(info.st_ino, info.st_size)]
        with store.batch():
            pass  # nothing written: no fsync
        assert len(synced) == 1
    assert load_state(path).records.keys() == {ACME.key, BRAND.key}
    assert load_state(path).in_doubt == {JIRA_CLIENT.key}


def test_the_store_keeps_its_own_copy_of_a_record(path: Path) -> None:
    attributes = {"name": "as applied"}
    with StateStore.open(path) as store:
        store.record(Record(ACME.key, 1, attributes))
        attributes["name"] = "changed by the caller afterwards"
        assert store.state.records[ACME.key].attributes["name"] == "as applied"
    assert load_state(path).records[ACME.key].attributes == {"name": "as applied"}


@pytest.mark.parametrize(
    ("bad", "expected"),
    [
        (Record(ACME.key, True, {"name": "x"}), "cor_id"),
        (Record(ACME.key, 1, {"name": 2}), "attributes.name"),  # type: ignore[dict-item]
        (Record(ACME.key, 1, {"name": "\ud800"}), "surrogate"),
    ],
)
def test_a_record_that_would_not_read_back_is_refused(
    path: Path, bad: Record, expected: str
) -> None:
    with StateStore.open(path) as store, pytest.raises(StateError, match=expected):
        store.record(bad)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name + ".lock"]


def test_file_permissions_are_kept(path: Path) -> None:
    write_records(path, ACME)
    path.chmod(0o640)
    write_records(path, BRAND)
    assert path.stat().st_mode & 0o777 == 0o640


def test_close_is_idempotent_and_ends_recording(path: Path) -> None:
    store = StateStore.open(path)
    store.record(ACME)
    store.close()
    written = path.read_bytes()
    store.close()
    assert path.read_bytes() == written
    assert store.state.serial == 1
    with pytest.raises(RuntimeError):
        store.record(BRAND)


def test_context_manager_writes_everything_recorded_on_an_exception(path: Path) -> None:
    def interrupted_apply() -> None:
        with StateStore.open(path) as store:
            store.record(ACME)
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        interrupted_apply()
    assert as_dict(load_state(path)) == {ACME.key: ACME}
    assert not journal_of(path).exists()


def test_a_second_writer_is_refused_while_readers_are_not(path: Path) -> None:
    with StateStore.open(path) as store:
        store.record(ACME)
        with pytest.raises(RefusedError, match=rf"locked by .*pid {os.getpid()}"):
            StateStore.open(path)
        assert as_dict(load_state(path)) == {ACME.key: ACME}  # plan during an apply
    with StateStore.open(path) as store:
        assert ACME.key in store.state.records


FAILURES: list[tuple[str, Callable[..., bool]]] = [
    ("write", lambda fd, data: len(data) > 200),  # the new state (the journal lines are short)
    ("fsync", lambda fd: True),
    ("replace", lambda src, dst: str(dst).endswith(".backup")),
    ("replace", lambda src, dst: str(dst).endswith(".json")),
]


@pytest.mark.parametrize(("name", "when"), FAILURES, ids=["write", "fsync", "backup", "state"])
def test_a_failed_write_leaves_the_old_state_and_the_journal(
    path: Path, monkeypatch: pytest.MonkeyPatch, name: str, when: Callable[..., bool]
) -> None:
    old = write_records(path, ACME)
    old_bytes = path.read_bytes()
    store = StateStore.open(path)
    store.record(BRAND)
    fail_on(monkeypatch, name, when)
    with pytest.raises(StateWriteError, match="cannot write the state file"):
        store.close()
    monkeypatch.undo()
    assert path.read_bytes() == old_bytes
    leftovers = sorted(p.name for p in path.parent.iterdir() if p.name.endswith(".tmp"))
    assert leftovers == []
    assert as_dict(load_state(path)) == {ACME.key: ACME, BRAND.key: BRAND}
    with StateStore.open(path) as store:  # the next run compacts what was journaled
        assert store.state.serial == old.serial + 1
    assert not journal_of(path).exists()


def test_a_failed_journal_append_keeps_the_record_for_close(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StateStore.open(path) as store:
        store.record(ACME)
        fail_on(monkeypatch, "fsync", lambda fd: True)
        with pytest.raises(StateWriteError, match="cannot append"):
            store.record(BRAND)
        monkeypatch.undo()
        with pytest.raises(StateWriteError, match="unusable"):
            store.record(PRODUCT)
        assert len(journal_of(path).read_bytes().splitlines()) == 2  # the failed line cut back
    assert as_dict(load_state(path)) == {ACME.key: ACME, BRAND.key: BRAND, PRODUCT.key: PRODUCT}


# --- real crashes ---------------------------------------------------------------------------

CHILD = """
import sys
from pathlib import Path
from reconciler.core.resources import Kind, Record, ResourceKey
from reconciler.state.store import StateStore

store = StateStore.open(Path(sys.argv[1]))
for i in range(int(sys.argv[2])):
    key = ResourceKey(Kind.CLIENT, "JIRA", f"C{i:06}")
    store.record(Record(key, i, {"name": f"Client {i}"}))
    print(i + 1, flush=True)
print("closing", flush=True)
store.close()
print("closed", flush=True)
"""


def kill_child(path: Path, count: int, kill_after: str, delay: float = 0.0) -> int:
    """Run CHILD and SIGKILL it `delay` seconds after it prints `kill_after`.

    Returns the number of records it announced as recorded.
    """
    announced = 0
    command = [sys.executable, "-c", CHILD, str(path), str(count)]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        for line in iter(child.stdout.readline, ""):
            announced = int(line) if line.strip().isdigit() else announced
            if line.strip() == kill_after:
                break
        time.sleep(delay)
        child.send_signal(signal.SIGKILL)
        child.wait()
    return announced


def expected_clients(count: int) -> dict[ResourceKey, Record]:
    keys = [ResourceKey(Kind.CLIENT, "JIRA", f"C{i:06}") for i in range(count)]
    return {key: Record(key, i, {"name": f"Client {i}"}) for i, key in enumerate(keys)}


def readable(path: Path) -> Iterator[State]:
    yield load_state(path)
    with StateStore.open(path) as store:
        yield store.state


def test_sigkill_while_recording_loses_nothing_announced(path: Path) -> None:
    announced = kill_child(path, 1_000_000, "200")
    assert announced == 200
    for state in readable(path):
        count = len(state.records)
        assert count >= announced  # plus any it recorded before the kill landed
        assert dict(state.records) == expected_clients(count)
    assert json.loads(path.read_bytes())["serial"] == 1
    assert not journal_of(path).exists()


@pytest.mark.parametrize("delay", [0.0, 0.005, 0.01, 0.02, 0.04, 0.08])
def test_sigkill_while_compacting_loses_nothing(path: Path, delay: float) -> None:
    """The kill lands before, during or after the compaction: every outcome is complete."""
    count = 3000
    announced = kill_child(path, count, "closing", delay)
    assert announced == count
    for state in readable(path):
        assert dict(state.records) == expected_clients(count)
    assert json.loads(path.read_bytes())["format_version"] == FORMAT_VERSION
    assert list(path.parent.glob("*.tmp")) == []  # open() removed what the kill left


def test_open_removes_temporary_files_a_killed_writer_left(path: Path) -> None:
    write_records(path, ACME)
    leftovers = [
        path.with_name(f".{path.name}.x1.tmp"),
        path.with_name(f".{path.name}.journal.x2.tmp"),
    ]
    other = path.with_name("unrelated.tmp")
    for name in [*leftovers, other]:
        name.write_bytes(b"{")
    load_state(path)
    assert all(name.exists() for name in leftovers)  # readers never write
    with StateStore.open(path):
        assert [name.exists() for name in [*leftovers, other]] == [False, False, True]


# --- format_version 1 states: read, filled, written as 2 --------------------------------------


def _version_1(path: Path, *records: Record) -> bytes:
    """A state file as a reconciler of format_version 1 wrote it."""
    write_records(path, *records)
    data = path.read_bytes().replace(b'"format_version": 2', b'"format_version": 1', 1)
    path.write_bytes(data)
    return data


def test_a_version_1_state_stays_as_it_is_while_nothing_changes(path: Path) -> None:
    data = _version_1(path, ACME, BRAND)
    assert {record.file for record in load_state(path).records.values()} == {None}
    with StateStore.open(path) as store:
        store.fill_files({ACME.key: "manifests/a.yaml", BRAND.key: "manifests/b.yaml"})
    assert path.read_bytes() == data  # a fill alone writes nothing


def test_files_are_filled_when_the_state_is_written_and_it_becomes_version_2(path: Path) -> None:
    _version_1(path, ACME, BRAND)
    product = PRODUCT._replace(file="manifests/p.yaml")
    with StateStore.open(path) as store:
        store.fill_files({ACME.key: "manifests/a.yaml", PRODUCT.key: "manifests/old.yaml"})
        store.record(product)  # recorded with its own file, which a fill never overrides
        assert store.state.records[ACME.key].file is None  # only when written
    document = json.loads(path.read_bytes())
    assert document["format_version"] == FORMAT_VERSION == 2
    files = {entry["id"]: entry.get("file") for entry in document["resources"]}
    assert files == {"ACC-1": "manifests/a.yaml", "BR-1": None, "P-1": "manifests/p.yaml"}
    assert load_state(path).records[ACME.key] == ACME._replace(file="manifests/a.yaml")


class CountingMedium:
    """A Medium that keeps what it was given and counts the durable points."""

    def __init__(self) -> None:
        self.lines: list[bytes] = []
        self.synced = 0  # len(lines) at the last durable point
        self.syncs = 0

    def append(self, entry: journal.Entry, line: bytes, *, sync: bool) -> None:
        self.lines.append(line)
        if sync:
            self.sync()

    def sync(self) -> None:
        self.syncs += 1
        self.synced = len(self.lines)

    def compact(self, state: State | None, filled: Collection[ResourceKey]) -> None:
        self.synced = len(self.lines)

    def replace(self, state: State) -> None:
        raise AssertionError("not used")

    def release(self) -> None:
        pass


def test_a_deferred_group_becomes_durable_with_the_next_one_or_at_close() -> None:
    medium = CountingMedium()
    store = StateStore(State.empty(), medium)
    with store.batch():
        store.record(ACME)
        store.defer()
    assert (len(medium.lines), medium.synced, medium.syncs) == (1, 0, 0)
    with store.batch():
        store.intend(BRAND.key)
    assert (medium.synced, medium.syncs) == (2, 1)  # both groups, one durable point
    with store.batch():
        store.resolve(BRAND.key)
        store.defer()
    assert medium.synced == 2
    store.close()
    assert medium.synced == 3


def test_defer_outside_a_group_changes_nothing() -> None:
    medium = CountingMedium()
    store = StateStore(State.empty(), medium)
    store.defer()
    store.record(ACME)
    assert medium.synced == 1
    with store.batch():
        store.record(BRAND)
    assert medium.synced == 2
