"""What is wrong with a manifest file, in the user's terms: every problem's wording.

Part of the manifests edge; no YAML. `reader.py` and `walker.py` locate each problem at a
file:line:col; the words are here. For an entry or a file that does not plainly fit
(`fields.py`), `entry_problems` and `top_level_problems` ask the models (`schema.py`, imported
then) and word each error from what YAML read (`Written`: a resolved tag and the text as
written). Imports pydantic (when asked), core values and the manifests' fields and schema.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple, get_args

from reconciler.core.resources import Kind, Source
from reconciler.manifests.fields import (
    CORE_TAG,
    ENTRY_ORDER,
    REQUIRED_FIELDS,
    TOP_LEVEL_KEYS,
    Written,
    plain,
)

if TYPE_CHECKING:
    from pydantic import ValidationError

_READ_AS = {
    "str": "a string",
    "int": "an integer",
    "float": "a number",
    "bool": "a boolean",
    "null": "null (no value)",
    "timestamp": "a date",
    "binary": "binary data",
    "seq": "a list",
    "map": "a mapping",
}
_SOURCES_TEXT = ", ".join(get_args(Source))


class FieldProblem(NamedTuple):
    """One problem the models find, and where it is: `at` the whole entry or file mapping,
    or the key or the value of the field (top-level key) `name`."""

    at: Literal["whole", "key", "value"]
    name: str
    message: str


def entry_problems(kind: Kind, fields: Mapping[str, Written]) -> list[FieldProblem]:
    """Every problem of one entry (its fields as written, in order), in the user's terms."""
    from pydantic import ValidationError

    from reconciler.manifests.schema import ENTRY_MODELS

    try:
        ENTRY_MODELS[kind].model_validate({name: plain(value) for name, value in fields.items()})
    except ValidationError as error:
        return _problems(
            error,
            missing=lambda name: missing_field(kind, name),
            unknown=lambda name: unknown_field(kind, name),
            wrong=lambda name: field_value(kind, name, fields[name]),
        )
    return []


def top_level_problems(
    values: Mapping[str, Written], lists: Collection[str], declares: bool
) -> list[FieldProblem]:
    """The problems of a file's top-level mapping: `values` are its keys' values, but those in
    `lists` (sections that are lists: their entries are checked one by one); `declares`: some
    section lists an entry (only then is `source:` required)."""
    from pydantic import ValidationError

    from reconciler.manifests.schema import ManifestFile

    document = {name: plain(value) for name, value in values.items()}
    document |= {name: [] for name in lists}
    try:
        ManifestFile.model_validate(document)
    except ValidationError as error:
        return _problems(
            error,
            missing=lambda name: MISSING_SOURCE if declares else None,
            unknown=unknown_top_level,
            wrong=lambda name: top_level_value(name, values[name]),
        )
    return []


def _problems(
    error: ValidationError,
    missing: Callable[[str], str | None],
    unknown: Callable[[str], str],
    wrong: Callable[[str], str],
) -> list[FieldProblem]:
    """pydantic's errors, one per field (an optional field's union reports once per member)."""
    found: dict[str, FieldProblem | None] = {}
    for detail in error.errors(include_url=False):
        name = str(detail["loc"][0])
        if name in found:
            continue
        if detail["type"] == "missing":
            message = missing(name)
            found[name] = None if message is None else FieldProblem("whole", name, message)
        elif detail["type"] == "extra_forbidden":
            found[name] = FieldProblem("key", name, unknown(name))
        else:
            found[name] = FieldProblem("value", name, wrong(name))
    return [problem for problem in found.values() if problem is not None]


def _read_as(value: Written) -> str:
    if value.tag == CORE_TAG + "timestamp" and value.text is not None and len(value.text) > 10:
        return "a timestamp"
    return _READ_AS.get(value.tag.removeprefix(CORE_TAG), f"a value tagged {value.tag}")


def describe(value: Written) -> str:
    """What YAML read: `an integer 00123`, `a list`, `a string "x"`."""
    if value.text is None or value.tag == CORE_TAG + "null":
        return _read_as(value)
    if value.tag == CORE_TAG + "str":
        return f"a string {json.dumps(value.text, ensure_ascii=False)}"
    return f"{_read_as(value)} {value.text}"


