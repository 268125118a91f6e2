"""The state store: the only memory of what reconciler has created in COR (docs/state.md).

Imperative shell: the only module that touches the state file, its journal (through
`journal.py`), its backup and its lock (through `lock.py`). `plan` reads with `load_state`;
commands that write (apply, import, state rm) go through `StateStore`. The shapes live in
`codec.py` (and, to judge and explain a file that is not plainly valid, `schema.py`). A state
path that is a symbolic link stands for the file it points to (`files.real_path`): its journal,
backup and lock are beside that file, and writes replace that file, not the link. Imports the
standard library, core values, `errors`, `files`, `memory` and the state's modules.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Protocol

from reconciler import files
from reconciler.core.resources import Record, ResourceKey
from reconciler.errors import StateError
from reconciler.memory import no_gc
from reconciler.state import journal
from reconciler.state.codec import FORMAT_VERSION, State, plain_state, render_state
from reconciler.state.lock import HeldLock, acquire


def load_state(path: Path) -> State:
    """The state at `path` with its journal replayed in memory; writes nothing, takes no lock.

    A missing file is an empty state. StateError if the file or its journal is unreadable.
    """
    return _read(files.real_path(path)).state


def _journal_path(path: Path) -> Path:
    return path.with_name(path.name + ".journal")


def _backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".backup")


@dataclass(frozen=True)
class Loaded:
    state: State  # the state with the journal replayed; serial is the stored state's
    changed: bool  # the journal changes the state, so compacting must write it
    has_journal: bool  # a journal exists beside the state


@dataclass(frozen=True)
class Places:
    """How messages name a state's parts, whatever store holds them."""

    state: str  # the state, e.g. its path
    journal: str  # its journal
    restore: str  # how to put back a previous version, e.g. "see reconciler.state.json.backup"


def _places(path: Path) -> Places:
    return Places(str(path), str(_journal_path(path)), f"see {_backup_path(path)}")


def _read(path: Path) -> Loaded:
    with no_gc():
        on_disk = _read_state_file(path)
        return replayed(_places(path), on_disk, journal.read_journal(_journal_path(path)))


def replayed(places: Places, stored: State | None, found: journal.JournalFile | None) -> Loaded:
    """The state a store holds (`stored`, None if there is none) with its journal (`found`,
    None if there is none) replayed in memory. StateError if they do not belong together."""
    if found is None or found.header is None:
        return Loaded(stored or State.empty(), changed=False, has_journal=found is not None)
    base = _base_for(places, stored, found.header)
    ledger = journal.Ledger(dict(base.records), set(base.in_doubt))
    ledger.replay(found.entries)
    journal.check_replayed(places.journal, ledger, found.entries)
    changed = ledger.changed()
    if base.serial == found.header.serial:
        records = MappingProxyType(ledger.records)
        state = State(base.lineage, base.serial, records, frozenset(ledger.in_doubt))
        return Loaded(state, changed, has_journal=True)
    if changed:  # the state is one write ahead of the journal, yet lacks its changes
        raise _mismatch(places, found.header, base)
    return Loaded(base, changed=False, has_journal=True)  # compacted before a crash: leftover


def _base_for(places: Places, stored: State | None, header: journal.Header) -> State:
    """The state the journal extends: its own serial, or one write later if already compacted."""
    if stored is None:
        if header.serial == 0:  # the first apply on a new state, interrupted
            return State(header.lineage, 0, MappingProxyType({}))
        raise StateError(
            f"{places.state} is missing but its journal {places.journal} extends serial "
            f"{header.serial} of it; restore the state ({places.restore}) and run again"
        )
    same_lineage = stored.lineage == header.lineage
    if same_lineage and stored.serial in (header.serial, header.serial + 1):
        return stored
    raise _mismatch(places, header, stored)


def _mismatch(places: Places, header: journal.Header, state: State) -> StateError:
    return StateError(
        f"the journal {places.journal} extends state {header.lineage} serial "
        f"{header.serial}, but {places.state} is state {state.lineage} serial {state.serial}; "
        "it was not replayed. If the state was replaced (git checkout, restore), put back the "
        "version the journal extends and run again. To drop the journal's changes instead, "
        "move the journal away (what they created in COR stays there, unknown to the state)."
    )


