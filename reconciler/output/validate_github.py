"""`validate --format github`: each problem as a GitHub Actions workflow command, so that the
job annotates the line of the changed file (docs/outputs.md).

Pure (`problems → render`). Escaped by GitHub's rules (the runner's `ActionCommand`): in the
message `%`, CR and LF; in a property also `:` and `,`, so no path or message can end the
command early or forge another. Imports `errors` only.
"""

from __future__ import annotations

from collections.abc import Sequence

from reconciler.errors import Problem

_MESSAGE = str.maketrans({"%": "%25", "\r": "%0D", "\n": "%0A"})
_PROPERTY = str.maketrans({"%": "%25", "\r": "%0D", "\n": "%0A", ":": "%3A", ",": "%2C"})


def escape_message(text: str) -> str:
    return text.translate(_MESSAGE)


def escape_property(text: str) -> str:
    return text.translate(_PROPERTY)


def render_github(problems: Sequence[Problem]) -> str:
    """One `::error file=…,line=…,col=…::message` line per problem, in order."""
    return "".join(
        f"::error file={escape_property(p.location.path)},line={p.location.line},"
        f"col={p.location.col}::{escape_message(p.message)}\n"
        for p in problems
    )
