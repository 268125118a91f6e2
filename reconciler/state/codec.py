"""The state's shapes, in memory and on disk: `State`, and the one home of a record's and a
key's JSON fields in the state file and its journal (docs/state.md).

Part of the state store; no file access (store.py and journal.py read and write). Plain Python,
so that reading and writing 100,000 records is fast and needs no pydantic: `plain_state` and
`plain_record` accept exactly the documents that are plainly valid (the usual case) and say
None for anything else, which `schema.py`'s models then judge and explain. What a value may be
is `values.py`'s rules, checked here on all values at once (`values.ordinary`), then one regex
search per value only where that cannot clear them. `render_state` writes the bytes of a state
file. Imports the standard library, core values and the state's values.
"""

from __future__ import annotations

import itertools
import json
import operator
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from reconciler.core.resources import KINDS, Record, ResourceKey, in_apply_order
from reconciler.state.values import (
    ATTRIBUTE_REFUSED,
    FIELDS,
    ID_REFUSED,
    MAX_INT,
    SOURCE_NAMES,
    TEXT_REFUSED,
    ordinary,
    plain_files,
)

FORMAT_VERSION = 2  # what this reconciler writes; 2 added a record's `file`
READ_VERSIONS = (1, 2)  # what it reads: a version 1 state's records have no file
KIND_NAMES = {kind.value: kind for kind in KINDS}
KEY_FIELDS = ("kind", "source", "id")
# then "protected": true, if it is, and "file", if known
RECORD_FIELDS = (*KEY_FIELDS, "cor_id", "attributes")
_ABSENT: Any = object()
_FILE_KEYS = frozenset({"format_version", "lineage", "serial", "resources"})
_ALL_FILE_KEYS = _FILE_KEYS | {"in_doubt"}
_KEY_SET = frozenset(KEY_FIELDS)
_ID_OF = operator.itemgetter(2)  # ResourceKey(kind, source, id)[2]


@dataclass(frozen=True)
class State:
    lineage: str  # random id (uuid4 hex) made when the state is created
    serial: int  # incremented on every write of the state file
    records: Mapping[ResourceKey, Record]  # read-only view
    # creates started whose outcome is unknown: the next apply adopts them (docs/state.md)
    in_doubt: frozenset[ResourceKey] = frozenset()

    @staticmethod
    def empty() -> State:
        return State(uuid.uuid4().hex, 0, MappingProxyType({}))


def key_fields(key: ResourceKey) -> dict[str, str]:
    """A key as the state file and the journal write it."""
    return {"kind": key.kind.value, "source": key.source, "id": key.id}


def record_fields(record: Record) -> dict[str, Any]:
    """A record as the state file and the journal write it: `protected` only when true, so
    that other records' bytes never change, and `file` only when known (docs/state.md)."""
    fields: dict[str, Any] = key_fields(record.key)
    fields |= {"cor_id": record.cor_id, "attributes": dict(record.attributes)}
    if record.protected:
        fields["protected"] = True
    if record.file is not None:
        fields["file"] = record.file
    return fields


def plain_key(fields: object) -> ResourceKey | None:
    """The key `fields` hold if they are exactly a valid key's fields; else None."""
    if type(fields) is not dict or fields.keys() != _KEY_SET:
        return None
    kind, source, id_ = fields["kind"], fields["source"], fields["id"]
    if type(kind) is not str or type(source) is not str or type(id_) is not str:
        return None
    if kind not in KIND_NAMES or source not in SOURCE_NAMES or not id_ or ID_REFUSED.search(id_):
        return None
    return ResourceKey(KIND_NAMES[kind], source, id_)


def plain_record(fields: object) -> Record | None:
    """The record `fields` hold if they are exactly a valid record's fields; else None."""
    if type(fields) is not dict:
        return None
    records = _plain_records([fields])
    return None if records is None else next(iter(records.values()))


def plain_state(document: dict[str, Any]) -> State | None:
    """The document as a State when it is plainly valid — the usual case — checked and built
    in one pass, without a model per record (three times faster at 100,000 records). Accepts
    a subset of what schema.StateFile accepts; anything else is None, and the models decide
    and say what is wrong."""
    if not _FILE_KEYS <= document.keys() <= _ALL_FILE_KEYS:
        return None
    version, lineage, serial = document["format_version"], document["lineage"], document["serial"]
    if type(version) is not int or version not in READ_VERSIONS or type(serial) is not int:
        return None
    if type(lineage) is not str or not lineage or TEXT_REFUSED.search(lineage):
        return None
    if not 0 <= serial <= MAX_INT:
        return None
    records = _plain_records(document["resources"], with_files=version > 1)
    in_doubt = _plain_doubts(document.get("in_doubt", []))
    if records is None or in_doubt is None or not in_doubt.isdisjoint(records):
        return None  # a key is never both recorded and in doubt
    return State(lineage, serial, MappingProxyType(records), in_doubt)


