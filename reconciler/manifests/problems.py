"""What is wrong with a manifest file, in the user's terms: every problem's wording.

Part of the manifests edge; no YAML. `reader.py` and `walker.py` locate each problem at a
file:line:col; the words are here. For an entry or a file that does not plainly fit
(`fields.py`), `entry_problems` and `top_level_problems` ask the models (`schema.py`, imported
then) and word each error from what YAML read (`Written`: a resolved tag and the text as
written). Every key, value or tag quoted from a file is escaped (`core.text.printable`, via
`quoted`), so that a message can neither move the cursor nor forge a line. Imports pydantic
(when asked), core values and the manifests' fields and schema.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Literal, NamedTuple, get_args

from reconciler.core.resources import Kind, Source
from reconciler.core.text import printable
from reconciler.manifests.fields import (
    CORE_TAG,
    ENTRY_ORDER,
    REQUIRED_FIELDS,
    STR_TAG,
    TOP_LEVEL_KEYS,
    Written,
    plain,
    value_problem,
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
    return _READ_AS.get(value.tag.removeprefix(CORE_TAG), f"a value tagged {_tag(value.tag)}")


def quoted(text: str) -> str:
    """`text` in double quotes, escaped: JSON's escapes, then core.text's for what JSON keeps."""
    return printable(json.dumps(text, ensure_ascii=False))


def _tag(tag: str) -> str:
    """A tag as written: `!!map` for YAML's own, `!custom` as is (escaped)."""
    return "!!" + tag.removeprefix(CORE_TAG) if tag.startswith(CORE_TAG) else printable(tag)


def describe(value: Written) -> str:
    """What YAML read: `an integer 00123`, `a list`, `a string "x"`."""
    if value.text is None or value.tag == CORE_TAG + "null":
        return _read_as(value)
    if value.tag == CORE_TAG + "str":
        return f"a string {quoted(value.text)}"
    return f"{_read_as(value)} {printable(value.text)}"


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
        f"duplicate key {quoted(key)} (first at line {first_line}); YAML would silently keep "
        "only the last one: remove one of them"
    )


def top_level_not_mapping(value: Written) -> str:
    return (
        f"the file must be a mapping with `source:` and lists `clients:`, `brands:`, "
        f"`products:`; found {describe(value)}"
    )


def unknown_top_level(key: str) -> str:
    keys = TOP_LEVEL_KEYS
    suggestion = _closest(key, keys)
    return f"unknown top-level key {quoted(key)}; {suggestion}valid keys: {', '.join(keys)}"


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
        f"unknown source {quoted(value.text)}; {suggestion}valid sources (exact spelling): "
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
        f"unknown field {quoted(name)} in a {kind.value}; {_closest(name, fields)}"
        f"valid fields: {', '.join(fields)}"
    )


def field_value(kind: Kind, name: str, value: Written) -> str:
    """A field value that is not a non-empty string."""
    required = name in REQUIRED_FIELDS[kind]
    fix = "give it a value" if required else "give a value or remove the field"
    if name == "protect":
        return f"protect must be true or false; found {describe(value)}"
    if value.tag == STR_TAG and value.text:
        problem = value_problem(name, value.text)
        if problem is not None:
            return f"{name} {quoted(value.text)}: {problem}"
    if value.text == "" or (value.tag == CORE_TAG + "null" and value.text == "~"):
        return f"{name} is empty: {fix}"
    if value.tag == CORE_TAG + "null":
        return (
            f'{name}: {value.text} was read as null (no value): {fix} (or quote it: "{value.text}")'
        )
    if value.text is None:
        return f"{name} must be one string; found {describe(value)}"
    if not value.tag.startswith(CORE_TAG):
        return f"{name}: the tag {_tag(value.tag)} is not supported; write a plain string"
    if name == "id":
        why = "external ids are strings"
    elif name.endswith("_id"):
        why = "references are external ids, which are strings"
    else:
        why = "field values are strings"
    text = printable(value.text)
    return (
        f"{name}: {text} was read as {_read_as(value)}; {why}: quote it: {name}: "
        f"{quoted(value.text)}"
    )


# Tags on the format's mappings and lists (walker.py): where they were found.
IN_THE_FILE = "the file's top-level mapping"
IN_A_SECTION = "a list of entries"
IN_AN_ENTRY = "an entry"


def collection_tag(tag: str, where: str) -> str:
    return f"the tag {_tag(tag)} is not supported on {where}; write it without a tag"


def key_tag(tag: str) -> str:
    return f"the tag {_tag(tag)} is not supported on a key; write the key as a plain name"


# What discovery.py could not read, and why.
EMPTY_PATH = "an empty path was given: name a file or a folder (. for the current folder)"


def _reason(error: OSError) -> str:
    return printable(error.strerror or type(error).__name__)


def cannot_read(error: OSError) -> str:
    return f"cannot read the file: {_reason(error)}"


def cannot_reach(error: OSError) -> str:
    return f"cannot reach this path: {_reason(error)}"


def cannot_read_folder(error: OSError) -> str:
    return (
        f"cannot read this folder: {_reason(error)}; what its manifests declare would be "
        "missing (and a prune would delete it): make it readable, or leave it out of the paths"
    )


def not_regular(kind: str) -> str:
    return f"not a regular file but {kind}: refused without reading it (a manifest is a file)"


def too_large(limit: int) -> str:
    return (
        f"the file is larger than {byte_size(limit)}, the most a manifest file may hold: "
        "refused (--max-file-size or RECONCILER_MAX_FILE_SIZE set another limit)"
    )


def byte_size(size: int) -> str:
    """`64 MiB`, `1 KiB`, `1000 bytes`: the largest unit that divides `size` exactly."""
    for unit, name in ((1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")):
        if size >= unit and size % unit == 0:
            return f"{size // unit} {name}"
    return f"{size} byte{'s' if size != 1 else ''}"


def link_outside(target: str, real: str) -> str:
    where = printable(target) if target == real else f"{printable(target)} ({printable(real)})"
    return (
        f"a symbolic link to {where}, outside the paths given: not followed; give its target "
        "as a path too, or link only within the paths"
    )


def dangling_link(target: str) -> str:
    return f"a symbolic link to {printable(target)}, which does not exist: fix or remove it"


def broken_link(target: str, error: OSError) -> str:
    return f"a symbolic link to {printable(target)} that cannot be followed: {_reason(error)}"
