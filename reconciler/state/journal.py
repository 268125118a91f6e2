"""The write-ahead journal beside the state file: its lines, reader, replay and writer.

Part of the state store, used only by `store.py` (docs/state.md describes the format). `apply`
journals each create's intent and each result here (one fsynced line, O(1)); `store.py` compacts
the journal into the state file. `Ledger` holds the rules both share: what each entry does to
the records and to the creates in doubt. A line's fields are `codec.record_fields` or
`codec.key_fields`; the models of `schema.py` read them back. Imports the standard library,
core values, `errors`, `files` and the state's codec and schema.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, NamedTuple, TypeAlias

from reconciler.core.resources import Record, ResourceKey
from reconciler.errors import StateError, StateWriteError
from reconciler.files import (
    RefusedJsonError,
    file_mode,
    fsync_dir,
    loads_strictly,
    os_errors,
    read_if_exists,
    remove_quietly,
    write_all,
    write_temp,
)
from reconciler.state.codec import key_fields, plain_key, plain_record, record_fields

JOURNAL_VERSION = 2  # 2: a put's record may hold its `file`; 1 is read too
Op: TypeAlias = Literal["intent", "put", "resolve", "forget"]
_UNPARSABLE = object()


class Entry(NamedTuple):
    """What one journal line does; `record` is the put's record (None for the other ops)."""

    op: Op
    key: ResourceKey
    record: Record | None = None


@dataclass(frozen=True)
class Header:
    lineage: str
    serial: int  # the serial of the state file the journal extends


@dataclass(frozen=True)
class JournalFile:
    """A journal as read: None for the header if it is empty (or only a torn header)."""

    header: Header | None
    entries: tuple[Entry, ...]


def read_journal(path: Path) -> JournalFile | None:
    """The journal at `path`, or None if there is none. A torn last line is ignored."""
    data = read_if_exists(path, "the journal")
    if data is None:
        return None
    return parse_journal(str(path), data)


def parse_journal(path: str, data: bytes) -> JournalFile:
    """A journal's bytes, named `path` in errors (a file, or a store's journal objects joined
    in order). A torn last line is ignored."""
    lines = data.split(b"\n")
    torn = lines.pop()  # what follows the last newline: nothing, or an append cut by a crash
    parsed = [_parse_line(path, number, line) for number, line in enumerate(lines, 1)]
    if not torn and parsed and parsed[-1] is _UNPARSABLE:
        parsed.pop()  # a last line that is not JSON is torn too (e.g. zeros after a crash)
    if not parsed:
        return JournalFile(None, ())
    if any(item is _UNPARSABLE for item in parsed):
        number = next(n for n, item in enumerate(parsed, 1) if item is _UNPARSABLE)
        raise StateError(f"{path} line {number} is not valid JSON; the journal is corrupt")
    return JournalFile(_header(path, parsed[0]), _entries(path, parsed[1:]))


