"""Plans as JSON, for programs (docs/plan-json.md); saved plans embed the same document.

Pure (`plan → render`): `plan_document` is the document as plain values, `render_json` its
bytes (sorted keys, two-space indent, a trailing newline: stable across runs). Imports core
values, `output.json_shapes` and `output.style` (JSON escapes) only.
"""

from __future__ import annotations

import json
from typing import Any

from reconciler.core.plan import Change, Plan
from reconciler.output.json_shapes import field_change_json, key_json, record_json
from reconciler.output.style import escape_json

PLAN_JSON_FORMAT_VERSION = 1


def plan_document(plan: Plan) -> dict[str, Any]:
    """The plan as documented in docs/plan-json.md, as plain JSON values."""
    summary = plan.summary
    return {
        "format_version": PLAN_JSON_FORMAT_VERSION,
        "summary": {
            "create": summary.create,
            "update": summary.update,
            "replace": summary.replace,
            "delete": summary.delete,
            "not_declared": summary.not_declared,
        },
        "changes": [_change_json(change) for change in plan.changes],
        "not_declared": [record_json(record) for record in plan.not_declared],
        "deletion_limits": {"broken": list(plan.limits_broken), "forced": plan.forced},
        "in_doubt_not_declared": [key_json(key) for key in plan.in_doubt_not_declared],
        "replace": {"allowed": not plan.replace_refused, "blocked": list(plan.blocked)},
        "refresh": _refresh_json(plan),
    }


def _refresh_json(plan: Plan) -> dict[str, Any] | None:
    """What a refresh found besides the changes; null for a plan made without --refresh."""
    if not plan.refreshed:
        return None
    return {
        "synced": [record_json(record) for record in plan.synced],
        "forgotten": [record_json(record) for record in plan.forgotten],
        "unverifiable": [
            {"kind": kind.value, "field": name, "records": records}
            for kind, name, records in plan.unverifiable
        ],
    }


def render_json(plan: Plan) -> str:
    return dump_json(plan_document(plan))


def dump_json(document: object) -> str:
    """The bytes of every JSON document reconciler prints: sorted keys, stable bytes; any
    character that could act on a terminal written as a JSON escape (the same values)."""
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
    return escape_json(text) + "\n"


def _change_json(change: Change) -> dict[str, Any]:
    return {
        "action": change.action.value,
        **key_json(change.key),
        "cor_id": change.cor_id,
        "in_doubt": change.in_doubt,
        "attributes": dict(change.attributes),
        "diff": [field_change_json(d) for d in change.diffs],
        "needed_by": None if change.needed_by is None else key_json(change.needed_by),
        "drift": bool(change.drift),
        "drift_reason": change.drift or None,
        "replaced_with": None if change.replaced_with is None else key_json(change.replaced_with),
        "pending_on_base": change.pending_on_base,
    }
