"""The state file: the only memory of what reconciler has created in COR (docs/state.md).

Imperative shell: the only module that touches the state file, its journal (through
`reconciler/journal.py`), its backup and its lock. `plan` reads with `load_state`; `apply`
writes through `StateStore`. Imports the standard library, pydantic and reconciler's vocabulary.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType, TracebackType
from typing import Any, Literal

from pydantic import ValidationError as PydanticValidationError

from reconciler import files, journal
from reconciler.errors import RefusedError, StateError
from reconciler.resources import Record, ResourceKey

FORMAT_VERSION = 1


@dataclass(frozen=True)
class State:
    lineage: str  # random id (uuid4 hex) made when the state is created
    serial: int  # incremented on every write of the state file
    records: Mapping[ResourceKey, Record]  # read-only view

    @staticmethod
    def empty() -> State:
        return State(uuid.uuid4().hex, 0, MappingProxyType({}))


class _StateFile(journal.Frozen):
    format_version: Literal[1]
    lineage: journal.Name
    serial: journal.Serial
    resources: list[journal.RecordFields]


def load_state(path: Path) -> State:
    """The state at `path` with its journal replayed in memory; writes nothing, takes no lock.

    A missing file is an empty state. StateError if the file or its journal is unreadable.
    """
    return _read(path).state


def _journal_path(path: Path) -> Path:
    return path.with_name(path.name + ".journal")


def _backup_path(path: Path) -> Path:
    return path.with_name(path.name + ".backup")


@dataclass(frozen=True)
class _Loaded:
    state: State  # the state file with the journal replayed; serial is the file's
    changed: bool  # the journal changes the records, so compacting must write the file
    has_journal: bool  # a journal file exists beside the state


def _read(path: Path) -> _Loaded:
    with files.no_gc():
        return _read_all(path)


def _read_all(path: Path) -> _Loaded:
    on_disk = _read_state_file(path)
    found = journal.read_journal(_journal_path(path))
    if found is None or found.header is None:
        return _Loaded(on_disk or State.empty(), changed=False, has_journal=found is not None)
    base = _base_for(path, on_disk, found.header)
    records = dict(base.records)
    changed = journal.replay(found.changes, records)
    if base.serial == found.header.serial:
        return _Loaded(
            State(base.lineage, base.serial, MappingProxyType(records)), changed, has_journal=True
        )
    if changed:  # the state is one write ahead of the journal, yet lacks its changes
        raise _mismatch(path, found.header, base)
    return _Loaded(base, changed=False, has_journal=True)  # compacted before a crash: leftover


def _base_for(path: Path, on_disk: State | None, header: journal.Header) -> State:
    """The state the journal extends: its own serial, or one write later if already compacted."""
    if on_disk is None:
        if header.serial == 0:  # the first apply on a new state, interrupted
            return State(header.lineage, 0, MappingProxyType({}))
        raise StateError(
            f"{path} is missing but its journal {_journal_path(path)} extends serial "
            f"{header.serial} of it; restore the state file (see {_backup_path(path)}) "
            "and run again"
        )
    same_lineage = on_disk.lineage == header.lineage
    if same_lineage and on_disk.serial in (header.serial, header.serial + 1):
        return on_disk
    raise _mismatch(path, header, on_disk)


def _mismatch(path: Path, header: journal.Header, state: State) -> StateError:
    return StateError(
        f"the journal {_journal_path(path)} extends state {header.lineage} serial "
        f"{header.serial}, but {path} is state {state.lineage} serial {state.serial}; it was "
        "not replayed. If the state file was replaced (git checkout, restore), put back the "
        "version the journal extends and run again. To drop the journal's changes instead, "
        "move the journal away (what they created in COR stays there, unknown to the state)."
    )


def _read_state_file(path: Path) -> State | None:
    data = files.read_if_exists(path, "the state file")
    if data is None:
        return None
    document = _parse(path, data)
    try:
        model = _StateFile.model_validate(document)
    except PydanticValidationError as exc:
        raise StateError(f"{path} is not a valid state file: {journal.describe(exc)}") from exc
    return _to_state(path, model)


def _parse(path: Path, data: bytes) -> dict[str, Any]:
    hint = f" (the previous version is in {_backup_path(path)})"
    hint = hint if _backup_path(path).exists() else ""
    try:
        document = files.loads_strictly(data.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise StateError(f"{path} is not UTF-8 text: {exc.reason}{hint}") from exc
    except files.DuplicateKeyError as exc:
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
            f"reads format_version {FORMAT_VERSION}. Upgrade reconciler."
        )
    return document


def _to_state(path: Path, model: _StateFile) -> State:
    records: dict[ResourceKey, Record] = {}
    duplicates = []
    for index, entry in enumerate(model.resources):
        record = entry.record()
        if record.key in records:
            duplicates.append(f"resources.{index} is a second entry for {record.key}")
        records[record.key] = record
    if duplicates:
        raise StateError(f"{path} is not a valid state file: {'; '.join(duplicates[:5])}")
    return State(model.lineage, model.serial, MappingProxyType(records))


_quote = json.JSONEncoder(ensure_ascii=False).encode


def _render(state: State) -> bytes:
    """The file's bytes: json.dumps(indent=2, ensure_ascii=False) of the document, records in
    apply order, attributes sorted, a trailing newline. Built by hand because json.dumps falls
    back to pure Python when indenting: five times slower at 100,000 records."""
    records = sorted(state.records.values(), key=lambda record: record.key.sort_key())
    entries = ",".join(_render_record(record) for record in records)
    resources = f"[{entries}\n  ]" if entries else "[]"
    return (
        f'{{\n  "format_version": {FORMAT_VERSION},\n  "lineage": {_quote(state.lineage)},\n'
        f'  "serial": {state.serial},\n  "resources": {resources}\n}}\n'
    ).encode()


def _render_record(record: Record) -> str:
    key = record.key
    pairs = ",\n".join(
        f"        {_quote(name)}: {_quote(value)}"
        for name, value in sorted(record.attributes.items())
    )
    attributes = f"{{\n{pairs}\n      }}" if pairs else "{}"
    return (
        f'\n    {{\n      "kind": {_quote(key.kind.value)},\n      "source": {_quote(key.source)},'
        f'\n      "id": {_quote(key.id)},\n      "cor_id": {record.cor_id:d},'
        f'\n      "attributes": {attributes}\n    }}'
    )


def _write_state(path: Path, state: State) -> None:
    with files.no_gc():
        data = _render(state)
    with files.os_errors(f"write the state file {path}"):
        files.replace_file(path, data, _backup_path(path))


def _remove_journal(path: Path) -> None:
    with files.os_errors(f"remove the journal {_journal_path(path)}"):
        files.remove_quietly(_journal_path(path))
        files.fsync_dir(path.parent)


def _lock(path: Path) -> int:
    """Hold `<state>.lock`: one writer at a time uses the state and its journal."""
    lock_path = path.with_name(path.name + ".lock")
    with files.os_errors(f"open the lock file {lock_path}"):
        fd = files.try_lock(lock_path)
    if fd is None:
        raise RefusedError(
            f"{path} is in use by another reconciler run (it holds {lock_path}); "
            "wait for it to finish"
        )
    return fd


class StateStore:
    """The state for commands that write it (apply): each change is journaled, then compacted.

    Use as a context manager, or call close(): it writes everything recorded into the state.
    """

    def __init__(self, path: Path, state: State, lock: int) -> None:
        self._path = path
        self._lineage = state.lineage
        self._serial = state.serial
        self._records = dict(state.records)
        self._before: journal.Before = {}
        self._lock = lock
        self._journal: journal.JournalWriter | None = None
        self._closed = False

    @classmethod
    def open(cls, path: Path) -> StateStore:
        """Lock and load the state; a journal left by an interrupted run is compacted first."""
        lock = _lock(path)
        try:
            with files.os_errors(f"remove temporary files beside {path}"):
                files.remove_temps(path)
            loaded = _read(path)
            state = loaded.state
            if loaded.changed:
                state = State(state.lineage, state.serial + 1, state.records)
                _write_state(path, state)
            if loaded.has_journal:
                _remove_journal(path)
        except BaseException:
            os.close(lock)
            raise
        return cls(path, state, lock)

    @property
    def state(self) -> State:
        """The current view, everything recorded so far included (a live, read-only view)."""
        return State(self._lineage, self._serial, MappingProxyType(self._records))

    def record(self, record: Record) -> None:
        """Durable before it returns: one journal line, flushed and fsynced.

        If writing the journal fails (StateError), the record is still kept in memory and
        close() tries to write it with the whole state.
        """
        line = journal.put_line(record)
        frozen = Record(record.key, record.cor_id, MappingProxyType(dict(record.attributes)))
        self._change(frozen, line)

    def forget(self, key: ResourceKey) -> None:
        """Remove the record for `key`, durably, as record() does."""
        self._change(key, journal.forget_line(key))

    def _change(self, change: Record | ResourceKey, line: bytes) -> None:
        if self._closed:
            raise RuntimeError("the state store is closed")
        journal.apply_change(self._records, self._before, change)
        if self._journal is None:
            path = _journal_path(self._path)
            self._journal = journal.JournalWriter.create(path, self._lineage, self._serial)
        self._journal.append(line)

    def close(self) -> None:
        """Compact: write the whole state (serial + 1) if anything changed, drop the journal."""
        if self._closed:
            return
        self._closed = True
        try:
            if journal.net_changed(self._records, self._before):
                _write_state(self._path, State(self._lineage, self._serial + 1, self.state.records))
                self._serial += 1
            if self._journal is not None:
                _remove_journal(self._path)
        finally:
            if self._journal is not None:
                self._journal.close()
            os.close(self._lock)

    def __enter__(self) -> StateStore:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
