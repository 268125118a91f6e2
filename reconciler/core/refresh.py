"""What COR holds now, as records: the refresh that `plan --refresh` and `apply --refresh` plan
from (docs/cli.md "Refresh").

Pure core: turns the read API's answers (fetched by `actions/readback.py`, compared as
`drift.py` compares them for `audit --remote`) into the records as COR holds them. A field COR
returned replaces the recorded value (a reference's COR id becomes the external id of the
record the state knows under it); a field COR did not return keeps the recorded value and is
counted as unverifiable; a record COR no longer has is left out (gone), so the plan creates it
again. The plan is then made against these records, and `mark_drift` says which of its changes
come from COR rather than from the manifests. Imports core values only.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType

from reconciler.core.audit import ReadError
from reconciler.core.diff import FieldChange
from reconciler.core.drift import (
    Answer,
    Gone,
    Unread,
    answer_cor_id,
    answer_problem,
    field_text,
    unwrap_answer,
)
from reconciler.core.plan import Action, Plan
from reconciler.core.resources import SPECS, Desired, Kind, Record, ResourceKey

CHANGED_IN_COR = "changed in COR"
_UNKNOWN = "(COR id "  # a parent the state does not know, shown by its COR id: never recorded
DELETED_IN_COR = "deleted in COR"


@dataclass(frozen=True)
class Refreshed:
    """The records as COR holds them, and how they differ from what the state records."""

    records: Mapping[ResourceKey, Record]  # every record read, as COR holds it (gone: absent)
    drifted: Mapping[ResourceKey, tuple[FieldChange, ...]]  # recorded → COR, per field
    gone: frozenset[ResourceKey]  # recorded, and COR no longer has it
    # fields the state records but COR's answers left out, per (kind, field): how many records
    unverifiable: Mapping[tuple[Kind, str], int] = field(default_factory=dict)
    errors: tuple[ReadError, ...] = ()  # records not read (or not understood): no plan then

    def view(self, recorded: Mapping[ResourceKey, Record]) -> dict[ResourceKey, Record]:
        """`recorded` (the state's records, maybe narrowed by --source) as COR holds them."""
        now = self.records
        return {
            key: now.get(key, record) for key, record in recorded.items() if key not in self.gone
        }


def refresh(
    recorded: Mapping[ResourceKey, Record], answers: Mapping[ResourceKey, Answer]
) -> Refreshed:
    """The records as COR's `answers` show them (one answer per record read)."""
    by_cor_id = {(r.key.kind, r.key.source, r.cor_id): r.key.id for r in recorded.values()}
    records: dict[ResourceKey, Record] = {}
    drifted: dict[ResourceKey, tuple[FieldChange, ...]] = {}
    gone: set[ResourceKey] = set()
    unverifiable: Counter[tuple[Kind, str]] = Counter()
    errors: list[ReadError] = []
    for key, answer in answers.items():
        record = recorded[key]
        if isinstance(answer, Gone):
            gone.add(key)
            continue
        if isinstance(answer, Unread):
            errors.append(ReadError(key, record.cor_id, answer.message))
            continue
        live = _live_attributes(record, unwrap_answer(answer), by_cor_id)
        if isinstance(live, ReadError):
            errors.append(live)
            continue
        attributes, missing = live
        for name in missing:
            unverifiable[(key.kind, name)] += 1
        if attributes == record.attributes:
            records[key] = record
            continue
        records[key] = record._replace(attributes=MappingProxyType(attributes))
        drifted[key] = _changes(record.attributes, attributes)
    return Refreshed(
        MappingProxyType(records),
        MappingProxyType(drifted),
        frozenset(gone),
        MappingProxyType(dict(sorted(unverifiable.items(), key=_by_kind_field))),
        tuple(sorted(errors, key=lambda e: e.key.sort_key())),
    )


def _live_attributes(
    record: Record, body: Mapping[str, object], by_cor_id: Mapping[tuple[Kind, str, int], str]
) -> tuple[dict[str, str], list[str]] | ReadError:
    """The record's attributes as COR holds them, and the recorded fields COR left out."""
    problem = answer_problem(record, body)
    if problem is not None:
        return problem
    key = record.key
    spec = SPECS[key.kind]
    references = dict(spec.references)
    attributes = dict(record.attributes)
    missing = []
    for name in spec.fields:
        if name not in body:
            if name in attributes:
                missing.append(name)  # never compared: not assumed equal, said unverifiable
            continue
        if name in references:
            target = answer_cor_id(body[name])
            if isinstance(target, str):
                return ReadError(key, record.cor_id, f"COR's {name} is not a COR id ({target})")
            value = _reference(target, references[name], key.source, by_cor_id)
        else:
            value = field_text(body[name])
        if value is None:
            attributes.pop(name, None)
        else:
            attributes[name] = value
    return attributes, missing


def _reference(
    cor_id: int | None, kind: Kind, source: str, by_cor_id: Mapping[tuple[Kind, str, int], str]
) -> str | None:
    """The external id of the record COR's reference (its COR id; None: not set) names: one the
    state knows under that COR id, else `(COR id N)` — not an id the manifests can hold, so it
    differs from any declared."""
    if cor_id is None:
        return None
    return by_cor_id.get((kind, source, cor_id), f"{_UNKNOWN}{cor_id})")


def _changes(before: Mapping[str, str], after: Mapping[str, str]) -> tuple[FieldChange, ...]:
    names = sorted(
        name for name in before.keys() | after.keys() if before.get(name) != after.get(name)
    )
    return tuple(FieldChange(name, before.get(name), after.get(name)) for name in names)


def _by_kind_field(item: tuple[tuple[Kind, str], int]) -> tuple[int, str]:
    (kind, name), _ = item
    return (kind.rank, name)


def forgotten(
    refreshed: Refreshed,
    recorded: Mapping[ResourceKey, Record],
    declared: Mapping[ResourceKey, object],
) -> tuple[Record, ...]:
    """Records COR no longer has and the manifests no longer declare: the state forgets them."""
    keys = sorted(
        (k for k in refreshed.gone if k in recorded and k not in declared), key=ResourceKey.sort_key
    )
    return tuple(recorded[key] for key in keys)


def synced(
    refreshed: Refreshed, recorded: Mapping[ResourceKey, Record], planned: frozenset[ResourceKey]
) -> tuple[Record, ...]:
    """Records COR changed that no change of the plan touches (COR already holds what is
    declared, or they are not declared): the state takes COR's values for them — except for
    one whose parent in COR is a record the state does not know (no external id to record)."""
    keys = sorted(
        (
            k
            for k, changes in refreshed.drifted.items()
            if k in recorded
            and k not in planned
            and not any((c.after or "").startswith(_UNKNOWN) for c in changes)
        ),
        key=ResourceKey.sort_key,
    )
    return tuple(refreshed.records[key] for key in keys)


def drift_of(refreshed: Refreshed, key: ResourceKey, fields: frozenset[str]) -> str:
    """Why a change of `key` touching `fields` comes from COR, or "" if it does not."""
    if key in refreshed.gone:
        return DELETED_IN_COR
    changed = refreshed.drifted.get(key, ())
    return CHANGED_IN_COR if any(c.field in fields for c in changed) else ""


def mark_refreshed(
    plan: Plan, refreshed: Refreshed, recorded: Mapping[ResourceKey, Record], desired: Desired
) -> Plan:
    """The plan made against COR's records, each change from COR marked so, with the records
    the state takes from COR (`synced`) or forgets (`forgotten`)."""
    changes = []
    for change in plan.changes:
        if change.action is Action.CREATE:
            why = DELETED_IN_COR if change.key in refreshed.gone else ""
        elif change.action is Action.DELETE:
            why = ""
        else:
            why = drift_of(refreshed, change.key, frozenset(d.field for d in change.diffs))
        changes.append(replace(change, drift=why) if why else change)
    planned = frozenset(change.key for change in changes)
    return replace(
        plan,
        changes=tuple(changes),
        refreshed=True,
        synced=synced(refreshed, recorded, planned),
        forgotten=forgotten(refreshed, recorded, desired),
        unverifiable=tuple(
            (kind, name, count) for (kind, name), count in refreshed.unverifiable.items()
        ),
    )
