"""A failed command as JSON, for wrappers that asked for `--format json` (docs/exit-codes.md).

Pure (`error → render`): the document the CLI's error boundary prints on stdout when a command
run with `--format json` fails. Imports `errors` and `output.style` (JSON escapes) only.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from reconciler.errors import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_INVALID,
    EXIT_REFUSED,
    Problem,
)
from reconciler.output.style import escape_json

_OUTCOMES = {
    EXIT_FAILURE: "failed",
    EXIT_INVALID: "invalid",
    EXIT_REFUSED: "refused",
    EXIT_INTERRUPTED: "interrupted",
}


def render_failure_json(code: int, message: str, problems: Sequence[Problem] = ()) -> str:
    document = {
        "format_version": 1,
        "outcome": _OUTCOMES.get(code, "failed"),
        "exit_code": code,
        "error": message,
        "problems": [
            {
                "path": p.location.path,
                "line": p.location.line,
                "col": p.location.col,
                "message": p.message,
            }
            for p in problems
        ],
    }
    text = json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False)
    return escape_json(text) + "\n"  # a problem may quote the manifest's text
