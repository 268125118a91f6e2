"""Plans as Markdown, for a pull-request comment (docs/plan-markdown.md).

Pure (`plan → render`): a function from a Plan to a string; no file, clock or terminal.
GitHub refuses longer comments, so the output never exceeds `limit` characters: the marker,
heading, warnings and summary table always stay, and the details are trimmed by priority
(replacements, deletes, in-doubt records, updates, creates, not-declared records), each kind saying
exactly what it left out. With a base (`plan --base-ref`), the changes already pending on it
come in a part of their own after this pull request's, and are trimmed first. User text (ids,
names, any attribute) appears only inside fenced code blocks, JSON-quoted when not plain: never
in the table, a <summary> or the marker.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from reconciler.core.baseline import split
from reconciler.core.plan import Action, Change, Plan, Summary
from reconciler.core.resources import KINDS, Kind, Record, ResourceKey
from reconciler.output.comment import CLOSE, COMMENT_LIMIT, fence, marker
from reconciler.output.plan_text import OURS_HEADING, PENDING_HEADING, change_lines
from reconciler.output.plan_text import counts as change_counts
from reconciler.output.style import counted, kept_why, plain, show_key

# Categories of details, in trimming priority: what blocks the apply first, then what cannot be
# undone (deletes), what is kept last.
REPLACE, DELETE, IN_DOUBT, UPDATE, CREATE, KEPT = range(6)
_CATEGORY = {
    Action.REPLACE: REPLACE,
    Action.DELETE: DELETE,
    Action.UPDATE: UPDATE,
    Action.CREATE: CREATE,
}
_DISPLAY_ORDER = (CREATE, UPDATE, REPLACE, DELETE, KEPT, IN_DOUBT)
_COLUMNS = (CREATE, UPDATE, REPLACE, DELETE, KEPT)
_PHRASE = {
    CREATE: "{} to create",
    UPDATE: "{} to update",
    REPLACE: "{} to replace",
    DELETE: "{} to delete",
    KEPT: "{} not declared (kept)",
    IN_DOUBT: "{} in doubt (not declared)",
}
_NOUN = {
    CREATE: ("create", "creates"),
    UPDATE: ("update", "updates"),
    REPLACE: ("replacement", "replacements"),
    DELETE: ("delete", "deletes"),
    KEPT: ("not-declared record", "not-declared records"),
    IN_DOUBT: ("in-doubt record", "in-doubt records"),
}
_FENCE_EXTRA = len("diff\n") + len("\n\n")  # besides the two fence runs


class _Entry(NamedTuple):
    """One line group of the details: a change, a kept record or an in-doubt key."""

    category: int
    kind: Kind
    order: tuple[int, int]  # (replacements 0 / other changes 1 / kept 2 / in doubt 3, position)
    item: Change | Record | ResourceKey


def plan_marker(paths: Sequence[str]) -> str:
    """The hidden first line naming the project and the manifests (`comment.marker`)."""
    return marker("plan", paths)


def render_markdown(
    plan: Plan,
    *,
    paths: Sequence[str],
    limit: int = COMMENT_LIMIT,
    artifacts_hint: str = "full plan in the job's artifacts",
) -> str:
    """The plan as a comment of at most `limit` characters; `artifacts_hint` is trusted Markdown.

    Raises ValueError when even the marker, heading, warnings and summary do not fit.
    """
    entries = _entries(plan)
    counts = _counts(entries)
    blocks = _head_blocks(plan, paths, counts)
    pending = [e for e in entries if isinstance(e.item, Change) and e.item.pending_on_base]
    if pending:  # --base-ref: this pull request's changes, then the base's backlog
        blocks += _split_blocks(
            plan, entries, pending, limit - len("\n".join(blocks)), artifacts_hint
        )
    elif entries:
        room = limit - len("\n".join(blocks))
        blocks += _detail_blocks(entries, counts, room, artifacts_hint)
    text = "\n".join(blocks)
    if len(text) > limit:
        raise ValueError(
            f"limit {limit:,} is too small for this plan: its marker, heading, warnings and "
            f"summary need {len(text):,} characters"
        )
    return text


def _split_blocks(
    plan: Plan, entries: list[_Entry], pending: list[_Entry], room: int, hint: str
) -> list[str]:
    """The counts of each part, then this pull request's details (with the kept and in-doubt
    records), then those already pending on the base; the base's are trimmed first."""
    ours, theirs = split(plan.changes)
    both = (
        f"**This pull request**: {change_counts(ours, ',')}. **{PENDING_HEADING}**: "
        f"{change_counts(theirs, ',')}.\n"
    )
    pending_ids = {id(entry) for entry in pending}
    mine = [entry for entry in entries if id(entry) not in pending_ids]
    our_head = f"#### {OURS_HEADING}\n" + ("" if mine else "\nNone.\n")
    their_head = f"#### {PENDING_HEADING}\n"
    room -= len(both) + len(our_head) + len(their_head) + 3  # the three blocks' joins
    least = len(_left_out(hint)) + 1  # the base's details, all left out
    blocks = [both, our_head]
    if mine:
        blocks += _detail_blocks(mine, _counts(mine), room - least, hint)
        room -= len("\n".join(blocks[2:])) + 1
    blocks.append(their_head)
    return blocks + _detail_blocks(pending, _counts(pending), room, hint)


