"""What the emulator holds per entity, and the JSON shapes COR answers with.

Part of the emulator subpackage; pure (no sockets, no clock). `store.py` keeps `Entity` values;
the functions here turn one into the exact bodies of `cor-examples.json` (integrations API),
the read API (`/v1/...`) and the test-control `/_emulator/records` listing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from reconciler.core.resources import SPECS, Kind

COMPANY_ID = 1234  # every entity belongs to the one company of the emulated account
USER_ID = 8546  # the API user that "created" brands and products


@dataclass(frozen=True)
class Entity:
    """One entity as COR holds it. `attributes` has every field set but `id`, references as
    EXTERNAL ids (as sent); `refs` has the same references as COR ids. `deleted`: gone from
    the read API; `mapped`: its external id still leads to it in the Integrations API (live
    entities, and dead ones under the "kept" reading of `deleted_ids`)."""

    kind: Kind
    source: str
    external_id: str
    cor_id: int
    attributes: Mapping[str, str]
    refs: Mapping[str, int]
    created_at: str
    updated_at: str
    deleted: bool = False
    mapped: bool = True


def iso_utc(timestamp: float) -> str:
    """Seconds since the epoch as COR writes them: `2025-01-10T14:30:00Z`."""
    return datetime.fromtimestamp(timestamp, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def integration_view(entity: Entity) -> dict[str, Any]:
    """The body of a create or update answer, keys in the documented order."""
    body = _named(entity)
    if entity.kind is not Kind.CLIENT:
        body.update(entity.refs)
    body["company_id"] = COMPANY_ID
    if entity.kind is not Kind.CLIENT:
        body["user_id"] = USER_ID
    body["created_at"] = entity.created_at
    body["updated_at"] = entity.updated_at
    return body


def read_view(entity: Entity) -> dict[str, Any]:
    """The body of `GET /v1/{kind}s/{id}`: id, name, optional fields set, references (COR ids)."""
    body = _named(entity)
    body.update(entity.refs)
    return body


def deletion_view(entity: Entity) -> dict[str, Any]:
    """The body of a delete answer; products (soft-deleted) answer with a message only."""
    if entity.kind is Kind.PRODUCT:
        return {"message": "Entity deleted successfully"}
    return {
        "message": f"{entity.kind.value.capitalize()} deleted successfully",
        "external_id": entity.external_id,
        "cor_id": entity.cor_id,
    }


def record_view(entity: Entity) -> dict[str, Any]:
    """One entry of `/_emulator/records`: external ids throughout, plus the COR id."""
    return {
        "kind": entity.kind.value,
        "source": entity.source,
        "id": entity.external_id,
        "cor_id": entity.cor_id,
        "attributes": dict(sorted(entity.attributes.items())),
        "deleted": entity.deleted,
        "mapped": entity.mapped,
    }


def _named(entity: Entity) -> dict[str, Any]:
    """`id`, `name` and the optional fields that are set, in the documented order."""
    body: dict[str, Any] = {"id": entity.cor_id, "name": entity.attributes["name"]}
    for field in SPECS[entity.kind].optional:
        if field in entity.attributes:
            body[field] = entity.attributes[field]
    return body
