"""The journal beside the state file (state/journal.py, through the store): an interrupted
apply's journal replayed or refused, and creates in doubt (intents) kept until settled."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from reconciler.core.resources import Record, ResourceKey
from reconciler.errors import StateError, StateWriteError
from reconciler.state import journal
from reconciler.state.codec import State
from reconciler.state.store import StateStore, load_state
from tests.builders import key
from tests.paths import ROOT
from tests.state.samples import (
    ACME,
    BRAND,
    EMPTY,
    GOLDEN,
    JIRA_CLIENT,
    PRODUCT,
    as_dict,
    fail_on,
    journal_of,
    leave_journal,
    snapshot,
    write_records,
)
from tests.state.spies import fsyncs_watched

# --- journal recovery -----------------------------------------------------------------------


def test_load_state_replays_the_journal_without_writing(path: Path) -> None:
    base = write_records(path, ACME)
    leave_journal(path, base.lineage, 1, journal.put_line(BRAND), journal.forget_line(ACME.key))
    before = snapshot(path.parent)
    state = load_state(path)
    assert as_dict(state) == {BRAND.key: BRAND}
    assert (state.lineage, state.serial) == (base.lineage, 1)
    assert snapshot(path.parent) == before


def test_open_compacts_a_leftover_journal(path: Path) -> None:
    base = write_records(path, ACME)
    leave_journal(path, base.lineage, 1, journal.put_line(BRAND))
    with StateStore.open(path) as store:
        assert not journal_of(path).exists()
        assert store.state.serial == 2
        on_disk = load_state(path)
        assert as_dict(on_disk) == {ACME.key: ACME, BRAND.key: BRAND}
        assert on_disk.serial == 2
    assert load_state(path).serial == 2  # nothing recorded after: no second write


def test_a_journal_without_a_state_file_is_the_first_apply(path: Path) -> None:
    leave_journal(path, "f" * 32, 0, journal.put_line(ACME))
    assert not path.exists()
    state = load_state(path)
    assert (state.lineage, state.serial, as_dict(state)) == ("f" * 32, 0, {ACME.key: ACME})
    with StateStore.open(path):
        pass
    assert load_state(path) == State("f" * 32, 1, {ACME.key: ACME})


def test_a_journal_beyond_a_missing_state_file_is_refused(path: Path) -> None:
    leave_journal(path, "f" * 32, 3, journal.put_line(ACME))
    with pytest.raises(StateError, match="is missing"):
        load_state(path)


TORN: list[tuple[str, bytes]] = [
    ("cut mid-line", journal.put_line(PRODUCT)[:25]),
    ("cut before the newline", journal.put_line(PRODUCT)[:-1]),
    ("zeros", b"\x00\x00\x00\x00\n"),
    ("half a character", '{"op":"put","id":"é'.encode()[:-1]),
]


@pytest.mark.parametrize("tail", [t[1] for t in TORN], ids=[t[0] for t in TORN])
def test_a_torn_last_line_is_ignored(path: Path, tail: bytes) -> None:
    base = write_records(path, ACME)
    leave_journal(path, base.lineage, 1, journal.put_line(BRAND), tail)
    assert as_dict(load_state(path)) == {ACME.key: ACME, BRAND.key: BRAND}
    with StateStore.open(path):
        pass
    assert as_dict(load_state(path)) == {ACME.key: ACME, BRAND.key: BRAND}


def test_a_torn_header_is_an_empty_journal(path: Path) -> None:
    base = write_records(path, ACME)
    journal_of(path).write_bytes(journal.header_line(base.lineage, 1)[:10])
    assert load_state(path) == base
    with StateStore.open(path):
        assert not journal_of(path).exists()
    assert load_state(path) == base


CORRUPT_JOURNALS: list[tuple[str, bytes, str]] = [
    ("garbage", b"garbage\n", "line 2 is not valid JSON"),
    ("torn then more", journal.put_line(PRODUCT)[:20] + b"\n", "line 2 is not valid JSON"),
    ("wrong shape", b'{"op": "put", "kind": "client"}\n', "line 2"),
    ("unknown op", b'{"op": "merge"}\n', "line 2"),
    ("duplicate key", b'{"op": "forget", "op": "forget"}\n', "line 2 is corrupt"),
    ("nested deep", b"[" * 100_000 + b"]" * 100_000 + b"\n", "line 2 is corrupt: arrays or"),
    (
        "a long number",
        b'{"op": "put", "cor_id": ' + b"9" * 5000 + b"}\n",
        "line 2 is corrupt: a number of more than",
    ),
    (
        "a lone surrogate",
        b'{"op":"intent","kind":"client","source":"JIRA","id":"\\ud800"}\n',
        "line 2.*intent.id",
    ),
    ("an id of dots", b'{"op":"intent","kind":"client","source":"JIRA","id":".."}\n', "folder"),
    (
        "an unknown source",
        b'{"op":"forget","kind":"client","source":"NOPE","id":"X"}\n',
        "unknown source 'NOPE'",
    ),
    (
        "a negative cor_id",
        b'{"op":"put","kind":"client","source":"JIRA","id":"X","cor_id":-1,"attributes":{}}\n',
        "line 2: put.cor_id: Input should be greater than or equal to 0",
    ),
    (
        "an unknown attribute",
        b'{"op":"put","kind":"brand","source":"JIRA","id":"X","cor_id":1,'
        b'"attributes":{"website":"w"}}\n',
        "'website' is not a field of a brand",
    ),
    (
        "an intent of a recorded key",
        journal.intent_line(ACME.key),
        "line 2 is corrupt: an intent to create",
    ),
]


@pytest.mark.parametrize(
    ("middle", "expected"), [c[1:] for c in CORRUPT_JOURNALS], ids=[c[0] for c in CORRUPT_JOURNALS]
)
def test_a_corrupt_line_before_the_last_is_refused(
    path: Path, middle: bytes, expected: str
) -> None:
    base = write_records(path, ACME)
    leave_journal(path, base.lineage, 1, middle, journal.put_line(BRAND))
    before = snapshot(path.parent)
    with pytest.raises(StateError, match=expected) as info:
        load_state(path)
    assert str(journal_of(path)) in str(info.value)
    with pytest.raises(StateError):
        StateStore.open(path)
    assert snapshot(path.parent) == before


def test_a_journal_of_another_state_is_refused(path: Path) -> None:
    write_records(path, ACME)
    leave_journal(path, "0" * 32, 1, journal.put_line(BRAND))
    before = snapshot(path.parent)
    with pytest.raises(StateError, match="not replayed") as info:
        load_state(path)
    assert "0" * 32 in str(info.value)
    with pytest.raises(StateError, match="not replayed"):
        StateStore.open(path)
    assert snapshot(path.parent) == before


@pytest.mark.parametrize("serial", [0, 7])
def test_a_journal_of_another_serial_is_refused(path: Path, serial: int) -> None:
    base = write_records(path, ACME)
    write_records(path, BRAND)  # serial 2
    leave_journal(path, base.lineage, serial, journal.put_line(PRODUCT))
    with pytest.raises(StateError, match="not replayed"):
        load_state(path)


def test_a_journal_ahead_of_the_state_is_refused_even_if_it_changes_nothing(path: Path) -> None:
    """The state file was rolled back (restored from an older copy) under its journal."""
    base = write_records(path, ACME)
    leave_journal(path, base.lineage, 7, journal.put_line(ACME))
    with pytest.raises(StateError, match="not replayed"):
        load_state(path)


def test_a_torn_last_line_does_not_excuse_a_corrupt_one_before_it(path: Path) -> None:
    base = write_records(path, ACME)
    torn = journal.put_line(PRODUCT)[:30]
    leave_journal(path, base.lineage, 1, journal.put_line(BRAND), b"garbage\n", torn)
    with pytest.raises(StateError, match="line 3 is not valid JSON"):
        load_state(path)


def test_a_journal_already_compacted_is_dropped(path: Path) -> None:
    """A crash between writing the compacted state and removing the journal."""
    base = write_records(path, ACME)
    write_records(path, BRAND, PRODUCT)
    compacted = load_state(path)
    leave_journal(path, base.lineage, 1, journal.put_line(BRAND), journal.put_line(PRODUCT))
    assert load_state(path) == compacted
    with StateStore.open(path):
        assert not journal_of(path).exists()
    assert load_state(path) == compacted


def test_an_older_journal_not_in_the_state_is_refused(path: Path) -> None:
    """The state was replaced by a later one (git pull) that lacks the journal's changes."""
    base = write_records(path, ACME)
    write_records(path, BRAND)
    leave_journal(path, base.lineage, 1, journal.put_line(PRODUCT))
    with pytest.raises(StateError, match="not replayed"):
        load_state(path)


