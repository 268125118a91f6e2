"""Where the manifests, the state file and COR disagree: the audit, as data (docs/audit.md).

Pure core, beside `plan.py`: no file, network, clock or terminal. `audit_offline` compares the
manifests with the state (through `build_plan`, so an audit and a plan never disagree about
what differs); `drift.py` adds what COR's read API says. Imports core values only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from enum import Enum

from reconciler.core.diff import FieldChange
from reconciler.core.plan import Action, build_plan
from reconciler.core.resources import KINDS, SPECS, Desired, Kind, Record, ResourceKey


class Category(str, Enum):
    """Kinds of disagreement, in report order: git against the state, then COR's drift."""

    NOT_APPLIED = "not_applied"
    NOT_DECLARED = "not_declared"
    DIFFERS = "differs"
    DANGLING = "dangling"
    IN_DOUBT = "in_doubt"
    DELETED = "deleted"
    RENAMED = "renamed"
    REPARENTED = "reparented"
    CHANGED = "changed"

    @property
    def heading(self) -> str:
        return _TITLES[self]

    @property
    def rank(self) -> int:
        return _RANKS[self]


_TITLES = {
    Category.NOT_APPLIED: "declared, never applied",
    Category.NOT_DECLARED: "recorded, no longer declared",
    Category.DIFFERS: "differs from the declaration",
    Category.DANGLING: "dangling reference",
    Category.IN_DOUBT: "in doubt",
    Category.DELETED: "drift in COR: deleted",
    Category.RENAMED: "drift in COR: renamed",
    Category.REPARENTED: "drift in COR: re-parented",
    Category.CHANGED: "drift in COR: changed",
}
_RANKS = {category: rank for rank, category in enumerate(Category)}
CATEGORIES: tuple[Category, ...] = tuple(Category)


@dataclass(frozen=True)
class Link:
    """One end of a reference: a record's external id and COR id (None where unknown)."""

    id: str | None
    cor_id: int | None


@dataclass(frozen=True)
class Reference:
    """A reference field of a record. Dangling: `before` names a record the state lacks.
    Re-parented: `before` is what the state records, `after` what COR holds now."""

    field: str  # client_id or brand_id
    kind: Kind  # the kind referred to
    before: Link
    after: Link | None = None


@dataclass(frozen=True)
class Finding:
    """One disagreement about one record.

    `changes` run from the state's value to the declared one (differs) or to COR's (drift).
    """

    category: Category
    key: ResourceKey
    cor_id: int | None = None
    attributes: Mapping[str, str] = field(default_factory=dict)  # not applied / not declared
    changes: tuple[FieldChange, ...] = ()  # differs, renamed, changed
    references: tuple[Reference, ...] = ()  # dangling, re-parented
    declared: bool = False  # in doubt: the manifests still declare it

    def sort_key(self) -> tuple[int, int, str, str]:
        return (self.category.rank, *self.key.sort_key())


@dataclass(frozen=True)
class ReadError:
    """A record whose COR copy could not be read (after the client's retries)."""

    key: ResourceKey
    cor_id: int
    message: str


@dataclass(frozen=True)
class Audit:
    findings: tuple[Finding, ...]  # sorted by category, then apply order
    errors: tuple[ReadError, ...] = ()  # sorted in apply order
    remote: bool = False  # COR's read API was consulted

    @property
    def disagreements(self) -> int:
        return len(self.findings)

    def counts(self) -> dict[Category, int]:
        counts = dict.fromkeys(CATEGORIES, 0)
        for finding in self.findings:
            counts[finding.category] += 1
        return counts

    def counts_by_kind(self) -> dict[Category, dict[Kind, int]]:
        """Per category with findings (report order), the findings per kind."""
        table: dict[Category, dict[Kind, int]] = {}
        for finding in self.findings:
            row = table.setdefault(finding.category, dict.fromkeys(KINDS, 0))
            row[finding.key.kind] += 1
        return dict(sorted(table.items(), key=lambda item: item[0].rank))


def build_audit(
    findings: Iterable[Finding], errors: Iterable[ReadError] = (), *, remote: bool = False
) -> Audit:
    """The findings and errors in their deterministic order."""
    return Audit(
        tuple(sorted(findings, key=Finding.sort_key)),
        tuple(sorted(errors, key=lambda error: error.key.sort_key())),
        remote,
    )


def audit_offline(
    desired: Desired,
    records: Mapping[ResourceKey, Record],
    in_doubt: AbstractSet[ResourceKey] = frozenset(),
) -> list[Finding]:
    """Manifests against the state: what a plan would do, plus what the state holds wrongly."""
    plan = build_plan(desired, records, in_doubt)
    findings = []
    for change in plan.changes:
        if change.action is Action.CREATE:
            if change.key not in in_doubt:  # in doubt: reported as such, it may exist
                findings.append(Finding(Category.NOT_APPLIED, change.key, None, change.attributes))
        elif change.action in (Action.UPDATE, Action.REPLACE):
            findings.append(
                Finding(Category.DIFFERS, change.key, change.cor_id, changes=change.diffs)
            )
    findings += [
        Finding(Category.NOT_DECLARED, record.key, record.cor_id, record.attributes)
        for record in plan.not_declared
    ]
    findings += [
        Finding(Category.IN_DOUBT, key, declared=key in desired)
        for key in sorted(in_doubt, key=ResourceKey.sort_key)
    ]
    findings += dangling_references(records)
    return findings


def dangling_references(records: Mapping[ResourceKey, Record]) -> list[Finding]:
    """Records whose client_id / brand_id names a record the state does not hold."""
    findings = []
    for key in sorted(records, key=ResourceKey.sort_key):
        record = records[key]
        missing = tuple(
            Reference(name, kind, Link(record.attributes[name], None))
            for name, kind in SPECS[key.kind].references
            if name in record.attributes
            and ResourceKey(kind, key.source, record.attributes[name]) not in records
        )
        if missing:
            findings.append(Finding(Category.DANGLING, key, record.cor_id, references=missing))
    return findings
