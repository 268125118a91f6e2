"""The write-ahead journal beside the state file: its format, reader, replay and writer.

Imperative shell, used only by `reconciler/state.py` (docs/state.md describes the format).
`apply` journals each create's intent and each result here (one fsynced line, O(1));
`state.py` compacts the journal into the state file. `Ledger` holds the rules both share: what
each op does to the records and to the creates in doubt. Imports the standard library,
pydantic and reconciler's shared vocabulary.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Literal, NamedTuple, TypeAlias

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from reconciler.core.resources import Kind, Record, ResourceKey
from reconciler.errors import StateError, StateWriteError
from reconciler.files import (
    DuplicateKeyError,
    file_mode,
    fsync_dir,
    loads_strictly,
    os_errors,
    read_if_exists,
    remove_quietly,
    write_all,
    write_temp,
)

JOURNAL_VERSION = 1
Name = Annotated[StrictStr, Field(min_length=1)]
Serial = Annotated[StrictInt, Field(ge=0)]
Op: TypeAlias = Literal["intent", "put", "resolve", "forget"]


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyFields(Frozen):
    kind: Kind
    source: Name
    id: Name

    def key(self) -> ResourceKey:
        return ResourceKey(self.kind, self.source, self.id)


class RecordFields(KeyFields):
    cor_id: StrictInt
    attributes: dict[StrictStr, StrictStr]
    protected: Literal[True] | None = None  # written only when true (state.md)

    def record(self) -> Record:
        return Record(
            self.key(), self.cor_id, MappingProxyType(self.attributes), bool(self.protected)
        )


class Header(Frozen):
    journal: Literal[1]
    lineage: Name
    serial: Serial


class PutLine(RecordFields):
    op: Literal["put"]


class ForgetLine(KeyFields):
    op: Literal["forget"]


class IntentLine(KeyFields):
    op: Literal["intent"]


class ResolveLine(KeyFields):
    op: Literal["resolve"]


_UNPARSABLE = object()
_Line = Annotated[PutLine | ForgetLine | IntentLine | ResolveLine, Field(discriminator="op")]
_LINES = TypeAdapter(list[_Line])


class Change(NamedTuple):
    """One journal line's change; `record` is the put's record (None for the other ops)."""

    op: Op
    key: ResourceKey
    record: Record | None = None


@dataclass(frozen=True)
class Journal:
    header: Header | None  # None: the journal is empty (or only a torn header)
    changes: tuple[Change, ...]


def describe(exc: PydanticValidationError, offset: int = 0, unit: str = "") -> str:
    """A short account of pydantic's errors; with `unit`, list indexes + `offset` are lines."""
    problems = []
    for error in exc.errors()[:5]:
        where = _where(error["loc"], offset, unit)
        problems.append(f"{where}: {error['msg']}" if where else error["msg"])
    more = exc.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def _where(loc: tuple[int | str, ...], offset: int, unit: str) -> str:
    if unit and loc and isinstance(loc[0], int):
        rest = ".".join(map(str, loc[1:]))
        return f"{unit} {loc[0] + offset}" + (f": {rest}" if rest else "")
    return ".".join(map(str, loc))


def read_journal(path: Path) -> Journal | None:
    """The journal at `path`, or None if there is none. A torn last line is ignored."""
    data = read_if_exists(path, "the journal")
    if data is None:
        return None
    lines = data.split(b"\n")
    torn = lines.pop()  # what follows the last newline: nothing, or an append cut by a crash
    parsed = [_parse_line(path, number, line) for number, line in enumerate(lines, 1)]
    if not torn and parsed and parsed[-1] is _UNPARSABLE:
        parsed.pop()  # a last line that is not JSON is torn too (e.g. zeros after a crash)
    if not parsed:
        return Journal(None, ())
    if any(item is _UNPARSABLE for item in parsed):
        number = next(n for n, item in enumerate(parsed, 1) if item is _UNPARSABLE)
        raise StateError(f"{path} line {number} is not valid JSON; the journal is corrupt")
    return Journal(_header(path, parsed[0]), _changes(path, parsed[1:]))


