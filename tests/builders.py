"""Small constructors for core values, so table tests read like manifests and states."""

from __future__ import annotations

from reconciler.core.resources import Declared, Kind, Record, ResourceKey
from reconciler.errors import Location

HERE = Location("manifests/test.yaml", 1, 1)


def key(kind: str, source: str, ext_id: str) -> ResourceKey:
    return ResourceKey(Kind(kind), source, ext_id)


def declared(kind: str, source: str, ext_id: str, **attributes: str) -> Declared:
    return Declared(key(kind, source, ext_id), dict(attributes), HERE)


def recorded(kind: str, source: str, ext_id: str, cor_id: int, **attributes: str) -> Record:
    return Record(key(kind, source, ext_id), cor_id, dict(attributes))


def desired_of(*entities: Declared) -> dict[ResourceKey, Declared]:
    return {entity.key: entity for entity in entities}


def state_of(*records: Record) -> dict[ResourceKey, Record]:
    return {record.key: record for record in records}