def _read_state_file(path: Path) -> State | None:
    data = files.read_if_exists(path, "the state file")
    if data is None:
        return None
    hint = f" (the previous version is in {_backup_path(path)})"
    return parse_state(str(path), data, hint if _backup_path(path).exists() else "")


def parse_state(name: str, data: bytes, hint: str = "") -> State:
    """The state in a state file's bytes, called `name` in errors (its path, or a store's
    name for it); `hint` ends each error (where a previous version is). StateError if they
    are not a valid state file."""
    document = _parse(name, data, hint)
    del data
    return state_of(name, document)


def state_of(name: str, document: dict[str, Any]) -> State:
    """The state a state file's JSON document holds (also a store's rows, as that document);
    StateError saying what is wrong, calling it `name`, if it is not valid."""
    return plain_state(document) or _judged(name, document)


def _judged(path: str, document: dict[str, Any]) -> State:
    """A document that is not plainly valid, judged by the models: the State if they accept
    it, else StateError saying what is wrong."""
    from pydantic import ValidationError

    from reconciler.state import schema

    try:
        model = schema.StateFile.model_validate(document)
    except ValidationError as exc:
        raise StateError(f"{path} is not a valid state file: {schema.describe(exc)}") from exc
    records: dict[ResourceKey, Record] = {}
    duplicates = []
    for index, entry in enumerate(model.resources):
        record = entry.record()
        if record.key in records:
            duplicates.append(f"resources.{index} is a second entry for {record.key}")
        records[record.key] = record
    in_doubt: set[ResourceKey] = set()
    for index, fields in enumerate(model.in_doubt):
        if fields.key() in in_doubt:
            duplicates.append(f"in_doubt.{index} is a second entry for {fields.key()}")
        if fields.key() in records:
            duplicates.append(
                f"in_doubt.{index}: {fields.key()} is recorded too (a key is in doubt only "
                "while it is not recorded)"
            )
        in_doubt.add(fields.key())
    if duplicates:
        raise StateError(f"{path} is not a valid state file: {'; '.join(duplicates[:5])}")
    return State(model.lineage, model.serial, MappingProxyType(records), frozenset(in_doubt))