# --- creates in doubt -----------------------------------------------------------------------

A, B, P = ACME.key, BRAND.key, PRODUCT.key


def intent(key: ResourceKey) -> bytes:
    return journal.intent_line(key)


def resolve(key: ResourceKey) -> bytes:
    return journal.resolve_line(key)


def doubt_entry(key: ResourceKey) -> dict[str, str]:
    return {"kind": key.kind.value, "source": key.source, "id": key.id}


def test_state_has_no_doubts_by_default(path: Path) -> None:
    assert State("x", 0, {}).in_doubt == frozenset()
    assert State.empty().in_doubt == frozenset()
    path.write_text(GOLDEN)
    assert load_state(path).in_doubt == frozenset()
    path.write_text(GOLDEN.replace('  "serial": 1,', '  "serial": 1,\n  "in_doubt": [],'))
    assert load_state(path).in_doubt == frozenset()


@pytest.mark.parametrize("op", ["intend", "resolve"])
def test_intend_and_resolve_append_one_fsynced_line(path: Path, op: str) -> None:
    with StateStore.open(path) as store:
        store.record(JIRA_CLIENT)
        with fsyncs_watched() as synced:
            getattr(store, op)(ACME.key)
        info = journal_of(path).stat()
        assert (info.st_ino, info.st_size) in synced
        last = journal_of(path).read_bytes().splitlines()[-1]
        expected_op = "intent" if op == "intend" else "resolve"
        assert json.loads(last) == {"op": expected_op, **doubt_entry(A)}