def _entries(plan: Plan) -> list[_Entry]:
    """Every detail, in trimming priority; within a category in apply order."""
    buckets: list[list[_Entry]] = [[] for _ in _NOUN]
    for i, change in enumerate(plan.changes):
        category = _CATEGORY[change.action]
        first = 0 if category == REPLACE else 1  # replacements lead their kind's details
        buckets[category].append(_Entry(category, change.key.kind, (first, i), change))
    for i, record in enumerate(plan.not_declared):
        buckets[KEPT].append(_Entry(KEPT, record.key.kind, (2, i), record))
    for i, key in enumerate(plan.in_doubt_not_declared):
        buckets[IN_DOUBT].append(_Entry(IN_DOUBT, key.kind, (3, i), key))
    return [entry for bucket in buckets for entry in bucket]


def _counts(entries: Sequence[_Entry]) -> dict[Kind, list[int]]:
    """Per kind with anything to show (apply order), the number of entries per category."""
    counts = {kind: [0] * len(_NOUN) for kind in KINDS}
    for entry in entries:
        counts[entry.kind][entry.category] += 1
    return {kind: row for kind, row in counts.items() if any(row)}


def _head_blocks(plan: Plan, paths: Sequence[str], counts: dict[Kind, list[int]]) -> list[str]:
    summary = plan.summary
    top = f"{plan_marker(paths)}\n{_heading(summary)}\n"
    return [top, *_limit_warning(plan), *_warnings(plan, summary.replace), *_table(counts)]


def _limit_warning(plan: Plan) -> list[str]:
    """The deletion limits broken: our own text (counts and kinds), never user text."""
    if not plan.limits_broken:
        return []
    verdict = "--force lets it through" if plan.forced else "apply refuses it without --force"
    problems = "".join(f"> - {problem}\n" for problem in plan.limits_broken)
    return [f"> **Deletes more than the limits allow**: {verdict}.\n{problems}"]


def _heading(summary: Summary) -> str:
    if summary.changes == 0:
        return "### reconciler plan: no changes"
    replacing = f"{summary.replace:,} to replace, " if summary.replace else ""
    return (
        f"### reconciler plan: {summary.create:,} to create, {summary.update:,} to update, "
        f"{replacing}{summary.delete:,} to delete"
    )


def _warnings(plan: Plan, replace: int) -> list[str]:
    """Counts only: user text stays in the fenced details."""
    in_doubt = sum(1 for change in plan.changes if change.in_doubt)
    lost = len(plan.in_doubt_not_declared)
    warnings = []
    if replace:
        verdict = (
            "Apply refuses this plan without `--allow-replace`."
            if plan.replace_refused
            else "`--allow-replace` lets it through."
        )
        warnings.append(
            f"> [!CAUTION]\n> **Replaces {counted(replace, 'record')}** (`-/+`, listed first "
            "below): each is deleted in COR, then created again under the same external id, "
            f"and its COR history is lost. {verdict}\n"
        )
    if plan.blocked:
        warnings.append(
            f"> **Cannot be applied as it is**: {counted(len(plan.blocked), 'problem')} "
            "(see the plan's text output).\n"
        )
    drifted = sum(1 for change in plan.changes if change.drift)
    if drifted:
        warnings.append(
            f"> **Drift**: {counted(drifted, 'change')} repair what was changed or deleted in "
            "COR itself (`changed in COR`, `deleted in COR`).\n"
        )
    if in_doubt:
        warnings.append(
            f"> **In doubt**: {counted(in_doubt, 'create')} (`in doubt`) an earlier apply may have "
            "carried out; apply adopts the record if COR has it.\n"
        )
    if lost:
        warnings.append(
            f"> **In doubt, not declared**: {counted(lost, 'record')} (`?`) an earlier apply may "
            "have created in COR; declare again and apply to adopt.\n"
        )
    return warnings