def _parse_line(path: str, number: int, line: bytes) -> Any:
    try:
        return loads_strictly(line.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _UNPARSABLE
    except RefusedJsonError as exc:  # a key twice, nested too deep, a number too long
        raise StateError(f"{path} line {number} is corrupt: {exc.what}") from exc


def _header(path: str, raw: Any) -> Header:
    from pydantic import ValidationError

    from reconciler.state import schema

    try:
        header = schema.Header.model_validate(raw)
    except ValidationError as exc:
        message = f"{path} line 1 is not a journal header: {schema.describe(exc)}"
        raise StateError(message) from exc
    return Header(header.lineage, header.serial)


def _entries(path: str, raw: list[Any]) -> tuple[Entry, ...]:
    from pydantic import ValidationError

    from reconciler.state import schema

    try:
        lines = schema.JOURNAL_LINES.validate_python(raw)
    except ValidationError as exc:
        raise StateError(f"{path} is corrupt: {schema.describe(exc, 2, 'line')}") from exc
    return tuple(
        Entry("put", line.key(), line.record())
        if isinstance(line, schema.PutLine)
        else Entry(line.op, line.key())
        for line in lines
    )


class Ledger:
    """Records and creates in doubt, changed entry by entry, knowing whether they differ from
    the start.

    The rules (docs/state.md): `put` sets a record, `forget` removes it; `intent` puts its key in
    doubt; `put`, `resolve` and `forget` take it out. Each op sets its key's value, so replaying
    a journal onto a state that already holds it changes nothing. Not thread-safe: one thread
    changes it.
    """

    def __init__(self, records: dict[ResourceKey, Record], in_doubt: set[ResourceKey]) -> None:
        self.records = records
        self.in_doubt = in_doubt
        self._records_before: dict[ResourceKey, Record | None] = {}  # each touched key's first
        self._doubt_before = frozenset(in_doubt)

    def apply(self, entry: Entry) -> bool:
        """Apply one entry in place; True if it changed which keys are in doubt."""
        key = entry.key
        if entry.op == "intent":
            if key in self.in_doubt:
                return False
            self.in_doubt.add(key)
            return True
        was_in_doubt = key in self.in_doubt
        self.in_doubt.discard(key)
        if entry.op != "resolve":
            self._records_before.setdefault(key, self.records.get(key))
            if entry.record is None:
                self.records.pop(key, None)
            else:
                self.records[key] = entry.record
        return was_in_doubt

    def replay(self, entries: Iterable[Entry]) -> None:
        for entry in entries:
            self.apply(entry)

    def both(self) -> set[ResourceKey]:
        """The keys recorded and in doubt at once, which no run leaves (StateStore.intend
        refuses a recorded key): an empty set, unless a journal was written by hand."""
        return {key for key in self.in_doubt if key in self.records}

    def changed(self) -> bool:
        """Whether the changes, taken together, left a record or the keys in doubt different."""
        records = self.records
        return self.in_doubt != self._doubt_before or any(
            records.get(key) != value for key, value in self._records_before.items()
        )


def check_replayed(path: str | Path, ledger: Ledger, entries: tuple[Entry, ...]) -> None:
    """StateError if the journal at `path`, replayed into `ledger`, leaves a key recorded and
    in doubt at once, naming the line of its last intent (the header is line 1)."""
    both = ledger.both()
    if not both:
        return
    number, key = max(
        (index, entry.key)
        for index, entry in enumerate(entries, 2)
        if entry.op == "intent" and entry.key in both
    )
    raise StateError(
        f"{path} line {number} is corrupt: an intent to create {key}, which is recorded "
        "(a key is in doubt only while it is not recorded)"
    )


def header_line(lineage: str, serial: int) -> bytes:
    return _line({"journal": JOURNAL_VERSION, "lineage": lineage, "serial": serial}, "journal")


def put_line(record: Record) -> bytes:
    """The journal line for `record`, checked so that it always reads back."""
    fields = record_fields(record)
    if plain_record(fields) is None:
        _explain(f"cannot record {record.key}", "put", fields)
    return _line({"op": "put", **fields}, f"cannot record {record.key}")


def forget_line(key: ResourceKey) -> bytes:
    return _key_line("forget", key)


def intent_line(key: ResourceKey) -> bytes:
    return _key_line("intent", key)


def resolve_line(key: ResourceKey) -> bytes:
    return _key_line("resolve", key)


def _key_line(op: Op, key: ResourceKey) -> bytes:
    """The journal line of an op on `key` alone, checked so that it always reads back."""
    fields = key_fields(key)
    if plain_key(fields) is None:
        _explain(f"cannot journal {op} of {key}", op, fields)
    return _line({"op": op, **fields}, f"cannot journal {op} of {key}")


def _explain(what: str, op: Op, fields: dict[str, Any]) -> None:
    """StateError saying why the line of `op` with `fields` would not read back (the models
    judge); returns if they accept it."""
    from pydantic import BaseModel, ValidationError

    from reconciler.state import schema

    models: dict[str, type[BaseModel]] = {
        "put": schema.PutLine,
        "forget": schema.ForgetLine,
        "intent": schema.IntentLine,
        "resolve": schema.ResolveLine,
    }
    model = models[op]
    try:
        model.model_validate({"op": op, **fields})
    except ValidationError as exc:
        raise StateError(f"{what}: {schema.describe(exc)}") from exc


def _line(fields: dict[str, Any], what: str) -> bytes:
    text = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode("utf-8") + b"\n"
    except UnicodeEncodeError as exc:  # a lone surrogate: not writable as UTF-8
        raise StateError(f"{what}: {exc.reason}") from exc


class JournalWriter:
    """An open journal that lines are appended to, each flushed and fsynced before returning."""

    def __init__(self, path: Path, fd: int, size: int) -> None:
        self.path = path
        self._fd = fd
        self._size = size  # bytes known to hold whole lines
        self._broken = False
        self._unsynced = False

    @classmethod
    def create(cls, path: Path, lineage: str, serial: int) -> JournalWriter:
        """Create the journal atomically, header included, so it never exists half-made."""
        header = header_line(lineage, serial)
        with os_errors(f"create the journal {path}"):
            fd, tmp = write_temp(path, header, file_mode(path), keep_open=True)
            try:
                os.replace(tmp, path)
                fsync_dir(path.parent)
            except BaseException:
                os.close(fd)
                remove_quietly(tmp)
                raise
        return cls(path, fd, len(header))

    def append(self, line: bytes, *, sync: bool = True) -> None:
        """Write one line; with `sync`, fsync it (and any unsynced line before it)."""
        if self._broken:
            raise StateWriteError(
                f"the journal {self.path} is unusable after an earlier write failed"
            )
        try:
            write_all(self._fd, line)
            if sync:
                os.fsync(self._fd)
        except OSError as exc:
            self._broken = True
            with suppress(OSError):  # cut back a partial line: nothing may follow a torn one
                os.ftruncate(self._fd, self._size)
            raise StateWriteError(f"cannot append to the journal {self.path}: {exc}") from exc
        self._size += len(line)
        self._unsynced = not sync

    def sync(self) -> None:
        """Make every line written so far durable (one fsync for a group of lines)."""
        if not self._unsynced or self._broken:
            return
        try:
            os.fsync(self._fd)
        except OSError as exc:
            self._broken = True
            raise StateWriteError(f"cannot sync the journal {self.path}: {exc}") from exc
        self._unsynced = False

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
