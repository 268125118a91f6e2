"""Deletion limits: no single command deletes more than the user allowed; and the plan made with
them (`make_plan`).

Pure core. Checked on every plan that prunes, before anything is applied: mass deletion by a
reconciler (a wrong path, an emptied file, a bad merge) is the incident GitOps users fear most.
Without `--force`, a plan that breaks a limit is refused (RefusedError, exit 4) and says which.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from reconciler.core.plan import Action, Plan, build_plan, targeted
from reconciler.core.replacing import with_dependants
from reconciler.core.resources import KINDS, Desired, Kind, Record, ResourceKey, parse_address
from reconciler.core.scope import PruneScope
from reconciler.errors import UsageError

V = TypeVar("V")

if TYPE_CHECKING:
    from reconciler.core.refresh import Refreshed

DEFAULT_SHARE = 25.0  # percent of the recorded records of a kind
DEFAULT_COUNT = 100  # records of a kind
MIN_RECORDED_FOR_SHARE = 10  # below this, only the count limit applies


@dataclass(frozen=True)
class PlanOptions:
    """What a plan is made with (`--source`, `--prune` and its limits); a saved plan records
    them, and `apply --plan` makes the plan again with them (docs/plan-json.md)."""

    # Read strictly in a saved plan: no unknown field, no coercion (core/saved_plan.py).
    __pydantic_config__: ClassVar[Any] = {"extra": "forbid", "strict": True}
    prune: bool = False
    force: bool = False
    max_delete_share: tuple[str, ...] = ()
    max_delete: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()  # only these sources' records (none: every source)
    targets: tuple[str, ...] = ()  # only these records and what they need (addresses)
    refresh: bool = False  # plan against what COR holds now (read before planning)
    allow_replace: bool = False  # a plan that replaces records may be applied
    scope: PruneScope | None = None  # the paths given (core/scope.py); None: every record


def make_plan(
    desired: Desired,
    records: Mapping[ResourceKey, Record],
    in_doubt: AbstractSet[ResourceKey],
    options: PlanOptions,
    live: Refreshed | None = None,
    *,
    cwd: str = "",
    base: str | None = None,
) -> Plan:
    """The plan, with the deletion limits it breaks when it prunes. With `options.sources`, of
    those sources' records only (references never cross a source, so nothing else is needed);
    UsageError if no record of one of them is declared, recorded or in doubt. With `live`
    (--refresh), made against what COR holds now, each change from COR marked so. A plan that
    replaces records is refused unless `options.allow_replace`. With `options.scope`, records
    no longer declared are left out unless recorded from a file within it (core/scope.py), and
    the deletion limits count the records within it; `cwd` and `base` name the files
    (scope.normalise)."""
    if options.sources:
        desired, records, in_doubt = _of_sources(options.sources, desired, records, in_doubt)
    current = records if live is None else live.view(records)
    plan = build_plan(
        desired, current, in_doubt, prune=options.prune, scope=options.scope, cwd=cwd, base=base
    )
    if live is not None:
        from reconciler.core.refresh import mark_refreshed  # only with --refresh

        plan = mark_refreshed(plan, live, records, desired)
    plan = with_dependants(plan, desired, current)
    if options.targets:
        plan = targeted(plan, _target_keys(options.targets, desired, records, in_doubt))
    if plan.replacements and not options.allow_replace:
        plan = replace(plan, replace_refused=True)
    if not options.prune:
        return plan
    limits = parse_limits(options.max_delete_share, options.max_delete)
    held = records.keys() if options.scope is None else _within(options.scope, desired, records)
    broken = deletion_violations(plan, held, len(desired), limits)
    return replace(plan, limits_broken=tuple(broken), forced=options.force)


@dataclass(frozen=True)
class DeletionLimits:
    share: Mapping[Kind, float] = field(default_factory=lambda: dict.fromkeys(KINDS, DEFAULT_SHARE))
    count: Mapping[Kind, int] = field(default_factory=lambda: dict.fromkeys(KINDS, DEFAULT_COUNT))


def parse_limits(shares: Iterable[str], counts: Iterable[str]) -> DeletionLimits:
    """`25` (every kind) or `product=10` (one kind), as given to --max-delete-share/--max-delete."""
    share = dict.fromkeys(KINDS, DEFAULT_SHARE)
    count = dict.fromkeys(KINDS, DEFAULT_COUNT)
    for text in shares:
        for kind, value in _per_kind(text, "--max-delete-share"):
            if not 0 <= value <= 100:
                raise UsageError(f"--max-delete-share {text}: a percentage from 0 to 100")
            share[kind] = value
    for text in counts:
        for kind, value in _per_kind(text, "--max-delete"):
            if value < 0 or value != int(value):
                raise UsageError(f"--max-delete {text}: a whole number of records")
            count[kind] = int(value)
    return DeletionLimits(share, count)


def _per_kind(text: str, option: str) -> list[tuple[Kind, float]]:
    name, _, number = text.rpartition("=")
    try:
        value = float(number)
    except ValueError:
        raise UsageError(
            f"{option} {text}: expected N or KIND=N (client, brand, product)"
        ) from None
    if not name:
        return [(kind, value) for kind in KINDS]
    kinds = {kind.value: kind for kind in KINDS}
    if name not in kinds:
        raise UsageError(f"{option} {text}: unknown kind {name!r} (client, brand, product)")
    return [(kinds[name], value)]


def deletion_violations(
    plan: Plan, recorded: Iterable[ResourceKey], declared: int, limits: DeletionLimits
) -> list[str]:
    """Every limit the plan's deletes would break; empty when the plan is within them."""
    deleting = Counter(c.key.kind for c in plan.changes if c.action is Action.DELETE)
    if not deleting:
        return []
    held = Counter(key.kind for key in recorded)
    problems = []
    if declared == 0:
        problems.append(
            f"the manifests declare nothing, yet the state holds {sum(held.values()):,} records: "
            "deleting them all is refused (a wrong path, or an emptied file?)"
        )
    for kind in KINDS:
        problems += _kind_violations(kind, deleting[kind], held[kind], limits)
    return problems


