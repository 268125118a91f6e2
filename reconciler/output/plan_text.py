"""Plans as text and JSON (and apply results as text lines).

Pure core: functions from values to strings; colour is a parameter, never a terminal check.
Output is deterministic: the same plan renders to the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from reconciler.actions.outcomes import ApplyReport, Outcome, Result
from reconciler.core.diff import FieldChange
from reconciler.core.plan import Action, Change, Plan
from reconciler.core.resources import SPECS, Record

PLAN_JSON_FORMAT_VERSION = 1

_RESET = "\033[0m"
_COLOURS = {"green": "\033[32m", "yellow": "\033[33m", "red": "\033[31m", "dim": "\033[2m"}
_SYMBOL = {
    Action.CREATE: ("+", "green"),
    Action.UPDATE: ("~", "yellow"),
    Action.REPLACE: ("!", "red"),
    Action.DELETE: ("-", "red"),
}


def paint(text: str, colour: str, enabled: bool) -> str:
    return f"{_COLOURS[colour]}{text}{_RESET}" if enabled else text


def quote(value: str | None) -> str:
    """A value as shown to humans: JSON-quoted, so newlines or escapes cannot fake lines."""
    return "(not set)" if value is None else json.dumps(value, ensure_ascii=False)


def render_text(plan: Plan, *, color: bool = False) -> str:
    return "".join(line + "\n" for line in _text_lines(plan, color))


def _text_lines(plan: Plan, color: bool) -> Iterator[str]:
    for change in plan.changes:
        yield from _change_lines(change, color)
    for record in plan.not_declared:
        text = f"  not declared — kept: {record.key} (cor_id {record.cor_id})"
        yield paint(text, "dim", color)
    for key in plan.in_doubt_not_declared:
        text = (
            f"  in doubt, not declared: {key}: an earlier apply may have created it in COR; "
            "declare it again and apply to adopt it"
        )
        yield paint(text, "yellow", color)
    summary = plan.summary
    if summary.changes == 0:
        yield "No changes."
        return
    yield from _limit_lines(plan)
    if summary.replace:
        yield (
            f"{summary.replace} change(s) need a replacement, which the API cannot do: "
            "apply refuses this plan (see the lines marked !)."
        )
    yield (
        f"Plan: {summary.create} to create, {summary.update} to update, {summary.delete} to delete."
    )


def _limit_lines(plan: Plan) -> Iterator[str]:
    if not plan.limits_broken:
        return
    if plan.forced:
        yield "This plan deletes more than the limits allow; --force lets it through:"
    else:
        yield "This plan deletes more than the limits allow; apply refuses it without --force:"
    for problem in plan.limits_broken:
        yield f"  - {problem}"


def _change_lines(change: Change, color: bool) -> Iterator[str]:
    symbol, colour = _SYMBOL[change.action]
    head = f"{symbol} {change.action.value} {change.key}"
    if change.cor_id is not None:
        head += f" (cor_id {change.cor_id})"
    if change.in_doubt:
        head += " (in doubt: an earlier apply may have created it; apply adopts it if so)"
    if change.action is Action.REPLACE:
        fields = ", ".join(d.field for d in change.immutable_diffs)
        head += f": {fields} cannot change through the API; the record must be replaced"
    yield paint(head, colour, color)
    if change.action is Action.CREATE:
        for name in SPECS[change.key.kind].fields:  # the documented order: name first
            if name in change.attributes:
                yield f"    {name}: {quote(change.attributes[name])}"
    for diff in change.diffs:
        yield f"    {diff.field}: {quote(diff.before)} → {quote(diff.after)}"


def render_json(plan: Plan) -> str:
    """The plan as documented in docs/plan-json.md; sorted keys, stable bytes."""
    summary = plan.summary
    document: dict[str, Any] = {
        "format_version": PLAN_JSON_FORMAT_VERSION,
        "summary": {
            "create": summary.create,
            "update": summary.update,
            "replace": summary.replace,
            "delete": summary.delete,
            "not_declared": summary.not_declared,
        },
        "changes": [_change_json(change) for change in plan.changes],
        "not_declared": [_record_json(record) for record in plan.not_declared],
        "deletion_limits": {"broken": list(plan.limits_broken), "forced": plan.forced},
        "in_doubt_not_declared": [
            {"kind": key.kind.value, "source": key.source, "id": key.id}
            for key in plan.in_doubt_not_declared
        ],
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _change_json(change: Change) -> dict[str, Any]:
    return {
        "action": change.action.value,
        "kind": change.key.kind.value,
        "source": change.key.source,
        "id": change.key.id,
        "cor_id": change.cor_id,
        "in_doubt": change.in_doubt,
        "attributes": dict(change.attributes),
        "diff": [_diff_json(d) for d in change.diffs],
    }


def _diff_json(diff: FieldChange) -> Mapping[str, str | None]:
    return {"field": diff.field, "before": diff.before, "after": diff.after}


def _record_json(record: Record) -> dict[str, Any]:
    return {
        "kind": record.key.kind.value,
        "source": record.key.source,
        "id": record.key.id,
        "cor_id": record.cor_id,
        "attributes": dict(record.attributes),
    }


_OUTCOME_STYLE = {
    Outcome.CREATED: ("+", "green"),
    Outcome.ADOPTED: ("+", "green"),
    Outcome.UPDATED: ("~", "yellow"),
    Outcome.DELETED: ("-", "red"),
    Outcome.FAILED: ("x", "red"),
    Outcome.SKIPPED: ("-", "dim"),
    Outcome.NOT_FOUND: ("?", "dim"),
}


def render_result(result: Result, *, color: bool = False) -> str:
    """One line of the apply diff, printed as the change happens."""
    symbol, colour = _OUTCOME_STYLE[result.outcome]
    line = f"{symbol} {result.outcome.value} {result.change.key}"
    if result.cor_id is not None:
        line += f" (cor_id {result.cor_id})"
    if result.reason:
        line += f": {result.reason}"
    return paint(line, colour, color) + "\n"


def render_apply_summary(report: ApplyReport) -> str:
    lines = []
    if report.remaining:
        lines.append(f"{len(report.remaining)} change(s) not attempted:")
        lines.extend(f"  {change.action.value} {change.key}" for change in report.remaining)
    created = report.count(Outcome.CREATED, Outcome.ADOPTED)
    state = "interrupted" if report.interrupted else "stopped" if report.stopped_by else "complete"
    deletes = any(r.change.action is Action.DELETE for r in report.results)
    deleted = f"{report.count(Outcome.DELETED)} deleted, " if deletes else ""
    lines.append(
        f"Apply {state}: {created} created, {report.count(Outcome.UPDATED)} updated, "
        f"{deleted}{report.count(Outcome.FAILED)} failed, {report.count(Outcome.SKIPPED)} skipped."
    )
    return "".join(line + "\n" for line in lines)
