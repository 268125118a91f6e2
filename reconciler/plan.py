"""Declared versus recorded: the plan, as data.

Pure core (`load → validate → plan → render → apply`): no file, network, clock or terminal.
`build_plan` compares what the manifests declare with what the state records — offline, so a
plan needs no credentials — and returns the changes in apply order.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from enum import Enum

from reconciler.diff import FieldChange, field_changes
from reconciler.resources import SPECS, Declared, Desired, Record, ResourceKey


class Action(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"  # an immutable field changed: the API cannot do it; apply refuses


@dataclass(frozen=True)
class Change:
    """One planned change. `attributes` are the declared ones; `cor_id` the recorded one."""

    action: Action
    key: ResourceKey
    attributes: Mapping[str, str]
    cor_id: int | None = None
    diffs: tuple[FieldChange, ...] = ()
    in_doubt: bool = False  # a create an earlier run may have carried out: adopt it first

    @property
    def immutable_diffs(self) -> tuple[FieldChange, ...]:
        immutable = SPECS[self.key.kind].immutable
        return tuple(d for d in self.diffs if d.field in immutable)


@dataclass(frozen=True)
class Summary:
    create: int
    update: int
    replace: int
    delete: int
    not_declared: int

    @property
    def changes(self) -> int:
        return self.create + self.update + self.replace + self.delete


@dataclass(frozen=True)
class Plan:
    changes: tuple[Change, ...]  # apply order: clients, brands, products; then source, id
    not_declared: tuple[Record, ...]  # recorded but no longer declared: kept (no deletion yet)
    # Creates an earlier apply may have carried out, no longer declared: they may exist in COR.
    in_doubt_not_declared: tuple[ResourceKey, ...] = ()

    @property
    def summary(self) -> Summary:
        counts = {action: 0 for action in Action}
        for change in self.changes:
            counts[change.action] += 1
        return Summary(
            create=counts[Action.CREATE],
            update=counts[Action.UPDATE],
            replace=counts[Action.REPLACE],
            delete=0,
            not_declared=len(self.not_declared),
        )

    @property
    def replacements(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action is Action.REPLACE)


def build_plan(
    desired: Desired,
    recorded: Mapping[ResourceKey, Record],
    in_doubt: AbstractSet[ResourceKey] = frozenset(),
) -> Plan:
    """Creates for declared-but-unrecorded, updates/replacements for records that differ.

    `in_doubt` are creates an earlier run started without learning the outcome (state.md).
    """
    changes = []
    for key in _in_apply_order(desired):
        change = _change_for(desired[key], recorded.get(key))
        if change is not None and change.action is Action.CREATE and key in in_doubt:
            change = replace(change, in_doubt=True)
        if change is not None:
            changes.append(change)
    not_declared = tuple(
        recorded[key] for key in _in_apply_order(k for k in recorded if k not in desired)
    )
    lost = tuple(_in_apply_order(k for k in in_doubt if k not in desired and k not in recorded))
    return Plan(tuple(changes), not_declared, lost)


def _in_apply_order(keys: Iterable[ResourceKey]) -> list[ResourceKey]:
    return sorted(keys, key=ResourceKey.sort_key)


def _change_for(declared: Declared, record: Record | None) -> Change | None:
    if record is None:
        return Change(Action.CREATE, declared.key, declared.attributes)
    if record.attributes == declared.attributes:  # the cheap check first; most records are equal
        return None
    diffs = field_changes(record.attributes, declared.attributes)
    immutable = SPECS[declared.key.kind].immutable
    action = Action.REPLACE if any(d.field in immutable for d in diffs) else Action.UPDATE
    return Change(action, declared.key, declared.attributes, record.cor_id, diffs)


def update_fields(change: Change) -> dict[str, str | None]:
    """What a PUT must send for an update: the changed updatable fields; None clears one."""
    updatable = SPECS[change.key.kind].updatable
    return {d.field: d.after for d in change.diffs if d.field in updatable}
