"""Pydantic v2 models of one manifest file: the boundary between YAML and the core.

Pure module: imports pydantic and reconciler.core.resources, never yaml. `reader` reads each
entry's values as `Written` (tag and text), asks `entry_findings` and `top_level_findings`
what is wrong with them, and locates each `Finding` at a file:line:col. An entry that plainly
fits (`ENTRY_FIELDS`, `REQUIRED_FIELDS`, `FLAG_FIELDS`) need not be validated one by one.
`ManifestFile.model_json_schema()` is the JSON Schema of the manifest format.

Every field value is a non-empty string (strict: no number, boolean or date is coerced). An
optional field is either absent or a non-empty string; `None` is never a valid value.

The second half words the problems of a file that does not fit the models, from what YAML read
(`Written`: a resolved tag and the text as written), so that load.py only locates them.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Annotated, Any, Literal, NamedTuple, get_args

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator
from pydantic.json_schema import SkipJsonSchema
from pydantic_core import PydanticCustomError

from reconciler.core.resources import Kind, Source

Text = Annotated[str, Field(min_length=1)]


def _drop_default(schema: dict[str, Any]) -> None:
    # An optional field is absent or a string; `"default": null` would suggest null is allowed.
    schema.pop("default", None)


def _optional(description: str) -> Any:
    return Field(default=None, description=description, json_schema_extra=_drop_default)


_MODEL_CONFIG = ConfigDict(extra="forbid", frozen=True, strict=True)
_ID_DOC = (
    "The entity's external id: yours, unique per kind and source, a string (quote digits: "
    '"00123"). It never changes; a new id means a new entity.'
)
_CLIENT_REF_DOC = "External id of a client declared (in any file) with the same source."


class _Entry(BaseModel):
    model_config = _MODEL_CONFIG

    id: Text = Field(description=_ID_DOC)
    name: Text = Field(description="Display name in COR.")
    protect: StrictBool | SkipJsonSchema[None] = Field(
        default=None,
        description="true: never deleted by a prune while the state records it protected; "
        "declare false and apply before removing the entry. Not sent to COR.",
    )

    @field_validator("*", mode="before")
    @classmethod
    def _reject_none(cls, value: object) -> object:
        if value is None:
            raise PydanticCustomError("empty_value", "give a value or remove the field")
        return value


class ClientEntry(_Entry):
    """A client (an account of the agency): POST /v2/integrations/clients."""

    business_name: Text | SkipJsonSchema[None] = _optional("Legal or business name.")
    email_contact: Text | SkipJsonSchema[None] = _optional("Contact e-mail address.")
    name_contact: Text | SkipJsonSchema[None] = _optional("Contact's first name.")
    last_name_contact: Text | SkipJsonSchema[None] = _optional("Contact's last name.")
    phone: Text | SkipJsonSchema[None] = _optional("Contact phone number.")
    website: Text | SkipJsonSchema[None] = _optional("Website URL.")
    description: Text | SkipJsonSchema[None] = _optional("Free text about the client.")


class BrandEntry(_Entry):
    """A brand of a client: POST /v2/integrations/brands. A brand cannot move to another client."""

    client_id: Text = Field(description=_CLIENT_REF_DOC)


class ProductEntry(_Entry):
    """A product of a client's brand: POST /v2/integrations/products."""

    client_id: Text = Field(description=_CLIENT_REF_DOC + " Must be the brand's client.")
    brand_id: Text = Field(
        description="External id of a brand declared (in any file) with the same source."
    )
    description: Text | SkipJsonSchema[None] = _optional("Free text about the product.")


class ManifestFile(BaseModel):
    """One manifest file: the source its entities belong to, and the entities it declares."""

    model_config = _MODEL_CONFIG

    source: Source = Field(
        description="The integration source (exact spelling); identity is (kind, source, id)."
    )
    clients: list[ClientEntry] = Field(default_factory=list, description="Clients to declare.")
    brands: list[BrandEntry] = Field(default_factory=list, description="Brands to declare.")
    products: list[ProductEntry] = Field(default_factory=list, description="Products to declare.")


ENTRY_MODELS: Mapping[Kind, type[BaseModel]] = {
    Kind.CLIENT: ClientEntry,
    Kind.BRAND: BrandEntry,
    Kind.PRODUCT: ProductEntry,
}
SECTIONS: Mapping[str, Kind] = {kind.plural: kind for kind in ENTRY_MODELS}
# What an entry may hold, must hold, and which fields are YAML booleans (all others: non-empty
# strings). An entry within these needs no validation: load.py's fast path; tests check that
# the models accept every such entry.
ENTRY_FIELDS: Mapping[Kind, frozenset[str]] = {
    kind: frozenset(model.model_fields) for kind, model in ENTRY_MODELS.items()
}
REQUIRED_FIELDS: Mapping[Kind, frozenset[str]] = {
    kind: frozenset(name for name, info in model.model_fields.items() if info.is_required())
    for kind, model in ENTRY_MODELS.items()
}
FLAG_FIELDS = frozenset({"protect"})


# --- Explaining a file that does not fit the models (load.py maps each error to its node) ---

_CORE = "tag:yaml.org,2002:"
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


class Written(NamedTuple):
    """A YAML value as written: its resolved tag and, for a scalar, its text (None otherwise)."""

    tag: str
    text: str | None


STR_TAG = _CORE + "str"
BOOL_TAG = _CORE + "bool"
_TRUE = frozenset({"true", "yes", "on", "y"})  # YAML 1.1's true spellings, any case