def _parse(path: str, data: bytes, hint: str) -> dict[str, Any]:
    try:
        document = files.loads_strictly(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise StateError(f"{path} is not UTF-8 text: {exc.reason}{hint}") from exc
    except files.RefusedJsonError as exc:  # a key twice, nested too deep, a number too long
        raise StateError(f"{path} is not a valid state file: {exc}{hint}") from exc
    except json.JSONDecodeError as exc:
        raise StateError(
            f"{path} is not valid JSON, perhaps truncated or badly merged: {exc.msg} "
            f"(line {exc.lineno}, column {exc.colno}){hint}"
        ) from exc
    if not isinstance(document, dict):
        raise StateError(f"{path} is not a state file: it holds no JSON object{hint}")
    version = document.get("format_version")
    if isinstance(version, int) and not isinstance(version, bool) and version > FORMAT_VERSION:
        raise StateError(
            f"{path} has format_version {version}, written by a newer reconciler; this one "
            f"reads format_version {FORMAT_VERSION} and earlier. Upgrade reconciler."
        )
    return document


def _write_state(path: Path, state: State) -> None:
    with no_gc():
        data = render_state(state)
    with files.os_errors(f"write the state file {path}"):
        files.write_atomically(path, data, backup=_backup_path(path))


def _remove_journal(path: Path) -> None:
    with files.os_errors(f"remove the journal {_journal_path(path)}"):
        files.remove_quietly(_journal_path(path))
        files.fsync_dir(path.parent)


def _ignore(message: str) -> None:
    pass


class Medium(Protocol):
    """Where a StateStore writes: a state file and its journal, or a remote store (docs/state.md,
    docs/state-backends.md). Called by one thread; the lock is held from open to release()."""

    def append(self, entry: journal.Entry, line: bytes, *, sync: bool) -> None:
        """Make one change (`line` is its journal line); with `sync`, durable before it
        returns, with every change before it. StateWriteError if it cannot be written."""

    def sync(self) -> None:
        """Make every change appended so far durable (a group commit)."""

    def compact(self, state: State | None, filled: Collection[ResourceKey]) -> None:
        """At the end of a run: write `state` (serial already one more) as the stored state and
        drop the journal; None: nothing changed, only drop the journal. `filled`: the records
        whose `file` only this compaction gives them (StateStore.fill_files)."""

    def replace(self, state: State) -> None:
        """Make `state` (its lineage and serial as given) the stored state, whole, at once,
        and drop any journal (state push, state migrate)."""

    def release(self) -> None:
        """Let the lock go and close what the medium holds. Never raises."""


class _FileMedium:
    """The state file: a journal beside it, created at the first change, fsynced per change
    or per group; the whole file rewritten atomically at compaction."""

    def __init__(self, path: Path, state: State, lock: HeldLock) -> None:
        self._path = path
        self._lineage, self._serial = state.lineage, state.serial
        self._lock = lock
        self._journal: journal.JournalWriter | None = None

    def append(self, entry: journal.Entry, line: bytes, *, sync: bool) -> None:
        if self._journal is None:
            path = _journal_path(self._path)
            self._journal = journal.JournalWriter.create(path, self._lineage, self._serial)
        self._journal.append(line, sync=sync)

    def sync(self) -> None:
        if self._journal is not None:
            self._journal.sync()

    def compact(self, state: State | None, filled: Collection[ResourceKey]) -> None:
        if state is not None:
            _write_state(self._path, state)
        if self._journal is not None:
            _remove_journal(self._path)

    def replace(self, state: State) -> None:
        _write_state(self._path, state)
        self.compact(None, ())

    def release(self) -> None:
        if self._journal is not None:
            self._journal.close()
        self._lock.release()


class StateStore:
    """The state for commands that write it (apply): each change is journaled, then compacted.

    Use as a context manager, or call close(): it writes everything recorded into the state.
    One thread (the apply's calling thread) calls its methods; it is not thread-safe. Where
    the changes go is its Medium: the state file (`open`) or a remote store
    (`state/backends.py`).
    """

    def __init__(self, state: State, medium: Medium) -> None:
        self._lineage = state.lineage
        self._serial = state.serial
        self._ledger = journal.Ledger(dict(state.records), set(state.in_doubt))
        self._in_doubt: frozenset[ResourceKey] | None = state.in_doubt  # None: to be made
        self._medium = medium
        self._closed = False
        self._batching = 0
        self._deferred = False  # the current group need not be durable at its end (defer)
        self._fills: dict[ResourceKey, str] = {}

    @classmethod
    def open(
        cls, path: Path, *, command: str = "reconciler", warn: Callable[[str], None] = _ignore
    ) -> StateStore:
        """Lock and load the state file; a journal left by an interrupted run is compacted first.

        RefusedError (naming the holder) if another run holds the lock. A lock left behind by
        a dead run on this host is taken over, and `warn` says whose it was. `command` is what
        the lock file tells other runs this one is doing, e.g. "reconciler apply manifests".
        """
        path = files.real_path(path)  # a link and its target: one state, one lock
        lock = acquire(path, command, warn)
        try:
            with files.os_errors(f"remove temporary files beside {path}"):
                files.remove_temps(path)
            loaded = _read(path)
            state = loaded.state
            if loaded.changed:
                state = State(state.lineage, state.serial + 1, state.records, state.in_doubt)
                _write_state(path, state)
            if loaded.has_journal:
                _remove_journal(path)
        except BaseException:
            lock.release()
            raise
        return cls(state, _FileMedium(path, state, lock))

    @property
    def state(self) -> State:
        """The current view, everything journaled so far included: `records` is a live,
        read-only view; `in_doubt` is the set as of this call."""
        if self._in_doubt is None:
            self._in_doubt = frozenset(self._ledger.in_doubt)
        records = MappingProxyType(self._ledger.records)
        return State(self._lineage, self._serial, records, self._in_doubt)

    def intend(self, key: ResourceKey) -> None:
        """Journal that a create of `key` is about to be sent: durable (flushed and fsynced)
        before it returns, so the request may leave. Until record(), resolve() or forget() of
        `key`, the create is in doubt, and stays so across a crash.

        If writing the journal fails (StateWriteError), do not send the create; the key is
        kept in doubt in memory and close() writes it with the whole state. StateError for a
        key that is recorded: it is never created again, and a key is never both.
        """
        record = self._ledger.records.get(key)
        if record is not None:
            raise StateError(
                f"cannot journal a create of {key}: it is recorded (cor_id {record.cor_id})"
            )
        self._change(journal.Entry("intent", key), journal.intent_line(key))

    def record(self, record: Record) -> None:
        """Durable before it returns: one journal line, flushed and fsynced. The key is no
        longer in doubt.

        If writing the journal fails (StateWriteError), the record is still kept in memory and
        close() tries to write it with the whole state.
        """
        line = journal.put_line(record)
        attributes = MappingProxyType(dict(record.attributes))
        frozen = record._replace(attributes=attributes)
        self._change(journal.Entry("put", record.key, frozen), line)

    def resolve(self, key: ResourceKey) -> None:
        """COR refused the create of `key` (it certainly did not happen): no longer in doubt.

        Fsynced like the others: resolves are rare, and an unsynced line is the one way a
        power loss could leave a hole before later lines, which would make the journal
        unreadable.
        """
        self._change(journal.Entry("resolve", key), journal.resolve_line(key))

    def forget(self, key: ResourceKey) -> None:
        """Remove the record for `key` and any doubt about it, durably, as record() does."""
        self._change(journal.Entry("forget", key), journal.forget_line(key))

    def fill_files(self, files: Mapping[ResourceKey, str]) -> None:
        """Give each record recorded without a file (a format_version 1 state's) its file
        from `files` (`core/scope.files_to_fill`) when close() writes the state because
        something else changed. Not journaled: a fill lost to a crash is made again by the
        next run, and a record recorded meanwhile keeps its own (docs/state.md)."""
        self._fills.update(files)

    def _filled(self, records: Mapping[ResourceKey, Record]) -> Mapping[ResourceKey, Record]:
        if not self._fills:
            return records
        filled = dict(records)
        for key, file in self._fills.items():
            record = filled.get(key)
            if record is not None and record.file is None:
                filled[key] = record._replace(file=file)
        return MappingProxyType(filled)

    def _change(self, entry: journal.Entry, line: bytes) -> None:
        if self._closed:
            raise RuntimeError("the state store is closed")
        if self._ledger.apply(entry):
            self._in_doubt = None
        self._medium.append(entry, line, sync=not self._batching)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Group commit: the changes made inside are durable together, with one fsync, when the
        block ends (not one by one). Callers act on them — send the creates intended, start
        the dependants of what was recorded — only after the block."""
        self._batching += 1
        try:
            yield
        finally:
            self._batching -= 1
            if not self._batching:
                deferred, self._deferred = self._deferred, False
                if not deferred:
                    self._medium.sync()

    def defer(self) -> None:
        """Inside batch(): this group need not be durable when the block ends, because nothing
        waits on it — no create it intends is sent now, no record in it lets a change start (a
        product's, whose intent is durable: after a crash it is in doubt, and the next apply
        adopts it). It becomes durable with the next group that is not deferred, with any
        change made outside a batch, or when close() compacts (docs/state.md)."""
        if self._batching:
            self._deferred = True

    def replace(self, state: State) -> None:
        """Make `state` the stored state as it is, its lineage and serial included (state push,
        state migrate); nothing else may have changed in this run."""
        if self._closed or self._ledger.changed():
            raise RuntimeError("replace() is for a store open for it alone")
        self._medium.replace(state)
        self._lineage, self._serial = state.lineage, state.serial
        self._ledger = journal.Ledger(dict(state.records), set(state.in_doubt))
        self._in_doubt = state.in_doubt

    def close(self) -> None:
        """Compact: write the whole state (serial + 1) if anything changed, drop the journal,
        release the lock."""
        if self._closed:
            return
        self._closed = True
        try:
            if self._ledger.changed():
                state = self.state
                records = self._filled(state.records)
                next_state = State(self._lineage, self._serial + 1, records, state.in_doubt)
                self._medium.compact(next_state, self._fills.keys())
                self._serial += 1
            else:
                self._medium.compact(None, ())
        finally:
            self._medium.release()

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
