"""A pull request's plan against its base branch's: which changes the base already holds.

Pure core, after `limits.make_plan` (`plan --base-ref`, `--base-paths`; docs/plan-markdown.md,
"Changes already pending on the base branch"). The base's manifests planned against the same
state give the base's own plan: what is pending there (a failed apply, a change merged while an
apply was queued). A change of the pull request's plan is `pending_on_base` when the base's plan
holds the same change: same action and key, the same attributes and the same field differences.
Anything else the pull request introduces (or alters: a pending create whose values it changes
is its own). Imports `core.plan` only.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import Any

from reconciler.core.plan import Change, Plan


def mark_pending(plan: Plan, base: Plan) -> Plan:
    """`plan` with each change also in `base` marked `pending_on_base` (the others unmarked).
    One pass over each plan: a dict of the base's changes by key."""
    theirs = {change.key: change for change in base.changes}
    changes = tuple(_marked(change, theirs.get(change.key)) for change in plan.changes)
    return replace(plan, changes=changes)


def _marked(change: Change, other: Change | None) -> Change:
    pending = other is not None and same_change(change, other)
    return change if change.pending_on_base == pending else replace(change, pending_on_base=pending)


def same_change(one: Change, other: Change) -> bool:
    """Whether two plans' changes do the same: action, key, attributes and differences."""
    return (
        one.action is other.action
        and one.key == other.key
        and one.diffs == other.diffs
        and dict(one.attributes) == dict(other.attributes)
    )


def split(changes: Iterable[Change]) -> tuple[list[Change], list[Change]]:
    """The changes this pull request introduces, then those already pending on the base, each
    in the order given (apply order)."""
    ours: list[Change] = []
    pending: list[Change] = []
    for change in changes:
        (pending if change.pending_on_base else ours).append(change)
    return ours, pending


def unmarked(document: Mapping[str, Any]) -> dict[str, Any]:
    """A plan JSON document (`output/plan_json.plan_document`) with every `pending_on_base`
    false: what `apply --plan` compares with the plan it makes again, which has no base (the
    marks say what a review should look at, not what apply does)."""
    changes = [{**change, "pending_on_base": False} for change in document.get("changes", ())]
    return {**document, "changes": changes}
