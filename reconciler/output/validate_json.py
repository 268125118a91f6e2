"""`validate --format json`: the problems of the manifests (or their counts) as one document.

Pure (`problems → render`), for programs (docs/outputs.md). Imports core values, `errors` and
`output.plan_json` (the JSON bytes every document shares) only.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from reconciler.core.resources import KINDS, Desired
from reconciler.errors import Problem
from reconciler.output.plan_json import dump_json

VALIDATE_JSON_FORMAT_VERSION = 1


def declared_counts(desired: Desired) -> dict[str, int]:
    """How many records of each kind are declared, by the kind's plural (`clients`, …)."""
    counts = dict.fromkeys(KINDS, 0)
    for key in desired:
        counts[key.kind] += 1
    return {kind.plural: counts[kind] for kind in KINDS}


def render_validate_json(problems: Sequence[Problem], desired: Desired | None) -> str:
    """`desired` None: the manifests are not valid (`problems` says why)."""
    counts: dict[str, Any] = {"problems": len(problems)}
    for kind in KINDS:
        counts[kind.plural] = None
    if desired is not None:
        counts |= declared_counts(desired)
    document = {
        "format_version": VALIDATE_JSON_FORMAT_VERSION,
        "ok": not problems,
        "problems": [
            {
                "path": problem.location.path,
                "line": problem.location.line,
                "col": problem.location.col,
                "message": problem.message,
            }
            for problem in problems
        ],
        "counts": counts,
    }
    return dump_json(document)
