"""Audits as Markdown, for a pull-request or issue comment (docs/audit.md).

Pure (`audit → render`). Like the plan's comment (plan_markdown.py; both take the marker,
fences and budget from comment.py), the output never exceeds `limit` characters: the marker,
heading and summary table always stay, and the details are trimmed by priority — read
failures, drift in COR, dangling references, records in doubt, differences, then records not
declared and not applied — each section saying how many it left out. User text (ids, names,
COR's messages) appears only inside fenced code blocks; the summaries and the table hold counts
only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from reconciler.core.audit import Audit, Category, Finding, ReadError
from reconciler.core.resources import KINDS, Kind
from reconciler.output.audit_text import READ_FAILED, error_line, finding_line
from reconciler.output.comment import CLOSE, COMMENT_LIMIT, fence, marker

_PRIORITY = (
    Category.DELETED,
    Category.REPARENTED,
    Category.RENAMED,
    Category.CHANGED,
    Category.DANGLING,
    Category.IN_DOUBT,
    Category.DIFFERS,
    Category.NOT_DECLARED,
    Category.NOT_APPLIED,
)


@dataclass
class _Section:
    """One <details> block: its title, its items in report order, and what fits of them."""

    title: str
    items: Sequence[Finding | ReadError]
    shown: list[str] = field(default_factory=list)  # rendered lines, in order
    fence: int = 0  # the length of its fence so far (0: nothing shown)

    def opening(self) -> str:
        return f"<details><summary>{self.title} ({len(self.items):,})</summary>\n\n"

    def omission(self, hint: str, left: int | None = None) -> str:
        left = len(self.items) - len(self.shown) if left is None else left
        return f"… and {left:,} more; {hint}\n\n"

    def render(self, hint: str) -> str:
        parts = [self.opening()]
        if self.shown:
            ticks = "`" * self.fence
            parts.append(f"{ticks}\n{''.join(self.shown)}{ticks}\n\n")
        if len(self.shown) < len(self.items):
            parts.append(self.omission(hint))
        parts.append(CLOSE)
        return "".join(parts)


def audit_marker(paths: Sequence[str]) -> str:
    """The hidden first line, escaped as the plan's marker (`comment.marker`)."""
    return marker("audit", paths)


def render_audit_markdown(
    audit: Audit,
    *,
    paths: Sequence[str],
    limit: int = COMMENT_LIMIT,
    artifacts_hint: str = "full report in the job's artifacts",
) -> str:
    """The audit as a comment of at most `limit` characters; `artifacts_hint` is trusted.

    Raises ValueError when even the marker, heading and summary table do not fit.
    """
    blocks = _head_blocks(audit, paths)
    sections = _sections(audit)
    if sections:
        room = limit - len("\n".join(blocks))
        blocks += _detail_blocks(sections, room, artifacts_hint)
    text = "\n".join(blocks)
    if len(text) > limit:
        raise ValueError(
            f"limit {limit:,} is too small for this audit: its marker, heading and summary "
            f"need {len(text):,} characters"
        )
    return text


def _head_blocks(audit: Audit, paths: Sequence[str]) -> list[str]:
    if audit.disagreements or audit.errors:
        outcome = f"{audit.disagreements:,} disagreement{'s' if audit.disagreements != 1 else ''}"
    else:
        outcome = "all agree"
    unread = len(audit.errors)
    if unread:
        outcome += f", {unread:,} record{'s' if unread != 1 else ''} could not be read"
    compared = (
        "Compared the manifests, the state file and COR (read API)."
        if audit.remote
        else "Compared the manifests with the state file (offline: COR was not read)."
    )
    top = f"{audit_marker(paths)}\n### reconciler audit: {outcome}\n\n{compared}\n"
    blocks = [top]
    if unread:
        records, its = ("1 record", "its") if unread == 1 else (f"{unread:,} records", "their")
        blocks.append(
            f"> **Incomplete**: COR could not be read for {records} (`{READ_FAILED}`), so "
            f"{its} drift is unknown.\n"
        )
    return blocks + _table(audit)


def _table(audit: Audit) -> list[str]:
    rows = {category.heading: row for category, row in audit.counts_by_kind().items()}
    if audit.errors:
        unread = dict.fromkeys(KINDS, 0)
        for error in audit.errors:
            unread[error.key.kind] += 1
        rows[READ_FAILED] = unread
    if not rows:
        return []
    names = " | ".join(kind.plural for kind in KINDS)
    header = f"| finding | {names} |\n|:--|" + "--:|" * len(KINDS) + "\n"
    return [header + "".join(_row(title, row) for title, row in rows.items())]


def _row(title: str, row: dict[Kind, int]) -> str:
    return f"| {title} | " + " | ".join(f"{row[kind]:,}" for kind in KINDS) + " |\n"


def _sections(audit: Audit) -> dict[Category | None, _Section]:
    """Sections in display order (report order, read failures last); None: read failures."""
    grouped: dict[Category | None, list[Finding | ReadError]] = {}
    for finding in audit.findings:
        grouped.setdefault(finding.category, []).append(finding)
    if audit.errors:
        grouped[None] = list(audit.errors)
    return {
        category: _Section(READ_FAILED if category is None else category.heading, items)
        for category, items in grouped.items()
    }


def _detail_blocks(sections: dict[Category | None, _Section], room: int, hint: str) -> list[str]:
    """As many lines as fit in `room`, by priority; or one line if not even the frames fit."""
    for section in sections.values():
        worst = section.omission(hint, len(section.items))
        room -= 1 + len(section.opening()) + len(worst) + len(CLOSE)
    if room < 0:
        return [f"Details left out to fit the comment limit (counts above); {hint}\n"]
    order = [sections[c] for c in (None, *_PRIORITY) if c in sections]
    for section in order:
        for item in section.items:
            line = _line(item) + "\n"
            width = max(section.fence, len(fence(line)))
            cost = len(line) + _fenced(width) - _fenced(section.fence)
            if cost > room:
                return [section.render(hint) for section in sections.values()]
            room -= cost
            section.shown.append(line)
            section.fence = width
    return [section.render(hint) for section in sections.values()]


def _fenced(width: int) -> int:
    """What the fence lines around a body cost: two fences, their newlines, a blank line."""
    return 2 * width + 3 if width else 0


def _line(item: Finding | ReadError) -> str:
    return finding_line(item) if isinstance(item, Finding) else error_line(item)