def _kind_violations(kind: Kind, deleting: int, held: int, limits: DeletionLimits) -> list[str]:
    problems = []
    if deleting > limits.count[kind]:
        problems.append(
            f"{deleting:,} {kind.plural} to delete, more than the limit of "
            f"{limits.count[kind]:,} (--max-delete {kind.value}=N)"
        )
    share = 100 * deleting / held if held else 0.0
    if held >= MIN_RECORDED_FOR_SHARE and share > limits.share[kind]:
        problems.append(
            f"{deleting:,} of the {held:,} recorded {kind.plural} to delete ({share:.0f}%), "
            f"more than {limits.share[kind]:g}% (--max-delete-share {kind.value}=PCT)"
        )
    return problems


def _within(
    scope: PruneScope, desired: Desired, records: Mapping[ResourceKey, Record]
) -> list[ResourceKey]:
    """The recorded keys a run of `scope` holds: declared by its paths, or recorded from a file
    within them."""
    covers = scope.matcher()
    return [key for key, record in records.items() if key in desired or covers(record.file)]


def of_sources(sources: tuple[str, ...], entries: Mapping[ResourceKey, V]) -> dict[ResourceKey, V]:
    """The entries whose key is of one of `sources` (--source: what a run declares, records
    and reads)."""
    chosen = frozenset(sources)
    return {key: value for key, value in entries.items() if key.source in chosen}


def _of_sources(
    sources: tuple[str, ...],
    desired: Desired,
    records: Mapping[ResourceKey, Record],
    in_doubt: AbstractSet[ResourceKey],
) -> tuple[Desired, Mapping[ResourceKey, Record], AbstractSet[ResourceKey]]:
    kept_desired = of_sources(sources, desired)
    kept_records = of_sources(sources, records)
    kept_doubts = frozenset(k for k in in_doubt if k.source in sources)
    found = {k.source for k in (*kept_desired, *kept_records, *kept_doubts)}
    missing = [source for source in sources if source not in found]
    if missing:
        raise UsageError(
            f"--source {missing[0]}: no record of this source is declared in the manifests "
            "given, recorded in the state or in doubt"
        )
    return kept_desired, kept_records, kept_doubts


def _target_keys(
    targets: tuple[str, ...],
    desired: Desired,
    records: Mapping[ResourceKey, Record],
    in_doubt: AbstractSet[ResourceKey],
) -> frozenset[ResourceKey]:
    """The keys the --target addresses name; UsageError for one that is malformed or names
    no record declared, recorded or in doubt (within --source, if given)."""
    keys = set()
    for target in targets:
        try:
            key = parse_address([target])
        except ValueError as error:
            raise UsageError(f"--target: {error}") from None
        if key not in desired and key not in records and key not in in_doubt:
            raise UsageError(
                f"--target {key}: no such record is declared in the manifests given, recorded "
                "in the state or in doubt"
            )
        keys.add(key)
    return frozenset(keys)