def _table(counts: dict[Kind, list[int]]) -> list[str]:
    rows = [
        f"| {kind.value} | " + " | ".join(f"{row[c]:,}" for c in _COLUMNS) + " |"
        for kind, row in counts.items()
        if any(row[c] for c in _COLUMNS)
    ]
    if not rows:
        return []
    header = (
        "| kind | create | update | replace | delete | not declared (kept) |\n"
        "|:--|--:|--:|--:|--:|--:|\n"
    )
    return [header + "".join(row + "\n" for row in rows)]


def _detail_blocks(
    entries: Sequence[_Entry], counts: dict[Kind, list[int]], room: int, hint: str
) -> list[str]:
    """One <details> per kind, as many entries as fit in `room`; or one line if none fits."""
    fixed = sum(1 + len(_open(kind, row)) + len(CLOSE) for kind, row in counts.items())
    texts: list[str] = []  # rendered lazily, in priority order: 100,000 changes render ~600
    shown = _fitting(entries, texts, room - fixed)
    if shown < len(entries):  # something is left out: make room for the worst "… and N more"
        reserve = sum(len(_omission(row, hint)) + 2 for row in counts.values())
        shown = _fitting(entries, texts, room - fixed - reserve)
    if shown < 0:
        return [_left_out(hint)]
    by_kind: dict[Kind, list[tuple[_Entry, str]]] = {kind: [] for kind in counts}
    for entry, text in zip(entries[:shown], texts[:shown], strict=True):
        by_kind[entry.kind].append((entry, text))
    return [_section(kind, counts[kind], by_kind[kind], hint) for kind in counts]


def _left_out(hint: str) -> str:
    return f"Details left out to fit the comment limit (counts above); {hint}\n"


def _fitting(entries: Sequence[_Entry], texts: list[str], room: int) -> int:
    """How many entries, in priority order, fit in `room` (-1: not even none); appends to texts."""
    if room < 0:
        return -1
    overhead: dict[Kind, int] = {}  # per kind: its fence lines, sized to the longest ` run
    for i, entry in enumerate(entries):
        if i == len(texts):
            texts.append(_entry_text(entry))
        old = overhead.get(entry.kind, 0)
        new = max(old, 2 * len(fence(texts[i])) + _FENCE_EXTRA)
        room -= len(texts[i]) + new - old
        if room < 0:
            return i
        overhead[entry.kind] = new
    return len(entries)


def _open(kind: Kind, row: list[int]) -> str:
    phrases = ", ".join(_PHRASE[c].format(f"{row[c]:,}") for c in _DISPLAY_ORDER if row[c])
    return f"<details><summary>{kind.plural.capitalize()}: {phrases}</summary>\n\n"


def _omission(left: list[int], hint: str) -> str:
    parts = (f"{left[c]:,} more {_NOUN[c][left[c] != 1]}" for c in _DISPLAY_ORDER if left[c])
    return f"… and {', '.join(parts)}; {hint}"


def _section(kind: Kind, row: list[int], shown: list[tuple[_Entry, str]], hint: str) -> str:
    parts = [_open(kind, row)]
    if shown:
        shown.sort(key=lambda pair: pair[0].order)
        ticks = max((fence(text) for _, text in shown), key=len)
        body = "".join(text for _, text in shown)
        parts.append(f"{ticks}diff\n{body}{ticks}\n\n")
    left = list(row)
    for entry, _ in shown:
        left[entry.category] -= 1
    if any(left):
        parts.append(_omission(left, hint) + "\n\n")
    parts.append(CLOSE)
    return "".join(parts)


def _entry_text(entry: _Entry) -> str:
    item = entry.item
    if isinstance(item, Change):
        return "".join(line + "\n" for line in change_lines(item, plain))
    if isinstance(item, Record):
        return f"  not declared — kept: {show_key(item.key)} ({kept_why(item)})\n"
    return f"? in doubt, not declared: {show_key(item)}: an earlier apply may have created it\n"