def _plain_records(
    resources: object, *, with_files: bool = True
) -> dict[ResourceKey, Record] | None:
    """The records of a state's `resources` (or a journal's put) if plainly valid; a `file`
    only `with_files` (not in a format_version 1 state)."""
    if type(resources) is not list:
        return None
    records: dict[ResourceKey, Record] = {}
    attributes_of: list[dict[str, Any]] = []
    add_attributes = attributes_of.append
    files: list[Any] = []
    add_file = files.append
    try:
        for fields in resources:
            protected, file = False, None
            size = len(fields)  # the five below, and maybe `protected` and `file`
            if size == 6 and "file" in fields:  # the usual record of a format_version 2 state
                file = fields["file"]
                add_file(file)
            elif size != 5:
                flag, file = fields.get("protected", _ABSENT), fields.get("file")
                protected = flag is True
                optional = (flag is not _ABSENT) + ("file" in fields)
                if size != 5 + optional or not (protected or flag is _ABSENT):
                    return None
                if file is not None:
                    add_file(file)
                elif "file" in fields:
                    return None
            kind, source, id_ = fields["kind"], fields["source"], fields["id"]
            cor_id, attributes = fields["cor_id"], fields["attributes"]
            if source not in SOURCE_NAMES or type(id_) is not str or not id_:
                return None
            if type(kind) is not str or type(cor_id) is not int or type(attributes) is not dict:
                return None
            if not 0 <= cor_id <= MAX_INT or not attributes.keys() <= FIELDS[kind]:
                return None
            key = ResourceKey(KIND_NAMES[kind], source, id_)
            if key in records:
                return None
            add_attributes(attributes)
            records[key] = Record(key, cor_id, MappingProxyType(attributes), protected, file)
    except (KeyError, TypeError, AttributeError):  # a field missing, unknown; not an object
        return None
    if files and (not with_files or not plain_files(files)):
        return None
    ids = map(_ID_OF, records)  # the keys' ids, read at C speed
    if not ordinary(ids, len(records)) and any(map(ID_REFUSED.search, map(_ID_OF, records))):
        return None
    return records if _plain_attributes(attributes_of) else None


def _plain_attributes(attributes_of: list[dict[str, Any]]) -> bool:
    """Whether each value of these attributes (whose fields are their kind's) is a str its
    field's rule accepts (values.py)."""
    values = itertools.chain.from_iterable(map(dict.values, attributes_of))
    if ordinary(values, sum(map(len, attributes_of))):
        return True
    return all(  # a value is not plainly ordinary: each by the rule of its field
        type(value) is str and not ATTRIBUTE_REFUSED[field].search(value)
        for attributes in attributes_of
        for field, value in attributes.items()
    )


def _plain_doubts(in_doubt: object) -> frozenset[ResourceKey] | None:
    if type(in_doubt) is not list:
        return None
    keys: set[ResourceKey] = set()
    for fields in in_doubt:
        key = plain_key(fields)
        if key is None or key in keys:
            return None
        keys.add(key)
    return frozenset(keys)


_quote = json.JSONEncoder(ensure_ascii=False).encode
_KEY_OF = operator.attrgetter("key")


def render_state(state: State) -> bytes:
    """The file's bytes: json.dumps(indent=2, ensure_ascii=False) of the document, records
    (`record_fields`) in apply order, attributes sorted, then the keys in doubt (only if any,
    so that a state without them reads as before), a trailing newline. Built by hand because
    json.dumps falls back to pure Python when indenting: five times slower at 100,000 records."""
    records = in_apply_order(state.records.values(), _KEY_OF)
    files: dict[str | None, str] = {None: ""}  # each file's line, made once: records share files
    entries = ",".join(_render_record(record, files) for record in records)
    resources = f"[{entries}\n  ]" if entries else "[]"
    doubts = ",".join(_render_key(key) for key in in_apply_order(state.in_doubt))
    in_doubt = f',\n  "in_doubt": [{doubts}\n  ]' if doubts else ""
    return (
        f'{{\n  "format_version": {FORMAT_VERSION},\n  "lineage": {_quote(state.lineage)},\n'
        f'  "serial": {state.serial},\n  "resources": {resources}{in_doubt}\n}}\n'
    ).encode()


def _render_key(key: ResourceKey) -> str:
    return (
        f'\n    {{\n      "kind": {_quote(key.kind.value)},\n      "source": {_quote(key.source)},'
        f'\n      "id": {_quote(key.id)}\n    }}'
    )


def _render_record(record: Record, files: dict[str | None, str]) -> str:
    key = record.key
    pairs = ",\n".join(
        f"        {_quote(name)}: {_quote(value)}"
        for name, value in sorted(record.attributes.items())
    )
    attributes = f"{{\n{pairs}\n      }}" if pairs else "{}"
    file = files.get(record.file)
    if file is None:
        file = files[record.file] = _file_line(record.file)
    return (
        f'\n    {{\n      "kind": {_quote(key.kind.value)},\n      "source": {_quote(key.source)},'
        f'\n      "id": {_quote(key.id)},\n      "cor_id": {record.cor_id:d},'
        f'\n      "attributes": {attributes}{_PROTECTED if record.protected else ""}'
        f"{file}\n    }}"
    )


_PROTECTED = ',\n      "protected": true'  # as record_fields: only on protected records


def _file_line(file: str | None) -> str:
    return "" if file is None else f',\n      "file": {_quote(file)}'  # only when known