def _closest(wanted: str, choices: Sequence[str]) -> str:
    match = difflib.get_close_matches(wanted, choices, n=1)
    return f'did you mean "{match[0]}"? ' if match else ""


SECOND_DOCUMENT = (
    "a manifest file holds one YAML document; this `---` starts a second: split the file"
)
RECURSIVE_ALIAS = "this YAML alias refers to itself (a recursive alias); write the value out"
COMPLEX_KEY = "a key must be a plain name, not a list or mapping"
MERGE_KEY = "merge keys (<<) are not supported: write the fields out in full"
MISSING_SOURCE = (
    "missing `source:`: a file that declares clients, brands or products must name their "
    f"source, one of: {_SOURCES_TEXT}"
)


def expansion_refused(limit: int) -> str:
    return (
        f"YAML aliases here would expand the document past {limit:,} nodes; refused "
        "(write the values out, or use fewer aliases)"
    )


def duplicate_key(key: str, first_line: int) -> str:
    return (
        f'duplicate key "{key}" (first at line {first_line}); YAML would silently keep only '
        "the last one: remove one of them"
    )


def top_level_not_mapping(value: Written) -> str:
    return (
        f"the file must be a mapping with `source:` and lists `clients:`, `brands:`, "
        f"`products:`; found {describe(value)}"
    )


def unknown_top_level(key: str) -> str:
    keys = TOP_LEVEL_KEYS
    return f'unknown top-level key "{key}"; {_closest(key, keys)}valid keys: {", ".join(keys)}'


def top_level_value(key: str, value: Written) -> str:
    """`source` is not a valid source, or a section is not a list."""
    if key == "source":
        return _source_message(value)
    if value.tag == CORE_TAG + "null":
        return f"{key} is empty: list entries under it, write `{key}: []` or remove the key"
    return f"{key} must be a list of entries (each starting with `- `); found {describe(value)}"


def _source_message(value: Written) -> str:
    if value.tag == CORE_TAG + "null" or value.text == "":
        return f"source is empty: name one of: {_SOURCES_TEXT}"
    if value.tag != CORE_TAG + "str" or value.text is None:
        return f"source must be one of: {_SOURCES_TEXT}; found {describe(value)}"
    suggestion = _closest(value.text.upper(), get_args(Source))
    return (
        f'unknown source "{value.text}"; {suggestion}valid sources (exact spelling): '
        f"{_SOURCES_TEXT}"
    )


def entry_not_mapping(section: str, value: Written) -> str:
    return (
        f"each entry of {section} must be a mapping of fields (`- id: ...` then `name: ...`); "
        f"found {describe(value)}"
    )


def missing_field(kind: Kind, name: str) -> str:
    return f'this {kind.value} has no "{name}", a required field: add `{name}: ...`'


def unknown_field(kind: Kind, name: str) -> str:
    fields = ENTRY_ORDER[kind]
    return (
        f'unknown field "{name}" in a {kind.value}; {_closest(name, fields)}'
        f"valid fields: {', '.join(fields)}"
    )


def field_value(kind: Kind, name: str, value: Written) -> str:
    """A field value that is not a non-empty string."""
    required = name in REQUIRED_FIELDS[kind]
    fix = "give it a value" if required else "give a value or remove the field"
    if name == "protect":
        return f"protect must be true or false; found {describe(value)}"
    if value.text == "" or (value.tag == CORE_TAG + "null" and value.text == "~"):
        return f"{name} is empty: {fix}"
    if value.tag == CORE_TAG + "null":
        return (
            f'{name}: {value.text} was read as null (no value): {fix} (or quote it: "{value.text}")'
        )
    if value.text is None:
        return f"{name} must be one string; found {describe(value)}"
    if not value.tag.startswith(CORE_TAG):
        return f"{name}: the tag {value.tag} is not supported; write a plain string"
    if name == "id":
        why = "external ids are strings"
    elif name.endswith("_id"):
        why = "references are external ids, which are strings"
    else:
        why = "field values are strings"
    quoted = json.dumps(value.text, ensure_ascii=False)
    return f"{name}: {value.text} was read as {_read_as(value)}; {why}: quote it: {name}: {quoted}"