@pytest.mark.parametrize(
    ("settle", "recorded_after"),
    [
        (lambda store: store.record(ACME), {ACME.key: ACME}),
        (lambda store: store.resolve(A), {}),
        (lambda store: store.forget(A), {}),
    ],
    ids=["record", "resolve", "forget"],
)
def test_an_intent_settled_in_the_same_run_is_not_in_doubt(
    path: Path,
    settle: Callable[[StateStore], None],
    recorded_after: dict[ResourceKey, Record],
) -> None:
    write_records(path, JIRA_CLIENT)
    before = path.read_bytes()
    with StateStore.open(path) as store:
        store.intend(A)
        assert store.state.in_doubt == {A}
        settle(store)
        assert store.state.in_doubt == frozenset()
    state = load_state(path)
    assert state.in_doubt == frozenset()
    assert as_dict(state) == {JIRA_CLIENT.key: JIRA_CLIENT, **recorded_after}
    if not recorded_after:  # nothing changed, taken together: nothing written
        assert path.read_bytes() == before
    assert "in_doubt" not in json.loads(path.read_bytes())


def test_in_doubt_is_a_snapshot_that_cannot_be_changed(path: Path) -> None:
    with StateStore.open(path) as store:
        store.intend(A)
        seen = store.state.in_doubt
        assert store.state.in_doubt is seen  # not rebuilt while nothing changes
        store.intend(B)
        assert seen == {A}
        assert store.state.in_doubt == {A, B}
        assert isinstance(seen, frozenset)


REPLAYS: list[tuple[str, list[bytes], set[ResourceKey], list[Record]]] = [
    ("intent", [intent(A)], {A}, []),
    ("intent twice", [intent(A), intent(A)], {A}, []),
    ("intent, put", [intent(A), journal.put_line(ACME)], set(), [ACME]),
    ("intent, resolve", [intent(A), resolve(A)], set(), []),
    ("intent, forget", [intent(A), journal.forget_line(A)], set(), []),
    ("intent, resolve, intent", [intent(A), resolve(A), intent(A)], {A}, []),
    ("resolve alone", [resolve(A)], set(), []),
    ("two keys", [intent(B), intent(A), journal.put_line(BRAND)], {A}, [BRAND]),
]


