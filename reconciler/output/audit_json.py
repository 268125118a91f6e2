"""Audits as JSON, for programs (docs/audit.md).

Pure (`audit → render`): a function from an Audit to stable bytes (sorted keys). Keys, records
and field changes take their shapes from `output.json_shapes`. Imports core values and
`output.json_shapes`, `output.plan_json` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from reconciler.core.audit import CATEGORIES, Audit, Category, Finding, Link, Reference
from reconciler.output.json_shapes import field_change_json, key_json
from reconciler.output.plan_json import dump_json

AUDIT_JSON_FORMAT_VERSION = 1


def render_audit_json(audit: Audit) -> str:
    """The audit as documented in docs/audit.md; sorted keys, stable bytes."""
    counts = audit.counts()
    summary: dict[str, int] = {c.value: counts[c] for c in CATEGORIES}
    summary.update(disagreements=audit.disagreements, read_errors=len(audit.errors))
    document: dict[str, Any] = {
        "format_version": AUDIT_JSON_FORMAT_VERSION,
        "remote": audit.remote,
        "summary": summary,
        "findings": [_finding_json(finding) for finding in audit.findings],
        "errors": [
            {**key_json(e.key), "cor_id": e.cor_id, "error": e.message} for e in audit.errors
        ],
    }
    return dump_json(document)


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {
        **key_json(finding.key),
        "cor_id": finding.cor_id,
        "category": finding.category.value,
        "details": _details(finding),
    }


def _details(finding: Finding) -> Mapping[str, Any]:
    category = finding.category
    if category in (Category.NOT_APPLIED, Category.NOT_DECLARED):
        return {"attributes": dict(finding.attributes)}
    if category in (Category.DIFFERS, Category.RENAMED, Category.CHANGED):
        return {"changes": [field_change_json(change) for change in finding.changes]}
    if category is Category.DANGLING:
        return {
            "references": [
                {"field": r.field, "kind": r.kind.value, "id": r.before.id}
                for r in finding.references
            ]
        }
    if category is Category.REPARENTED:
        return {"references": [_moved_json(ref) for ref in finding.references]}
    if category is Category.IN_DOUBT:
        return {"declared": finding.declared}
    return {}


def _moved_json(ref: Reference) -> dict[str, Any]:
    after = ref.after or Link(None, None)
    return {
        "field": ref.field,
        "kind": ref.kind.value,
        "before": {"id": ref.before.id, "cor_id": ref.before.cor_id},
        "after": {"id": after.id, "cor_id": after.cor_id},
    }
