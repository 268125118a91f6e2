"""Cross-entity checks over everything the manifests declare: the `validate` stage, before `plan`.

Pure core, called by `manifests/reader.read_manifests` once every file is read; imports the
standard library, core values and `errors` only. It sees Declared values, never files:
duplicates, dangling references and a product whose client is not its brand's. Every id it
quotes is escaped (`core.text.printable`): the walker reports a bad id, and this must not print
it raw again.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable, Sequence
from typing import cast

from reconciler.core.resources import SPECS, Declared, Kind, ResourceKey
from reconciler.core.text import printable
from reconciler.errors import Location, Problem

# Suggesting a close id compares it with every declared id of its kind (~10 µs each). With
# more candidates than _MAX_SUGGESTION_CANDIDATES there is no suggestion, nor once a run has
# made _SUGGESTION_BUDGET comparisons in all (in read order): thousands of dangling references
# then take a fraction of a second, not minutes.
_MAX_SUGGESTION_CANDIDATES = 2_000
_SUGGESTION_BUDGET = 20_000


def check_declared(entities: Sequence[Declared]) -> list[Problem]:
    """Every cross-entity problem of `entities` (given in read order), sorted.

    A duplicate is reported at its second declaration; references are checked against the first.
    Linear: one dict lookup per reference; the ids to suggest from are gathered only once a
    reference dangles.
    """
    first, problems = _index(entities)
    suggest: _Suggestions | None = None
    references = {kind: spec.references for kind, spec in SPECS.items()}
    # first.get, taking a plain (kind, source, id) tuple: it hashes and compares as the key
    declared = cast("Callable[[object], Declared | None]", first.get)
    for entity in entities:
        kind, source, _ = entity.key
        attributes = entity.attributes
        for field, target in references[kind]:
            ref = attributes.get(field)
            if ref is not None and (target, source, ref) not in first:  # a ResourceKey's equal
                suggest = suggest or _Suggestions(first)
                problems.append(_dangling(entity, field, target, suggest))
        if kind is Kind.PRODUCT:  # its client_id must be its brand's
            client_id = attributes.get("client_id")
            brand = declared((Kind.BRAND, source, attributes.get("brand_id")))
            if brand is not None and client_id is not None:
                brand_client = brand.attributes.get("client_id")
                if brand_client is not None and brand_client != client_id:
                    problems.append(_client_mismatch(entity, brand, brand_client))
    return sorted(problems)


class _Suggestions:
    """The closest declared id to a dangling reference, within _SUGGESTION_BUDGET in all."""

    def __init__(self, declared: Iterable[ResourceKey]) -> None:
        self._ids: dict[tuple[Kind, str], list[str]] = {}
        for key in declared:
            self._ids.setdefault((key.kind, key.source), []).append(key.id)
        self._found: dict[tuple[Kind, str, str], str | None] = {}
        self._left = _SUGGESTION_BUDGET

    def __call__(self, kind: Kind, source: str, ref: str) -> str | None:
        if (kind, source, ref) not in self._found:
            candidates = self._ids.get((kind, source), [])
            found = None
            if len(candidates) <= min(_MAX_SUGGESTION_CANDIDATES, self._left):
                self._left -= len(candidates)
                found = _closest(ref, candidates)
            self._found[kind, source, ref] = found
        return self._found[kind, source, ref]


def _index(entities: Iterable[Declared]) -> tuple[dict[ResourceKey, Declared], list[Problem]]:
    first: dict[ResourceKey, Declared] = {}
    problems: list[Problem] = []
    for entity in entities:
        earlier = first.get(entity.key)
        if earlier is None:
            first[entity.key] = entity
            continue
        message = (
            f"duplicate {entity.key.kind.value} id {_quoted(entity.key.id)} in source "
            f"{entity.key.source}: first declared at {earlier.location}"
        )
        if earlier.location == entity.location:
            message += " (a YAML alias repeats the entry)"
        problems.append(Problem(entity.location, message))
    return first, problems


def _dangling(entity: Declared, field: str, kind: Kind, suggest: _Suggestions) -> Problem:
    ref = entity.attributes[field]
    source = entity.key.source
    message = (
        f"{field} {_quoted(ref)} refers to a {kind.value} that is not declared in source {source}"
    )
    suggestion = suggest(kind, source, ref)
    if suggestion is not None:
        message += f"; did you mean {_quoted(suggestion)}?"
    return Problem(_field_location(entity, field), message)


def _client_mismatch(entity: Declared, brand: Declared, brand_client: str) -> Problem:
    """`entity`, a product, names another client than its brand does (`brand_client`)."""
    client_id, brand_id = entity.attributes["client_id"], entity.attributes["brand_id"]
    return Problem(
        _field_location(entity, "client_id"),
        f"client_id {_quoted(client_id)} is not the client of brand {_quoted(brand_id)}, "
        f"which belongs to client {_quoted(brand_client)} "
        f"({_field_location(brand, 'client_id')}): a product's client_id must be its "
        "brand's client_id",
    )


def _closest(wanted: str, candidates: Sequence[str]) -> str | None:
    if not candidates:
        return None
    matches = difflib.get_close_matches(wanted, candidates, n=1)
    return matches[0] if matches else None


def _field_location(entity: Declared, field: str) -> Location:
    return entity.field_locations.get(field, entity.location)


def _quoted(value: str) -> str:
    return f'"{printable(value)}"'
