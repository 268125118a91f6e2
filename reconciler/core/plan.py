"""Declared versus recorded: the plan, as data.

Pure core: the `plan` stage of `manifests → validate → plan → (limits) → render`
(docs/architecture.md); no file, network, clock or terminal. `build_plan` compares what the
manifests declare with what the state records — offline, so a plan needs no credentials — and
returns the changes in apply order.
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, replace
from enum import Enum
from operator import attrgetter

from reconciler.core.diff import FieldChange, field_changes
from reconciler.core.resources import (
    SPECS,
    Declared,
    Desired,
    Kind,
    Record,
    ResourceKey,
    in_apply_order,
)
from reconciler.core.scope import PruneScope, file_names

_KEY = attrgetter("key")


class Action(str, Enum):
    CREATE = "create"
    UPDATE = "update"
    REPLACE = "replace"  # an immutable field changed: delete, then create (--allow-replace)
    DELETE = "delete"  # recorded, no longer declared, and the plan prunes (`--prune`)


@dataclass(frozen=True)
class Change:
    """One planned change. `attributes` are the declared ones (for a delete: the recorded
    ones); `cor_id` the recorded one."""

    action: Action
    key: ResourceKey
    attributes: Mapping[str, str]
    cor_id: int | None = None
    diffs: tuple[FieldChange, ...] = ()
    in_doubt: bool = False  # a create an earlier run may have carried out: adopt it first
    protect: bool = False  # declared `protect: true`: recorded so, never deleted while so
    needed_by: ResourceKey | None = None  # not targeted, but a target needs it (--target)
    drift: str = ""  # with --refresh: "changed in COR" or "deleted in COR" (core/refresh.py)
    replaced_with: ResourceKey | None = None  # replaced because its parent is (a brand's product)
    file: str | None = None  # the manifest file declaring it (a delete: recorded), core/scope.py
    pending_on_base: bool = False  # the base branch's own plan holds it too (core/baseline.py)

    def record(self, cor_id: int) -> Record:
        """What the state records once COR holds this change's record under `cor_id`: the
        declared attributes, protection and file (the one place a Record is made from a
        Change)."""
        return Record(self.key, cor_id, self.attributes, self.protect, self.file)

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
    # Apply order: creates and updates of clients, brands, products (then source, id); then
    # deletes in reverse: products, brands, clients.
    changes: tuple[Change, ...]
    not_declared: tuple[Record, ...]  # recorded, no longer declared, and kept (not pruned)
    # Creates an earlier apply may have carried out, no longer declared: they may exist in COR.
    in_doubt_not_declared: tuple[ResourceKey, ...] = ()
    # Deletion limits the plan breaks (limits.py); `forced`: --force lets it pass anyway.
    limits_broken: tuple[str, ...] = ()
    forced: bool = False
    # Replacements planned without --allow-replace: apply refuses the plan (exit 4).
    replace_refused: bool = False
    blocked: tuple[str, ...] = ()  # what apply could not do (a replaced brand's undeclared product)
    # With --refresh (core/refresh.py): the plan was made against what COR holds now.
    refreshed: bool = False
    synced: tuple[Record, ...] = ()  # changed in COR, no change planned: the state takes COR's
    forgotten: tuple[Record, ...] = ()  # gone from COR and not declared: the state forgets them
    unverifiable: tuple[tuple[Kind, str, int], ...] = ()  # (kind, field, records) COR left out

    @property
    def refused(self) -> bool:
        limits = bool(self.limits_broken) and not self.forced
        return limits or self.replace_refused or bool(self.blocked)

    @property
    def summary(self) -> Summary:
        counts = {action: 0 for action in Action}
        for change in self.changes:
            counts[change.action] += 1
        return Summary(
            create=counts[Action.CREATE],
            update=counts[Action.UPDATE],
            replace=counts[Action.REPLACE],
            delete=counts[Action.DELETE],
            not_declared=len(self.not_declared),
        )

    @property
    def replacements(self) -> tuple[Change, ...]:
        return tuple(c for c in self.changes if c.action is Action.REPLACE)


def build_plan(
    desired: Desired,
    recorded: Mapping[ResourceKey, Record],
    in_doubt: AbstractSet[ResourceKey] = frozenset(),
    *,
    prune: bool = False,
    scope: PruneScope | None = None,
    cwd: str = "",
    base: str | None = None,
) -> Plan:
    """Creates for declared-but-unrecorded, updates/replacements for records that differ, and
    with `prune`, deletes for records no longer declared (never for protected ones).

    `in_doubt` are creates an earlier run started without learning the outcome (state.md).
    With `scope` (the paths given, core/scope.py), a record no longer declared is deleted or
    listed as kept only if its recorded file lies within them; others are left out. A record
    declared in another file than the state records changes too (state only: its file); one
    recorded without a file gets it silently. Files are named from `cwd`, relative to `base`
    (scope.normalise).
    """
    changes = []
    matched = 0  # recorded keys that are declared
    name = file_names(cwd, base)
    for declared in desired.values():  # in any order: only the changes are sorted, below
        record = recorded.get(declared.key)
        path = declared.location.path
        if record is not None:
            matched += 1
            if (  # the cheap check first: most records are equal, from the same file
                record.attributes == declared.attributes
                and record.protected == declared.protect
                and (record.file is None or record.file == path or not _moved(record, name(path)))
            ):
                continue
        change = _change_for(declared, record, name(path))
        if change.action is Action.CREATE and declared.key in in_doubt:
            change = replace(change, in_doubt=True)
        changes.append(change)
    changes = in_apply_order(changes, _KEY)  # a few, usually: cheaper than sorting 100,000
    if matched == len(recorded):  # every record is declared (the usual plan): none is gone
        gone: list[Record] = []
    else:
        covers = (lambda file: True) if scope is None else scope.matcher()
        gone = in_apply_order(
            (r for k, r in recorded.items() if k not in desired and covers(r.file)), _KEY
        )
    deleted = [record for record in gone if prune and not record.protected]
    changes += [
        Change(Action.DELETE, record.key, record.attributes, record.cor_id, file=record.file)
        for record in sorted(deleted, key=lambda record: record.key.delete_sort_key())
    ]
    kept = tuple(record for record in gone if not prune or record.protected)
    lost = tuple(in_apply_order(k for k in in_doubt if k not in desired and k not in recorded))
    return Plan(tuple(changes), kept, lost)


def targeted(plan: Plan, targets: AbstractSet[ResourceKey]) -> Plan:
    """The part of `plan` that touches `targets` (--target), and what they need, each marked
    with what needs it: for a target created or changed, its parents created in this plan
    (a parent must exist first); for a target deleted, its dependants deleted in this plan
    (they must go first). Kept and in-doubt records: the targeted ones only."""
    by_key = {change.key: change for change in plan.changes}
    wanted = set(targets)
    needed: dict[ResourceKey, ResourceKey] = {}
    todo = [key for key in targets if key in by_key]
    while todo:
        key = todo.pop()
        change = by_key[key]
        if change.action is Action.DELETE:
            extra = [
                other.key
                for other in plan.changes
                if other.action is Action.DELETE and key in other.key.references(other.attributes)
            ]
        else:
            refs = key.references(change.attributes)
            extra = [ref for ref in refs if ref in by_key and by_key[ref].action is Action.CREATE]
            if change.action is Action.REPLACE:  # what goes with it (a brand's products)
                extra += [other.key for other in plan.changes if other.replaced_with == key]
        for other_key in extra:
            if other_key not in wanted:
                wanted.add(other_key)
                needed[other_key] = key
                todo.append(other_key)
    return replace(
        plan,
        changes=tuple(
            replace(change, needed_by=needed[change.key]) if change.key in needed else change
            for change in plan.changes
            if change.key in wanted
        ),
        not_declared=tuple(record for record in plan.not_declared if record.key in targets),
        in_doubt_not_declared=tuple(k for k in plan.in_doubt_not_declared if k in targets),
        # --refresh: the state takes COR's values of, or forgets, the targeted records only
        synced=tuple(record for record in plan.synced if record.key in wanted),
        forgotten=tuple(record for record in plan.forgotten if record.key in targets),
    )


def _change_for(declared: Declared, record: Record | None, file: str | None) -> Change:
    """The change that makes `record` (None: not recorded) what is `declared`, from `file`
    (None: a path the state cannot hold); they differ."""
    key, protect = declared.key, declared.protect
    if record is None:
        return Change(Action.CREATE, key, declared.attributes, protect=protect, file=file)
    same = record.attributes == declared.attributes
    diffs = () if same else field_changes(record.attributes, declared.attributes)
    if record.protected != protect:  # recorded in the state only: no request
        diffs += (FieldChange("protect", _flag(record.protected), _flag(protect)),)
    if _moved(record, file):  # recorded in the state only: no request
        diffs += (FieldChange("file", record.file, file),)
    immutable = SPECS[key.kind].immutable
    action = Action.REPLACE if any(d.field in immutable for d in diffs) else Action.UPDATE
    file = file or record.file
    return Change(
        action, key, declared.attributes, record.cor_id, diffs, protect=protect, file=file
    )


def _moved(record: Record, file: str | None) -> bool:
    """Whether `record` is now declared in another file than it was: not when either is
    unknown (a format_version 1 state's record gets its file silently)."""
    return record.file is not None and file is not None and record.file != file


def _flag(value: bool) -> str:
    return "true" if value else "false"


def update_fields(change: Change) -> dict[str, str | None]:
    """What a PUT must send for an update: the changed updatable fields; None clears one."""
    updatable = SPECS[change.key.kind].updatable
    return {d.field: d.after for d in change.diffs if d.field in updatable}
