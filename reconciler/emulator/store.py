"""The emulated COR account: entities, COR ids and the business rules that need them.

Part of the emulator subpackage; pure in-memory logic (no sockets; the clock is injected).
Shapes of request bodies are checked before this (`fields.py`); here live the rules that need
the data: references resolved within the same source, a product's brand belonging to the
product's client, duplicates, not-found, dependants blocking a delete, soft-deleted products.

Not thread-safe on its own: the server serialises every call under one lock (`app.py`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from reconciler.core.resources import KINDS, SPECS, Kind
from reconciler.emulator.errors import (
    cor_id_not_found,
    deletion_error,
    duplicate,
    not_found,
    validation_error,
)
from reconciler.emulator.model import Entity, iso_utc

# COR ids are increasing integers; a separate range per kind makes a mixed-up id easy to spot.
FIRST_COR_ID: Mapping[Kind, int] = {Kind.CLIENT: 25001, Kind.BRAND: 3001, Kind.PRODUCT: 52001}

_Key = tuple[Kind, str, str]  # kind, source, external id


class Store:
    """Every entity created through the Integrations API (and any out-of-band change)."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._live: dict[_Key, Entity] = {}
        self._by_cor_id: dict[Kind, dict[int, Entity]] = {kind: {} for kind in KINDS}
        # (referenced kind, referenced COR id, dependant kind) -> how many live dependants
        self._dependants: Counter[tuple[Kind, int, Kind]] = Counter()
        self._next_cor_id = dict(FIRST_COR_ID)

    def reset(self) -> None:
        """Forget every entity and restart the COR id counters."""
        self._live.clear()
        for entities in self._by_cor_id.values():
            entities.clear()
        self._dependants.clear()
        self._next_cor_id = dict(FIRST_COR_ID)

    def create(
        self, kind: Kind, source: str, external_id: str, fields: Mapping[str, str]
    ) -> Entity:
        """A new entity; its references must be live entities of the same source."""
        if (kind, source, external_id) in self._live:
            raise duplicate(kind, source, external_id)
        refs = self._resolve(kind, source, fields)
        if kind is Kind.PRODUCT:
            self._check_brand_of_client(source, fields)
        now = iso_utc(self._clock())
        cor_id = self._next_cor_id[kind]
        self._next_cor_id[kind] = cor_id + 1
        entity = Entity(kind, source, external_id, cor_id, dict(fields), refs, now, now)
        self._put(entity)
        self._link(entity, +1)
        return entity

    def update(
        self, kind: Kind, source: str, external_id: str, changes: Mapping[str, str | None]
    ) -> Entity:
        """Only the fields sent change; None clears a field. Nothing changed: nothing touched."""
        current = self.find(kind, source, external_id)
        attributes = dict(current.attributes)
        for field, value in changes.items():
            if value is None:
                attributes.pop(field, None)
            else:
                attributes[field] = value
        if attributes == current.attributes:
            return current
        updated = replace(current, attributes=attributes, updated_at=iso_utc(self._clock()))
        self._put(updated)
        return updated

    def delete(self, kind: Kind, source: str, external_id: str) -> Entity:
        """Clients and brands go; products stay, flagged deleted. The external id is freed."""
        current = self.find(kind, source, external_id)
        self._check_no_dependants(current)
        self._link(current, -1)
        del self._live[(kind, source, external_id)]
        if kind is Kind.PRODUCT:
            gone = replace(current, deleted=True, updated_at=iso_utc(self._clock()))
            self._by_cor_id[kind][current.cor_id] = gone
            return gone
        del self._by_cor_id[kind][current.cor_id]
        return current

    def overwrite(
        self, kind: Kind, source: str, external_id: str, values: Mapping[str, Any]
    ) -> Entity:
        """An out-of-band change: any field may change, references too (same source)."""
        current = self.find(kind, source, external_id)
        spec = SPECS[kind]
        attributes = dict(current.attributes)
        for field, value in values.items():
            if field not in spec.fields:
                raise validation_error(f"unknown field: {field}")
            if value is None and field not in spec.required:
                attributes.pop(field, None)
            elif isinstance(value, str) and value:
                attributes[field] = value
            else:
                raise validation_error(f"{field} must be a non-empty string")
        refs = self._resolve(kind, source, attributes)
        updated = replace(
            current, attributes=attributes, refs=refs, updated_at=iso_utc(self._clock())
        )
        self._link(current, -1)
        self._link(updated, +1)
        self._put(updated)
        return updated

    def find(self, kind: Kind, source: str, external_id: str) -> Entity:
        """The live entity with this external id in this source, or *NotFoundError."""
        entity = self._live.get((kind, source, external_id))
        if entity is None:
            raise not_found(kind, source, external_id)
        return entity

    def get(self, kind: Kind, cor_id: int) -> Entity:
        """The live entity with this COR id (what the read API serves), or *NotFoundError."""
        entity = self._by_cor_id[kind].get(cor_id)
        if entity is None or entity.deleted:
            raise cor_id_not_found(kind, cor_id)
        return entity

    def live(self, kind: Kind) -> list[Entity]:
        """The live entities of one kind, by COR id."""
        return [entity for entity in self._by_cor_id[kind].values() if not entity.deleted]

    def entities(self) -> list[Entity]:
        """Everything held, soft-deleted products included: by kind, source, id, COR id."""
        every = [entity for kind in KINDS for entity in self._by_cor_id[kind].values()]
        return sorted(every, key=lambda e: (e.kind.rank, e.source, e.external_id, e.cor_id))

    def _put(self, entity: Entity) -> None:
        self._live[(entity.kind, entity.source, entity.external_id)] = entity
        self._by_cor_id[entity.kind][entity.cor_id] = entity

    def _resolve(self, kind: Kind, source: str, fields: Mapping[str, str]) -> dict[str, int]:
        refs: dict[str, int] = {}
        for field, target_kind in SPECS[kind].references:
            target = self._live.get((target_kind, source, fields[field]))
            if target is None:
                raise not_found(target_kind, source, fields[field])
            refs[field] = target.cor_id
        return refs

    def _check_brand_of_client(self, source: str, fields: Mapping[str, str]) -> None:
        brand = self._live[(Kind.BRAND, source, fields["brand_id"])]
        if brand.attributes["client_id"] != fields["client_id"]:
            raise validation_error(
                f"brand {brand.external_id!r} belongs to client "
                f"{brand.attributes['client_id']!r}, not to client {fields['client_id']!r}"
            )

    def _link(self, entity: Entity, delta: int) -> None:
        for field, target_kind in SPECS[entity.kind].references:
            self._dependants[(target_kind, entity.refs[field], entity.kind)] += delta

    def _check_no_dependants(self, entity: Entity) -> None:
        linked = [
            f"{count} {kind.value}(s)"
            for kind in KINDS
            if (count := self._dependants[(entity.kind, entity.cor_id, kind)]) > 0
        ]
        if linked:
            raise deletion_error(
                f"{entity.kind.value.capitalize()} {entity.external_id!r} cannot be deleted: "
                f"{', '.join(linked)} still linked to it"
            )