def plain(value: Written) -> object:
    """What the models are given: a str for a string scalar, a bool for a boolean one
    (`protect`); anything else as is, which they reject."""
    if value.tag == STR_TAG and value.text is not None:
        return value.text
    if value.tag == BOOL_TAG and value.text is not None:
        return value.text.lower() in _TRUE
    return value


class Finding(NamedTuple):
    """One problem the models find, and where it is: `at` the whole entry or file mapping,
    or the key or the value of the field (top-level key) `name`."""

    at: Literal["whole", "key", "value"]
    name: str
    message: str


def entry_findings(kind: Kind, fields: Mapping[str, Written]) -> list[Finding]:
    """Every problem of one entry (its fields as written, in order), in the user's terms."""
    try:
        ENTRY_MODELS[kind].model_validate({name: plain(value) for name, value in fields.items()})
    except ValidationError as error:
        return _findings(
            error,
            missing=lambda name: missing_field(kind, name),
            unknown=lambda name: unknown_field(kind, name),
            wrong=lambda name: field_value(kind, name, fields[name]),
        )
    return []


def top_level_findings(
    values: Mapping[str, Written], lists: Collection[str], declares: bool
) -> list[Finding]:
    """The problems of a file's top-level mapping: `values` are its keys' values, but those in
    `lists` (sections that are lists: their entries are checked one by one); `declares`: some
    section lists an entry (only then is `source:` required)."""
    document = {name: plain(value) for name, value in values.items()}
    document |= {name: [] for name in lists}
    try:
        ManifestFile.model_validate(document)
    except ValidationError as error:
        return _findings(
            error,
            missing=lambda name: MISSING_SOURCE if declares else None,
            unknown=unknown_top_level,
            wrong=lambda name: top_level_value(name, values[name]),
        )
    return []


def _findings(
    error: ValidationError,
    missing: Callable[[str], str | None],
    unknown: Callable[[str], str],
    wrong: Callable[[str], str],
) -> list[Finding]:
    """pydantic's errors, one per field (an optional field's union reports once per member)."""
    findings: dict[str, Finding | None] = {}
    for detail in error.errors(include_url=False):
        name = str(detail["loc"][0])
        if name in findings:
            continue
        if detail["type"] == "missing":
            message = missing(name)
            findings[name] = None if message is None else Finding("whole", name, message)
        elif detail["type"] == "extra_forbidden":
            findings[name] = Finding("key", name, unknown(name))
        else:
            findings[name] = Finding("value", name, wrong(name))
    return [finding for finding in findings.values() if finding is not None]


def _read_as(value: Written) -> str:
    if value.tag == _CORE + "timestamp" and value.text is not None and len(value.text) > 10:
        return "a timestamp"
    return _READ_AS.get(value.tag.removeprefix(_CORE), f"a value tagged {value.tag}")


def describe(value: Written) -> str:
    """What YAML read: `an integer 00123`, `a list`, `a string "x"`."""
    if value.text is None or value.tag == _CORE + "null":
        return _read_as(value)
    if value.tag == _CORE + "str":
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
    keys = tuple(ManifestFile.model_fields)
    return f'unknown top-level key "{key}"; {_closest(key, keys)}valid keys: {", ".join(keys)}'


def top_level_value(key: str, value: Written) -> str:
    """`source` is not a valid source, or a section is not a list."""
    if key == "source":
        return _source_message(value)
    if value.tag == _CORE + "null":
        return f"{key} is empty: list entries under it, write `{key}: []` or remove the key"
    return f"{key} must be a list of entries (each starting with `- `); found {describe(value)}"


def _source_message(value: Written) -> str:
    if value.tag == _CORE + "null" or value.text == "":
        return f"source is empty: name one of: {_SOURCES_TEXT}"
    if value.tag != _CORE + "str" or value.text is None:
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
    fields = tuple(sorted(ENTRY_MODELS[kind].model_fields, key=lambda f: f == "protect"))
    return (
        f'unknown field "{name}" in a {kind.value}; {_closest(name, fields)}'
        f"valid fields: {', '.join(fields)}"
    )


def field_value(kind: Kind, name: str, value: Written) -> str:
    """A field value that is not a non-empty string."""
    required = ENTRY_MODELS[kind].model_fields[name].is_required()
    fix = "give it a value" if required else "give a value or remove the field"
    if name == "protect":
        return f"protect must be true or false; found {describe(value)}"
    if value.text == "" or (value.tag == _CORE + "null" and value.text == "~"):
        return f"{name} is empty: {fix}"
    if value.tag == _CORE + "null":
        return (
            f'{name}: {value.text} was read as null (no value): {fix} (or quote it: "{value.text}")'
        )
    if value.text is None:
        return f"{name} must be one string; found {describe(value)}"
    if not value.tag.startswith(_CORE):
        return f"{name}: the tag {value.tag} is not supported; write a plain string"
    if name == "id":
        why = "external ids are strings"
    elif name.endswith("_id"):
        why = "references are external ids, which are strings"
    else:
        why = "field values are strings"
    quoted = json.dumps(value.text, ensure_ascii=False)
    return f"{name}: {value.text} was read as {_read_as(value)}; {why}: quote it: {name}: {quoted}"


def manifest_json_schema() -> dict[str, Any]:
    """The JSON Schema of one manifest file, generated from the models (one source of truth),
    for editors (yaml-language-server) and other tools. `reconciler schema` prints it."""
    schema = ManifestFile.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        **schema,
    }
