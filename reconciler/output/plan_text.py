"""Plans as text, for people at a terminal or in a CI log (docs/cli.md).

Pure (`plan → render`): functions from a Plan to a string; colour is a parameter, never a
terminal check. Output is deterministic: the same plan renders to the same bytes. The lines of
one change (`change_lines`) are shared with the Markdown plan, which shows names through
`style.plain`. Every id, source and value is escaped or quoted: none can move the cursor, set a
title, ring a bell or forge a line. Imports core values and `output.style` only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from reconciler.core.baseline import split
from reconciler.core.plan import Action, Change, Plan
from reconciler.core.resources import SPECS, ResourceKey
from reconciler.core.text import printable
from reconciler.output.style import counted, kept_why, paint, quote

OURS_HEADING = "Changes this pull request makes"
PENDING_HEADING = "Already pending on the base branch (not introduced by this pull request)"
SYMBOLS = {Action.CREATE: "+", Action.UPDATE: "~", Action.REPLACE: "-/+", Action.DELETE: "-"}
_COLOUR = {
    Action.CREATE: "green",
    Action.UPDATE: "yellow",
    Action.REPLACE: "red",
    Action.DELETE: "red",
}


def render_text(plan: Plan, *, color: bool = False) -> str:
    return "".join(line + "\n" for line in _text_lines(plan, color))


def _text_lines(plan: Plan, color: bool) -> Iterator[str]:
    ours, pending = split(plan.changes)
    if pending:  # --base-ref: this pull request's changes, then the base's backlog
        yield OURS_HEADING + (":" if ours else ": none")
    yield from _change_lines(ours, color)
    if pending:
        yield PENDING_HEADING + ":"
        yield from _change_lines(pending, color)
    for record in plan.not_declared:
        text = f"  not declared — kept: {record.key} ({kept_why(record)})"
        yield paint(text, "dim", color)
    for key in plan.in_doubt_not_declared:
        text = (
            f"  in doubt, not declared: {key}: an earlier apply may have created it in COR; "
            "declare it again and apply to adopt it"
        )
        yield paint(text, "yellow", color)
    yield from (paint(line, "dim", color) for line in refresh_notes(plan))
    summary = plan.summary
    if summary.changes == 0:
        yield "No changes."
        return
    yield from _limit_lines(plan)
    yield from _replace_lines(plan)
    replacing = f"{summary.replace} to replace, " if summary.replace else ""
    yield (
        f"Plan: {summary.create} to create, {summary.update} to update, {replacing}"
        f"{summary.delete} to delete."
    )
    if pending:
        yield (
            f"Of these, this pull request: {counts(ours)}; already pending on the base branch: "
            f"{counts(pending)}."
        )


def _change_lines(changes: list[Change], color: bool) -> Iterator[str]:
    for change in changes:
        head, *details = change_lines(change, printable)
        yield paint(head, _COLOUR[change.action], color)
        yield from details


def counts(changes: list[Change], number: str = "") -> str:
    """`2 to create, 1 to update, 0 to delete` (`N to replace` only if any) of `changes`;
    `number` formats each count (`,`: thousands grouped, as Markdown shows them)."""
    done = {action: 0 for action in Action}
    for change in changes:
        done[change.action] += 1
    n = {action: format(count, number) for action, count in done.items()}
    replacing = f"{n[Action.REPLACE]} to replace, " if done[Action.REPLACE] else ""
    return (
        f"{n[Action.CREATE]} to create, {n[Action.UPDATE]} to update, {replacing}"
        f"{n[Action.DELETE]} to delete"
    )


def refresh_notes(plan: Plan) -> list[str]:
    """What a refresh found besides the changes (our own text and addresses only)."""
    lines = [
        f"  deleted in COR, not declared — forgotten: {r.key} (cor_id {r.cor_id})"
        for r in plan.forgotten
    ]
    if plan.synced:
        lines.append(
            f"  {counted(len(plan.synced), 'record')} changed in COR with no change planned: "
            "apply records COR's values in the state"
        )
    for kind, name, records in plan.unverifiable:
        lines.append(
            f"  not verifiable in COR: {kind.value} {name} ({counted(records, 'record')}): "
            "COR's read API does not return it, so it is assumed unchanged"
        )
    return lines


def _replace_lines(plan: Plan) -> Iterator[str]:
    replacing = len(plan.replacements)
    if replacing:
        records = counted(replacing, "record")
        yield (
            f"{records} to replace (lines marked -/+): each is deleted in COR, then created again "
            "under the same external id; its COR history is lost."
        )
        if plan.replace_refused:
            yield (
                "Apply refuses this plan without --allow-replace: run plan and apply with "
                "--allow-replace to allow it, or declare the old values again."
            )
    if plan.blocked:
        yield "This plan cannot be applied as it is:"
        for problem in plan.blocked:
            yield f"  - {problem}"


def refusal(plan: Plan) -> str:
    """Why apply refuses `plan` (plan.refused), in one line."""
    reasons = []
    if plan.limits_broken and not plan.forced:
        reasons.append("it deletes more than the limits allow")
    if plan.replace_refused:
        reasons.append("it replaces records, and --allow-replace was not given")
    if plan.blocked:
        reasons.append("COR would refuse part of it")
    return "apply refuses this plan: " + "; ".join(reasons) + " (see above)"


def _limit_lines(plan: Plan) -> Iterator[str]:
    if not plan.limits_broken:
        return
    if plan.forced:
        yield "This plan deletes more than the limits allow; --force lets it through:"
    else:
        yield "This plan deletes more than the limits allow; apply refuses it without --force:"
    for problem in plan.limits_broken:
        yield f"  - {problem}"


def change_lines(change: Change, show: Callable[[str], str]) -> list[str]:
    """One change as lines (no colour, no newlines): the head, then its fields or diffs.
    `show` renders ids, sources and field names: escaped where unsafe in text
    (`core/text.printable`, which leaves the usual id as it is), JSON-quoted where not plain in
    Markdown (`style.plain`). Values are JSON-quoted (`style.quote`) in both."""
    key = change.key
    head = f"{SYMBOLS[change.action]} {change.action.value} {_key(key, show)}"
    if change.cor_id is not None:
        head += f" (cor_id {change.cor_id})"
    if change.in_doubt:
        head += " (in doubt: an earlier apply may have created it; apply adopts it if so)"
    if change.needed_by is not None:
        head += f" (needed by {_key(change.needed_by, show)})"
    if change.drift:
        head += f" ({change.drift})"
    if change.replaced_with is not None:
        head += f" (goes with {_key(change.replaced_with, show)}, which is replaced)"
    elif change.action is Action.REPLACE:
        fields = ", ".join(show(d.field) for d in change.immutable_diffs)
        head += f": {fields} cannot change through the API: deleted, then created again"
    lines = [head]
    if change.action is Action.CREATE:
        for name in SPECS[key.kind].fields:  # the documented order: name first
            if name in change.attributes:
                lines.append(f"    {name}: {quote(change.attributes[name])}")
    for diff in change.diffs:
        lines.append(f"    {show(diff.field)}: {quote(diff.before)} → {quote(diff.after)}")
    return lines


def _key(key: ResourceKey, show: Callable[[str], str]) -> str:
    return f"{key.kind.value} {show(key.source)}/{show(key.id)}"
