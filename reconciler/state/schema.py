"""The state's files as pydantic models: strict validation, and the words for what is wrong.

Part of the state store. Imported only when needed — a state file that is not plainly valid
(`codec.plain_state` said None), a journal replayed, a lock file read — so that a plan of a
valid state never pays for pydantic. The shapes are those of `codec.record_fields` and
`codec.key_fields`, the one home of the fields (docs/state.md). Imports pydantic, the standard
library and core values only.
"""

from __future__ import annotations

from types import MappingProxyType
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, TypeAdapter
from pydantic import ValidationError as PydanticValidationError

from reconciler.core.resources import Kind, Record, ResourceKey

Name = Annotated[StrictStr, Field(min_length=1)]
Serial = Annotated[StrictInt, Field(ge=0)]
_MAX_PID = 2**31 - 1  # os.kill takes a C int


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


class StateFile(Frozen):
    format_version: Literal[1]
    lineage: Name
    serial: Serial
    resources: list[RecordFields]
    in_doubt: tuple[KeyFields, ...] = ()  # absent when empty


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


JournalLine = Annotated[PutLine | ForgetLine | IntentLine | ResolveLine, Field(discriminator="op")]
JOURNAL_LINES = TypeAdapter(list[JournalLine])


class LockFile(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    holder: StrictStr
    host: StrictStr
    pid: Annotated[StrictInt, Field(ge=1, le=_MAX_PID)]
    started_at: StrictStr
    command: StrictStr


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
