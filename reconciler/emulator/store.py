"""The emulated COR account: entities, COR ids and the business rules that need them.

Part of the emulator subpackage; pure in-memory logic (no sockets; the clock is injected).
Shapes of request bodies are checked before this (`fields.py`); here live the rules that need
the data: references resolved within the same source, a product's brand belonging to the
product's client, duplicates, not-found, dependants blocking a delete, soft-deleted products,
and what a deletion made in COR itself (out of band) does to the external id (`deleted_ids`).

Each kind keeps its live COR ids in a list in increasing order (COR ids only grow, so a create
appends), so that a page of the read API's lists is a slice: O(page size) per request.

Not thread-safe on its own: the server serialises every call under one lock (`app.py`).
"""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, Literal

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

# What a deletion in COR itself (out of band: `/_emulator/mutate`) does to the external id in
# the Integrations API (the contract's open question 7): "freed" for reuse, or "kept" mapped to
# the dead COR id until an Integrations DELETE frees it.
DeletedIds = Literal["freed", "kept"]
DELETED_IDS: tuple[DeletedIds, ...] = ("freed", "kept")

_Key = tuple[Kind, str, str]  # kind, source, external id


def check_deleted_ids(value: object) -> DeletedIds:
    """`value` if it names a reading of open question 7, else ValueError."""
    for reading in DELETED_IDS:
        if value == reading:
            return reading
    raise ValueError(f"deleted_ids must be 'freed' or 'kept', not {value!r}")


class Store:
    """Every entity created through the Integrations API (and any out-of-band change)."""

    def __init__(self, clock: Callable[[], float], deleted_ids: DeletedIds = "freed") -> None:
        self._clock = clock
        self._default_deleted_ids = check_deleted_ids(deleted_ids)
        self.deleted_ids: DeletedIds = self._default_deleted_ids
        # every external id mapped: live entities, and under "kept" the dead ones still mapped
        self._mapped: dict[_Key, Entity] = {}
        # every entity held (live, soft-deleted products, dead and still mapped), by COR id
        self._by_cor_id: dict[Kind, dict[int, Entity]] = {kind: {} for kind in KINDS}
        self._live_ids: dict[Kind, list[int]] = {kind: [] for kind in KINDS}  # increasing
        # (referenced kind, referenced COR id, dependant kind) -> how many live dependants
        self._dependants: Counter[tuple[Kind, int, Kind]] = Counter()
        self._next_cor_id = dict(FIRST_COR_ID)

    def reset(self) -> None:
        """Forget every entity, restart the COR id counters, and go back to the default
        `deleted_ids` reading."""
        self.deleted_ids = self._default_deleted_ids
        self._mapped.clear()
        for kind in KINDS:
            self._by_cor_id[kind].clear()
            self._live_ids[kind].clear()
        self._dependants.clear()
        self._next_cor_id = dict(FIRST_COR_ID)

    def create(
        self, kind: Kind, source: str, external_id: str, fields: Mapping[str, str]
    ) -> Entity:
        """A new entity; its references must be live entities of the same source. An external
        id still mapped (live, or dead under "kept") is a duplicate."""
        if (kind, source, external_id) in self._mapped:
            raise duplicate(kind, source, external_id)
        refs = self._resolve(kind, source, fields)
        if kind is Kind.PRODUCT:
            self._check_brand_of_client(source, fields)
        now = iso_utc(self._clock())
        cor_id = self._next_cor_id[kind]
        self._next_cor_id[kind] = cor_id + 1
        entity = Entity(kind, source, external_id, cor_id, dict(fields), refs, now, now)
        self._put(entity)
        self._live_ids[kind].append(cor_id)
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
        """The Integrations DELETE: the external id is freed. A live entity goes (clients and
        brands entirely; products stay, flagged deleted); a dead one still mapped ("kept")
        only loses its mapping."""
        current = self._mapped.get((kind, source, external_id))
        if current is None:
            raise not_found(kind, source, external_id)
        if not current.deleted:
            self._kill(current)
        del self._mapped[(kind, source, external_id)]
        if kind is Kind.PRODUCT:
            gone = replace(current, deleted=True, mapped=False, updated_at=iso_utc(self._clock()))
            self._by_cor_id[kind][current.cor_id] = gone
            return gone
        del self._by_cor_id[kind][current.cor_id]
        return replace(current, deleted=True, mapped=False)

    def delete_out_of_band(self, kind: Kind, source: str, external_id: str) -> Entity:
        """A deletion in COR itself (its UI): the entity goes from the read API; its external
        id is freed as by `delete` ("freed"), or stays mapped to the dead COR id ("kept")."""
        if self.deleted_ids == "freed":
            return self.delete(kind, source, external_id)
        current = self.find(kind, source, external_id)
        self._kill(current)
        dead = replace(current, deleted=True, updated_at=iso_utc(self._clock()))
        self._put(dead)
        return dead

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
        entity = self._mapped.get((kind, source, external_id))
        if entity is None or entity.deleted:
            raise not_found(kind, source, external_id)
        return entity

    def get(self, kind: Kind, cor_id: int) -> Entity:
        """The live entity with this COR id (what the read API serves), or *NotFoundError."""
        entity = self._by_cor_id[kind].get(cor_id)
        if entity is None or entity.deleted:
            raise cor_id_not_found(kind, cor_id)
        return entity

    def count(self, kind: Kind) -> int:
        """How many live entities of one kind."""
        return len(self._live_ids[kind])

    def live(self, kind: Kind, start: int = 0, stop: int | None = None) -> list[Entity]:
        """The live entities of one kind, by COR id: those from `start` to `stop` (a slice)."""
        entities = self._by_cor_id[kind]
        return [entities[cor_id] for cor_id in self._live_ids[kind][start:stop]]

    def entities(self) -> list[Entity]:
        """Everything held, soft-deleted products and dead entities still mapped included: by
        kind, source, id, COR id."""
        every = [entity for kind in KINDS for entity in self._by_cor_id[kind].values()]
        return sorted(every, key=lambda e: (e.kind.rank, e.source, e.external_id, e.cor_id))

    def _put(self, entity: Entity) -> None:
        self._mapped[(entity.kind, entity.source, entity.external_id)] = entity
        self._by_cor_id[entity.kind][entity.cor_id] = entity

    def _kill(self, entity: Entity) -> None:
        """Out of the live entities: no dependant may be left; it no longer counts as one."""
        self._check_no_dependants(entity)
        self._link(entity, -1)
        live_ids = self._live_ids[entity.kind]
        del live_ids[bisect_left(live_ids, entity.cor_id)]

    def _resolve(self, kind: Kind, source: str, fields: Mapping[str, str]) -> dict[str, int]:
        refs: dict[str, int] = {}
        for field, target_kind in SPECS[kind].references:
            refs[field] = self.find(target_kind, source, fields[field]).cor_id
        return refs

    def _check_brand_of_client(self, source: str, fields: Mapping[str, str]) -> None:
        brand = self.find(Kind.BRAND, source, fields["brand_id"])
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
