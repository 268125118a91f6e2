"""What apply did, as one JSON document, for programs (`apply --format json`, docs/outputs.md).

Pure (`outcomes → render`): the results per record, in the plan's order (apply settles them in
any order), and the summary. Imports core values, `actions.outcomes` and `output.plan_json`
(the JSON bytes every document shares) only.
"""

from __future__ import annotations

from typing import Any

from reconciler.actions.outcomes import ApplyReport, Outcome, Result
from reconciler.core.plan import Action, Change, Plan
from reconciler.core.resources import ResourceKey
from reconciler.output.json_shapes import key_json
from reconciler.output.plan_json import dump_json

APPLY_JSON_FORMAT_VERSION = 1


def apply_document(plan: Plan, report: ApplyReport | None) -> dict[str, Any]:
    """The document of docs/outputs.md; `report` None: nothing to apply (no changes)."""
    results: list[Result] = []
    if report is not None:
        position = {change.key: i for i, change in enumerate(plan.changes)}
        results = sorted(report.results, key=lambda r: _place(r, position))
    return {
        "format_version": APPLY_JSON_FORMAT_VERSION,
        "outcome": _outcome(report),
        "ok": report is None or report.ok,
        "stopped_by": report.stopped_by if report is not None and report.stopped_by else None,
        "results": [_result_json(result) for result in results],
        "remaining": [_change_json(change) for change in (report.remaining if report else ())],
        "summary": _summary(plan, report),
    }


def render_apply_json(plan: Plan, report: ApplyReport | None) -> str:
    return dump_json(apply_document(plan, report))


def outcome_name(outcome: Outcome) -> str:
    """`created`, …, `in_doubt`, `not_found`: the outcome as a JSON name."""
    return outcome.value.replace(" ", "_")


def _place(result: Result, position: dict[ResourceKey, int]) -> tuple[int, bool]:
    """The plan's order; a replacement's delete before its create (the same key)."""
    change = result.change
    return position.get(change.key, len(position)), change.action is not Action.DELETE


def _outcome(report: ApplyReport | None) -> str:
    if report is None:
        return "no_changes"
    if report.interrupted:
        return "interrupted"
    return "stopped" if report.stopped_by else "complete"


def _change_json(change: Change) -> dict[str, Any]:
    return {"action": change.action.value, **key_json(change.key)}


def _result_json(result: Result) -> dict[str, Any]:
    return {
        **_change_json(result.change),
        "outcome": outcome_name(result.outcome),
        "cor_id": result.cor_id,
        "reason": result.reason or None,
    }


def _summary(plan: Plan, report: ApplyReport | None) -> dict[str, int]:
    counts = {outcome_name(outcome): 0 for outcome in Outcome if outcome is not Outcome.NOT_FOUND}
    if report is not None:
        for result in report.results:
            name = outcome_name(result.outcome)
            counts[name] = counts.get(name, 0) + 1
    remaining = len(report.remaining) if report is not None else 0
    return {**counts, "changes": plan.summary.changes, "not_attempted": remaining}
