"""Field rules of the Integrations API: what a create, update or delete body may hold.

Part of the emulator subpackage; pure functions over decoded JSON (no sockets, no clock, no
store). The store enforces what needs its data (references, duplicates, dependants); this
module enforces shapes: required, optional and updatable fields per kind (from
`reconciler.core.resources.SPECS`), unknown fields, string values and length limits. Every shape
problem of one body is gathered into a single ValidationError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.core.resources import SOURCES, SPECS, Kind
from reconciler.emulator.errors import invalid_source, validation_error

MAX_LENGTH = 255
MAX_DESCRIPTION_LENGTH = 2000


def max_length(field: str) -> int:
    return MAX_DESCRIPTION_LENGTH if field == "description" else MAX_LENGTH


def read_source(body: Mapping[str, Any]) -> str:
    """The body's `metadata.source`; ValidationError when absent, InvalidSourceError if unknown."""
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        raise validation_error("metadata.source is required")
    extra = sorted(set(metadata) - {"source"})
    if extra:
        raise validation_error(f"unknown metadata field(s): {', '.join(extra)}")
    source = metadata.get("source")
    if not isinstance(source, str) or not source:
        raise validation_error("metadata.source is required and must be a string")
    if source not in SOURCES:
        raise invalid_source(source)
    return source


def read_create(kind: Kind, body: Mapping[str, Any]) -> tuple[str, str, dict[str, str]]:
    """(source, external id, fields) of a POST body. A null optional field counts as absent."""
    source = read_source(body)
    spec = SPECS[kind]
    problems = _unknown(body, ("metadata", "id", *spec.fields))
    values: dict[str, str] = {}
    for field in ("id", *spec.required):
        problems += _check(field, body.get(field), required=True)
    for field in spec.optional:
        if body.get(field) is not None:
            problems += _check(field, body[field], required=False)
    _raise_if(problems)
    for field in (*spec.required, *spec.optional):
        if body.get(field) is not None:
            values[field] = body[field]
    return source, body["id"], values


def read_update(kind: Kind, body: Mapping[str, Any]) -> tuple[str, dict[str, str | None]]:
    """(source, changes) of a PUT body; a change to None clears an optional field."""
    source = read_source(body)
    spec = SPECS[kind]
    problems: list[str] = []
    for field in sorted(set(body) - {"metadata"}):
        if field == "id" or field in spec.immutable:
            problems.append(f"{field} cannot be changed by an update")
        elif field not in spec.updatable:
            problems.append(f"unknown field: {field}")
        elif body[field] is None:
            if field in spec.required:
                problems.append(f"{field} is required and cannot be cleared")
        else:
            problems += _check(field, body[field], required=field in spec.required)
    _raise_if(problems)
    return source, {field: body[field] for field in body if field != "metadata"}


def read_delete(body: Mapping[str, Any]) -> str:
    """The source of a DELETE body, which carries nothing but its metadata."""
    source = read_source(body)
    _raise_if(_unknown(body, ("metadata",)))
    return source


def _unknown(body: Mapping[str, Any], allowed: tuple[str, ...]) -> list[str]:
    return [f"unknown field: {field}" for field in sorted(set(body) - set(allowed))]


def _check(field: str, value: object, *, required: bool) -> list[str]:
    if value is None:
        return [f"{field} is required"]
    if not isinstance(value, str):
        return [f"{field} must be a string"]
    if required and not value.strip():
        return [f"{field} must not be empty"]
    if len(value) > max_length(field):
        return [f"{field} is longer than {max_length(field)} characters"]
    return []


def _raise_if(problems: list[str]) -> None:
    if problems:
        raise validation_error("; ".join(problems))