@pytest.mark.parametrize(
    ("lines", "doubts", "records"), [r[1:] for r in REPLAYS], ids=[r[0] for r in REPLAYS]
)
def test_a_journal_replays_its_doubts(
    path: Path, lines: list[bytes], doubts: set[ResourceKey], records: list[Record]
) -> None:
    base = write_records(path, JIRA_CLIENT)
    leave_journal(path, base.lineage, 1, *lines)
    before = snapshot(path.parent)
    expected = {JIRA_CLIENT.key: JIRA_CLIENT, **{record.key: record for record in records}}
    state = load_state(path)
    assert state.in_doubt == doubts
    assert as_dict(state) == expected
    assert snapshot(path.parent) == before  # plan writes nothing
    with StateStore.open(path) as store:
        assert store.state.in_doubt == doubts
        assert not journal_of(path).exists()
    document = json.loads(path.read_bytes())
    in_file = [doubt_entry(key) for key in sorted(doubts, key=ResourceKey.sort_key)]
    assert document.get("in_doubt", []) == in_file
    assert load_state(path).in_doubt == doubts


DOUBTS_GOLDEN = """\
{
  "format_version": 2,
  "lineage": "LINEAGE",
  "serial": 1,
  "resources": [],
  "in_doubt": [
    {
      "kind": "client",
      "source": "JIRA",
      "id": "Z-9"
    },
    {
      "kind": "client",
      "source": "SALESFORCE",
      "id": "ACC-1"
    },
    {
      "kind": "product",
      "source": "SALESFORCE",
      "id": "P-1"
    }
  ]
}
"""


def test_in_doubt_survives_compaction_until_a_record_clears_it(path: Path) -> None:
    with StateStore.open(path) as store:
        for key in (P, A, JIRA_CLIENT.key):  # against apply order on purpose
            store.intend(key)
    text = path.read_text(encoding="utf-8")
    assert text == DOUBTS_GOLDEN.replace("LINEAGE", load_state(path).lineage)
    assert json.dumps(json.loads(text), indent=2, ensure_ascii=False) + "\n" == text
    with StateStore.open(path) as store:  # a later run: still in doubt, nothing rewritten
        assert store.state.in_doubt == {P, A, JIRA_CLIENT.key}
    assert path.read_text(encoding="utf-8") == text
    with StateStore.open(path) as store:
        store.record(ACME)  # adopted
        store.resolve(P)
    state = load_state(path)
    assert state.in_doubt == {JIRA_CLIENT.key}
    assert state.serial == 2
    both = path.read_text(encoding="utf-8")  # records and doubts: still json.dumps's bytes
    assert json.dumps(json.loads(both), indent=2, ensure_ascii=False) + "\n" == both
    with StateStore.open(path) as store:
        store.record(JIRA_CLIENT)
    assert "in_doubt" not in json.loads(path.read_bytes())
    assert as_dict(load_state(path)) == {ACME.key: ACME, JIRA_CLIENT.key: JIRA_CLIENT}


def test_files_without_doubts_are_byte_identical(path: Path) -> None:
    with StateStore.open(path) as store:
        for record in (PRODUCT, BRAND, ACME, EMPTY):
            store.intend(record.key)
            store.record(record)
        store.intend(JIRA_CLIENT.key)
        store.resolve(JIRA_CLIENT.key)
    assert path.read_text(encoding="utf-8") == GOLDEN.replace("LINEAGE", load_state(path).lineage)


def test_sigkill_after_an_intent_leaves_the_create_in_doubt(path: Path) -> None:
    write_records(path, ACME)
    intender = """
import sys, time
from pathlib import Path
from reconciler.core.resources import Kind, ResourceKey
from reconciler.state.store import StateStore

store = StateStore.open(Path(sys.argv[1]))
store.intend(ResourceKey(Kind.CLIENT, "JIRA", "C-1"))
print("intended", flush=True)
time.sleep(60)
"""
    command = [sys.executable, "-c", intender, str(path)]
    with subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, text=True) as child:
        assert child.stdout is not None
        assert child.stdout.readline() == "intended\n"
        child.send_signal(signal.SIGKILL)
        child.wait()
    lost = key("client", "JIRA", "C-1")
    assert load_state(path).in_doubt == {lost}
    with StateStore.open(path) as store:
        assert store.state.in_doubt == {lost}
    assert json.loads(path.read_bytes())["in_doubt"] == [doubt_entry(lost)]


