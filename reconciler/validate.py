"""Cross-entity checks over everything the manifests declare (after `load`, before `graph`).

Pure module: standard library and reconciler's shared vocabulary only. It sees Declared values,
never files: duplicates, dangling references and a product whose client is not its brand's.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence

from reconciler.errors import Location, Problem
from reconciler.resources import SPECS, Declared, Kind, ResourceKey

# Suggesting a close id compares against every declared id of that kind; past this many the
# suggestion is skipped, so a file full of dangling references stays linear.
_MAX_SUGGESTION_CANDIDATES = 2_000


def check_declared(entities: Sequence[Declared]) -> list[Problem]:
    """Every cross-entity problem of `entities` (given in read order), sorted.

    A duplicate is reported at its second declaration; references are checked against the first.
    """
    first, problems = _index(entities)
    ids: dict[tuple[Kind, str], list[str]] = {}
    for key in first:
        ids.setdefault((key.kind, key.source), []).append(key.id)
    for entity in entities:
        problems.extend(_dangling_references(entity, first, ids))
        problems.extend(_client_mismatch(entity, first))
    return sorted(problems)


def _index(entities: Iterable[Declared]) -> tuple[dict[ResourceKey, Declared], list[Problem]]:
    first: dict[ResourceKey, Declared] = {}
    problems: list[Problem] = []
    for entity in entities:
        earlier = first.get(entity.key)
        if earlier is None:
            first[entity.key] = entity
            continue
        message = (
            f'duplicate {entity.key.kind.value} id "{entity.key.id}" in source '
            f"{entity.key.source}: first declared at {earlier.location}"
        )
        if earlier.location == entity.location:
            message += " (a YAML alias repeats the entry)"
        problems.append(Problem(entity.location, message))
    return first, problems


def _dangling_references(
    entity: Declared,
    declared: Mapping[ResourceKey, Declared],
    ids: Mapping[tuple[Kind, str], list[str]],
) -> list[Problem]:
    problems = []
    for field, kind in SPECS[entity.key.kind].references:
        ref = entity.attributes.get(field)
        if ref is None or ResourceKey(kind, entity.key.source, ref) in declared:
            continue
        message = (
            f'{field} "{ref}" refers to a {kind.value} that is not declared in source '
            f"{entity.key.source}"
        )
        suggestion = _closest(ref, ids.get((kind, entity.key.source), []))
        if suggestion is not None:
            message += f'; did you mean "{suggestion}"?'
        problems.append(Problem(_field_location(entity, field), message))
    return problems


def _client_mismatch(entity: Declared, declared: Mapping[ResourceKey, Declared]) -> list[Problem]:
    if entity.key.kind is not Kind.PRODUCT:
        return []
    client_id = entity.attributes.get("client_id")
    brand_id = entity.attributes.get("brand_id")
    if client_id is None or brand_id is None:
        return []
    brand = declared.get(ResourceKey(Kind.BRAND, entity.key.source, brand_id))
    if brand is None:
        return []
    brand_client = brand.attributes.get("client_id")
    if brand_client is None or brand_client == client_id:
        return []
    return [
        Problem(
            _field_location(entity, "client_id"),
            f'client_id "{client_id}" is not the client of brand "{brand_id}", which belongs to '
            f'client "{brand_client}" ({_field_location(brand, "client_id")}): a product\'s '
            "client_id must be its brand's client_id",
        )
    ]


def _closest(wanted: str, candidates: Sequence[str]) -> str | None:
    if not candidates or len(candidates) > _MAX_SUGGESTION_CANDIDATES:
        return None
    matches = difflib.get_close_matches(wanted, candidates, n=1)
    return matches[0] if matches else None


def _field_location(entity: Declared, field: str) -> Location:
    return entity.field_locations.get(field, entity.location)
