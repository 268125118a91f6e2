"""The state's files as pydantic models: strict validation, and the words for what is wrong.

Part of the state store. Imported only when needed — a state file that is not plainly valid
(`codec.plain_state` said None), a journal replayed, a lock file read — so that a plan of a
valid state never pays for pydantic. The shapes are those of `codec.record_fields` and
`codec.key_fields`, the one home of the fields (docs/state.md); what their values may be is
`values.py`'s rules, worded here. Imports pydantic, the standard library, core values and the
state's values.
"""

from __future__ import annotations

from collections.abc import Callable
from types import MappingProxyType
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StrictInt,
    StrictStr,
    TypeAdapter,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic import ValidationError as PydanticValidationError

from reconciler.core.resources import SOURCES, Kind, Record, ResourceKey
from reconciler.state.values import (
    FIELDS,
    MAX_INT,
    SOURCE_NAMES,
    attribute_refusal,
    file_refusal,
    id_refusal,
    text_refusal,
)

_MAX_PID = 2**31 - 1  # os.kill takes a C int


def _checked(rule: Callable[[str], str | None]) -> AfterValidator:
    """A validator raising the problem `rule` finds (worded by values.py), if any."""

    def check(value: str) -> str:
        problem = rule(value)
        if problem is not None:
            raise ValueError(problem)
        return value

    return AfterValidator(check)


def _known_source(value: str) -> str | None:
    if value in SOURCE_NAMES:
        return None
    return f"unknown source {value!r}: COR's sources are {', '.join(SOURCES)}"


def _an_int(value: Any) -> Any:
    """`true` and `1.0` are not 1: a format version is an integer."""
    if type(value) is not int:
        raise ValueError('must be the integer 1 or 2, not true, 1.0 or "1"')
    return value


Text = Annotated[StrictStr, _checked(text_refusal)]
Name = Annotated[StrictStr, Field(min_length=1), _checked(text_refusal)]
ExternalId = Annotated[StrictStr, Field(min_length=1), _checked(id_refusal)]
SourceName = Annotated[StrictStr, _checked(_known_source)]
CorId = Annotated[StrictInt, Field(ge=0, le=MAX_INT)]
Serial = Annotated[StrictInt, Field(ge=0, le=MAX_INT)]
Version = Annotated[Literal[1, 2], BeforeValidator(_an_int)]
FileName = Annotated[StrictStr, _checked(file_refusal)]


class Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyFields(Frozen):
    kind: Kind
    source: SourceName
    id: ExternalId

    def key(self) -> ResourceKey:
        return ResourceKey(self.kind, self.source, self.id)


class RecordFields(KeyFields):
    cor_id: CorId
    attributes: dict[StrictStr, StrictStr]
    protected: Literal[True] | None = None  # written only when true (state.md)
    file: FileName | None = None  # written only when known; not in format_version 1

    @field_validator("attributes")
    @classmethod
    def _fields_of_its_kind(cls, attributes: dict[str, str], info: ValidationInfo) -> Any:
        """Only the fields of the record's kind, each value by its field's rule (values.py)."""
        kind = info.data.get("kind")
        if kind is None:  # the kind is wrong, and said so
            return attributes
        allowed = FIELDS[kind.value]
        for field, value in attributes.items():
            if field not in allowed:
                raise ValueError(
                    f"{field!r} is not a field of a {kind.value} "
                    f"(it may hold {', '.join(sorted(allowed))})"
                )
            problem = attribute_refusal(field, value)
            if problem is not None:
                raise ValueError(f"{field}: {problem}")
        return attributes

    def record(self) -> Record:
        attributes = MappingProxyType(self.attributes)
        return Record(self.key(), self.cor_id, attributes, bool(self.protected), self.file)


class StateFile(Frozen):
    format_version: Version
    lineage: Name
    serial: Serial
    resources: list[RecordFields]
    in_doubt: tuple[KeyFields, ...] = ()  # absent when empty

    @model_validator(mode="after")
    def _files_from_version_2(self) -> StateFile:
        """A format_version 1 state knew no `file`: one there is an unknown field."""
        if self.format_version == 1:
            for index, record in enumerate(self.resources):
                if record.file is not None:
                    raise ValueError(
                        f"resources.{index}.file: no field of format_version 1 (it came with 2)"
                    )
        return self


class Header(Frozen):
    journal: Version
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
    holder: Text
    host: Text
    pid: Annotated[StrictInt, Field(ge=1, le=_MAX_PID)]
    started_at: Text
    command: Text


def describe(exc: PydanticValidationError, offset: int = 0, unit: str = "") -> str:
    """A short account of pydantic's errors; with `unit`, list indexes + `offset` are lines."""
    problems = []
    for error in exc.errors()[:5]:
        where = _where(error["loc"], offset, unit)
        message = error["msg"].removeprefix("Value error, ")  # ours say what, not that
        problems.append(f"{where}: {message}" if where else message)
    more = exc.error_count() - len(problems)
    return "; ".join(problems) + (f" (and {more} more)" if more > 0 else "")


def _where(loc: tuple[int | str, ...], offset: int, unit: str) -> str:
    if unit and loc and isinstance(loc[0], int):
        rest = ".".join(map(str, loc[1:]))
        return f"{unit} {loc[0] + offset}" + (f": {rest}" if rest else "")
    return ".".join(map(str, loc))