def test_a_compacted_journal_with_doubts_is_dropped(path: Path) -> None:
    base = write_records(path, ACME)
    with StateStore.open(path) as store:
        store.intend(B)
        store.intend(P)
        store.record(BRAND)
    compacted = load_state(path)
    leave_journal(path, base.lineage, 1, intent(B), intent(P), journal.put_line(BRAND))
    assert load_state(path) == compacted
    with StateStore.open(path):
        assert not journal_of(path).exists()
    assert load_state(path) == compacted


def test_a_journal_one_behind_with_a_doubt_the_state_lacks_is_refused(path: Path) -> None:
    base = write_records(path, ACME)
    write_records(path, BRAND)
    leave_journal(path, base.lineage, 1, intent(P))
    with pytest.raises(StateError, match="not replayed"):
        load_state(path)


@pytest.mark.parametrize("ext_id", ["", "\ud800", ".", "..", " X", "X\t", "X\x1b[2J", "X\u202e"])
def test_an_intent_that_would_not_read_back_is_refused(path: Path, ext_id: str) -> None:
    with StateStore.open(path) as store:
        with pytest.raises(StateError, match="cannot journal intent"):
            store.intend(key("client", "JIRA", ext_id))
        assert store.state.in_doubt == frozenset()
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name + ".lock"]


def test_a_failed_intent_is_kept_in_doubt_for_close(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with StateStore.open(path) as store:
        store.record(ACME)
        fail_on(monkeypatch, "fsync", lambda fd: True)
        with pytest.raises(StateWriteError, match="cannot append"):
            store.intend(B)  # apply must not send the create
        monkeypatch.undo()
    assert load_state(path).in_doubt == {B}  # at worst, one needless adoption attempt


def test_a_recorded_key_is_never_put_in_doubt(path: Path) -> None:
    """A key is in doubt only while it is not recorded: apply creates unrecorded keys only."""
    with StateStore.open(path) as store:
        store.record(ACME)
        with pytest.raises(StateError, match=r"cannot journal a create of .*recorded \(cor_id"):
            store.intend(ACME.key)
        assert store.state.in_doubt == frozenset()
    assert load_state(path).in_doubt == frozenset()


def test_a_closed_store_refuses_intents(path: Path) -> None:
    store = StateStore.open(path)
    store.close()
    with pytest.raises(RuntimeError):
        store.intend(A)
    with pytest.raises(RuntimeError):
        store.resolve(A)


# --- the manifest file of a record (format_version 2, journal 2) ------------------------------

FILED = BRAND._replace(file="manifests/salesforce/brands.yaml")


def test_a_put_journals_the_file_and_replays_it(path: Path) -> None:
    base = write_records(path, ACME)
    line = journal.put_line(FILED)
    assert json.loads(line)["file"] == "manifests/salesforce/brands.yaml"
    assert list(json.loads(line))[-1] == "file"  # after the fields it had before
    leave_journal(path, base.lineage, 1, line)
    assert load_state(path).records[BRAND.key] == FILED
    with StateStore.open(path):
        pass  # compacted
    assert load_state(path).records[BRAND.key] == FILED
    assert '"file": "manifests/salesforce/brands.yaml"' in path.read_text(encoding="utf-8")


def test_a_journal_of_version_1_is_read(path: Path) -> None:
    base = write_records(path, ACME)
    header = json.dumps({"journal": 1, "lineage": base.lineage, "serial": 1}).encode() + b"\n"
    journal_of(path).write_bytes(header + journal.put_line(BRAND))
    assert load_state(path).records[BRAND.key] == BRAND
    assert json.loads(journal.header_line("x", 0))["journal"] == journal.JOURNAL_VERSION == 2


@pytest.mark.parametrize("file", ["", "a\x1b[2J.yaml", "a" * 4097, "\udcff.yaml"])
def test_a_file_that_would_not_read_back_is_not_journaled(path: Path, file: str) -> None:
    with pytest.raises(StateError, match=f"cannot record {BRAND.key}: file"):
        journal.put_line(BRAND._replace(file=file))


def test_a_journaled_file_that_breaks_the_rules_is_refused(path: Path) -> None:
    base = write_records(path, ACME)
    line = journal.put_line(FILED).replace(b"manifests/", b"manifests\\u001b/")
    leave_journal(path, base.lineage, 1, line, journal.forget_line(ACME.key))
    with pytest.raises(StateError, match=r"line 2: put.file: cannot hold the character U\+001B"):
        load_state(path)
