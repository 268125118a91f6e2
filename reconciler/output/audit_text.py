"""Audits as text (docs/audit.md); `audit_json` and `audit_markdown` render the other formats.

Pure (`audit → render`): functions from an Audit to a string; colour is a parameter.
Output is deterministic. User text (ids, names, values) is JSON-quoted where it is not plain and
COR's messages are escaped (`core/text.printable`), so no value can fake a line or act on a
terminal: one line per finding, whatever the finding holds.
"""

from __future__ import annotations

from collections.abc import Iterator

from reconciler.core.audit import Audit, Category, Finding, Link, ReadError, Reference
from reconciler.core.diff import FieldChange
from reconciler.core.text import printable
from reconciler.output.style import counted, paint, plain, quote, show_key

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
    text = f"Audit: {counted(audit.disagreements, 'disagreement')}"
    if unread:
        text += f"; {counted(unread, 'record')} could not be read"
    return text + "."


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
    # COR's text: one line, and nothing in it can act on a terminal (ESC, C1, bidi...)
    message = printable(" ".join(error.message.split()))
    return f"{show_key(error.key)} (cor_id {error.cor_id}): {message}"


def _change(change: FieldChange) -> str:
    return f"{plain(change.field)} {quote(change.before)} → {quote(change.after)}"


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