def _parse_line(path: Path, number: int, line: bytes) -> Any:
    try:
        return loads_strictly(line.decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _UNPARSABLE
    except DuplicateKeyError as exc:
        raise StateError(f"{path} line {number} is corrupt: {exc}") from exc


def _header(path: Path, raw: Any) -> Header:
    try:
        return Header.model_validate(raw)
    except PydanticValidationError as exc:
        raise StateError(f"{path} line 1 is not a journal header: {describe(exc)}") from exc


def _changes(path: Path, raw: list[Any]) -> tuple[Change, ...]:
    try:
        lines = _LINES.validate_python(raw)
    except PydanticValidationError as exc:
        raise StateError(f"{path} is corrupt: {describe(exc, 2, 'line')}") from exc
    return tuple(
        Change("put", line.key(), line.record())
        if isinstance(line, PutLine)
        else Change(line.op, line.key())
        for line in lines
    )


class Ledger:
    """Records and creates in doubt, changed op by op, knowing whether they differ from the start.

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

    def apply(self, change: Change) -> bool:
        """Apply one change in place; True if it changed which keys are in doubt."""
        key = change.key
        if change.op == "intent":
            if key in self.in_doubt:
                return False
            self.in_doubt.add(key)
            return True
        was_in_doubt = key in self.in_doubt
        self.in_doubt.discard(key)
        if change.op != "resolve":
            self._records_before.setdefault(key, self.records.get(key))
            if change.record is None:
                self.records.pop(key, None)
            else:
                self.records[key] = change.record
        return was_in_doubt

    def replay(self, changes: Iterable[Change]) -> None:
        for change in changes:
            self.apply(change)

    def changed(self) -> bool:
        """Whether the changes, taken together, left a record or the keys in doubt different."""
        records = self.records
        return self.in_doubt != self._doubt_before or any(
            records.get(key) != value for key, value in self._records_before.items()
        )


def header_line(lineage: str, serial: int) -> bytes:
    return _line({"journal": JOURNAL_VERSION, "lineage": lineage, "serial": serial})


def put_line(record: Record) -> bytes:
    """The journal line for `record`, checked so that it always reads back."""
    key = record.key
    fields: dict[str, Any] = {"op": "put", "kind": key.kind, "source": key.source, "id": key.id}
    fields |= {"cor_id": record.cor_id, "attributes": dict(record.attributes)}
    if record.protected:
        fields["protected"] = True
    try:
        PutLine.model_validate(fields)
        return _line({**fields, "kind": key.kind.value})
    except PydanticValidationError as exc:
        raise StateError(f"cannot record {key}: {describe(exc)}") from exc
    except UnicodeEncodeError as exc:  # a lone surrogate: not writable as UTF-8
        raise StateError(f"cannot record {key}: {exc.reason}") from exc


def forget_line(key: ResourceKey) -> bytes:
    return _key_line("forget", key)


def intent_line(key: ResourceKey) -> bytes:
    return _key_line("intent", key)


def resolve_line(key: ResourceKey) -> bytes:
    return _key_line("resolve", key)


def _key_line(op: Op, key: ResourceKey) -> bytes:
    """The journal line of an op on `key` alone, checked so that it always reads back."""
    try:
        KeyFields(kind=key.kind, source=key.source, id=key.id)
        return _line({"op": op, "kind": key.kind.value, "source": key.source, "id": key.id})
    except PydanticValidationError as exc:
        raise StateError(f"cannot journal {op} of {key}: {describe(exc)}") from exc
    except UnicodeEncodeError as exc:  # a lone surrogate: not writable as UTF-8
        raise StateError(f"cannot journal {op} of {key}: {exc.reason}") from exc


def _line(fields: dict[str, Any]) -> bytes:
    text = json.dumps(fields, ensure_ascii=False, separators=(",", ":"))
    return text.encode("utf-8") + b"\n"


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
