"""Audits as text and JSON (docs/audit.md); `audit_markdown.py` renders the PR comment.

Pure core (`audit → render`): functions from an Audit to a string; colour is a parameter.
Output is deterministic. User text (ids, names, COR's messages) is JSON-quoted where it is not
plain, so no value can fake a line: one line per finding, whatever the finding holds.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

from reconciler.core.audit import CATEGORIES, Audit, Category, Finding, Link, ReadError, Reference
from reconciler.core.diff import FieldChange
from reconciler.core.resources import ResourceKey
from reconciler.output.plan_markdown import _plain
from reconciler.output.plan_text import paint, quote

AUDIT_JSON_FORMAT_VERSION = 1
READ_FAILED = "read failed"  # the heading of the records COR could not be read for

_COLOUR = {
    Category.NOT_APPLIED: "green",
    Category.NOT_DECLARED: "dim",
    Category.DIFFERS: "yellow",
    Category.DANGLING: "red",
    Category.IN_DOUBT: "yellow",
    Category.DELETED: "red",
    Category.RENAMED: "red",
    Category.REPARENTED: "red",
    Category.CHANGED: "red",
}
_IN_DOUBT = {
    True: "declared; an earlier apply may have created it in COR (apply adopts it if so)",
    False: "not declared; an earlier apply may have created it in COR "
    "(declare it again and apply to adopt it)",
}


def render_audit_text(audit: Audit, *, color: bool = False) -> str:
    return "".join(line + "\n" for line in _text_lines(audit, color))


def _text_lines(audit: Audit, color: bool) -> Iterator[str]:
    counts = audit.counts()
    current: Category | None = None
    for finding in audit.findings:
        if finding.category is not current:
            current = finding.category
            heading = f"{current.heading} ({counts[current]:,}):"
            yield paint(heading, _COLOUR[current], color)
        yield "  " + finding_line(finding)
    if audit.errors:
        yield paint(f"{READ_FAILED} ({len(audit.errors):,}):", "red", color)
        yield from ("  " + error_line(error) for error in audit.errors)
    yield audit_summary(audit)


def audit_summary(audit: Audit) -> str:
    """`Audit: all agree.`, `Audit: 3 disagreements.`, or with the records left unread."""
    unread = len(audit.errors)
    if not audit.disagreements and not unread:
        return "Audit: all agree."
    text = f"Audit: {_count(audit.disagreements, 'disagreement')}"
    if unread:
        text += f"; {_count(unread, 'record')} could not be read"
    return text + "."


def _count(number: int, noun: str) -> str:
    return f"{number:,} {noun}" if number == 1 else f"{number:,} {noun}s"


def show_key(key: ResourceKey) -> str:
    """`client SALESFORCE/SF-ACC-1`; a source or id that is not plain comes JSON-quoted."""
    return f"{key.kind.value} {_plain(key.source)}/{_plain(key.id)}"


def finding_line(finding: Finding) -> str:
    """One finding on one line (no newline), as in the text report and the Markdown details."""
    head = show_key(finding.key)
    if finding.cor_id is not None:
        head += f" (cor_id {finding.cor_id})"
    category = finding.category
    if category in (Category.DIFFERS, Category.RENAMED, Category.CHANGED):
        return f"{head}: " + "; ".join(_change(change) for change in finding.changes)
    if category is Category.DANGLING:
        return f"{head}: " + "; ".join(_dangling(ref) for ref in finding.references)
    if category is Category.REPARENTED:
        return f"{head}: " + "; ".join(_moved(ref) for ref in finding.references)
    if category is Category.IN_DOUBT:
        return f"{head}: {_IN_DOUBT[finding.declared]}"
    if category is Category.DELETED:
        return f"{head}: not found in COR"
    return head


def error_line(error: ReadError) -> str:
    message = " ".join(error.message.split())  # COR's text: never more than one line
    return f"{show_key(error.key)} (cor_id {error.cor_id}): {message}"


def _change(change: FieldChange) -> str:
    return f"{_plain(change.field)} {quote(change.before)} → {quote(change.after)}"


def _dangling(ref: Reference) -> str:
    return f"{ref.field} {quote(ref.before.id)} is not a recorded {ref.kind.value}"


def _moved(ref: Reference) -> str:
    return f"{ref.field} {_link(ref.before)} → {_link(ref.after)}"


def _link(link: Link | None) -> str:
    if link is None or link.cor_id is None:
        return "(none)"
    if link.id is None:
        return f"cor_id {link.cor_id} (not in the state)"
    return f"{quote(link.id)} (cor_id {link.cor_id})"


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
            {**_key_json(e.key), "cor_id": e.cor_id, "error": e.message} for e in audit.errors
        ],
    }
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _key_json(key: ResourceKey) -> dict[str, str]:
    return {"kind": key.kind.value, "source": key.source, "id": key.id}


def _finding_json(finding: Finding) -> dict[str, Any]:
    return {
        **_key_json(finding.key),
        "cor_id": finding.cor_id,
        "category": finding.category.value,
        "details": _details(finding),
    }


def _details(finding: Finding) -> Mapping[str, Any]:
    category = finding.category
    if category in (Category.NOT_APPLIED, Category.NOT_DECLARED):
        return {"attributes": dict(finding.attributes)}
    if category in (Category.DIFFERS, Category.RENAMED, Category.CHANGED):
        return {
            "changes": [
                {"field": c.field, "before": c.before, "after": c.after} for c in finding.changes
            ]
        }
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
