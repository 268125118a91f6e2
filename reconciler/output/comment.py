"""What every pull-request comment shares: GitHub's size limit, the hidden marker, fences.

Pure (`… → render`), used by the Markdown plan and the Markdown audit. GitHub refuses comments
longer than COMMENT_LIMIT characters, so each renderer budgets its details against it; user
text appears only inside fenced code blocks, whose fence no content line can close.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from urllib.parse import quote as percent_encode

COMMENT_LIMIT = 65_536  # GitHub refuses comments longer than this (characters)
CLOSE = "</details>\n"

_BACKTICKS = re.compile(r"`+")
_DASH_BEFORE_DASH = re.compile(r"-(?=-)")


def marker(kind: str, paths: Sequence[str]) -> str:
    """The hidden first line naming the project, what it is (`plan`, `audit`) and the
    manifests, so a workflow finds its comment.

    Each path is percent-encoded (RFC 3986: all but letters, digits, `_.~-/`) and a `-` followed
    by another `-` becomes `%2D`, so no path can hold `,`, `>`, `<!` or `--`, or end the comment.
    """
    escaped = (_DASH_BEFORE_DASH.sub("%2D", percent_encode(path, safe="/")) for path in paths)
    return f"<!-- reconciler:{kind} manifests={','.join(escaped)} -->"


def fence(text: str) -> str:
    """Longer than any backtick run in `text` (CommonMark), so no content line closes it."""
    longest = max((len(run) for run in _BACKTICKS.findall(text)), default=0)
    return "`" * max(3, longest + 1)
