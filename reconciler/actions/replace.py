"""Replacements in two passes: delete what is replaced, then create it again.

Part of apply (`apply.py` runs each pass); pure bookkeeping over plain values. COR cannot
change a brand's client or a product's brand, so a replacement deletes the record (by its
external id, which frees it) and creates it again under the same id. The first pass holds the
deletes of the replaced records and of the pruned records that refer to one (COR refuses to
delete a brand that still has products); the scheduler orders them, dependants first. The
second pass is the rest of the plan, each replacement now a create; one whose delete did not
succeed is not created (and what it would create under it is skipped): the next run plans the
replacement again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from reconciler.actions.outcomes import ApplyReport, Outcome, Result
from reconciler.core.plan import Action, Change, Plan
from reconciler.core.resources import ResourceKey


@dataclass(frozen=True)
class Passes:
    deletes: tuple[Change, ...]  # the first pass: replaced records and what must go first
    creates: tuple[Change, ...]  # the second pass, if every delete succeeds
    replaced: frozenset[ResourceKey]

    def explain(self, result: Result) -> Result:
        """A first-pass result says that the delete is half of a replacement."""
        if result.change.key not in self.replaced:
            return result
        why = "deleted, to be created again (replace)"
        reason = f"{result.reason}; {why}" if result.reason else why
        return replace(result, reason=reason) if result.outcome is Outcome.DELETED else result

    def after(self, first: ApplyReport) -> tuple[tuple[Change, ...], tuple[Result, ...]]:
        """The second pass given what the first did, and the results of what it skips."""
        deleted = {r.change.key for r in first.results if r.outcome is Outcome.DELETED}
        missing = self.replaced - deleted  # still in COR (or unknown): not created again
        changes: list[Change] = []
        skipped: list[Result] = []
        blocked = set(missing)
        for change in self.creates:  # apply order: parents before their dependants
            if change.key in missing:
                continue  # its failed (or not attempted) delete was reported already
            cause = next((ref for ref in _refs(change) if ref in blocked), None)
            if cause is not None and change.action is Action.CREATE:
                blocked.add(change.key)
                reason = f"depends on {cause}, whose replacement did not happen"
                skipped.append(Result(change, Outcome.SKIPPED, reason=reason))
                continue
            changes.append(change)
        return tuple(changes), tuple(skipped)


def replace_in_two_passes(plan: Plan) -> Passes:
    replaced = frozenset(change.key for change in plan.replacements)
    first_deletes = [
        change
        for change in plan.changes
        if change.action is Action.DELETE and any(ref in replaced for ref in _refs(change))
    ]
    going = {change.key for change in first_deletes}
    deletes = [
        Change(
            Action.DELETE,
            change.key,
            _recorded(change),
            change.cor_id,
            drift=change.drift,
            replaced_with=change.replaced_with,
        )
        for change in plan.replacements
    ]
    creates = tuple(
        _as_create(change) if change.action is Action.REPLACE else change
        for change in plan.changes
        if change.key not in going
    )
    ordered = sorted([*deletes, *first_deletes], key=lambda change: change.key.delete_sort_key())
    return Passes(tuple(ordered), creates, replaced)


def merged(
    first: ApplyReport,
    second: ApplyReport | None = None,
    skipped: tuple[Result, ...] = (),
    remaining: tuple[Change, ...] = (),
) -> ApplyReport:
    """One report of both passes (`remaining`: a second pass that never ran)."""
    if second is None:
        second = ApplyReport((), remaining)
    return ApplyReport(
        first.results + skipped + second.results,
        first.remaining + second.remaining,
        first.interrupted or second.interrupted,
        first.stopped_by or second.stopped_by,
    )


def _as_create(change: Change) -> Change:
    """The second half of a replacement: a create of the declared record."""
    return replace(change, action=Action.CREATE, cor_id=None, diffs=(), in_doubt=False)


def _recorded(change: Change) -> dict[str, str]:
    """The attributes COR holds (before the change's diffs): what the delete's order needs."""
    attributes = dict(change.attributes)
    for diff in change.diffs:
        if diff.before is None:
            attributes.pop(diff.field, None)
        else:
            attributes[diff.field] = diff.before
    return attributes


def _refs(change: Change) -> tuple[ResourceKey, ...]:
    return change.key.references(change.attributes)
